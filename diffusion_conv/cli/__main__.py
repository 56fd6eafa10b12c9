"""``python -m diffusion_conv.cli``: the ``diffusion-conv`` command."""

import sys

from . import main

sys.exit(main())

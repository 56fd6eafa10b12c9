"""The way ``Tank``, ``Propagator``, ``Result`` and ``Comparison`` reach the code that draws them in a notebook.

The drawing lives in :mod:`diffusion_conv.render.display`, above these classes
(render imports them to know what it draws). Their ``_repr_html_`` calls
:func:`html`, which imports that module by name when a notebook first asks for
a picture: the one call of the package from a lower layer to a higher one, kept
in this module so that the classes themselves import nothing above them, and so
that neither ``import diffusion_conv`` nor building a tank imports matplotlib.
"""

from __future__ import annotations

import importlib


def html(obj) -> str:
    """The HTML (text and an embedded PNG) that shows ``obj`` in a notebook."""
    return importlib.import_module("diffusion_conv.render.display").html(obj)

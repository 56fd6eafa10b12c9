"""The command's name and its error for bad input on the command line (light: importing it loads no JAX)."""

from __future__ import annotations

from ..errors import InputError

PROG = "diffusion-conv"


class UsageError(InputError):
    """Bad input on the command line: reported in one line, exit code 2."""

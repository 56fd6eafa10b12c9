"""The package's own error types.

Every check of a user's input raises :class:`InputError` (a ``ValueError``) or,
for a value of the wrong type, :class:`InputTypeError` (both a ``TypeError`` and an
:class:`InputError`), so that code catching ``ValueError``/``TypeError`` keeps
working and the command line can tell bad input (one line, exit code 2) from a
bug in the package (a traceback). :class:`MissingExtraError` says that an optional
dependency is needed for what was asked (it is also an ``ImportError``).
"""

from __future__ import annotations

__all__ = ["InputError", "InputTypeError", "MissingExtraError"]


class InputError(ValueError):
    """Bad input: the message names the argument, the value and what is allowed."""


class InputTypeError(InputError, TypeError):
    """Input of the wrong type: the message names the argument and the types allowed."""


class MissingExtraError(InputError, ImportError):
    """What was asked needs an optional dependency; the message says which extra installs it."""

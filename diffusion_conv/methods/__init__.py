"""The methods: one module each, one interface (:class:`~diffusion_conv.methods.Method`), one registry.

See ``diffusion_conv.methods.base`` for the interface; :func:`get` returns a
registered method by name and :func:`names` lists them.
"""

from ._registry import auto_names, check_mobility_method, get, names, resolve_auto
from .base import KINDS, Method, Order, Sizes, Slab, State, register

__all__ = [
    "KINDS",
    "Method",
    "Order",
    "Sizes",
    "Slab",
    "State",
    "auto_names",
    "check_mobility_method",
    "get",
    "names",
    "register",
    "resolve_auto",
]

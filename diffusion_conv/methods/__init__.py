"""The methods: one module each, one interface (:class:`~diffusion_conv.methods.Method`), one registry.

See ``diffusion_conv.methods.base`` for the interface; :func:`get` returns a
registered method by name and :func:`names` lists them.
"""

from .base import KINDS, Method, Order, State, get, names, register

__all__ = ["KINDS", "Method", "Order", "State", "get", "names", "register"]

"""The one registry of methods: filled by the classes themselves as they are defined, read by name.

:meth:`diffusion_conv.methods.Method.__init_subclass__` adds a concrete method
class here (:func:`add`); :func:`names` and :func:`get` import the package's
method modules first (found by ``pkgutil``, no list kept by hand).
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from ..errors import InputError, InputTypeError

KINDS = ("deterministic", "stochastic", "reference")

_REGISTRY: dict = {}
"""Every registered method (one instance per class) by name."""

_LOADED = False
"""Whether the method modules of this package have been imported (:func:`_load`)."""


def add(cls):
    """Check a method class and add one instance of it to the registry (under its name)."""
    missing = sorted(
        n for n in dir(cls) if getattr(getattr(cls, n, None), "__isabstractmethod__", False)
    )  # (the class is not complete yet: __abstractmethods__ is set after __init_subclass__)
    if missing:
        raise InputTypeError(f"method class {cls.__name__} does not implement {', '.join(missing)}")
    for attr in ("name", "kind"):
        if not isinstance(getattr(cls, attr, None), str):
            raise InputTypeError(f"method class {cls.__name__} must set the class attribute {attr!r} (a string)")
    if cls.kind not in KINDS:
        raise InputTypeError(f"method class {cls.__name__} has kind {cls.kind!r}; allowed: {', '.join(KINDS)}")
    old = _REGISTRY.get(cls.name)
    if old is not None and type(old) is not cls:
        if (type(old).__module__, type(old).__qualname__) != (cls.__module__, cls.__qualname__):
            raise InputTypeError(f"a method named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls()


def registered(name):
    """The method registered under ``name``, or None (the method modules are not imported for this)."""
    return _REGISTRY.get(name)


def _load():
    """Import every method module of this package once (each class registers itself)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True  # first: a module that asks for the names while it loads does not load them again
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        for info in pkgutil.iter_modules([here]):
            if not info.name.startswith("_") and info.name != "base":
                importlib.import_module(f"{__package__}.{info.name}")
    except BaseException:
        _LOADED = False
        raise


def names() -> tuple[str, ...]:
    """Every registered method name, in the order they are listed (their ``listed`` attribute, then definition)."""
    _load()
    order = {name: i for i, name in enumerate(_REGISTRY)}
    return tuple(sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].listed, order[n])))


def auto_names() -> tuple[str, ...]:
    """The methods ``method='auto'`` tries, in the order it tries them (their ``auto`` attribute)."""
    _load()
    tried = [n for n in names() if _REGISTRY[n].auto is not None]
    return tuple(sorted(tried, key=lambda n: _REGISTRY[n].auto))


def resolve_auto(tank, prop, **kwargs):
    """The method ``method='auto'`` runs: the first of :func:`auto_names` that :meth:`~diffusion_conv.methods.Method.picks` the
    problem (the last one where none does: its own checks then say why)."""
    tried = [get(n) for n in auto_names()]
    if not tried:
        raise InputError("method 'auto' has no method to choose from (no registered method sets 'auto')")
    return next((m for m in tried if m.picks(tank, prop, **kwargs)), tried[-1])


def get(name):
    """The registered method called ``name``; ValueError listing the names otherwise."""
    _load()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InputError(f"method {name!r} is unknown; allowed: {', '.join(names() + ('auto',))}")
    return _REGISTRY[name]


def check_mobility_method(method, tank) -> None:
    """Refuse a tank with a mobility map for a method that does not take one.

    Raises
    ------
    InputError
        Naming the method and the registered methods that take a map (their ``mobility`` attribute).
    """
    if getattr(tank, "mobility", None) is not None and not method.mobility:
        takes = ", ".join(n for n in names() if get(n).mobility)
        raise InputError(
            f"method {method.name!r} does not take a tank with a mobility map (cells that slow the walk); "
            f"the methods that take one: {takes}"
        )

"""The explorer's settings: what each control may take, and the check of a set of values."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _checks
from ..errors import InputError, InputTypeError

FAMILIES = ("gaussian", "box", "edge", "sobel")
"""The kernel families: a Gaussian (``sigma``), the box blur, the 3x3 edge detector and the Sobel kernel."""

BOUNDARIES = ("reflect", "periodic", "absorb")
INITIAL = ("two compartments", "point", "picture", "custom")
"""Initial fields: salt left of the middle, a unit mass left of the middle, the test picture, or ``field=``."""

PARTICLES = (1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)
"""The particle counts the widget offers (:meth:`Explorer.update` takes any count from 1 to 10**7)."""

DEFAULTS = {
    "family": "gaussian",
    "sigma": 1.0,
    "temperature": 1.0,
    "radius": 2,
    "boundary": "reflect",
    "board": False,  # the first view shows all three methods: the heat equation has no exact solution with walls
    "gap": 8,
    "gel": False,  # a centred disc of gel (scenarios.gel_disc) over a tenth of the tank
    "gel_mobility": 0.2,
    "initial": "two compartments",
    "n_particles": 300_000,
    "seed": 0,
    "step": 20,
}
STRUCTURE = ("family", "radius", "boundary", "board", "gap", "gel", "n_particles")
"""Settings that change a shape or a static part of the problem: their programs are compiled once each."""

MAX_RADIUS = 8


def choice(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value


def number(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not lo <= value <= hi:
        raise InputError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    return value


def integer_in(name, value, lo, hi):
    """An integer from ``lo`` to ``hi``."""
    value = _checks.integer(name, value)
    if not lo <= value <= hi:
        raise InputError(f"{name} must be an integer from {lo} to {hi}, got {value}")
    return value


def shape_of(shape):
    """A 2-D grid shape, 8 to 512 cells per axis."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape, shape)
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise InputError(f"shape must be an integer or a pair of integers (a 2-D grid), got {shape!r}")
    return tuple(integer_in("shape", n, 8, 512) for n in shape)


def check(values, shape, steps, has_field) -> dict:
    """The settings in ``values`` checked (every one, before any is used): a dict of clean values."""
    unknown = sorted(set(values) - set(DEFAULTS) - {"field"})
    if unknown:
        raise InputError(f"unknown setting {unknown[0]!r}; allowed: {', '.join(sorted(set(DEFAULTS) | {'field'}))}")
    checked = {}
    for name, value in values.items():
        if name == "family":
            checked[name] = choice(name, value, FAMILIES)
        elif name == "boundary":
            checked[name] = choice(name, value, BOUNDARIES)
        elif name == "initial":
            checked[name] = choice(name, value, INITIAL)
        elif name == "sigma":
            checked[name] = number(name, value, 0.05, 20.0)
        elif name == "temperature":
            checked[name] = number(name, value, 1e-3, 1e3)
        elif name == "radius":
            checked[name] = integer_in(name, value, 1, MAX_RADIUS)
        elif name == "board":
            if not isinstance(value, (bool, np.bool_)):
                raise InputTypeError(f"board must be True or False, got {value!r}")
            checked[name] = bool(value)
        elif name == "gel":
            if not isinstance(value, (bool, np.bool_)):
                raise InputTypeError(f"gel must be True or False, got {value!r}")
            checked[name] = bool(value)
        elif name == "gel_mobility":
            checked[name] = number(name, value, 0.01, 1.0)
        elif name == "gap":
            checked[name] = integer_in(name, value, 0, shape[0])
        elif name == "n_particles":
            checked[name] = integer_in(name, value, 1, 10**7)
        elif name == "seed":
            checked[name] = integer_in(name, value, 0, 2**31 - 1)
        elif name == "step":
            checked[name] = integer_in(name, value, 0, steps)
        elif name == "field":
            checked[name] = check_field(value, shape)
    if "field" in checked:
        if checked.get("initial", "custom") != "custom":
            raise InputError(f"field= goes with initial='custom', got initial={checked['initial']!r}")
        checked["initial"] = "custom"
    elif checked.get("initial") == "custom" and not has_field:
        raise InputError("initial='custom' needs a field: pass field=ARRAY of the grid's shape")
    return checked


def check_field(field, shape):
    """A non-negative, finite initial field of the grid's ``shape``, as float64."""
    arr = np.asarray(field)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise InputTypeError(f"field must be a real numeric array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise InputError(f"field must have the explorer's shape {shape}, got {arr.shape}")
    arr = arr.astype(np.float64)
    _checks.finite_nonnegative("field", arr)  # the particles need a non-negative field
    if not arr.sum() > 0:
        raise InputError("field must hold some mass (a positive sum) for the particles to carry")
    return arr

"""Argument checks shared by the public functions: each error names the argument,
the value it got and what is allowed, and is raised before any work is done."""
from __future__ import annotations

import numbers

import numpy as np


def is_concrete(x) -> bool:
    """False for JAX tracers (values unknown while tracing), True otherwise."""
    import jax

    return not isinstance(x, jax.core.Tracer)


def integer(name: str, value, *, minimum: int | None = None) -> int:
    """An integer (bools refused), at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def positive_float(name: str, value) -> float:
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a positive real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def finite_nonnegative(name: str, array) -> None:
    """Raise unless every entry of a concrete array is finite and >= 0."""
    if not is_concrete(array):
        return
    a = np.asarray(array)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite; it holds NaN or infinite values")
    if np.any(a < 0):
        raise ValueError(f"{name} must be non-negative; its minimum is {a.min()!r}")


def float_dtype():
    """The default floating dtype: float64 when JAX's x64 mode is on, else float32."""
    import jax.numpy as jnp

    return jnp.zeros(()).dtype


def field_dtype(array):
    """The dtype a field is computed in: float32 input stays float32, anything else
    becomes the default float dtype (float64 only when JAX's x64 mode is on)."""
    import numpy as np

    if np.asarray(array).dtype == np.float32:
        return np.dtype(np.float32)
    return float_dtype()

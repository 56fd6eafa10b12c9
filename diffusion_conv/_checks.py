"""Argument checks shared by the public functions: each error names the argument,
the value it got and what is allowed, and is raised before any work is done."""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InputError, InputTypeError


def is_concrete(x) -> bool:
    """False for JAX tracers (values unknown while tracing), True otherwise."""
    import jax

    return not isinstance(x, jax.core.Tracer)


def integer(name: str, value, *, minimum: int | None = None) -> int:
    """An integer (bools refused), at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise InputTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return value


def positive_float(name: str, value) -> float:
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise InputTypeError(f"{name} must be a positive real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a finite number > 0, got {value}")
    return value


def finite_nonnegative(name: str, array) -> None:
    """Raise unless every entry of a concrete array is finite and >= 0."""
    if not is_concrete(array):
        return
    a = np.asarray(array)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} must be finite; it holds NaN or infinite values")
    if np.any(a < 0):
        raise InputError(f"{name} must be non-negative; its minimum is {a.min()!r}")


def float_dtype():
    """The default floating dtype: float64 when JAX's x64 mode is on, else float32."""
    import jax

    return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))  # no array made: nothing dispatched


def to_device(x, dtype):
    """A concrete array on the default device in ``dtype``: converted by numpy, then placed.

    ``jax.device_put`` of a numpy array dispatches no computation, where
    ``jnp.asarray`` compiles a small program per shape and dtype (tens of
    milliseconds each on a first run).
    """
    import jax

    return jax.device_put(np.asarray(x, dtype=dtype))


def field_dtype(array):
    """The dtype a field is computed in: float32 input stays float32, anything else
    becomes the default float dtype (float64 only when JAX's x64 mode is on)."""
    import numpy as np

    if np.asarray(array).dtype == np.float32:
        return np.dtype(np.float32)
    return float_dtype()


def finite(name: str, array) -> None:
    """Raise unless every entry of a concrete array is finite."""
    if not is_concrete(array):
        return
    if not np.all(np.isfinite(np.asarray(array))):
        raise InputError(f"{name} must be finite; it holds NaN or infinite values")


def fits_dtype(name: str, array, dtype, scale: float = 1.0) -> None:
    """Raise unless the entries, and their total times ``scale``, stay finite in ``dtype``.

    A field is summed (mass, the transforms) and multiplied by ``dx**ndim``: a
    value or a total beyond the dtype's range would become ``inf`` and then NaN.
    """
    if not is_concrete(array):
        return
    a = np.asarray(array, dtype=np.float64)
    info = np.finfo(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        biggest = float(np.max(np.abs(a))) if a.size else 0.0
        total = float(np.sum(np.abs(a), dtype=np.float64)) if a.size else 0.0
        mass = total * scale
    if not (biggest <= float(info.max) / 8 and np.isfinite(mass) and mass <= float(info.max) / 8):
        hint = "" if np.dtype(dtype) == np.float64 else "; compute in float64 (JAX x64 mode) or rescale the field"
        raise InputError(
            f"{name} does not fit {np.dtype(dtype)}: its largest entry is {biggest:.3g} and its total "
            f"(times dx**ndim) {mass:.3g}, beyond {float(info.max) / 8:.3g}, a range where sums "
            f"overflow{hint}"
        )


def batch_shape(name: str, shape) -> tuple[int, ...]:
    """A batch shape: a tuple of positive integers (an int is a 1-tuple)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise InputTypeError(f"{name} must be a tuple of positive integers, got {shape!r}") from None
    return tuple(integer(f"{name} entry", s, minimum=1) for s in shape)


def step_dtype():
    """The integer dtype of step counters: int64 in JAX's x64 mode, else int32."""
    return np.dtype(np.int64) if float_dtype() == np.float64 else np.dtype(np.int32)


def max_steps() -> int:
    """The largest step count a run may take: ``2**31 - 1`` with 32-bit JAX integers, ``2**53`` in x64 mode
    (where step counts and times ``steps * dt`` stay exact)."""
    return 2**53 if float_dtype() == np.float64 else 2**31 - 1

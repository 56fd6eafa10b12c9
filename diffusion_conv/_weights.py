"""Jump weights: their checks, their exact normalisation in a dtype, their moments (the propagator's helpers)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from . import _checks
from .errors import InputError, InputTypeError

NORMALIZE = ("softmax", "sum")


def as_kernel(name, kernel, ndim=None, batch=0):
    """A concrete or traced kernel array, checked for dimension and odd sizes (after ``batch`` leading axes)."""
    k = kernel if not _checks.is_concrete(kernel) else np.asarray(kernel)
    dtype = np.dtype(k.dtype)  # known while tracing too
    real = np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating)
    if not (real or dtype.kind == "b"):
        raise InputTypeError(f"{name} must be a real numeric array, got dtype {dtype}")
    shape = tuple(k.shape[batch:])
    if len(shape) not in (1, 2, 3):
        raise InputError(f"{name} must be 1-D, 2-D or 3-D, got {len(shape)}-D with shape {shape}")
    if ndim is not None and len(shape) != ndim:
        raise InputError(f"{name} must be {ndim}-D, got shape {shape}")
    if any(s % 2 == 0 for s in shape):
        raise InputError(f"{name} must be odd-sized along every axis (a centre cell), got shape {shape}")
    return k


def sum_tolerance(dtype, size: int) -> float:
    """How far from 1 the sum of ``size`` weights stored in ``dtype`` may be: rounding of the dtype only."""
    return 4.0 * max(size, 1) * float(jnp.finfo(dtype).eps)


def normalise(w, dtype, shape=None):
    """Non-negative float64 weights scaled to sum to 1, stored in ``dtype`` with the rounding compensated.

    The centre weight (offset 0, its own mirror image, so every symmetry is
    kept) absorbs what rounding each entry to ``dtype`` left of the total, so
    the stored weights sum to 1 as closely as the dtype allows; where the centre
    is too small for that, the largest weight does. A float32 run then gains or
    loses mass only by the rounding of its arithmetic, not by its kernel.
    ``w`` is flat (``(..., K)``); ``shape`` is the kernel shape (default: 1-D).
    """
    w = np.asarray(w, dtype=np.float64)
    flat = w.reshape(-1, w.shape[-1])
    centre = (w.shape[-1] - 1) // 2 if shape is None else int(np.ravel_multi_index([s // 2 for s in shape], shape))
    out = np.empty(flat.shape, dtype=dtype)
    for i, row in enumerate(flat):
        row = row / math.fsum(row)
        stored = row.astype(dtype)
        residual = 1.0 - math.fsum(stored.astype(np.float64))
        at = centre if stored[centre] >= 2 * abs(residual) else int(np.argmax(stored))
        stored[at] = dtype.type(float(stored[at]) + residual)
        out[i] = stored
    return out.reshape(w.shape)


def traced_float(x):
    return jnp.asarray(x).astype(_checks.float_dtype())


def poison(ok, w):
    """``w`` where the check ``ok`` (a traced boolean) holds, else NaN: a failed check gives no plausible number."""
    return jnp.where(ok, w, jnp.asarray(jnp.nan, w.dtype))


def traced_weights(w):
    """Traced weights checked as concrete ones are, as far as a traced value can be, and normalised.

    Within the dtype's rounding of a sum of 1 they are divided by their sum (a
    concrete kernel is renormalised the same way); otherwise, or where they
    hold a negative or non-finite value, they become NaN, and
    ``jax.experimental.checkify`` reports the reason in the words of the concrete check.
    """
    w = traced_float(w)
    finite = jnp.all(jnp.isfinite(w))
    nonneg = jnp.all(w >= 0)
    total = jnp.sum(jnp.where(finite, w, 0))
    tol = sum_tolerance(w.dtype, w.size)
    close = jnp.abs(total - 1) <= tol
    checkify.debug_check(finite, "weights must be finite; they hold NaN or infinite values")
    checkify.debug_check(nonneg | ~finite, "weights must be non-negative; their minimum is {m}", m=jnp.min(w))
    checkify.debug_check(
        close | ~(finite & nonneg),
        f"weights must sum to 1 (a probability distribution) to the "
        f"rounding of {w.dtype} (within {tol:.2g}); they sum to {{s}}. Normalise them "
        f"(Propagator.from_kernel(kernel, normalize='sum')) or use Propagator.from_logits",
        s=total,
    )
    return poison(finite & nonneg & close, w / jnp.where(close, total, 1))


def index_message(index, batch, error) -> str:
    """The words of an ``IndexError`` of a bank of kernels: which index, which range."""
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool) and len(batch) >= 1:
        n = batch[0]
        return (
            f"index {int(index)} is out of range for a bank of {n} kernels along its first batch axis "
            f"(batch shape {batch}): allowed {-n} to {n - 1}"
        )
    return f"index {index!r} does not fit the bank's batch shape {batch}: {error}"


def moments(weights, offs, xp=np):
    """Mean jump ``(..., ndim)`` and covariance ``(..., ndim, ndim)`` of flattened weights ``(..., K)``.

    ``offs`` is :func:`diffusion_conv.lattice.offsets` ``(K, ndim)``; ``xp`` is
    ``numpy`` or ``jax.numpy`` (differentiable).
    """
    d = xp.asarray(offs, dtype=weights.dtype)
    mean = weights @ d
    centred = d - mean[..., None, :]
    cov = xp.einsum("...k,...ka,...kb->...ab", weights, centred, centred)
    return mean, cov

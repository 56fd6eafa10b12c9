"""What several methods share about the continuum: the declared order of the lattice walk against the heat
equation, and the absorbed mass of a method that does not step (the deficit of a frame's mass)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..lattice import offsets
from .base import Order

ORDER_ZERO_THIRD_CUMULANT = -1.0
"""max |propagator - heat| ~ n^-1 after n steps when the kernel's third cumulant vanishes."""
ORDER_SKEWED = -0.5
"""max |propagator - heat| ~ n^-1/2 for a skewed kernel: the heat equation carries no third cumulant."""
ORDER_WIDE_ABSORB = -0.5
"""max |propagator - heat| ~ n^-1/2 at an absorbing edge crossed by jumps longer than one cell."""


def _tol(dtype) -> float:
    return 64 * float(np.finfo(dtype).eps)


def third_cumulant(weights) -> np.ndarray:
    """A kernel's third cumulant ``sum_d w[d] (d - mu)_a (d - mu)_b (d - mu)_c`` (cells^3), shape ``(ndim,)*3``."""
    w = np.asarray(getattr(weights, "weights", weights), dtype=np.float64)
    d = offsets([s // 2 for s in w.shape]).astype(np.float64)
    w = w.ravel()
    c = d - w @ d
    return np.einsum("k,ka,kb,kc->abc", w, c, c, c)


def declared_order(tank, prop) -> Order:
    """The declared order of the lattice walk against ``heat`` for this kernel and these boundaries.

    Returns an :class:`~diffusion_conv.methods.Order` with exponent ``-1`` (zero
    third cumulant, jumps of at most one cell across absorbing edges) or ``-1/2``
    (a skewed kernel, or a kernel jumping further across an absorbing edge).
    Made once per kernel object and boundaries (every run reports it).
    """
    conserves = tuple(b.conserves for b in tank.boundary)
    if not _checks.is_concrete(prop.weights):
        return _declared_order(prop, conserves)
    return prop.derived(("declared order", conserves), lambda: _declared_order(prop, conserves))


def _declared_order(prop, conserves) -> Order:
    w = np.reshape(np.asarray(prop.weights, dtype=np.float64), (-1,) + prop.kernel_shape)
    radius = tuple(prop.radius)
    skewed = any(np.max(np.abs(third_cumulant(m))) > _tol(np.float64) * max(radius) ** 3 for m in w)
    if skewed:
        return Order(ORDER_SKEWED, "steps", "heat", "a skewed kernel: the heat equation carries no third cumulant")
    for a, keeps in enumerate(conserves):
        if not keeps and radius[a] >= 2:
            far = np.take(w, [i for i in range(w.shape[a + 1]) if abs(i - radius[a]) >= 2], axis=a + 1)
            if np.any(far > 0):
                return Order(
                    ORDER_WIDE_ABSORB,
                    "steps",
                    "heat",
                    f"jumps of {radius[a]} cells across the absorbing edge of axis {a}: the walk's "
                    f"effective absorbing line is not the continuum's half-cell line",
                )
    return Order(ORDER_ZERO_THIRD_CUMULANT, "steps", "heat", "zero third cumulant: the lattice error is O(1/n)")


def deficit_absorbed(mass0, frame, bnd, dtype=None):
    """Mass absorbed so far (cell units) as the deficit of a frame's mass: for methods that do not step.

    ``dtype``: the frame's sum is taken in it (float64 on the host, without a copy of the frame).
    """
    if all(b.conserves for b in bnd):
        return jnp.zeros((), frame.dtype) if isinstance(frame, jax.Array) else np.zeros((), frame.dtype)
    return mass0 - frame.sum(dtype=dtype)

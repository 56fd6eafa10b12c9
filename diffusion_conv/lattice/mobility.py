"""Mobility: cells that slow the walk (gel, porous boards, membranes) in the one shared process.

A mobility map ``m`` gives each cell a value in ``[0, 1]``: 1 is open water, 0 a
solid cell (a wall), anything between a medium the salt crosses more slowly. A
jump from ``x`` by offset ``d`` is taken with probability ``w[d] * a(x, x + d)``
and the particle stays in ``x`` otherwise, where the factor ``a`` is the
harmonic mean of the mobilities of the cells the jump touches: the box of cells
spanned by ``x`` and its unfolded target, read through the boundary map, each
cell once (the box of the wall rule, :func:`diffusion_conv.lattice.blocked_masks`;
cells beyond an absorbing edge are open and are not in it)::

    a(x, x + d) = |box| / sum over the box of 1 / m(c)

Why the harmonic mean:

- it is symmetric: the box from ``x`` to ``y`` is the box from ``y`` to ``x``, so a
  symmetric kernel moves as much from ``x`` to ``y`` as back and a uniform field
  in each connected region stays uniform (salt in a gel levels out, it does not
  pile up);
- with mobilities 0 and 1 only it is 0 when a solid cell lies in the box and 1
  otherwise: exactly the wall rule;
- it is how conductances add in series: a jump across a board of mobility
  ``m_b`` between two cells of water has ``a = 3 / (2 + 1 / m_b)``, and the
  board's resistance to the flux is what it adds; for a smooth map it equals
  ``m`` at the jump's midpoint to second order in ``dx``, which makes the
  continuum limit ``dc/dt = div(D(x) grad c)`` with ``D(x) = m(x) D_0``
  (``D_0`` the kernel's diffusivity in open water). docs/theory.md derives it.

The functions here work on numpy arrays (host, float64) and on JAX arrays
(traced, differentiable in ``m`` where ``m > 0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError, InputTypeError
from .boundaries import normalize_boundary
from .transport import offsets, transport


def check_mobility(mobility, shape):
    """``mobility`` as a float64 array of ``shape`` with values in ``[0, 1]``; None when it is 1 everywhere.

    Raises
    ------
    InputTypeError
        For a non-numeric or complex array.
    InputError
        For another shape, NaN or infinite values, or values outside ``[0, 1]``.
    """
    if mobility is None:
        return None
    m = np.asarray(mobility)
    if m.dtype == object or not (np.issubdtype(m.dtype, np.number) or m.dtype == bool) or np.iscomplexobj(m):
        raise InputTypeError(f"mobility must be a real numeric array with values in [0, 1], got dtype {m.dtype}")
    if m.shape != tuple(shape):
        raise InputError(f"mobility must have the tank's shape {tuple(shape)}, got {m.shape}")
    m = m.astype(np.float64)
    if not np.all(np.isfinite(m)):
        raise InputError("mobility must be finite; it holds NaN or infinite values")
    low, high = float(m.min(initial=1.0)), float(m.max(initial=0.0))
    if low < 0 or high > 1:
        raise InputError(f"mobility must lie in [0, 1] (0 solid, 1 open water); it spans [{low:.4g}, {high:.4g}]")
    return None if low == 1.0 else m


def member_factors(mobility, shape, radius: Sequence[int], bnd: Sequence[str]) -> np.ndarray:
    """:func:`jump_factors` of a concrete map with leading batch axes (one map per member), on the host in
    float64: ``(*batch, K, *shape)``."""
    m = np.asarray(mobility, dtype=np.float64)
    lead = m.shape[: m.ndim - len(shape)]
    flat = m.reshape((-1,) + tuple(shape))
    a = np.stack([jump_factors(member, radius, bnd) for member in flat])
    return a.reshape(lead + a.shape[1:])


def _box_axis(n: int, d: int, bnd) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per step ``t`` of the box along one axis: the folded cell of ``x + t`` and whether it counts for ``x``.

    A cell counts once (a reflecting edge folds a long jump back over cells
    already in the box) and not at all beyond an absorbing edge.
    """
    base = np.arange(n)
    seen = np.zeros((n, n), dtype=bool)
    out = []
    for t in range(min(0, d), max(0, d) + 1):
        idx = np.asarray(bnd.fold(base + t, n))
        valid = idx >= 0
        cell = np.where(valid, idx, 0)
        fresh = valid & ~seen[base, cell]
        seen[base[fresh], cell[fresh]] = True
        out.append((cell, fresh))
    return out


def jump_factors(mobility, radius: Sequence[int], bnd: Sequence[str]):
    """The factor ``a(x, x + d)`` of every jump: array ``(K, *shape)`` in the order of :func:`~diffusion_conv.lattice.offsets`.

    Parameters
    ----------
    mobility : array ``shape`` (numpy or JAX), values in ``[0, 1]``
    radius : sequence of int
        Kernel radius per axis.
    bnd : sequence of str
        Boundary per axis.

    Returns
    -------
    array ``(K, *shape)``: numpy float64 for numpy input, JAX otherwise. 1 where
    every cell of the box has mobility 1, 0 where one has mobility 0.
    """
    import jax
    import jax.numpy as jnp

    if isinstance(mobility, jax.Array):  # a JAX array or a tracer: differentiable
        xp, m = jnp, mobility
    else:
        xp, m = np, np.asarray(mobility, dtype=np.float64)
    ndim = m.ndim
    bnd = normalize_boundary(bnd, ndim)
    with np.errstate(divide="ignore"):
        recip = 1.0 / m  # inf at a solid cell: the harmonic mean is then 0
    if xp is jnp:  # no NaN in the gradient where a box holds a solid cell (the factor is 0 there)
        recip = jnp.where(m > 0, 1.0 / jnp.where(m > 0, m, 1.0), jnp.inf)
    factors = []
    for d in offsets(radius):
        total, count = recip, 1
        for axis, da in enumerate(d):
            steps = _box_axis(m.shape[axis], int(da), bnd[axis])
            shape = [1] * ndim
            shape[axis] = m.shape[axis]
            acc = None
            size = np.zeros(m.shape[axis])
            for cell, fresh in steps:
                term = xp.take(total, cell, axis=axis)
                term = xp.where(fresh.reshape(shape), term, 0.0)
                acc = term if acc is None else acc + term
                size = size + fresh
            total = acc
            count = count * size.reshape(shape)
        factors.append(xp.where(xp.isinf(total), 0.0, count / xp.where(xp.isinf(total), 1.0, total)))
    return xp.stack(factors)


def step(field, weights, factors, radius: Sequence[int], bnd: Sequence[str]):
    """One step of the expectation with mobility: ``(field, absorbed)``.

    Each cell sends ``w[d] * a(x, x + d)`` of its content by offset ``d``
    (moved and folded by :func:`diffusion_conv.lattice.transport`) and keeps
    the rest.
    """
    import jax.numpy as jnp

    w = jnp.asarray(weights).reshape((-1,) + (1,) * field.ndim)
    amounts = w * factors * field
    moved, absorbed = transport(amounts, radius, bnd)
    return moved + (field - jnp.sum(amounts, axis=0)), absorbed

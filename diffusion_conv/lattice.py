"""The one process every method shares: boundary folding and the wall rule.

A particle in cell ``x`` jumps by offset ``d`` with probability ``w[d]``; its
unfolded target is ``z = x + d``. Per axis the boundary maps ``z`` back into the
tank ``[0, n)``:

``periodic``
    ``z mod n``.
``reflect``
    a half-cell mirror at each wall (``-1 -> 0``, ``-2 -> 1``, ``n -> n - 1``),
    repeated for jumps longer than the tank: the unfolded line has period ``2 n``.
``absorb``
    a target outside ``[0, n)`` is removed from the tank and counted as absorbed.

Walls (a boolean mask of solid cells) refuse a jump, and the particle stays in
``x``, when any wall cell lies in the box of cells spanned by ``x`` and the
unfolded target ``z`` (each box cell read through the same boundary map; cells
beyond an absorbing edge are open). The rule is symmetric, so a closed board
one cell thick is impassable for every kernel radius.

Every method builds on the functions here: the deterministic methods move
weighted copies of the field with :func:`transport`, the stochastic ones move
particles with :func:`fold_index` and :func:`blocked_masks`.
"""
from __future__ import annotations

import functools
import itertools
from typing import Sequence

import numpy as np

BOUNDARIES = ("reflect", "periodic", "absorb")


def normalize_boundary(boundary, ndim: int) -> tuple[str, ...]:
    """Return one boundary name per axis.

    Parameters
    ----------
    boundary : str or sequence of str
        ``'reflect'``, ``'periodic'`` or ``'absorb'``, one for all axes or one per axis.
    ndim : int
        Number of axes of the tank.

    Raises
    ------
    ValueError
        If a name is unknown or the number of names does not match ``ndim``.
    """
    if isinstance(boundary, str):
        names = (boundary,) * ndim
    else:
        try:
            names = tuple(boundary)
        except TypeError:
            raise TypeError(
                f"boundary must be a string or a sequence of strings, got {type(boundary).__name__}"
            ) from None
        if len(names) != ndim:
            raise ValueError(
                f"boundary has {len(names)} entries but the tank has {ndim} axes; "
                f"give one name for all axes or one per axis"
            )
    for name in names:
        if name not in BOUNDARIES:
            raise ValueError(f"boundary {name!r} is unknown; allowed: {', '.join(BOUNDARIES)}")
    return names


def offsets(radius: Sequence[int]) -> np.ndarray:
    """All jump offsets of a kernel with the given radius, in C order of its weights.

    Returns an integer array of shape ``(K, ndim)`` with ``K = prod(2 r + 1)``;
    row ``k`` is the offset of ``weights.ravel()[k]``.
    """
    ranges = [range(-r, r + 1) for r in radius]
    return np.array(list(itertools.product(*ranges)), dtype=np.int64).reshape(-1, len(radius))


def fold_index(z, n: int, boundary: str, xp=np):
    """Map unfolded integer coordinates ``z`` into the tank along one axis.

    Returns coordinates in ``[0, n)``; for ``'absorb'`` a coordinate outside the
    tank maps to ``-1``. ``xp`` is ``numpy`` or ``jax.numpy``.
    """
    if boundary == "periodic":
        return xp.mod(z, n)
    if boundary == "reflect":
        m = xp.mod(z, 2 * n)
        return xp.where(m < n, m, 2 * n - 1 - m)
    if boundary == "absorb":
        return xp.where((z >= 0) & (z < n), z, -1)
    raise ValueError(f"boundary {boundary!r} is unknown; allowed: {', '.join(BOUNDARIES)}")


def _box_any(mask: np.ndarray, axis: int, d: int, boundary: str) -> np.ndarray:
    """Whether any cell ``fold(x + t)``, ``t`` between 0 and ``d``, is set along ``axis``."""
    n = mask.shape[axis]
    out = np.zeros_like(mask)
    lo, hi = min(0, d), max(0, d)
    base = np.arange(n)
    for t in range(lo, hi + 1):
        idx = fold_index(base + t, n, boundary)
        valid = idx >= 0
        taken = np.take(mask, np.where(valid, idx, 0), axis=axis)
        shape = [1] * mask.ndim
        shape[axis] = n
        out |= taken & valid.reshape(shape)
    return out


def blocked_masks(walls, radius: Sequence[int], boundary: Sequence[str]):
    """Which jumps the walls refuse.

    Parameters
    ----------
    walls : ndarray of bool or None
        Solid cells, shape of the tank.
    radius : sequence of int
        Kernel radius per axis.
    boundary : sequence of str
        Boundary per axis.

    Returns
    -------
    ndarray of bool, shape ``(K, *walls.shape)``, or None
        ``blocked[k, x]`` is True when the jump from ``x`` by ``offsets(radius)[k]``
        is refused. ``None`` when there are no walls (nothing is refused).
    """
    if walls is None or not np.any(walls):
        return None
    walls = np.asarray(walls, dtype=bool)
    offs = offsets(radius)
    out = np.empty((len(offs),) + walls.shape, dtype=bool)
    for k, d in enumerate(offs):
        m = walls
        for axis, da in enumerate(d):
            m = _box_any(m, axis, int(da), boundary[axis])
        out[k] = m
    return out


@functools.lru_cache(maxsize=32)
def _blocked_cached(walls_key, radius, boundary):
    return blocked_masks(walls_key.array, radius, boundary)


def tank_blocked(tank, radius: Sequence[int]):
    """:func:`blocked_masks` for a tank's walls and boundaries, cached per wall mask."""
    if tank._walls is None:
        return None
    return _blocked_cached(tank._walls, tuple(int(r) for r in radius), tuple(tank.boundary))


def fold_extended(ext, radius: Sequence[int], boundary: Sequence[str]):
    """Fold a field laid out on the unfolded lattice back into the tank.

    Parameters
    ----------
    ext : array, shape ``(n_a + 2 r_a, ...)``
        Mass at unfolded coordinates ``-r_a .. n_a + r_a - 1`` along each axis.
    radius, boundary : sequences, one entry per axis

    Returns
    -------
    field : array of the tank's shape
        The mass after each boundary has folded it in.
    absorbed : scalar
        The mass that left through absorbing edges (0 when none absorbs).

    Works on numpy and JAX arrays; uses only static slices, flips and pads, so
    under ``jax.jit`` it fuses into the surrounding computation.
    """
    import jax.numpy as jnp

    absorbed = jnp.zeros((), dtype=ext.dtype)
    for axis, (r, bnd) in enumerate(zip(radius, boundary)):
        if r == 0:
            continue
        n = ext.shape[axis] - 2 * r
        parts = []
        # chunk k holds unfolded coordinates [k n, (k + 1) n) intersected with [-r, n + r)
        k_lo, k_hi = (-r) // n, (n + r - 1) // n
        for k in range(k_lo, k_hi + 1):
            z0, z1 = max(k * n, -r), min((k + 1) * n, n + r)
            piece = _slice(ext, axis, z0 + r, z1 + r)
            if k == 0:
                parts.append(_place(piece, axis, z0, n))
                continue
            if bnd == "absorb":
                absorbed = absorbed + jnp.sum(piece)
                continue
            if bnd == "reflect" and k % 2:
                # coordinates z in chunk k (odd) land on (k + 1) n - 1 - z
                piece = jnp.flip(piece, axis=axis)
                start = (k + 1) * n - z1
            else:
                start = z0 - k * n
            parts.append(_place(piece, axis, start, n))
        ext = parts[0]
        for p in parts[1:]:
            ext = ext + p
    return ext, absorbed


def _slice(a, axis, start, stop):
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(start, stop)
    return a[tuple(idx)]


def _place(piece, axis, start, n):
    """Zero-pad ``piece`` along ``axis`` so that it sits at ``start`` in a length-``n`` axis."""
    import jax.numpy as jnp

    width = [(0, 0)] * piece.ndim
    width[axis] = (start, n - start - piece.shape[axis])
    if width[axis] == (0, 0):
        return piece
    return jnp.pad(piece, width)


def transport(amounts, radius: Sequence[int], boundary: Sequence[str], blocked=None, weights=None):
    """Move mass by every jump offset with the shared boundary and wall rules.

    Parameters
    ----------
    amounts : array, shape ``(K, *shape)``, or ``(*shape)`` with ``weights``
        ``amounts[k, x]`` is the mass (or particle count) leaving cell ``x`` by
        offset ``offsets(radius)[k]``. With ``weights`` given, ``amounts`` is the
        field itself and ``amounts[k] = weights[k] * field``.
    radius, boundary : sequences, one entry per axis
    blocked : bool array ``(K, *shape)`` or None
        From :func:`blocked_masks`; refused jumps stay in ``x``.
    weights : array ``(K,)``, optional
        Jump probabilities in the order of :func:`offsets` (the propagator method).

    Returns
    -------
    field : array of the tank's shape
        ``field[y] = sum_k amounts[k, x]`` over every ``x`` whose jump lands in ``y``
        (a convolution, not a cross-correlation).
    absorbed : scalar
        The total that left through absorbing edges.

    Notes
    -----
    The moved mass is laid out on the unfolded lattice (each axis extended by
    ``r`` cells on both sides) as a sum of static slices of one zero-padded
    array, then folded with :func:`fold_extended`. Under ``jax.jit`` this is one
    fused loop per step.
    """
    import jax.numpy as jnp

    amounts = jnp.asarray(amounts)
    offs = offsets(radius)
    spatial = amounts.ndim if weights is not None else amounts.ndim - 1
    shape = amounts.shape[amounts.ndim - spatial:]
    lead = () if weights is not None else ((0, 0),)
    padded = jnp.pad(amounts, lead + tuple((2 * r, 2 * r) for r in radius))
    allowed = None
    stay = None
    if blocked is not None:
        blocked = jnp.asarray(blocked)
        allowed = jnp.pad(~blocked, ((0, 0),) + tuple((2 * r, 2 * r) for r in radius))
        zero = jnp.zeros((), amounts.dtype)
        if weights is not None:
            w = weights.reshape((-1,) + (1,) * spatial)
            stay = amounts * jnp.sum(jnp.where(blocked, w, zero), axis=0)
        else:
            stay = jnp.sum(jnp.where(blocked, amounts, zero), axis=0)
    ext = None
    for k, d in enumerate(offs):
        window = tuple(slice(r - int(da), r - int(da) + n + 2 * r) for r, da, n in zip(radius, d, shape))
        term = padded[window] if weights is not None else padded[(k,) + window]
        if allowed is not None:
            term = jnp.where(allowed[(k,) + window], term, jnp.zeros((), term.dtype))
        if weights is not None:
            term = weights[k] * term
        ext = term if ext is None else ext + term
    field, absorbed = fold_extended(ext, radius, boundary)
    if stay is not None:
        field = field + stay
    return field, absorbed

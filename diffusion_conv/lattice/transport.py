"""Moving mass by every jump offset: offsets, separable factors, the fold of the unfolded lattice."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .._checks import is_concrete
from .boundaries import Boundary, normalize_boundary


def offsets(radius: Sequence[int]) -> np.ndarray:
    """All jump offsets of a kernel with the given radius, in C order of its weights.

    Returns an integer array of shape ``(K, ndim)`` with ``K = prod(2 r + 1)``;
    row ``k`` is the offset of ``weights.ravel()[k]``.
    """
    ranges = [range(-r, r + 1) for r in radius]
    return np.array(list(itertools.product(*ranges)), dtype=np.int64).reshape(-1, len(radius))


def separable_factors(weights):
    """Per-axis factors ``a_0, a_1, ...`` (float64) with ``weights = a_0 (x) a_1 (x) ...``, or None.

    A Gaussian or a box kernel is separable; a step with it is then one pass per
    axis with ``2 r + 1`` taps instead of ``(2 r + 1)^ndim``, its spectral symbol
    an outer product, and its multinomial split one axis at a time. Needs concrete
    weights (None for a JAX tracer); the factors reproduce them to a few units of
    rounding of their dtype. A 1-D kernel is its own factor.
    """

    if not is_concrete(weights):
        return None
    w = np.asarray(weights)
    eps = np.finfo(w.dtype if np.issubdtype(w.dtype, np.floating) else np.float64).eps
    w = w.astype(np.float64)
    if w.ndim == 1:
        return [w]
    factors = [w.sum(axis=tuple(b for b in range(w.ndim) if b != a)) for a in range(w.ndim)]
    outer = factors[0]
    for f in factors[1:]:
        outer = np.multiply.outer(outer, f)
    if np.max(np.abs(outer - w)) > 4 * eps * w.max():
        return None
    return factors


def axis_slice(a, axis: int, start, stop):
    """``a[..., start:stop, ...]`` along ``axis``."""
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(start, stop)
    return a[tuple(idx)]


def _add_into(out, piece, axis, start):
    """``out`` with ``piece`` added at ``start`` along ``axis`` (an in-place update of a small region)."""
    import jax

    region = jax.lax.dynamic_slice_in_dim(out, start, piece.shape[axis], axis)
    return jax.lax.dynamic_update_slice_in_dim(out, region + piece, start, axis)


def fold_axis(ext, axis: int, r: int, bnd: Boundary, n: int | None = None):
    """Fold the unfolded coordinates ``[-r, n + r)`` of ``ext`` along ``axis`` back into ``[0, n)``.

    Returns ``(folded, absorbed)``: the array with ``n`` cells along ``axis``, and
    the sum of what the boundary absorbed. Chunks are mapped by
    :meth:`Boundary.fold_chunk` (any depth: kernels wider than the tank fold
    several times). The tank's own chunk is taken as it is and the strips beyond
    its edges are added into it in place, so a fold costs a pass over the strips,
    not over the whole field once per strip.
    """
    import jax.numpy as jnp

    absorbed = jnp.zeros((), dtype=ext.dtype)
    if n is None:
        n = ext.shape[axis] - 2 * r
    out = axis_slice(ext, axis, r, r + n)  # chunk 0: the tank itself
    for k in range((-r) // n, (n + r - 1) // n + 1):
        if k == 0:
            continue
        z0, z1 = max(k * n, -r), min((k + 1) * n, n + r)
        piece = axis_slice(ext, axis, z0 + r, z1 + r)
        where = bnd.fold_chunk(k, n)
        if where is None:
            absorbed = absorbed + jnp.sum(piece)
            continue
        flip, shift = where
        if flip:  # coordinates z land on (k + 1) n - 1 - z
            piece, start = jnp.flip(piece, axis=axis), (k + 1) * n - z1
        else:
            start = z0 - shift
        out = _add_into(out, piece, axis, start)
    return out, absorbed


def fold_extended(ext, radius: Sequence[int], bnd: Sequence[str]):
    """Fold a field laid out on the unfolded lattice back into the tank.

    Parameters
    ----------
    ext : array
        Each axis ``a`` extended by ``radius[a]`` cells on both sides (unfolded
        coordinates ``[-r, n + r)``).
    radius, bnd : sequences, one entry per axis

    Returns
    -------
    field : array of the tank's shape
    absorbed : scalar
        The mass that left through absorbing edges (0 when none absorbs).
    """
    import jax.numpy as jnp

    absorbed = jnp.zeros((), dtype=ext.dtype)
    for axis, (r, b) in enumerate(zip(radius, normalize_boundary(bnd, ext.ndim))):
        if r:
            ext, da = fold_axis(ext, axis, r, b)
            absorbed = absorbed + da
    return ext, absorbed


def spread(amounts, radius: Sequence[int], blocked=None, weights=None):
    """The mass moved by every jump, laid out on the unfolded lattice, and what refused jumps keep in place.

    Parameters are those of :func:`transport`. Returns ``(ext, stay)``: ``ext``
    has each axis extended by ``r`` cells on both sides (unfolded coordinates
    ``[-r, n + r)``), ``stay`` is the field of refused jumps (None without walls).
    :func:`transport` folds ``ext``; a grid split across devices folds the local
    axes and exchanges the strips of the split one.
    """
    import jax.numpy as jnp

    amounts = jnp.asarray(amounts)
    offs = offsets(radius)
    spatial = amounts.ndim if weights is not None else amounts.ndim - 1
    shape = amounts.shape[amounts.ndim - spatial :]
    lead = () if weights is not None else ((0, 0),)
    padded = jnp.pad(amounts, lead + tuple((2 * r, 2 * r) for r in radius))
    allowed = stay = None
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
    return ext, stay


def transport(amounts, radius: Sequence[int], bnd: Sequence[str], blocked=None, weights=None):
    """Move mass by every jump offset with the shared boundary and wall rules.

    Parameters
    ----------
    amounts : array, shape ``(K, *shape)``, or ``(*shape)`` with ``weights``
        ``amounts[k, x]`` is the mass (or particle count) leaving cell ``x`` by
        offset ``offsets(radius)[k]``. With ``weights`` given, ``amounts`` is the
        field itself and ``amounts[k] = weights[k] * field``.
    radius, bnd : sequences, one entry per axis
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
    The moved mass is laid out on the unfolded lattice by :func:`spread` (a sum
    of static slices of one zero-padded array), then folded with
    :func:`fold_extended`. Under ``jax.jit`` this is one fused loop per step.
    """
    ext, stay = spread(amounts, radius, blocked, weights)
    field, absorbed = fold_extended(ext, radius, bnd)
    if stay is not None:
        field = field + stay
    return field, absorbed

"""The propagator method's paths with a mobility map: the patch beside the fast stencil, the general path.

A mobility map (:mod:`diffusion_conv.lattice.mobility`) multiplies each jump's weight by the factor
``a(x, x + d)``. Where the factors differ from 1 only in part of the tank, a patch around those cells is stepped
again after the fast step (as the walls' patch is); otherwise, and for a traced map, every cell takes the general
path: the moves per tap prepared once, the field padded once per step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..lattice import fold_extended, spread
from ..lattice import mobility as _mobility
from ..lattice import offsets as _offsets
from . import _stencils
from ._stencils import box_of, patch_write

__all__ = ["general_state", "host_factors", "mobility_correct", "mobility_fix", "mobility_general", "mobility_patch"]


def mobility_patch(factors, radius):
    """The box a mobility map's correction reads: around the cells with a jump factor below 1.

    ``factors``: ``(..., K, *shape)`` from :func:`diffusion_conv.lattice.mobility.jump_factors`
    (leading axes: members of a batch; the box covers them all). The same box as
    :func:`wall_patch` builds around refused jumps; None where every factor is 1
    or the box covers more than ``_stencils.PATCH_FRACTION`` of the tank (read at each call: the walls'
    and the maps' paths follow one setting).
    """
    f = np.asarray(factors)
    ndim = len(radius)
    support = np.any(f.reshape((-1,) + f.shape[f.ndim - ndim :]) != 1, axis=0)
    return box_of(support, [int(r) for r in radius], _stencils.PATCH_FRACTION)


def mobility_correct(src, after, fix, radius, bnd, patch, at):
    """``after`` (a step that ignored the mobility) with the cells near the slow jumps stepped again.

    As :func:`diffusion_conv.methods._stencils._patch_correct` with the jump
    factors in place of the wall masks: each cell of the box sends
    ``w[d] * a(x, x + d)`` of its content by ``d`` and keeps the rest. On a box
    inside the tank (no axis meets an edge) the moved amounts are read by static
    slices of one product (``fix['moves']``: ``w[d] a`` per tap, ``fix['keeps']``:
    what a cell keeps), with no padded copy: one fused pass over the box.
    """
    if "moves" in fix:
        moved = fix["moves"] * src
        n = src.shape
        inner = tuple(slice(r, m - r) for r, m in zip(radius, n))
        region = src[inner] * fix["keeps"][inner]
        for k, d in enumerate(_offsets(radius)):
            region = region + moved[(k,) + tuple(slice(r - a, m - r - a) for r, a, m in zip(radius, d, n))]
        starts = tuple(a + lo + r for (lo, _, _), r, a in zip(patch, radius, at))
        return jax.lax.dynamic_update_slice(after, region, starts), jnp.zeros((), src.dtype)
    w = fix["weights"].reshape((-1,) + (1,) * src.ndim)
    amounts = w * fix["factors"] * src
    ext, _ = spread(amounts, radius)
    return patch_write(ext, src - jnp.sum(amounts, axis=0), src, after, fix, radius, bnd, patch, at)


def mobility_general(field, moves, keeps, radius, bnd):
    """One step of the general path with a mobility map: ``(field, absorbed)``.

    The same sums as :func:`diffusion_conv.lattice.mobility.step` with the
    moves per tap (``w[d] a``) prepared padded by ``2 r`` on every axis: the field
    is padded once per step, each tap reads a static window of it and of its
    moves, and the unfolded sum is folded by the boundaries.
    """
    padded = jnp.pad(field, tuple((2 * r, 2 * r) for r in radius))
    ext = None
    for k, d in enumerate(_offsets(radius)):
        window = tuple(slice(r - a, r - a + n + 2 * r) for r, a, n in zip(radius, d, field.shape))
        term = moves[(k,) + window] * padded[window]
        ext = term if ext is None else ext + term
    moved, absorbed = fold_extended(ext, radius, bnd)
    return moved + keeps * field, absorbed


def general_state(factors, weights, radius):
    """The general path's moves (padded by ``2 r``) and what each cell keeps, from the jump factors."""
    moves = jnp.ravel(weights).reshape((-1,) + (1,) * (factors.ndim - 1)) * factors
    keeps = 1 - jnp.sum(moves, axis=0)
    return jnp.pad(moves, ((0, 0),) + tuple((2 * r, 2 * r) for r in radius)), keeps


def mobility_fix(factors, weights, patch, boundary):
    """The state of a mobility patch: the factors and weights, and the refused weights where an absorbing edge
    meets the box."""
    if not any(full for _, _, full in patch):  # inside the tank: the moves per tap and what each cell keeps
        moves = jnp.ravel(weights).reshape((-1,) + (1,) * (factors.ndim - 1)) * factors
        return {"moves": moves, "keeps": 1 - jnp.sum(moves, axis=0)}
    out = {"factors": factors, "weights": jnp.ravel(weights)}
    if any(full and b.name == "absorb" for (_, _, full), b in zip(patch, boundary)):
        w = out["weights"].reshape((-1,) + (1,) * (factors.ndim - 1))
        out["refused"] = w * (1 - factors)
    return out


def host_factors(tank, radius):
    """The jump factors of a tank's concrete mobility map on the host (float64): ``(K, *shape)``, or
    ``(B, K, *shape)`` for a map per member."""
    bnd = tuple(str(b) for b in tank.boundary)
    return _mobility.member_factors(tank.mobility, tank.shape, radius, bnd)

"""The halo exchange of one grid split along axis 0 across devices.

Each device holds a slab of ``s = n0 / D`` rows. A step moves the slab's mass
(or counts) on the unfolded lattice with :func:`~diffusion_conv.lattice.spread`,
folds every other axis locally, and exchanges along axis 0: the strip that
landed above the slab goes to the device above, the strip below to the device
below (``lax.ppermute``; cyclic on a periodic axis). ``ppermute`` leaves zeros
where it sends nothing, so the tank's own edges along axis 0 are handled by the
first and the last device: a reflecting edge folds its strip back (the
half-cell mirror), an absorbing edge counts it as absorbed. Walls refuse jumps
by masks computed once for the whole tank on the host and cut into slabs (the
masks of a slab's own cells: a jump is refused by what lies between its start
and its target, wherever that is), so a wall that crosses a slab border blocks
as on one device.

These functions run inside ``shard_map`` over the mesh axis :data:`AXIS`; the
methods' slab forms (:class:`diffusion_conv.methods.Slab`) call them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .transport import fold_axis, spread

AXIS = "grid"
"""The mesh axis a grid (or a batch) is split along."""


def exchange(ext, r, bnd0, devices):
    """Fold the strips of axis 0 of a slab's moved mass across devices: ``(slab, absorbed)``.

    ``ext`` holds the slab's rows ``[-r, s + r)`` along axis 0 (the other axes
    already folded); the rows outside ``[0, s)`` belong to the neighbours.
    """
    if r == 0:
        return ext, jnp.zeros((), ext.dtype)
    s = ext.shape[0] - 2 * r
    top, mid, bottom = ext[:r], ext[r : r + s], ext[r + s :]
    d = jax.lax.axis_index(AXIS)
    if bnd0.wraps:
        up = [(i, (i - 1) % devices) for i in range(devices)]
        down = [(i, (i + 1) % devices) for i in range(devices)]
    else:
        up = [(i, i - 1) for i in range(1, devices)]
        down = [(i, i + 1) for i in range(devices - 1)]
    from_below = jax.lax.ppermute(top, AXIS, up) if up else jnp.zeros_like(top)
    from_above = jax.lax.ppermute(bottom, AXIS, down) if down else jnp.zeros_like(bottom)
    mid = mid.at[s - r :].add(from_below).at[:r].add(from_above)
    absorbed = jnp.zeros((), ext.dtype)
    if not bnd0.wraps:
        first, last = d == 0, d == devices - 1
        zero = jnp.zeros((), ext.dtype)
        if bnd0.conserves:  # the half-cell mirror at the tank's edges
            mid = mid.at[:r].add(jnp.where(first, jnp.flip(top, 0), zero))
            mid = mid.at[s - r :].add(jnp.where(last, jnp.flip(bottom, 0), zero))
        else:
            absorbed = jnp.where(first, jnp.sum(top), zero) + jnp.where(last, jnp.sum(bottom), zero)
    return mid, absorbed


def slab_transport(amounts, radius, bnd, blocked, weights, devices):
    """:func:`diffusion_conv.lattice.transport` of a slab: local folds, the exchange along axis 0."""
    ext, stay = spread(amounts, radius, blocked, weights)
    absorbed = jnp.zeros((), ext.dtype)
    for a in range(1, ext.ndim):
        if radius[a]:
            ext, da = fold_axis(ext, a, radius[a], bnd[a])
            absorbed = absorbed + da
    field, da = exchange(ext, radius[0], bnd[0], devices)
    if stay is not None:
        field = field + stay
    return field, absorbed + da

"""One grid split along axis 0 across devices: the slab forms of ``propagator``, ``counts`` and ``particles``.

Each device holds a slab of ``s = n0 / D`` rows. A step moves the slab's mass
(or counts) on the unfolded lattice with :func:`diffusion_conv.lattice.spread`,
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

Randomness does not depend on the split: ``counts`` draws each cell's split
from the counter of its global index, ``particles`` each particle's jump from
its global index, so the same key gives the same integers on any number of
devices. Particles are split by index (device ``d`` holds particles
``[d N/D, (d + 1) N/D)``, padded with particles that are never alive); their
frames are binned on each device and reduce-scattered into the slabs. The
initial counts of ``counts`` (one multinomial over the whole tank) are placed
once, on the host's first device, and cut into slabs; the placement
thresholds of ``particles`` and their wall masks are whole-tank tables each
device holds (integers and booleans, read only).

These forms run inside ``shard_map`` over the mesh axis :data:`AXIS`, one
member per device; :mod:`diffusion_conv.driver` drives them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .errors import InputError
from .lattice import fold_axis, spread, transport
from .methods import base
from .methods._sampling import count_dtype, multinomial
from .methods._stochastic import to_concentration

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


def check(method, tank, prop, devices, options):
    """Refuse what a split grid cannot do, before any work."""
    if method.name not in SPLIT:
        raise InputError(
            f"method {method.name!r} cannot split one grid across devices (its transforms or its "
            f"host code need the whole grid); give it a batch (Tank.stack, Propagator.stack, a batch "
            f"of keys) to spread over the devices instead, or run it on one device"
        )
    n0, r0 = tank.shape[0], prop.radius[0]
    if n0 % devices:
        raise InputError(
            f"axis 0 of the tank ({n0} cells) must be a multiple of the number of devices ({devices}) "
            f"to split the grid into equal slabs"
        )
    if r0 > n0 // devices:
        raise InputError(
            f"each device's slab ({n0 // devices} rows) must be at least the kernel's radius along "
            f"axis 0 ({r0}); use fewer devices"
        )
    if method.name == "particles" and options.get("track"):
        raise InputError("track is not available on a split grid (the tracked particles live on one device)")


def _slabs(x, devices):
    """``(D, s, ...)``: an array of the tank's shape cut along axis 0 (or ``(K, n0, ...)`` along axis 1)."""
    x = np.asarray(x)
    return x.reshape((devices, x.shape[0] // devices) + x.shape[1:])


def _replicated(x, devices):
    x = np.asarray(x)
    return np.broadcast_to(x, (devices,) + x.shape)


class _Propagator:
    """The propagator method on a slab."""

    name, units = "propagator", "step"

    def inputs(self, plan, devices):
        tank, prop = plan.tank, plan.prop
        field = np.asarray(tank.concentration)
        blocked = tank.blocked(prop.radius)
        arrays = {
            "field": _slabs(field, devices),
            "weights": _replicated(np.asarray(prop.weights, field.dtype).ravel(), devices),
            "blocked": None if blocked is None else np.moveaxis(_slabs(np.moveaxis(blocked, 0, -1), devices), -1, 1),
        }
        static = (prop.radius, tuple(tank.boundary), tank.dx**tank.ndim, devices)
        return static, arrays

    def init(self, static, field, weights, blocked):
        return base.State(static, field=field, weights=weights, blocked=blocked, absorbed=jnp.zeros((), field.dtype))

    def advance(self, state, n):
        radius, bnd, _, devices = state.static

        def body(_, carry):
            c, a = carry
            c, da = slab_transport(c, radius, bnd, state.blocked, state.weights, devices)
            return c, a + da

        field, absorbed = jax.lax.fori_loop(0, n, body, (state.field, state.absorbed))
        return state.replace(field=field, absorbed=absorbed)

    def observe(self, state):
        return state.field, jax.lax.psum(state.absorbed, AXIS) * state.static[2]

    def extras(self, state):
        return {}

    def summary(self, state):
        return {}

    def stepwise(self, state):
        return True


class _Counts:
    """The counts method on a slab: each cell's split drawn from the counter of its global index."""

    name, units = "counts", "step"

    def inputs(self, plan, devices):
        from .core import flatten_batch

        tank, prop, m = plan.tank, plan.prop, plan.method
        (group,) = flatten_batch(m, tank, prop, plan.key, (), plan.options)
        state = jax.jit(lambda p: m.init(tank, prop, key=plan.key, n_particles=plan.n_particles, prepared=p))(
            jax.tree_util.tree_map(lambda x: x[0], group.prepared)
        )
        blocked = tank.blocked(prop.radius)
        arrays = {
            "counts": _slabs(np.asarray(state.counts), devices),
            "key": jnp.broadcast_to(state.key, (devices,)),
            "weights": _replicated(np.asarray(state.weights), devices),
            "factors": None
            if state.factors is None
            else tuple(_replicated(np.asarray(f), devices) for f in state.factors),
            "blocked": None if blocked is None else np.moveaxis(_slabs(np.moveaxis(blocked, 0, -1), devices), -1, 1),
            "unit": _replicated(np.asarray(state.unit), devices),
        }
        static = (prop.radius, tuple(tank.boundary), tank.dx**tank.ndim, devices, tank.shape)
        return static, arrays

    def init(self, static, counts, key, weights, factors, blocked, unit):
        return base.State(
            static,
            counts=counts,
            absorbed=jnp.zeros((), counts.dtype),
            step=jnp.zeros((), _checks.step_dtype()),
            key=key,
            weights=weights,
            factors=factors,
            blocked=blocked,
            unit=unit,
        )

    def advance(self, state, n):
        radius, bnd, _, devices, shape = state.static
        offset = jax.lax.axis_index(AXIS) * (int(np.prod(shape)) // devices)
        step0 = state.step

        def one(c, k):
            if state.factors is None:
                return slab_transport(
                    multinomial(k, c, state.weights, offset=offset), radius, bnd, state.blocked, None, devices
                )
            absorbed = jnp.zeros((), c.dtype)
            for axis, f in enumerate(state.factors):
                if radius[axis] == 0:
                    continue
                rad = tuple(r if b == axis else 0 for b, r in enumerate(radius))
                amounts = multinomial(jax.random.fold_in(k, axis), c, f, offset=offset)
                move = (
                    slab_transport(amounts, rad, bnd, None, None, devices)
                    if axis == 0
                    else transport(amounts, rad, bnd)
                )
                c, absorbed = move[0], absorbed + move[1]
            return c, absorbed

        def body(i, carry):
            c, a = carry
            c, da = one(c, jax.random.fold_in(state.key, step0 + i))
            return c, a + da

        counts, absorbed = jax.lax.fori_loop(0, n, body, (state.counts, state.absorbed))
        return state.replace(counts=counts, absorbed=absorbed, step=step0 + jnp.asarray(n, step0.dtype))

    def observe(self, state):
        return to_concentration(state.counts, jax.lax.psum(state.absorbed, AXIS), state.unit, state.static[2])

    def extras(self, state):
        return {"counts": state.counts}

    def summary(self, state):
        return {
            "particles_remaining": jax.lax.psum(jnp.sum(state.counts), AXIS),
            "particles_absorbed": jax.lax.psum(state.absorbed, AXIS),
        }

    def stepwise(self, state):
        return True


class _Particles:
    """The particles method split by particle index; frames reduce-scattered into slabs."""

    name, units = "particles", "step"

    def inputs(self, plan, devices):
        from .methods.particles import is_free

        tank, prop, m = plan.tank, plan.prop, plan.method
        n = int(plan.n_particles)
        local = -(-n // devices)
        prepared = m.prepare(tank, prop, (), plan.options)
        k_place, k_walk, k_skip = jax.random.split(plan.key, 3)
        blocked = tank.blocked(prop.radius)
        fdt = np.dtype(tank.dtype)
        arrays = {
            "thr_c": _replicated(prepared.place, devices),
            "thr_w": _replicated(prepared.thr, devices),
            "keys": jnp.broadcast_to(jnp.stack([k_place, k_walk, k_skip]), (devices, 3)),
            "weights": _replicated(np.asarray(prop.weights).ravel(), devices),
            "offs": _replicated(prop.offsets.T.astype(np.int32), devices),
            "blocked": None if blocked is None else _replicated(blocked.ravel(), devices),
            "mass": _replicated(np.asarray(prepared.mass, fdt), devices),
        }
        skip = is_free(tank) and plan.options.get("skip_ahead") is not False
        static = (
            tank.shape,
            tuple(tank.boundary),
            skip,
            bool(plan.options.get("skip_ahead")),
            tank.dx**tank.ndim,
            n,
            local,
            devices,
        )
        return static, arrays

    def init(self, static, thr_c, thr_w, keys, weights, offs, blocked, mass):
        from .methods.particles import categories

        shape, n, local = static[0], static[5], static[6]
        start = jax.lax.axis_index(AXIS) * local
        cells = categories(keys[0], 0, thr_c, local, offset=start)
        coords = jnp.stack(jnp.unravel_index(cells, shape)).astype(jnp.int32)
        alive = start + jnp.arange(local) < n  # the padding is never alive
        return base.State(
            static,
            coords=coords,
            alive=alive,
            disp=None,
            start=None,
            step=jnp.zeros((), _checks.step_dtype()),
            k_walk=keys[1],
            k_skip=keys[2],
            thr=thr_w,
            weights=weights,
            offs=offs,
            blocked=blocked,
            unit=mass / n,
        )

    def advance(self, state, n):
        from .methods.particles import ParticlesMethod

        shape, bnd, skip, always, cell, total, local, devices = state.static
        offset = jax.lax.axis_index(AXIS) * local
        one = base.State((shape, bnd, skip, always, cell, total), **state.arrays)
        out = ParticlesMethod.advance_at(one, n, offset)
        return base.State(state.static, **out.arrays)

    def _counts(self, state):
        shape = state.static[0]
        ncells = int(np.prod(shape))
        flat = state.coords[0]
        for a in range(1, len(shape)):
            flat = flat * shape[a] + state.coords[a]
        flat = jnp.where(state.alive, flat, ncells)
        hist = jnp.zeros((ncells + 1,), count_dtype()).at[flat].add(jnp.ones((), count_dtype()))[:ncells]
        slab = jax.lax.psum_scatter(hist.reshape(shape), AXIS, scatter_dimension=0, tiled=True)
        alive = jax.lax.psum(jnp.sum(state.alive, dtype=count_dtype()), AXIS)
        return slab, alive

    def observe(self, state):
        counts, alive = self._counts(state)
        return to_concentration(counts, state.static[5] - alive, state.unit, state.static[4])

    def extras(self, state):
        return {}

    def summary(self, state):
        alive = jax.lax.psum(jnp.sum(state.alive, dtype=count_dtype()), AXIS)
        return {"particles_remaining": alive, "particles_absorbed": state.static[5] - alive}

    def stepwise(self, state):
        return not state.static[2]


SPLIT = {"propagator": _Propagator(), "counts": _Counts(), "particles": _Particles()}
"""The methods that split one grid across devices, by name."""

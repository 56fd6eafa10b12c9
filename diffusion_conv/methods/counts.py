"""The occupation-number form of the particle process: integer counts per cell.

Each cell holds an integer number of particles. Each step every cell's count
is split among the jump offsets by one multinomial draw with the propagator's
weights (sequential conditional binomials), and the split counts are moved
with :func:`diffusion_conv.lattice.transport`, which applies the shared
boundary folding and wall rule to integer amounts. In distribution this is
exactly ``N`` independent particles (the ``particles`` method), and its
expectation is the ``propagator`` method.

Where the tank's mobility varies, each cell's count is split among the
categories "jump by offset ``d``", with probability ``w[d] a(x, x + d)``
(:mod:`diffusion_conv.lattice.mobility`), and "stay", with the rest: one
multinomial per cell with that cell's probabilities (the same sequential
binomials, reading per-cell probabilities), so in distribution it is again
``N`` independent particles of the ``particles`` method. A tank without a
mobility map takes the steps below, bit for bit as before.

For a separable kernel (a Gaussian, a box) in a tank without walls or mobility map, the step
is taken one axis at a time: each count is split among that axis's offsets
with the axis's factor of the weights, moved, and the next axis follows. The
jump components of one particle are then independent draws from the factors,
which is exactly the separable kernel, and every boundary folds each axis on
its own, so the distribution is the same with ``2 r`` binomials per axis
instead of ``(2 r + 1)**d - 1`` per step.

Counts are integers throughout: the total is conserved exactly at
``'reflect'`` and ``'periodic'`` edges, and ``absorbed + remaining == N``
exactly at ``'absorb'`` edges. The binomial draws are computed in the default
float dtype, which represents counts exactly up to ``2**24`` (float32) or
``2**53`` (JAX x64 mode, int64 counts); larger ``n_particles`` is refused.
Random streams: the draws of step ``t`` come from ``fold_in(key, t)``, each
cell's from its own counter, so the same key gives the same counts however the
run is cut into frames, batches or chunks.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..lattice import separable_factors, transport
from ..lattice.halo import AXIS, slab_transport
from ._sampling import binomial, check_key, check_n_particles, count_dtype, max_exact_count, multinomial
from ._stochastic import (
    cell_weights,
    check_stochastic_tank,
    field_problem,
    host_mass,
    mobility_of,
    prepared_bytes,
    prepared_factors,
    sampling_order,
    to_concentration,
    traced_factors,
)
from .base import Method, Sizes, Slab, State, lead, members


@dataclasses.dataclass(frozen=True)
class Static:
    """The static data of a counts state: the kernel's radius, the boundaries and the cell volume ``dx**ndim``."""

    radius: tuple
    boundary: tuple
    cell: float


@dataclasses.dataclass(frozen=True)
class Prepared:
    """The static data of a counts preparation: whether the kernel is split one axis at a time (``per_axis``)."""

    per_axis: bool


def place(key, concentration, n_particles):
    """Counts per cell of ``n_particles`` placed in proportion to ``concentration``: one multinomial.

    Drawn exactly by splitting ``n_particles`` down a binary tree over the
    cells (one binomial per node, with the share of mass in its left half).
    Returns an integer array of the field's shape (:func:`count_dtype`).
    """
    c = concentration if not _checks.is_concrete(concentration) else np.asarray(concentration, np.float64)
    shares = _split_shares(c.reshape(-1))
    return _place(key, jnp.asarray(shares), tuple(np.shape(concentration)), n_particles).astype(count_dtype())


def _split_shares(c):
    """The share of each node's mass in its left half, per level of the binary tree over the cells (last axis).

    Returns ``(..., depth, size)``: the node at depth ``l``, index ``j`` (the
    cells ``j * (size >> l)`` to ``(j + 1) * (size >> l) - 1``) at position
    ``j``, the positions from ``2**l`` on 0; numpy (float64) for concrete
    input, JAX otherwise.
    """
    xp = np if isinstance(c, np.ndarray) else jnp
    lead_shape, ncells = c.shape[:-1], c.shape[-1]
    depth = max(0, int(np.ceil(np.log2(ncells))))
    size = 1 << depth
    mass = xp.concatenate([c, xp.zeros(lead_shape + (size - ncells,), c.dtype)], axis=-1)
    levels = []
    for level in range(depth):
        blocks = mass.reshape(lead_shape + (2**level, 2, -1)).sum(axis=-1)
        total = blocks.sum(axis=-1)
        p = xp.where(total > 0, blocks[..., 0] / xp.where(total > 0, total, 1), 0)
        levels.append(xp.concatenate([p, xp.zeros(lead_shape + (size - 2**level,), c.dtype)], axis=-1))
    if not levels:
        return xp.zeros(lead_shape + (0, size), c.dtype)
    return xp.stack(levels, axis=-2)


def _place(key, shares, shape, n_particles):
    """Split ``n_particles`` down the tree of :func:`_split_shares`, a level per round.

    The nodes of a level sit side by side at the front of the array (node ``j``
    at position ``j``, its halves at ``2 j`` and ``2 j + 1`` of the next level),
    so each level's binomial draws the nodes that hold particles, at the front,
    and skips the rest.
    """
    fdt = _checks.float_dtype()
    depth, size = shares.shape
    counts = jnp.zeros((size,), fdt).at[0].set(jnp.asarray(n_particles, fdt))
    if depth:

        def body(counts, xs):
            p, level = xs
            left = binomial(jax.random.fold_in(key, level), counts, p)
            return jnp.stack([left, counts - left], axis=1).reshape(2 * size)[:size], None

        counts, _ = jax.lax.scan(body, counts, (shares.astype(fdt), jnp.arange(depth)))
    return counts[: int(np.prod(shape))].reshape(shape)


def _per_axis_tank(tank) -> bool:
    """Whether a tank lets a separable kernel be split one axis at a time: no walls, no mobility map, 2-D or more."""
    return tank.walls is None and mobility_of(tank) is None and tank.ndim > 1


def _one_step(c, key, weights, factors, blocked, radius, bnd, cellw=None):
    """One step of the counts: split every cell's count among the jumps and move them.

    With ``cellw`` (``(K, *shape)``, :func:`~._stochastic.cell_weights`) each
    cell is split with its own probabilities, the refused jumps kept in the
    zero offset's category.

    A separable kernel is split one axis at a time, in a loop over the axes
    (``lax.scan``, with the axis's move chosen by ``lax.switch``) so that the
    compiled step holds one copy of the sampler, not one per axis. The factors
    are padded with zero weights to one length: the padded categories draw
    nothing and the real ones draw what they would unpadded, bit for bit.
    """
    if cellw is not None:
        return transport(multinomial(key, c, cellw), radius, bnd, blocked)
    if factors is None:
        return transport(multinomial(key, c, weights), radius, bnd, blocked)
    axes = [a for a in range(len(radius)) if radius[a]]
    if not axes:
        return c, jnp.zeros((), c.dtype)
    size = max(2 * radius[a] + 1 for a in axes)
    table = jnp.stack([jnp.pad(factors[a], (0, size - factors[a].shape[0])) for a in axes])

    def move(a):
        rad = tuple(r if b == a else 0 for b, r in enumerate(radius))
        return lambda amounts: transport(amounts[: 2 * radius[a] + 1], rad, bnd)

    def body(carry, xs):
        c, absorbed = carry
        i, axis, f = xs
        c, da = jax.lax.switch(i, [move(a) for a in axes], multinomial(jax.random.fold_in(key, axis), c, f))
        return (c, absorbed + da), None

    (c, absorbed), _ = jax.lax.scan(
        body, (c, jnp.zeros((), c.dtype)), (jnp.arange(len(axes)), jnp.asarray(axes), table)
    )
    return c, absorbed


class CountsMethod(Method):
    """``method='counts'``: the particle process as integer occupation numbers (see the module docstring)."""

    name = "counts"
    kind = "stochastic"
    stochastic = True
    mobility = True
    listed = 40

    def validate(self, tank, prop, *, n_particles=None, key=None, **options):
        options = self.check_arguments(n_particles, key, options)
        check_key(key)
        check_n_particles(n_particles, max_exact_count())
        check_stochastic_tank(tank)
        return options

    def order(self, tank, prop):
        return sampling_order()

    def signature(self, tank, weights, options):
        return _per_axis_tank(tank) and separable_factors(weights) is not None

    def prepare(self, tank, prop, batch, options):
        factors = None
        if _per_axis_tank(tank) and _checks.is_concrete(prop.weights):
            fs = [separable_factors(w) for w in members(prop.weights, prop.batch_shape)]
            if all(f is not None for f in fs):
                dtype = np.dtype(_checks.float_dtype())
                factors = tuple(
                    lead(
                        np.stack([f[a] for f in fs]).astype(dtype).reshape(prop.batch_shape + (-1,)),
                        prop.batch_shape,
                        batch,
                    )
                    for a in range(tank.ndim)
                )
        p_left = None
        if _checks.is_concrete(tank.concentration):
            c = np.reshape(np.asarray(tank.concentration, np.float64), tank.batch_shape + (-1,))
            p_left = lead(_split_shares(c), tank.batch_shape, batch)
        mass = None if not _checks.is_concrete(tank.concentration) else lead(host_mass(tank), tank.batch_shape, batch)
        return State(
            Prepared(per_axis=factors is not None),
            factors=factors,
            p_left=p_left,
            mass=mass,
            jump_factors=prepared_factors(tank, prop, batch),
        )

    def init(self, tank, prop, key=None, n_particles=None, prepared=None):
        key = check_key(key)
        k_place, k_walk = jax.random.split(key)
        if prepared is None:
            prepared = self.prepare(tank, prop, (), {})
        blocked = tank.blocked(prop.radius)
        blocked = None if blocked is None else jnp.asarray(blocked)
        factors = None if prepared.factors is None else tuple(jnp.asarray(f) for f in prepared.factors)
        cellw = None
        if mobility_of(tank) is not None:
            a = traced_factors(tank, prop) if prepared.jump_factors is None else jnp.asarray(prepared.jump_factors)
            cellw = cell_weights(jnp.ravel(prop.weights), a.astype(tank.dtype))
        p_left = _split_shares(jnp.ravel(tank.concentration)) if prepared.p_left is None else prepared.p_left
        counts = _place(k_place, jnp.asarray(p_left), tank.shape, n_particles).astype(count_dtype())
        mass = (
            jnp.sum(tank.concentration).astype(tank.dtype) * tank.dx**tank.ndim
            if prepared.mass is None
            else jnp.asarray(prepared.mass, tank.dtype)
        )
        unit = mass / jnp.asarray(n_particles, tank.dtype)
        if not (_checks.is_concrete(tank.concentration) and _checks.is_concrete(prop.weights)):
            # traced inputs the sampler cannot take (a NaN or negative weight, a negative field) give NaN frames
            unit = jnp.where(field_problem(tank.concentration, prop.weights), unit, jnp.asarray(jnp.nan, unit.dtype))
        return State(
            Static(prop.radius, tuple(tank.boundary), tank.dx**tank.ndim),
            counts=counts,
            absorbed=jnp.zeros((), counts.dtype),
            step=jnp.zeros((), _checks.step_dtype()),
            key=k_walk,
            weights=jnp.ravel(prop.weights),
            factors=factors,
            blocked=blocked,
            cellw=cellw,
            unit=unit,
        )

    def advance(self, state, n):
        radius, bnd = state.static.radius, state.static.boundary
        step0 = state.step

        def body(i, carry):
            c, a = carry
            key = jax.random.fold_in(state.key, step0 + i)
            c, da = _one_step(c, key, state.weights, state.factors, state.blocked, radius, bnd, state.cellw)
            return c, a + da

        counts, absorbed = jax.lax.fori_loop(0, n, body, (state.counts, state.absorbed))
        return state.replace(counts=counts, absorbed=absorbed, step=step0 + jnp.asarray(n, step0.dtype))

    def observe(self, state):
        return to_concentration(state.counts, state.absorbed, state.unit, state.static.cell)

    def extras(self, state):
        return {"counts": state.counts}

    def summary(self, state):
        return {"particles_remaining": jnp.sum(state.counts), "particles_absorbed": state.absorbed}

    def meta(self, tank, prop, save_steps, options, prepared=()):
        per_axis = _per_axis_tank(tank) and not prop.batch_shape and separable_factors(prop.weights) is not None
        return {"count_dtype": str(count_dtype()), "split": "per-axis" if per_axis else "joint"}

    def memory(self, sizes: Sizes, options, n_particles, nframes, members, itemsize, prepared=None):
        """Six fields per member, the split of every cell's count among the jumps and the sampler's work
        on it (``3 K + 16`` float64 or count entries per cell for ``K`` jumps), the placement tree's
        shares (a float64 per level and leaf), wall masks, with a mobility map its jump factors and each
        cell's probabilities (``2 K`` entries per cell), and the counts of every saved frame
        (``Result.extras['counts']``)."""
        out = super().memory(sizes, options, n_particles, nframes, members, itemsize, prepared)
        depth = max(0, (sizes.cells - 1).bit_length())
        out["working"] += int(members) * ((3 * sizes.taps + 16) * sizes.cells + depth * 2**depth) * 8
        if sizes.walls:
            out["working"] += sizes.taps * sizes.cells
        out["working"] += 2 * prepared_bytes(prepared, "jump_factors")  # the factors, each cell's probabilities
        out["extras"] = int(nframes) * int(members) * sizes.cells * np.dtype(count_dtype()).itemsize
        return out

    def slab(self):
        return _SLAB


def sample(key, tank, prop, n_particles, save_steps):
    """The counts at ``save_steps``: a pure function of ``key`` (``jax.vmap`` over keys gives ensembles).

    Returns
    -------
    counts : integer array ``(F, *tank.shape)``
        Particles per cell at each saved step.
    absorbed : integer array ``(F,)``
        Running total of particles absorbed at open edges.
    """
    from ..core import trajectory

    _, _, extras, lost = trajectory(
        "counts", tank, prop, save_steps, key=key, n_particles=n_particles, collect=_absorbed_count
    )
    return extras["counts"], lost


def _absorbed_count(method, state):
    return state.absorbed


# -- on a split grid ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SlabStatic:
    """The static data of a counts slab: the kernel's radius, the boundaries, the cell volume, the devices and
    the whole grid's shape (each cell draws from the counter of its global index)."""

    radius: tuple
    boundary: tuple
    cell: float
    devices: int
    shape: tuple


class CountsSlab(Slab):
    """The counts method on a slab of rows: each cell's split drawn from the counter of its global index
    (where the mobility varies, with the cell's probabilities, cut into slabs like the wall masks).

    The initial counts (one multinomial over the whole tank) are placed once, on
    the host's first device, and cut into slabs, so the same key gives the same
    integers on any number of devices.
    """

    method = "counts"

    def inputs(self, plan, devices):
        tank, prop, m = plan.tank, plan.prop, plan.method
        prepared = jax.tree_util.tree_map(lambda x: x[0], plan.groups[0].prepared)  # the run's one member
        state = jax.jit(lambda p: m.init(tank, prop, key=plan.key, n_particles=plan.n_particles, prepared=p))(prepared)
        arrays = {
            "counts": self.cut(np.asarray(state.counts), devices),
            "key": jnp.broadcast_to(state.key, (devices,)),
            "weights": self.replicate(np.asarray(state.weights), devices),
            "factors": None
            if state.factors is None
            else tuple(self.replicate(np.asarray(f), devices) for f in state.factors),
            "blocked": self.cut_masks(tank.blocked(prop.radius), devices),
            "cellw": self.cut_masks(None if state.cellw is None else np.asarray(state.cellw), devices),
            "unit": self.replicate(np.asarray(state.unit), devices),
        }
        return SlabStatic(prop.radius, tuple(tank.boundary), tank.dx**tank.ndim, devices, tank.shape), arrays

    def init(self, static, counts, key, weights, factors, blocked, cellw, unit):
        return State(
            static,
            counts=counts,
            absorbed=jnp.zeros((), counts.dtype),
            step=jnp.zeros((), _checks.step_dtype()),
            key=key,
            weights=weights,
            factors=factors,
            blocked=blocked,
            cellw=cellw,
            unit=unit,
        )

    def advance(self, state, n):
        static = state.static
        radius, bnd, devices = static.radius, static.boundary, static.devices
        offset = jax.lax.axis_index(AXIS) * (int(np.prod(static.shape)) // devices)
        step0 = state.step

        def one(c, k):
            if state.cellw is not None or state.factors is None:
                weights = state.weights if state.cellw is None else state.cellw
                return slab_transport(
                    multinomial(k, c, weights, offset=offset), radius, bnd, state.blocked, None, devices
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
        return to_concentration(state.counts, jax.lax.psum(state.absorbed, AXIS), state.unit, state.static.cell)

    def extras(self, state):
        return {"counts": state.counts}

    def summary(self, state):
        return {
            "particles_remaining": jax.lax.psum(jnp.sum(state.counts), AXIS),
            "particles_absorbed": jax.lax.psum(state.absorbed, AXIS),
        }


_SLAB = CountsSlab()

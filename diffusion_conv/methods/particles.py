"""``N`` independent particles on the lattice, each step a random jump drawn from the propagator.

Particles start in cells drawn independently in proportion to the initial
concentration, and each step every particle draws an offset ``d`` with
probability ``w[d]``: one random word per particle compared with the
cumulative weights (``thresholds``, computed alike for concrete and traced
weights: probabilities resolved to ``2**-31``; zero weights are never drawn). Its target is folded per axis by the tank's
:class:`~diffusion_conv.lattice.Boundary`, and the jump is refused (the
particle stays) where the walls' box rule says so. Where the tank's mobility
varies, a drawn jump by ``d`` from ``x`` is then taken with probability
``a(x, x + d)`` (:mod:`diffusion_conv.lattice.mobility`): the second word of
the particle's hash for that step, as a uniform, below the factor; a tank
without a mobility map draws no such word, so its walk is the wall rule's bit
for bit. A particle that leaves
through an absorbing edge is removed and counted. The ``propagator`` method is
the exact expectation of this process.

Random streams: the word of particle ``j`` at step ``t`` is a function of
``(key, j, t)`` only, so the same key gives the same walk however the run is
cut into frames, batches or chunks.

Skip-ahead: where the walk is free (every axis periodic, no walls, no mobility map) the
position after ``g`` steps is the start plus the net displacement of ``g``
jumps, whose counts per offset are one multinomial draw of ``g``; the method
then jumps straight from one saved step to the next, at a cost that does not
grow with ``g``.

Memory is ``O(N)`` plus the frames, never ``N x steps``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..errors import InputError, InputTypeError
from ..lattice.halo import AXIS
from ._registry import get
from ._sampling import check_key, check_n_particles, count_dtype, x64_enabled
from ._stochastic import (
    check_stochastic_tank,
    field_problem,
    host_mass,
    initial_mass,
    mobility_of,
    prepared_bytes,
    prepared_factors,
    sampling_order,
    thresholds,
    to_concentration,
    traced_factors,
    true_divide,
)
from ._walkers import categories, flat_index, is_free, jump, jump_many
from .base import Method, Sizes, Slab, State, lead

SKIP_MIN_GAP = 500
"""With ``skip_ahead=None`` (automatic), intervals of at least this many steps are skipped: one
multinomial draw per particle costs about as much as a few hundred plain steps on a CPU."""


def max_particles() -> int:
    """Largest ``n_particles``: the int32 count limit ``2**31 - 1``; in float32 (no JAX x64 mode)
    ``2**24``, above which frames and skip-ahead draws would lose integers."""
    return 2**31 - 1 if x64_enabled() else 2**24


@dataclasses.dataclass(frozen=True)
class Static:
    """The static data of a particles state.

    Attributes
    ----------
    shape : tuple of int
        The grid.
    boundary : tuple of Boundary
        One per axis.
    skip : bool
        Whether the walk is free and skip-ahead may apply (``skip_ahead`` is not False).
    always : bool
        Whether every gap is skipped (``skip_ahead=True``), not only long ones.
    cell : float
        The cell volume ``dx**ndim``.
    n : int
        The number of particles.
    """

    shape: tuple
    boundary: tuple
    skip: bool
    always: bool
    cell: float
    n: int


class ParticlesMethod(Method):
    """``method='particles'``: N independent random walkers (see the module docstring).

    Options: ``track=K`` keeps the trajectories of ``K`` particles in
    ``Result.extras['tracks']`` (shape ``(F, K, ndim)``, cells, NaN once
    absorbed); ``skip_ahead`` (None: automatic for gaps of at least
    :data:`SKIP_MIN_GAP` steps on a free walk, True, False).
    """

    name = "particles"
    kind = "stochastic"
    stochastic = True
    mobility = True
    options = {"track": 0, "skip_ahead": None}
    listed = 30

    def validate(self, tank, prop, *, n_particles=None, key=None, **options):
        options = self.check_arguments(n_particles, key, options)
        check_key(key)
        n = check_n_particles(n_particles, max_particles())
        track = _checks.integer("track", 0 if options["track"] is None else options["track"], minimum=0)
        if track > n:
            raise InputError(f"track={track} must be at most n_particles={n}")
        skip = options["skip_ahead"]
        if skip not in (None, True, False):
            raise InputTypeError(f"skip_ahead must be None (automatic), True or False, got {skip!r}")
        if skip and not is_free(tank):
            raise InputError(
                "skip_ahead=True needs a free walk: every axis 'periodic', no walls and no mobility map; "
                f"this tank has boundary={tuple(map(str, tank.boundary))}, "
                f"{'walls' if tank.walls is not None else 'no walls'} and "
                f"{'a mobility map' if mobility_of(tank) is not None else 'no mobility map'}"
            )
        check_stochastic_tank(tank)
        return {"track": track, "skip_ahead": skip}

    def order(self, tank, prop):
        return sampling_order()

    def prepare(self, tank, prop, batch, options):
        w, c = prop.weights, tank.concentration
        return State(
            None,
            thr=None
            if not _checks.is_concrete(w)
            else lead(thresholds(np.reshape(np.asarray(w), prop.batch_shape + (-1,))), prop.batch_shape, batch),
            place=None
            if not _checks.is_concrete(c)
            else lead(thresholds(np.reshape(np.asarray(c), tank.batch_shape + (-1,))), tank.batch_shape, batch),
            mass=None if not _checks.is_concrete(c) else lead(host_mass(tank), tank.batch_shape, batch),
            factors=prepared_factors(tank, prop, batch),
        )

    def init(self, tank, prop, key=None, n_particles=None, prepared=None, track=0, skip_ahead=None):
        key = check_key(key)
        shape, n = tank.shape, int(n_particles)
        if prepared is None:
            prepared = self.prepare(tank, prop, (), {})
        thr_w = thresholds(jnp.ravel(prop.weights)) if prepared.thr is None else jnp.asarray(prepared.thr)
        thr_c = thresholds(jnp.ravel(tank.concentration)) if prepared.place is None else jnp.asarray(prepared.place)
        k_place, k_walk, k_skip = jax.random.split(key, 3)
        cells = categories(k_place, 0, thr_c, n)  # iid: a random order
        coords = jnp.stack(jnp.unravel_index(cells, shape)).astype(jnp.int32)
        blocked = tank.blocked(prop.radius)
        blocked = None if blocked is None else jnp.asarray(blocked).ravel()
        factors = None
        if mobility_of(tank) is not None:
            factors = traced_factors(tank, prop) if prepared.factors is None else jnp.asarray(prepared.factors)
            factors = factors.astype(tank.dtype).ravel()
        track = int(track or 0)
        fdt = tank.dtype
        mass = initial_mass(tank) if prepared.mass is None else jnp.asarray(prepared.mass, fdt)
        unit = true_divide(mass, n)
        if not (_checks.is_concrete(tank.concentration) and _checks.is_concrete(prop.weights)):
            # traced inputs were not checked: a field or kernel that cannot be sampled gives NaN frames
            unit = jnp.where(field_problem(tank.concentration, prop.weights), unit, jnp.asarray(jnp.nan, unit.dtype))
        st = dict(
            coords=coords,
            alive=jnp.ones((n,), bool) if not all(b.conserves for b in tank.boundary) else None,
            disp=jnp.zeros((len(shape), track), count_dtype()) if track else None,
            start=coords[:, :track].T.astype(fdt) if track else None,
            step=jnp.zeros((), _checks.step_dtype()),
            k_walk=k_walk,
            k_skip=k_skip,
            thr=thr_w,
            weights=jnp.ravel(prop.weights),
            offs=jnp.asarray(prop.offsets.T, jnp.int32),
            blocked=blocked,
            factors=factors,
            unit=unit,
        )
        free = is_free(tank)
        skip = free and skip_ahead is not False
        return State(Static(shape, tuple(tank.boundary), skip, bool(skip_ahead), tank.dx**tank.ndim, n), **st)

    def advance(self, state, n):
        return self.advance_at(state, n, 0)

    @staticmethod
    def advance_at(state, n, offset):
        """:meth:`advance` for particles whose global indices start at ``offset`` (a part of the population)."""
        static = state.static
        shape, bnd = static.shape, static.boundary
        st = dict(state.arrays)
        step0 = st["step"]

        def walk(st):
            return jax.lax.fori_loop(0, n, lambda i, s: jump(s, s["k_walk"], step0 + i, shape, bnd, offset), st)

        def jump_ahead(st):
            return jump_many(st, jax.random.fold_in(st["k_skip"], step0 + n), n, shape, offset)

        if not static.skip:
            st = walk(st)
        elif static.always:
            st = jump_ahead(st)
        elif isinstance(n, (int, np.integer)):
            st = jump_ahead(st) if n >= SKIP_MIN_GAP else walk(st)
        else:
            st = jax.lax.cond(n >= SKIP_MIN_GAP, jump_ahead, walk, st)
        st["step"] = step0 + jnp.asarray(n, step0.dtype)
        return State(state.static, **st)

    @classmethod
    def _instance(cls):
        return get(cls.name)

    def counts(self, state):
        """``(counts per cell, particles absorbed)`` of a state (integers)."""
        c, n_alive = self._counts(state)
        return c, state.static.n - n_alive

    def _counts(self, state):
        shape = state.static.shape
        ncells = int(np.prod(shape))
        flat = flat_index(state.coords, shape)
        alive = state.alive
        n_alive = jnp.asarray(state.coords.shape[1], count_dtype())
        if alive is not None:
            flat = jnp.where(alive, flat, ncells)
            n_alive = jnp.sum(alive, dtype=count_dtype())
        counts = jnp.zeros((ncells + 1,), count_dtype()).at[flat].add(jnp.ones((), count_dtype()))[:ncells]
        return counts.reshape(shape), n_alive

    def observe(self, state):
        counts, n_alive = self._counts(state)
        return to_concentration(counts, state.static.n - n_alive, state.unit, state.static.cell)

    def extras(self, state):
        if state.disp is None:
            return {}
        t = state.start + state.disp.T.astype(state.start.dtype)
        if state.alive is not None:
            t = jnp.where(state.alive[: t.shape[0], None], t, jnp.nan)
        return {"tracks": t}

    def summary(self, state):
        n = state.static.n
        if state.alive is None:
            alive = jnp.asarray(n, count_dtype())
        else:
            alive = jnp.sum(state.alive, axis=-1, dtype=count_dtype())
        return {"particles_remaining": alive, "particles_absorbed": n - alive}

    def stepwise(self, state):
        return not state.static.skip  # skip-ahead draws depend on the whole gap

    def meta(self, tank, prop, save_steps, options, prepared=()):
        gaps = np.diff(np.asarray(save_steps))
        skip = (
            is_free(tank)
            and options["skip_ahead"] is not False
            and bool(options["skip_ahead"] or np.any(gaps >= SKIP_MIN_GAP))
        )
        return {"skip_ahead": skip, "track": options["track"]}

    def memory(self, sizes: Sizes, options, n_particles, nframes, members, itemsize, prepared=None):
        """Six fields per member (with a mobility map the factor of every jump, ``K`` entries per cell);
        per particle its cell and the draws and targets of a jump (``16 ndim + 16`` bytes); the tracks of ``track`` particles at every saved frame."""
        out = super().memory(sizes, options, n_particles, nframes, members, itemsize, prepared)
        out["particles"] = int(members) * int(n_particles or 0) * (16 * sizes.ndim + 16)
        out["working"] += 2 * prepared_bytes(prepared, "factors")  # prepared, and the run's copy
        out["extras"] = int(nframes) * int(members) * int(options.get("track") or 0) * sizes.ndim * int(itemsize)
        return out

    def slab(self):
        return _SLAB


def sample(key, tank, prop, n_particles, save_steps, track=0, skip_ahead=None):
    """The particle process at ``save_steps``: a pure function of ``key`` (``jax.vmap`` it over keys).

    Returns
    -------
    counts : integer array ``(F, *tank.shape)``
        Particles per cell at each saved step.
    absorbed : integer array ``(F,)``
        Particles absorbed at open edges by each saved step.
    tracks : float array ``(F, track, ndim)``
        Unfolded positions (cells) of the tracked particles: start cell plus
        the sum of the jumps made (refused jumps add nothing); NaN once absorbed.
    """
    from ..core import trajectory

    m = ParticlesMethod._instance()
    _, _, extras, (counts, lost) = trajectory(
        m,
        tank,
        prop,
        save_steps,
        key=key,
        n_particles=n_particles,
        collect=_counts_of,
        track=track,
        skip_ahead=skip_ahead,
    )
    tracks = extras.get("tracks", jnp.zeros((counts.shape[0], 0, tank.ndim), tank.dtype))
    return counts, lost, tracks


def _counts_of(method, state):
    return method.counts(state)


# -- on a split grid ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SlabStatic:
    """The static data of a device's share of the particles: the walk's, the particles per device, the devices."""

    walk: Static
    local: int
    devices: int


class ParticlesSlab(Slab):
    """The particles split by index across devices; their frames reduce-scattered into slabs of rows.

    Device ``d`` holds particles ``[d N/D, (d + 1) N/D)``, padded with particles
    that are never alive, and draws each particle's jump from its global index,
    so the same key gives the same walk on any number of devices. The placement
    thresholds, the wall masks and the mobility's jump factors are whole-tank
    tables each device holds (read only); frames are binned on each device and
    reduce-scattered into the slabs.
    """

    method = "particles"

    def check(self, tank, prop, devices, options):
        super().check(tank, prop, devices, options)
        if options.get("track"):
            raise InputError("track is not available on a split grid (the tracked particles live on one device)")

    def inputs(self, plan, devices):
        tank, prop = plan.tank, plan.prop
        n = int(plan.n_particles)
        local = -(-n // devices)
        prepared = jax.tree_util.tree_map(lambda x: x[0], plan.groups[0].prepared)  # the run's one member
        k_place, k_walk, k_skip = jax.random.split(plan.key, 3)
        blocked = tank.blocked(prop.radius)
        fdt = np.dtype(tank.dtype)
        arrays = {
            "thr_c": self.replicate(prepared.place, devices),
            "thr_w": self.replicate(prepared.thr, devices),
            "keys": jnp.broadcast_to(jnp.stack([k_place, k_walk, k_skip]), (devices, 3)),
            "weights": self.replicate(np.asarray(prop.weights).ravel(), devices),
            "offs": self.replicate(prop.offsets.T.astype(np.int32), devices),
            "blocked": None if blocked is None else self.replicate(blocked.ravel(), devices),
            "factors": None
            if mobility_of(tank) is None
            else self.replicate(np.asarray(prepared.factors, fdt).ravel(), devices),
            "mass": self.replicate(np.asarray(prepared.mass, fdt), devices),
        }
        skip = is_free(tank) and plan.options.get("skip_ahead") is not False
        walk = Static(
            tank.shape, tuple(tank.boundary), skip, bool(plan.options.get("skip_ahead")), tank.dx**tank.ndim, n
        )
        return SlabStatic(walk, local, devices), arrays

    def init(self, static, thr_c, thr_w, keys, weights, offs, blocked, factors, mass):
        shape, n, local = static.walk.shape, static.walk.n, static.local
        start = jax.lax.axis_index(AXIS) * local
        cells = categories(keys[0], 0, thr_c, local, offset=start)
        coords = jnp.stack(jnp.unravel_index(cells, shape)).astype(jnp.int32)
        alive = start + jnp.arange(local, dtype=start.dtype) < n  # the padding is never alive
        return State(
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
            factors=factors,
            unit=mass / n,
        )

    def advance(self, state, n):
        offset = jax.lax.axis_index(AXIS) * state.static.local
        out = ParticlesMethod.advance_at(State(state.static.walk, **state.arrays), n, offset)
        return State(state.static, **out.arrays)

    def _counts(self, state):
        shape = state.static.walk.shape
        ncells = int(np.prod(shape))
        flat = flat_index(state.coords, shape)
        flat = jnp.where(state.alive, flat, ncells)
        hist = jnp.zeros((ncells + 1,), count_dtype()).at[flat].add(jnp.ones((), count_dtype()))[:ncells]
        slab = jax.lax.psum_scatter(hist.reshape(shape), AXIS, scatter_dimension=0, tiled=True)
        alive = jax.lax.psum(jnp.sum(state.alive, dtype=count_dtype()), AXIS)
        return slab, alive

    def observe(self, state):
        counts, alive = self._counts(state)
        walk = state.static.walk
        return to_concentration(counts, walk.n - alive, state.unit, walk.cell)

    def summary(self, state):
        alive = jax.lax.psum(jnp.sum(state.alive, dtype=count_dtype()), AXIS)
        return {"particles_remaining": alive, "particles_absorbed": state.static.walk.n - alive}

    def stepwise(self, state):
        return not state.static.walk.skip


_SLAB = ParticlesSlab()

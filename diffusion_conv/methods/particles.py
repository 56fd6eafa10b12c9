"""``N`` independent particles on the lattice, each step a random jump drawn from the propagator.

Particles start in cells drawn independently in proportion to the initial
concentration, and each step every particle draws an offset ``d`` with
probability ``w[d]``: one random word per particle compared with the
cumulative weights (``thresholds``, computed alike for concrete and traced
weights: probabilities resolved to ``2**-31``; zero weights are never drawn). Its target is folded per axis by the tank's
:class:`~diffusion_conv.lattice.Boundary`, and the jump is refused (the
particle stays) where the walls' box rule says so. A particle that leaves
through an absorbing edge is removed and counted. The ``propagator`` method is
the exact expectation of this process.

Random streams: the word of particle ``j`` at step ``t`` is a function of
``(key, j, t)`` only, so the same key gives the same walk however the run is
cut into frames, batches or chunks.

Skip-ahead: where the walk is free (every axis periodic, no walls) the
position after ``g`` steps is the start plus the net displacement of ``g``
jumps, whose counts per offset are one multinomial draw of ``g``; the method
then jumps straight from one saved step to the next, at a cost that does not
grow with ``g``.

Memory is ``O(N)`` plus the frames, never ``N x steps``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..errors import InputError, InputTypeError
from ._sampling import check_key, check_n_particles, count_dtype, index_words, multinomial, x64_enabled
from ._stochastic import (
    check_stochastic_tank,
    field_problem,
    host_mass,
    initial_mass,
    sampling_order,
    thresholds,
    to_concentration,
    true_divide,
)
from .base import Method, State, lead, register

SKIP_MIN_GAP = 500
"""With ``skip_ahead=None`` (automatic), intervals of at least this many steps are skipped: one
multinomial draw per particle costs about as much as a few hundred plain steps on a CPU."""


def max_particles() -> int:
    """Largest ``n_particles``: the int32 count limit ``2**31 - 1``; in float32 (no JAX x64 mode)
    ``2**24``, above which frames and skip-ahead draws would lose integers."""
    return 2**31 - 1 if x64_enabled() else 2**24


def is_free(tank) -> bool:
    """Whether the walk is free (all axes periodic, no walls), so skip-ahead applies."""
    return tank.walls is None and all(b.wraps for b in tank.boundary)


def categories(key, stream, thr, n, offset=0, offs=None):
    """``n`` category indices drawn with the probabilities encoded by ``thr``.

    Entry ``j`` uses one random word: the first word of the threefry-2x32 hash
    of its global index ``offset + j`` and the stream, so a part of a population
    draws what it would draw in the whole. The hash is written out round by
    round and fused with the comparisons that read it: one hash per particle,
    no array of random words in memory. With ``offs`` (``(ndim, K)``, the jump
    of each category) returns ``(k, offs[:, k])``, the jumps summed from the
    same comparisons (XLA's CPU gather of a small table, fused with the draw,
    is many times slower).
    """
    bits = index_words(key, n, stream, offset=offset) >> jnp.uint32(1)
    if thr.shape[0] > 32:
        k = jnp.searchsorted(thr, bits, side="right").astype(jnp.int32)
        return k if offs is None else (k, jnp.take(offs, k, axis=1))
    k = jnp.zeros((n,), jnp.int32)
    d = None if offs is None else [jnp.full((n,), offs[a, 0], offs.dtype) for a in range(offs.shape[0])]
    zero = None if offs is None else jnp.zeros((), offs.dtype)
    for j in range(thr.shape[0]):
        hit = bits >= thr[j]
        k = k + hit.astype(jnp.int32)
        if d is not None:
            d = [da + jnp.where(hit, offs[a, j + 1] - offs[a, j], zero) for a, da in enumerate(d)]
    return k if offs is None else (k, jnp.stack(d))


def _flat(coords, shape):
    flat = coords[0]
    for a in range(1, len(shape)):
        flat = flat * shape[a] + coords[a]
    return flat


def _jump(st, key, step, shape, bnd, offset=0):
    """One jump of every particle: refused by walls, folded, absorbed at open edges."""
    coords, alive, disp = st["coords"], st["alive"], st["disp"]
    n = coords.shape[1]
    k, d = categories(key, step, st["thr"], n, offset, offs=st["offs"])  # d: (ndim, n)
    target = jnp.stack([bnd[a].fold(coords[a] + d[a], shape[a], jnp) for a in range(len(shape))])
    moved = jnp.ones((n,), bool)
    if st["blocked"] is not None:
        moved = ~st["blocked"][k * int(np.prod(shape)) + _flat(coords, shape)]
    leaves = jnp.any(target < 0, axis=0) & moved
    coords = jnp.where(moved & ~leaves, target, coords)
    if alive is not None:
        moved = moved & alive
        alive = alive & ~leaves
    if disp is not None:
        t = disp.shape[1]
        disp = disp + jnp.where(moved[:t], d[:, :t], 0).astype(disp.dtype)
    return {**st, "coords": coords, "alive": alive, "disp": disp}


def _skip(st, key, gap, shape, offset=0):
    """``gap`` free steps at once: one multinomial draw of the jump counts per particle (in exact pieces)."""
    coords, disp = st["coords"], st["disp"]
    n = coords.shape[1]
    piece = 2**52 if x64_enabled() else 2**24
    cd = count_dtype()
    gap = jnp.asarray(gap, _checks.step_dtype())

    def body(carry):
        done, net = carry
        g = jnp.minimum(gap - done, piece).astype(cd)
        jumps = multinomial(jax.random.fold_in(key, done), jnp.full((n,), g, cd), st["weights"], offset=offset)
        return done + g.astype(done.dtype), net + st["offs"].astype(jumps.dtype) @ jumps

    zero = jnp.zeros((), gap.dtype)
    _, net = jax.lax.while_loop(lambda c: c[0] < gap, body, (zero, jnp.zeros(coords.shape, cd)))
    coords = jnp.stack([jnp.mod(coords[a].astype(net.dtype) + net[a], shape[a]) for a in range(len(shape))])
    if disp is not None:
        disp = disp + net[:, : disp.shape[1]].astype(disp.dtype)
    return {**st, "coords": coords.astype(jnp.int32), "disp": disp}


@register
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
    options = {"track": 0, "skip_ahead": None}

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
                "skip_ahead=True needs a free walk: every axis 'periodic' and no walls; this tank has "
                f"boundary={tuple(map(str, tank.boundary))} and "
                f"{'walls' if tank.walls is not None else 'no walls'}"
            )
        check_stochastic_tank(tank)
        return {"track": track, "skip_ahead": skip}

    def order(self, tank, prop):
        return sampling_order()

    def prepare(self, tank, prop, batch, options):
        w, c = prop.weights, tank.concentration
        return State(
            (),
            thr=None
            if not _checks.is_concrete(w)
            else lead(thresholds(np.reshape(np.asarray(w), prop.batch_shape + (-1,))), prop.batch_shape, batch),
            place=None
            if not _checks.is_concrete(c)
            else lead(thresholds(np.reshape(np.asarray(c), tank.batch_shape + (-1,))), tank.batch_shape, batch),
            mass=None if not _checks.is_concrete(c) else lead(host_mass(tank), tank.batch_shape, batch),
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
            unit=unit,
        )
        free = is_free(tank)
        skip = free and skip_ahead is not False
        return State((shape, tuple(tank.boundary), skip, bool(skip_ahead), tank.dx**tank.ndim, n), **st)

    def advance(self, state, n):
        return self.advance_at(state, n, 0)

    @staticmethod
    def advance_at(state, n, offset):
        """:meth:`advance` for particles whose global indices start at ``offset`` (a part of the population)."""
        shape, bnd, skip, always, _, _ = state.static
        st = dict(state.arrays)
        step0 = st["step"]

        def walk(st):
            return jax.lax.fori_loop(0, n, lambda i, s: _jump(s, s["k_walk"], step0 + i, shape, bnd, offset), st)

        def jump_ahead(st):
            return _skip(st, jax.random.fold_in(st["k_skip"], step0 + n), n, shape, offset)

        if not skip:
            st = walk(st)
        elif always:
            st = jump_ahead(st)
        elif isinstance(n, (int, np.integer)):
            st = jump_ahead(st) if n >= SKIP_MIN_GAP else walk(st)
        else:
            st = jax.lax.cond(n >= SKIP_MIN_GAP, jump_ahead, walk, st)
        st["step"] = step0 + jnp.asarray(n, step0.dtype)
        return State(state.static, **st)

    @classmethod
    def _instance(cls):
        from .base import get

        return get(cls.name)

    def counts(self, state):
        """``(counts per cell, particles absorbed)`` of a state (integers)."""
        c, n_alive = self._counts(state)
        return c, state.static[5] - n_alive

    def _counts(self, state):
        shape = state.static[0]
        ncells = int(np.prod(shape))
        flat = _flat(state.coords, shape)
        alive = state.alive
        n_alive = jnp.asarray(state.coords.shape[1], count_dtype())
        if alive is not None:
            flat = jnp.where(alive, flat, ncells)
            n_alive = jnp.sum(alive, dtype=count_dtype())
        counts = jnp.zeros((ncells + 1,), count_dtype()).at[flat].add(jnp.ones((), count_dtype()))[:ncells]
        return counts.reshape(shape), n_alive

    def observe(self, state):
        counts, n_alive = self._counts(state)
        n, cell = state.static[5], state.static[4]
        return to_concentration(counts, n - n_alive, state.unit, cell)

    def extras(self, state):
        if state.disp is None:
            return {}
        t = state.start + state.disp.T.astype(state.start.dtype)
        if state.alive is not None:
            t = jnp.where(state.alive[: t.shape[0], None], t, jnp.nan)
        return {"tracks": t}

    def summary(self, state):
        n = state.static[5]
        if state.alive is None:
            alive = jnp.asarray(n, count_dtype())
        else:
            alive = jnp.sum(state.alive, axis=-1, dtype=count_dtype())
        return {"particles_remaining": alive, "particles_absorbed": n - alive}

    def stepwise(self, state):
        return not state.static[2]  # skip-ahead draws depend on the whole gap

    def meta(self, tank, prop, save_steps, options):
        gaps = np.diff(np.asarray(save_steps))
        skip = (
            is_free(tank)
            and options["skip_ahead"] is not False
            and bool(options["skip_ahead"] or np.any(gaps >= SKIP_MIN_GAP))
        )
        return {"skip_ahead": skip, "track": options["track"]}


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

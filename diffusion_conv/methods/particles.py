"""``N`` independent particles on the lattice, each step a random jump drawn from the propagator.

Particles start in cells drawn independently in proportion to the initial
concentration, and each step every particle draws an offset ``d`` with
probability ``w[d]``: one random word per particle compared with the
cumulative weights (probabilities resolved to ``2**-31``; zero weights are
never drawn). Its target is folded per axis with
:func:`diffusion_conv.lattice.fold_index`, and the jump is refused (the
particle stays) where :func:`diffusion_conv.lattice.tank_blocked` says a wall
lies in the way. A particle that leaves through an absorbing edge is removed
and counted. The ``propagator`` method is the exact expectation of this process.

Skip-ahead: where the walk is free (every axis periodic, no walls) the
position after ``g`` steps is the start plus the net displacement of ``g``
jumps, whose counts per offset are one multinomial draw of ``g``; the method
then jumps straight from one saved step to the next, at a cost that does not
grow with ``g``.

JAX, jitted, ``lax.scan`` over steps; memory is ``O(N)`` plus the frames, never
``N x steps``. :func:`sample` is a pure function of the key, so
``jax.vmap(lambda k: sample(k, tank, prop, n, steps))(keys)`` gives ensembles.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, _progress
from ..lattice import fold_index, tank_blocked
from . import MethodOutput, intervals
from ._sampling import check_key, check_n_particles, count_dtype, multinomial, random_bits, x64_enabled

NAME = "particles"
KIND = "stochastic"
ORDER = -0.5
"""Expected order of the error in ``n_particles``: the relative L2 error against
``propagator`` falls like ``N ** ORDER`` (the law of large numbers)."""

SKIP_MIN_GAP = 500
"""With ``skip_ahead=None`` (automatic), intervals of at least this many steps are skipped: one
multinomial draw per particle costs about as much as a few hundred plain steps on a CPU."""


def max_particles() -> int:
    """Largest ``n_particles``: the int32 count limit ``2**31 - 1``; in float32 (no JAX x64 mode)
    ``2**24``, above which frames and skip-ahead draws would lose integers."""
    return 2**31 - 1 if x64_enabled() else 2**24


def is_free(tank) -> bool:
    """Whether the walk is free (all axes periodic, no walls), so skip-ahead applies."""
    return tank.walls is None and all(b == "periodic" for b in tank.boundary)


def _check_options(tank, n, track=0, skip_ahead=None, **options):
    if options:
        raise TypeError(f"method {NAME!r} takes the options track and skip_ahead, got {sorted(options)}")
    track = _checks.integer("track", 0 if track is None else track, minimum=0)
    if track > n:
        raise ValueError(f"track={track} must be at most n_particles={n}")
    if skip_ahead not in (None, True, False):
        raise TypeError(f"skip_ahead must be None (automatic), True or False, got {skip_ahead!r}")
    if skip_ahead and not is_free(tank):
        raise ValueError("skip_ahead=True needs a free walk: every axis 'periodic' and no walls; "
                         f"this tank has boundary={tank.boundary} and {'walls' if tank.walls is not None else 'no walls'}")
    return track, skip_ahead


def validate(tank, prop, *, n_particles=None, key=None, **options):
    """Check ``key``, ``n_particles``, ``track`` and ``skip_ahead`` before any work."""
    check_key(key)
    n = check_n_particles(n_particles, max_particles())
    _check_options(tank, n, **options)
    if not float(np.sum(np.asarray(tank.concentration), dtype=np.float64)) > 0:
        raise ValueError("the tank holds no mass: the stochastic methods need a positive initial mass to place")


def _thresholds(weights):
    """uint32 thresholds ``floor(cdf * 2**31)`` of the first ``K - 1`` normalised cumulative weights.

    A 31-bit random number ``b`` picks category ``#{j : b >= thr[j]}``: category ``k``
    with probability ``w[k] / sum(w)`` resolved to ``2**-31``, exactly 0 where ``w[k] = 0``.
    """
    if _checks.is_concrete(weights):
        cdf = np.cumsum(np.asarray(weights, np.float64).ravel())
        cdf = cdf[:-1] / cdf[-1]
        return jnp.asarray(np.clip(np.floor(cdf * 2.0**31), 0, 2**31).astype(np.uint32))
    cdf = jnp.cumsum(jnp.ravel(weights))
    cdf = cdf[:-1] / cdf[-1]
    return jnp.clip(jnp.floor(cdf * 2.0**31), 0, 2**31).astype(jnp.uint32)


def _categories(key, stream, thr, n):
    """``n`` category indices drawn with the probabilities encoded by ``thr``."""
    bits = random_bits(key, n, stream) >> jnp.uint32(1)
    if thr.shape[0] <= 32:
        k = jnp.zeros((n,), jnp.int32)
        for j in range(thr.shape[0]):
            k = k + (bits >= thr[j]).astype(jnp.int32)
        return k
    return jnp.searchsorted(thr, bits, side="right").astype(jnp.int32)


def _flat(coords, shape):
    flat = coords[0]
    for a in range(1, len(shape)):
        flat = flat * shape[a] + coords[a]
    return flat


def _step(state, key, step, thr, offs, blocked, shape, boundary):
    """One jump of every particle: refused by walls, folded, absorbed at open edges."""
    coords, alive, disp = state
    n = coords.shape[1]
    k = _categories(key, step, thr, n)
    d = offs[:, k]  # (ndim, n)
    target = jnp.stack([fold_index(coords[a] + d[a], shape[a], boundary[a], jnp) for a in range(len(shape))])
    moved = jnp.ones((n,), bool)
    if blocked is not None:
        moved = ~blocked[k * int(np.prod(shape)) + _flat(coords, shape)]
    leaves = jnp.any(target < 0, axis=0) & moved
    coords = jnp.where(moved & ~leaves, target, coords)
    if alive is not None:
        moved = moved & alive
        alive = alive & ~leaves
    if disp is not None:
        t = disp.shape[1]
        disp = disp + jnp.where(moved[:t], d[:, :t], 0).astype(disp.dtype)
    return coords, alive, disp


def _skip(state, key, gap, weights, offs, shape):
    """``gap`` free steps at once: one multinomial draw of the jump counts per particle."""
    coords, alive, disp = state
    n = coords.shape[1]
    piece = 2**52 if x64_enabled() else 2**24
    net = jnp.zeros(coords.shape, count_dtype())
    done = 0
    while done < gap:
        g = min(piece, gap - done)
        jumps = multinomial(jax.random.fold_in(key, done), jnp.full((n,), g, count_dtype()), weights)
        net = net + offs.astype(jumps.dtype) @ jumps
        done += g
    coords = jnp.stack([jnp.mod(coords[a].astype(net.dtype) + net[a], shape[a]) for a in range(len(shape))])
    coords = coords.astype(jnp.int32)
    if disp is not None:
        disp = disp + net[:, : disp.shape[1]]
    return coords, alive, disp


@functools.partial(jax.jit, static_argnames=("gap", "count", "skip", "shape", "boundary", "ncells"))
def _frames(state, key, step0, thr, weights, offs, blocked, gap, count, skip, shape, boundary, ncells):
    """``count`` frames ``gap`` steps apart after step ``step0``: state, counts, alive, tracks."""

    def frame(state, i):
        end = step0 + (i + 1) * gap
        if skip:
            state = _skip(state, jax.random.fold_in(key, end), gap, weights, offs, shape)
        else:
            def body(s, step):
                return _step(s, key, step, thr, offs, blocked, shape, boundary), None

            state, _ = jax.lax.scan(body, state, step0 + i * gap + jnp.arange(gap))
        return state, _observe(state, shape, ncells)

    return jax.lax.scan(frame, state, jnp.arange(count))


def _observe(state, shape, ncells):
    """Counts per cell, particles alive, tracked displacements and whether the tracked are alive."""
    coords, alive, disp = state
    flat = _flat(coords, shape)
    n_alive = jnp.asarray(coords.shape[1], count_dtype())
    if alive is not None:
        flat = jnp.where(alive, flat, ncells)
        n_alive = jnp.sum(alive, dtype=count_dtype())
    counts = jnp.zeros((ncells + 1,), count_dtype()).at[flat].add(jnp.ones((), count_dtype()))[:ncells]
    track_alive = None
    if disp is not None and alive is not None:
        track_alive = alive[: disp.shape[1]]
    return counts.reshape(shape), n_alive, disp, track_alive


def sample(key, tank, prop, n_particles, save_steps, track=0, skip_ahead=None):
    """The particle process at ``save_steps``: a pure function of ``key`` (``jax.vmap`` it over keys).

    Parameters
    ----------
    key : JAX key (typed, or raw uint32)
    tank : Tank
    prop : Propagator
    n_particles : int
    save_steps : sequence of int
        Sorted step indices starting at 0.
    track : int
        Number of particles whose trajectories are returned.
    skip_ahead : None, bool
        Jump straight between saved steps where the walk is free (``None``:
        for intervals of at least :data:`SKIP_MIN_GAP` steps).

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
    out = {}
    for _ in _segments(check_key(key), tank, prop, n_particles, save_steps, track, skip_ahead, out):
        pass
    return out["counts"], out["absorbed"], out["tracks"]


def _segments(key, tank, prop, n, save_steps, track, skip_ahead, out, chunk=None):
    """Generator over runs of frames, yielding the steps done; puts the arrays in ``out``."""
    shape, ncells = tank.shape, int(np.prod(tank.shape))
    k_place, k_walk, k_skip = jax.random.split(key, 3)
    blocked = tank_blocked(tank, prop.radius)
    blocked = None if blocked is None else jnp.asarray(blocked).reshape(-1)
    offs = jnp.asarray(prop.offsets.T, jnp.int32)  # (ndim, K)
    weights, thr = jnp.ravel(prop.weights), _thresholds(prop.weights)
    cells = _categories(k_place, 0, _thresholds(tank.concentration), n)  # iid: a random order
    coords = jnp.stack(jnp.unravel_index(cells, shape)).astype(jnp.int32)
    alive = jnp.ones((n,), bool) if "absorb" in tank.boundary else None
    disp = jnp.zeros((len(shape), track), count_dtype()) if track else None
    start = coords[:, :track].T.astype(_checks.float_dtype())
    state = (coords, alive, disp)
    first = _observe(state, shape, ncells)
    counts, alive_n = [first[0][None]], [first[1][None]]
    tracks = [first[2][None]] if track else []
    living = [first[3][None]] if first[3] is not None else []
    free = is_free(tank)
    used_skip, step = False, 0
    for gap, count in intervals(save_steps):
        skip = free and skip_ahead is not False and (skip_ahead or gap >= SKIP_MIN_GAP)
        used_skip |= skip
        done = 0
        while done < count:
            m = count - done if chunk is None else max(1, min(count - done, chunk // gap))
            state, (c, a, t, live) = _frames(state, k_skip if skip else k_walk, step, thr, weights, offs, blocked,
                                             gap, m, skip, shape, tank.boundary, ncells)
            counts.append(c)
            alive_n.append(a)
            if track:
                tracks.append(t)
            if live is not None:
                living.append(live)
            done += m
            step += m * gap
            yield m * gap
    out["counts"] = jnp.concatenate(counts)
    out["absorbed"] = n - jnp.concatenate(alive_n)
    out["skip_ahead"] = bool(used_skip)
    if track:
        t = start[None] + jnp.swapaxes(jnp.concatenate(tracks), 1, 2).astype(start.dtype)  # (F, K, ndim)
        if alive is not None:
            t = jnp.where(jnp.concatenate(living)[..., None], t, jnp.nan)
        out["tracks"] = t
    else:
        out["tracks"] = jnp.zeros((out["counts"].shape[0], 0, len(shape)), _checks.float_dtype())


def run(tank, prop, save_steps, *, dt=1.0, n_particles=None, key=None, progress=False, **options):
    """Particle counts at ``save_steps`` as concentrations; see :func:`diffusion_conv.simulate`.

    Frames are ``counts * (initial mass / N) / dx**ndim`` in the tank's dtype,
    so each frame's mass is exactly the surviving share of the initial mass.
    Options: ``track=K`` keeps the trajectories of ``K`` particles in
    ``extras['tracks']`` (shape ``(F, K, ndim)``, cells, NaN once absorbed);
    ``skip_ahead`` (None, True, False) as in :func:`sample`.
    """
    validate(tank, prop, n_particles=n_particles, key=key, **options)
    track, skip_ahead = _check_options(tank, n_particles, **options)
    out = {}
    chunk = max(1, int(save_steps[-1]) // 50) if progress else None
    with _progress.bar(int(save_steps[-1]), progress, desc=NAME) as pbar:
        for n in _segments(check_key(key), tank, prop, n_particles, save_steps, track, skip_ahead, out, chunk):
            pbar.update(n)
    counts, lost = np.asarray(out["counts"]), np.asarray(out["absorbed"])
    mass = float(np.sum(np.asarray(tank.concentration), dtype=np.float64)) * tank.dx**tank.ndim
    unit = mass / n_particles
    frames = (counts * (unit / tank.dx**tank.ndim)).astype(np.asarray(tank.concentration).dtype)
    meta = {"n_particles": int(n_particles), "skip_ahead": out["skip_ahead"], "track": track, "order": ORDER,
            "particles_remaining": int(counts[-1].sum()), "particles_absorbed": int(lost[-1])}
    extras = {"tracks": np.asarray(out["tracks"])} if track else {}
    return MethodOutput(frames, lost.astype(np.float64) * unit, meta, extras)

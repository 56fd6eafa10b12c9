"""The occupation-number form of the particle process: integer counts per cell.

Each cell holds an integer number of particles. Each step every cell's count
is split among the jump offsets by one multinomial draw with the propagator's
weights (sequential conditional binomials), and the split counts are moved
with :func:`diffusion_conv.lattice.transport`, which applies the shared
boundary folding and wall rule to integer amounts. In distribution this is
exactly ``N`` independent particles (the ``particles`` method), and its
expectation is the ``propagator`` method.

For a separable kernel (a Gaussian, a box) in a tank without walls, the step
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

This module also holds the samplers the ``particles`` method uses (key checks,
fast random bits, an exact binomial, the multinomial split, the placement of
``N`` particles in proportion to a field).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, _progress
from ..lattice import tank_blocked, transport
from . import MethodOutput
from .propagator import separable_factors
from ._sampling import binomial, check_key, check_n_particles, count_dtype, max_exact_count, multinomial

NAME = "counts"
KIND = "stochastic"
ORDER = -0.5
"""Expected order of the error in ``n_particles``: the relative L2 error against
``propagator`` falls like ``N ** ORDER`` (the law of large numbers)."""

def place(key, concentration, n_particles):
    """Counts per cell of ``n_particles`` placed in proportion to ``concentration``: one multinomial.

    Drawn exactly by splitting ``n_particles`` down a binary tree over the
    cells (one binomial per node, with the share of mass in its left half).
    Returns an integer array of the field's shape (:func:`count_dtype`).
    """
    return _place(key, jnp.asarray(concentration), n_particles).astype(count_dtype())


@jax.jit
def _place(key, concentration, n_particles):
    fdt = _checks.float_dtype()
    shape = concentration.shape
    c = jnp.ravel(concentration).astype(fdt)
    depth = max(0, int(np.ceil(np.log2(c.size))))
    size = 1 << depth
    mass = jnp.pad(c, (0, size - c.size))
    # the node at depth l, index j sits at position j * (size >> l); p_left[l] at its position
    p_left = []
    for level in range(depth):
        half = size >> (level + 1)
        blocks = mass.reshape(-1, 2, half).sum(axis=2)
        total = blocks.sum(axis=1)
        p = jnp.where(total > 0, blocks[:, 0] / jnp.where(total > 0, total, 1), 0)
        p_left.append(jnp.zeros((2 ** level, 2 * half), fdt).at[:, 0].set(p).ravel())
    counts = jnp.zeros((size,), fdt).at[0].set(n_particles)
    if depth:
        def body(counts, xs):
            p, level = xs
            left = binomial(jax.random.fold_in(key, level), counts, p)
            right = jnp.roll(counts - left, jnp.right_shift(size, level + 1))
            return left + right, None

        counts, _ = jax.lax.scan(body, counts, (jnp.stack(p_left), jnp.arange(depth)))
    return counts[: c.size].reshape(shape)


# -- the method --------------------------------------------------------------------------------
def validate(tank, prop, *, n_particles=None, key=None, **options):
    """Check ``key``, ``n_particles`` and options before any work (see :mod:`diffusion_conv.methods`)."""
    if options:
        raise TypeError(f"method {NAME!r} takes no options, got {sorted(options)}")
    check_key(key)
    check_n_particles(n_particles, max_exact_count())
    if not float(np.sum(np.asarray(tank.concentration), dtype=np.float64)) > 0:
        raise ValueError("the tank holds no mass: the stochastic methods need a positive initial mass to place")


@functools.partial(jax.jit, static_argnames=("gap", "count", "radius", "boundary"))
def _frames(counts, absorbed, key, step0, weights, blocked, factors, gap, count, radius, boundary):
    """``count`` frames ``gap`` steps apart, starting after step ``step0``.

    With ``factors`` (a separable kernel, no walls) each step splits and moves
    the counts one axis at a time.
    """

    def one_step(carry, step):
        c, a = carry
        k = jax.random.fold_in(key, step)
        if factors is None:
            c, da = transport(multinomial(k, c, weights), radius, boundary, blocked)
            return (c, a + da), None
        for axis, f in enumerate(factors):
            if radius[axis] == 0:
                continue
            rad = tuple(r if b == axis else 0 for b, r in enumerate(radius))
            c, da = transport(multinomial(jax.random.fold_in(k, axis), c, f), rad, boundary)
            a = a + da
        return (c, a), None

    def frame(carry, i):
        steps = step0 + i * gap + jnp.arange(gap)
        carry, _ = jax.lax.scan(one_step, carry, steps)
        return carry, carry

    (counts, absorbed), (frames, lost) = jax.lax.scan(frame, (counts, absorbed), jnp.arange(count))
    return counts, absorbed, frames, lost


def sample(key, tank, prop, n_particles, save_steps):
    """The counts at ``save_steps``: a pure function of ``key`` (``jax.vmap`` over keys gives ensembles).

    Parameters
    ----------
    key : JAX key
    tank : Tank
    prop : Propagator
    n_particles : int
        Total number of particles (at most :func:`max_exact_count`).
    save_steps : sequence of int
        Sorted step indices starting at 0.

    Returns
    -------
    counts : integer array ``(F, *tank.shape)``
        Particles per cell at each saved step.
    absorbed : integer array ``(F,)``
        Running total of particles absorbed at open edges.
    """
    out = {}
    for _ in _segments(check_key(key), tank, prop, n_particles, save_steps, out):
        pass
    return out["counts"], out["absorbed"]


def _segments(key, tank, prop, n_particles, save_steps, out, chunk=None):
    """Generator over runs of frames, yielding the steps done; puts the arrays in ``out``."""
    from . import intervals

    k_place, k_walk = jax.random.split(key)
    blocked = tank_blocked(tank, prop.radius)
    blocked = None if blocked is None else jnp.asarray(blocked)
    weights = jnp.ravel(prop.weights)
    factors = separable_factors(prop.weights) if blocked is None else None
    factors = None if factors is None else tuple(jnp.asarray(f) for f in factors)
    counts = place(k_place, tank.concentration, n_particles)
    absorbed = jnp.zeros((), counts.dtype)
    frames, lost, step = [counts[None]], [absorbed[None]], 0
    for gap, count in intervals(save_steps):
        done = 0
        while done < count:
            m = count - done if chunk is None else max(1, min(count - done, chunk // gap))
            counts, absorbed, f, a = _frames(counts, absorbed, k_walk, step, weights, blocked, factors, gap, m,
                                             prop.radius, tank.boundary)
            frames.append(f)
            lost.append(a)
            done += m
            step += m * gap
            yield m * gap
    out["counts"], out["absorbed"] = jnp.concatenate(frames), jnp.concatenate(lost)


def run(tank, prop, save_steps, *, dt=1.0, n_particles=None, key=None, progress=False, **options):
    """Counts at ``save_steps`` as concentrations; see :func:`diffusion_conv.simulate`.

    Frames are ``counts * (initial mass / N) / dx**ndim`` in the tank's dtype,
    so each frame's mass is exactly the surviving share of the initial mass;
    ``absorbed`` is the absorbed share in mass units.
    """
    validate(tank, prop, n_particles=n_particles, key=key, **options)
    key = check_key(key)
    chunk = max(1, int(save_steps[-1]) // 50) if progress else None
    out = {}
    with _progress.bar(int(save_steps[-1]), progress, desc=NAME) as pbar:
        for n in _segments(key, tank, prop, n_particles, save_steps, out, chunk):
            pbar.update(n)
    counts, lost = np.asarray(out["counts"]), np.asarray(out["absorbed"])
    mass = float(np.sum(np.asarray(tank.concentration), dtype=np.float64)) * tank.dx**tank.ndim
    unit = mass / n_particles
    frames = (counts * (unit / tank.dx**tank.ndim)).astype(np.asarray(tank.concentration).dtype)
    per_axis = tank_blocked(tank, prop.radius) is None and separable_factors(prop.weights) is not None
    meta = {"n_particles": int(n_particles), "count_dtype": str(counts.dtype), "order": ORDER,
            "split": "per-axis" if per_axis else "joint",
            "particles_remaining": int(counts[-1].sum()), "particles_absorbed": int(lost[-1])}
    return MethodOutput(frames, lost.astype(np.float64) * unit, meta, {"counts": counts})

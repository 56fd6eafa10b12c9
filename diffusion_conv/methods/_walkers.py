"""The walk of the ``particles`` method: a category drawn per particle from its index, one jump of every
particle, and many free jumps at once (skip-ahead).

A particle's draw at a step is a function of ``(key, global index, step)``
only, so a part of the population (a device's share of a split grid) draws
what it would draw in the whole.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ._sampling import count_dtype, index_words, multinomial, x64_enabled


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


def flat_index(coords, shape):
    flat = coords[0]
    for a in range(1, len(shape)):
        flat = flat * shape[a] + coords[a]
    return flat


def jump(st, key, step, shape, bnd, offset=0):
    """One jump of every particle: refused by walls, folded, absorbed at open edges."""
    coords, alive, disp = st["coords"], st["alive"], st["disp"]
    n = coords.shape[1]
    k, d = categories(key, step, st["thr"], n, offset, offs=st["offs"])  # d: (ndim, n)
    target = jnp.stack([bnd[a].fold(coords[a] + d[a], shape[a], jnp) for a in range(len(shape))])
    moved = jnp.ones((n,), bool)
    if st["blocked"] is not None:
        moved = ~st["blocked"][k * int(np.prod(shape)) + flat_index(coords, shape)]
    leaves = jnp.any(target < 0, axis=0) & moved
    coords = jnp.where(moved & ~leaves, target, coords)
    if alive is not None:
        moved = moved & alive
        alive = alive & ~leaves
    if disp is not None:
        t = disp.shape[1]
        disp = disp + jnp.where(moved[:t], d[:, :t], 0).astype(disp.dtype)
    return {**st, "coords": coords, "alive": alive, "disp": disp}


def jump_many(st, key, gap, shape, offset=0):
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

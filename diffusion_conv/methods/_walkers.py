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
from ..random._bits import global_index, key_words, threefry2x32
from ._sampling import count_dtype, multinomial, x64_enabled


def is_free(tank) -> bool:
    """Whether the walk is free (all axes periodic, no walls, mobility 1 everywhere), so skip-ahead applies."""
    return tank.walls is None and getattr(tank, "mobility", None) is None and all(b.wraps for b in tank.boundary)


def _words(key, n, stream, offset, both):
    """The first word (and with ``both`` the second) of the threefry-2x32 hash of ``(offset + j, stream)``."""
    g = global_index(offset, n)
    stream = jnp.broadcast_to(jnp.asarray(stream).astype(jnp.uint32), g.shape)
    w0, w1 = threefry2x32(key_words(key), g, stream)
    return (w0, w1) if both else (w0, None)


def accepted(word, factor):
    """Whether a jump with factor ``a`` is taken: a uniform from the 32-bit ``word`` below ``a``.

    The uniform is ``word 2**-32`` in float64 and ``(word >> 8) 2**-24`` in
    float32 (exact in either), so the jump is taken with probability ``a``
    resolved to ``2**-32`` (``2**-24``): always where ``a == 1``, never where
    ``a == 0``.
    """
    if factor.dtype == jnp.float64:
        u = word.astype(jnp.float64) * 2.0**-32
    else:
        u = (word >> jnp.uint32(8)).astype(jnp.float32) * jnp.float32(2.0**-24)
    return u < factor


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
    return _pick(_words(key, n, stream, offset, False)[0] >> jnp.uint32(1), thr, n, offs)


def _pick(bits, thr, n, offs):
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
    """One jump of every particle: refused by walls, taken with the mobility's factor, folded, absorbed at open edges.

    Where the mobility varies (``st["factors"]``: the factor ``a(x, x + d)`` of
    every jump, flat ``(K * cells,)``), the drawn jump is taken where the
    second word of the particle's hash gives a uniform below its factor
    (:func:`accepted`); without it no second word is drawn and the walk is the
    wall rule's alone.
    """
    coords, alive, disp = st["coords"], st["alive"], st["disp"]
    n = coords.shape[1]
    factors = st.get("factors")
    # the category from the first word of the particle's hash (as categories() draws it), the acceptance
    # from the second, hashed only where the mobility varies
    word, other = _words(key, n, step, offset, factors is not None)
    k, d = _pick(word >> jnp.uint32(1), st["thr"], n, st["offs"])  # d: (ndim, n)
    target = jnp.stack([bnd[a].fold(coords[a] + d[a], shape[a], jnp) for a in range(len(shape))])
    moved = jnp.ones((n,), bool)
    cell = k * int(np.prod(shape)) + flat_index(coords, shape)
    if st["blocked"] is not None:
        moved = ~st["blocked"][cell]
    if factors is not None:
        moved = moved & accepted(other, factors[cell])
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

"""Random sampling shared by the stochastic methods: argument checks, fast uniform bits,
exact binomial and multinomial draws."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks

_STIRLING_TAIL = (0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
                  0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
                  0.00925546218271273, 0.00833056343336287)


# -- argument checks (shared with the particles method) --------------------------------------
def x64_enabled() -> bool:
    """Whether JAX's 64-bit mode is on (int64 counts, float64 draws)."""
    return _checks.float_dtype() == np.float64


def count_dtype():
    """The integer dtype of counts: int64 in JAX x64 mode, else int32."""
    return np.dtype(np.int64) if x64_enabled() else np.dtype(np.int32)


def max_exact_count() -> int:
    """Largest count the binomial draws keep exact: ``2**53`` in x64 mode, else ``2**24``."""
    return 2**53 if x64_enabled() else 2**24


def check_n_particles(n_particles, limit: int) -> int:
    """``n_particles`` as an int in ``[1, limit]``; TypeError/ValueError naming it otherwise."""
    if n_particles is None:
        raise TypeError("n_particles is required by the stochastic methods (an integer > 0)")
    n = _checks.integer("n_particles", n_particles, minimum=1)
    if n > limit:
        hint = "" if x64_enabled() else (
            "; enable JAX's 64-bit mode (jax.config.update('jax_enable_x64', True), JAX_ENABLE_X64=1, "
            "or the CLI's --x64) to count more")
        raise ValueError(f"n_particles={n} exceeds {limit}, the largest count kept exact here{hint}")
    return n


def check_key(key):
    """A typed JAX key from ``key`` (a typed key, or a raw uint32 key of the default implementation).

    Raises TypeError for anything else; there is no default seed.
    """
    if key is None:
        raise TypeError("key is required by the stochastic methods: pass key=jax.random.key(seed)")
    dtype = getattr(key, "dtype", None)
    if dtype is None or not hasattr(key, "shape"):
        raise TypeError(f"key must be a JAX random key (jax.random.key(seed)), got {type(key).__name__}")
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        typed = key
    elif dtype == np.uint32:
        raw_shape = jax.random.key_data(jax.random.key(0)).shape
        if tuple(key.shape) != raw_shape:
            raise TypeError(f"a raw uint32 key must have shape {raw_shape}, got {tuple(key.shape)}")
        typed = jax.random.wrap_key_data(key)
    else:
        raise TypeError(f"key must be a JAX random key (jax.random.key(seed) or jax.random.PRNGKey), "
                        f"got an array of dtype {dtype}")
    if typed.shape != ():
        raise TypeError(f"key must be a single key, got a batch of shape {typed.shape}; use jax.vmap for ensembles")
    return typed


# -- samplers ----------------------------------------------------------------------------------
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32(key_words, x0, x1):
    """Threefry-2x32 (20 rounds) of the counter pairs ``(x0, x1)`` under a 2-word key.

    The same function as JAX's ``threefry_2x32`` (the tests check it bit for
    bit), written out round by round: XLA fuses the unrolled form into one
    pass, about three times faster on a CPU than the rolled loop JAX lowers.
    """
    k0, k1 = key_words[0], key_words[1]
    ks = (k0, k1, k0 ^ k1 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = ((x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r))) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    return x0, x1


def _key_words(key):
    """The two uint32 words that key the counter hash: a threefry key's own data (so the words are
    JAX's ``threefry_2x32`` of the counters), else two words ``jax.random.bits`` draws from the key."""
    if str(jax.random.key_impl(key)) == "threefry2x32":
        return jax.random.key_data(key)
    return jax.random.bits(key, (2,), jnp.uint32)


_INDEX_LIMIT = 2**32


def _first_index(offset, size: int):
    """``offset`` as a uint32 scalar: a Python or numpy integer is checked, a traced one converted."""
    if isinstance(offset, (int, np.integer)) and not isinstance(offset, bool):
        if offset < 0 or int(offset) + size > _INDEX_LIMIT:
            raise ValueError(f"offset={int(offset)} with {size} entries leaves the global indices [0, 2**32) "
                             "of the counter hash")
        return jnp.uint32(int(offset))
    if isinstance(offset, bool) or not jnp.issubdtype(jnp.result_type(offset), jnp.integer):
        raise TypeError(f"offset must be an integer (the global index of the first entry), got {offset!r}")
    return jnp.asarray(offset).astype(jnp.uint32)


def global_index(offset, size: int):
    """The global indices ``offset + arange(size)`` (uint32) of ``size`` entries; see :func:`binomial`."""
    return _first_index(offset, size) + jnp.arange(size, dtype=jnp.uint32)


def random_bits(key, n: int, stream=0, *, offset=0, unrolled=False):
    """``n`` random uint32 words: the words of global index ``offset .. offset + n - 1`` of a stream.

    Parameters
    ----------
    key : typed JAX key
    n : int
        Number of words.
    stream : uint32 scalar, may be traced
        Stream number: distinct streams give independent words without deriving new keys.
    offset : int or integer scalar (may be traced), default 0
        Global index of the first word; ``offset + n <= 2**32``.
    unrolled : bool, default False
        Hash with :func:`_threefry2x32` in two halves inside a scan (the same
        words): the loop keeps XLA from recomputing the hash inside every
        fusion that reads a word, faster where many computations read the
        words; where one fused computation reads them JAX's own rolled hash is.

    Returns
    -------
    uint32 array ``(n,)``

    Notes
    -----
    Word ``g`` of stream ``s`` is word ``g % 2`` of the threefry-2x32 hash of
    the counter pair ``(g // 2, s)`` under the key's words (JAX's
    ``threefry_2x32``; other key implementations key the same hash with two
    words drawn from the key). So a word depends only on ``(key, g, s)``:
    not on ``n``, nor on which other words are drawn with it, and any slab
    ``offset .. offset + n - 1`` of the words can be drawn on its own.
    """
    words = _key_words(key)
    stream = jnp.asarray(stream).astype(jnp.uint32)
    first = _first_index(offset, n)
    if _checks.is_concrete(first):
        lead = int(first) & 1
        m = (lead + n + 1) // 2
    else:
        lead = first & jnp.uint32(1)
        m = n // 2 + 1
    pairs = (first >> jnp.uint32(1)) + jnp.arange(m, dtype=jnp.uint32)
    if not unrolled:
        from jax.extend.random import threefry_2x32

        y = threefry_2x32(words, jnp.concatenate([pairs, jnp.full((m,), stream, jnp.uint32)]))
        y0, y1 = y[:m], y[m:]
    else:
        half = (m + 1) // 2
        count = jnp.pad(pairs, (0, 2 * half - m)).reshape(2, half)
        _, (y0, y1) = jax.lax.scan(lambda c, x: (c, _threefry2x32(words, x, jnp.full_like(x, stream))), None, count)
        y0, y1 = y0.ravel()[:m], y1.ravel()[:m]
    w = jnp.stack([y0, y1], axis=1).reshape(2 * m)
    if isinstance(lead, int):
        return w[lead:lead + n]
    return jax.lax.dynamic_slice(w, (lead.astype(jnp.int32),), (n,))


def index_words(key, n: int, stream=0, *, offset=0):
    """The first word of the threefry-2x32 hash of ``(g, stream)`` for each global index ``g = offset + j``.

    No barrier and no scan: for one fused computation that reads each word once
    (the particle walk), where XLA computes the hash inside that fusion and keeps
    no array of words in memory.
    """
    g = global_index(offset, n)
    stream = jnp.broadcast_to(jnp.asarray(stream).astype(jnp.uint32), g.shape)
    return _threefry2x32(_key_words(key), g, stream)[0]


def _hash(words, g, stream):
    """Both words of the threefry-2x32 hash of ``(g, stream)`` for each global index ``g``.

    The words are put behind an optimisation barrier: XLA then computes the
    hash once instead of inside every fusion that reads a word.
    """
    return jax.lax.optimization_barrier(_threefry2x32(words, g, jnp.broadcast_to(stream, g.shape)))


def _hash_in_a_scan(words, g, streams):
    """The hashes of ``(g, s)`` for each of ``streams`` (shape ``(2, len(g))`` each), or, with
    ``streams`` a scalar, of ``(g, streams)`` for the two halves of ``g`` one after the other.

    The same words as :func:`_hash`, computed as the iterations of a loop:
    where many fusions read them (the rejection sampler) this is faster than
    the barrier, as for :func:`random_bits` with ``unrolled=True``.
    """
    if jnp.ndim(streams):
        body = lambda c, s: (c, _threefry2x32(words, g, jnp.broadcast_to(s, g.shape)))
        return jax.lax.scan(body, None, streams)[1]
    size = g.shape[0]
    half = (size + 1) // 2
    rows = jnp.pad(g, (0, 2 * half - size)).reshape(2, half)
    body = lambda c, x: (c, _threefry2x32(words, x, jnp.broadcast_to(streams, x.shape)))
    y0, y1 = jax.lax.scan(body, None, rows)[1]
    return y0.reshape(-1)[:size], y1.reshape(-1)[:size]


def _float32(w):
    """A float32 in ``[0, 1)`` from the top 23 bits of a uint32 word."""
    return jax.lax.bitcast_convert_type((w >> jnp.uint32(9)) | jnp.uint32(0x3F800000), jnp.float32) - 1


def _float64(hi, lo):
    """A float64 in ``[0, 1)`` from 53 bits: the top 21 of ``hi``, then ``lo`` (exact)."""
    return ((hi >> jnp.uint32(11)).astype(jnp.float64) * 4294967296.0 + lo.astype(jnp.float64)) * 2.0**-53


def _uniform_at(words, g, r, dtype):
    """Uniform number ``r`` (uint32, may be traced) of the entries with global indices ``g`` (1-D).

    In float32, word ``r % 2`` of the hash of ``(g, r // 2)`` (23 bits); in
    float64, both words of the hash of ``(g, r)`` (53 bits).
    """
    r = jnp.asarray(r).astype(jnp.uint32)
    if np.dtype(dtype) == np.float64:
        return _float64(*_hash(words, g, r))
    w0, w1 = _hash(words, g, r >> jnp.uint32(1))
    return _float32(jnp.where((r & jnp.uint32(1)) == 0, w0, w1))


def _uniform_pair_at(words, g, r, dtype):
    """Uniforms ``r`` and ``r + 1`` (``r`` even, may be traced) of the entries ``g`` (1-D), as :func:`_uniform_at`.

    In float32 both come from the one hash of ``(g, r // 2)``.
    """
    r = jnp.asarray(r).astype(jnp.uint32)
    if np.dtype(dtype) == np.float64:
        hi, lo = _hash_in_a_scan(words, g, jnp.stack([r, r + jnp.uint32(1)]))
        u = _float64(hi, lo)
        return u[0], u[1]
    w0, w1 = _hash_in_a_scan(words, g, r >> jnp.uint32(1))
    return _float32(w0), _float32(w1)


def uniform(key, shape, dtype, stream=0, *, offset=0):
    """Uniform floats in ``[0, 1)`` of ``dtype``: uniform number ``stream`` of each entry.

    Parameters
    ----------
    key : typed JAX key
    shape : tuple of int
    dtype : float32 or float64
        23 random bits in float32, 53 in float64.
    stream : uint32 scalar, may be traced, default 0
        Which uniform of each entry.
    offset : int or integer scalar (may be traced), default 0
        Global index of the first entry (entries in row-major order).

    Returns
    -------
    array of ``shape`` and ``dtype``

    Notes
    -----
    Uniform ``r`` of the entry with global index ``g`` is, in float32, word
    ``r % 2`` of the threefry-2x32 hash of ``(g, r // 2)``; in float64, both
    words of the hash of ``(g, r)``. It depends only on ``(key, g, r)``:
    :func:`binomial` draws its uniforms this way.
    """
    size = int(np.prod(shape))
    return _uniform_at(_key_words(key), global_index(offset, size), stream, dtype).astype(dtype).reshape(shape)


_LN2 = 0.6931471805599453


def _log(x):
    """Natural logarithm of positive ``x``; float64 by range reduction and the atanh series.

    ``log(m 2**e) = e log 2 + 2 atanh((m - 1) / (m + 1))`` with ``m`` in
    ``[1/sqrt 2, sqrt 2)``: elementwise arithmetic that XLA vectorises, about
    twice as fast on a CPU as its float64 ``log`` and within 4 ulp of
    ``numpy.log`` over the normal range (tested from 1e-300 to 1e300). Zero
    gives ``-inf`` (so do subnormals, which XLA flushes to zero on a CPU, as
    it does for its own ``log``); float32 uses ``jnp.log``.
    """
    if x.dtype != jnp.float64:
        return jnp.log(x)
    bits = jax.lax.bitcast_convert_type(x, jnp.uint64)
    e = ((bits >> jnp.uint64(52)) & jnp.uint64(0x7FF)).astype(jnp.int64) - 1023
    m = jax.lax.bitcast_convert_type((bits & jnp.uint64(0x000FFFFFFFFFFFFF)) | jnp.uint64(0x3FF0000000000000),
                                     jnp.float64)
    high = m > 1.4142135623730951
    m = jnp.where(high, 0.5 * m, m)
    e = e + high.astype(jnp.int64)
    s = (m - 1) / (m + 1)
    s2 = s * s
    series = jnp.asarray(1.0 / 23, jnp.float64)
    for j in (21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1):
        series = series * s2 + 1.0 / j
    out = 2 * s * series + e.astype(jnp.float64) * _LN2
    return jnp.where(x > 0, out, -jnp.inf)


def _stirling_tail(k):
    """``log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2]``: a table below 10, the series above.

    Written with selects rather than a table lookup so that it fuses with the
    arithmetic around it (a gather would make XLA recompute its operands).
    """
    inv = 1.0 / (k + 1)
    inv2 = inv * inv
    out = inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 / 1260))
    for i, value in enumerate(_STIRLING_TAIL):
        out = jnp.where(k == i, jnp.asarray(value, k.dtype), out)
    return out


_INVERSION_ROUNDS = 128
"""Bound on the steps of the CDF walk. A walk only goes past the value it returns while the float
CDF still grows, so it takes ``k + 1`` steps for a draw ``k``; for ``n q < 10`` the Chernoff bound
``P(k >= K) <= exp(-n q) (e n q / K)**K`` gives ``P(k >= 128) < 1e-90``, and in practice the float
CDF stops growing (see :func:`_inversion`) before ``k`` = 40 (float32) or 60 (float64)."""


def _inversion(u, n, q):
    """Binomial(n, q), q <= 1/2, by walking the CDF from 0 to the uniform ``u`` (used where n q < 10).

    Returns the first ``k`` whose float CDF exceeds the uniform ``u``. The
    CDF is a float sum, so it can end a few ulp below 1 and below ``u``:
    once a term no longer changes it (the terms only shrink past the mode,
    so it never grows again), the walk stops at the last ``k`` that changed
    it. That puts the mass of ``u`` between the float CDF and 1 (a few ulp:
    about ``1e-7`` in float32, ``1e-16`` in float64) on a value whose own
    probability is of that size; a walk that reached ``_INVERSION_ROUNDS``
    (probability below ``1e-90``) returns the ``k`` it reached. Either way the
    draw is an integer in ``[0, n]``.

    The loop carries which entries are still walking: the condition asks
    whether any is, and the body moves only those, so every round advances
    or retires each walking entry and the loop ends within
    ``_INVERSION_ROUNDS`` rounds.
    """
    s = q / (1 - q)
    pmf = jnp.exp(n * jnp.log1p(-q))

    def cond(c):
        i, _, _, _, walking = c
        return (i < _INVERSION_ROUNDS) & jnp.any(walking)

    def body(c):
        i, k, pmf, cdf, walking = c
        nxt = pmf * (n - k) / (k + 1) * s
        grown = cdf + nxt
        step = walking & (grown > cdf)  # a term too small to change the float CDF ends the walk
        k, pmf, cdf = jnp.where(step, k + 1, k), jnp.where(step, nxt, pmf), jnp.where(step, grown, cdf)
        return i + 1, k, pmf, cdf, step & (cdf <= u) & (k < n)

    walking = (pmf <= u) & (n > 0)
    return jax.lax.while_loop(cond, body, (jnp.int32(0), jnp.zeros_like(n), pmf, pmf, walking))[1]


def _inversion_sparse(words, n, q, g):
    """:func:`_inversion` where ``n > 0``, run on a compacted set when few entries need it.

    The walk takes as many rounds as the largest draw, over every entry it is
    given, so the open entries are gathered first when they fit in
    ``_INVERSION_SET`` (the usual case: few cells hold fewer than ``10 / q``).
    Each entry walks to its own uniform 0 (:func:`_uniform_at` of its global
    index ``g``), so the draw is the same on either path.
    """
    shape = n.shape
    n, q, g = jnp.ravel(n), jnp.ravel(q), jnp.ravel(g)
    total = n.shape[0]
    size = min(_INVERSION_SET, total)
    open_ = n > 0
    count = jnp.sum(open_)

    def walk(n, q, g):
        return _inversion(_uniform_at(words, g, 0, n.dtype), n, q)

    def compacted():
        idx = _compact(open_, size)
        take = lambda x: jnp.take(x, idx, mode="fill", fill_value=0)
        return jnp.zeros_like(n).at[idx].set(walk(take(n), take(q), take(g)), mode="drop")

    branch = jnp.where(count == 0, 0, jnp.where(count <= size, 1, 2))
    k = jax.lax.switch(branch, [lambda: jnp.zeros_like(n), compacted, lambda: walk(n, q, g)])
    return k.reshape(shape)


def _log1p(x):
    """``log(1 + x)`` for ``x > -1``, accurate to a few ulp also for small ``|x|``.

    float64: ``log(u) x / (u - 1)`` with ``u = 1 + x`` rounded (the quotient
    corrects the rounding of ``u``), ``x`` where ``u == 1``, with :func:`_log`;
    float32 uses ``jnp.log1p``.
    """
    if x.dtype != jnp.float64:
        return jnp.log1p(x)
    u = 1 + x
    one = u == 1
    return jnp.where(one, x, _log(u) * (x / jnp.where(one, 2, u - 1)))


def _btrs_constants(n, q):
    """Per-draw constants of BTRS for Binomial(n, q), q <= 1/2, n q >= 10."""
    stddev = jnp.sqrt(n * q * (1 - q))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * q
    r = q / (1 - q)
    m = jnp.floor((n + 1) * q)
    tails = _stirling_tail(m) + _stirling_tail(n - m)
    return dict(n=n, q=q, inv_1q=1 / (1 - q), a=a, b=b, c=n * q + 0.5, v_r=0.92 - 4.2 / b, r=r,
                alpha=(2.83 + 5.1 / b) * stddev, m=m, tails_m=tails,
                tail_m=(m + 0.5) * _log((m + 1) / (r * (n - m + 1))) + tails)


_DIRECT_LIMIT = {np.dtype(np.float32): 2.0**12, np.dtype(np.float64): 2.0**36}
"""Largest ``n`` whose log pmf ratio BTRS sums directly: that sum of terms of size ``n`` is off by
about ``eps n`` (below ``3e-4`` here); larger ``n`` use the rearranged sum."""


def _log_pmf_ratio(const, k):
    """``log(f(k) / f(m))`` for the Binomial(n, q) pmf ``f`` and ``m`` the mode ``floor((n + 1) q)``.

    Stirling's series. Directly summed (as in Hormann's BTRS) its terms are
    of size ``n`` and cancel to ``O(d**2 / n)``, ``d = k - m``, so the sum is
    off by about ``eps n``: about 1 in float32 at ``n = 2**24``, a factor
    ``e`` in the acceptance test. Draws with ``n`` above ``_DIRECT_LIMIT``
    use it rearranged: with ``A = n - m + 1``, ``B = n - k + 1``,
    ``M = m + 1``, ``K = k + 1`` and ``L(x) = log(1 + x) - x``,

    ``d ((d - 1/2) / B + (d + 1/2) / K) + (A - 1/2) L(d / B) + (M - 1/2) L(-d / K)
    + d log1p(t) + tails``, ``t = (q (n + 2) - K) / ((1 - q) K)``,

    which is ``(A - 1/2) log A - (B - 1/2) log B + (M - 1/2) log M - (K - 1/2) log K
    + d log(q / (1 - q)) + tails``: the large factors multiply only ``L`` of
    ratios exact to rounding, and the error is about ``eps |d|`` (below
    ``2e-3`` in float32 at ``n = 2**24``). That form costs about twice as
    much, so it is computed only where a draw of the set needs it; each
    draw's value depends on its own ``n`` only.
    """
    n, q, m = const["n"], const["q"], const["m"]
    direct = (const["tail_m"] + (n + 1) * _log((n - m + 1) / (n - k + 1))
              + (k + 0.5) * _log(const["r"] * (n - k + 1) / (k + 1)) - _stirling_tail(k) - _stirling_tail(n - k))
    large = n > _DIRECT_LIMIT[np.dtype(n.dtype)]

    def rearranged():
        d = k - m
        inv_b, inv_k = 1.0 / (n - k + 1), 1.0 / (k + 1)
        x, y = d * inv_b, -d * inv_k
        t = (q * n + 2 * q - (k + 1)) * inv_k * const["inv_1q"]
        out = (d * ((d - 0.5) * inv_b + (d + 0.5) * inv_k) + (n - m + 0.5) * (_log1p(x) - x)
               + (m + 0.5) * (_log1p(y) - y) + d * _log1p(t)
               + const["tails_m"] - _stirling_tail(k) - _stirling_tail(n - k))
        return jnp.where(large, out, direct)

    return jax.lax.cond(jnp.any(large), rearranged, lambda: direct)


def _btrs_attempt(words, const, g, attempt):
    """Proposal number ``attempt`` of each draw (global indices ``g``): the candidate and whether it is accepted.

    It reads the draw's uniforms ``2 + 2 attempt`` (``u``) and ``3 + 2 attempt`` (``v``).
    """
    n, a, b = const["n"], const["a"], const["b"]
    u, v = _uniform_pair_at(words, g, jnp.uint32(2) + jnp.uint32(2) * attempt, n.dtype)
    u = u - 0.5
    us = 0.5 - jnp.abs(u)
    k = jnp.floor((2 * a / us + b) * u + const["c"])
    ok = (k >= 0) & (k <= n)
    ks = jnp.clip(k, 0, n)
    lv = _log(v * const["alpha"] / (a / (us * us) + b))
    accept = ((us >= 0.07) & (v <= const["v_r"])) | (ok & (lv <= _log_pmf_ratio(const, ks)))
    return k, accept


_SHRINK = 4  # each level holds a quarter of the draws of the one before (BTRS accepts about 86%)
_LAST_LEVEL = 1024
_INVERSION_SET = 1024  # draws by inversion are gathered into sets of this size where they fit


def _prefix_sum(x):
    """Inclusive prefix sum of a 1-D float array of small integers, exactly.

    Blocks of 128 are summed by a product with a triangular matrix of ones,
    and the block totals the same way, recursively: on a CPU this is faster
    than ``jnp.cumsum``, and the sums stay exact below ``2**24`` (float32) or
    ``2**53`` (float64).
    """
    block = 128
    total = x.shape[0]
    rows = -(-total // block)
    tri = jnp.triu(jnp.ones((block, block), x.dtype))
    within = jnp.dot(jnp.pad(x, (0, rows * block - total)).reshape(rows, block), tri,
                     precision=jax.lax.Precision.HIGHEST)
    if rows == 1:
        return within[0, :total]
    before = _prefix_sum(within[:, -1]) - within[:, -1]
    return (within + before[:, None]).ravel()[:total]


def _compact(mask, size):
    """Indices of the first ``size`` true entries of the 1-D ``mask``, padded with ``len(mask)``.

    A prefix sum (:func:`_prefix_sum`) and one scatter: faster on a CPU than
    ``jnp.nonzero``.
    """
    total = mask.shape[0]
    dtype = jnp.float32 if total < 2**24 else jnp.float64
    position = _prefix_sum(mask.astype(dtype)).astype(jnp.int32) - 1
    target = jnp.where(mask, position, size)
    return jnp.full((size,), total, jnp.int32).at[target].set(jnp.arange(total, dtype=jnp.int32), mode="drop")


_BTRS_PROPOSALS = 256
"""Bound on the BTRS proposals of one draw. The squeeze alone accepts a proposal with probability
``P(us >= 0.07) P(v <= v_r) = 0.86 v_r``, and ``v_r = 0.92 - 4.2 / b >= 0.303`` since
``b = 1.15 + 2.53 sqrt(n q (1 - q)) >= 6.8`` where ``n q >= 10``, ``q <= 1/2``; so a draw is still open
after 256 proposals with probability below ``0.74**256 < 1e-33``."""


def _btrs(words, n, q, done, g):
    """Binomial(n, q), q <= 1/2, n q >= 10: transformed rejection with squeeze (Hormann 1993).

    Draws already ``done`` are left at 0. Rejected draws are retried on ever
    smaller compacted sets: level 0 proposes for every draw until at most a
    quarter are open, those are gathered into a set a quarter the size, and so
    on down to a set of at most ``_LAST_LEVEL``, retried until every draw is
    accepted. The work is about 1.3 proposals per draw instead of the rounds
    the slowest draw of the whole array needs.

    Every open draw proposes in every round, so all open draws have made the
    same number of proposals, counted across levels; proposal ``a`` of the
    draw with global index ``g`` reads that draw's uniforms ``2 + 2 a`` and
    ``3 + 2 a`` (:func:`_btrs_attempt`). A draw is its first accepted
    proposal: a function of ``(key, g, n, q)`` alone, whichever set it was in.
    No draw makes more than ``_BTRS_PROPOSALS``: each level's loop also stops
    there, and a draw still open then (probability below ``1e-33``) takes the
    mode ``floor((n + 1) q)``, an integer in ``[0, n]``. A level's loop asks
    how many draws are open, and its body changes only open draws.
    """
    shape = n.shape
    n, q, done, g = jnp.ravel(n), jnp.ravel(q), jnp.ravel(done), jnp.ravel(g)
    total = n.shape[0]
    sizes = [total]
    while sizes[-1] > _LAST_LEVEL:
        sizes.append(-(-sizes[-1] // _SHRINK))
    const = _btrs_constants(jnp.where(done, 100.0, n).astype(n.dtype), jnp.where(done, 0.25, q).astype(q.dtype))
    where, k_l, d_l, g_l = None, jnp.zeros_like(n), done, g  # where: position of each entry (None: identity)
    k_out = None
    made = jnp.uint32(0)  # proposals made so far by each open draw
    for level, size in enumerate(sizes):
        if level:
            local = _compact(~d_l, size)
            where = local if where is None else jnp.take(where, local, mode="fill", fill_value=total)
            const = {name: jnp.take(x, local, mode="fill", fill_value=1) for name, x in const.items()}
            g_l = jnp.take(g_l, local, mode="fill", fill_value=0)
            k_l, d_l = jnp.zeros((size,), n.dtype), where >= total
        target = sizes[level + 1] if level + 1 < len(sizes) else 0

        def cond(carry, target=target):
            made, _, d_l = carry
            return (made < _BTRS_PROPOSALS) & (jnp.sum(~d_l) > target)

        def body(carry, const=const, g_l=g_l):
            made, k_l, d_l = carry
            k, accept = _btrs_attempt(words, const, g_l, made)
            accept = accept & ~d_l & (made < _BTRS_PROPOSALS)
            return made + 1, jnp.where(accept, k, k_l), d_l | accept

        made, k_l, d_l = jax.lax.while_loop(cond, body, (made, k_l, d_l))
        spent = ~d_l & (made >= _BTRS_PROPOSALS)
        k_l, d_l = jnp.where(spent, const["m"], k_l), d_l | spent
        # draws still open hold 0 here and are overwritten by a later level
        k_out = k_l if where is None else k_out.at[where].set(k_l, mode="drop")
    return k_out.reshape(shape)


def binomial(key, n, p, *, offset=0):
    """Exact Binomial(n, p) draws, elementwise.

    Parameters
    ----------
    key : typed JAX key
    n : float array
        Integer-valued trial counts ``>= 0`` (exact up to ``2**24`` in float32,
        ``2**53`` in float64).
    p : float array broadcastable to ``n``
        Success probabilities in ``[0, 1]``.
    offset : int or integer scalar (may be traced), default 0
        Global index of the first entry: entry ``i`` of ``n`` (row-major) has
        global index ``g = offset + i``, and ``offset + n.size <= 2**32``.

    Returns
    -------
    float array of ``n``'s shape and dtype holding integers in ``[0, n]``.

    Notes
    -----
    CDF inversion where ``n min(p, 1-p) < 10``, BTRS rejection elsewhere (the
    algorithms of ``jax.random.binomial``). Rejected BTRS proposals are
    retried on compacted sets of the draws still open, so the cost is about
    1.3 proposals per draw however many draws the array holds.

    Counter layout: every random number of an entry comes from the
    threefry-2x32 hash of the counter pair ``(g, s)``, ``g`` its global index
    (see :func:`uniform`): the inversion walks to the entry's uniform 0 (in
    float32 word 0 of the hash of ``(g, 0)``; in float64 the hash of
    ``(g, 0)``), and BTRS proposal ``a = 0, 1, ...`` reads its uniforms
    ``2 + 2 a`` and ``3 + 2 a`` (in float32 both words of ``(g, 1 + a)``; in
    float64 the hashes of ``(g, 2 + 2 a)`` and ``(g, 3 + 2 a)``). The draw of
    an entry is therefore a pure function of ``(key, g, n, p)``: drawing a
    slab of an array with its offset gives the same numbers as drawing the
    whole array, whatever else the call holds.

    Every loop is bounded: the CDF walk by 128 rounds, BTRS by 256 proposals
    per draw; neither bound is reached with a probability above ``1e-33``,
    and where one were, the draw is still an integer in ``[0, n]`` (the count
    the walk reached; the mode for BTRS). Where float rounding leaves the
    CDF below the uniform, the walk stops at its last term (see
    :func:`_inversion`).
    """
    words = _key_words(key)
    p = jnp.broadcast_to(jnp.asarray(p, n.dtype), n.shape)
    g = global_index(offset, int(np.prod(n.shape)))  # flat, as the branches read their inputs
    flip = p > 0.5
    q = jnp.clip(jnp.where(flip, 1 - p, p), 0, 0.5)
    small = n * q < 10
    k_inv = _inversion_sparse(words, jnp.where(small, n, 0), q, g)
    k = jnp.where(small, k_inv, _btrs(words, n, q, small, g))
    return jnp.where(flip, n - k, k)


def multinomial(key, n, weights, *, offset=0):
    """Split each entry of ``n`` among ``len(weights)`` categories: sequential conditional binomials.

    Parameters
    ----------
    key : typed JAX key
    n : integer array, any shape
        Counts to split (each ``<=`` :func:`max_exact_count`).
    weights : array ``(K,)``
        Category probabilities, summing to 1.
    offset : int or integer scalar (may be traced), default 0
        Global index of the first entry of ``n`` (row-major), as in :func:`binomial`.

    Returns
    -------
    integer array ``(K, *n.shape)`` of ``n``'s dtype whose sum over the first
    axis equals ``n`` exactly.

    Notes
    -----
    Category ``k < K - 1`` is the draw :func:`binomial` with key
    ``fold_in(key, k)`` and the same ``offset`` of the count not yet placed,
    so an entry's split depends only on ``(key, its global index, its count)``:
    a slab drawn with its offset matches the whole array drawn at once.
    """
    fdt = _checks.float_dtype()
    w = jnp.asarray(weights, fdt)
    suffix = jnp.cumsum(w[::-1])[::-1]
    # conditional probability of category k given that the count was not put in 0..k-1
    p = jnp.where(suffix > 0, jnp.minimum(w / jnp.where(suffix > 0, suffix, 1), 1), 0)[:-1]

    def body(remaining, xs):
        pk, k = xs
        a = binomial(jax.random.fold_in(key, k), remaining, pk, offset=offset)
        return remaining - a, a

    remaining, parts = jax.lax.scan(body, n.astype(fdt), (p, jnp.arange(w.shape[0] - 1)))
    return jnp.concatenate([parts, remaining[None]]).astype(n.dtype)

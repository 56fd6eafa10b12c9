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


def random_bits(key, n: int, stream=0, *, unrolled=False):
    """``n`` random uint32 words from ``key`` and a stream number (a uint32, may be traced).

    For threefry keys, word pairs are JAX's threefry-2x32 hash of the counter
    pairs ``(j, stream)``: one hash per two words, and distinct streams give
    independent words without deriving new keys. Other key implementations
    use ``jax.random.bits`` of ``fold_in(key, stream)``.

    ``unrolled=True`` gives the same words from :func:`_threefry2x32`, hashed
    in two halves inside a scan: the loop keeps XLA from recomputing the hash
    inside every fusion that reads a word. That is faster where many
    computations read the words (the rejection sampler); where one fused
    computation reads them (the particle walk) JAX's own rolled hash is.
    """
    if str(jax.random.key_impl(key)) != "threefry2x32":
        return jax.random.bits(jax.random.fold_in(key, stream), (n,), jnp.uint32)
    words = jax.random.key_data(key)
    m = (n + 1) // 2
    if not unrolled:
        from jax.extend.random import threefry_2x32

        count = jnp.concatenate([jnp.arange(m, dtype=jnp.uint32), jnp.full((m,), stream, jnp.uint32)])
        return threefry_2x32(words, count)[:n]
    half = (m + 1) // 2
    count = jnp.arange(2 * half, dtype=jnp.uint32).reshape(2, half)
    _, (y0, y1) = jax.lax.scan(lambda c, x: (c, _threefry2x32(words, x, jnp.full_like(x, stream))), None, count)
    return jnp.concatenate([y0.ravel()[:m], y1.ravel()[:m]])[:n]


def uniform(key, shape, dtype, stream=0):
    """Uniform floats in ``[0, 1)`` of ``dtype`` (53 random bits in float64, 23 in float32)."""
    size = int(np.prod(shape))
    if np.dtype(dtype) == np.float64:
        w = random_bits(key, 2 * size, stream, unrolled=True)
        hi, lo = (w[:size] >> jnp.uint32(11)).astype(jnp.float64), w[size:].astype(jnp.float64)
        f = (hi * 4294967296.0 + lo) * 2.0**-53  # exact: a 53-bit integer over 2**53
        return f.astype(dtype).reshape(shape)
    w = random_bits(key, size, stream, unrolled=True)
    f = jax.lax.bitcast_convert_type((w >> jnp.uint32(9)) | jnp.uint32(0x3F800000), jnp.float32)
    return (f - 1).astype(dtype).reshape(shape)


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


def _inversion(key, n, q):
    """Binomial(n, q), q <= 1/2, by walking the CDF from 0 (used where n q < 10).

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
    u = uniform(key, n.shape, n.dtype, 0)
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


def _inversion_sparse(key, n, q):
    """:func:`_inversion` where ``n > 0``, run on a compacted set when few entries need it.

    The walk takes as many rounds as the largest draw, over every entry it is
    given, so the open entries are gathered first when they fit in
    ``_INVERSION_SET`` (the usual case: few cells hold fewer than ``10 / q``).
    """
    shape = n.shape
    n, q = jnp.ravel(n), jnp.ravel(q)
    total = n.shape[0]
    size = min(_INVERSION_SET, total)
    open_ = n > 0
    count = jnp.sum(open_)

    def compacted():
        idx = _compact(open_, size)
        k = _inversion(key, jnp.take(n, idx, mode="fill", fill_value=0), jnp.take(q, idx, mode="fill", fill_value=0))
        return jnp.zeros_like(n).at[idx].set(k, mode="drop")

    branch = jnp.where(count == 0, 0, jnp.where(count <= size, 1, 2))
    k = jax.lax.switch(branch, [lambda: jnp.zeros_like(n), compacted, lambda: _inversion(key, n, q)])
    return k.reshape(shape)


def _btrs_constants(n, q):
    """Per-draw constants of BTRS for Binomial(n, q), q <= 1/2, n q >= 10."""
    stddev = jnp.sqrt(n * q * (1 - q))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * q
    r = q / (1 - q)
    m = jnp.floor((n + 1) * q)
    tail_m = (m + 0.5) * _log((m + 1) / (r * (n - m + 1))) + _stirling_tail(m) + _stirling_tail(n - m)
    return dict(n=n, a=a, b=b, c=n * q + 0.5, v_r=0.92 - 4.2 / b, r=r, alpha=(2.83 + 5.1 / b) * stddev,
                m=m, tail_m=tail_m)


def _btrs_attempt(key, const, stream):
    """One BTRS proposal per draw: the candidate and whether it is accepted."""
    n, a, b, m = const["n"], const["a"], const["b"], const["m"]
    u, v = uniform(key, (2,) + n.shape, n.dtype, stream)
    u = u - 0.5
    us = 0.5 - jnp.abs(u)
    k = jnp.floor((2 * a / us + b) * u + const["c"])
    ok = (k >= 0) & (k <= n)
    ks = jnp.clip(k, 0, n)
    lv = _log(v * const["alpha"] / (a / (us * us) + b))
    ub = (const["tail_m"] + (n + 1) * _log((n - m + 1) / (n - ks + 1))
          + (ks + 0.5) * _log(const["r"] * (n - ks + 1) / (ks + 1)) - _stirling_tail(ks) - _stirling_tail(n - ks))
    accept = ((us >= 0.07) & (v <= const["v_r"])) | (ok & (lv <= ub))
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


def _btrs(key, n, q, done):
    """Binomial(n, q), q <= 1/2, n q >= 10: transformed rejection with squeeze (Hormann 1993).

    Draws already ``done`` are left at 0. Rejected draws are retried on ever
    smaller compacted sets: level 0 proposes for every draw until at most a
    quarter are open, those are gathered into a set a quarter the size, and so
    on down to a set of at most ``_LAST_LEVEL``, retried until every draw is
    accepted. Each proposal reads its own random words (stream
    ``(level + 1) << 16 | round``, counter = position in the level's set), so
    the result is exact and reproducible, and the work is about 1.3 proposals
    per draw instead of the rounds the slowest draw of the whole array needs.

    Every open draw proposes in every round, so all open draws have made the
    same number of proposals, counted across levels. No draw makes more than
    ``_BTRS_PROPOSALS``: each level's loop also stops there, and a draw still
    open then (probability below ``1e-33``) takes the mode
    ``floor((n + 1) q)``, an integer in ``[0, n]``. A level's loop asks how
    many draws are open, and its body changes only open draws.
    """
    shape = n.shape
    n, q, done = jnp.ravel(n), jnp.ravel(q), jnp.ravel(done)
    total = n.shape[0]
    sizes = [total]
    while sizes[-1] > _LAST_LEVEL:
        sizes.append(-(-sizes[-1] // _SHRINK))
    const = _btrs_constants(jnp.where(done, 100.0, n).astype(n.dtype), jnp.where(done, 0.25, q).astype(q.dtype))
    where, k_l, d_l = None, jnp.zeros_like(n), done  # where: global index of each entry (None: identity)
    k_out = None
    made = jnp.uint32(0)  # proposals made so far by each open draw
    for level, size in enumerate(sizes):
        if level:
            local = _compact(~d_l, size)
            where = local if where is None else jnp.take(where, local, mode="fill", fill_value=total)
            const = {name: jnp.take(x, local, mode="fill", fill_value=1) for name, x in const.items()}
            k_l, d_l = jnp.zeros((size,), n.dtype), where >= total
        target = sizes[level + 1] if level + 1 < len(sizes) else 0

        def cond(carry, target=target):
            made, _, d_l, i = carry
            return (made < _BTRS_PROPOSALS) & (jnp.sum(~d_l) > target)

        def body(carry, const=const, level=level):
            made, k_l, d_l, i = carry
            k, accept = _btrs_attempt(key, const, jnp.uint32((level + 1) << 16) | i)
            accept = accept & ~d_l & (made < _BTRS_PROPOSALS)
            return made + 1, jnp.where(accept, k, k_l), d_l | accept, i + 1

        carry = body((made, k_l, d_l, jnp.uint32(0)))  # one proposal for all, then more while too many are open
        made, k_l, d_l, _ = jax.lax.while_loop(cond, body, carry)
        spent = ~d_l & (made >= _BTRS_PROPOSALS)
        k_l, d_l = jnp.where(spent, const["m"], k_l), d_l | spent
        # draws still open hold 0 here and are overwritten by a later level
        k_out = k_l if where is None else k_out.at[where].set(k_l, mode="drop")
    return k_out.reshape(shape)


def binomial(key, n, p):
    """Exact Binomial(n, p) draws, elementwise.

    Parameters
    ----------
    key : typed JAX key
    n : float array
        Integer-valued trial counts ``>= 0`` (exact up to ``2**24`` in float32,
        ``2**53`` in float64).
    p : float array broadcastable to ``n``
        Success probabilities in ``[0, 1]``.

    Returns
    -------
    float array of ``n``'s shape and dtype holding integers in ``[0, n]``.

    Notes
    -----
    CDF inversion where ``n min(p, 1-p) < 10``, BTRS rejection elsewhere (the
    algorithms of ``jax.random.binomial``), drawn from :func:`random_bits`: one
    uniform per draw for inversion, two per rejection round. Rejected BTRS
    proposals are retried on compacted sets of the draws still open, so the
    cost is about 1.3 proposals per draw however many draws the array holds.
    """
    p = jnp.broadcast_to(jnp.asarray(p, n.dtype), n.shape)
    flip = p > 0.5
    q = jnp.clip(jnp.where(flip, 1 - p, p), 0, 0.5)
    small = n * q < 10
    k_inv = _inversion_sparse(key, jnp.where(small, n, 0), q)
    k = jnp.where(small, k_inv, _btrs(key, n, q, small))
    return jnp.where(flip, n - k, k)


def multinomial(key, n, weights):
    """Split each entry of ``n`` among ``len(weights)`` categories: sequential conditional binomials.

    Parameters
    ----------
    key : typed JAX key
    n : integer array, any shape
        Counts to split (each ``<=`` :func:`max_exact_count`).
    weights : array ``(K,)``
        Category probabilities, summing to 1.

    Returns
    -------
    integer array ``(K, *n.shape)`` of ``n``'s dtype whose sum over the first
    axis equals ``n`` exactly.
    """
    fdt = _checks.float_dtype()
    w = jnp.asarray(weights, fdt)
    suffix = jnp.cumsum(w[::-1])[::-1]
    # conditional probability of category k given that the count was not put in 0..k-1
    p = jnp.where(suffix > 0, jnp.minimum(w / jnp.where(suffix > 0, suffix, 1), 1), 0)[:-1]

    def body(remaining, xs):
        pk, k = xs
        a = binomial(jax.random.fold_in(key, k), remaining, pk)
        return remaining - a, a

    remaining, parts = jax.lax.scan(body, n.astype(fdt), (p, jnp.arange(w.shape[0] - 1)))
    return jnp.concatenate([parts, remaining[None]]).astype(n.dtype)

"""Exact Binomial(n, p) draws, each a pure function of the key, the entry's global index, n and p.

CDF inversion where ``n min(p, 1 - p) < 10`` and BTRS rejection elsewhere (the
algorithms of ``jax.random.binomial``), written so that XLA compiles them into a
small program: two loops whatever the number of draws, each compiled once.

What the compile time of such a sampler depends on is the number of kernels XLA
makes of it (on a CPU about 10 ms each, whatever their size), and XLA makes more
kernels where an intermediate array has several readers: a value cheap to
compute (the threefry hash, a select) is computed again inside every kernel that
reads it, and a costly one (a division, a log) becomes a kernel of its own. So:

- the rejection loop works on a fixed set of slots, each drawing its entries one
  after another (no sets compacted level by level: one loop body, not one per level);
- the uniforms of a slot's next proposal are computed at the end of an iteration
  and carried to the next as one complex array ``u + i v``: one kernel hashes once;
- a proposal's draw (NaN where rejected) has one reader, the scatter into the output,
  and the loop reads back from that output whether the draw was accepted;
- the CDF walk carries its state as one stacked array.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._bits import float32_of, float64_of, global_index, key_words, threefry2x32

_STIRLING_TAIL = (
    0.0810614667953272,
    0.0413406959554092,
    0.0276779256849983,
    0.02079067210376509,
    0.0166446911898211,
    0.0138761288230707,
    0.0118967099458917,
    0.0104112652619720,
    0.00925546218271273,
    0.00833056343336287,
)

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
    m, e = _mantissa(x)
    return jnp.where(x > 0, _atanh2((m - 1) / (m + 1)) + e * _LN2, -jnp.inf)


def _mantissa(x):
    """``(m, e)`` with ``x = m 2**e`` and ``m`` in ``[1/sqrt 2, sqrt 2)``, read off the bits of float64 ``x > 0``."""
    bits = jax.lax.bitcast_convert_type(x, jnp.uint64)
    e = ((bits >> jnp.uint64(52)) & jnp.uint64(0x7FF)).astype(jnp.int64) - 1023
    m = jax.lax.bitcast_convert_type(
        (bits & jnp.uint64(0x000FFFFFFFFFFFFF)) | jnp.uint64(0x3FF0000000000000), jnp.float64
    )
    high = m > 1.4142135623730951
    return jnp.where(high, 0.5 * m, m), (e + high.astype(jnp.int64)).astype(jnp.float64)


def _atanh2(s):
    """``2 atanh(s) = log((1 + s) / (1 - s))`` for float64 ``|s| <= 0.18``, by its series."""
    s2 = s * s
    series = jnp.asarray(1.0 / 23, jnp.float64)
    for j in (21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1):
        series = series * s2 + 1.0 / j
    return 2 * s * series


def _log1p(x):
    """``log(1 + x)`` for ``x > -1``, to a few ulp also for small ``|x|``; float32 uses ``jnp.log1p``.

    float64: ``2 atanh(x / (2 + x))`` by the series where ``|x| < 1/4``, which
    never rounds ``1 + x``, and :func:`_log` of ``1 + x`` elsewhere, where
    ``|log(1 + x)| > 0.22`` and the rounding of ``1 + x`` costs an ulp or two;
    one series serves both. (The usual correction ``log(u) x / (u - 1)``,
    ``u = 1 + x``, does not survive XLA, which simplifies ``(1 + x) - 1`` to
    ``x``: under jit it left ``log1p(1e-10)`` off by 8e-8 relative.)
    """
    if x.dtype != jnp.float64:
        return jnp.log1p(x)
    small = jnp.abs(x) < 0.25
    m, e = _mantissa(1 + x)
    s = jnp.where(small, x, m - 1) / jnp.where(small, 2 + x, m + 1)
    return _atanh2(s) + jnp.where(small, 0, e) * _LN2


def _stirling_tail(k):
    """``log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2]``: a table below 10, the series above."""
    inv = 1.0 / (k + 1)
    inv2 = inv * inv
    series = inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 / 1260))
    table = jnp.take(jnp.asarray(_STIRLING_TAIL, k.dtype), jnp.clip(k, 0, 9).astype(jnp.int32))
    return jnp.where(k < 10, table, series)


# -- CDF inversion (n q < 10) --------------------------------------------------------------------
_INVERSION_ROUNDS = 128
"""Bound on the steps of the CDF walk. A walk only goes past the value it returns while the float
CDF is below its uniform, and for n q < 10 the probability of a draw above 128 is below 1e-90."""


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

    The loop carries ``(k, pmf, cdf)`` as one stacked array; an entry walks
    while its ``cdf <= u``, and one that stops gets ``cdf = 2`` (above every
    uniform). The condition asks whether any entry walks, and every round
    advances or retires each walking entry, so the loop ends within
    ``_INVERSION_ROUNDS`` rounds.
    """
    s = q / (1 - q)
    pmf = jnp.exp(n * jnp.log1p(-q))

    def cond(c):
        i, state = c
        return (i < _INVERSION_ROUNDS) & jnp.any(state[2] <= u)

    def body(c):
        i, state = c
        k, pmf, cdf = state[0], state[1], state[2]
        nxt = pmf * (n - k) / (k + 1) * s
        grown = cdf + nxt
        step = (cdf <= u) & (grown > cdf)  # a term too small to change the float CDF ends the walk
        k = jnp.where(step, k + 1, k)
        walking = step & (grown <= u) & (k < n)
        return i + 1, jnp.stack([k, jnp.where(step, nxt, pmf), jnp.where(walking, grown, 2.0)])

    state = jnp.stack([jnp.zeros_like(n), pmf, jnp.where(n > 0, pmf, 2.0)])
    return jax.lax.while_loop(cond, body, (jnp.int32(0), state))[1][0]


# -- BTRS rejection (n q >= 10) ------------------------------------------------------------------
_BTRS_PROPOSALS = 256
"""Bound on the BTRS proposals of one draw. The squeeze alone accepts a proposal with probability
``P(us >= 0.07) P(v <= v_r) = 0.86 v_r``, and ``v_r = 0.92 - 4.2 / b >= 0.303`` since
``b = 1.15 + 2.53 sqrt(n q (1 - q)) >= 6.8`` where ``n q >= 10``, ``q <= 1/2``; so a draw is still open
after 256 proposals with probability below ``0.74**256 < 1e-33``."""

_MIN_SLOTS = 256
_ROWS = 32
"""The rejection loop works on ``max(_MIN_SLOTS, ceil(size / _ROWS))`` slots (rounded up to a multiple of
128, at most ``size``): at most ``_ROWS`` draws per slot, and at least 256 proposals per round to spread
the loop's overhead. Fewer
slots waste fewer proposals on the rounds that wait for the slowest draws (measured on a CPU: 256
slots draw 4096 entries 30% faster than 1024)."""


def _slots(total: int) -> int:
    """The number of slots for ``total`` draws: a multiple of 128, or ``total`` where that is fewer (XLA's CPU
    kernels over 3125 or 15625 entries ran at a third of the speed of those over 3200 or 15744)."""
    return min(total, -(-max(_MIN_SLOTS, -(-total // _ROWS)) // 128) * 128)


def _uniform_pair(words, g, attempt, dtype):
    """Uniforms ``2 + 2 a`` and ``3 + 2 a`` of the entries ``g`` (``a = attempt`` per entry) as ``u + i v``.

    In float32 both words of the hash of ``(g, 1 + a)``; in float64 the hashes
    of ``(g, 2 + 2 a)`` and ``(g, 3 + 2 a)`` (the layout of :func:`uniform`).
    One complex array, so that one kernel computes the hash once.
    """
    r = jnp.uint32(2) + jnp.uint32(2) * attempt.astype(jnp.uint32)
    if np.dtype(dtype) == np.float64:
        u = float64_of(*threefry2x32(words, jnp.stack([g, g]), jnp.stack([r, r + jnp.uint32(1)])))
        return jax.lax.complex(u[0], u[1])
    w0, w1 = threefry2x32(words, g, r >> jnp.uint32(1))
    return jax.lax.complex(float32_of(w0), float32_of(w1))


def _log_pmf_ratio(n, q, m, k):
    """``log(f(k) / f(m))`` for the Binomial(n, q) pmf ``f`` and ``m`` the mode ``floor((n + 1) q)``.

    Stirling's series, rearranged so that its large terms multiply only
    ``L(x) = log(1 + x) - x`` of ratios exact to rounding. Directly summed (as
    in Hormann's BTRS) the terms are of size ``n`` and cancel to
    ``O(d**2 / n)``, ``d = k - m``, so that sum is off by about ``eps n``
    (about 1 in float32 at ``n = 2**24``, a factor ``e`` in the acceptance
    test). With ``A = n - m + 1``, ``B = n - k + 1``, ``M = m + 1``,
    ``K = k + 1``:

    ``d ((d - 1/2) / B + (d + 1/2) / K) + (A - 1/2) L(d / B) + (M - 1/2) L(-d / K)
    + d log1p(t) + tails``, ``t = (q (n + 2) - K) / ((1 - q) K)``,

    which is ``(A - 1/2) log A - (B - 1/2) log B + (M - 1/2) log M - (K - 1/2) log K
    + d log(q / (1 - q)) + tails``, off by about ``eps |d|`` (below ``2e-3``
    in float32 at ``n = 2**24``). One form for every ``n``: no second copy of
    the computation, no branch.
    """
    d = k - m
    inv_b, inv_k = 1.0 / (n - k + 1), 1.0 / (k + 1)
    x, y = d * inv_b, -d * inv_k
    t = (q * n + 2 * q - (k + 1)) * inv_k / (1 - q)
    return (
        d * ((d - 0.5) * inv_b + (d + 0.5) * inv_k)
        + (n - m + 0.5) * (_log1p(x) - x)
        + (m + 0.5) * (_log1p(y) - y)
        + d * _log1p(t)
        + _stirling_tail(m)
        + _stirling_tail(n - m)
        - _stirling_tail(k)
        - _stirling_tail(n - k)
    )


def _btrs_proposal(n, q, uv, attempt):
    """Proposal ``attempt`` of BTRS (Hormann 1993) for Binomial(n, q), q <= 1/2, n q >= 10, from its uniforms ``uv``.

    Returns the candidate where it is accepted, else NaN; the last allowed
    proposal (``attempt = _BTRS_PROPOSALS - 1``) returns the mode
    ``floor((n + 1) q)`` where rejected, and ``attempt < 0`` (no proposal yet) NaN.
    """
    stddev = jnp.sqrt(n * q * (1 - q))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * q
    m = jnp.floor((n + 1) * q)
    u, v = jnp.real(uv) - 0.5, jnp.imag(uv)
    us = 0.5 - jnp.abs(u)
    k = jnp.floor((2 * a / us + b) * u + n * q + 0.5)
    inside = (k >= 0) & (k <= n)
    k = jnp.clip(k, 0, n)
    lv = _log(v * (2.83 + 5.1 / b) * stddev / (a / (us * us) + b))
    accept = ((us >= 0.07) & (v <= 0.92 - 4.2 / b)) | (inside & (lv <= _log_pmf_ratio(n, q, m, k)))
    accept = accept & (attempt >= 0)
    return jnp.where(accept, k, jnp.where(attempt + 1 >= _BTRS_PROPOSALS, m, jnp.nan))


def _btrs(words, n, q, g):
    """BTRS draws where ``n > 0`` (``n q >= 10``, ``q <= 1/2``); 0 where ``n == 0``.

    The entries are drawn by ``S`` slots (:func:`_slots`): slot ``i`` draws
    those of entries ``i, i + S, i + 2 S, ...`` with ``n > 0`` one after
    another, moving to the next as soon as a proposal is accepted (the rows it
    has left to draw are the bits of one word, so it passes over entries with
    ``n = 0`` at once). So the loop runs about ``1.16 size / S`` rounds plus
    the few rounds of the slowest draws, each round proposing for ``S`` draws,
    and one compiled body serves every size.

    Proposal ``a`` of the entry with global index ``g`` reads that entry's
    uniforms ``2 + 2 a`` and ``3 + 2 a`` (:func:`_uniform_pair`): a draw is its
    first accepted proposal, a function of ``(key, g, n, q)`` alone, whichever
    slot draws it. No draw makes more than ``_BTRS_PROPOSALS`` proposals: the
    last one takes the mode where it is rejected (probability below
    ``1e-33``), so a slot finishes its at most ``ceil(size / S)`` entries
    within ``1 + _BTRS_PROPOSALS ceil(size / S)`` rounds, the loop's bound.
    """
    total = n.shape[0]
    slots = _slots(total)
    rows = -(-total // slots)
    lane = jnp.arange(slots, dtype=jnp.int32)
    first = g[0]
    # which rows of each slot hold a draw, as the bits of one word (rows <= _ROWS = 32): a slot passes over
    # the entries with n == 0 without spending a round on them
    todo = jnp.pad(n > 0, (0, rows * slots - total)).reshape(rows, slots)
    bits = jnp.sum(todo.astype(jnp.uint32) << jnp.arange(rows, dtype=jnp.uint32)[:, None], axis=0, dtype=jnp.uint32)

    def next_row(start):
        """The first row at or after ``start`` (per slot) that holds a draw; ``rows`` where none is left."""
        rest = jnp.where(start < rows, bits >> jnp.minimum(start, rows - 1).astype(jnp.uint32), 0)
        low = rest & (~rest + jnp.uint32(1))  # the lowest set bit
        return jnp.where(rest == 0, rows, start + jax.lax.population_count(low - jnp.uint32(1)).astype(jnp.int32))

    def cond(c):
        it, row = c[0], c[1]
        return (it <= rows * _BTRS_PROPOSALS) & jnp.any(row < rows)

    def body(c):
        it, row, made, uv, out = c
        idx = row * slots + lane
        live = row < rows
        at = jnp.minimum(idx, total - 1)
        draw = _btrs_proposal(n[at], q[at], uv, made)
        # written accepted or not (NaN): its one reader is the scatter, and the loop reads back what it wrote
        out = out.at[jnp.where(live, idx, total)].set(draw, mode="drop")
        done = live & ~jnp.isnan(out[at])
        row = jnp.where(done, next_row(row + 1), row)
        made = jnp.where(done, 0, made + 1)
        at = jnp.minimum(row * slots + lane, total - 1)
        return it + 1, row, made, _uniform_pair(words, first + at.astype(jnp.uint32), made, n.dtype), out

    made = jnp.full((slots,), -1, jnp.int32)  # no uniforms yet: the first round draws nothing
    uv = jnp.zeros((slots,), jnp.complex128 if n.dtype == jnp.float64 else jnp.complex64)
    return jax.lax.while_loop(cond, body, (jnp.int32(0), next_row(jnp.zeros_like(lane)), made, uv, jnp.zeros_like(n)))[
        -1
    ]


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
    algorithms of ``jax.random.binomial``). The rejections are retried by a
    fixed set of slots that move on to the next draw as soon as one is
    accepted, so the cost is about 1.2 proposals per draw however many draws
    the array holds, and the compiled program is the same size for any size.

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
    words = key_words(key)
    shape = n.shape
    p = jnp.broadcast_to(jnp.asarray(p, n.dtype), shape).ravel()
    n = n.ravel()
    g = global_index(offset, n.shape[0])
    if n.shape[0] == 0:
        return n.reshape(shape)
    flip = p > 0.5
    q = jnp.clip(jnp.where(flip, 1 - p, p), 0, 0.5)
    small = n * q < 10
    h0, h1 = threefry2x32(words, g, jnp.zeros_like(g))
    u = float64_of(h0, h1) if n.dtype == jnp.float64 else float32_of(h0)
    walks = jnp.where(small, n, 0)
    # the walk's setup costs a pass over every entry: skipped where no entry walks (the upper levels of the
    # placement tree, a field of large counts)
    walked = jax.lax.cond(jnp.any(walks > 0), lambda: _inversion(u, walks, q), lambda: jnp.zeros_like(n))
    k = jnp.where(small, walked, _btrs(words, jnp.where(small, 0, n), q, g))
    return jnp.where(flip, n - k, k).reshape(shape)

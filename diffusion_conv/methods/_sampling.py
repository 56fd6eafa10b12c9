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
def random_bits(key, n: int, stream=0):
    """``n`` random uint32 words from ``key`` and a stream number (a uint32, may be traced).

    For threefry keys, word pairs are JAX's threefry-2x32 hash of the counter
    pairs ``(j, stream)``: one hash per two words, and distinct streams give
    independent words without deriving new keys. Other key implementations
    use ``jax.random.bits`` of ``fold_in(key, stream)``.
    """
    if str(jax.random.key_impl(key)) == "threefry2x32":
        from jax.extend.random import threefry_2x32

        m = (n + 1) // 2
        count = jnp.concatenate([jnp.arange(m, dtype=jnp.uint32), jnp.full((m,), stream, jnp.uint32)])
        return threefry_2x32(jax.random.key_data(key), count)[:n]
    return jax.random.bits(jax.random.fold_in(key, stream), (n,), jnp.uint32)


def uniform(key, shape, dtype, stream=0):
    """Uniform floats in ``[0, 1)`` of ``dtype`` (23 or 52 random mantissa bits)."""
    size = int(np.prod(shape))
    if np.dtype(dtype) == np.float64:
        w = random_bits(key, 2 * size, stream).astype(jnp.uint64)
        u = (w[:size] << jnp.uint64(20)) ^ (w[size:] >> jnp.uint64(12))  # 52 bits
        f = jax.lax.bitcast_convert_type(u | jnp.uint64(0x3FF0000000000000), jnp.float64)
    else:
        w = random_bits(key, size, stream)
        f = jax.lax.bitcast_convert_type((w >> jnp.uint32(9)) | jnp.uint32(0x3F800000), jnp.float32)
    return (f - 1).astype(dtype).reshape(shape)


def _stirling_tail(k):
    table = jnp.asarray(_STIRLING_TAIL, dtype=k.dtype)
    kc = jnp.clip(k, 0, 9)
    kp1sq = (k + 1) * (k + 1)
    approx = (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1)
    return jnp.where(k <= 9, table[kc.astype(jnp.int32)], approx)


def _inversion(key, n, q):
    """Binomial(n, q), q <= 1/2, by walking the CDF from 0 (used where n q < 10)."""
    u = uniform(key, n.shape, n.dtype, 0)
    s = q / (1 - q)
    pmf = jnp.exp(n * jnp.log1p(-q))

    def cond(c):
        k, pmf, cdf = c
        return jnp.any((cdf <= u) & (k < n) & (pmf > 0))

    def body(c):
        k, pmf, cdf = c
        nxt = pmf * (n - k) / (k + 1) * s
        active = (cdf <= u) & (k < n) & (nxt > 0)  # stop where the tail underflows
        return jnp.where(active, k + 1, k), jnp.where(active, nxt, pmf), cdf + jnp.where(active, nxt, 0)

    k, _, _ = jax.lax.while_loop(cond, body, (jnp.zeros_like(n), pmf, pmf))
    return k


def _btrs(key, n, q):
    """Binomial(n, q), q <= 1/2, n q >= 10: transformed rejection with squeeze (Hormann 1993)."""
    stddev = jnp.sqrt(n * q * (1 - q))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * q
    c = n * q + 0.5
    v_r = 0.92 - 4.2 / b
    r = q / (1 - q)
    alpha = (2.83 + 5.1 / b) * stddev
    m = jnp.floor((n + 1) * q)
    tail_m = (m + 0.5) * jnp.log((m + 1) / (r * (n - m + 1))) + _stirling_tail(m) + _stirling_tail(n - m)

    def body(carry):
        i, k_out, done = carry
        u, v = uniform(key, (2,) + n.shape, n.dtype, i + 1)
        u = u - 0.5
        us = 0.5 - jnp.abs(u)
        k = jnp.floor((2 * a / us + b) * u + c)
        ok = (k >= 0) & (k <= n)
        ks = jnp.clip(k, 0, n)
        lv = jnp.log(v * alpha / (a / (us * us) + b))
        ub = (tail_m + (n + 1) * jnp.log((n - m + 1) / (n - ks + 1))
              + (ks + 0.5) * jnp.log(r * (n - ks + 1) / (ks + 1)) - _stirling_tail(ks) - _stirling_tail(n - ks))
        accept = ((us >= 0.07) & (v <= v_r)) | (ok & (lv <= ub))
        return i + 1, jnp.where(accept & ~done, k, k_out), done | accept

    init = (jnp.uint32(0), jnp.zeros_like(n), jnp.zeros(n.shape, bool))
    return jax.lax.while_loop(lambda c: ~jnp.all(c[2]), body, init)[1]


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
    uniform per draw for inversion, two per rejection round.
    """
    p = jnp.broadcast_to(jnp.asarray(p, n.dtype), n.shape)
    flip = p > 0.5
    q = jnp.clip(jnp.where(flip, 1 - p, p), 0, 0.5)
    small = n * q < 10
    k_inv = _inversion(key, jnp.where(small, n, 0), q)
    k_rej = _btrs(key, jnp.where(small, 100, n), jnp.where(small, 0.25, q))
    k = jnp.where(small, k_inv, k_rej)
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

"""The random-number building blocks of the stochastic methods, each against an independent reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32
from scipy import stats

from diffusion_conv.methods import _sampling as smp
from diffusion_conv.random import _binomial, _bits


def test_threefry_is_jax_threefry_bit_for_bit():
    rng = np.random.default_rng(0)
    for _ in range(3):
        key = jnp.asarray(rng.integers(0, 2**32, 2, dtype=np.uint64).astype(np.uint32))
        x = jnp.asarray(rng.integers(0, 2**32, 2 * 1001, dtype=np.uint64).astype(np.uint32))
        ours = jax.jit(_bits.threefry2x32)(key, x[:1001], x[1001:])
        np.testing.assert_array_equal(np.concatenate([np.asarray(o) for o in ours]), np.asarray(threefry_2x32(key, x)))


@pytest.mark.parametrize("n", [1, 6, 7, 1001])
def test_both_hash_layouts_give_the_same_words(n):
    key = jax.random.key(11)
    np.testing.assert_array_equal(
        np.asarray(smp.random_bits(key, n, 9, unrolled=True)), np.asarray(smp.random_bits(key, n, 9))
    )


def test_random_bits_do_not_depend_on_how_many_are_drawn():
    key = jax.random.key(3)
    long, short = np.asarray(smp.random_bits(key, 1001, 5)), np.asarray(smp.random_bits(key, 7, 5))
    np.testing.assert_array_equal(long[:7], short)
    assert not np.array_equal(np.asarray(smp.random_bits(key, 7, 6)), short)


def test_random_bits_follow_the_documented_counter_layout():
    """Word g of stream s is word g % 2 of threefry-2x32 of the counter pair (g // 2, s)."""
    key = jax.random.key(8)
    g = np.arange(37, 37 + 101)
    pairs = np.unique(g // 2).astype(np.uint32)
    y = np.asarray(
        threefry_2x32(jax.random.key_data(key), jnp.concatenate([pairs, jnp.full(pairs.shape, 4, jnp.uint32)]))
    )
    words = np.stack([y[: pairs.size], y[pairs.size :]], axis=1)  # (pair, half)
    want = words[g // 2 - pairs[0], g % 2]
    for unrolled in (False, True):
        np.testing.assert_array_equal(np.asarray(smp.random_bits(key, 101, 4, offset=37, unrolled=unrolled)), want)


@pytest.mark.parametrize("m", [1, 2, 500, 997])
def test_random_bits_of_a_slab_are_the_words_of_the_whole(m):
    """Per-particle streams: word j at step s depends only on (key, j, s), for odd and even offsets, traced or not."""
    key = jax.random.key(12)
    whole = np.asarray(smp.random_bits(key, 1000, 17))
    head = np.asarray(smp.random_bits(key, m, 17))
    tail = np.asarray(jax.jit(lambda off: smp.random_bits(key, 1000 - m, 17, offset=off))(m))
    np.testing.assert_array_equal(np.concatenate([head, tail]), whole)
    np.testing.assert_array_equal(np.asarray(smp.random_bits(key, 1000 - m, 17, offset=m)), tail)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_follows_the_documented_counter_layout(dtype):
    """Uniform r of entry g: float32 word r % 2 of the hash of (g, r // 2); float64 53 bits of the hash of (g, r)."""
    key = jax.random.key(9)
    g = np.arange(5, 5 + 64, dtype=np.uint32)
    for r in (0, 3, 6):
        s = r // 2 if dtype == np.float32 else r
        y = np.asarray(threefry_2x32(jax.random.key_data(key), jnp.concatenate([g, jnp.full(g.shape, s, jnp.uint32)])))
        y0, y1 = y[:64], y[64:]
        if dtype == np.float32:
            want = ((y0, y1)[r % 2] >> 9).astype(np.float64) * 2.0**-23
        else:
            want = ((y0 >> 11).astype(np.float64) * 2.0**32 + y1) * 2.0**-53
        got = np.asarray(smp.uniform(key, (8, 8), dtype, r, offset=5))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.ravel(), want.astype(dtype))


def _mixed_inputs(size, dtype, seed):
    """Counts and probabilities over both branches: zeros, small counts (inversion), large (rejection), p in {0, 1}."""
    rng = np.random.default_rng(seed)
    n = np.choose(
        rng.integers(0, 4, size),
        [np.zeros(size), rng.integers(1, 30, size), rng.integers(30, 5000, size), rng.integers(5000, 2**20, size)],
    )
    p = np.choose(
        rng.integers(0, 5, size),
        [rng.random(size), rng.random(size) * 1e-3, 1 - rng.random(size) * 1e-3, np.zeros(size), np.ones(size)],
    )
    return jnp.asarray(n, dtype), jnp.asarray(p, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binomial_of_a_slab_with_its_offset_is_the_slab_of_the_whole(dtype):
    """An entry's draw is a function of (key, global index, n, p): the split of the array does not matter."""
    with jax.enable_x64(dtype == np.float64):  # float32 as the library runs by default, x64 off
        _check_binomial_slabs(dtype)


def _check_binomial_slabs(dtype):
    n, p = _mixed_inputs(2000, dtype, 4)
    key = jax.random.key(21)
    whole = np.asarray(jax.jit(smp.binomial)(key, n, p))
    small = np.asarray(n * jnp.minimum(p, 1 - p) < 10)
    assert 0.2 < small.mean() < 0.8 and np.all(whole <= np.asarray(n))  # both branches hold many entries
    slab = jax.jit(lambda n, p, off: smp.binomial(key, n, p, offset=off))  # one program for every offset
    halves = [np.asarray(slab(n[:1000], p[:1000], 0)), np.asarray(slab(n[1000:], p[1000:], 1000))]
    np.testing.assert_array_equal(np.concatenate(halves), whole)
    for m in (1, 2, 651, 999):
        np.testing.assert_array_equal(
            np.asarray(slab(n[m : m + 1000], p[m : m + 1000], m)), whole[m : m + 1000], err_msg=f"m={m}"
        )
    # a static offset, and a slab of another shape: the offset counts entries in row-major order
    two_d = jax.jit(lambda n, p: smp.binomial(key, n, p, offset=2))
    np.testing.assert_array_equal(np.asarray(two_d(n[2:].reshape(111, 18), p[2:].reshape(111, 18))).ravel(), whole[2:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multinomial_of_a_slab_with_its_offset_is_the_slab_of_the_whole(dtype):
    with jax.enable_x64(dtype == np.float64):  # the multinomial computes in the default float dtype
        _check_multinomial_slabs(dtype)


def _check_multinomial_slabs(dtype):
    n, _ = _mixed_inputs(2000, dtype, 5)
    n = n.astype(jnp.int64 if dtype == np.float64 else jnp.int32)
    w = jnp.asarray([0.05, 0.2, 0.5, 0.2, 0.05], dtype)
    key = jax.random.key(22)
    whole = np.asarray(jax.jit(smp.multinomial)(key, n, w))
    np.testing.assert_array_equal(whole.sum(axis=0), np.asarray(n))
    slab = jax.jit(lambda n, off: smp.multinomial(key, n, w, offset=off))
    halves = [np.asarray(slab(n[:1000], 0)), np.asarray(slab(n[1000:], 1000))]
    np.testing.assert_array_equal(np.concatenate(halves, axis=1), whole)
    for m in (1, 999):
        np.testing.assert_array_equal(np.asarray(slab(n[m : m + 1000], m)), whole[:, m : m + 1000], err_msg=f"m={m}")


def test_offset_out_of_range_is_refused():
    key, n = jax.random.key(0), jnp.ones(10)
    with pytest.raises(ValueError, match="offset"):
        smp.binomial(key, n, 0.5, offset=-1)
    with pytest.raises(ValueError, match="offset"):
        smp.binomial(key, n, 0.5, offset=2**32 - 5)
    with pytest.raises(TypeError, match="offset"):
        smp.binomial(key, n, 0.5, offset=1.5)


def _compiled_shape(size, dtype):
    """(while loops, fused kernels) of the compiled binomial sampler for ``size`` draws."""
    n, p = jnp.full((size,), 300.0, dtype), jnp.full((size,), 0.3, dtype)
    text = jax.jit(smp.binomial).lower(jax.random.key(0), n, p).compile().as_text()
    ops = [line for line in text.splitlines() if line.startswith("  ") and " = " in line]
    return sum(" while(" in op for op in ops), sum(" fusion(" in op for op in ops)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_sampler_is_one_small_program_for_any_number_of_draws(dtype):
    """Its compile time goes with the kernels XLA makes of it (about 10 ms each on a CPU).

    Two loops (the CDF walk, the rejection slots) whatever the size: rejections
    once took one loop per compacted level, more levels for more draws (6 loops
    and 155 kernels for 4096 draws in float32, 12 loops for 70,000), and the
    hash was computed again inside every kernel that read a uniform.
    """
    with jax.enable_x64(dtype == np.float64):
        shapes = [_compiled_shape(size, dtype) for size in (64, 4096, 70_000)]
    assert [loops for loops, _ in shapes] == [2, 2, 2], shapes
    kernels = [k for _, k in shapes]
    assert max(kernels) <= 70 and max(kernels) - min(kernels) <= 5, shapes


def test_log_is_within_four_ulp_of_numpy():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            np.logspace(-300, 300, 100_001),
            rng.random(100_000),
            1 + rng.random(10_000) * 1e-6,
            1 - rng.random(10_000) * 1e-6,
            [1.0, 2.0, 0.5, np.sqrt(2), np.nextafter(np.sqrt(2), 2)],
        ]
    )
    got = np.asarray(jax.jit(_binomial._log)(jnp.asarray(x)))
    ref = np.log(x)
    ulp = np.abs(got - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(np.float64).tiny))
    assert ulp.max() <= 4, (ulp.max(), x[np.argmax(ulp)])
    assert np.asarray(_binomial._log(jnp.zeros(2)))[0] == -np.inf
    assert got[-5] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_is_accurate_next_to_zero_under_jit(dtype):
    """Under jit XLA simplifies ``(1 + x) - 1`` to ``x``: the correction ``log(u) x / (u - 1)`` gave
    ``log1p(1e-10)`` off by 8e-8 relative and ``log1p(1.1e-16)`` twice too large in float64."""
    rng = np.random.default_rng(3)
    tiny = -30 if dtype == np.float64 else -20
    x = np.concatenate(
        [
            np.logspace(tiny, 1, 20_001),
            -np.logspace(tiny, np.log10(0.999), 20_001),
            rng.random(50_000) - 0.5,
            [1.1221477682079801e-16, 3e-16, 1e-10, 0.2499, -0.2499, 0.25, -0.25, 0.0],
        ]
    ).astype(dtype)
    got = np.asarray(jax.jit(_binomial._log1p)(jnp.asarray(x)), np.float64)
    ref = np.log1p(x.astype(np.float64))
    ulp = np.abs(got - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(dtype).tiny).astype(dtype))
    assert ulp.max() <= 5, (ulp.max(), x[np.argmax(ulp)])
    assert got[-1] == 0.0


def _pmf_check(draws, n, p):
    """Chi-square of integer draws against the Binomial(n, p) pmf over bins with >= 20 expected."""
    k = np.arange(n + 1)
    expected = stats.binom.pmf(k, n, p) * draws.size
    observed = np.bincount(draws.astype(np.int64), minlength=n + 1)
    keep = expected >= 20
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


def test_rejection_branch_matches_the_pmf_over_many_draws():
    """n p >= 10: BTRS with its retries on compacted sets (about 100,000 draws: several levels)."""
    draw = jax.jit(smp.binomial)
    for n, p, seed in [(50.0, 0.4, 0), (400.0, 0.93, 1), (2000.0, 0.011, 2)]:
        x = np.asarray(draw(jax.random.key(seed), jnp.full((100_003,), n), jnp.asarray(p)))
        assert np.all(x == np.rint(x)) and x.min() >= 0 and x.max() <= n
        assert _pmf_check(x, int(n), p) > 1e-4, (n, p)


@pytest.mark.parametrize("n_small", [0, 700, 5000])
def test_inversion_branch_on_few_or_many_small_counts(n_small):
    """n p < 10 on a few entries (gathered into a small set) or on many (walked in place)."""
    n = np.full(12_000, 3000.0)
    n[:n_small] = 6.0
    x = np.asarray(jax.jit(smp.binomial)(jax.random.key(n_small), jnp.asarray(n), jnp.asarray(0.3)))
    assert np.all(x[n_small:] > 700)  # the large counts are untouched by the small-count branch
    assert _pmf_check(x[n_small:], 3000, 0.3) > 1e-4
    if n_small:
        assert _pmf_check(x[:n_small], 6, 0.3) > 1e-4


def test_a_biased_sampler_fails_the_pmf_check():
    x = np.random.default_rng(0).binomial(50, 0.41, size=100_003)
    assert _pmf_check(x, 50, 0.4) < 1e-4

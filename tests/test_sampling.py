"""The random-number building blocks of the stochastic methods, each against an independent reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32
from scipy import stats

from diffusion_conv.methods import _sampling as smp


def test_threefry_is_jax_threefry_bit_for_bit():
    rng = np.random.default_rng(0)
    for _ in range(3):
        key = jnp.asarray(rng.integers(0, 2**32, 2, dtype=np.uint64).astype(np.uint32))
        x = jnp.asarray(rng.integers(0, 2**32, 2 * 1001, dtype=np.uint64).astype(np.uint32))
        ours = jax.jit(smp._threefry2x32)(key, x[:1001], x[1001:])
        np.testing.assert_array_equal(np.concatenate([np.asarray(o) for o in ours]),
                                      np.asarray(threefry_2x32(key, x)))


@pytest.mark.parametrize("n", [1, 6, 7, 1001])
def test_both_hash_layouts_give_the_same_words(n):
    key = jax.random.key(11)
    np.testing.assert_array_equal(np.asarray(smp.random_bits(key, n, 9, unrolled=True)),
                                  np.asarray(smp.random_bits(key, n, 9)))


def test_random_bits_do_not_depend_on_how_many_are_drawn():
    key = jax.random.key(3)
    long, short = np.asarray(smp.random_bits(key, 1001, 5)), np.asarray(smp.random_bits(key, 7, 5))
    np.testing.assert_array_equal(long[:3], short[:3])  # the first words of both halves are the same pairs
    assert not np.array_equal(np.asarray(smp.random_bits(key, 7, 6)), short)


def test_log_is_within_four_ulp_of_numpy():
    rng = np.random.default_rng(1)
    x = np.concatenate([np.logspace(-300, 300, 100_001), rng.random(100_000), 1 + rng.random(10_000) * 1e-6,
                        1 - rng.random(10_000) * 1e-6, [1.0, 2.0, 0.5, np.sqrt(2), np.nextafter(np.sqrt(2), 2)]])
    got = np.asarray(jax.jit(smp._log)(jnp.asarray(x)))
    ref = np.log(x)
    ulp = np.abs(got - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(np.float64).tiny))
    assert ulp.max() <= 4, (ulp.max(), x[np.argmax(ulp)])
    assert np.asarray(smp._log(jnp.zeros(2)))[0] == -np.inf
    assert got[-5] == 0.0


@pytest.mark.parametrize("total,size,rate", [(1, 1, 0.5), (300, 80, 0.2), (65_537, 16_385, 0.14), (2_100_000, 300_000, 0.1),
                                             (5000, 10, 0.5)])
def test_compaction_lists_the_first_true_entries(total, size, rate):
    mask = np.random.default_rng(total).random(total) < rate
    got = np.asarray(jax.jit(smp._compact, static_argnums=1)(jnp.asarray(mask), size))
    want = np.flatnonzero(mask)[:size]
    np.testing.assert_array_equal(got[: len(want)], want)
    assert np.all(got[len(want):] == total)


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

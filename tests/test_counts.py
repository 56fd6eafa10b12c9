"""The counts method: integer occupation numbers, unbiased against the propagator, exact conservation."""

import jax
import numpy as np
import pytest
from conftest import RTOL
from scipy import stats
from stochastic import SHARED_CASES, check_bad_input, check_large_n_says_how_to_enable_x64, check_unbiased
from stochastic import asym as _asym
from stochastic import field as _field

import diffusion_conv as dc
from diffusion_conv.methods import counts as cm

STEPS = (0, 3, 7)


def ensemble(tank, prop, n, steps, r, seed):
    keys = jax.random.split(jax.random.key(seed), r)
    c, a = jax.vmap(lambda k: cm.sample(k, tank, prop, n, steps))(keys)
    return np.asarray(c), np.asarray(a)


CASES = {
    **SHARED_CASES,
    # separable but drifting along both axes: split axis by axis, absorbed at either edge
    "separable-drift-absorb": (
        dc.Tank(_field((9, 8)), boundary=("absorb", "periodic")),
        dc.Propagator(np.outer([0.2, 0.5, 0.3], [0.1, 0.3, 0.6])),
    ),
}
SPLIT = {
    "symmetric-reflect": "per-axis",
    "asymmetric-periodic": "joint",
    "asymmetric-absorb": "joint",
    "board-gap-mixed": "joint",
    "separable-drift-absorb": "per-axis",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ensemble_mean_is_the_propagator(case):
    """Small counts (CDF inversion) and large counts (rejection sampling) are both unbiased."""
    tank, prop = CASES[case]
    split = dc.simulate(tank, prop, 1, method="counts", n_particles=10, key=jax.random.key(0)).meta["split"]
    assert split == SPLIT[case]
    # 20,000 particles on 72 cells: a jump of weight w from a cell of c particles is drawn by CDF inversion
    # where c w < 10 and by BTRS rejection elsewhere, so one run checks both branches; 10^9 (rejection at
    # huge counts) once, on the case with walls and mixed edges (each particle count is its own program)
    for n in (20_000, 10**9) if case == "board-gap-mixed" else (20_000,):
        counts, absorbed = ensemble(tank, prop, n, STEPS, 64, seed=21)
        check_unbiased(counts, absorbed, tank, prop, STEPS, n, what="counts")


@pytest.mark.parametrize("prop", [_asym((3, 3), 2), CASES["separable-drift-absorb"][1]], ids=["joint", "per-axis"])
def test_a_wrong_process_fails_the_check(prop):
    tank = dc.Tank(_field((9, 8)))
    mirrored = dc.Propagator(np.asarray(prop.weights)[::-1, ::-1])
    counts, absorbed = ensemble(tank, mirrored, 1500, STEPS, 64, seed=21)
    with pytest.raises(AssertionError):
        check_unbiased(counts, absorbed, tank, prop, STEPS, 1500, what="counts")


def test_error_falls_like_n_to_the_minus_half():
    tank, prop = CASES["symmetric-reflect"]  # shares its compiled program with the tests below
    ref = dc.simulate(tank, prop, 10).final
    sizes = [10**3, 10**3.5, 10**4, 10**4.5, 10**5, 10**5.5, 10**6]
    sizes = [int(round(s)) for s in sizes]
    errors = [
        dc.rel_l2_error(dc.simulate(tank, prop, 10, method="counts", n_particles=n, key=jax.random.key(n)).final, ref)
        for n in sizes
    ]
    slope, _ = dc.fit_order(sizes, errors)
    assert abs(slope - dc.methods.get("counts").order(tank, prop).exponent) < 0.1, (slope, errors)


@pytest.mark.parametrize("boundary", ["reflect", ("periodic", "reflect")])
def test_exact_integer_conservation(boundary):
    tank = dc.Tank(_field((8, 7)), boundary=boundary).with_board(1, 3, gap=(2, 4))
    n = 10**12
    res = dc.simulate(tank, _asym((3, 3), 1), 12, method="counts", save_every=3, n_particles=n, key=jax.random.key(2))
    c = res.extras["counts"]
    assert c.dtype == np.int64
    np.testing.assert_array_equal(c.reshape(len(c), -1).sum(axis=1), n)
    assert np.all(c[:, tank.walls] == 0)
    assert res.meta["particles_absorbed"] == 0
    np.testing.assert_allclose(res.mass(), float(tank.mass), rtol=RTOL[res.frames.dtype])


def test_absorbed_plus_remaining_is_exactly_n():
    tank = dc.Tank(_field((8, 7)), boundary=("absorb", "reflect"))
    n = 10**12 + 7
    res = dc.simulate(tank, _asym((3, 5), 1), 20, method="counts", save_every=4, n_particles=n, key=jax.random.key(3))
    c = res.extras["counts"]
    lost = np.rint(res.absorbed / (float(tank.mass) / n)).astype(np.int64)
    np.testing.assert_array_equal(c.reshape(len(c), -1).sum(axis=1) + lost, n)
    assert res.meta["particles_remaining"] + res.meta["particles_absorbed"] == n
    assert np.all(np.diff(lost) >= 0) and lost[-1] > 0
    np.testing.assert_allclose(res.mass() + res.absorbed, float(tank.mass), rtol=RTOL[res.frames.dtype])


def _compiled_shape(shape):
    """(while loops, fused kernels) of the compiled counts rollout of a two-compartment tank of ``shape``."""
    tank, prop = dc.Tank.two_compartment(shape), dc.Propagator.gaussian(0.7, ndim=2)
    run = jax.jit(lambda key: dc.rollout(tank, prop, 3, method="counts", key=key, n_particles=10**6))
    ops = [
        line
        for line in run.lower(jax.random.key(0)).compile().as_text().splitlines()
        if line.startswith("  ") and " = " in line
    ]
    return sum(" while(" in op for op in ops), sum(" fusion(" in op for op in ops)


def test_the_compiled_program_does_not_grow_with_the_tank():
    """The same loops for 8x8 and 64x64 cells: the sampler's program has one size (it once had a
    rejection loop per compacted level, more levels for more cells), so scenarios of every size
    compile in about the same time."""
    (loops_small, kernels_small), (loops_large, kernels_large) = _compiled_shape((8, 8)), _compiled_shape((64, 64))
    assert loops_small == loops_large
    assert abs(kernels_large - kernels_small) <= 10, (kernels_small, kernels_large)


def test_binomial_sampler_matches_its_moments():
    """The exact binomial used for the splits, on both of its branches and both tails of p."""
    draw = jax.jit(cm.binomial)
    m = 20000
    ns, ps = np.meshgrid([6.0, 40.0, 3000.0, 1e12], [0.02, 0.3, 0.85], indexing="ij")
    x = np.asarray(draw(jax.random.key(7), np.repeat(ns.ravel(), m), np.repeat(ps.ravel(), m))).reshape(-1, m)
    for xi, n, p in zip(x, ns.ravel(), ps.ravel()):
        assert np.all(xi == np.rint(xi)) and xi.min() >= 0 and xi.max() <= n
        mean, var = n * p, n * p * (1 - p)
        assert abs(xi.mean() - mean) < 5 * np.sqrt(var / m), (n, p)
        assert abs(xi.var() / var - 1) < 8 * np.sqrt(2 / m), (n, p)
    # small n against the exact pmf
    small = x[1].astype(int)  # n = 6, p = 0.3
    observed = np.bincount(small, minlength=7)
    expected = stats.binom.pmf(np.arange(7), 6, 0.3) * m
    assert stats.chisquare(observed, expected).pvalue > 1e-4


def test_placement_is_multinomial():
    conc = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 0.5])
    n = 1000
    draws = np.asarray(jax.vmap(lambda k: cm.place(k, conc, n))(jax.random.split(jax.random.key(1), 400)))
    assert np.all(draws.sum(axis=1) == n) and np.all(draws[:, 0] == 0)
    p = conc / conc.sum()
    z = (draws.mean(axis=0)[1:] - n * p[1:]) / np.sqrt(n * p[1:] * (1 - p[1:]) / 400)
    assert np.max(np.abs(z)) < 5


def test_same_key_same_result_and_raw_keys():
    tank, prop = CASES["symmetric-reflect"]

    def run(key):
        return dc.simulate(tank, prop, 10, method="counts", n_particles=2000, key=key).frames

    a = run(jax.random.key(4))
    np.testing.assert_array_equal(a, run(jax.random.key(4)))
    np.testing.assert_array_equal(a, run(jax.random.PRNGKey(4)))
    assert not np.array_equal(a, run(jax.random.key(5)))


def test_float32_tank_stays_float32():
    tank = dc.Tank(np.asarray(_field((8, 8)), np.float32))
    res = dc.simulate(tank, dc.Propagator.gaussian(0.7), 5, method="counts", n_particles=1000, key=jax.random.key(0))
    assert res.frames.dtype == np.float32
    np.testing.assert_allclose(res.mass(), float(tank.mass), rtol=RTOL[np.dtype(np.float32)])


def test_compare_runs_counts():
    tank, prop = CASES["symmetric-reflect"]
    cmp = dc.compare(tank, prop, 10, methods=("propagator", "counts"), n_particles=10**8, key=jax.random.key(1))
    row = {r["method"]: r for r in cmp.table}["counts"]
    assert 0 < row["rel_l2_error"] < 1e-3


BAD = [
    (dict(n_particles=None), TypeError, "n_particles"),
    (dict(n_particles=0), ValueError, "n_particles"),
    (dict(n_particles=2.0), TypeError, "n_particles"),
    (dict(n_particles=2**53 + 1), ValueError, "9007199254740992"),
    (dict(key=None), TypeError, "key"),
    (dict(key="seed"), TypeError, "key"),
    (dict(key=np.zeros(3, np.uint32)), TypeError, "key"),
    (dict(track=3), TypeError, "track"),
]


@pytest.mark.parametrize("kwargs, error, words", BAD)
def test_bad_input(kwargs, error, words):
    check_bad_input("counts", kwargs, error, words)


def test_large_n_without_x64_says_how_to_enable_it():
    check_large_n_says_how_to_enable_x64("counts", 10**12)

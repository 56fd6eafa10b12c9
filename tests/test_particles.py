"""The particles method: unbiased against the propagator, N^-1/2 convergence, MSD, exact bookkeeping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import RTOL
from stochastic import SHARED_CASES, check_bad_input, check_large_n_says_how_to_enable_x64, check_unbiased
from stochastic import asym as _asym
from stochastic import field as _field

import diffusion_conv as dc
from diffusion_conv.methods import particles

STEPS = (0, 3, 7)


def ensemble(tank, prop, n, steps, r, seed, **options):
    keys = jax.random.split(jax.random.key(seed), r)
    c, a, _ = jax.vmap(lambda k: particles.sample(k, tank, prop, n, steps, **options))(keys)
    return np.asarray(c), np.asarray(a)


CASES = {
    **SHARED_CASES,
    "long-jumps-1d": (dc.Tank(_field((7,)), boundary="reflect"), _asym((9,), 5)),
    "walls-3d-periodic": (
        dc.Tank(_field((5, 4, 4)), boundary="periodic").with_board(2, 1, gap=(1, 3)),
        _asym((3, 3, 3), 6),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ensemble_mean_is_the_propagator(case):
    tank, prop = CASES[case]
    counts, absorbed = ensemble(tank, prop, 1500, STEPS, 64, seed=11)
    check_unbiased(counts, absorbed, tank, prop, STEPS, 1500)
    assert not np.array_equal(counts[0, -1], counts[1, -1]), "runs with different keys must differ"


def test_skip_ahead_is_unbiased():
    tank, prop = dc.Tank(_field((9, 8)), boundary="periodic"), _asym((3, 3), 7)
    steps = (0, 20, 45)
    counts, absorbed = ensemble(tank, prop, 1500, steps, 64, seed=12, skip_ahead=True)
    check_unbiased(counts, absorbed, tank, prop, steps, 1500)


def test_a_wrong_process_fails_the_check():
    """The bound has power: a mirrored kernel (cross-correlation instead of convolution) is caught."""
    tank, prop = dc.Tank(_field((9, 8))), _asym((3, 3), 2)
    mirrored = dc.Propagator(np.asarray(prop.weights)[::-1, ::-1])
    counts, absorbed = ensemble(tank, mirrored, 1500, STEPS, 64, seed=11)
    with pytest.raises(AssertionError):
        check_unbiased(counts, absorbed, tank, prop, STEPS, 1500)


def test_error_falls_like_n_to_the_minus_half():
    tank = dc.Tank(_field((16, 16), seed=3), boundary="reflect")
    prop = dc.Propagator.gaussian(0.9, ndim=2)
    ref = dc.simulate(tank, prop, 10).final
    sizes = [10**3, 10**4, 10**5, 10**6]
    errors = [
        dc.rel_l2_error(
            dc.simulate(tank, prop, 10, method="particles", n_particles=n, key=jax.random.key(n)).final, ref
        )
        for n in sizes
    ]
    slope, _ = dc.fit_order(sizes, errors)
    assert abs(slope - dc.methods.get("particles").order(tank, prop).exponent) < 0.1, (slope, errors)


@pytest.mark.parametrize("skip", [True, False])
def test_mean_squared_displacement_is_2_d_t(skip):
    """Tracked particles in a free tank: per-axis MSD = 2 D t within 3 standard errors."""
    d0, d1 = np.arange(-1, 2)[:, None], np.arange(-2, 3)[None, :]
    prop = dc.Propagator.from_logits(-(d0**2) / (2 * 0.6**2) - d1**2 / (2 * 1.3**2))  # anisotropic, no drift
    tank = dc.Tank(_field((16, 16)), boundary="periodic", dx=0.5)
    dt, k = 0.1, 4000
    res = dc.simulate(
        tank,
        prop,
        60,
        method="particles",
        save_every=20,
        dt=dt,
        n_particles=k,
        track=k,
        key=jax.random.key(5),
        skip_ahead=skip,
    )
    assert res.meta["skip_ahead"] is skip
    tracks = res.extras["tracks"]
    assert tracks.shape == (len(res.steps), k, 2)
    disp2 = ((tracks - tracks[0]) * tank.dx) ** 2  # (F, K, ndim), physical units
    d = np.diag(np.asarray(prop.diffusivity(dx=tank.dx, dt=dt)))
    assert d[1] > 3 * d[0]
    for f, t in enumerate(res.times[1:], start=1):
        msd = disp2[f].mean(axis=0)
        se = disp2[f].std(axis=0, ddof=1) / np.sqrt(k)
        assert np.all(np.abs(msd - 2 * d * t) < 3 * se), (t, msd, 2 * d * t, se)


def test_tracks_are_consistent_with_the_frames():
    """Unwrapped tracks fold back into the cells the particles occupy; absorbed tracks turn NaN."""
    tank = dc.Tank(_field((6, 5)), boundary=("periodic", "absorb"))
    prop = _asym((3, 3), 8)
    n = 300
    res = dc.simulate(tank, prop, 12, method="particles", save_every=4, n_particles=n, track=n, key=jax.random.key(9))
    tracks = res.extras["tracks"]
    for f in range(len(res.steps)):
        alive = ~np.isnan(tracks[f, :, 0])
        assert alive.sum() == res.meta["n_particles"] - round(res.absorbed[f] / float(tank.mass) * n)
        cells = np.stack([np.mod(tracks[f, alive, 0], 6), tracks[f, alive, 1]]).astype(int)
        hist = np.zeros((6, 5), int)
        np.add.at(hist, tuple(cells), 1)
        np.testing.assert_array_equal(hist, np.rint(res.frames[f] / (float(tank.mass) / n)).astype(int))


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "absorb"])
def test_exact_bookkeeping(boundary):
    tank = dc.Tank(_field((8, 7)), boundary=boundary).with_board(1, 3, gap=(2, 4))
    res = dc.simulate(
        tank, _asym((3, 3), 1), 15, method="particles", save_every=5, n_particles=12345, key=jax.random.key(2)
    )
    counts = res.meta["particles_remaining"] + res.meta["particles_absorbed"]
    assert counts == 12345
    if boundary != "absorb":
        assert res.meta["particles_absorbed"] == 0
    np.testing.assert_allclose(res.mass() + res.absorbed, float(tank.mass), rtol=RTOL[res.frames.dtype])
    cells = res.frames / (float(tank.mass) / 12345)
    np.testing.assert_allclose(cells, np.rint(cells), atol=1e-6)
    assert np.all(res.frames[:, tank.walls] == 0)


def test_float32_tank_stays_float32():
    tank = dc.Tank(np.asarray(_field((8, 8)), np.float32))
    res = dc.simulate(tank, dc.Propagator.gaussian(0.7), 5, method="particles", n_particles=1000, key=jax.random.key(0))
    assert res.frames.dtype == np.float32
    np.testing.assert_allclose(res.mass(), float(tank.mass), rtol=RTOL[np.dtype(np.float32)])


def test_same_key_same_result_and_raw_keys():
    tank, prop = dc.Tank(_field((8, 8))), _asym((3, 3), 1)

    def run(key):
        return dc.simulate(tank, prop, 6, method="particles", n_particles=2000, key=key).frames

    a, b = run(jax.random.key(4)), run(jax.random.key(4))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, run(jax.random.PRNGKey(4)))
    assert not np.array_equal(a, run(jax.random.key(5)))


def test_compare_runs_the_stochastic_methods():
    tank, prop = dc.Tank(_field((10, 10))), dc.Propagator.gaussian(0.8)
    cmp = dc.compare(tank, prop, 8, methods=("propagator", "particles"), n_particles=10**5, key=jax.random.key(1))
    row = {r["method"]: r for r in cmp.table}["particles"]
    assert 0 < row["rel_l2_error"] < 0.05
    assert row["mass_balance_error"] < 1e-9


BAD = [
    (dict(n_particles=None), TypeError, "n_particles"),
    (dict(n_particles=0), ValueError, "n_particles"),
    (dict(n_particles=-3), ValueError, "n_particles"),
    (dict(n_particles=2.5), TypeError, "n_particles"),
    (dict(n_particles=True), TypeError, "n_particles"),
    (dict(n_particles=2**31), ValueError, "2147483647"),
    (dict(key=None), TypeError, "key"),
    (dict(key=0), TypeError, "key"),
    (dict(key=np.array([0, 1], np.int64)), TypeError, "key"),
    (dict(track=-1), ValueError, "track"),
    (dict(track=11), ValueError, "track"),
    (dict(skip_ahead=True), ValueError, "periodic"),
    (dict(skip_ahead="yes"), TypeError, "skip_ahead"),
    (dict(colour="red"), TypeError, "colour"),
]


@pytest.mark.parametrize("kwargs, error, words", BAD)
def test_bad_input(kwargs, error, words):
    check_bad_input("particles", kwargs, error, words)


def test_large_n_without_x64_says_how_to_enable_it():
    check_large_n_says_how_to_enable_x64("particles", 2**24 + 1)


def test_a_tank_without_mass_is_refused():
    with pytest.raises(ValueError, match="mass"):
        dc.simulate(
            dc.Tank(np.zeros((4, 4))),
            dc.Propagator.box(3),
            2,
            method="particles",
            n_particles=10,
            key=jax.random.key(0),
        )


def test_memory_does_not_grow_with_steps():
    """The compiled walk holds O(N) state: 100x more steps add less than one array of N particles."""
    tank, prop = dc.Tank(_field((16, 16))), dc.Propagator.gaussian(0.7)
    sizes = []
    n = 4096
    for steps in (10, 1000):
        run = jax.jit(lambda k, steps=steps: dc.rollout(tank, prop, steps, method="particles", key=k, n_particles=n))
        mem = run.lower(jax.random.key(0)).compile().memory_analysis()
        assert mem is not None, "the CPU backend reports a memory analysis"
        sizes.append(mem.temp_size_in_bytes)
    assert sizes[1] - sizes[0] < 4 * n, sizes  # N x steps would be 4 * n * 990 bytes more


def test_categories_of_a_slab_with_its_offset_are_the_slab_of_the_whole_and_follow_the_weights():
    from scipy import stats

    from diffusion_conv.methods import particles as pm

    w = np.array([0.05, 0.2, 0.3, 0.15, 0.3])
    thr = jnp.asarray(pm.thresholds(w))
    key = jax.random.key(8)
    whole = np.asarray(pm.categories(key, 3, thr, 50_001))
    for start, size in [(0, 17), (1, 1000), (12_345, 20_000), (50_000, 1)]:
        part = np.asarray(pm.categories(key, 3, thr, size, offset=start))
        np.testing.assert_array_equal(part, whole[start : start + size])
    traced = jax.jit(lambda o: pm.categories(key, 3, thr, 1000, offset=o))(jnp.uint32(7))
    np.testing.assert_array_equal(np.asarray(traced), whole[7:1007])
    assert not np.array_equal(np.asarray(pm.categories(key, 4, thr, 1000)), whole[:1000])  # another stream
    counts = np.bincount(whole, minlength=len(w))
    assert stats.chisquare(counts, w * whole.size).pvalue > 1e-4

"""Batches: stacks of tanks, banks of kernels, colour channels and key ensembles, broadcast in one run."""

import jax
import numpy as np
import pytest
from helpers import RTOL

import diffusion_conv as dc

ALL = list(dc.METHODS)


def _tanks(n, shape=(9, 8), seed=0, boundary="periodic"):
    rng = np.random.default_rng(seed)
    return [dc.Tank(rng.uniform(0.1, 1.0, shape), boundary=boundary) for _ in range(n)]


def _bank():
    return dc.Propagator.stack(
        [
            dc.Propagator.box(3),
            dc.Propagator.gaussian(0.6, radius=1),
            dc.Propagator.gaussian(1.1, radius=1),
            dc.Propagator.from_logits(np.eye(3)),
        ]
    )


def _kw(method):
    return dict(n_particles=3000, key=jax.random.key(4)) if dc.methods.get(method).stochastic else {}


def test_stacks_have_batch_shapes_and_reshape():
    tanks = dc.Tank.stack(_tanks(3))
    assert tanks.batch_shape == (3,) and tanks.shape == (9, 8) and tanks.ndim == 2
    assert tanks.reshape_batch((3, 1)).batch_shape == (3, 1)
    np.testing.assert_allclose(np.asarray(tanks.mass), [float(t.mass) for t in _tanks(3)])
    bank = _bank()
    assert bank.batch_shape == (4,) and bank.kernel_shape == (3, 3) and bank.radius == (1, 1)
    assert np.asarray(bank.mean).shape == (4, 2) and np.asarray(bank.covariance).shape == (4, 2, 2)
    np.testing.assert_allclose(np.asarray(bank[1].weights), np.asarray(dc.Propagator.gaussian(0.6, radius=1).weights))
    with pytest.raises(ValueError, match="cannot reshape a batch of shape \\(3,\\)"):
        tanks.reshape_batch((2, 2))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: dc.Tank.stack([dc.Tank(np.ones((4, 4))), dc.Tank(np.ones((4, 5)))]), "grid shape"),
        (lambda: dc.Tank.stack([dc.Tank(np.ones(4)), dc.Tank(np.ones(4), boundary="absorb")]), "boundary"),
        (lambda: dc.Tank.stack([dc.Tank(np.ones(4)), dc.Tank(np.ones(4), dx=2.0)]), "dx"),
        (lambda: dc.Tank.stack([dc.Tank(np.ones((4, 4))), dc.Tank(np.ones((4, 4))).with_board(0, 2)]), "walls"),
        (lambda: dc.Propagator.stack([dc.Propagator.box(3), dc.Propagator.box(5)]), "kernel shape"),
        (lambda: dc.Tank.stack([]), "non-empty sequence"),
    ],
)
def test_mismatched_stacks_are_refused_naming_what_differs(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_colour_channels_are_a_batch_of_three():
    rgb = dc.Tank.from_image(dc.scenarios.TEST_IMAGE_RGB, channels=True)
    assert rgb.batch_shape == (3,) and rgb.shape == (128, 128)
    import imageio.v3 as iio

    pic = iio.imread(dc.scenarios.TEST_IMAGE_RGB).astype(float) / 255
    for c in range(3):
        np.testing.assert_allclose(np.asarray(rgb.concentration[c]), pic[..., c], rtol=0, atol=1e-12)
    rgba = np.concatenate([pic, np.ones(pic.shape[:2] + (1,))], axis=-1)
    assert dc.Tank.from_image(rgba, channels=True).batch_shape == (3,)  # alpha dropped
    assert dc.Tank.from_image(pic[..., 0], channels=True).batch_shape == (1,)


@pytest.mark.parametrize("method", ALL)
def test_every_member_equals_its_own_run(method):
    tanks = _tanks(3, boundary="periodic")
    stack = dc.Tank.stack(tanks).reshape_batch((3, 1))
    bank = _bank()
    res = dc.simulate(stack, bank, 6, method=method, save_every=3, **_kw(method))
    assert res.frames.shape == (3, 3, 4, 9, 8)
    assert res.absorbed.shape == (3, 3, 4) and res.mass().shape == (3, 3, 4)
    stochastic = dc.methods.get(method).stochastic
    for i in range(3):
        for j in range(4):
            single = dc.simulate(tanks[i], bank[j], 6, method=method, save_every=3, **_kw(method))
            if stochastic:
                np.testing.assert_array_equal(res.frames[:, i, j], single.frames)
            else:
                np.testing.assert_allclose(res.frames[:, i, j], single.frames, rtol=0, atol=RTOL[single.frames.dtype])
            np.testing.assert_allclose(res.mass()[:, i, j], single.mass(), rtol=1e-12)


@pytest.mark.parametrize("method", [m for m in ALL if dc.methods.get(m).stochastic])
def test_a_batch_of_keys_is_an_ensemble_bit_for_bit(method):
    tank = _tanks(1, boundary="reflect")[0]
    prop = dc.Propagator.gaussian(0.8, radius=1)
    keys = jax.random.split(jax.random.key(2), 5)
    res = dc.simulate(tank, prop, 5, method=method, n_particles=4000, key=keys)
    assert res.frames.shape == (2, 5, 9, 8)
    for i, k in enumerate(keys):
        np.testing.assert_array_equal(
            res.frames[:, i], dc.simulate(tank, prop, 5, method=method, n_particles=4000, key=k).frames
        )
    roll, _ = dc.rollout(tank, prop, 5, method=method, n_particles=4000, key=keys)
    np.testing.assert_array_equal(np.asarray(roll), res.frames)


def test_rollout_broadcasts_like_simulate():
    stack = dc.Tank.stack(_tanks(2)).reshape_batch((2, 1))
    frames, absorbed = dc.rollout(stack, _bank(), 4, save_every=2)
    assert frames.shape == (3, 2, 4, 9, 8) and absorbed.shape == (3, 2, 4)
    res = dc.simulate(stack, _bank(), 4, save_every=2)
    np.testing.assert_allclose(np.asarray(frames), res.frames, rtol=0, atol=1e-13)


def test_bad_batches_are_refused_before_work():
    stack, bank = dc.Tank.stack(_tanks(3)), _bank()
    with pytest.raises(ValueError, match=r"do not broadcast.*tank \(3,\), prop \(4,\)"):
        dc.simulate(stack, bank, 2)
    with pytest.raises(ValueError, match="batch of keys .* stochastic methods only"):
        dc.simulate(stack[0], bank[0], 2, key=jax.random.split(jax.random.key(0), 3))


def test_memory_check_counts_the_batch(monkeypatch):
    monkeypatch.setenv("DIFFUSION_CONV_MEMORY_LIMIT", str(64 * 2**20))
    tank = dc.Tank(np.ones((128, 128)))
    dc.simulate(tank, dc.Propagator.box(3), 100, save_every=10)  # one member fits
    stack = dc.Tank.stack([tank] * 64)
    with pytest.raises(ValueError, match="64 x 16384 cells"):
        dc.simulate(stack, dc.Propagator.box(3), 100, save_every=10)


def test_compare_runs_a_batch():
    stack = dc.Tank.stack(_tanks(2, boundary="reflect"))
    cmp = dc.compare(stack, dc.Propagator.box(3), 8, methods=("propagator", "image", "counts"), n_particles=2000)
    rows = {r["method"]: r for r in cmp.table}
    assert rows["image"]["max_abs_error"] < 1e-12
    assert cmp.results["counts"].frames.shape == (2, 2, 9, 8)


def test_rollout_of_a_key_batch_under_jit_is_the_ensemble():
    tank = _tanks(1, boundary="reflect")[0]
    prop = dc.Propagator.gaussian(0.8, radius=1)
    keys = jax.random.split(jax.random.key(5), 3)
    frames = jax.jit(lambda ks: dc.rollout(tank, prop, 4, method="particles", n_particles=2000, key=ks)[0])(keys)
    res = dc.simulate(tank, prop, 4, method="particles", n_particles=2000, key=keys)
    np.testing.assert_array_equal(np.asarray(frames), res.frames)


@pytest.mark.parametrize(
    "method, groups",
    [
        ("propagator", 2),
        pytest.param("particles", 1, marks=pytest.mark.slow),  # compiling a batch: 6 s
        pytest.param("counts", 2, marks=pytest.mark.slow),
        ("spectral", 1),
    ],
)
def test_a_run_prepares_once_per_group_of_members(monkeypatch, method, groups):
    """The plan prepares each group of members that take one path once; the driver, the memory estimate,
    the order and Result.meta read what it prepared. The bank's box and Gaussian kernels are separable, its
    eye is not: the propagator and counts run them in two groups; particles and spectral take one path."""
    m = dc.methods.get(method)
    calls = []
    real = type(m).prepare

    def counted(self, *args, **kwargs):
        calls.append(args[2])  # the group's batch
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(m), "prepare", counted)
    stack = dc.Tank.stack(_tanks(2)).reshape_batch((2, 1))
    res = dc.simulate(stack, _bank(), 4, method=method, save_every=2, **_kw(method))
    assert res.frames.shape == (3, 2, 4, 9, 8)
    assert len(calls) == groups and sum(int(np.prod(b)) for b in calls) == 8, calls
    calls.clear()
    dc.simulate(stack[0, 0], _bank()[0], 4, method=method, save_every=2, **_kw(method))
    assert calls == [(1,)]

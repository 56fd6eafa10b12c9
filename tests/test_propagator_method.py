"""The deterministic propagator method: conservation, orientation, spreading, walls, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import RTOL

import diffusion_conv as dc

SHAPES = {1: (40,), 2: (14, 12), 3: (7, 6, 8)}


def kernel(name, ndim, seed=0):
    if name == "gaussian":
        return dc.Propagator.gaussian(0.8, ndim=ndim, radius=1)
    rng = np.random.default_rng(seed + ndim)
    size = (5,) + (3,) * (ndim - 1) if name == "asymmetric-r2" else (3,) * ndim
    return dc.Propagator.from_logits(rng.normal(size=size))


def random_tank(ndim, boundary, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return dc.Tank(rng.random(SHAPES[ndim]).astype(dtype), boundary=boundary)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("boundary", ["reflect", "periodic", "absorb"])
@pytest.mark.parametrize("kname", ["gaussian", "asymmetric", "asymmetric-r2"])
def test_mass_conserved_or_accounted_over_10000_steps(ndim, boundary, kname):
    tank = random_tank(ndim, boundary)
    res = dc.simulate(tank, kernel(kname, ndim), 10_000, save_every=2_500)
    m0 = float(tank.mass)
    total = res.mass() + res.absorbed
    np.testing.assert_allclose(total, m0, rtol=1e-11)
    if boundary == "absorb":
        assert res.absorbed[-1] > 0.5 * m0  # most of it has left by now
        assert np.all(np.diff(res.absorbed) >= 0)
    else:
        np.testing.assert_array_equal(res.absorbed, 0.0)
    assert np.all(res.frames >= 0)
    np.testing.assert_array_equal(res.steps, [0, 2500, 5000, 7500, 10000])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mass_per_dtype(dtype):
    tank = random_tank(2, ("reflect", "periodic"), dtype=dtype)
    res = dc.simulate(tank, kernel("asymmetric", 2), 1000, save_every=500)
    assert res.frames.dtype == dtype
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(res.mass(), float(tank.mass), rtol=200 * eps * np.sqrt(1000))


def test_orientation_more_weight_on_plus_x_moves_mass_to_plus_x():
    n = 101
    c = np.zeros(n)
    c[50] = 1.0
    prop = dc.Propagator(np.array([0.1, 0.3, 0.6]))  # mean +0.5 cells per step
    res = dc.simulate(dc.Tank(c, boundary="periodic"), prop, 40)
    x = np.arange(n)
    com = (res.final * x).sum() / res.final.sum()
    assert com == pytest.approx(50 + 40 * 0.5, abs=1e-10)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_covariance_of_a_point_source_grows_as_n_times_kernel_covariance(ndim):
    shape = {1: (81,), 2: (41, 45), 3: (25, 23, 27)}[ndim]
    c = np.zeros(shape)
    centre = tuple(s // 2 for s in shape)
    c[centre] = 1.0
    prop = kernel("asymmetric", ndim, seed=5)
    n = 9  # the support (n cells each way) stays inside the tank: nothing wraps
    res = dc.simulate(dc.Tank(c, boundary="periodic"), prop, n)
    f = res.final
    coords = np.stack(np.indices(shape), axis=-1).reshape(-1, ndim).astype(float)
    w = f.reshape(-1)
    mean = w @ coords
    cen = coords - mean
    cov = (cen * w[:, None]).T @ cen
    np.testing.assert_allclose(mean - np.array(centre), n * np.asarray(prop.mean), atol=1e-10)
    np.testing.assert_allclose(cov, n * np.asarray(prop.covariance), atol=1e-10)


IMAGE_CASES = [(b, d) for b in ("reflect", "periodic", "absorb") for d in (1, 2, 3)] + [
    (("absorb", "reflect"), 2),
    (("periodic", "absorb", "reflect"), 3),
]


@pytest.mark.parametrize("boundary, ndim", IMAGE_CASES)
def test_equals_image_convolution_for_symmetric_kernels(boundary, ndim):
    w = np.random.default_rng(ndim).random((5,) + (3,) * (ndim - 1))
    for axis in range(ndim):  # symmetrise under each axis's mirror
        w = w + np.flip(w, axis=axis)
    prop = dc.Propagator(w / w.sum())
    assert prop.is_symmetric
    tank = random_tank(ndim, boundary, seed=7)
    a = dc.simulate(tank, prop, 200, method="propagator", save_every=50)
    b = dc.simulate(tank, prop, 200, method="image", save_every=50)
    scale = np.abs(a.frames).max()
    np.testing.assert_allclose(a.frames, b.frames, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(a.absorbed, b.absorbed, rtol=1e-10, atol=1e-12)


def test_asymmetric_kernel_at_reflecting_walls_image_loses_mass_propagator_does_not():
    tank = dc.Tank.two_compartment((32, 32), boundary="reflect")
    prop = dc.Propagator.from_kernel(np.array([[0.0, 0, 0], [0, 0, 1.5], [0, 0, 0]]))  # drift toward +axis1
    a = dc.simulate(tank, prop, 200, method="propagator")
    b = dc.simulate(tank, prop, 200, method="image")
    m0 = float(tank.mass)
    assert abs(a.mass()[-1] - m0) < 1e-12 * m0
    assert abs(b.mass()[-1] - m0) > 1e-2 * m0


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_closed_board_keeps_far_side_empty(radius):
    c = np.zeros((12, 20))
    c[:, :8] = 1.0
    tank = dc.Tank(c, boundary="reflect").with_board(axis=1, index=9)
    prop = dc.Propagator.gaussian(1.2, ndim=2, radius=radius)
    res = dc.simulate(tank, prop, 300)
    assert np.all(res.final[:, 10:] == 0.0)
    assert res.final[:, :9].sum() == pytest.approx(float(tank.mass), rel=1e-12)
    # with a gap the salt gets through
    open_tank = dc.Tank(c, boundary="reflect").with_board(axis=1, index=9, gap=(4, 7))
    res = dc.simulate(open_tank, prop, 300)
    assert res.final[:, 10:].sum() > 0.05 * float(open_tank.mass)


def test_uniform_field_in_each_region_is_stationary():
    c = np.zeros((15, 16))
    c[:, :6] = 2.0
    c[:, 7:] = 0.5
    walls = np.zeros(c.shape, bool)
    walls[:, 6] = True
    walls[3:9, 11] = True  # an obstacle inside the right region
    c[walls] = 0
    # periodic along the board (axis 0) keeps the two regions apart; along axis 1 it would join them
    tank = dc.Tank(c, boundary=("periodic", "reflect"), walls=walls)
    w = np.random.default_rng(1).random((5, 5))
    w = w + np.flip(w, 0)
    w = w + np.flip(w, 1)
    res = dc.simulate(tank, dc.Propagator(w / w.sum()), 500)
    np.testing.assert_allclose(res.final, c, atol=1e-13)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    c0 = jnp.asarray(rng.random((9, 8)))
    logits0 = jnp.asarray(rng.normal(size=(3, 3)))
    target = jnp.asarray(rng.random((9, 8)))
    walls = np.zeros((9, 8), bool)
    walls[4, 2:6] = True
    c0 = jnp.where(jnp.asarray(walls), 0.0, c0)

    def loss(logits, field):
        prop = dc.Propagator.from_logits(logits)
        out = dc.propagate(field, prop, 7, boundary=("reflect", "absorb"), walls=walls)
        return jnp.sum((out - target) ** 2)

    g_logits, g_field = jax.grad(loss, argnums=(0, 1))(logits0, c0)
    h = 1e-6
    for idx in [(0, 0), (1, 2), (2, 1)]:
        e = jnp.zeros((3, 3)).at[idx].set(h)
        fd = (loss(logits0 + e, c0) - loss(logits0 - e, c0)) / (2 * h)
        assert float(g_logits[idx]) == pytest.approx(float(fd), rel=1e-6)
    for idx in [(0, 0), (3, 3), (8, 7)]:
        e = jnp.zeros((9, 8)).at[idx].set(h)
        fd = (loss(logits0, c0 + e) - loss(logits0, c0 - e)) / (2 * h)
        assert float(g_field[idx]) == pytest.approx(float(fd), rel=1e-6)


def test_propagate_matches_simulate_and_checks_arguments():
    tank = random_tank(2, "periodic")
    prop = kernel("asymmetric", 2)
    res = dc.simulate(tank, prop, 17)
    out = dc.propagate(tank.concentration, prop, 17, boundary="periodic")
    np.testing.assert_allclose(np.asarray(out), res.final, rtol=RTOL[np.dtype(np.float64)])
    with pytest.raises(ValueError, match="prop is 1-D but field is 2-D"):
        dc.propagate(tank.concentration, kernel("asymmetric", 1), 3)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        dc.propagate(tank.concentration, prop, -1)


def test_progress_bar_run_gives_the_same_frames(capsys):
    tank = random_tank(2, "reflect")
    prop = kernel("asymmetric", 2)
    a = dc.simulate(tank, prop, 230, save_every=20)
    b = dc.simulate(tank, prop, 230, save_every=20, progress=True)
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(a.frames, b.frames, rtol=1e-14, atol=0)


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "absorb", ("periodic", "absorb", "reflect")])
def test_separable_kernels_take_the_axis_by_axis_path_and_match_the_naive_process(boundary):
    from reference import transition_matrix

    rng = np.random.default_rng(11)
    factors = [rng.random(3), rng.random(5), rng.random(3)]  # asymmetric, radius (1, 2, 1)
    w = np.multiply.outer(np.multiply.outer(factors[0], factors[1]), factors[2])
    prop = dc.Propagator(w / w.sum())
    tank = dc.Tank(rng.random((4, 5, 3)), boundary=boundary)
    res = dc.simulate(tank, prop, 3)
    assert res.meta["separable"] is True
    P = transition_matrix(tank.shape, np.asarray(prop.weights), tank.boundary)
    c = np.asarray(tank.concentration).ravel()
    for _ in range(3):
        c = P @ c
    np.testing.assert_allclose(res.final.ravel(), c, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(res.absorbed[-1], float(tank.mass) - c.sum(), atol=1e-13)
    walled = dc.Tank(np.asarray(tank.concentration), boundary=boundary).with_board(axis=0, index=1)
    assert dc.simulate(walled, prop, 1).meta["separable"] is False


def test_gradient_through_the_wall_patch_matches_finite_differences():
    rng = np.random.default_rng(11)
    walls = np.zeros((32, 10), bool)
    walls[16] = True
    walls[16, 4:6] = False
    c0 = rng.random((32, 10))
    c0[walls] = 0.0
    target = jnp.asarray(rng.random((32, 10)))
    prop = dc.Propagator.gaussian(0.8, ndim=2, radius=1)
    res = dc.simulate(dc.Tank(c0, boundary=("reflect", "absorb"), walls=walls), prop, 2)
    assert res.meta["walls"] == "patch"

    def loss(c):
        out = dc.propagate(c, prop, 5, boundary=("reflect", "absorb"), walls=walls)
        return jnp.sum((out - target) ** 2)

    g = jax.grad(loss)(jnp.asarray(c0))
    h = 1e-6
    for idx in [(15, 3), (17, 0), (0, 9)]:  # beside the board, at its end, in a corner
        e = jnp.zeros(c0.shape).at[idx].set(h)
        fd = (loss(c0 + e) - loss(c0 - e)) / (2 * h)
        assert float(g[idx]) == pytest.approx(float(fd), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mass_held_and_walls_dry_over_many_steps_on_the_wall_patch(dtype):
    walls = np.zeros((64, 12), bool)
    walls[32] = True
    walls[32, 5:7] = False
    c0 = np.zeros((64, 12), dtype)
    c0[:32] = 1.0
    tank = dc.Tank(c0, boundary="reflect", walls=walls)
    res = dc.simulate(tank, dc.Propagator.gaussian(1.0, ndim=2, radius=2), 4000, save_every=1000)
    assert res.meta["walls"] == "patch"
    np.testing.assert_allclose(res.mass(), float(tank.mass), rtol=RTOL[np.dtype(dtype)] * 20)
    assert np.all(res.frames >= 0)
    np.testing.assert_array_equal(res.frames[:, walls], 0.0)
    below = res.frames[-1, 33:].sum() / res.frames[-1].sum()
    assert 0.3 < below < 0.5  # salt has come through the gap, not yet evened out

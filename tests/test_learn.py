"""fit_propagator: the kernel recovered from frames, its moments and errors, refusals, fit_file."""

import json

import jax
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv.learn import Fit, fit_file, fit_propagator

# an asymmetric 3x3 jump distribution: drift toward -axis0 and +axis1, correlated axes
TRUE = np.array([[0.02, 0.05, 0.20], [0.08, 0.30, 0.15], [0.03, 0.07, 0.10]])
SHAPE = (48, 48)


def true_moments(w):
    """Mean and covariance of a 2-D jump distribution, computed here from its definition."""
    r0, r1 = w.shape[0] // 2, w.shape[1] // 2
    d0, d1 = np.meshgrid(np.arange(-r0, r0 + 1), np.arange(-r1, r1 + 1), indexing="ij")
    d = np.stack([d0.ravel(), d1.ravel()], axis=1).astype(float)
    p = w.ravel()
    mean = p @ d
    c = d - mean
    return mean, (c * p[:, None]).T @ c


def field(seed=1, shape=SHAPE):
    return np.random.default_rng(seed).random(shape)


@pytest.fixture(scope="module")
def clean_frames():
    res = dc.simulate(dc.Tank(field(), boundary="reflect"), dc.Propagator(TRUE), 4, save_every=1)
    assert res.frames.shape == (5,) + SHAPE
    return res.frames


def test_clean_asymmetric_kernel_is_recovered(clean_frames):
    fit = fit_propagator(clean_frames, radius=1, boundary="reflect")
    assert isinstance(fit, Fit)
    np.testing.assert_allclose(np.asarray(fit.propagator.weights), TRUE, rtol=0, atol=1e-6)
    mean, cov = true_moments(TRUE)
    np.testing.assert_allclose(fit.mean, mean, atol=1e-6)
    np.testing.assert_allclose(fit.covariance, cov, atol=1e-6)
    assert fit.loss[0] > 1e-3 and fit.final_loss < 1e-10
    assert len(fit.loss) == fit.iterations + 1 and np.all(np.diff(fit.loss) <= 0)


def test_the_fit_sees_the_direction_of_the_jump(clean_frames):
    # the mirror image of the kernel explains the data badly: convolution, not cross-correlation
    flipped = np.flip(TRUE)
    fit = fit_propagator(clean_frames, radius=1, init=dc.Propagator(flipped), maxiter=1)
    assert fit.loss[0] > 0.05
    assert fit.loss[-1] < fit.loss[0]


def test_larger_radius_puts_no_weight_on_the_extra_jumps(clean_frames):
    fit = fit_propagator(clean_frames, radius=2)
    w = np.asarray(fit.propagator.weights)
    assert w.shape == (5, 5)
    ring = w.copy()
    ring[1:4, 1:4] = 0
    assert ring.max() < 1e-4
    np.testing.assert_allclose(w[1:4, 1:4], TRUE, atol=1e-4)
    mean, cov = true_moments(TRUE)
    np.testing.assert_allclose(fit.mean, mean, atol=1e-4)
    np.testing.assert_allclose(fit.covariance, cov, atol=1e-4)


def test_several_steps_between_frames_give_the_one_step_kernel():
    res = dc.simulate(dc.Tank(field(2), boundary="reflect"), dc.Propagator(TRUE), 6, save_every=3)
    fit = fit_propagator(res.frames, steps_between=3, radius=1)
    np.testing.assert_allclose(np.asarray(fit.propagator.weights), TRUE, atol=1e-5)
    mean, cov = true_moments(TRUE)
    np.testing.assert_allclose(fit.mean, mean, atol=1e-5)
    np.testing.assert_allclose(fit.covariance, cov, atol=1e-5)


def test_particle_data_recovers_the_moments_within_their_errors():
    tank = dc.Tank(field(), boundary="reflect")
    res = dc.simulate(
        tank, dc.Propagator(TRUE), 4, method="particles", save_every=1, n_particles=10**6, key=jax.random.key(0)
    )
    fit = fit_propagator(res.frames, radius=1)
    mean, cov = true_moments(TRUE)
    # the errors are small enough to matter: a drift wrong by 0.015 cells/step would be caught
    assert np.all(fit.mean_se > 0) and np.all(fit.mean_se < 0.005)
    assert np.all(np.abs(fit.mean - mean) < 3 * fit.mean_se)
    assert np.linalg.norm(fit.covariance - cov) < 0.05 * np.linalg.norm(cov)
    assert np.all(np.abs(np.diag(fit.covariance) - np.diag(cov)) < 0.05 * np.diag(cov))
    assert np.all(np.abs(fit.covariance - cov) < 4 * fit.covariance_se)


def test_units_json_and_summary(clean_frames):
    fit = fit_propagator(clean_frames, radius=1, dx=0.5, dt=2.0)
    mean, cov = true_moments(TRUE)
    np.testing.assert_allclose(fit.drift, mean * 0.5 / 2.0, atol=1e-6)
    np.testing.assert_allclose(fit.diffusivity, cov * 0.25 / 4.0, atol=1e-6)
    d = json.loads(json.dumps(fit.to_dict()))
    np.testing.assert_allclose(d["weights"], TRUE, atol=1e-6)
    assert d["dx"] == 0.5 and d["dt"] == 2.0 and d["radius"] == [1, 1] and d["steps_between"] == 1
    assert len(d["loss"]) == len(fit.loss)
    text = fit.summary()
    assert "diffusion tensor" in text and f"{TRUE[1, 1]:.1f}" in text


def test_fit_file_reads_spacing_boundary_and_units(tmp_path):
    tank = dc.Tank(field(), boundary="reflect", dx=0.5)
    res = dc.simulate(tank, dc.Propagator(TRUE), 4, save_every=1, dt=2.0)
    path = tmp_path / "run.npz"
    res.save(path)
    fit = fit_file(path, radius=1)
    np.testing.assert_allclose(np.asarray(fit.propagator.weights), TRUE, atol=1e-6)
    _, cov = true_moments(TRUE)
    np.testing.assert_allclose(fit.diffusivity, cov * 0.25 / 4.0, atol=1e-6)
    assert fit.boundary == ("reflect", "reflect") and fit.steps_between == 1
    with pytest.raises(ValueError, match="steps_between=2 disagrees"):
        fit_file(path, steps_between=2)
    uneven = dc.simulate(tank, dc.Propagator(TRUE), 5, save_every=2)
    uneven.save(tmp_path / "uneven.npz")
    with pytest.raises(ValueError, match=r"steps_between=2 disagrees.*unevenly spaced.*\[2, 2, 1\]"):
        fit_file(tmp_path / "uneven.npz", steps_between=2)
    walled = dc.simulate(tank.with_board(axis=1, index=20, gap=(10, 30)), dc.Propagator(TRUE), 2, save_every=1)
    walled.save(tmp_path / "walled.npz")
    with pytest.raises(ValueError, match="wall cells"):
        fit_file(tmp_path / "walled.npz")
    with pytest.raises(ValueError, match="does not exist"):
        fit_file(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "frames, kwargs, error, match",
    [
        ([np.ones((8, 8)), np.ones((8, 9))], {}, ValueError, r"frames\[1\] is \(8, 9\)"),
        ([np.ones((8, 8))], {}, ValueError, "at least two frames"),
        ([np.ones(8), -np.ones(8)], {}, ValueError, r"frames\[1\] must be non-negative"),
        ([np.ones(8), np.full(8, np.nan)], {}, ValueError, r"frames\[1\] must be finite"),
        ([np.ones(8), np.arange(8.0)], {"steps_between": 0}, ValueError, "steps_between must be >= 1"),
        ([np.ones(8), np.arange(8.0)], {"steps_between": 1.5}, TypeError, "steps_between must be an integer"),
        ([np.ones(8), np.arange(8.0)], {"radius": 0}, ValueError, "radius must be >= 1"),
        ([np.ones(8), np.arange(8.0)], {"method": "sgd"}, ValueError, "method 'sgd' is unknown"),
        ([np.ones(8), np.arange(8.0)], {"init": np.zeros(5)}, ValueError, "init logits have shape"),
        ([np.ones(8), np.arange(8.0)], {"boundary": "open"}, ValueError, "boundary 'open' is unknown"),
        ("frames.npz", {}, TypeError, "frames must be a sequence"),
        # nothing moves: every kernel explains constant frames equally well
        ([np.ones((8, 8))] * 3, {}, ValueError, "nothing moves"),
        # 4 cells: a radius-3 kernel (7 cells wide) is wider than the frames
        (
            [np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0, 2.0])],
            {"radius": 3},
            ValueError,
            r"too wide for frames of shape \(4,\).*at most 1",
        ),
        # one bump in a corner: 16 cells see it within radius 3, fewer than the 48 free weights
        (
            [np.pad([[1.0]], ((0, 15), (0, 15))), np.pad([[0.5, 0.2], [0.2, 0.1]], ((0, 14), (0, 14)))],
            {"radius": 3},
            ValueError,
            "48 free weights, but only 16 cells",
        ),
        # periodic, varying along axis 1 only: nothing tells the jumps along axis 0 apart
        (
            [np.tile(np.arange(16.0), (16, 1)), np.tile(np.arange(16.0) ** 1.5, (16, 1))],
            {"boundary": "periodic"},
            ValueError,
            "determine only 2 of the 8 free weights",
        ),
    ],
)
def test_bad_input_is_refused(frames, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_propagator(frames, **kwargs)


@pytest.mark.parametrize(
    "frames, radius, match",
    [
        (np.stack([np.pad(np.ones((4, 4)), 6), np.pad(np.full((6, 6), 0.4), 5)]), 10, "too wide"),
        (np.stack([np.pad(np.ones((4, 4)), 6), np.pad(np.full((6, 6), 0.4), 5)]), 20, "too wide"),
        (
            [np.pad([[1.0]], ((0, 15), (0, 15))), np.pad([[0.5, 0.2], [0.2, 0.1]], ((0, 14), (0, 14)))],
            3,
            "only 16 cells",
        ),
    ],
    ids=["radius-10-on-16x16", "radius-20-on-16x16", "corner-bump"],
)
def test_undeterminable_radius_is_refused_before_any_jax_work(monkeypatch, frames, radius, match):
    from diffusion_conv.learn import fitting

    def no_work(*args, **kwargs):
        raise AssertionError("the fit started computing before refusing the radius")

    monkeypatch.setattr(fitting, "design", no_work)
    monkeypatch.setattr(fitting, "value_and_grad", no_work)
    with pytest.raises(ValueError, match=match):
        fit_propagator(frames, radius=radius)

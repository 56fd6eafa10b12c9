"""fit_mobility: a mobility map recovered from frames made by the naive statement of the rule; priors; refusals."""

import numpy as np
import pytest
from reference import mobility_transition_matrix

import diffusion_conv as dc
from diffusion_conv.errors import InputError, InputTypeError
from diffusion_conv.learn import MobilityFit, fit_mobility

N = 24
PROP = dc.Propagator.gaussian(0.8)
Y, X = np.mgrid[:N, :N]
DISC = np.where((Y - 11.5) ** 2 + (X - 11.5) ** 2 < 5.5**2, 0.2, 1.0)
SMOOTH = 0.6 + 0.35 * np.cos(2 * np.pi * X / N) * np.sin(np.pi * Y / N)


def frames(mobility, n_frames=6, steps=2, seed=0):
    """Frames of the expectation by the transition matrix of tests/reference.py (independent of the fit's step)."""
    P = mobility_transition_matrix((N, N), np.asarray(PROP.weights), ("reflect", "reflect"), mobility)
    Pn = np.linalg.matrix_power(P, steps)
    f = np.random.default_rng(seed).random(N * N) * 100  # rough: a gradient across every cell
    f = np.where(np.asarray(mobility).ravel() > 0, f, 0.0)  # solid cells hold nothing
    out = [f]
    for _ in range(n_frames - 1):
        out.append(Pn @ out[-1])
    return np.stack(out).reshape(n_frames, N, N)


def noisy(data, sd, seed=1):
    return np.maximum(data + sd * np.random.default_rng(seed).standard_normal(data.shape), 0.0)


@pytest.fixture(scope="module")
def disc_frames():
    return frames(DISC)


@pytest.fixture(scope="module")
def smooth_frames():
    return frames(SMOOTH)


@pytest.mark.slow
def test_smooth_map_recovered_from_noise_free_frames(smooth_frames):
    fit = fit_mobility(smooth_frames, PROP, steps_between=2, prior="smooth")
    assert isinstance(fit, MobilityFit)
    assert fit.error(SMOOTH) < 0.005
    assert fit.data_loss < 1e-5
    assert 0 < fit.mobility.min() and fit.mobility.max() < 1


@pytest.mark.slow
def test_disc_recovered_from_noise_free_frames(disc_frames):
    fit = fit_mobility(disc_frames, PROP, steps_between=2, prior="tv")
    assert fit.error(DISC) < 0.005
    inside = DISC < 0.5
    assert np.median(fit.mobility[inside]) == pytest.approx(0.2, abs=0.02)
    assert np.median(fit.mobility[~inside]) == pytest.approx(1.0, abs=0.02)
    iou = np.sum((fit.mobility < 0.6) & inside) / np.sum((fit.mobility < 0.6) | inside)
    assert iou > 0.9


@pytest.mark.slow
def test_disc_from_noisy_frames_and_the_priors_effect(disc_frames):
    """Noise of 1% of the peak: the map within 0.03 of the truth (mean absolute) with the total variation prior,
    and the prior at least halves the error of the fit without one."""
    data = noisy(disc_frames, 1.0)
    tv = fit_mobility(data, PROP, steps_between=2, prior="tv")
    bare = fit_mobility(data, PROP, steps_between=2, prior="none")
    assert bare.weight == 0.0 and tv.weight > 0
    # the rule: the weight follows the noise share measured by the first descent (close to the bare fit's loss)
    assert tv.noise_share == pytest.approx(bare.data_loss, rel=0.2)
    assert tv.weight == pytest.approx(3 * tv.noise_share)
    assert tv.error(DISC) < 0.03
    assert tv.error(DISC) < 0.5 * bare.error(DISC)
    # the prior costs fit to the data, a little: the bare fit explains the noisy frames at least as well
    assert bare.data_loss <= tv.data_loss * (1 + 1e-6)


@pytest.mark.slow
def test_smooth_map_from_noisy_frames(smooth_frames):
    data = noisy(smooth_frames, 1.0)
    """Noise of 1% of the peak: within 0.06 of the truth with the smoothness prior, a third of the error without
    one (the bare fit follows the noise: 0.17 here)."""
    fit = fit_mobility(data, PROP, steps_between=2, prior="smooth")
    bare = fit_mobility(data, PROP, steps_between=2, prior="none")
    assert fit.error(SMOOTH) < 0.06
    assert fit.error(SMOOTH) < 0.5 * bare.error(SMOOTH)


def test_the_true_map_explains_noise_free_frames(disc_frames):
    """A start at the truth: the data loss is at rounding (the fit's forward model is the reference's)."""
    init = np.clip(DISC, 1e-6, 1 - 1e-9)
    fit = fit_mobility(disc_frames[:3], PROP, steps_between=2, prior="none", init=init, maxiter=1)
    assert fit.data_loss < 1e-12
    assert fit.loss[0] < 1e-12


def test_walls_stay_solid():
    walls = np.zeros((N, N), bool)
    walls[:, 12] = True
    walls[10:14, 12] = False
    data = frames(np.where(walls, 0.0, 1.0), n_frames=3)
    fit = fit_mobility(data, PROP, steps_between=2, walls=walls, maxiter=40)
    assert np.all(fit.mobility[walls] == 0)
    assert np.all(fit.mobility[~walls] > 0)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(prop=np.ones((3, 3)) / 9), InputTypeError, "prop must be a Propagator"),
        (dict(prop=dc.Propagator.gaussian(0.8, ndim=1)), InputError, "1-D"),
        (dict(prior="l1"), InputError, "prior 'l1' is unknown; allowed: smooth, tv, none"),
        (dict(weight=-1.0), InputError, "weight must be a finite number >= 0"),
        (dict(weight="big"), InputTypeError, "weight must be a non-negative number"),
        (dict(init=np.ones((N, N))), InputError, "init must lie strictly inside (0, 1)"),
        (dict(init=np.full((3, 3), 0.5)), InputError, "shape"),
        (dict(steps_between=0), InputError, "steps_between"),
        (dict(boundary="sticky"), InputError, "sticky"),
        (dict(walls=np.ones((N, N), bool)), InputError, "frames must be 0 inside walls"),
    ],
)
def test_bad_input_is_refused_before_work(kwargs, error, words):
    data = np.random.default_rng(0).random((3, N, N))
    args = dict(prop=PROP)
    args.update(kwargs)
    with pytest.raises(error) as info:
        fit_mobility(data, **args)
    assert words in str(info.value)


def test_frames_that_do_not_change_are_refused():
    with pytest.raises(InputError, match="do not change"):
        fit_mobility(np.ones((3, N, N)), PROP)


def test_exported():
    assert dc.fit_mobility is fit_mobility

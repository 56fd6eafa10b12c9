"""``fit`` on the package's own output: round-off below zero, unevenly spaced frames, batches, the frames'
scale, a descent that starts at the answer."""

import json
import re
import warnings

import jax
import numpy as np
import pytest
from helpers import drift_frames

import diffusion_conv as dc
from diffusion_conv import cli
from diffusion_conv.learn import fit_file, fit_propagator

# an asymmetric 3x3 jump distribution (drift toward -axis0 and +axis1, correlated axes)
TRUE = np.array([[0.02, 0.05, 0.20], [0.08, 0.30, 0.15], [0.03, 0.07, 0.10]])
GAUSS_COV = np.asarray(dc.Propagator.gaussian(1.0, ndim=2).covariance, dtype=float)
# agreement of a fit of exact frames with the truth, per dtype of the frames and the fit
ATOL = {np.dtype(np.float32): 2e-3, np.dtype(np.float64): 1e-6}


def _field(shape=(16, 16), seed=1):
    return np.random.default_rng(seed).random(shape)


def _out(capsys):
    captured = capsys.readouterr()
    return captured.out, [line for line in captured.err.splitlines() if line.strip()]


# -- round-off below zero is the zero it stands for ------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roundoff_below_zero_is_read_as_zero_and_a_real_negative_is_refused(dtype):
    field = np.zeros((16, 32))
    field[:, :8] = _field((16, 8))  # columns 13 and up stay 0 for 4 steps of a radius-1 kernel
    frames = np.asarray(dc.simulate(dc.Tank(field), dc.Propagator(TRUE), 4, save_every=1).frames).astype(dtype)
    assert np.all(frames[:, :, 13:] == 0)
    eps = np.finfo(dtype).eps
    rounded = frames.copy()
    rounded[1, 3, 20] = -3 * eps * np.abs(frames).max()  # what a transform leaves where the field is 0
    rounded[3, 0, 31] = -eps * np.abs(frames).max()
    assert np.min(rounded) < 0
    fit = fit_propagator(rounded)
    ref = fit_propagator(frames)
    np.testing.assert_array_equal(np.asarray(fit.propagator.weights), np.asarray(ref.propagator.weights))
    np.testing.assert_allclose(np.asarray(fit.propagator.weights), TRUE, atol=1e-6)
    for bad in (-1e-3 * np.abs(frames).max(), -1000 * eps * np.abs(frames).max()):
        negative = frames.copy()
        negative[2, 5, 5] = bad
        with pytest.raises(ValueError, match=r"frames\[2\] must be non-negative.*rounding"):
            fit_propagator(negative)
    integers = np.round(frames * 1000).astype(np.int64)
    integers[1, 0, 0] = -1  # integer frames hold no rounding: any negative is refused
    with pytest.raises(ValueError, match=r"frames\[1\] must be non-negative"):
        fit_propagator(integers)


def _least_squares_kernel(frames):
    """The radius-1 kernel of one-step periodic frames by linear least squares with weights summing to 1.

    ``c'(x) = sum_d w[d] c(x - d)``: the column of offset ``d`` is the frame rolled by ``d``; the constraint is
    kept by solving for the last weight's difference from the others (``w_last = 1 - sum(others)``).
    """
    f = np.asarray(frames, dtype=np.float64)
    offs = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    cols = np.stack([np.roll(f[:-1], d, axis=(1, 2)).ravel() for d in offs], axis=1)
    target = f[1:].ravel() - cols[:, -1]
    w, *_ = np.linalg.lstsq(cols[:, :-1] - cols[:, -1:], target, rcond=None)
    return np.append(w, 1.0 - w.sum()).reshape(3, 3)


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_fit_reads_a_spectral_run_of_the_command(tmp_path, capsys, x64):
    npz = tmp_path / "s.npz"
    with jax.enable_x64(x64):
        assert (
            cli.main(
                [
                    "run",
                    "point",
                    "--size",
                    "32",
                    "--steps",
                    "4",
                    "--save-every",
                    "1",
                    "--method",
                    "spectral",
                    "--out",
                    str(npz),
                ]
            )
            == 0
        )
        res = dc.Result.load(npz)
        assert res.frames.dtype == (np.float64 if x64 else np.float32)
        assert res.frames.min() < 0  # the transforms' round-off: what the fit used to refuse
        capsys.readouterr()
        assert cli.main(["fit", str(npz), "--json"]) == 0
    out, err = _out(capsys)
    fit = json.loads(out)
    # the best radius-1 kernel for the 7x7 Gaussian's frames, by another method: linear least squares
    np.testing.assert_allclose(
        np.array(fit["weights"]), _least_squares_kernel(res.frames), atol=2e-4 if not x64 else 1e-7
    )


# -- each pair of frames with its own steps ----------------------------------------------------------
def test_unevenly_spaced_frames_are_fitted_pair_by_pair(tmp_path):
    tank = dc.Tank(_field(), boundary="reflect", dx=0.5)
    res = dc.simulate(tank, dc.Propagator(TRUE), 7, save_at=[1, 3, 4], dt=2.0)
    np.testing.assert_array_equal(res.steps, [0, 1, 3, 4, 7])
    fit = fit_propagator(res.frames, steps_between=(1, 2, 1, 3))
    np.testing.assert_allclose(np.asarray(fit.propagator.weights), TRUE, atol=1e-6)
    assert fit.steps_between == (1, 2, 1, 3)
    path = tmp_path / "uneven.npz"
    res.save(path)
    from_file = fit_file(path)
    np.testing.assert_allclose(np.asarray(from_file.propagator.weights), TRUE, atol=1e-6)
    assert from_file.steps_between == (1, 2, 1, 3) and from_file.dx == 0.5 and from_file.dt == 2.0
    assert "1, 2, 1, 3" in from_file.summary() or "[1, 2, 1, 3]" in from_file.summary()
    with pytest.raises(ValueError, match=r"steps_between=1 disagrees.*\[1, 2, 1, 3\]"):
        fit_file(path, steps_between=1)
    with pytest.raises(ValueError, match=r"steps_between has 3 entries.*4 pairs"):
        fit_propagator(res.frames, steps_between=(1, 2, 1))
    with pytest.raises(ValueError, match="steps_between entry must be >= 1"):
        fit_propagator(res.frames, steps_between=(1, 0, 1, 3))


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_fit_reads_the_default_output_of_run_two_compartment(tmp_path, capsys, x64):
    npz = tmp_path / "tc.npz"
    with jax.enable_x64(x64):
        assert cli.main(["run", "two-compartment", "--size", "32", "--out", str(npz)]) == 0
        res = dc.Result.load(npz)
        assert len(np.unique(np.diff(res.steps))) == 2  # the defaults save unevenly spaced frames
        capsys.readouterr()
        assert cli.main(["fit", str(npz), "--json"]) == 0
    out, _ = _out(capsys)
    fit = json.loads(out)
    # the field varies along axis 1 only: the jumps along axis 0 are not observed and are not made up
    assert fit["unobserved_axes"] == [0] and fit["radius"] == [0, 1]
    assert fit["covariance"][0] == [None, None] and fit["mean"][0] is None
    assert fit["final_loss"] < 0.05  # the radius-1 marginal explains nearly all of the change
    with jax.enable_x64(x64):
        assert cli.main(["fit", str(npz)]) == 0
    out, _ = _out(capsys)
    assert "axis 0: not observed" in out and "nan" in out
    # radius 3 along axis 1 holds the 7-wide Gaussian's marginal exactly: its variance comes back
    with jax.enable_x64(x64):
        assert cli.main(["fit", str(npz), "--radius", "0,3", "--json"]) == 0
    fit = json.loads(_out(capsys)[0])
    np.testing.assert_allclose(fit["covariance"][1][1], GAUSS_COV[1, 1], rtol=1e-3 if not x64 else 1e-6)


@pytest.mark.slow
def test_fit_reads_run_two_compartment_at_full_size_in_float32(tmp_path, capsys):
    """The command's defaults exactly: 2048 steps, frames 51 steps apart and the last 8, float32.

    After 51 steps the Jacobian's columns agree to 4e-4 of their size; the rank test on the free weights
    must see their differences, which a Gram matrix of the columns themselves loses to float32 rounding.
    """
    npz = tmp_path / "tc.npz"
    with jax.enable_x64(False):
        assert cli.main(["run", "two-compartment", "--out", str(npz)]) == 0
        steps = dc.Result.load(npz).steps
        assert steps[1] == 51 and steps[-1] - steps[-2] == 8
        capsys.readouterr()
        assert cli.main(["fit", str(npz), "--json"]) == 0
    fit = json.loads(_out(capsys)[0])
    assert fit["unobserved_axes"] == [0] and fit["steps_between"][-1] == 8 and fit["final_loss"] < 1e-3
    # over 51 steps a radius-1 kernel stands in for the 7-wide Gaussian to within a few per cent
    np.testing.assert_allclose(fit["covariance"][1][1], GAUSS_COV[1, 1], rtol=0.05)


def test_fit_help_offers_only_the_options_a_fit_uses(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["fit", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "--x64" in text and "--radius" in text and "--member" in text
    assert "--seed" not in text and "--particles" not in text
    assert cli.main(["fit", "x.npz", "--seed", "3"]) == 2
    _, err = _out(capsys)
    assert len(err) == 1 and "--seed" in err[0]
    for bad in ("0", "1,x", "-1,1"):
        assert cli.main(["fit", "x.npz", "--radius", bad]) == 2
        _, err = _out(capsys)
        assert len(err) == 1 and "--radius" in err[0], err


# -- batches: one member at a time ---------------------------------------------------------------------
def test_fit_propagator_on_batch_frames_fits_the_member_asked_for():
    tanks = dc.Tank.stack([dc.Tank(_field((8, 8), seed)) for seed in (1, 2)])
    frames = np.asarray(dc.simulate(tanks, dc.Propagator(TRUE), 3, save_every=1).frames)
    assert frames.shape == (4, 2, 8, 8)
    with pytest.raises(ValueError, match="too wide") as info:
        fit_propagator(frames)
    text = str(info.value)
    assert "member=" in text
    advised = re.search(r"radius=(\(\d+, \d+, \d+\))", text)
    assert advised is not None, text
    # the advice is a radius the fit accepts: no jumps across axis 0, the members fitted jointly
    joint = fit_propagator(frames, radius=eval(advised.group(1)))
    np.testing.assert_allclose(np.asarray(joint.propagator.weights)[0], TRUE, atol=1e-6)
    for m in (0, 1):
        fit = fit_propagator(frames, member=m)
        np.testing.assert_allclose(np.asarray(fit.propagator.weights), TRUE, atol=1e-6)
        assert fit.member == (m,) and fit.shape == (8, 8)
    with pytest.raises(ValueError, match=r"member 2 is out of range.*batch shape \(2,\)"):
        fit_propagator(frames, member=2)
    with pytest.raises(ValueError, match=r"boundary has 2 entries but each frame has 3 axes.*member="):
        fit_propagator(frames, boundary=("reflect", "reflect"))
    with pytest.raises(TypeError, match="member"):
        fit_propagator(frames, member=0.5)
    with pytest.raises(ValueError, match="member"):
        fit_propagator(frames[:, 0], member=(0, 0, 0))


def test_fit_file_and_the_command_on_a_saved_batch(tmp_path, capsys):
    tanks = dc.Tank.stack([dc.Tank(_field((8, 8), seed)) for seed in (1, 2, 3)])
    res = dc.simulate(tanks, dc.Propagator(TRUE), 3, save_every=1)
    path = tmp_path / "stack.npz"
    res.save(path)
    with pytest.raises(ValueError, match=r"batch of 3 members.*member=.*--member"):
        fit_file(path)
    fit = fit_file(path, member=2)
    np.testing.assert_allclose(np.asarray(fit.propagator.weights), TRUE, atol=1e-6)
    with pytest.raises(ValueError, match=r"member 3 is out of range"):
        fit_file(path, member=3)
    assert cli.main(["fit", str(path)]) == 2
    _, err = _out(capsys)
    assert len(err) == 1 and "--member" in err[0] and "tank has 3 axes" not in err[0]
    assert cli.main(["fit", str(path), "--member", "1", "--json"]) == 0
    out, _ = _out(capsys)
    np.testing.assert_allclose(np.array(json.loads(out)["weights"]), TRUE, atol=1e-6)
    assert cli.main(["fit", str(path), "--member", "x"]) == 2
    _, err = _out(capsys)
    assert len(err) == 1 and "--member" in err[0]


def test_fit_recovers_each_temperature_of_a_bank(tmp_path, capsys):
    npz = tmp_path / "bank.npz"
    drift_frames(npz, 6, "--temperatures", "1,2")
    assert dc.Result.load(npz).batch_shape == (2,)
    capsys.readouterr()
    w = np.asarray(dc.scenarios.get("drift", size=16).propagator.weights, dtype=float)
    for member, t in enumerate((1.0, 2.0)):
        assert cli.main(["fit", str(npz), "--member", str(member), "--json"]) == 0
        fitted = np.array(json.loads(_out(capsys)[0])["weights"])
        truth = np.exp(np.log(w) / t) / np.exp(np.log(w) / t).sum()
        np.testing.assert_allclose(fitted, truth, atol=1e-5)


# -- the frames' scale --------------------------------------------------------------------------------
@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_the_fit_is_relative_to_the_frames_scale(x64):
    with jax.enable_x64(x64):
        dtype = np.dtype(np.float64 if x64 else np.float32)
        frames = np.asarray(dc.simulate(dc.Tank(_field()), dc.Propagator(TRUE), 4, save_every=1).frames)
        assert frames.dtype == dtype
        ref = fit_propagator(frames)
        np.testing.assert_allclose(np.asarray(ref.propagator.weights), TRUE, atol=ATOL[dtype])
        big = 1e300 if x64 else 1e30
        for scale in (big, 1 / big):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                fit = fit_propagator((frames * scale).astype(dtype))
            np.testing.assert_allclose(np.asarray(fit.propagator.weights), TRUE, atol=ATOL[dtype])
            np.testing.assert_allclose(fit.covariance, ref.covariance, atol=ATOL[dtype])
        with pytest.raises(ValueError, match="nothing moves"):
            fit_propagator(np.stack([frames[0] * big] * 3).astype(dtype))


# -- a descent that starts at the answer -------------------------------------------------------------
def test_a_fit_that_starts_at_the_answer_says_it_converged():
    with jax.enable_x64(False):
        box = dc.Propagator.box(3, ndim=2)
        frames = dc.simulate(dc.Tank(_field()), box, 4, save_every=1).frames
        fit = fit_propagator(frames)  # the uniform start is the box kernel itself
        np.testing.assert_allclose(np.asarray(fit.propagator.weights), np.full((3, 3), 1 / 9), atol=1e-5)
        assert fit.converged and fit.message.strip() and not fit.message.rstrip().endswith(":")
        line = fit.summary().splitlines()[1]
        assert "(converged" in line and "NOT" not in line, line
        # a descent cut short is still reported as such, with its reason
        short = fit_propagator(dc.simulate(dc.Tank(_field()), dc.Propagator(TRUE), 4, save_every=1).frames, maxiter=1)
        assert not short.converged and "NOT converged" in short.summary() and short.message.strip()

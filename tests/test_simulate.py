"""simulate(), Result, compare(): dispatch, frame schedule, save/load, bad input."""

import os

import numpy as np
import pytest

import diffusion_conv as dc


@pytest.fixture
def problem():
    tank = dc.Tank.two_compartment((12, 10), boundary="reflect", dx=0.5)
    return tank, dc.Propagator.gaussian(0.7, ndim=2, radius=1)


@pytest.mark.parametrize(
    "steps, save_every, expected",
    [
        (10, 3, [0, 3, 6, 9, 10]),
        (9, 3, [0, 3, 6, 9]),
        (7, None, [0, 7]),
        (0, None, [0]),
        (5, 10, [0, 5]),
    ],
)
def test_frame_schedule(problem, steps, save_every, expected):
    tank, prop = problem
    res = dc.simulate(tank, prop, steps, save_every=save_every, dt=0.25)
    np.testing.assert_array_equal(res.steps, expected)
    np.testing.assert_allclose(res.times, np.array(expected) * 0.25)
    assert res.frames.shape == (len(expected),) + tank.shape
    np.testing.assert_array_equal(res.frames[0], np.asarray(tank.concentration))
    assert res.final is res.frames[-1] or np.array_equal(res.final, res.frames[-1])
    assert res.absorbed[0] == 0.0
    # intermediate frames agree with separate shorter runs
    for s, frame in zip(expected, res.frames):
        single = dc.simulate(tank, prop, int(s))
        np.testing.assert_allclose(frame, single.final, rtol=1e-14, atol=1e-15)


def test_mass_uses_dx(problem):
    tank, prop = problem
    res = dc.simulate(tank, prop, 3)
    assert res.mass()[0] == pytest.approx(60 * 1.0 * 0.25)
    assert res.meta["dx"] == 0.5 and res.meta["boundary"] == ["reflect", "reflect"]
    skew = dc.simulate(dc.Tank(np.ones(5)), dc.Propagator(np.array([0.2, 0.5, 0.3])), 1)
    np.testing.assert_allclose(skew.meta["kernel_mean"], [0.1], rtol=1e-12)
    np.testing.assert_allclose(skew.meta["kernel_covariance"], [[0.49]], rtol=1e-12)


def test_save_load_roundtrip(problem, tmp_path):
    tank, prop = problem
    res = dc.simulate(tank, prop, 20, save_every=5)
    res.extras["tracks"] = np.arange(6.0).reshape(2, 3)
    path = tmp_path / "run.npz"
    res.save(path)
    back = dc.Result.load(path)
    assert back.method == res.method
    for name in ("steps", "times", "frames", "absorbed"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))
    assert back.frames.dtype == res.frames.dtype
    assert back.meta == res.meta and back.elapsed == res.elapsed
    np.testing.assert_array_equal(back.extras["tracks"], res.extras["tracks"])
    assert os.listdir(tmp_path) == ["run.npz"]


def test_failed_save_leaves_no_partial_file(problem, tmp_path, monkeypatch):
    tank, prop = problem
    res = dc.simulate(tank, prop, 2)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        res.save(tmp_path / "run.npz")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="does not exist"):
        res.save(tmp_path / "missing" / "run.npz")


def test_load_rejects_foreign_files(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a diffusion_conv result"):
        dc.Result.load(path)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(steps=-1), ValueError, "steps must be >= 0"),
        (dict(steps=2.5), TypeError, "steps must be an integer"),
        (dict(steps=True), TypeError, "steps must be an integer"),
        (dict(save_every=0), ValueError, "save_every must be >= 1"),
        (dict(dt=0.0), ValueError, "dt must be"),
        (dict(method="euler"), ValueError, "method 'euler' is unknown; allowed: propagator, spectral"),
        (dict(n_particles=10), ValueError, "n_particles applies to the stochastic methods only"),
    ],
)
def test_bad_arguments(problem, kwargs, exc, match):
    tank, prop = problem
    args = dict(steps=5)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        dc.simulate(tank, prop, **args)


def test_bad_objects(problem):
    tank, prop = problem
    with pytest.raises(TypeError, match="tank must be a diffusion_conv.Tank"):
        dc.simulate(np.ones((3, 3)), prop, 2)
    with pytest.raises(TypeError, match="prop must be a diffusion_conv.Propagator"):
        dc.simulate(tank, np.ones((3, 3)) / 9, 2)
    with pytest.raises(ValueError, match="prop is 1-D but the tank is 2-D"):
        dc.simulate(tank, dc.Propagator.box(3, ndim=1), 2)
    walled = tank.with_board(axis=0, index=3)
    with pytest.raises(ValueError, match="'image' does not support walls"):
        dc.simulate(walled, prop, 2, method="image")


def test_fit_order_recovers_a_known_slope():
    n = np.array([10, 20, 40, 80])
    slope, intercept = dc.fit_order(n, 3.0 * n**-1.5)
    assert slope == pytest.approx(-1.5, abs=1e-12)
    assert intercept == pytest.approx(np.log(3.0), abs=1e-12)
    with pytest.raises(ValueError, match="positive and finite"):
        dc.fit_order([1, 2], [0.0, 1.0])


def test_compare_table_against_reference(problem):
    tank, prop = problem
    cmp = dc.compare(tank, prop, 50, methods=("propagator", "image"), save_every=25)
    assert set(cmp.results) == {"propagator", "image"}
    rows = {r["method"]: r for r in cmp.table}
    assert rows["propagator"]["max_abs_error"] == 0.0
    assert rows["image"]["max_abs_error"] < 1e-12  # symmetric kernel: image is exact too
    assert rows["image"]["mass_balance_error"] < 1e-12
    md = cmp.to_markdown()
    assert "| image |" in md and "max error / max ref" in md
    import json

    data = json.loads(cmp.to_json())
    assert data["reference"] == "propagator" and len(data["table"]) == 2
    with pytest.raises(ValueError, match="method 'nope' is unknown"):
        dc.compare(tank, prop, 5, methods=("nope",))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (
            dict(methods=("propagator", "particles"), n_particles=100, key=3),
            TypeError,
            r"key must be a JAX random key \(jax.random.key\(seed\)\), got int",
        ),
        (
            dict(methods=None),
            TypeError,
            r"methods must be a method name or a non-empty list of them \(allowed: "
            r"propagator, spectral",
        ),
        (dict(methods=()), TypeError, "non-empty list"),
        (dict(methods=("propagator", "warp")), ValueError, "method 'warp' is unknown"),
    ],
)
def test_compare_names_its_bad_arguments(problem, kwargs, exc, match):
    tank, prop = problem
    with pytest.raises(exc, match=match):
        dc.compare(tank, prop, 2, **kwargs)


def test_propagate_refuses_a_bare_kernel():
    with pytest.raises(TypeError, match=r"prop must be a diffusion_conv.Propagator .*got ndarray"):
        dc.propagate(np.ones(8), np.ones(3) / 3, 2)

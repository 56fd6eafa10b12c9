"""--mobility on the command line: a .npy or a grey picture, checked before work, recorded with its checksum."""

import hashlib
import os

import imageio.v3 as iio
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import cli, scenarios


@pytest.fixture
def files(tmp_path):
    m = np.ones((16, 12))
    m[4:10, 3:8] = 0.25
    grey = np.where(m < 1, 64, 255).astype(np.uint8)
    out = {"map": tmp_path / "m.npy", "png": tmp_path / "m.png", "field": tmp_path / "f.npy", "dir": tmp_path / "out"}
    np.save(out["map"], m)
    iio.imwrite(out["png"], grey)
    np.save(out["field"], np.random.default_rng(0).random((16, 12)))
    np.save(tmp_path / "high.npy", m * 2)
    np.save(tmp_path / "nan.npy", np.where(m < 1, np.nan, 1.0))
    np.save(tmp_path / "small.npy", np.ones((4, 4)))
    os.makedirs(out["dir"])
    return {k: str(v) for k, v in out.items()} | {"tmp": str(tmp_path)}


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured


def test_a_mobility_array_is_the_library_run_and_is_recorded_with_its_checksum(files, capsys):
    out = os.path.join(files["dir"], "r.npz")
    argv = ["run", "--initial", files["field"], "--mobility", files["map"], "--kernel", "gaussian:0.8"]
    _run(argv + ["--method", "propagator", "--steps", 6, "--out", out], capsys)
    tank = dc.Tank(np.load(files["field"]), mobility=np.load(files["map"]))
    expected = dc.simulate(tank, dc.Propagator.gaussian(0.8), 6, method="propagator", save_every=1)
    res = dc.Result.load(out)
    np.testing.assert_array_equal(res.frames, expected.frames)
    water = dc.simulate(dc.Tank(np.load(files["field"])), dc.Propagator.gaussian(0.8), 6, method="propagator")
    assert np.max(np.abs(res.final - water.final)) > 1e-3  # the map matters
    record = open(os.path.join(files["dir"], "r.toml")).read()
    digest = hashlib.sha256(open(files["map"], "rb").read()).hexdigest()
    assert 'mobility = "../m.npy"' in record and f'mobility = "{digest}"' in record
    # the record repeats the run bit for bit
    again = os.path.join(files["dir"], "again.npz")
    _run(["run", "--config", os.path.join(files["dir"], "r.toml"), "--out", again], capsys)
    np.testing.assert_array_equal(dc.Result.load(again).frames, res.frames)


def test_a_grey_picture_is_read_as_brightness(files, capsys):
    out = os.path.join(files["dir"], "p.npz")
    argv = ["run", "--initial", files["field"], "--mobility", files["png"], "--method", "propagator"]
    _run(argv + ["--steps", 3, "--out", out], capsys)
    m = iio.imread(files["png"]) / 255.0
    expected = dc.simulate(dc.Tank(np.load(files["field"]), mobility=m), dc.Propagator.box(3), 3, save_every=1)
    np.testing.assert_allclose(dc.Result.load(out).frames, expected.frames, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_compare_with_a_mobility_keeps_the_methods_that_take_one(files, capsys):
    argv = ["compare", "--initial", files["field"], "--mobility", files["map"], "--steps", 2, "--particles", 1000]
    table = _run(argv, capsys).out
    rows = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")}
    takes = {n for n in dc.METHODS if getattr(dc.methods.get(n), "mobility", False)}
    assert "propagator" in rows and {"spectral", "image", "heat"}.isdisjoint(rows)
    assert rows - {"method"} <= takes


def test_the_gel_scenario_runs_from_the_command_line(files, capsys):
    out = os.path.join(files["dir"], "gel.npz")
    _run(["run", "gel", "--size", 16, "--steps", 4, "--out", out], capsys)
    sc = scenarios.get("gel", size=16)
    expected = dc.simulate(sc.tank, sc.propagator, 4, method="propagator", save_every=1)
    np.testing.assert_array_equal(dc.Result.load(out).frames, expected.frames)


@pytest.mark.parametrize(
    "name, needle",
    [("high.npy", "[0, 1]"), ("nan.npy", "NaN"), ("small.npy", "shape (4, 4)"), ("none.npy", "does not exist")],
)
def test_a_bad_map_exits_2_naming_the_option_before_work(files, capsys, monkeypatch, name, needle):
    def no_work(*args, **kwargs):
        raise AssertionError("the command started working before refusing its input")

    monkeypatch.setattr(dc, "simulate", no_work)
    path = os.path.join(files["tmp"], name)
    argv = ["run", "--initial", files["field"], "--mobility", path, "--out", os.path.join(files["dir"], "r.npz")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--mobility" in lines[0] and needle in lines[0], err
    assert os.listdir(files["dir"]) == []


def test_a_mobility_with_a_method_that_refuses_it_exits_2(files, capsys):
    argv = ["run", "--initial", files["field"], "--mobility", files["map"], "--method", "spectral"]
    assert cli.main(argv + ["--out", os.path.join(files["dir"], "r.npz")]) == 2
    err = capsys.readouterr().err
    assert "mobility" in err and "propagator" in err and "Traceback" not in err

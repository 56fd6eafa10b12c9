"""The command with one's own field, walls and kernel: each option against the library called directly."""

import os

import imageio.v3 as iio
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import cli, scenarios
from diffusion_conv.cli import commands as cli_commands


@pytest.fixture
def files(tmp_path):
    """Small inputs written as a user would: pictures (imageio), arrays (numpy.save), a text kernel."""
    rng = np.random.default_rng(0)
    grey = (rng.random((16, 12)) * 255).astype(np.uint8)
    colour = (rng.random((16, 12, 3)) * 255).astype(np.uint8)
    walls = np.zeros((16, 12), dtype=bool)
    walls[:, 6] = True
    walls[6:10, 6] = False  # a board with a gap
    bw = np.where(walls, 0, 255).astype(np.uint8)  # black = wall
    bw_rgb = np.stack([bw, bw, bw], axis=-1)
    out = {
        "grey": tmp_path / "grey.png",
        "colour": tmp_path / "colour.png",
        "bw": tmp_path / "walls.png",
        "field": tmp_path / "field.npy",
        "field1d": tmp_path / "line.npy",
        "field3d": tmp_path / "cube.npy",
        "mask": tmp_path / "mask.npy",
        "mask01": tmp_path / "mask01.npy",
        "kernel": tmp_path / "kernel.npy",
        "ktxt": tmp_path / "kernel.txt",
        "keven": tmp_path / "even.npy",
        "k3d": tmp_path / "k3d.npy",
        "kneg": tmp_path / "kneg.npy",
        "text": tmp_path / "notes.png",
        "outdir": tmp_path / "out",
    }
    iio.imwrite(out["grey"], grey)
    iio.imwrite(out["colour"], colour)
    iio.imwrite(out["bw"], bw_rgb)
    np.save(out["field"], rng.random((16, 12)))
    np.save(out["field1d"], rng.random(24))
    np.save(out["field3d"], rng.random((8, 8, 8)))
    np.save(out["mask"], walls)
    np.save(out["mask01"], walls.astype(np.int64))
    np.save(out["kernel"], np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]))
    np.savetxt(out["ktxt"], np.array([[0.0, 1.0, 0.0], [1.0, 3.0, 2.0], [0.0, 1.0, 0.0]]))
    np.save(out["keven"], np.ones((2, 2)))
    np.save(out["k3d"], np.ones((3, 3, 3)))
    np.save(out["kneg"], np.array([[-1.0, 2.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]))
    out["text"].write_text("not a picture")
    out["outdir"].mkdir()
    return {k: str(v) for k, v in out.items()}


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured


def _same(path, expected):
    """The saved result has exactly the frames, absorbed mass and times of ``expected``."""
    res = dc.Result.load(path)
    np.testing.assert_array_equal(res.frames, expected.frames)
    np.testing.assert_array_equal(res.absorbed, expected.absorbed)
    np.testing.assert_array_equal(res.times, expected.times)
    return res


def test_a_picture_through_a_named_kernel_is_the_library_run(files, capsys):
    out = os.path.join(files["outdir"], "g.npz")
    argv = ["run", "--image", files["grey"], "--kernel", "gaussian:0.7", "--method", "propagator"]
    _run(argv + ["--steps", 5, "--save-every", 2, "--out", out], capsys)
    tank = dc.Tank.from_image(files["grey"])
    expected = dc.simulate(tank, dc.Propagator.gaussian(0.7), 5, method="propagator", save_every=2)
    res = _same(out, expected)
    assert res.frames.shape == (4, 16, 12)


def test_boundaries_per_axis_dx_and_dt(files, capsys):
    out = os.path.join(files["outdir"], "b.npz")
    argv = ["run", "--image", files["grey"], "--kernel", "box:3", "--method", "propagator", "--steps", 4]
    _run(argv + ["--boundary", "absorb,periodic", "--dx", 0.5, "--dt", 0.25, "--out", out], capsys)
    tank = dc.Tank.from_image(files["grey"], boundary=("absorb", "periodic"), dx=0.5)
    expected = dc.simulate(tank, dc.Propagator.box(3), 4, method="propagator", save_every=1, dt=0.25)
    res = _same(out, expected)
    np.testing.assert_array_equal(res.times, 0.25 * np.arange(5))  # time is steps * dt
    assert res.absorbed[-1] > 0  # mass leaves through the open axis
    np.testing.assert_allclose(res.mass()[0], 0.25 * np.sum(tank.concentration), rtol=1e-12)  # dx**2 per cell


def test_one_boundary_for_all_axes(files, capsys):
    out = os.path.join(files["outdir"], "p.npz")
    argv = ["run", "--image", files["grey"], "--method", "propagator", "--steps", 3, "--boundary", "periodic"]
    _run(argv + ["--out", out], capsys)
    tank = dc.Tank.from_image(files["grey"], boundary="periodic")
    _same(out, dc.simulate(tank, dc.Propagator.box(3), 3, method="propagator", save_every=1))  # box:3 by default


def test_a_colour_picture_with_channels(files, capsys):
    out = os.path.join(files["outdir"], "c.npz")
    argv = ["run", "--image", files["colour"], "--channels", "--kernel", "edge", "--temperature", 3]
    _run(argv + ["--method", "propagator", "--steps", 3, "--out", out], capsys)
    tank = dc.Tank.from_image(files["colour"], channels=True)
    prop = dc.Propagator.from_kernel(scenarios.EDGE, temperature=3.0)
    res = _same(out, dc.simulate(tank, prop, 3, method="propagator", save_every=1))
    assert res.frames.shape == (4, 3, 16, 12)


def test_a_picture_is_resampled_to_size_and_overrides_a_scenario(files, capsys):
    out = os.path.join(files["outdir"], "s.npz")
    _run(["run", "point", "--image", files["grey"], "--size", 8, "--method", "propagator", "--out", out], capsys)
    sc = scenarios.get("point", size=8)
    tank = dc.Tank.from_image(files["grey"], size=8, boundary="periodic")  # the scenario's boundary and kernel
    _same(out, dc.simulate(tank, sc.propagator, sc.steps, method="propagator", save_every=max(1, sc.steps // 40)))


def test_an_array_with_walls_and_a_kernel_file_normalised_by_its_sum(files, capsys):
    out = os.path.join(files["outdir"], "w.npz")
    argv = ["run", "--initial", files["field"], "--walls", files["mask"], "--kernel", files["kernel"]]
    _run(argv + ["--normalize", "sum", "--method", "propagator", "--steps", 6, "--out", out], capsys)
    walls = np.load(files["mask"])
    field = np.where(walls, 0.0, np.load(files["field"]))  # the walls displace the water in them
    tank = dc.Tank(field, walls=walls)
    prop = dc.Propagator.from_kernel(np.load(files["kernel"]), normalize="sum")
    res = _same(out, dc.simulate(tank, prop, 6, method="propagator", save_every=1))
    assert np.all(res.frames[:, walls] == 0)


@pytest.mark.parametrize("mask", ["bw", "mask01"])
def test_walls_from_a_picture_dark_is_wall_or_from_zeros_and_ones(files, capsys, mask):
    out = os.path.join(files["outdir"], "m.npz")
    argv = ["run", "--initial", files["field"], "--walls", files[mask], "--method", "propagator", "--steps", 2]
    _run(argv + ["--out", out], capsys)
    walls = np.load(files["mask"])  # the same board: black pixels, or the 1 entries
    tank = dc.Tank(np.where(walls, 0.0, np.load(files["field"])), walls=walls)
    _same(out, dc.simulate(tank, dc.Propagator.box(3), 2, method="propagator", save_every=1))


def test_a_text_kernel_at_a_temperature(files, capsys):
    out = os.path.join(files["outdir"], "t.npz")
    argv = ["run", "--initial", files["field"], "--kernel", files["ktxt"], "--temperature", 0.5]
    _run(argv + ["--method", "propagator", "--steps", 3, "--out", out], capsys)
    prop = dc.Propagator.from_kernel(np.loadtxt(files["ktxt"]), temperature=0.5)
    _same(out, dc.simulate(dc.Tank(np.load(files["field"])), prop, 3, method="propagator", save_every=1))


@pytest.mark.parametrize("which, kernel", [("field1d", "gaussian:1.5"), ("field3d", "box:3")])
def test_one_and_three_dimensional_fields(files, capsys, which, kernel):
    out = os.path.join(files["outdir"], "d.npz")
    _run(["run", "--initial", files[which], "--kernel", kernel, "--method", "propagator", "--out", out], capsys)
    field = np.load(files[which])
    name, _, param = kernel.partition(":")
    prop = (
        dc.Propagator.gaussian(float(param), ndim=field.ndim)
        if name == "gaussian"
        else dc.Propagator.box(3, ndim=field.ndim)
    )
    steps = max(4, max(field.shape) // 4)  # the default without a scenario
    expected = dc.simulate(dc.Tank(field), prop, steps, method="propagator", save_every=max(1, steps // 40))
    _same(out, expected)


def test_the_temperature_of_a_scenarios_kernel(files, capsys):
    out = os.path.join(files["outdir"], "d.npz")
    _run(["run", "drift", "--size", 16, "--temperature", 0.5, "--steps", 4, "--out", out], capsys)
    sc = scenarios.get("drift", size=16)
    prop = dc.Propagator.from_kernel(scenarios.SOBEL, temperature=0.5)  # softmax(log(w) / T) = softmax(K / T)
    expected = dc.simulate(sc.tank, prop, 4, method="propagator", save_every=1)
    res = dc.Result.load(out)
    np.testing.assert_allclose(res.frames, expected.frames, rtol=1e-12, atol=1e-15)


def test_a_scenarios_walls_stay_under_a_new_kernel_and_boundary(files, capsys):
    out = os.path.join(files["outdir"], "slit.npz")
    argv = ["run", "slit", "--size", 16, "--kernel", "sobel", "--boundary", "periodic,reflect", "--steps", 3]
    _run(argv + ["--out", out], capsys)
    sc = scenarios.get("slit", size=16)
    tank = sc.tank.replace(boundary=("periodic", "reflect"))
    expected = dc.simulate(tank, dc.Propagator.from_kernel(scenarios.SOBEL), 3, method="propagator", save_every=1)
    _same(out, expected)


def test_named_kernels_are_the_builders_bit_for_bit():
    for normalize in ("softmax", "sum"):
        for sigma in (0.7, 1.0, 2.5):
            a = scenarios.named_kernel("gaussian", sigma, normalize=normalize)
            np.testing.assert_array_equal(a.weights, dc.Propagator.gaussian(sigma).weights)
        for ndim in (1, 2, 3):
            a = scenarios.named_kernel("box", 5, ndim=ndim, normalize=normalize)
            np.testing.assert_array_equal(a.weights, dc.Propagator.box(5, ndim=ndim).weights)
    drift = scenarios.get("drift", size=16).propagator
    np.testing.assert_array_equal(scenarios.named_kernel("sobel").weights, drift.weights)


def test_the_temperature_of_a_gaussian_scales_its_variance_and_the_edge_kernel_stays_put():
    # softmax(log(K) / T) of a Gaussian of sigma is the Gaussian of sigma * sqrt(T) on the same box
    hot = scenarios.named_kernel("gaussian", 1.0, temperature=2.0)
    d = np.arange(-3, 4)
    w1 = np.exp(-(d**2) / 4.0)
    var = float((d**2 * w1).sum() / w1.sum())
    np.testing.assert_allclose(np.diag(np.asarray(hot.covariance)), [var, var], rtol=1e-12)
    for t in (0.3, 1.0, 3.0):  # 8 at the centre, -1 around: the particle stays with 1 / (1 + 8 exp(-9 / T))
        w = np.asarray(scenarios.named_kernel("edge", temperature=t).weights)
        np.testing.assert_allclose(w[1, 1], 1.0 / (1.0 + 8.0 * np.exp(-9.0 / t)), rtol=1e-12)
        np.testing.assert_allclose(w[0, 0], np.exp(-9.0 / t) / (1.0 + 8.0 * np.exp(-9.0 / t)), rtol=1e-12)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(name="laplace"), "unknown"),
        (dict(name="edge", param=2), "no parameter"),
        (dict(name="sobel", ndim=3), "2-D"),
        (dict(name="edge", normalize="sum"), "negative"),
        (dict(name="box", param=4), "odd"),
        (dict(name="gaussian", param=-1.0), "sigma"),
        (dict(name="gaussian", param=30.0), "21.33"),
        (dict(name="box", normalize="sum", temperature=2.0), "temperature"),
    ],
)
def test_named_kernel_refuses_bad_input(kw, match):
    with pytest.raises(dc.InputError, match=match):
        scenarios.named_kernel(**kw)


def test_compare_without_a_scenario_leaves_out_the_methods_that_refuse_the_problem(files, capsys, monkeypatch):
    from diffusion_conv.cli import commands

    asked = {}

    class Stop(Exception):
        pass

    def compare(tank, prop, steps, methods, reference, **kw):
        asked.update(methods=list(methods), reference=reference, shape=tank.shape, n=kw["n_particles"])
        raise Stop

    monkeypatch.setattr(commands, "compare", compare)
    with pytest.raises(Stop):
        cli.main(["compare", "--initial", files["field"], "--walls", files["mask"], "--kernel", "sobel"])
    # walls rule out spectral, image and heat (as for the slit scenario); the rest run
    assert asked["methods"] == ["propagator", "particles", "counts"] and asked["reference"] == "propagator"
    assert asked["shape"] == (16, 12) and asked["n"] == 10 * 16 * 12


def test_compare_with_own_inputs_measures_the_same_numbers_as_the_library(files, capsys):
    argv = ["compare", "--image", files["grey"], "--kernel", "gaussian:0.8", "--boundary", "periodic"]
    captured = _run(argv + ["--methods", "propagator,spectral", "--steps", 5, "--json"], capsys)
    import json

    table = {row["method"]: row for row in json.loads(captured.out)["table"]}
    tank = dc.Tank.from_image(files["grey"], boundary="periodic")
    cmp = dc.compare(tank, dc.Propagator.gaussian(0.8), 5, methods=("propagator", "spectral"), save_every=1)
    expected = {row["method"]: row for row in json.loads(cmp.to_json())["table"]}
    for m in ("propagator", "spectral"):
        assert table[m]["mass"] == expected[m]["mass"] and table[m]["max_abs_error"] == expected[m]["max_abs_error"]


BAD = [
    (["run", "--image", "{tmp}/missing.png"], "--image", "does not exist"),
    (["run", "--image", "{text}"], "--image", "could not be read as a picture"),
    (["run", "--image", "{tmp}"], "--image", "is a folder"),
    (["run", "--initial", "{grey}"], "--initial", "not a .npy file"),
    (["run", "--initial", "{tmp}/missing.npy"], "--initial", "does not exist"),
    (["run", "--image", "{grey}", "--initial", "{field}"], "--initial", "not both"),
    (["run", "--initial", "{field}", "--size", "16"], "--size", "as it is"),
    (["run", "--initial", "{field}", "--channels"], "--channels", "--initial"),
    (["run", "point", "--channels"], "--channels", "'point'"),
    (["run"], "--image", "scenario"),
    (["run", "--image", "{grey}", "--walls", "{field1d}"], "--walls", "has shape (24,), the field has shape (16, 12)"),
    (["run", "--image", "{grey}", "--walls", "{field}"], "--walls", "only 0 and 1"),
    (["run", "--image", "{grey}", "--walls", "{text}"], "--walls", "could not be read as a picture"),
    (["run", "point", "--size", "16", "--walls", "{mask}"], "--walls", "the field has shape (16, 16)"),
    (["run", "--image", "{grey}", "--kernel", "{keven}"], "--kernel", "odd-sized"),
    (["run", "--image", "{grey}", "--kernel", "{k3d}"], "--kernel", "3-D"),
    (["run", "--image", "{grey}", "--kernel", "{kneg}", "--normalize", "sum"], "--kernel", "negative"),
    (["run", "--image", "{grey}", "--kernel", "edge", "--normalize", "sum"], "--kernel", "negative"),
    (["run", "--image", "{grey}", "--kernel", "{tmp}/missing.npy"], "--kernel", "does not exist"),
    (["run", "--image", "{grey}", "--kernel", "{grey}"], "--kernel", "must end in .npy or .txt"),
    (["run", "--image", "{grey}", "--kernel", "laplace"], "--kernel", "gaussian[:SIGMA]"),
    (["run", "--image", "{grey}", "--kernel", "gaussian:wide"], "--kernel", "gaussian:wide"),
    (["run", "--image", "{grey}", "--kernel", "gaussian:0"], "--kernel", "gaussian:0"),
    (["run", "--image", "{grey}", "--kernel", "gaussian:40"], "--kernel", "21.33"),
    (["run", "--image", "{grey}", "--kernel", "box:4"], "--kernel", "odd"),
    (["run", "--image", "{grey}", "--kernel", "edge:2"], "--kernel", "no parameter"),
    (["run", "--initial", "{field1d}", "--kernel", "sobel"], "--kernel", "2-D"),
    (["run", "--initial", "{field3d}", "--kernel", "{ktxt}"], "--kernel", "3-D"),
    (["run", "--image", "{grey}", "--kernel", "{kernel}", "--normalize", "max"], "--normalize", "max"),
    (
        ["run", "--image", "{grey}", "--kernel", "box:3", "--normalize", "sum", "--temperature", "2"],
        "--temperature",
        "sum",
    ),
    (["run", "point", "--normalize", "sum"], "--normalize", "--kernel"),
    (["run", "point", "--temperature", "0"], "--temperature", "'0'"),
    (["run", "point", "--temperature", "1", "--temperatures", "1,2"], "--temperature", "not both"),
    (["run", "--image", "{grey}", "--boundary", "wall"], "--boundary", "'wall'"),
    (["run", "--image", "{grey}", "--boundary", "reflect,reflect,reflect"], "--boundary", "2 for this 2-D field"),
    (["run", "--image", "{grey}", "--dx", "-1"], "--dx", "'-1'"),
    (["run", "--image", "{grey}", "--dt", "nan"], "--dt", "'nan'"),
    (["compare", "--image", "{grey}", "--kernel", "{keven}"], "--kernel", "odd-sized"),
    (["compare", "--initial", "{field}", "--walls", "{field1d}"], "--walls", "shape"),
    (["compare"], "--initial", "scenario"),
]


@pytest.mark.parametrize("argv, option, needle", BAD, ids=[" ".join(a[0][1:]) + f" [{a[2]}]" for a in BAD])
def test_bad_input_exits_2_with_one_line_naming_the_option_and_writes_nothing(
    files, tmp_path, capsys, monkeypatch, argv, option, needle
):
    def no_work(*args, **kwargs):
        raise AssertionError("the command started working before refusing its input")

    monkeypatch.setattr(scenarios, "get", no_work)  # nothing is built, let alone run
    monkeypatch.setattr(cli_commands, "simulate", no_work)
    monkeypatch.setattr(cli_commands, "compare", no_work)
    names = {**files, "tmp": str(tmp_path)}
    argv = [a.format(**names) if "{" in a else a for a in argv]
    before = sorted(os.listdir(files["outdir"]))
    out = ["--out", os.path.join(files["outdir"], "r.npz")] if argv[0] == "run" else []
    anim = ["--animate", os.path.join(files["outdir"], "r.gif")]
    assert cli.main(argv + out + anim) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and option in lines[0] and needle in lines[0], err
    assert "Traceback" not in err
    assert sorted(os.listdir(files["outdir"])) == before == []


def test_help_says_how_walls_and_kernels_are_read(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "dark = wall" in text and "gaussian[:SIGMA]" in text and "edge" in text and "sobel" in text
    assert "--mobility" in text and "brightness = mobility" in text

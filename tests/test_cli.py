"""The ``diffusion-conv`` command end to end (subprocess), and its handling of bad input."""

import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from helpers import drift_frames

import diffusion_conv as dc
from diffusion_conv import cli
from diffusion_conv.cli import commands as cli_commands

NAMES = ("two-compartment", "partitions", "noise", "image", "slit", "drift", "point", "gel", "membrane")


def _cli(*args, cwd=None, timeout=300):
    """Run the command in a fresh interpreter (x64 off, as a user gets it)."""
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    return subprocess.run(
        [sys.executable, "-m", "diffusion_conv.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.strip()]


def test_demo_smoke_writes_its_outputs_with_all_six_methods(tmp_path):
    out = tmp_path / "demo"
    proc = _cli("demo", "--smoke", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == [
        "comparison.json",
        "comparison.md",
        "methods.png",
        "profiles.png",
        "story.png",
        "tank.gif",
    ]
    table = json.loads((out / "comparison.json").read_text())
    assert table["reference"] == "propagator"
    rows = {row["method"]: row for row in table["table"]}
    assert set(rows) == {"propagator", "spectral", "particles", "counts", "image", "heat"}
    # box blur, closed tank: image convolution equals the propagator to float32 rounding
    assert rows["image"]["max_abs_error"] < 1e-5
    assert rows["propagator"]["max_abs_error"] == 0.0
    # the printed table is the Markdown file
    assert (out / "comparison.md").read_text().strip() in proc.stdout
    gif = iio.imread(out / "tank.gif", index=None)
    from diffusion_conv.cli.commands import demo_problem

    _, _, steps, save_at = demo_problem(smoke=True, seed=0)
    frames = sorted({0, *save_at, steps})  # the frames the demo saves: logarithmically spaced steps
    assert len(frames) >= 8 and frames[-1] == steps
    assert gif.shape[0] == len(frames)


def test_run_saves_a_result_and_an_animation_in_float64(tmp_path):
    npz, gif = tmp_path / "run.npz", tmp_path / "run.gif"
    proc = _cli(
        "run",
        "point",
        "--x64",
        "--size",
        16,
        "--method",
        "propagator",
        "--steps",
        8,
        "--save-every",
        2,
        "--out",
        npz,
        "--animate",
        gif,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["method"] == "propagator" and summary["frames"] == 5
    res = dc.Result.load(npz)
    np.testing.assert_array_equal(res.steps, [0, 2, 4, 6, 8])
    assert res.frames.shape == (5, 16, 16) and res.frames.dtype == np.float64
    # a point source after 8 steps of the Gaussian softmax kernel (sigma 1, radius 3):
    # variance per axis is 8 times the kernel's, computed here from its definition
    d = np.arange(-3, 4)
    w1 = np.exp(-(d**2) / 2.0)
    var1 = float((d**2 * w1).sum() / w1.sum())
    x = np.arange(16) - 8.0
    marginal = res.final.sum(axis=0)
    np.testing.assert_allclose(marginal.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose((x**2 * marginal).sum(), 8 * var1, rtol=2e-2)  # wrap-around tails only
    assert iio.imread(gif, index=None).shape[0] == 5


def test_compare_json_measures_the_gather_losing_mass(tmp_path):
    proc = _cli("compare", "drift", "--size", 16, "--steps", 10, "--methods", "propagator,image", "--json")
    assert proc.returncode == 0, proc.stderr
    table = json.loads(proc.stdout)
    rows = {row["method"]: row for row in table["table"]}
    assert set(rows) == {"propagator", "image"}
    initial = table["initial_mass"]
    assert initial == pytest.approx(16.0)  # a 4x4 block of ones
    # the scatter with folding conserves mass; the gather at closed walls does not (asymmetric kernel)
    assert rows["propagator"]["mass_balance_error"] < 1e-4 * initial
    assert rows["image"]["mass_balance_error"] > 1e-3 * initial
    assert rows["image"]["max_abs_error"] > 1e-3


def test_scenarios_lists_one_line_each():
    proc = _cli("scenarios")
    assert proc.returncode == 0, proc.stderr
    header, *lines = proc.stdout.strip().splitlines()
    assert header.split()[:4] == ["name", "grid", "steps", "method"]
    assert [line.split()[0] for line in lines] == list(NAMES)
    details = dc.scenarios.details()
    for line in lines:  # each line says the scenario's grid, steps and default method
        name, grid, steps, method = line.split()[:4]
        assert grid == "x".join(map(str, details[name]["shape"])) and int(steps) == details[name]["steps"]
        assert method == details[name]["method"]


def test_bad_input_in_a_subprocess_exits_2_with_one_line(tmp_path):
    out = tmp_path / "never.npz"
    proc = _cli("run", "no-such-scenario", "--out", out)
    assert proc.returncode == 2
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and "no-such-scenario" in lines[0] and "two-compartment" in lines[0]
    assert "Traceback" not in proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "point", "--method", "magic"], "magic"),
        (["run", "point", "--steps", "-3"], "-3"),
        (["run", "point", "--steps", "many"], "many"),
        (["run", "point", "--out", "{tmp}/no/such/folder/r.npz"], "does not exist"),
        (["run", "point", "--out", "{tmp}/a-file/r.npz"], "a-file' is a file, not a folder"),
        (["run", "point", "--out", "{tmp}/a-file/deeper/r.npz"], "a-file' is a file, not a folder"),
        (["run", "point", "--out", "/proc/x.npz"], "cannot write in folder '/proc'"),
        (["run", "point", "--animate", "/proc/x.gif"], "cannot write in folder '/proc'"),
        (["run", "point", "--animate", "{tmp}/" + "n" * 300 + ".gif"], "at most 255"),
        (["run", "point", "--out", "{tmp}"], "must end in .npz"),
        (["demo", "--out", "/proc/demo"], "cannot write in folder '/proc'"),
        (["demo", "--out", "{tmp}/a-file/demo"], "a-file' is a file, not a folder"),
        (["run", "point", "--seed", "99999999999999999999999"], "4294967295"),
        (["run", "point", "--seed", "4294967296"], "4294967295"),
        (["run", "point", "--method", "propagator", "--steps", "1000000000000"], "2147483647"),
        (["run", "point", "--method", "spectral", "--steps", "100000000000000000000000"], "2147483647"),
        (["run", "point", "--method", "spectral", "--steps", "1e23"], "1e23"),
        (["run", "point", "--save-every", "1000000000000"], "2147483647"),
        (["run", "point", "--size", "100000000"], "--size 100000000: the run needs about"),
        (["compare", "point", "--size", "100000000"], "use --size"),
        (["run", "point", "--size", "100000000", "--save-every", "3"], "--size 100000000"),
        (["run", "point", "--method", "particles", "--particles", "10000000000000000000"], "or fewer"),
        (["run", "point", "--steps", "100000000", "--save-every", "1"], "a larger --save-every"),
        (["run", "point", "--out", "{tmp}/r.txt"], ".npz"),
        (["run", "point", "--animate", "{tmp}/a.avi"], ".gif"),
        (["run", "point", "--size", "4"], "--size"),
        (["compare", "point", "--methods", ","], "--methods"),
        (["compare", "point", "--methods", "propagator,warp"], "warp"),
        (["demo", "--out", "{tmp}/a-file"], "not a folder"),
        (["fit", "{tmp}/missing.npz"], "does not exist"),
        (["bench", "bench_nothing"], "bench_nothing"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_input_exits_2_one_line_no_file(tmp_path, capsys, monkeypatch, argv, needle):
    (tmp_path / "a-file").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]

    def no_work(*args, **kwargs):
        raise AssertionError("the command started working before refusing its input")

    from diffusion_conv import scenarios

    monkeypatch.setattr(scenarios, "get", no_work)  # nothing is built, let alone run
    monkeypatch.setattr(cli_commands, "simulate", no_work)
    monkeypatch.setattr(cli_commands, "compare", no_work)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = _error_lines(err)
    assert len(lines) == 1 and needle in lines[0], err
    assert os.listdir(tmp_path) == ["a-file"]


def test_interrupted_run_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    from diffusion_conv import render

    def interrupted(self, i):
        raise KeyboardInterrupt

    monkeypatch.setattr(render.panels.Panels, "rgb", interrupted)
    gif = tmp_path / "run.gif"
    code = cli.main(["run", "point", "--size", "16", "--steps", "4", "--method", "propagator", "--animate", str(gif)])
    assert code == 130
    assert os.listdir(tmp_path) == []


def test_fit_recovers_the_kernel_of_a_run(tmp_path):
    pytest.importorskip("diffusion_conv.learn")
    npz = tmp_path / "frames.npz"
    drift_frames(npz, 6)
    proc = _cli("fit", npz, "--radius", 1, "--json")
    assert proc.returncode == 0, proc.stderr
    fit = json.loads(proc.stdout)
    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_allclose(np.array(fit["weights"]), np.exp(sobel) / np.exp(sobel).sum(), atol=1e-3)


def _damaged_files(folder, good):
    data = good.read_bytes()
    (folder / "truncated.npz").write_bytes(data[: len(data) // 3])
    (folder / "empty.npz").write_bytes(b"")
    (folder / "random.npz").write_bytes(np.random.default_rng(1).bytes(4096))
    np.savez(folder / "foreign.npz", a=np.ones(3))
    (folder / "run.gif").write_bytes(b"GIF89a" + bytes(100))
    return ["truncated.npz", "empty.npz", "random.npz", "foreign.npz", "run.gif"]


def test_fit_on_a_damaged_or_foreign_file_exits_2_with_one_line(tmp_path, capsys):
    good = tmp_path / "good.npz"
    dc.Result("propagator", [0, 1], [0.0, 1.0], np.ones((2, 8, 8)), np.zeros(2), 0.0, {}).save(good)
    for name in _damaged_files(tmp_path, good):
        assert cli.main(["fit", str(tmp_path / name)]) == 2, name
        lines = _error_lines(capsys.readouterr().err)
        assert len(lines) == 1 and name in lines[0] and "pickle" not in lines[0], lines
        assert "not a diffusion_conv result file" in lines[0] or "damaged" in lines[0] or "empty" in lines[0]


def test_run_summary_counts_one_frame_in_the_singular(capsys):
    assert cli.main(["run", "point", "--size", "16", "--steps", "0", "--method", "propagator"]) == 0
    out = capsys.readouterr().out
    assert "0 steps, 1 frame of (16, 16)" in out


def test_fit_prints_standard_errors_with_their_magnitude(tmp_path, capsys):
    pytest.importorskip("diffusion_conv.learn")
    npz = tmp_path / "frames.npz"
    drift_frames(npz, 4)
    capsys.readouterr()
    assert cli.main(["fit", str(npz)]) == 0
    out = capsys.readouterr().out
    # exact frames: errors of rounding size, which six fixed decimals printed as [0. 0.]
    assert "+- [0. 0.]" not in out
    line = next(s for s in out.splitlines() if s.startswith("mean jump"))
    errors = [float(x) for x in line.split("+-")[1].strip(" []").split()]
    assert all(0 < e < 1e-3 for e in errors), line


def test_a_colour_bank_is_drawn_in_colour_labelled_by_temperature_with_a_warning_for_identical_members(
    tmp_path, capsys
):
    gif = tmp_path / "ch.gif"
    argv = ["run", "image", "--channels", "--temperatures", "0.5,2", "--method", "propagator", "--steps", "4"]
    assert cli.main(argv + ["--save-every", "2", "--size", "32", "--animate", str(gif)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "identical" in warnings[0]  # the box blur is uniform at every temperature
    frame = iio.imread(gif, index=None)[-1].astype(int)
    # a colour picture: the red, green and blue of the drawn pixels differ (a viridis panel per channel would not
    # hold pure reds)
    assert np.max(frame[..., 0] - frame[..., 1]) > 100 and np.max(frame[..., 1] - frame[..., 0]) > 50


def test_an_option_is_never_taken_from_its_prefix(capsys):
    assert cli.main(["run", "two-compartment", "--temp", "2", "--steps", "2"]) == 2
    assert "--temp" in capsys.readouterr().err

"""``--config FILE.toml`` and the record a run writes beside its output: the same numbers, bit for bit."""

import json
import os
import subprocess
import sys

import imageio.v3 as iio
import jax
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import cli, scenarios
from diffusion_conv.cli import commands as cli_commands
from diffusion_conv.cli import config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "in"
    folder.mkdir()
    iio.imwrite(folder / "pic.png", (rng.random((12, 16)) * 255).astype(np.uint8))
    walls = np.zeros((12, 16), dtype=bool)
    walls[3:9, 8] = True
    np.save(folder / "walls.npy", walls)
    np.save(folder / "k.npy", rng.random((3, 5)) + 0.1)
    (tmp_path / "out").mkdir()
    return folder, tmp_path / "out"


def _main(argv, capsys, code=0):
    got = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert got == code, captured.err
    return captured


def _identical(a, b):
    ra, rb = dc.Result.load(a), dc.Result.load(b)
    for name in ("frames", "absorbed", "steps", "times"):
        x, y = getattr(ra, name), getattr(rb, name)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
    assert ra.method == rb.method
    return ra, rb


def _toml(path):
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def test_a_deterministic_run_with_own_inputs_repeats_bit_for_bit_from_its_record(inputs, capsys):
    folder, out = inputs
    a = out / "a.npz"
    argv = ["run", "--image", folder / "pic.png", "--walls", folder / "walls.npy", "--kernel", folder / "k.npy"]
    argv += ["--temperature", 0.7, "--boundary", "periodic,absorb", "--dx", 0.3, "--dt", 0.1]
    _main(argv + ["--method", "propagator", "--steps", 7, "--save-every", 3, "--out", a], capsys)
    record = _toml(out / "a.toml")
    assert record["command"] == "run" and record["version"] == dc.__version__
    assert record["image"] == os.path.join("..", "in", "pic.png")  # relative to the record's folder
    assert record["kernel"] == os.path.join("..", "in", "k.npy") and record["walls"].endswith("walls.npy")
    assert record["temperature"] == 0.7 and record["normalize"] == "softmax"
    assert record["boundary"] == ["periodic", "absorb"] and record["dx"] == 0.3 and record["dt"] == 0.1
    assert record["method"] == "propagator" and record["steps"] == 7 and record["save-every"] == 3
    assert record["x64"] is True and "particles" not in record
    import hashlib

    for option, name in (("image", "pic.png"), ("walls", "walls.npy"), ("kernel", "k.npy")):
        assert record["sha256"][option] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    _main(["run", "--config", out / "a.toml", "--out", out / "b.npz"], capsys)
    ra, _ = _identical(a, out / "b.npz")
    np.testing.assert_allclose(ra.times, 0.1 * np.array([0, 3, 6, 7]), rtol=1e-15)
    assert _toml(out / "b.toml") == record  # the rerun records the same run


def test_a_stochastic_run_on_a_scenario_repeats_bit_for_bit(inputs, capsys, monkeypatch):
    _, out = inputs
    argv = ["run", "point", "--size", 16, "--method", "particles", "--particles", 5000, "--seed", 11]
    _main(argv + ["--steps", 5, "--out", out / "a.npz"], capsys)
    record = _toml(out / "a.toml")
    assert record["scenario"] == "point" and record["particles"] == 5000 and record["seed"] == 11
    assert "sha256" not in record and "out" not in record and "animate" not in record
    monkeypatch.chdir(out.parent)  # paths in a config are read from its own folder, wherever the command runs
    _main(["run", "--config", os.path.join("out", "a.toml"), "--out", out / "b.npz"], capsys)
    _identical(out / "a.npz", out / "b.npz")
    # another seed on the command line overrides the file: other draws
    _main(["run", "--config", out / "a.toml", "--seed", 12, "--out", out / "c.npz"], capsys)
    assert not np.array_equal(dc.Result.load(out / "a.npz").frames, dc.Result.load(out / "c.npz").frames)


def test_flags_override_the_file_even_at_their_default_values(inputs, capsys):
    _, out = inputs
    cfg = out / "run.toml"
    cfg.write_text(
        'scenario = "two-compartment"\nsize = 16\nmethod = "propagator"\nsteps = 6\nsave_every = 2\n'
        'seed = 3\nkernel = "gaussian:0.8"\nboundary = ["reflect", "periodic"]\n'
    )
    _main(["run", "--config", cfg, "--steps", 4, "--save-every", 1, "--out", out / "r.npz"], capsys)
    res = dc.Result.load(out / "r.npz")
    np.testing.assert_array_equal(res.steps, [0, 1, 2, 3, 4])  # the flags, not the file's 6 and 2
    sc = scenarios.get("two-compartment", size=16)
    tank = sc.tank.replace(boundary=("reflect", "periodic"))
    prop = dc.Propagator.gaussian(0.8)
    expected = dc.simulate(tank, prop, 4, method="propagator", save_every=1)
    np.testing.assert_array_equal(res.frames, expected.frames)
    # --seed 0 given is not the default left alone: the file's seed 3 gives way to it
    argv = ["run", "--config", cfg, "--seed", 0, "--method", "particles", "--particles", 300, "--steps", 2]
    _main(argv + ["--out", out / "s.npz"], capsys)
    assert _toml(out / "s.toml")["seed"] == 0
    kw = dict(method="particles", n_particles=300, save_every=2)  # the file's save_every
    seeded = [dc.simulate(tank, prop, 2, key=jax.random.key(s), **kw).frames for s in (0, 3)]
    np.testing.assert_array_equal(dc.Result.load(out / "s.npz").frames, seeded[0])
    assert not np.array_equal(seeded[0], seeded[1])


def test_compare_repeats_its_table_from_its_record(inputs, capsys):
    folder, out = inputs
    argv = ["compare", "--image", folder / "pic.png", "--kernel", "gaussian:0.9", "--boundary", "periodic"]
    argv += ["--methods", "propagator,spectral,image", "--steps", 5, "--json", "--animate", out / "c.gif"]
    first = json.loads(_main(argv, capsys).out)
    record = _toml(out / "c.toml")
    assert record["command"] == "compare" and record["methods"] == ["propagator", "spectral", "image"]
    assert record["reference"] == "propagator"
    again = json.loads(_main(["compare", "--config", out / "c.toml", "--json"], capsys).out)
    for row, same in zip(first["table"], again["table"]):
        for key in ("method", "mass", "absorbed", "max_abs_error", "rel_l2_error", "mass_balance_error"):
            assert row[key] == same[key], key


def test_dashes_and_underscores_and_relative_paths(inputs, capsys):
    folder, out = inputs
    cfg = folder / "mine.toml"
    cfg.write_text('image = "pic.png"\nsave-every = 2\nsteps = 4\nmethod = "propagator"\nx64 = true\n')
    _main(["run", "--config", cfg, "--out", out / "r.npz"], capsys)
    res = dc.Result.load(out / "r.npz")
    np.testing.assert_array_equal(res.steps, [0, 2, 4])
    tank = dc.Tank.from_image(folder / "pic.png")
    np.testing.assert_array_equal(
        res.frames, dc.simulate(tank, dc.Propagator.box(3), 4, method="propagator", save_every=2).frames
    )


BAD = [
    ('scenario = "point"\nwarp = 3\n', "key 'warp' is unknown"),
    ('scenario = "point"\nsteps = -1\n', "key 'steps'"),
    ('scenario = "point"\nsteps = "many"\n', "key 'steps'"),
    ('scenario = "point"\nsteps = 2.5\n', "key 'steps'"),
    ('scenario = "point"\nkernel = "box:4"\n', "key 'kernel'"),
    ('scenario = "point"\nboundary = ["reflect", "wall"]\n', "key 'boundary'"),
    ('scenario = "point"\nx64 = "yes"\n', "key 'x64'"),
    ('scenario = "point"\nmethod = ["propagator"]\n', "key 'method'"),
    ('scenario = "point"\ntemperature = 0\n', "key 'temperature'"),
    ('scenario = "point"\nsave-every = 2\nsave_every = 3\n', "'save-every' and 'save_every'"),
    ('scenario = "point"\nno-cache = true\n', "key 'no-cache' is an option of the command line only"),
    ('scenario = "point"\nconfig = "other.toml"\n', "key 'config'"),
    ("scenario = 3\n", "key 'scenario'"),
    ('scenario = "point"\nnormalize = "max"\n', "key 'normalize'"),
    ('command = "compare"\nscenario = "point"\n', "`compare` run"),
    ('scenario = "point"\n[sha256]\nimage = "00"\n', "64 hex digits"),
    ('scenario = "point"\nsteps = \n', "not a valid TOML file"),
    ('image = "missing.png"\n', "--image (key 'image' of"),
    ('image = "pic.png"\nwalls = "k.npy"\n', "--walls (key 'walls' of"),
]


@pytest.mark.parametrize("text, needle", BAD)
def test_a_bad_key_or_value_exits_2_with_one_line_naming_it_and_writes_nothing(
    inputs, capsys, monkeypatch, text, needle
):
    folder, out = inputs

    def no_work(*args, **kwargs):
        raise AssertionError("the command started working before refusing its input")

    monkeypatch.setattr(scenarios, "get", no_work)
    monkeypatch.setattr(cli_commands, "simulate", no_work)
    cfg = folder / "bad.toml"
    cfg.write_text(text)
    err = _main(["run", "--config", cfg, "--out", out / "r.npz"], capsys, code=2).err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err
    assert os.listdir(out) == []


def test_an_input_file_that_changed_is_refused_naming_it(inputs, capsys, monkeypatch):
    folder, out = inputs
    argv = ["run", "--image", folder / "pic.png", "--kernel", folder / "k.npy", "--method", "propagator"]
    _main(argv + ["--steps", 2, "--out", out / "a.npz"], capsys)
    np.save(folder / "k.npy", np.ones((3, 5)))  # the kernel file is changed after the run
    monkeypatch.setattr(cli_commands, "simulate", lambda *a, **k: pytest.fail("ran with a changed input"))
    err = _main(["run", "--config", out / "a.toml", "--out", out / "b.npz"], capsys, code=2).err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "k.npy" in lines[0] and "changed" in lines[0] and "--kernel" in lines[0], err
    assert sorted(os.listdir(out)) == ["a.npz", "a.toml"]
    # a file given on the command line instead is the user's choice: its checksum is not the record's
    monkeypatch.undo()
    _main(["run", "--config", out / "a.toml", "--kernel", folder / "k.npy", "--out", out / "b.npz"], capsys)
    (folder / "pic.png").unlink()
    err = _main(["run", "--config", out / "a.toml"], capsys, code=2).err
    assert "--image (key 'image' of" in err and "does not exist" in err


def test_the_record_is_written_only_once_every_output_is(inputs, capsys, monkeypatch):
    folder, out = inputs
    from diffusion_conv import render

    def broken(*args, **kwargs):
        raise dc.InputError("the animation cannot be drawn")

    monkeypatch.setattr(render, "animate", broken)
    argv = ["run", "--image", folder / "pic.png", "--method", "propagator", "--steps", 2]
    _main(argv + ["--out", out / "a.npz", "--animate", out / "a.gif"], capsys, code=2)
    assert "a.toml" not in os.listdir(out)  # written only once every output is


def test_the_writer_reads_back_exactly():
    data = {
        "command": "run",
        "text": 'quotes " and \\ backslashes, tab\t, newline\n, bell\x07, del\x7f, unicode é 水',
        "floats": [0.1, 1e-300, 1e16, 5e-324, 1.7976931348623157e308, 0.30000000000000004],
        "ints": [0, -3, 2**40],
        "flag": False,
        "sha256": {"image": "0" * 64},
    }
    back = tomllib.loads(config.dumps(data))
    assert back == data
    for a, b in zip(back["floats"], data["floats"]):
        assert a.hex() == b.hex()
    with pytest.raises(ValueError):
        config.dumps({"bad key": 1})


def test_a_file_name_that_is_not_text_is_refused_before_the_run(inputs, capsys):
    folder, out = inputs
    odd = os.fsdecode(b"pic-\xff.png")
    (folder / odd).write_bytes((folder / "pic.png").read_bytes())
    err = _main(["run", "--image", folder / odd, "--out", out / "a.npz"], capsys, code=2).err
    assert "cannot be written into the run's record" in err and os.listdir(out) == []


@pytest.mark.slow
def test_the_command_repeats_a_float32_stochastic_run_from_its_record_in_a_fresh_process(inputs):
    folder, out = inputs
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)

    def command(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "diffusion_conv.cli", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=str(out),
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    argv = ["run", "--image", folder / "pic.png", "--kernel", "sobel", "--method", "counts", "--particles", 3000]
    command(*argv, "--steps", 4, "--out", "a.npz")
    assert _toml(out / "a.toml")["x64"] is False
    command("run", "--config", "a.toml", "--out", "b.npz")
    ra, _ = _identical(out / "a.npz", out / "b.npz")
    assert ra.frames.dtype == np.float32

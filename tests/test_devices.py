"""Many devices (8 forced host devices, in a subprocess) and one job over two processes on 127.0.0.1.

The rest of the suite keeps one device: these checks run in fresh interpreters
with ``XLA_FLAGS=--xla_force_host_platform_device_count``.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import diffusion_conv as dc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 600  # guards against a hang only


def _env(devices):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)
    return env


def _python(code, devices=8):
    """Run ``code`` in a fresh interpreter with ``devices`` host devices; its last stdout line as JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=_env(devices),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


SPLIT_GRID = """
    import json, jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np, diffusion_conv as dc
    assert len(jax.devices()) == 8
    sc = dc.scenarios.get("slit", size=32)
    walls = sc.tank.walls
    out = {}
    runs = [("propagator", {}, "all"), ("counts", dict(n_particles=30000, key=jax.random.key(3)), "all"),
            ("particles", dict(n_particles=30001, key=jax.random.key(4)), 8)]
    for boundary in [BOUNDARY]:
        tank = dc.Tank(np.asarray(sc.tank.concentration), boundary=boundary, walls=walls)
        extra = [("propagator", {}, 2), ("particles", dict(n_particles=30001, key=jax.random.key(4)), 4)]
        for method, kw, devices in runs + (extra if boundary == "reflect" else []):
            one = dc.simulate(tank, sc.propagator, 40, method=method, save_every=8, **kw)
            many = dc.simulate(tank, sc.propagator, 40, method=method, save_every=8, devices=devices, **kw)
            out[f"{boundary}|{method}|{devices}"] = [float(np.max(np.abs(one.frames - many.frames))),
                                                     float(np.max(np.abs(one.absorbed - many.absorbed))),
                                                     bool(np.array_equal(one.frames, many.frames))]
    print(json.dumps(out))
"""


@pytest.mark.parametrize("boundary", ["reflect", "periodic", ("absorb", "periodic")], ids=str)
def test_one_grid_split_over_devices_gives_the_one_device_numbers(boundary):
    out = _python(SPLIT_GRID.replace("BOUNDARY", repr(boundary)))
    assert len(out) == (5 if boundary == "reflect" else 3)
    for name, (frames, absorbed, equal) in out.items():
        if "propagator" in name:
            assert frames <= 1e-13 and absorbed <= 1e-11, (name, frames, absorbed)
        else:  # the same key gives the same integers whatever the number of devices
            assert equal and absorbed == 0.0, name


BATCHES = """
    import json, jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np, diffusion_conv as dc
    rng = np.random.default_rng(0)
    stack = dc.Tank.stack([dc.Tank(rng.random((12, 10)), boundary="periodic") for _ in range(5)])
    bank = dc.Propagator.stack([dc.Propagator.gaussian(0.7, radius=1), dc.Propagator.from_logits(rng.normal(size=(3, 3)))])
    out = {}
    for method in ["propagator", "spectral", "heat"]:  # the stochastic methods: the ensemble below
        kw = dict(n_particles=2000, key=jax.random.key(1)) if method in ("counts", "particles") else {}
        prop = bank if method != "spectral" else bank[0]
        tanks = stack.reshape_batch((5, 1)) if method != "spectral" else stack
        one = dc.simulate(tanks, prop, 12, method=method, save_every=4, **kw)
        many = dc.simulate(tanks, prop, 12, method=method, save_every=4, devices="all", **kw)
        out[method] = [float(np.max(np.abs(one.frames - many.frames))), bool(np.array_equal(one.frames, many.frames)),
                       list(many.frames.shape)]
    keys = jax.random.split(jax.random.key(2), 3)
    one = dc.simulate(stack[0], bank[0], 6, method="particles", n_particles=500, key=keys)
    many = dc.simulate(stack[0], bank[0], 6, method="particles", n_particles=500, key=keys, devices=8)
    out["ensemble"] = [0.0, bool(np.array_equal(one.frames, many.frames)), list(many.frames.shape)]
    try:
        dc.simulate(stack[0], bank[0], 3, method="spectral", devices="all")
    except ValueError as exc:
        out["spectral refuses a split grid"] = str(exc)
    print(json.dumps(out))
"""


def test_batches_spread_over_devices_give_the_one_device_numbers():
    out = _python(BATCHES)
    for method in ["propagator", "spectral", "heat"]:
        assert out[method][0] <= 1e-13, (method, out[method])
    assert out["ensemble"][1]
    assert out["propagator"][2] == [4, 5, 2, 12, 10] and out["ensemble"][2] == [2, 3, 12, 10]
    assert "batch" in out["spectral refuses a split grid"]


def test_devices_are_checked_before_work():
    tank, prop = dc.Tank(np.ones((10, 10))), dc.Propagator.box(3)
    with pytest.raises(ValueError, match="between 1 and the 1 devices"):
        dc.simulate(tank, prop, 2, devices=3)
    with pytest.raises(ValueError, match="runs on the host"):
        dc.simulate(tank, prop, 2, method="image", devices="all")
    with pytest.raises(TypeError, match="devices must be"):
        dc.simulate(tank, prop, 2, devices=3.5)
    with pytest.raises(ValueError, match="cannot split one grid"):
        dc.simulate(tank, prop, 2, method="heat", devices=1)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_job_over_two_processes_equals_one_process(tmp_path):
    """Two processes on 127.0.0.1, 4 host devices each, one run of slit split over the 8; process 0 writes."""
    port = _free_port()
    common = [
        "run",
        "slit",
        "--method",
        "propagator",
        "--x64",
        "--devices",
        "all",
        "--coordinator",
        f"127.0.0.1:{port}",
        "--num-processes",
        "2",
    ]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "diffusion_conv.cli",
                *common,
                "--process-id",
                str(i),
                "--out",
                str(tmp_path / f"p{i}.npz"),
            ],
            env=_env(4),
            cwd=str(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        results = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    assert sorted(os.listdir(tmp_path)) == ["p0.npz", "p0.toml"]  # process 0 writes every output (the record too)
    single = subprocess.run(
        [
            sys.executable,
            "-m",
            "diffusion_conv.cli",
            "run",
            "slit",
            "--method",
            "propagator",
            "--x64",
            "--out",
            str(tmp_path / "one.npz"),
        ],
        env=_env(1),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    job, one = dc.Result.load(tmp_path / "p0.npz"), dc.Result.load(tmp_path / "one.npz")
    assert job.frames.shape == one.frames.shape == (43, 96, 96)
    np.testing.assert_allclose(job.frames, one.frames, rtol=0, atol=1e-13)
    np.testing.assert_allclose(job.mass(), one.mass(), rtol=1e-13)

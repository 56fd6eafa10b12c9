"""Ctrl-C and SIGTERM: every method stops promptly, exits 130 or 143, and leaves no file behind.

The command-line cases interrupt real, long computations (a billion steps) in a
fresh interpreter with x64 off, as a user runs them. Time limits here are hang
guards only; the measured delays are printed (``pytest -s``).
"""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import _interrupt, _io, cli, render
from diffusion_conv.cli import guard as cli_guard

HANG = 30.0  # seconds: only there so that a broken mechanism fails instead of hanging the suite
STARTUP = 240.0  # seconds to reach the computation (import and compile on a loaded machine)


# The children start with Ctrl-C's default action whatever the test runner was started with (a runner started
# in the background of a non-interactive shell ignores SIGINT, and children inherit that). A small launcher sets
# it and execs the child: a preexec_fn would do the same in the forked child, but it makes subprocess fork the
# whole (multithreaded) test process, and JAX warns "os.fork() was called ..." once per child.
DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
)


class _Process:
    """A child whose stderr (and stdout) are collected by threads, so that waiting never blocks on them."""

    def __init__(self, argv, cwd):
        env = dict(os.environ)
        env.pop("JAX_ENABLE_X64", None)
        assert argv[0] == sys.executable
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DEFAULT_SIGINT] + list(argv[1:]),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out, self.err = bytearray(), bytearray()
        self._threads = [
            threading.Thread(target=self._drain, args=(s, b), daemon=True)
            for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(stream, buf):
        for chunk in iter(lambda: stream.read1(4096), b""):
            buf.extend(chunk)

    def wait_for(self, needle: bytes, where="err", timeout=STARTUP):
        buf = self.err if where == "err" else self.out
        end = time.monotonic() + timeout
        while needle not in buf:
            if self.proc.poll() is not None:
                pytest.fail(f"exited with {self.proc.returncode} before {needle!r}: {bytes(self.err)[-2000:]!r}")
            if time.monotonic() > end:
                self.proc.kill()
                pytest.fail(f"no {needle!r} after {timeout} s: {bytes(self.err)[-2000:]!r}")
            time.sleep(0.05)

    def stop(self, sig):
        """Send ``sig``; return (exit code, seconds until the process ended)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"still running {HANG} s after {signal.Signals(sig).name}: {bytes(self.err)[-2000:]!r}")
        delay = time.monotonic() - start
        for t in self._threads:
            t.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        return code, delay

    @property
    def stderr(self):
        return bytes(self.err).decode(errors="replace")


IGNORING_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
)


# spectral does any number of steps in one transform: a long run of it is many frames of a large tank
LONG = {"spectral": ["--size", "512", "--save-every", str(10**7)]}


def _cli(tmp_path, method, scenario, ignore_sigint=False):
    argv = [
        sys.executable,
        "-m",
        "diffusion_conv.cli",
        "run",
        scenario,
        "--method",
        method,
        "--size",
        "32",
        "--steps",
        str(10**9),
        "--out",
        str(tmp_path / "x.npz"),
        "--animate",
        str(tmp_path / "x.gif"),
    ]
    argv += LONG.get(method, [])
    if ignore_sigint:  # started the way nohup does: SIGINT ignored across exec
        argv = [sys.executable, "-c", IGNORING_SIGINT] + argv[1:]
    return _Process(argv, cwd=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, scenario, sig",
    [
        ("propagator", "slit", signal.SIGINT),
        ("particles", "slit", signal.SIGINT),
        ("counts", "slit", signal.SIGINT),
        ("spectral", "point", signal.SIGINT),
        ("propagator", "slit", signal.SIGTERM),
        ("particles", "slit", signal.SIGTERM),
        ("counts", "slit", signal.SIGTERM),
    ],
)
def test_the_command_stops_promptly_and_leaves_nothing(tmp_path, method, scenario, sig):
    p = _cli(tmp_path, method, scenario)
    p.wait_for(b"/s]")  # a progress bar (steps, frames or images): the method is computing
    time.sleep(0.5)
    code, delay = p.stop(sig)
    print(f"\n{method} {signal.Signals(sig).name}: exit {code} after {delay:.2f} s")
    assert code == 128 + sig, p.stderr
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert "interrupted" in p.stderr.splitlines()[-1]
    assert os.listdir(tmp_path) == []  # no result, no animation, no .tmp-* file


@pytest.mark.slow
def test_an_ignored_sigint_stays_ignored_and_sigterm_still_stops(tmp_path):
    # nohup and background jobs of a non-interactive shell start with SIGINT ignored
    p = _cli(tmp_path, "propagator", "slit", ignore_sigint=True)
    p.wait_for(b"step/s")
    p.proc.send_signal(signal.SIGINT)
    time.sleep(2.0)
    assert p.proc.poll() is None, p.stderr
    code, delay = p.stop(signal.SIGTERM)
    assert code == 143 and os.listdir(tmp_path) == [], p.stderr


# -- the watchdog: the main thread stuck in C++ --------------------------------------------------
STUCK = r"""
import os, sys
import jax, jax.numpy as jnp
from diffusion_conv import _interrupt, _io
from diffusion_conv.cli import guard

grace, folder = float(sys.argv[1]), sys.argv[2]
x = jnp.ones(64)
spin = jax.jit(lambda x: jax.lax.fori_loop(0, 2**31 - 1, lambda i, x: jnp.sin(x) + 1e-3, x)).lower(x).compile()
with guard.Guard(hard_exit=True, grace=grace):
    with _io.atomic_path(os.path.join(folder, "out.bin")):
        print("blocked", flush=True)
        spin(x).block_until_ready()  # hours inside C++: Python's signal handler cannot run until it returns
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_watchdog_ends_a_process_stuck_in_a_computation(tmp_path, sig):
    p = _Process([sys.executable, "-c", STUCK, "1.5", str(tmp_path)], cwd=tmp_path)
    p.wait_for(b"blocked", where="out")
    time.sleep(0.3)  # well inside the call
    assert [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]  # the file being written
    code, delay = p.stop(sig)
    print(f"\nstuck in C++, {signal.Signals(sig).name}: exit {code} after {delay:.2f} s")
    assert code == 128 + sig, p.stderr
    assert delay >= 1.5  # the main thread could not react: it was the watchdog, after its grace period
    assert "stopped without waiting" in p.stderr and "Traceback" not in p.stderr
    assert os.listdir(tmp_path) == []


def test_a_second_signal_ends_the_process_at_once(tmp_path):
    p = _Process([sys.executable, "-c", STUCK, "600", str(tmp_path)], cwd=tmp_path)
    p.wait_for(b"blocked", where="out")
    p.proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    code, delay = p.stop(signal.SIGINT)
    print(f"\nsecond SIGINT: exit {code} after {delay:.2f} s")
    assert code == 130 and os.listdir(tmp_path) == [], p.stderr


# -- the library: a write interrupted in the middle -------------------------------------------------
WRITER = r"""
import os, sys, time
import numpy as np
import diffusion_conv as dc
from diffusion_conv import render

what, folder = sys.argv[1], sys.argv[2]
res = dc.Result("propagator", [0, 1, 2], [0.0, 1.0, 2.0], np.zeros((3, 8, 8)), np.zeros(3), 0.0, {"dx": 1.0})


def stall(*args, **kwargs):
    print("writing", flush=True)
    time.sleep(120)


if what == "save":
    def half_written(fh, **arrays):
        fh.write(b"PK\x03\x04 half of an archive")
        stall()

    np.savez = half_written
    res.save(os.path.join(folder, "run.npz"))
else:
    render.panels.Panels.rgb = lambda self, i: stall()
    render.animate(res, os.path.join(folder, "run.gif"), dpi=30)
"""


@pytest.mark.parametrize("what", ["save", "animate"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_library_write_interrupted_in_the_middle_leaves_no_temporary_file(tmp_path, what, sig):
    p = _Process([sys.executable, "-c", WRITER, what, str(tmp_path)], cwd=tmp_path)
    p.wait_for(b"writing", where="out")
    assert [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
    code, _ = p.stop(sig)
    if sig == signal.SIGTERM:
        assert code == -signal.SIGTERM, p.stderr  # the program still dies of the signal, as it would have
    else:
        assert code in (-signal.SIGINT, 1), p.stderr  # an uncaught KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_interrupted_save_in_process_leaves_nothing_registered(tmp_path, monkeypatch):
    res = dc.Result("propagator", [0, 1], [0.0, 1.0], np.zeros((2, 4)), np.zeros(2), 0.0, {})

    def interrupted(fh, **arrays):
        fh.write(b"partial")
        raise _interrupt.Terminated()

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(_interrupt.Terminated):
        res.save(tmp_path / "run.npz")
    assert os.listdir(tmp_path) == [] and _interrupt.pending() == []


# -- the command inside another program ------------------------------------------------------------
def test_an_interrupted_command_removes_the_outputs_it_had_completed(tmp_path, capsys, monkeypatch):
    def interrupted(self, i):
        raise _interrupt.Terminated()

    monkeypatch.setattr(render.panels.Panels, "rgb", interrupted)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code = cli.main(
        [
            "run",
            "point",
            "--size",
            "16",
            "--steps",
            "4",
            "--method",
            "propagator",
            "--out",
            str(tmp_path / "run.npz"),
            "--animate",
            str(tmp_path / "run.gif"),
        ]
    )
    assert code == 143
    assert os.listdir(tmp_path) == []  # the result was complete, but the command was not
    assert capsys.readouterr().err.strip().splitlines()[-1] == "diffusion-conv: interrupted"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_guard_maps_signals_to_exceptions_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(_interrupt.Terminated) as info:
        with cli_guard.Guard() as guard:
            signal.raise_signal(signal.SIGTERM)
            for _ in range(1000):  # the handler runs at the next bytecode
                pass
    assert isinstance(info.value, KeyboardInterrupt) and info.value.exit_code == 143
    assert guard.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before
    assert _interrupt.exit_code(KeyboardInterrupt()) == 130


def test_wait_returns_when_the_arrays_are_ready():
    import jax.numpy as jnp

    x = jnp.arange(4.0) * 2
    assert _interrupt.wait({"a": x, "b": np.ones(2), "c": 3})["a"] is x


def test_wait_blocks_until_an_asynchronous_computation_is_done():
    import jax
    import jax.numpy as jnp

    @jax.jit
    def slow(x):
        return jax.lax.fori_loop(0, 200, lambda i, y: jnp.sin(y) + y * 1e-3, x)

    x = jnp.ones((256, 256))
    slow(x).block_until_ready()  # compiled
    for _ in range(3):
        out = _interrupt.wait(slow(x))
        assert out.is_ready()
        np.testing.assert_array_equal(np.asarray(out), np.asarray(slow(x)))


def test_registry_of_temporary_files(tmp_path):
    with _io.atomic_path(tmp_path / "a.txt") as tmp:
        assert tmp in _interrupt.pending()
        _interrupt.remove_pending()  # what the watchdog does
        assert not os.path.exists(tmp)
        with open(tmp, "w") as fh:
            fh.write("x")
    assert _interrupt.pending() == []

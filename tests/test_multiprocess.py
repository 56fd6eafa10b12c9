"""One job over local processes on 127.0.0.1 that cannot form, disagree or lose a process: one line each.

Each case starts ``diffusion-conv`` processes (one host device each) on a free
port of 127.0.0.1 and checks that every one of them ends, with one clear line on
stderr and a non-zero exit code, within the join timeout plus the time to start
Python and JAX: never a hang, a C++ stack trace or a raw ``JaxRuntimeError``.
The seconds from each start to its end are printed (``pytest -s``).
"""

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from diffusion_conv import cli
from diffusion_conv.cli import distributed

TIMEOUT_S = 300  # guards against a hang only
JOIN_S = 5  # --join-timeout of the cases that cannot form
RUN = ["run", "point", "--size", "8", "--steps", "2", "--method", "propagator"]
NOISE = (
    "Traceback",
    "JaxRuntimeError",
    "DEADLINE_EXCEEDED",
    "Check failure",
    "*** ",
    "terminate called",
    "coordination_service",
    "absl::",
)


def _env():
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")
    env.pop("JAX_ENABLE_X64", None)
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _job(port, n, i, timeout=JOIN_S):
    return [
        "--coordinator",
        f"127.0.0.1:{port}",
        "--num-processes",
        str(n),
        "--process-id",
        str(i),
        "--join-timeout",
        str(timeout),
    ]


class Processes:
    """``diffusion-conv`` processes started one after the other; their exit codes, stderr and seconds to the end.

    A process has ended once it exited and its stderr is closed (a job's stderr
    passes through a small filter process that may write the last line).
    """

    def __init__(self, tmp_path, argvs):
        self.procs, self.started, self.closed, self.errs, self.readers, self.said = [], [], [], [], [], []
        for argv in argvs:
            self.started.append(time.monotonic())
            p = subprocess.Popen(
                [sys.executable, "-m", "diffusion_conv.cli", *argv],
                env=_env(),
                cwd=str(tmp_path),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self.procs.append(p)
            self.errs.append(bytearray())
            self.closed.append(None)
            self.said.append(None)
            reader = threading.Thread(target=self._read, args=(len(self.procs) - 1,), daemon=True)
            reader.start()
            self.readers.append(reader)

    def _read(self, k):
        stream = self.procs[k].stderr
        while True:
            chunk = stream.read1(65536)
            if not chunk:
                break
            self.errs[k] += chunk
            if b"error:" in chunk:
                self.said[k] = self.said[k] or time.monotonic()  # when its line came
        self.closed[k] = time.monotonic()

    def stderr(self, k):
        return bytes(self.errs[k]).decode(errors="replace")

    def wait(self, timeout=TIMEOUT_S):
        """``[(exit code, stderr, seconds from start to end)]``; None for a process still running at the timeout."""
        deadline = time.monotonic() + timeout
        out = []
        for k, p in enumerate(self.procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                out.append((None, self.stderr(k), None))
                continue
            self.readers[k].join(max(0.1, deadline - time.monotonic()))
            ended = self.closed[k] or time.monotonic()
            out.append((p.returncode, self.stderr(k), ended - self.started[k]))
        return out

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def _run(tmp_path, argvs):
    procs = Processes(tmp_path, argvs)
    try:
        return procs.wait()
    finally:
        procs.kill()


def _line(result):
    """The one line a process that failed wrote (its progress bars aside); no trace, no raw JAX error."""
    code, stderr, seconds = result
    assert code is not None, f"still running after {TIMEOUT_S} s: {stderr[-2000:]}"
    assert code != 0, stderr[-2000:]
    lines = [
        line
        for line in stderr.replace("\r", "\n").splitlines()
        if line.strip() and "step/s" not in line and not line.startswith("[Gloo]")
    ]
    assert len(lines) == 1, stderr[-3000:]
    assert not any(n in stderr for n in NOISE), stderr[-3000:]
    assert lines[0].startswith("diffusion-conv: error: "), lines[0]
    return lines[0]


def _report(name, results):
    print(
        f"\n{name}: "
        + ", ".join(
            f"process {k}: exit {rc} after {s:.1f} s" if s is not None else f"process {k}: still running"
            for k, (rc, _, s) in enumerate(results)
        )
    )


def _join_bound():
    """Seconds a case that cannot form may take: the join timeout plus starting Python and JAX on a busy machine."""
    return JOIN_S + 120


# -- checks made before joining (no processes) ---------------------------------------------------------
def test_process_0_refuses_an_address_it_cannot_listen_at():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ValueError, match=f"--coordinator '127.0.0.1:{port}': the port {port} is in use"):
            distributed.check_coordinator(f"127.0.0.1:{port}", 0)
        distributed.check_coordinator(f"127.0.0.1:{port}", 1)  # the others only dial it
    with pytest.raises(ValueError, match="192.0.2.1 is not an address of this host"):
        distributed.check_coordinator("192.0.2.1:4321", 0)  # TEST-NET-1: never a local address
    with pytest.raises(ValueError, match="does not resolve"):
        distributed.check_coordinator("no-such-host.invalid:4321", 1)
    for bad in ("127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", ":4321", "127.0.0.1:x"):
        with pytest.raises(ValueError, match="--coordinator must be HOST:PORT"):
            distributed.check_coordinator(bad, 0)


@pytest.mark.parametrize(
    "argv, message",
    [
        (RUN + ["--join-timeout", "5"], "--join-timeout applies to a job of several processes"),
        (
            RUN
            + ["--join-timeout", "0", "--coordinator", "127.0.0.1:4321", "--num-processes", "2", "--process-id", "1"],
            "--join-timeout: expected seconds from 1 to 3600, got '0'",
        ),
        (
            RUN
            + ["--join-timeout", "nan", "--coordinator", "127.0.0.1:4321", "--num-processes", "2", "--process-id", "1"],
            "expected seconds from 1 to 3600",
        ),
        (
            RUN + ["--coordinator", "192.0.2.1:4321", "--num-processes", "2", "--process-id", "0"],
            "not an address of this host",
        ),
    ],
)
def test_job_options_are_refused_before_joining(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_job_process_writes_only_as_process_0():
    args = cli.build_parser().parse_args(
        RUN + ["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "1"]
    )
    assert not cli.job.writes(args)
    assert cli.job.writes(cli.build_parser().parse_args(RUN))


# -- two processes on 127.0.0.1 ---------------------------------------------------------------------
@pytest.mark.slow
def test_peers_that_disagree_on_steps_both_refuse_naming_it(tmp_path):
    port = _free_port()
    results = _run(
        tmp_path,
        [RUN + _job(port, 2, 0, 120), RUN[:-4] + ["--steps", "3", "--method", "propagator"] + _job(port, 2, 1, 120)],
    )
    _report("--steps 2 against --steps 3", results)
    for code, stderr, seconds in results:
        line = _line((code, stderr, seconds))
        assert code == 2 and re.search(
            r"--steps is (2 on process 0 and 3 on process 1|3 on process 1 and 2 on "
            r"process 0)",
            line,
        ), line
        assert seconds < _join_bound()


@pytest.mark.slow
def test_peers_that_disagree_on_the_number_of_processes_end_with_one_line(tmp_path):
    port, other = _free_port(), _free_port()
    results = _run(
        tmp_path,
        [
            RUN + _job(port, 2, 0),
            RUN + _job(port, 3, 1),  # they join, then compare
            RUN + _job(other, 3, 0),
            RUN + _job(other, 2, 1),
        ],
    )  # process 0 waits for a third
    _report("--num-processes 2 against 3; 3 against 2", results)
    for k in (0, 1):
        line = _line(results[k])
        assert results[k][0] == 2 and "--num-processes is" in line and "2" in line and "3" in line, line
        assert results[k][2] < _join_bound()
    for k in (2, 3):
        line = _line(results[k])
        assert results[k][0] == 2 and "--join-timeout 5: the job did not form" in line, line
        assert results[k][2] < _join_bound()


@pytest.mark.slow
def test_a_missing_peer_or_coordinator_ends_at_the_join_timeout(tmp_path):
    results = _run(tmp_path, [RUN + _job(_free_port(), 2, 0), RUN + _job(_free_port(), 2, 1)])
    _report("process 0 alone; process 1 alone", results)
    assert "process 0 waited at 127.0.0.1:" in _line(results[0]) and "for process 1" in results[0][1]
    assert "process 1 found no job at 127.0.0.1:" in _line(results[1])
    for code, _, seconds in results:
        assert code == 2 and JOIN_S <= seconds < _join_bound()


@pytest.mark.slow
def test_two_processes_with_the_same_id_end_with_one_line_each(tmp_path):
    port, other = _free_port(), _free_port()
    procs = Processes(tmp_path, [RUN + _job(port, 2, 0)])
    try:
        time.sleep(0.5)  # the second one starts while the first one listens (or soon after)
        procs2 = Processes(tmp_path, [RUN + _job(port, 2, 0), RUN + _job(other, 3, 0), RUN + _job(other, 3, 1)])
        try:
            time.sleep(0.5)
            procs3 = Processes(tmp_path, [RUN + _job(other, 3, 1)])
            try:
                results = procs.wait() + procs2.wait() + procs3.wait()
            finally:
                procs3.kill()
        finally:
            procs2.kill()
    finally:
        procs.kill()
    _report("two with --process-id 0; 0, 1 and 1 of 3", results)
    lines = [_line(r) for r in results]
    assert sorted(r[0] for r in results[:2]) == [2, 2]
    assert any("is in use on this host" in line for line in lines[:2]) or all(
        "--join-timeout 5" in line for line in lines[:2]
    ), lines[:2]
    # of two process 1: the coordinator drops one (JAX aborts it: one line says why), the rest time out
    assert any("another process joined the job with the same --process-id" in line for line in lines[2:]) or all(
        "--join-timeout 5" in line for line in lines[2:]
    ), lines[2:]
    for _, _, seconds in results:
        assert seconds < _join_bound()


@pytest.mark.slow
def test_another_program_at_the_address_ends_both_with_one_line(tmp_path):
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        results = _run(tmp_path, [RUN + _job(port, 2, 0), RUN + _job(port, 2, 1)])
    _report("another program listening at the address", results)
    assert results[0][0] == 2 and f"the port {port} is in use" in _line(results[0])
    assert results[1][0] == 2 and "--join-timeout 5: the job did not form" in _line(results[1])
    assert results[1][2] < _join_bound()


@pytest.mark.slow
def test_a_bad_out_on_process_0_is_refused_before_joining(tmp_path):
    port = _free_port()
    results = _run(
        tmp_path, [RUN + _job(port, 2, 0) + ["--out", str(tmp_path / "missing" / "r.npz")], RUN + _job(port, 2, 1)]
    )
    _report("a bad --out on process 0", results)
    line = _line(results[0])
    assert results[0][0] == 2 and "--out" in line and "missing" in line, line
    assert "process 1 found no job" in _line(results[1]) and results[1][0] == 2
    assert results[1][2] < _join_bound()
    assert results[0][2] < results[1][2]  # refused before joining: it never waits for the join timeout


def _listeners(port):
    """The local addresses listening at ``port`` (TCP, IPv4 and IPv6), from /proc/net/tcp and tcp6."""
    found = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            with open(f"/proc/net/{name}") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order words
                found.append(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, raw))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads the listening sockets from /proc/net/tcp")
def test_a_loopback_job_listens_on_loopback_only_and_runs(tmp_path):
    port = _free_port()
    procs = Processes(tmp_path, [RUN + _job(port, 2, 0, 120) + ["--out", str(tmp_path / "r.npz"), "--x64"]])
    try:
        deadline = time.monotonic() + 120
        while not _listeners(port) and time.monotonic() < deadline and procs.procs[0].poll() is None:
            time.sleep(0.05)
        listening = _listeners(port)
        second = Processes(tmp_path, [RUN + _job(port, 2, 1, 120) + ["--x64"]])
        try:
            results = procs.wait() + second.wait()
        finally:
            second.kill()
    finally:
        procs.kill()
    _report("a loopback job", results)
    # 127.0.0.1 (gRPC listens on an IPv6 socket: ::ffff:127.0.0.1), not 0.0.0.0 or ::, every interface
    addresses = [ipaddress.ip_address(a) for a in listening]
    assert [str(getattr(a, "ipv4_mapped", None) or a) for a in addresses] == ["127.0.0.1"], listening
    assert [r[0] for r in results] == [0, 0], [r[1][-2000:] for r in results]
    res = np.load(tmp_path / "r.npz")
    assert res["frames"].shape[-2:] == (8, 8)
    np.testing.assert_allclose(res["frames"].sum(axis=(-2, -1)), res["frames"][0].sum(), rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_process_that_stops_during_the_run_ends_the_other_with_one_line(tmp_path, sig):
    port = _free_port()
    long_run = [
        "run",
        "point",
        "--size",
        "16",
        "--steps",
        "100000000",
        "--save-every",
        "50000000",
        "--method",
        "propagator",
    ]
    procs = Processes(tmp_path, [long_run + _job(port, 2, 0, 120), long_run + _job(port, 2, 1, 120)])
    try:
        deadline = time.monotonic() + 120
        while "step/s" not in procs.stderr(0) and time.monotonic() < deadline and procs.procs[0].poll() is None:
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the run: both processes step together
        assert procs.procs[1].poll() is None, procs.stderr(1)[-2000:]
        stopped = time.monotonic()
        procs.procs[1].send_signal(sig)
        results = procs.wait()
    finally:
        procs.kill()
    _report(f"process 1 stopped by {signal.Signals(sig).name} during the run", results)
    print(
        f"process 0 said why {procs.said[0] - stopped:.1f} s after the signal and ended "
        f"{procs.closed[0] - stopped:.1f} s after it"
    )
    line = _line(results[0])
    assert results[0][0] not in (0, None)
    if sig == signal.SIGTERM:  # it says so to the others before it ends
        assert results[1][0] == 143, results[1][1][-2000:]
        assert "process 1 of the job stopped (interrupted)" in line, line
    else:  # no word from it: the collective that lost it fails
        assert "another process of the job" in line, line
    assert procs.closed[0] - stopped < 60

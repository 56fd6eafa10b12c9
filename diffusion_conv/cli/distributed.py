"""Forming one job of several processes (``--coordinator``): joining with a timeout, comparing the runs, and ending
every process together when one fails (the command's own; the library only runs on the devices it is given)."""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from typing import NoReturn

from .. import _interrupt
from ..errors import InputError

# -- one job over several processes -------------------------------------------------------------
JOIN_TIMEOUT = 120
"""Default seconds a process waits for the whole job to form (``--join-timeout``)."""
LEAVE_TIMEOUT = 10.0
"""Seconds a process that stops because of a failure waits for the others to stop with it."""
_KEY = "diffusion_conv/job"


def coordinator_address(text, what="--coordinator"):
    """``(host, port)`` of ``HOST:PORT`` (``[::1]:PORT`` for IPv6), or ValueError naming ``what``."""
    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{what} must be HOST:PORT with a port from 1 to 65535, got {text!r}")
    return host, int(port)


def check_coordinator(text, process_id, what="--coordinator"):
    """Check, before joining, that the coordinator's address resolves, and on process 0 that it can listen there.

    Process 0 runs the job's coordinator and listens at exactly this address (its
    interface only, not every interface of the host). ValueError when the host
    does not resolve, when it is not an address of this host (process 0), or when
    the port is taken (another program, or another process started with the same
    ``--process-id 0``).
    """
    import socket

    host, port = coordinator_address(text, what)
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"{what} {text!r}: the host {host!r} does not resolve ({exc})") from None
    if process_id != 0:
        return
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            import errno

            if exc.errno == errno.EADDRINUSE:
                raise InputError(
                    f"{what} {text!r}: the port {port} is in use on this host (another program, or "
                    f"another process started with --process-id 0); choose a free port"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InputError(
                    f"{what} {text!r}: {host} is not an address of this host; process 0 runs the "
                    f"job's coordinator and listens at that address"
                ) from None
            raise InputError(f"{what} {text!r}: process 0 cannot listen there ({exc.strerror})") from None


class _Job:
    """This process's part of a joined job: the key-value store's client, the watcher of the others' failures.

    A process that fails after joining reports it (:meth:`failed`) and leaves
    (:meth:`leave`); the watcher of every other process sees the report at once,
    prints one line naming the process and its reason, and leaves too.
    """

    def __init__(self, client, process_id, prog):
        self.client, self.me, self.prog = client, process_id, prog
        self.leaving = threading.Lock()  # taken once: by the first path that ends this process for a failure
        self.stop = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="diffusion_conv-job", daemon=True)

    def _watch(self):
        while not self.stop.is_set():
            try:
                value = self.client.blocking_key_value_get(f"{_KEY}/failed", 500)
            except Exception:  # noqa: BLE001 - a timeout (nobody failed yet), or the client is shutting down
                if self.stop.wait(0.05):
                    return
                continue
            failure = _failure(value)
            if failure["process"] == self.me or not self.leaving.acquire(blocking=False):
                return  # this process reported it, or is already stopping
            self.stop.set()
            _say(f"\n{self.prog}: error: {_peer_line(failure, self.prog)}")  # after a progress bar
            self.leave(_peer_code(failure))

    def close(self):
        """Stop the watcher (at exit): a thread left waiting in C++ would be torn down with the interpreter."""
        self.stop.set()
        if self.watcher.is_alive() and self.watcher is not threading.current_thread():
            self.watcher.join(timeout=2.0)

    def failed(self, code, line):
        """Report this process's failure to the others: ``(line, code)`` to print and end with.

        The line and code are a peer's when another process reported its failure
        first (this one then most likely failed for want of that process). None
        when the watcher is already ending this process for a peer's failure.
        """
        if not self.leaving.acquire(blocking=False):
            return None
        self.stop.set()
        try:
            earlier = self.client.key_value_try_get(f"{_KEY}/failed")
        except Exception:  # noqa: BLE001 - no failure reported yet
            earlier = None
        if earlier is not None and _failure(earlier)["process"] != self.me:
            failure = _failure(earlier)
            return f"{self.prog}: error: {_peer_line(failure, self.prog)}", _peer_code(failure)
        try:
            self.client.key_value_set(f"{_KEY}/failed", json.dumps({"process": self.me, "code": code, "line": line}))
        except Exception:  # noqa: BLE001 - another process reported its failure at the same moment
            pass
        return line, code

    def leave(self, code) -> NoReturn:
        """End this process with ``code`` after a failure (its own or a peer's), once every process is leaving.

        JAX's shutdown barrier, met by every process (the failed one from its
        command, the others from their watchers, even while their main thread
        waits in a collective): no process then outlives the coordinator it
        needs, which would end it with JAX's abort. A process that never comes
        (killed) leaves the others to end after :data:`LEAVE_TIMEOUT` seconds.
        """
        import jax

        _backstop(code)
        _interrupt.remove_pending()
        _say(None)
        try:
            jax.distributed.shutdown()
        except Exception:  # noqa: BLE001 - the message is out; the process ends anyway
            pass
        os._exit(code)


_job = None


def _failure(value):
    try:
        failure = json.loads(value)
        return {"process": int(failure["process"]), "code": int(failure["code"]) or 1, "line": str(failure["line"])}
    except (ValueError, KeyError, TypeError):
        return {"process": -1, "code": 1, "line": str(value)}


def _peer_code(failure):
    """A peer's failure ends this process with 2 when it was bad input (the same for every process), else 1."""
    return 2 if failure["code"] == 2 else 1


def _peer_line(failure, prog):
    line = failure["line"].splitlines()[0] if failure["line"] else "no reason given"
    for prefix in (f"{prog}: ", "error: "):
        line = line[len(prefix) :] if line.startswith(prefix) else line
    return f"process {failure['process']} of the job stopped ({line}); this process stops with it"


def _say(line):
    """Print ``line`` on stderr (None: nothing) with stdout and stderr flushed, as before ``os._exit``."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            if line is not None and stream is sys.stderr:
                print(line, file=stream)
            stream.flush()
        except (OSError, ValueError):
            pass


def _backstop(code, seconds=LEAVE_TIMEOUT):
    """End the process with ``code`` after ``seconds`` if it has not ended by then (a peer that never stops)."""
    timer = threading.Timer(seconds, os._exit, (code,))
    timer.daemon = True
    timer.start()


# The child that carries a job's stderr (fd 2): everything passes through at once, but the records of
# JAX's coordination service (glog lines from its C++ code and their continuation lines) are dropped,
# and a fatal record (JAX then aborts the process) becomes one line naming its reason.
_FILTER = r"""
import os, re, select, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
prog = sys.argv[1].encode()
header = re.compile(rb"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ ([\w.-]+):\d+\] ")
job_files = re.compile(rb"(coordination|client\.|service\.|distributed|preemption|grpc)")
fatal, dropping, buf = None, False, b""

def write(data):
    try:
        os.write(2, data)
    except OSError:
        pass

def line_of(data):
    global fatal, dropping
    m = header.match(data)
    if data.startswith(prog):
        write(data)
    elif fatal is not None:
        pass
    elif m is not None:
        if data[:1] == b"F":
            fatal = data
        elif job_files.search(m.group(1)):
            dropping = True
        else:
            dropping = False
            write(data)
    elif not dropping:
        write(data)

while True:
    ready, _, _ = select.select([0], [], [], 0.5 if dropping else None)
    if ready:
        data = os.read(0, 65536)
        if not data:
            break
        buf += data
        *lines, buf = buf.split(b"\n")
        for line in lines:
            line_of(line + b"\n")
    else:  # half a second without a word: the dropped record is over
        dropping = False
    if buf and fatal is None and not dropping and not re.match(rb"[IWEF]\d", buf) and buf not in b"IWEF":
        write(buf)
        buf = b""
if buf:
    line_of(buf)
if fatal is not None:
    text = fatal.decode(errors="replace")
    status = text.split("absl::Status: ", 1)[-1].strip() if "absl::Status: " in text else text.split("] ", 1)[-1]
    status = status.splitlines()[0][:300] if status else "no reason given"
    if "incarnation" in status or "Duplicate" in status:
        why = "another process joined the job with the same --process-id"
    elif "Unexpected task" in status:
        why = "the coordinator's job has no process with this --process-id (its --num-processes differs)"
    elif "heartbeat" in status.lower() or "UNAVAILABLE" in status or "died" in status:
        why = "another process of the job died or was killed, or the coordinator is gone"
    elif "DEADLINE_EXCEEDED" in status:
        why = "the job did not form in time"
    else:
        why = "the job's coordination failed"
    write(prog + f": error: {why}; JAX ended this process ({status})\n".encode())
"""


def _filter_stderr(prog):
    """Route this process's stderr through :data:`_FILTER` (a child in its own session) for the rest of its life."""
    import subprocess
    import sys

    sys.stderr.flush()
    if os.isatty(2) and "COLUMNS" not in os.environ:  # progress bars keep the terminal's width
        os.environ["COLUMNS"] = str(os.get_terminal_size(2).columns)
    read, write = os.pipe()
    try:
        subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, prog],
            stdin=read,
            stdout=subprocess.DEVNULL,
            stderr=2,
            close_fds=True,
            start_new_session=True,
        )
    except OSError:
        os.close(read)
        os.close(write)
        return
    os.close(read)
    os.dup2(write, 2)
    os.close(write)


def joined():
    """The job this process joined with :func:`join`, or None."""
    return _job


def join(coordinator, num_processes, process_id, *, description, timeout=JOIN_TIMEOUT, prog="diffusion-conv"):
    """Join one job of ``num_processes`` processes, then check that every process runs the same thing.

    ``jax.distributed.initialize`` with the coordinator bound to the address given
    (process 0 listens on that interface only). If the job has not formed within
    ``timeout`` seconds (a process missing, process 0 not running, another
    program at the address, two processes with the same id), one line goes to
    stderr and the process ends with exit code 2. Right after joining, every
    process publishes ``description`` (a JSON-able dict: the run's arguments)
    in the job's key-value store; process 0 compares everyone's with its own and
    the others compare theirs with process 0's. A difference raises ValueError
    naming it, on every process that sees it. A thread then watches for the
    failure of another process (:meth:`_Job.failed`) and ends this one with a
    line that names it.
    """
    import jax

    global _job
    coordinator_address(coordinator)
    start = time.monotonic()

    def too_late():
        if _job is not None and _job.stop.is_set():
            # another process failed and this one's watcher is ending it with that process's line: the wait
            # for the job broke because the job is ending, not because it did not form
            threading.Event().wait(LEAVE_TIMEOUT + 5.0)
        waited = time.monotonic() - start
        if process_id == 0:
            others = "process 1" if num_processes == 2 else f"processes 1 .. {num_processes - 1}"
            why = (
                f"process 0 waited at {coordinator} for {others}, each started with the same --coordinator and "
                f"--num-processes {num_processes} and its own --process-id"
            )
        else:
            why = (
                f"process {process_id} found no job at {coordinator} (process 0 not started there or started "
                f"with another --num-processes, another program at that address, a process missing, or two "
                f"with the same --process-id)"
            )
        _say(f"{prog}: error: --join-timeout {timeout:g}: the job did not form within {waited:.0f} s: {why}")
        os._exit(2)

    _filter_stderr(prog)
    try:  # JAX's preemption notice (for TPU checkpoints) takes SIGTERM over: keep the command's own handling
        jax.config.update("jax_enable_preemption_service", False)
    except (AttributeError, KeyError, ValueError):
        pass
    timer = threading.Timer(timeout, too_late)
    timer.daemon = True
    timer.start()
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=num_processes,
            process_id=process_id,
            coordinator_bind_address=coordinator,
            initialization_timeout=int(timeout) + 60,
        )
        from jax._src import distributed

        client = distributed.global_state.client
        if client is None:
            raise RuntimeError("jax.distributed.initialize returned without a client of the job's coordinator")
        mine = json.dumps(description, sort_keys=True)
        description = json.loads(mine)  # compared as the others' arrive: tuples as lists
        client.key_value_set(f"{_KEY}/run/{process_id}", mine)
        _job = _Job(client, process_id, prog)
        _job.watcher.start()
        atexit.register(_job.close)  # runs before JAX's own exit handler, registered earlier, shuts the client
        others = range(1, num_processes) if process_id == 0 else [0]
        left_ms = max(1, int((timeout - (time.monotonic() - start)) * 1000))
        for k in others:
            try:
                theirs = json.loads(client.blocking_key_value_get(f"{_KEY}/run/{k}", left_ms))
            except Exception:  # noqa: BLE001 - the process joined but never said what it runs
                too_late()
            differ = [
                name for name in sorted(set(description) | set(theirs)) if description.get(name) != theirs.get(name)
            ]
            if differ:
                said = "; ".join(
                    f"{name} is {_shown(description.get(name))} on process {process_id} and "
                    f"{_shown(theirs.get(name))} on process {k}"
                    for name in differ
                )
                raise InputError(
                    f"the processes of the job were started differently: {said}; start every process "
                    f"with the same arguments (only --process-id and the outputs may differ)"
                )
    finally:
        timer.cancel()


def _shown(value):
    return "not given" if value is None else json.dumps(value)

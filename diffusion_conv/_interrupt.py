"""Clean, prompt stops on SIGINT (Ctrl-C) and SIGTERM.

Three pieces, used by every file writer and by the command line:

* A registry of the temporary files being written. :func:`diffusion_conv._io.atomic_path`
  registers each temporary name before the file exists and unregisters it once it
  is renamed or removed, so whoever stops the process knows what to delete.
* :class:`Interrupted` (SIGINT, exit code 130) and its subclass :class:`Terminated`
  (SIGTERM, exit code 143), both ``KeyboardInterrupt``: the main thread receives one
  at its next bytecode, unwinds, and every writer on the way removes its file.
* :class:`Guard`, installed by a process that runs one long command (the
  ``diffusion-conv`` CLI). It maps both signals to those exceptions and starts a
  watchdog thread that learns of a signal through ``signal.set_wakeup_fd`` (the
  byte is written by the C-level handler, so it arrives even while the main thread
  is inside one long XLA compilation or computation). If the process has not
  ended ``grace`` seconds after the signal, or at a second signal, the watchdog
  removes every registered temporary file and the outputs the interrupted
  command had written (it is all or nothing), and ends the process with
  ``os._exit(130 or 143)``. In the ``diffusion-conv`` process the guard starts
  when the package is imported (:func:`start_early`), before JAX is.

XLA releases the GIL while it compiles and computes (measured: a Python thread
keeps ticking every 10 ms with gaps below 0.15 s during 3-minute ``counts``
runs), so the watchdog thread runs while the main thread waits in C++.

A long-running driver loop needs little to be interruptible: it must not
swallow ``KeyboardInterrupt`` (no bare ``except:`` or ``except BaseException``
without re-raising), must write files through :func:`diffusion_conv._io.atomic_path`,
and stops soonest when the main thread comes back to Python often: device calls
of well under a second each, and :func:`wait` instead of ``np.asarray`` to block
on results dispatched asynchronously. Where a call runs longer, the watchdog ends
the process.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time

GRACE = 1.5
"""Seconds the watchdog gives the main thread to clean up after a signal."""


class Interrupted(KeyboardInterrupt):
    """SIGINT was received (Ctrl-C); the command line exits with code 130."""

    signum = signal.SIGINT
    exit_code = 128 + signal.SIGINT


class Terminated(Interrupted):
    """SIGTERM was received; the command line exits with code 143."""

    signum = signal.SIGTERM
    exit_code = 128 + signal.SIGTERM


_EXCEPTIONS = {signal.SIGINT: Interrupted, signal.SIGTERM: Terminated}
_SIGNALS = tuple(_EXCEPTIONS)


def exit_code(exc: BaseException) -> int:
    """The exit code for an interruption: 143 for :class:`Terminated`, 130 otherwise."""
    return int(getattr(exc, "exit_code", 128 + signal.SIGINT))


# -- the registry of files to delete when the process is stopped ---------------------------------
_lock = threading.Lock()
_temporary: dict[str, None] = {}  # insertion-ordered set


def register(path) -> None:
    """Note a temporary file that is being written (it need not exist yet)."""
    with _lock:
        _temporary[os.path.abspath(os.fspath(path))] = None


def unregister(path) -> None:
    """Forget a temporary file (it was renamed into place or removed)."""
    with _lock:
        _temporary.pop(os.path.abspath(os.fspath(path)), None)


def pending() -> list[str]:
    """The temporary files being written now (absolute paths)."""
    with _lock:
        return list(_temporary)


def _remove(paths) -> None:
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)  # only ever an empty folder the command created
            else:
                os.remove(path)
        except OSError:
            pass


def remove_pending(timeout: float = 0.2) -> None:
    """Delete every registered temporary file (those already gone are skipped).

    Waits at most ``timeout`` seconds for the registry's lock, so that it can be
    called from a watchdog while the main thread is stopped anywhere.
    """
    got = _lock.acquire(timeout=timeout)
    try:
        paths = list(_temporary)
    finally:
        if got:
            _lock.release()
    _remove(paths)


# -- block on device results without becoming deaf to signals --------------------------------------
_WAITS: "queue.SimpleQueue | None" = None
"""Work for the waiter thread: ``(arrays, event)`` pairs; it blocks on the arrays, then sets the event."""
_WAITS_LOCK = threading.Lock()


def _waiter(waits):
    while True:
        arrays, done = waits.get()
        try:
            for x in arrays:
                x.block_until_ready()
        except Exception:  # noqa: BLE001  (the caller's next read of the array raises the error itself)
            pass
        finally:
            done.set()


def _waits():
    global _WAITS
    with _WAITS_LOCK:
        if _WAITS is None:
            import queue

            _WAITS = queue.SimpleQueue()
            threading.Thread(target=_waiter, args=(_WAITS,), name="diffusion_conv-wait", daemon=True).start()
    return _WAITS


def wait(tree, poll: float = 0.02):
    """Wait until every JAX array in ``tree`` is computed; return ``tree``.

    ``np.asarray(x)`` on an array still being computed blocks inside C++ until
    it is done, and a Python signal handler only runs afterwards. Here a daemon
    thread blocks on the arrays instead and sets an event; the main thread
    waits on that event ``poll`` seconds at a time, so it picks the result up
    the moment it is ready (no polling delay, no wake-ups that take a core
    from the computation) and a ``KeyboardInterrupt`` (or :class:`Terminated`)
    still reaches the caller within about ``poll`` seconds. Leaves without
    ``block_until_ready`` (NumPy arrays, numbers) are ready.

    This helps for work dispatched asynchronously (JAX's default, on the CPU
    too); a call that computes before it returns keeps the main thread in C++
    until it does, so keep device calls short.
    """
    import jax

    pending = [x for x in jax.tree_util.tree_leaves(tree) if hasattr(x, "is_ready") and not x.is_ready()]
    if pending:
        done = threading.Event()
        _waits().put((pending, done))
        while not done.wait(poll):  # signals' handlers run between the waits
            pass
    return tree


# -- SIGTERM during a write in a plain Python program ------------------------------------------------
class _WriterTerminated(Terminated):
    """Raised by the temporary SIGTERM handler of :func:`sigterm_raises`."""


def _raise_writer_terminated(signum, frame):
    raise _WriterTerminated()


class sigterm_raises:
    """Context manager: within it, SIGTERM raises instead of killing the process outright.

    Used around each file write. A Python program that never set a SIGTERM
    handler dies of the signal without unwinding, leaving its temporary file.
    Inside this block (main thread, default SIGTERM disposition only) the
    signal raises an exception instead, the writers remove their files on the
    way out, and the block then restores the default disposition and delivers
    SIGTERM again, so the process still ends as the signal intended. Where a
    handler is already installed (the command line's :class:`Guard`, or the
    program's own), it is left alone.
    """

    def __enter__(self):
        self._active = (threading.current_thread() is threading.main_thread()
                        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
        if self._active:
            signal.signal(signal.SIGTERM, _raise_writer_terminated)
        return self

    def __exit__(self, kind, value, tb):
        if self._active:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if isinstance(value, _WriterTerminated):
                signal.raise_signal(signal.SIGTERM)  # ends the process, as SIGTERM would have
        return False


# -- the command line's guard -------------------------------------------------------------------------
class Guard:
    """Handle SIGINT and SIGTERM for one command; end the process promptly after a signal.

    Parameters
    ----------
    hard_exit : bool
        True for a process that exists to run this command (the ``diffusion-conv``
        command line): after a signal the process ends with ``os._exit`` once the
        main thread has cleaned up (leaving the block), or from the watchdog
        ``grace`` seconds after the signal, whichever comes first. Interpreter
        shutdown is skipped on purpose: JAX's exit handlers would wait for the
        computations already dispatched, which can take minutes. False (a
        command run inside another program, e.g. a test calling ``cli.main``):
        the signals still raise :class:`Interrupted` / :class:`Terminated`, but
        no watchdog runs and the previous handlers are restored on exit.
    grace : float
        Seconds between the signal and the watchdog's forced exit.
    prog : str
        Name that starts the one-line message the watchdog writes to stderr.
    immediate : bool
        Start in the phase before the command runs (see :func:`start_early`):
        a signal then ends the process at once, as nothing needs cleaning up.
        :meth:`__enter__` ends that phase.

    Notes
    -----
    A signal whose disposition is "ignore" when the guard starts (``nohup``, a
    background job of a non-interactive shell) stays ignored. Only the first
    signal raises in the main thread; a second one ends the process at once
    (hard mode) or raises again (otherwise). When the exception is raised
    inside a garbage-collector callback or a finaliser, where Python prints
    and drops it ("Exception ignored in ..."; JAX registers such a callback),
    the guard silences that report and raises it again at the next bytecode.
    Outside the main thread the guard does nothing. Use :meth:`output` to
    register each output the command has completed: an interrupted command
    leaves none of its files behind.
    """

    def __init__(self, *, hard_exit: bool = False, grace: float = GRACE, prog: str = "diffusion-conv",
                 immediate: bool = False):
        self.hard_exit = bool(hard_exit)
        self.grace = float(grace)
        self.prog = prog
        self.signum = None
        self.reported = False
        self._immediate = bool(immediate)
        self._outputs: list[str] = []
        self._previous = {}
        self._installed = False
        self._active = False
        self._wake = None
        self._thread = None
        self._rearmed = False
        self._skip = 0
        self._old_hook = None

    # the command's own outputs ---------------------------------------------------------------
    def output(self, path) -> None:
        """Register an output the command has written: removed if the command is interrupted.

        Register a folder the command created before the files written into it;
        it is removed (when empty) after them.
        """
        self._outputs.append(os.path.abspath(os.fspath(path)))

    def _remove_outputs(self):
        _remove(list(reversed(self._outputs)))

    @property
    def exit_code(self) -> int | None:
        """130 or 143 once a signal was received, else None."""
        return None if self.signum is None else 128 + int(self.signum)

    # handlers --------------------------------------------------------------------------------
    def _handle(self, signum, frame):
        if self._immediate:  # nothing started yet: nothing to unwind
            self.signum = self.signum or signum
            self._abort(self.signum)
        if self.signum is None or self._rearmed:
            self._rearmed = False
            self.signum = self.signum or signum
            raise _EXCEPTIONS[self.signum]()
        if not self.hard_exit:
            raise _EXCEPTIONS[signum]()
        # hard mode: the watchdog has seen this second signal and ends the process

    def _unraisable(self, info):
        try:
            exc = getattr(info, "exc_value", None)
            if not (isinstance(exc, Interrupted) and self.signum is not None):
                self._old_hook(info)
                return
            self._rearm()
        except Interrupted:  # the handler ran again inside this hook: ask once more
            self._rearm()

    def _rearm(self):
        """Raise the interruption again soon, outside the gc callback or finaliser that dropped it.

        A short-lived thread trips the signal 10 ms later, so that the handler
        runs after this hook has returned.
        """
        import _thread

        self._rearmed = True
        self._skip += 1  # the byte the trip writes to the wakeup socket is not a new signal
        timer = threading.Timer(0.01, _thread.interrupt_main, (int(self.signum),))
        timer.daemon = True
        timer.start()

    def _install(self):
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        self._installed = True
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN:
                continue
            self._previous[sig] = previous
            signal.signal(sig, self._handle)
        self._old_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        if self.hard_exit and self._previous:
            read, write = socket.socketpair()
            read.setblocking(True)
            write.setblocking(False)
            self._wake = (read, write)
            self._old_wakeup = signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
            self._thread = threading.Thread(target=self._watch, name="diffusion-conv-watchdog", daemon=True)
            self._thread.start()

    def __enter__(self):
        self._install()
        self._active = self._installed
        self._immediate = False
        return self

    def interrupted(self, exc: BaseException | None = None) -> int:
        """Record an interruption caught by the command, remove its files; return the exit code.

        For the command's ``except KeyboardInterrupt`` clause; marks the
        interruption as reported (the watchdog then writes no message of its own).
        """
        if self.signum is None:
            self.signum = getattr(exc, "signum", signal.SIGINT)
        self.reported = True
        self._cleanup()
        return self.exit_code

    def __exit__(self, kind, value, tb):
        if not self._active:
            return False
        if isinstance(value, KeyboardInterrupt) and self.signum is None:
            self.signum = getattr(value, "signum", signal.SIGINT)
        if self.signum is not None:
            self._cleanup()
            if self.hard_exit:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except (OSError, ValueError):
                        pass
                os._exit(self.exit_code)
        if self._wake is not None:
            signal.set_wakeup_fd(self._old_wakeup)
            self._wake[1].close()  # the watchdog reads end-of-file and returns
            self._thread.join(timeout=1.0)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        if sys.unraisablehook == self._unraisable:
            sys.unraisablehook = self._old_hook
        self._active = self._installed = False
        return False

    def _cleanup(self):
        remove_pending()
        self._remove_outputs()

    # the watchdog ----------------------------------------------------------------------------
    def _watch(self):
        read = self._wake[0]
        try:
            seen = 0
            first = None
            deadline = None
            while True:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([read], [], [], timeout)
                if not ready:  # the grace period is over
                    break
                data = read.recv(64)
                if not data:  # the guard closed: the command ended normally
                    return
                for byte in data:
                    if byte not in _SIGNALS:
                        continue
                    if first is not None and self._skip > 0:
                        self._skip -= 1
                        continue
                    seen += 1
                    if first is None:
                        first = byte
                        deadline = time.monotonic() + self.grace
                if seen >= 2:
                    break
            self._abort(first)
        finally:
            read.close()

    def _abort(self, signum):
        """Remove the files, say so in one line, end the process (from any thread)."""
        self._cleanup()
        if not self.reported:
            name = signal.Signals(signum).name
            how = "" if self._immediate else "; stopped without waiting for the computation in progress"
            try:
                os.write(2, f"\n{self.prog}: interrupted ({name}){how}\n".encode())
            except OSError:
                pass
        os._exit(128 + int(signum))


# -- the guard of the diffusion-conv process itself ---------------------------------------------------
_early: Guard | None = None


def _is_command_process() -> bool:
    """Whether this process was started as the ``diffusion-conv`` command."""
    if sys.argv and os.path.basename(sys.argv[0]) in ("diffusion-conv", "diffusion-conv.exe"):
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m":
            return argv[i + 1] == "diffusion_conv.cli"
    return False


def start_early() -> None:
    """Guard the ``diffusion-conv`` process from its first import on; elsewhere do nothing.

    Called when the package is imported. In a process started as the command
    (the ``diffusion-conv`` script or ``python -m diffusion_conv.cli``) it
    installs the command's :class:`Guard` before JAX is imported: a signal in
    that phase ends the process at once (exit 130 or 143) instead of being
    dropped by JAX's garbage-collector callback, which would let the run go
    on. :func:`command_guard` then takes the guard over. Other programs that
    import the package keep their own signal handling.
    """
    global _early
    if _early is None and _is_command_process():
        _early = Guard(hard_exit=True, immediate=True)
        _early._install()


def command_guard(*, hard_exit: bool, prog: str = "diffusion-conv") -> Guard:
    """The guard for a command: the early one of this process when ``hard_exit``, else a new one."""
    global _early
    if hard_exit and _early is not None:
        guard, _early = _early, None
        guard.prog = prog
        return guard
    return Guard(hard_exit=hard_exit, prog=prog)

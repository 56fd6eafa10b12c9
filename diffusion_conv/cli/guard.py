"""The command's own signal guard: SIGINT and SIGTERM end a ``diffusion-conv`` command promptly and cleanly.

Installed by :func:`diffusion_conv.cli.main` before anything heavy is imported (the library
itself leaves a process's signals alone). See :class:`Guard`.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time

from .._interrupt import EXCEPTIONS, GRACE, SIGNALS, Interrupted, remove, remove_pending


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

    def __init__(
        self, *, hard_exit: bool = False, grace: float = GRACE, prog: str = "diffusion-conv", immediate: bool = False
    ):
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
        remove(list(reversed(self._outputs)))

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
            raise EXCEPTIONS[self.signum]()
        if not self.hard_exit:
            raise EXCEPTIONS[signum]()
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
        for sig in SIGNALS:
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
        return 128 + int(self.signum)

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
                    if byte not in SIGNALS:
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


def command_guard(*, hard_exit: bool, prog: str = "diffusion-conv") -> Guard:
    """The guard of one command (installed by :func:`diffusion_conv.cli.main` before it imports JAX)."""
    return Guard(hard_exit=hard_exit, prog=prog)

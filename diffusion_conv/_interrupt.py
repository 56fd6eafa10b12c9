"""What a library needs for clean, prompt stops on SIGINT (Ctrl-C) and SIGTERM; it installs no handler itself.

* A registry of the temporary files being written. :func:`diffusion_conv._io.atomic_path`
  registers each temporary name before the file exists and unregisters it once it
  is renamed or removed, so whoever stops the process knows what to delete.
* :class:`Interrupted` (SIGINT, exit code 130) and its subclass :class:`Terminated`
  (SIGTERM, exit code 143), both ``KeyboardInterrupt``, raised by the command's guard
  (:mod:`diffusion_conv.cli.guard`): the main thread receives one at its next bytecode,
  unwinds, and every writer on the way removes its file.
* :func:`wait`, which blocks on device results while staying responsive to signals, and
  :class:`sigterm_raises`, which lets a plain program's SIGTERM unwind a file write.

A long-running driver loop needs little to be interruptible: it must not
swallow ``KeyboardInterrupt`` (no bare ``except:`` or ``except BaseException``
without re-raising), must write files through :func:`diffusion_conv._io.atomic_path`,
and stops soonest when the main thread comes back to Python often: device calls
of well under a second each, and :func:`wait` instead of ``np.asarray`` to block
on results dispatched asynchronously.
"""

from __future__ import annotations

import os
import queue
import signal
import threading

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


EXCEPTIONS = {signal.SIGINT: Interrupted, signal.SIGTERM: Terminated}
SIGNALS = tuple(EXCEPTIONS)


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


def remove(paths) -> None:
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
    remove(paths)


# -- block on device results without becoming deaf to signals --------------------------------------
_WAITS: queue.SimpleQueue | None = None
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
        self._active = (
            threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        )
        if self._active:
            signal.signal(signal.SIGTERM, _raise_writer_terminated)
        return self

    def __exit__(self, kind, value, tb):
        if self._active:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if isinstance(value, _WriterTerminated):
                signal.raise_signal(signal.SIGTERM)  # ends the process, as SIGTERM would have
        return False

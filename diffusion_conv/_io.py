"""Writing files safely: every check before the work, a temporary name, then a rename.

:func:`check_target` says before any computation whether a file can be written
(its folder exists, is a folder, takes a new file, the name is not too long).
:func:`atomic_path` is the one way the package writes a file: the data go to a
temporary ``.tmp-*`` name in the target folder, registered with
:mod:`diffusion_conv._interrupt` so that an interrupted process can delete it,
and the file is renamed into place only when complete; on any failure,
``KeyboardInterrupt`` and SIGTERM included, the temporary file is removed. The
finished file has mode ``0o666`` less the umask, like any file a program creates.
"""

from __future__ import annotations

import contextlib
import os
import secrets

from . import _interrupt
from .errors import InputError, InputTypeError

NAME_MAX = 255
"""Longest file name (bytes) assumed where the file system does not say."""


def _name_max(folder: str) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def _fspath(path, what: str) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise InputTypeError(f"{what} must be a path (str or os.PathLike), got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise InputError(f"{what} must be a file name, got an empty string")
    return path


def _missing_folder(folder: str, what: str, path: str) -> str:
    """Why ``folder`` is not a usable folder: the first part of it that is a file, or that it is missing."""
    part = folder
    while part and not os.path.exists(part):
        parent = os.path.dirname(part)
        if parent == part:
            break
        part = parent
    if part and os.path.exists(part) and not os.path.isdir(part):
        return f"{what} {path!r}: {part!r} is a file, not a folder"
    return f"{what} {path!r}: folder {folder!r} does not exist"


def _probe(folder: str, what: str, path: str) -> None:
    """Create and remove a temporary file in ``folder``; ValueError when that fails."""
    holder: list[str] = []
    try:
        _create_temp(folder, ".probe", holder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"{what} {path!r}: cannot write in folder {folder!r} ({reason})") from None
    finally:
        if holder:
            _discard(holder[0])


def check_target(path, suffixes=None, what: str = "path") -> str:
    """Check, before any work, that a file can be written at ``path``; return it as a str.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    suffixes : sequence of str, optional
        Allowed endings (lower case, with the dot), compared case-insensitively.
    what : str
        How the argument is named in the messages (``'path'``, ``'--out'``).

    Raises
    ------
    TypeError
        ``path`` is not a path.
    ValueError
        The suffix is not allowed, ``path`` is a folder, its folder is missing or
        a file, the name is longer than the file system allows, or a file cannot
        be created in the folder (a test file is created and removed).
    """
    path = _fspath(path, what)
    if suffixes is not None:
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in suffixes:
            raise InputError(f"{what} {path!r} must end in {' or '.join(suffixes)}")
    if os.path.isdir(path):
        raise InputError(f"{what} {path!r} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(_missing_folder(folder, what, path))
    name = os.path.basename(path)
    limit = _name_max(folder)
    if len(os.fsencode(name)) > limit:
        raise InputError(
            f"{what}: the file name {name[:40]!r}... is {len(os.fsencode(name))} bytes long; "
            f"the file system allows at most {limit}"
        )
    _probe(folder, what, path)
    return path


def check_folder(path, what: str = "folder") -> tuple[str, bool]:
    """Check that files can be written in folder ``path``, which may not exist yet.

    Returns ``(absolute path, exists)``. The folder itself is not created.

    Raises
    ------
    ValueError
        ``path`` is a file, its parent is missing or a file, or nothing can be
        written there.
    """
    given = _fspath(path, what)
    folder = os.path.abspath(given)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"{what} {given!r} exists and is not a folder")
    if os.path.isdir(folder):
        _probe(folder, what, given)
        return folder, True
    parent = os.path.dirname(folder)
    if not os.path.isdir(parent):
        raise InputError(_missing_folder(parent, what, given))
    if len(os.fsencode(os.path.basename(folder))) > _name_max(parent):
        raise InputError(f"{what} {given!r}: the folder name is longer than the file system allows")
    _probe(parent, what, given)
    return folder, False


def _discard(path: str) -> None:
    try:
        os.remove(path)
    except OSError:  # gone already, or never created
        pass
    finally:
        _interrupt.unregister(path)


def _create_temp(folder: str, suffix: str, holder: list) -> None:
    """Create an empty ``.tmp-*`` file in ``folder``; its path goes into ``holder`` before it exists.

    The caller removes ``holder[0]`` on failure: the name is known to it (and
    registered for removal) whatever instant an interruption strikes.
    """
    while True:
        tmp = os.path.join(folder, f".tmp-{secrets.token_hex(6)}{suffix}")
        holder[:] = [tmp]
        _interrupt.register(tmp)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:  # another writer's name: draw again
            _interrupt.unregister(tmp)
            holder.clear()
            continue
        os.close(fd)
        return


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Context manager: a temporary path beside ``path``, renamed to ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        The final file; its folder must exist (see :func:`check_target`).
    suffix : str, optional
        Ending of the temporary name (writers that pick a format by it need
        it); default ``path``'s own.

    Yields
    ------
    str
        An empty file, mode ``0o666`` less the umask, that the block fills.

    Notes
    -----
    On any exception (``KeyboardInterrupt`` included), and on SIGTERM in a
    program without a SIGTERM handler (see :class:`diffusion_conv._interrupt.sigterm_raises`),
    the temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1] if suffix is None else suffix
    holder: list[str] = []
    with _interrupt.sigterm_raises():
        try:
            _create_temp(folder, suffix, holder)
            yield holder[0]
            os.replace(holder[0], path)
        except BaseException:
            if holder:
                _discard(holder[0])
            raise
        finally:
            if holder:
                _interrupt.unregister(holder[0])

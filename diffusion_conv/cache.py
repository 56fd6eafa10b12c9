"""JAX's persistent compilation cache, in the user's cache folder.

Every new Python process compiles each program again (about a second for the
deterministic methods, more for the stochastic ones); with the persistent cache
a program compiled once is read back from disk. The ``diffusion-conv`` command
turns it on by itself (``--no-cache`` or ``DIFFUSION_CONV_NO_CACHE=1`` turn it
off); a notebook or a script turns it on with :func:`enable_compile_cache`, once,
before its first run. The library never changes this setting on import.

Where: ``$DIFFUSION_CONV_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/diffusion-conv/jax``,
else ``~/.cache/diffusion-conv/jax`` (the XDG base-directory rules). A folder that
cannot be created or written gives a one-line warning and no cache, never an
error; a damaged entry is compiled again (JAX checks what it reads).
"""

from __future__ import annotations

import os
import tempfile
import warnings

from .errors import InputTypeError

__all__ = ["OFF_VARIABLE", "cache_dir", "enable_compile_cache"]

OFF_VARIABLE = "DIFFUSION_CONV_NO_CACHE"
"""Set to a non-empty value other than ``0`` to keep the command from using the cache."""

MIN_COMPILE_SECONDS = 0.1
"""Programs that compile faster than this are not written (reading them back would not pay)."""


def cache_dir() -> str:
    """The cache folder by the rules above (it need not exist yet)."""
    explicit = os.environ.get("DIFFUSION_CONV_CACHE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "diffusion-conv", "jax")


def disabled_by_environment() -> bool:
    """Whether ``DIFFUSION_CONV_NO_CACHE`` asks for no cache."""
    return os.environ.get(OFF_VARIABLE, "").strip() not in ("", "0")


def enable_compile_cache(path: str | os.PathLike | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache for this process.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The folder; default ``diffusion_conv.cache.cache_dir()``. Created if missing.

    Returns
    -------
    str or None
        The folder in use, or None when it cannot be used (a warning says why).
        When ``JAX_COMPILATION_CACHE_DIR`` is already set, that folder is kept.

    Notes
    -----
    Call it once, early (before the first run of the process): JAX reads the
    setting when it first compiles. Entries are keyed by the program, the JAX
    version and the device, so a cache may be shared by several versions and
    machines; delete the folder to reclaim its space.
    """
    import jax

    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"path must be a folder (str or os.PathLike), got {type(path).__name__}")
    current = jax.config.jax_compilation_cache_dir
    if current and path is None:
        return str(current)
    folder = os.path.abspath(os.fspath(path)) if path is not None else cache_dir()
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        warnings.warn(
            f"the compilation cache folder {folder} cannot be used ({exc.strerror or exc}); compiling without a cache",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return folder

"""How much memory a run may take: what the machine has, the size of an estimate in words, and the refusal.

The estimate itself is each method's own (:meth:`diffusion_conv.methods.Method.memory`,
bytes in the parts ``working``, ``frames``, ``extras`` and ``particles``);
:func:`diffusion_conv.simulate` and the command both compare it with
:func:`available_bytes` here. Sizes are binary (KiB, MiB, GiB: powers of 1024).
"""

from __future__ import annotations

import os

from .errors import InputError

LIMIT_VARIABLE = "DIFFUSION_CONV_MEMORY_LIMIT"
"""An environment variable that, when set, is the bytes available to a run (instead of what the machine says)."""

SMALL_RUN_BYTES = 64 * 2**20
"""Runs estimated at or below this many bytes are not checked against the memory available."""


def available_bytes() -> int | None:
    """Bytes a new run may take: :data:`LIMIT_VARIABLE` when set, else Linux's ``MemAvailable``, else the
    free physical pages; None where none of them is known."""
    env = os.environ.get(LIMIT_VARIABLE)
    if env:
        return int(float(env))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def size_text(n: float) -> str:
    """Bytes in binary units with three digits: ``'1.5 GiB'``, ``'640 KiB'``."""
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def check(parts, nframes, members, cells, limit=None) -> int:
    """Refuse a run whose estimate exceeds the memory available, with the estimate and the fix; its total otherwise.

    Parameters
    ----------
    parts : dict
        The method's estimate in bytes (:meth:`diffusion_conv.methods.Method.memory`).
    nframes, members, cells : int
        Saved frames, batch members and cells per frame (named in the message).
    limit : int, optional
        Bytes available (default: :func:`available_bytes`, read only for runs over
        :data:`SMALL_RUN_BYTES` unless :data:`LIMIT_VARIABLE` is set; no check where unknown).
    """
    total = int(sum(parts.values()))
    if limit is None:
        if total <= SMALL_RUN_BYTES and not os.environ.get(LIMIT_VARIABLE):
            return total  # no machine this package runs on lacks that much: spare reading the system's figure
        limit = available_bytes()
    if limit is None or total <= 0.9 * limit:
        return total
    frames = parts.get("frames", 0) + parts.get("extras", 0)
    particles = f"; particles {size_text(parts['particles'])}" if parts.get("particles") else ""
    raise InputError(
        f"this run would hold about {size_text(total)} ({nframes} frames of {members} x {cells} cells: "
        f"{size_text(frames)}; working buffers {size_text(parts.get('working', 0))}{particles}), more than the "
        f"{size_text(limit)} of memory available; save fewer frames (a larger save_every), use fewer "
        f"particles, a smaller grid or a smaller batch"
    )

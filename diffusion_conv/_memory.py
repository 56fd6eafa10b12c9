"""How much memory a run may take: what the machine has, and the refusal of a run that would not fit."""

from __future__ import annotations

import os

from .errors import InputError


def available_bytes() -> int | None:
    """Memory this process may still take (``MemAvailable`` on Linux), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def fmt_bytes(n: float) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


SMALL_RUN_BYTES = 64 * 2**20
"""Runs estimated at or below this many bytes are not checked against the memory available."""


def check_memory(nframes, batch, cells, itemsize, working, extras_bytes=0, limit=None):
    """Refuse a run whose frames and working buffers exceed the memory available, with the estimate and the fix.

    Parameters
    ----------
    nframes, batch, cells, itemsize : int
        Saved frames, batch members, cells per frame and bytes per cell.
    working : int
        Bytes of working buffers per member (the method's estimate).
    extras_bytes : int
        Bytes of further per-frame arrays (all frames, all members).
    limit : int, optional
        Bytes available (default: what the machine reports, read only for runs over
        :data:`SMALL_RUN_BYTES`; no check where unknown).
    """
    frames = nframes * batch * cells * itemsize + extras_bytes
    total = frames + batch * working
    env = os.environ.get("DIFFUSION_CONV_MEMORY_LIMIT")
    if env:
        limit = int(float(env))
    elif limit is None:
        if total <= SMALL_RUN_BYTES:
            return total  # no machine this package runs on lacks that much: spare reading the system's figure
        limit = available_bytes()
    if limit is None or total <= 0.9 * limit:
        return total
    raise InputError(
        f"this run would hold about {fmt_bytes(total)} ({nframes} frames of {batch} x {cells} cells: "
        f"{fmt_bytes(frames)}; working buffers {fmt_bytes(batch * working)}), more than the "
        f"{fmt_bytes(limit)} of memory available; save fewer frames (a larger save_every), use fewer "
        f"particles, a smaller grid or a smaller batch"
    )

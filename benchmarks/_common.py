"""Timing helpers and a description of the machine, shared by the benchmark scripts."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time


def machine() -> dict:
    """CPU model, core count and library versions."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import jax
    import numpy
    import scipy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "cpu_mhz": cpu_mhz(),
        "load_average": load(),
    }


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` runs.

    Each run's result is kept until the next run has been timed, as a caller
    that keeps its result does. Dropping it at once frees the run's arrays
    together, glibc hands the top of its heap back to the system, and the next
    run's arrays are fresh pages again: on the virtual machines these figures
    come from a page fault costs about 5 us, so a millisecond run of 256^2
    float64 arrays would time about 2 MB of page faults instead of the tool.
    """
    return interleaved_medians([fn], repeats, warmup)[0]


def interleaved_medians(fns, repeats: int, warmup: int = 1) -> list:
    """Median wall times of several callables timed in turn, one call of each per round.

    For comparing paths whose difference is smaller than the machine's drift:
    alternating spreads a slow spell over all of them instead of one. Each result
    is kept until that callable's next call has been timed (see :func:`median_time`).
    """
    kept = [None] * len(fns)
    for _ in range(warmup):
        kept = [fn() for fn in fns]
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            out = fn()
            times[i].append(time.perf_counter() - t)
            kept[i] = out  # the previous result is freed here, outside the timing
    del kept
    return [statistics.median(t) for t in times]


def first_call(fn) -> float:
    """Wall time of one call (for the first, compiling call)."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def load() -> str:
    """The load averages (1, 5, 15 min) and the core count, as ``uptime`` prints them."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def timed(fn, repeats: int) -> dict:
    """Time ``fn``: the first call (compilation included) apart, then the median of ``repeats``.

    Returns ``{"first_s", "median_s", "min_s", "compile_s"}``; ``compile_s`` is the
    first call minus the median (0 when the first call was not slower).
    """
    first = first_call(fn)
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"first_s": first, "median_s": med, "min_s": min(times), "compile_s": max(first - med, 0.0)}


def block(x):
    """Wait for a JAX array (or a tuple of them) and return it."""
    for leaf in x if isinstance(x, (tuple, list)) else (x,):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    return x


def cpu_mhz() -> float | None:
    """The clock the kernel reports for the first CPU, in MHz (None where unknown)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def img_dir() -> str:
    """``docs/img`` of the repository (created when missing)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "img")
    os.makedirs(path, exist_ok=True)
    return os.path.normpath(path)


def save_plot(fig, name: str) -> str:
    """Write a matplotlib figure as a compact PNG under docs/img; returns the path."""
    from diffusion_conv._io import atomic_path

    path = os.path.join(img_dir(), name)
    with atomic_path(path) as tmp:  # a temporary name, renamed when complete; removed on failure
        fig.savefig(tmp, dpi=80, bbox_inches="tight", format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# Source of ``peak_kib()`` for the memory scripts the benchmarks run in fresh processes.
PEAK_KIB = r"""
import resource


def peak_kib():
    # VmHWM is this process image's own peak; ru_maxrss can carry the parent's peak across fork/exec
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""


@contextlib.contextmanager
def general_path():
    """Within it, every propagator run with walls or a mobility map takes the general path (the masks or the
    jump factors on every jump).

    The path is chosen while tracing, so JAX's caches are cleared on the way in and out.
    """
    import jax

    from diffusion_conv.methods import _stencils

    old = _stencils.PATCH_FRACTION
    _stencils.PATCH_FRACTION = -1.0
    jax.clear_caches()
    try:
        yield
    finally:
        _stencils.PATCH_FRACTION = old
        jax.clear_caches()


def run_from_command_line(doc, run, argv, quick_help="small sizes"):
    """Parse ``--quick``/``--json``, call ``run(quick)``; ``(figures, printed)``: printed when ``--json`` printed them."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    res = run(args.quick)
    if args.json:
        print(json.dumps(res, indent=2))
    return res, args.json


def run_tank_benchmark(doc, run, argv):
    """:func:`run_from_command_line` for a benchmark of one tank: ``--quick`` is 64^2, 100 steps, 3 repeats."""
    return run_from_command_line(
        doc, lambda quick: run(size=64, steps=100, repeats=3) if quick else run(), argv, "a small tank, few steps"
    )


def tank_header(res, what: str) -> str:
    """The first printed line of such a benchmark: the tank, the steps, ``what`` it holds, the machine."""
    return (
        f"{res['size']}^2, float64, reflecting, {res['steps']} steps, {what} "
        f"({res['machine']['cpu']}, {res['machine']['cores']} cores)"
    )

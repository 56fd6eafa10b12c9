"""Timing helpers and a description of the machine, shared by the benchmark scripts."""
from __future__ import annotations

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
    }


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def first_call(fn) -> float:
    """Wall time of one call (for the first, compiling call)."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t

"""What the tests share: per-dtype tolerances and a run at given steps."""

import jax
import numpy as np

import diffusion_conv as dc

RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}
"""Relative agreement of two exact methods (spectral and propagator, image and propagator) per dtype."""

ATOL_MASS = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-11}
"""Relative mass conservation over 10,000 steps per dtype."""


def rtol(dtype) -> float:
    """:data:`RTOL` of a dtype (or of an array's dtype)."""
    return RTOL[np.dtype(getattr(dtype, "dtype", dtype))]


def run_at(method, tank, prop, steps, **kwargs):
    """``simulate`` with frames at exactly the given steps (sorted, starting at 0)."""
    steps = np.asarray(steps)
    return dc.simulate(tank, prop, int(steps[-1]), method=method, save_at=steps[1:-1].tolist(), **kwargs)


def drift_frames(path, steps, *options):
    """Every frame of the ``drift`` scenario (16 x 16, the propagator) written by ``run --out path``."""
    from diffusion_conv import cli

    argv = ["run", "drift", "--size", "16", "--steps", str(steps), "--save-every", "1", "--method", "propagator"]
    assert cli.main(argv + list(options) + ["--out", str(path)]) == 0
    return path


def compiles(fn):
    """The number of XLA programs compiled while ``fn`` runs (jax.monitoring's compile events)."""
    events = []

    def listener(name, duration, **kw):
        if name == "/jax/core/compile/backend_compile_duration":
            events.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        fn()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return len(events)

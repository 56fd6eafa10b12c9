"""``simulate()``: one entry point for every method, and the ``Result`` it returns (see :mod:`.result`)."""
from __future__ import annotations

import importlib
import time

import numpy as np

from . import _checks
from .propagator import Propagator
from .result import Result
from .tank import Tank

METHODS = ("propagator", "spectral", "particles", "counts", "image", "heat")
"""Every method name :func:`simulate` accepts, besides ``'auto'``."""

STOCHASTIC = ("particles", "counts")


def method_module(name: str):
    """The module implementing method ``name`` (see :mod:`diffusion_conv.methods`)."""
    if name not in METHODS:
        raise ValueError(f"method {name!r} is unknown; allowed: {', '.join(METHODS + ('auto',))}")
    return importlib.import_module(f"diffusion_conv.methods.{name}")


def frame_steps(steps: int, save_every: int | None) -> np.ndarray:
    """Step indices of the saved frames: ``0, k, 2k, ...`` and always the last step."""
    if save_every is None or steps == 0:
        return np.unique(np.array([0, steps], dtype=np.int64))
    s = np.arange(0, steps + 1, save_every, dtype=np.int64)
    if s[-1] != steps:
        s = np.append(s, steps)
    return s


def _check_common(tank, prop, steps, save_every, dt, method):
    if not isinstance(tank, Tank):
        raise TypeError(f"tank must be a diffusion_conv.Tank, got {type(tank).__name__}")
    if not isinstance(prop, Propagator):
        raise TypeError(f"prop must be a diffusion_conv.Propagator, got {type(prop).__name__}")
    if prop.ndim != tank.ndim:
        raise ValueError(f"prop is {prop.ndim}-D but the tank is {tank.ndim}-D; they must match")
    steps = _checks.integer("steps", steps, minimum=0)
    if save_every is not None:
        save_every = _checks.integer("save_every", save_every, minimum=1)
    dt = _checks.positive_float("dt", dt)
    if not isinstance(method, str) or (method not in METHODS and method != "auto"):
        raise ValueError(f"method {method!r} is unknown; allowed: {', '.join(METHODS + ('auto',))}")
    return steps, save_every, dt


def resolve_method(tank, prop, method: str, **kwargs) -> str:
    """The method ``'auto'`` stands for: ``spectral`` where it is exact, else ``propagator``."""
    if method != "auto":
        return method
    try:
        spectral = method_module("spectral")
        spectral.validate(tank, prop, **kwargs)
    except (ImportError, ValueError):
        return "propagator"
    return "spectral"


def _moments(prop) -> dict:
    """The kernel's mean jump and covariance (cells), computed on the host for the metadata."""
    w = np.asarray(prop.weights, dtype=np.float64).ravel()
    d = prop.offsets.astype(np.float64)
    mean = w @ d
    centred = d - mean
    cov = (centred * w[:, None]).T @ centred
    return {"kernel_mean": mean.tolist(), "kernel_covariance": cov.tolist()}


def simulate(tank, prop, steps, method="propagator", save_every=None, dt=1.0, n_particles=None, key=None,
             progress=False, **options) -> Result:
    """Run one method on a tank and return its frames.

    Parameters
    ----------
    tank : Tank
        Initial field, boundaries, walls and ``dx``.
    prop : Propagator
        The jump distribution; same number of dimensions as the tank.
    steps : int
        Number of steps (>= 0); the run ends at ``t = steps * dt``.
    method : str
        One of ``'propagator'``, ``'spectral'``, ``'particles'``, ``'counts'``,
        ``'image'``, ``'heat'``, or ``'auto'`` (``spectral`` where it is exact,
        else ``propagator``; ``Result.method`` names the one used).
    save_every : int, optional
        Save a frame every this many steps (step 0 and the last step always);
        ``None`` saves steps 0 and ``steps`` only.
    dt : float
        Duration of a step; sets ``Result.times`` and, for ``heat``, the diffusion
        tensor ``D = covariance dx^2 / (2 dt)``.
    n_particles : int, optional
        Number of particles; required by (and only allowed for) the stochastic methods.
    key : jax.random key, optional
        Randomness of the stochastic methods (required by them; there is no hidden seed).
    progress : bool
        Show a progress bar on stderr.
    **options
        Method-specific options (e.g. ``track`` for ``particles``).

    Returns
    -------
    Result

    Raises
    ------
    ValueError, TypeError
        On bad input, naming the argument, before any work is done.
    """
    steps, save_every, dt = _check_common(tank, prop, steps, save_every, dt, method)
    kwargs = dict(n_particles=n_particles, key=key, **options)
    name = resolve_method(tank, prop, method, **kwargs)
    module = method_module(name)
    module.validate(tank, prop, **kwargs)
    save_steps = frame_steps(steps, save_every)
    start = time.perf_counter()
    out = module.run(tank, prop, save_steps, dt=dt, progress=progress, **kwargs)
    elapsed = time.perf_counter() - start
    frames = np.asarray(out.frames)
    meta = {
        "dx": tank.dx,
        "dt": dt,
        "boundary": list(tank.boundary),
        "shape": list(tank.shape),
        "walls": None if tank.walls is None else int(tank.walls.sum()),
        "dtype": str(frames.dtype),
        "kernel_shape": list(prop.weights.shape),
        **_moments(prop),
        "requested_method": method,
    }
    if n_particles is not None:
        meta["n_particles"] = int(n_particles)
    meta.update(out.meta)
    return Result(out.method or name, save_steps, save_steps * dt, frames, out.absorbed, elapsed, meta, out.extras)

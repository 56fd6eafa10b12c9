"""``simulate()``: the one host driver of every method, and the ``Result`` it returns."""
from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np

from . import _checks
from .methods import get as get_method
from .methods import names as _method_names
from .rollout import frame_steps  # noqa: F401  (re-exported: the frame schedule)

METHODS = _method_names()
"""Every method name :func:`simulate` accepts, besides ``'auto'``."""

STOCHASTIC = tuple(n for n in METHODS if get_method(n).stochastic)


class Result:
    """The frames of one run and what is known about it.

    Attributes
    ----------
    method : str
        The method that ran (``'auto'`` is resolved to the one it picked).
    steps : ndarray of int, shape ``(F,)``
        Step index of each frame: ``0, k, 2k, ...`` and the last step.
    times : ndarray of float, shape ``(F,)``
        ``steps * dt``.
    frames : ndarray, shape ``(F, *tank.shape)``
        Concentration at each saved step. Stochastic frames are particle counts
        times ``initial mass / N / dx**ndim``.
    absorbed : ndarray, shape ``(F,)``
        Running total of the mass absorbed at open edges by each frame (0 at step 0).
    elapsed : float
        Wall-clock seconds of the run, compilation included.
    meta : dict
        JSON-serialisable details: ``dx``, ``dt``, ``boundary``, ``shape``, ``dtype``,
        the kernel's moments and method-specific entries.
    extras : dict of str to ndarray
        Further arrays some methods return (e.g. tracked particle trajectories).
    """

    def __init__(self, method, steps, times, frames, absorbed, elapsed, meta, extras=None):
        self.method = str(method)
        self.steps = np.asarray(steps, dtype=np.int64)
        self.times = np.asarray(times, dtype=np.float64)
        self.frames = np.asarray(frames)
        self.absorbed = np.asarray(absorbed, dtype=np.float64)
        self.elapsed = float(elapsed)
        self.meta = dict(meta)
        self.extras = dict(extras or {})

    @property
    def final(self) -> np.ndarray:
        """The last frame."""
        return self.frames[-1]

    @property
    def dx(self) -> float:
        return float(self.meta.get("dx", 1.0))

    def mass(self) -> np.ndarray:
        """Mass in the tank at each frame, ``sum(frame) * dx**ndim``, shape ``(F, *batch_shape)``."""
        ndim = len(self.meta.get("shape", self.frames.shape[1:]))
        axes = tuple(range(self.frames.ndim - ndim, self.frames.ndim))
        return self.frames.sum(axis=axes, dtype=np.float64) * self.dx ** ndim

    def __repr__(self):
        return (
            f"Result(method={self.method!r}, frames={self.frames.shape}, last step={int(self.steps[-1])}, "
            f"elapsed={self.elapsed:.3g} s)"
        )

    def save(self, path) -> None:
        """Write the result to an ``.npz`` file.

        The file is written under a temporary name in the same folder and
        renamed when complete, so a failed save leaves no partial file.
        """
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"path {path!r}: folder {folder!r} does not exist")
        arrays = dict(steps=self.steps, times=self.times, frames=self.frames, absorbed=self.absorbed)
        for name, value in self.extras.items():
            arrays[f"extra_{name}"] = np.asarray(value)
        header = json.dumps({"method": self.method, "elapsed": self.elapsed, "meta": self.meta})
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, header=np.array(header), **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    @classmethod
    def load(cls, path) -> "Result":
        """Read a result written by :meth:`save`."""
        with np.load(os.fspath(path), allow_pickle=False) as data:
            if "header" not in data or "frames" not in data:
                raise ValueError(f"{os.fspath(path)!r} is not a diffusion_conv result file")
            header = json.loads(str(data["header"]))
            extras = {k[len("extra_"):]: data[k] for k in data.files if k.startswith("extra_")}
            return cls(
                header["method"], data["steps"], data["times"], data["frames"], data["absorbed"],
                header["elapsed"], header["meta"], extras,
            )


def check_method(method):
    """``method`` as a registered name or ``'auto'``; ValueError listing the allowed names otherwise."""
    if not isinstance(method, str) or (method not in METHODS and method != "auto"):
        raise ValueError(f"method {method!r} is unknown; allowed: {', '.join(METHODS + ('auto',))}")
    return method


class Plan:
    """A checked run: the method, its options, the frame schedule and the batch (built before any work)."""

    def __init__(self, tank, prop, steps, method, save_every, save_at, dt, n_particles, key, options):
        from .rollout import batch_shapes, check_problem, check_schedule, first_key, resolve

        check_problem(tank, prop)
        steps, save_every, save_at = check_schedule(steps, save_every, save_at)
        self.dt = _checks.positive_float("dt", dt)
        check_method(method)
        kwargs = dict(n_particles=n_particles, key=first_key(key), **options)
        self.method = resolve(method, tank, prop, **kwargs)
        self.batch = batch_shapes(tank, prop, key, self.method)
        self.options = self.method.validate(tank, prop, **kwargs)
        self.save_steps = frame_steps(steps, save_every, save_at)
        self.method.check_steps(tank, prop, self.save_steps, self.options)
        self.requested, self.tank, self.prop, self.key, self.n_particles = method, tank, prop, key, n_particles
        self.members = int(np.prod(self.batch, dtype=np.int64))
        itemsize = np.dtype(tank.dtype).itemsize
        cells = int(np.prod(tank.shape, dtype=np.int64))
        self.memory = self.method_memory(cells, itemsize)

    def method_memory(self, cells, itemsize):
        from . import _driver

        nframes = len(self.save_steps)
        extras = 0
        working = 6 * cells * itemsize
        n = self.n_particles or 0
        if self.method.name == "particles":
            track = self.options.get("track", 0)
            working += n * (4 * self.tank.ndim * 4 + 16)
            extras = nframes * self.members * track * self.tank.ndim * itemsize
        elif self.method.name == "counts":
            working += (int(np.prod(self.prop.kernel_shape)) + 4) * cells * 8
            extras = nframes * self.members * cells * np.dtype(_checks.step_dtype()).itemsize
        elif self.method.name == "propagator" and self.tank.walls is not None:
            working += int(np.prod(self.prop.kernel_shape)) * cells * (1 + itemsize)
        return _driver.check_memory(nframes, self.members, cells, itemsize, working, extras)


def simulate(tank, prop, steps, method="propagator", save_every=None, dt=1.0, n_particles=None, key=None,
             progress=False, save_at=None, **options) -> Result:
    """Run one method on a tank (or a batch of them) and return its frames.

    Parameters
    ----------
    tank : Tank
        Initial field, boundaries, walls and ``dx``; a stack of tanks
        (:meth:`Tank.stack`) is a batch.
    prop : Propagator
        The jump distribution; same number of dimensions as the tank; a bank of
        kernels (:meth:`Propagator.stack`) is a batch.
    steps : int
        Number of steps (>= 0); the run ends at ``t = steps * dt``. At most
        ``2**31 - 1`` with JAX's 32-bit integers, ``2**53`` in x64 mode.
    method : str
        One of ``'propagator'``, ``'spectral'``, ``'particles'``, ``'counts'``,
        ``'image'``, ``'heat'``, or ``'auto'`` (``spectral`` where it is exact,
        else ``propagator``; ``Result.method`` names the one used).
    save_every : int, optional
        Save a frame every this many steps (step 0 and the last step always);
        ``None`` (and no ``save_at``) saves steps 0 and ``steps`` only.
    dt : float
        Duration of a step; sets ``Result.times``.
    n_particles : int, optional
        Number of particles; required by (and only allowed for) the stochastic methods.
    key : jax.random key, or a batch of keys, optional
        Randomness of the stochastic methods (required by them; there is no
        hidden seed). A batch of keys (``jax.random.split(key, 64)``) is an ensemble.
    progress : bool
        Show a progress bar on stderr (it counts steps done, or frames for the
        methods that compute frames directly).
    save_at : sequence of int, optional
        Save frames at these steps instead (strictly increasing, in ``[0, steps]``;
        0 and ``steps`` are always saved), e.g. logarithmically spaced steps.
    **options
        Method-specific options (e.g. ``track`` for ``particles``).

    Returns
    -------
    Result
        ``frames`` of shape ``(F, *batch_shape, *tank.shape)``, ``absorbed`` of
        shape ``(F, *batch_shape)``, where ``batch_shape`` broadcasts the tank's,
        the kernel bank's and the keys' batch shapes by NumPy's rules.

    Raises
    ------
    ValueError, TypeError
        On bad input, naming the argument, before any work is done; also when the
        run would not fit the memory available (with the estimate and the fix).
    """
    plan = Plan(tank, prop, steps, method, save_every, save_at, dt, n_particles, key, options)
    return run(plan, progress)


def run(plan, progress=False) -> Result:
    """Carry out a checked :class:`Plan`: initial state, frame chunks, progress, host frames, ``Result``."""
    import jax

    from . import _driver, _progress
    from .rollout import flatten_batch

    m, tank, prop = plan.method, plan.tank, plan.prop
    start = time.perf_counter()
    impl = None if m.traceable else m
    if m.traceable and not plan.batch:
        impl = m.host(tank, prop, plan.options)
    elif m.traceable:  # a batch on a host path: one member at a time, where the method has one
        impl = m.host(tank[(0,) * len(tank.batch_shape)] if tank.batch_shape else tank,
                      prop[(0,) * len(prop.batch_shape)] if prop.batch_shape else prop, plan.options)
    units = m.units
    total = int(plan.save_steps[-1]) if units == "step" else len(plan.save_steps) - 1
    if impl is not None:  # a host implementation: one member at a time
        from .propagator import Propagator
        from .tank import Tank

        batch = plan.batch
        conc = np.broadcast_to(np.asarray(tank.concentration), batch + tank.shape).reshape((-1,) + tank.shape)
        weights = np.broadcast_to(np.asarray(prop.weights), batch + prop.kernel_shape)
        weights = weights.reshape((-1,) + prop.kernel_shape)
        stores = []
        with _progress.bar(total * plan.members, progress, desc=m.name, unit=units) as bar:
            for c, w in zip(conc, weights):
                t1 = tank.like(np.array(c))
                p1 = Propagator._trusted(w)
                impl_i = (m.host(t1, p1, plan.options) or m) if m.traceable else m
                st = impl_i.init(t1, p1, **plan.options)
                frame, absorbed = impl_i.observe(st)
                store = _driver.Frames(len(plan.save_steps), (np.asarray(frame)[None], np.asarray(absorbed)[None]),
                                       {})
                _driver.run_host(impl_i, st, plan.save_steps, store, bar, units)
                stores.append(store)
        frames = np.stack([s.frames[:, 0] for s in stores], axis=1)
        absorbed = np.stack([s.absorbed[:, 0] for s in stores], axis=1)
        extras, summary = {}, {}
    else:
        conc, weights, keys, prepared = flatten_batch(m, tank, prop, plan.key if m.stochastic else None,
                                                      plan.batch, plan.options)
        state, first, extras0 = _driver.init(m, tank, conc, weights, keys, prepared, plan.n_particles, plan.options)
        store = _driver.Frames(len(plan.save_steps), first, extras0)
        frame_bytes = int(np.prod(tank.shape)) * np.dtype(tank.dtype).itemsize
        cap = _driver.capacity(frame_bytes, plan.members)
        with _progress.bar(total, progress, desc=m.name, unit=units) as bar:
            state = _driver.run_compiled(m, state, plan.save_steps, store, bar, cap, units)
        summary = {k: np.asarray(v) for k, v in _driver.summary(state, m).items()}
        frames, absorbed, extras = store.frames, store.absorbed, store.extras
        jax.block_until_ready(state)
    elapsed = time.perf_counter() - start
    batch = plan.batch
    frames = frames.reshape((len(plan.save_steps),) + batch + tank.shape)
    absorbed = absorbed.reshape((len(plan.save_steps),) + batch)
    extras = {k: v.reshape((len(plan.save_steps),) + batch + v.shape[2:]) for k, v in extras.items()}
    return Result(m.name, plan.save_steps, plan.save_steps * plan.dt, frames, absorbed, elapsed,
                  _meta(plan, frames, summary), extras)


def _meta(plan, frames, summary):
    tank, prop = plan.tank, plan.prop
    mean, cov = prop.host_moments()
    meta = {
        "dx": tank.dx,
        "dt": plan.dt,
        "boundary": [str(b) for b in tank.boundary],
        "shape": list(tank.shape),
        "batch_shape": list(plan.batch),
        "walls": None if tank.walls is None else int(tank.walls.sum()),
        "dtype": str(frames.dtype),
        "kernel_shape": list(prop.kernel_shape),
        "kernel_mean": mean.tolist(),
        "kernel_covariance": cov.tolist(),
        "requested_method": plan.requested,
        "order": plan.method.order(tank, prop).exponent,
    }
    if plan.n_particles is not None:
        meta["n_particles"] = int(plan.n_particles)
    meta.update(plan.method.meta(tank, prop, plan.save_steps, plan.options))
    for k, v in summary.items():
        v = np.asarray(v).reshape(plan.batch)
        meta[k] = v.tolist() if plan.batch else v.item()
    return meta

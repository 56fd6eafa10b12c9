"""``simulate()``: the one host driver of every method, and the ``Result`` it returns (see :mod:`.result`)."""
from __future__ import annotations

import time

import numpy as np

from . import _checks
from .methods import get as get_method
from .methods import names as _method_names
from .result import Result
from .rollout import frame_steps  # noqa: F401  (re-exported: the frame schedule)

METHODS = _method_names()
"""Every method name :func:`simulate` accepts, besides ``'auto'``."""

STOCHASTIC = tuple(n for n in METHODS if get_method(n).stochastic)


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
        groups = flatten_batch(m, tank, prop, plan.key if m.stochastic else None, plan.batch, plan.options)
        nframes = len(plan.save_steps)
        frames = absorbed = None
        extras, summary = {}, {}
        frame_bytes = int(np.prod(tank.shape)) * np.dtype(tank.dtype).itemsize
        with _progress.bar(total * len(groups), progress, desc=m.name, unit=units) as bar:
            for g in groups:  # members that take one path run together
                state, first, extras0 = _driver.init(m, tank, g.conc, g.weights, g.keys, g.prepared,
                                                     plan.n_particles, plan.options)
                store = _driver.Frames(nframes, first, extras0)
                cap = _driver.capacity(frame_bytes, g.size)
                state = _driver.run_compiled(m, state, plan.save_steps, store, bar, cap, units)
                part = {k: np.asarray(v) for k, v in _driver.summary(state, m).items()}
                if len(groups) == 1:
                    frames, absorbed, extras, summary = store.frames, store.absorbed, store.extras, part
                    break
                if frames is None:
                    frames = np.empty((nframes, plan.members) + store.frames.shape[2:], store.frames.dtype)
                    absorbed = np.empty((nframes, plan.members), np.float64)
                    extras = {k: np.empty((nframes, plan.members) + v.shape[2:], v.dtype)
                              for k, v in store.extras.items()}
                    summary = {k: np.empty((plan.members,) + v.shape[1:], v.dtype) for k, v in part.items()}
                frames[:, g.index], absorbed[:, g.index] = store.frames, store.absorbed
                for k, v in store.extras.items():
                    extras[k][:, g.index] = v
                for k, v in part.items():
                    summary[k][g.index] = v
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

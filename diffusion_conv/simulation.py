"""``simulate()``: the one host driver of every method, and the ``Result`` it returns (see :mod:`.result`)."""

from __future__ import annotations

import math
import time

import numpy as np

from . import _checks, _memory, driver
from ._devices import mesh_of
from ._split import check as check_split
from .core import (
    batch_shapes,
    check_problem,
    check_schedule,
    first_key,
    flatten_batch,
    frame_steps,  # noqa: F401  (re-exported: the frame schedule)
    resolve,
)
from .errors import InputError
from .methods import check_mobility_method
from .methods import names as _method_names
from .methods.base import Sizes
from .result import Result

METHODS = _method_names()
"""The built-in method names :func:`simulate` accepts, besides ``'auto'`` (and any method registered later:
:func:`diffusion_conv.methods.names` lists them all)."""


def check_method(method):
    """``method`` as a registered name or ``'auto'``; ValueError listing the allowed names otherwise."""
    known = _method_names()
    if not isinstance(method, str) or (method not in known and method != "auto"):
        raise InputError(f"method {method!r} is unknown; allowed: {', '.join(known + ('auto',))}")
    return method


class Plan:
    """A checked run: the method, its options, the frame schedule and the batch (built before any work).

    The method's preparation runs once, per group of members that take one path (``groups``, each
    with its ``prepared``: host work on the inputs, nothing compiled or run); the memory estimate
    (the method's :meth:`~diffusion_conv.methods.Method.memory`) reads it and is checked against the
    memory available; the declared ``order`` is read once. The driver, the split grid and
    ``Result.meta`` use these.
    """

    def __init__(self, tank, prop, steps, method, save_every, save_at, dt, n_particles, key, options, devices=None):
        check_problem(tank, prop)
        steps, save_every, save_at = check_schedule(steps, save_every, save_at)
        self.dt = _checks.positive_float("dt", dt)
        check_method(method)
        kwargs = dict(n_particles=n_particles, key=first_key(key), **options)
        self.method = resolve(method, tank, prop, **kwargs)
        check_mobility_method(self.method, tank)
        self.batch = batch_shapes(tank, prop, key, self.method)
        self.options = self.method.validate(tank, prop, **kwargs)
        self.save_steps = frame_steps(steps, save_every, save_at)
        last = float(self.save_steps[-1]) * self.dt
        if not np.isfinite(last):
            raise InputError(
                f"dt={self.dt!r} puts the last step, steps={steps}, at time steps * dt = {last}, "
                f"beyond the largest float ({np.finfo(np.float64).max:.4g}); choose a smaller dt "
                f"(other time units)"
            )
        self.method.check_steps(tank, prop, self.save_steps, self.options)
        self.requested, self.tank, self.prop, self.key, self.n_particles = method, tank, prop, key, n_particles
        self.members = math.prod(self.batch)
        self.mesh = mesh_of(devices)
        if self.mesh is not None:
            if not self.method.traceable:
                raise InputError(
                    f"method {self.method.name!r} runs on the host (scipy) and cannot use devices; leave devices=None"
                )
            if not self.batch:
                check_split(self.method, tank, prop, self.mesh.size, self.options)
        self.groups = flatten_batch(
            self.method, tank, prop, key if self.method.stochastic else None, self.batch, self.options
        )
        sizes, nframes = Sizes.of(tank, prop), len(self.save_steps)
        self.memory_parts = self.method.memory(
            sizes, self.options, n_particles, nframes, self.members, np.dtype(tank.dtype).itemsize, self.prepared
        )
        self.memory = _memory.check(self.memory_parts, nframes, self.members, sizes.cells)
        self.order = self.method.order(tank, prop)

    @property
    def prepared(self) -> tuple:
        """What the method's preparation gave for each group of members."""
        return tuple(g.prepared for g in self.groups)


def simulate(
    tank,
    prop,
    steps,
    method="propagator",
    save_every=None,
    dt=1.0,
    n_particles=None,
    key=None,
    progress=False,
    save_at=None,
    devices=None,
    **options,
) -> Result:
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
        Duration of a step (finite, > 0); sets ``Result.times``, whose last entry
        ``steps * dt`` must be finite too.
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
    devices : None, 'all', int, list of jax devices, or jax.sharding.Mesh, optional
        Run on these devices (``jax.devices()`` lists every device of every
        process after ``jax.distributed.initialize``): the members of a batch are
        spread over them; with no batch, ``propagator``, ``counts`` and
        ``particles`` split the grid along axis 0 (``spectral`` and ``heat``
        refuse: batch instead). The same key gives the same numbers on any number
        of devices. See the "Scaling out" page of the docs.
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
    plan = Plan(tank, prop, steps, method, save_every, save_at, dt, n_particles, key, options, devices)
    return run(plan, progress)


def run(plan, progress=False) -> Result:
    """Carry out a checked :class:`Plan`: initial state, frame chunks, progress, host frames, ``Result``."""
    start = time.perf_counter()
    frames, absorbed, extras, summary = driver.run(plan, progress)
    elapsed = time.perf_counter() - start
    n, batch, tank = len(plan.save_steps), plan.batch, plan.tank
    frames = frames.reshape((n,) + batch + tank.shape)
    absorbed = absorbed.reshape((n,) + batch)
    extras = {k: v.reshape((n,) + batch + v.shape[2:]) for k, v in extras.items()}
    return Result(
        plan.method.name,
        plan.save_steps,
        plan.save_steps * plan.dt,
        frames,
        absorbed,
        elapsed,
        _meta(plan, frames, summary),
        extras,
    )


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
        # where the walls are (flat C-order indices of the grid): the pictures draw them
        "wall_cells": None if tank.walls is None else np.flatnonzero(np.asarray(tank.walls)).tolist(),
        # a mobility map (cells that slow the walk): its minimum and mean over the cells that are not walls
        "mobility": tank.mobility_summary(),
        # where the map slows the walk (0 < mobility < 1 in any member; flat indices): the pictures outline them
        "slow_cells": _slow_cells(tank),
        "dtype": str(frames.dtype),
        "kernel_shape": list(prop.kernel_shape),
        "kernel_mean": mean.tolist(),
        "kernel_covariance": cov.tolist(),
        "requested_method": plan.requested,
        "order": plan.order.exponent,
    }
    if plan.n_particles is not None:
        meta["n_particles"] = int(plan.n_particles)
    meta.update(plan.method.meta(tank, prop, plan.save_steps, plan.options, plan.prepared))
    for k, v in summary.items():
        v = np.asarray(v).reshape(plan.batch)
        meta[k] = v.tolist() if plan.batch else v.item()
    return meta


def _slow_cells(tank):
    """Flat C-order indices of the cells whose mobility lies strictly between 0 and 1 (in any member), or None."""
    if tank.mobility is None:
        return None
    m = np.asarray(tank.mobility, dtype=np.float64).reshape((-1,) + tuple(tank.shape))
    slow = np.any((m > 0) & (m < 1), axis=0)
    return np.flatnonzero(slow).tolist() if slow.any() else None

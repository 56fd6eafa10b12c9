"""The one host driver of :func:`diffusion_conv.simulate`: a checked plan carried out on the host, compiled, or on a split grid.

:func:`run` picks the way and returns ``(frames (F, B, *grid), absorbed (F, B),
extras, summary)`` over the flattened batch ``B`` (1 for one run);
:func:`diffusion_conv.simulation.run` reshapes them and builds the Result.

A compiled run is cut into chunks of frames: each chunk is one call of a
compiled program that advances the state ``gap`` steps ``count`` times and
records every frame into a buffer of fixed capacity. ``gap`` and ``count`` are
traced, so runs on the same tank with other step counts, frame spacings or
progress settings reuse the program. Chunks are sized to take about
:data:`TARGET_S` seconds, so a progress bar advances with work that is done
(each chunk is waited for) and an interrupt lands within a fraction of a
second; a long gap between two frames is split into pieces where the method
composes exactly (``Method.stepwise``). Batches of members run together (in
groups that take one path), on one device or spread over a mesh of devices.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from . import _progress
from ._devices import place, to_host
from ._interrupt import wait
from .core import each, init_members, intervals
from .lattice.halo import AXIS
from .methods.base import Method, Slab
from .propagator import Propagator
from .tank import Tank

TARGET_S = 0.25
"""Seconds of work per compiled call the driver aims at."""

_FRAME_BYTES = 8 * 2**20
"""Frames recorded per call stay below this size (and at most :data:`_MAX_CAPACITY`)."""
_MAX_CAPACITY = 32


# -- members and batches ---------------------------------------------------------------------
def _over(mesh, fn, in_specs, out_specs):
    """``fn`` (which works on a leading axis of members) run on every device's share of the members."""
    if mesh is None:
        return fn
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)


def _specs():
    from jax.sharding import PartitionSpec as P

    return P(AXIS), P(None, AXIS), P()


@functools.partial(jax.jit, static_argnames=("m", "n_particles", "frozen", "boundary", "walls", "dx", "mesh"))
def _init(conc, weights, keys, prepared, mobility, m, n_particles, frozen, boundary, walls, dx, mesh=None):
    def members(conc, weights, keys, prepared, mobility):
        if keys is not None and not jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
            keys = jax.random.wrap_key_data(keys)
        tank = Tank._trusted(conc, boundary, walls, dx, 1, mobility)
        state = init_members(m, tank, conc, weights, keys, prepared, n_particles, dict(frozen), mobility)
        return state, each(m.observe, state), each(m.extras, state)

    lead, _, _ = _specs()
    return _over(mesh, members, (lead,) * 5, (lead, lead, lead))(conc, weights, keys, prepared, mobility)


def init(m, tank, conc, weights, keys, prepared, mobility, n_particles, options, mesh=None):
    """Compiled ``init`` and the first frame of every member: ``(state, (frame, absorbed), extras)``.

    ``mobility``: the members' mobility maps (leading axis), or None without a map.
    """
    frozen = tuple(sorted(options.items()))
    if mesh is not None:
        keys = None if keys is None else jax.random.key_data(keys)
        conc, weights, keys, prepared, mobility = place((conc, weights, keys, prepared, mobility), mesh)
    return _init(
        conc,
        weights,
        keys,
        prepared,
        mobility,
        m,
        n_particles,
        frozen,
        tank.boundary,
        tank.wall_mask,
        tank.dx,
        mesh=mesh,
    )


@functools.partial(jax.jit, static_argnames=("impl", "static", "mesh"))
def _init_split(arrays, impl, static, mesh):
    def members(arrays):
        def one(a):
            if "key" in a:
                a = dict(a, key=jax.random.wrap_key_data(a["key"]))
            if "keys" in a:
                a = dict(a, keys=jax.random.wrap_key_data(a["keys"]))
            st = impl.init(static, **a)
            return st, impl.observe(st), impl.extras(st)

        return each(one, arrays)

    lead, _, _ = _specs()
    return _over(mesh, members, (lead,), (lead, lead, lead))(arrays)


def init_split(impl, static, arrays, mesh):
    """The slab states of a grid split across ``mesh`` (one member per device) and the first frame."""
    raw = {k: (jax.random.key_data(v) if k in ("key", "keys") else v) for k, v in arrays.items()}
    return _init_split(place(raw, mesh), impl, static, mesh)


def capacity(frame_bytes: int, batch: int, frames: int | None = None) -> int:
    """Frames per compiled call: below ``_FRAME_BYTES`` in all, between 1 and ``_MAX_CAPACITY``.

    ``frames``: the frames the run records after the first; the capacity is then
    no more than the power of two that holds them (a run of one frame does not
    fill, and the program does not allocate, sixteen; powers of two keep the
    programs few).
    """
    cap = int(max(1, min(_MAX_CAPACITY, _FRAME_BYTES // max(1, frame_bytes * batch))))
    if frames is not None:
        cap = min(cap, 1 << max(0, int(frames) - 1).bit_length())
    return cap


@functools.partial(jax.jit, static_argnames=("m", "cap", "mesh"), donate_argnums=(0,))
def chunk(state, first, gap, count, m, cap, mesh=None):
    """``count`` frames (at most ``cap``): the first ``first`` steps on, the others ``gap`` steps apart.

    Returns ``(state, frames, absorbed, extras)``; frames beyond ``count`` are
    left at zero and the caller keeps the first ``count``. One program serves
    every call of a problem (``first``, ``gap`` and ``count`` are traced): a
    piece of a long gap is a call with ``count = 1`` whose frame is not kept.
    """

    def members(state, first, gap, count):
        def advance_observe(st, n):
            st = m.advance(st, n)
            frame, absorbed = m.observe(st)
            return st, frame, absorbed, m.extras(st)

        def seen(st):
            frame, absorbed = m.observe(st)
            return frame, absorbed, m.extras(st)

        shapes = jax.eval_shape(lambda st: each(seen, st), state)  # without tracing a step
        bufs = jax.tree_util.tree_map(lambda s: jnp.zeros((cap,) + s.shape, s.dtype), shapes)

        def body(i, carry):
            st, bufs = carry
            # one call site: one copy of the step in the program
            st, *out = each(advance_observe, st, jnp.where(i == 0, first, gap), in_axes=(0, None))
            bufs = jax.tree_util.tree_map(
                lambda b, o: jax.lax.dynamic_update_index_in_dim(b, o, i, 0), bufs, tuple(out)
            )
            return st, bufs

        state, bufs = jax.lax.fori_loop(0, count, body, (state, bufs))
        return (state,) + tuple(bufs)

    lead, second, rep = _specs()
    return _over(mesh, members, (lead, rep, rep, rep), (lead, second, second, second))(state, first, gap, count)


@functools.partial(jax.jit, static_argnames=("m", "mesh"))
def _summary(state, m, mesh=None):
    lead, _, _ = _specs()
    return _over(mesh, lambda st: each(m.summary, st), (lead,), lead)(state)


def summary(state, m, mesh=None):
    """The method's scalars of the final state per member (``Method.summary``); no program where it has none."""
    defaults = (Method.summary, Slab.summary)  # the interfaces' own: no scalars
    if getattr(type(m), "summary", None) in defaults:
        return {}
    return _summary(state, m, mesh)


# -- the run loop ------------------------------------------------------------------------------
class Frames:
    """Host buffers of a run: frames ``(F, B, *grid)``, absorbed ``(F, B)`` and extras, filled frame by frame."""

    def __init__(self, nframes, first, extras0):
        frame, absorbed = (to_host(x) for x in first)
        self.frames = np.empty((nframes,) + frame.shape, frame.dtype)
        self.absorbed = np.zeros((nframes,) + absorbed.shape, np.float64)
        extras0 = {k: to_host(v) for k, v in extras0.items()}
        self.extras = {k: np.empty((nframes,) + v.shape, v.dtype) for k, v in extras0.items()}
        self.pos = 0
        self.put(frame[None], absorbed[None], {k: v[None] for k, v in extras0.items()}, 1)

    split = None
    """With a grid split across devices: frames arrive as slabs ``(cap, D, s, ...)`` and absorbed as ``(cap, D)``."""

    def put(self, frames, absorbed, extras, count):
        sl = slice(self.pos, self.pos + count)
        # to the host first, then sliced: slicing a device array would compile a program per count
        frames, absorbed = to_host(frames)[:count], to_host(absorbed)[:count]
        extras = {k: to_host(v)[:count] for k, v in extras.items()}
        if self.split:  # slabs -> the whole grid (C order: slab d holds rows d s .. (d + 1) s - 1)
            frames = frames.reshape((count,) + self.frames.shape[1:])
            absorbed = absorbed[:, :1]  # every device holds the total
            extras = {k: v.reshape((count,) + self.extras[k].shape[1:]) for k, v in extras.items()}
        self.frames[sl] = frames
        self.absorbed[sl] = absorbed
        for k, v in extras.items():
            self.extras[k][sl] = v
        self.pos += count


_RATES: dict = {}
"""Seconds per step measured for each compiled problem, kept across runs (the next run sizes its calls at once)."""


class _Clock:
    """Seconds per step of the compiled programs, measured on calls after each program's first (compiling) one."""

    def __init__(self, key):
        self.key = key
        self.rate = _RATES.get(key)
        self.seen = set()

    def time(self, program, steps, fn):
        t0 = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - t0
        if (program in self.seen or self.key in _RATES) and steps > 0 and elapsed > 2e-3:
            self.rate = _RATES[self.key] = elapsed / steps
        self.seen.add(program)
        return out

    def steps_for(self, seconds):
        """Steps that take about ``seconds`` at the measured rate (None before a measurement)."""
        return None if self.rate is None else max(1, int(seconds / max(self.rate, 1e-12)))


def run_compiled(m, state, save_steps, store, bar, cap, units, mesh=None):
    """Advance a compiled state through ``save_steps``, storing every frame; returns the final state.

    Calls are kept near :data:`TARGET_S`: the first ones are a step or two (to
    compile and to measure), later ones as many frames, or pieces of a long gap
    where the method composes exactly, as fit the target.
    """
    leaves = jax.tree_util.tree_leaves(state)
    clock = _Clock((m.name, jax.tree_util.tree_structure(state), tuple((x.shape, str(x.dtype)) for x in leaves)))
    stepwise = bool(m.stepwise(state))
    # several processes run one program together: every process must make the same calls, so the calls are
    # sized by the schedule alone (a process's own timing would differ from the others')
    together = jax.process_count() > 1
    for gap, count in intervals(save_steps):
        done = 0
        while done < count:
            if together:
                n = int(min(cap, count - done))
                out = chunk(state, gap, gap, n, m, cap, mesh)
                state = out[0]
                store.put(out[1], out[2], out[3], n)
                done += n
                bar.update(n * gap if units == "step" else n)
                continue
            budget = clock.steps_for(TARGET_S)
            if stepwise and (budget is None or gap > 2 * budget) and gap > 2:
                left = gap  # a long gap: pieces without frames, then the frame
                piece = 1
                while True:
                    piece = 2 * piece if budget is None else budget  # grow until a call is long enough to time
                    if piece >= left:
                        break
                    state = clock.time(
                        "chunk", piece, lambda st=state, p=piece: wait(chunk(st, p, p, 1, m, cap, mesh)[0])
                    )
                    left -= piece
                    if units == "step":
                        bar.update(piece)
                    budget = clock.steps_for(TARGET_S)
                n, gap_now = 1, left
            else:
                gap_now = gap
                n = 1 if budget is None else int(max(1, min(cap, count - done, budget // max(gap, 1))))
            out = clock.time(
                "chunk",
                gap_now + (n - 1) * gap,
                lambda st=state, f=gap_now, g=gap, k=n: wait(chunk(st, f, g, k, m, cap, mesh)),
            )
            state = out[0]
            store.put(out[1], out[2], out[3], n)
            done += n
            bar.update(gap_now + (n - 1) * gap if units == "step" else n)
    return state


def run_host(impl, state, save_steps, store, bar, units):
    """Advance a host implementation (numpy, scipy) through ``save_steps``, storing every frame."""
    for gap, count in intervals(save_steps):
        for _ in range(count):
            state = impl.advance(state, gap)
            frame, absorbed = impl.observe(state)
            store.put(
                np.asarray(frame)[None, None],
                np.asarray(absorbed)[None, None],
                {k: np.asarray(v)[None, None] for k, v in getattr(impl, "extras", lambda s: {})(state).items()},
                1,
            )
            bar.update(gap if units == "step" else 1)
    return state


# -- carrying out a plan ----------------------------------------------------------------------


def run(plan, progress):
    """Pick the way: a host implementation, the compiled members (on one device or a mesh), or a split grid."""
    m, tank, prop = plan.method, plan.tank, plan.prop
    if plan.mesh is not None and not plan.batch:
        return split(plan, progress)
    impl = None if m.traceable else m
    if m.traceable and plan.mesh is None:
        one_tank = tank[(0,) * len(tank.batch_shape)] if tank.batch_shape else tank
        one_prop = prop[(0,) * len(prop.batch_shape)] if prop.batch_shape else prop
        impl = m.host(one_tank, one_prop, plan.options)
    if impl is not None:
        return host(plan, progress)
    return compiled(plan, progress)


def _total(plan):
    return int(plan.save_steps[-1]) if plan.method.units == "step" else len(plan.save_steps) - 1


def host(plan, progress):
    """A host implementation (numpy, scipy), one member at a time."""
    m, tank, prop, batch = plan.method, plan.tank, plan.prop, plan.batch
    if batch:
        conc = np.broadcast_to(np.asarray(tank.concentration), batch + tank.shape).reshape((-1,) + tank.shape)
        weights = np.broadcast_to(np.asarray(prop.weights), batch + prop.kernel_shape).reshape(
            (-1,) + prop.kernel_shape
        )
        maps = [None] * len(conc)
        if tank.mobility is not None:
            mob = np.asarray(tank.mobility)
            maps = list(np.broadcast_to(mob, batch + tank.shape).reshape((-1,) + tank.shape))
        members = [
            (tank.like(np.ascontiguousarray(c), mobility=mb), Propagator._trusted(w))
            for c, w, mb in zip(conc, weights, maps)
        ]
    else:  # one run: the plan's own tank and kernel (what a method derives from them is kept with them)
        members = [(tank, prop)]
    stores = []
    with _progress.bar(_total(plan) * plan.members, progress, desc=m.name, unit=m.units) as bar:
        for t1, p1 in members:
            impl = (m.host(t1, p1, plan.options) or m) if m.traceable else m
            st = impl.init(t1, p1, **plan.options)
            frame, absorbed = impl.observe(st)
            store = Frames(len(plan.save_steps), (np.asarray(frame)[None], np.asarray(absorbed)[None]), {})
            run_host(impl, st, plan.save_steps, store, bar, m.units)
            stores.append(store)
    if len(stores) == 1:  # no copy of a single member's frames
        return stores[0].frames, stores[0].absorbed, {}, {}
    frames = np.concatenate([s.frames for s in stores], axis=1)
    absorbed = np.concatenate([s.absorbed for s in stores], axis=1)
    return frames, absorbed, {}, {}


def _padded(group, devices):
    """A group's inputs with its members repeated up to a multiple of the devices (the copies are dropped after)."""
    import jax

    size = group.size
    total = -(-size // devices) * devices
    if total == size:
        return group.conc, group.weights, group.keys, group.prepared, group.mobility
    take = np.concatenate([np.arange(size), np.full(total - size, size - 1)])

    def rep(x):
        return None if x is None else x[take]

    prepared = None if group.prepared is None else jax.tree_util.tree_map(lambda x: np.asarray(x)[take], group.prepared)
    return rep(group.conc), rep(group.weights), rep(group.keys), prepared, rep(group.mobility)


def compiled(plan, progress):
    """The compiled members, in groups that take one path, on one device or spread over a mesh."""
    m, tank, mesh = plan.method, plan.tank, plan.mesh
    groups = plan.groups  # prepared once, by the plan
    nframes = len(plan.save_steps)
    frames = absorbed = None
    extras, summaries = {}, {}
    frame_bytes = int(np.prod(tank.shape)) * np.dtype(tank.dtype).itemsize
    with _progress.bar(_total(plan) * len(groups), progress, desc=m.name, unit=m.units, compiles=True) as bar:
        for g in groups:  # members that take one path run together
            inputs = (g.conc, g.weights, g.keys, g.prepared, g.mobility) if mesh is None else _padded(g, mesh.size)
            state, first, extras0 = init(m, tank, *inputs, plan.n_particles, plan.options, mesh=mesh)
            store = Frames(nframes, first, extras0)
            cap = capacity(frame_bytes, len(inputs[0]) // (1 if mesh is None else mesh.size), nframes - 1)
            state = run_compiled(m, state, plan.save_steps, store, bar, cap, m.units, mesh)
            part = {k: to_host(v)[: g.size] for k, v in summary(state, m, mesh).items()}
            f, a = store.frames[:, : g.size], store.absorbed[:, : g.size]
            e = {k: v[:, : g.size] for k, v in store.extras.items()}
            if len(groups) == 1:
                return f, a, e, part
            if frames is None:
                frames = np.empty((nframes, plan.members) + f.shape[2:], f.dtype)
                absorbed = np.empty((nframes, plan.members), np.float64)
                extras = {k: np.empty((nframes, plan.members) + v.shape[2:], v.dtype) for k, v in e.items()}
                summaries = {k: np.empty((plan.members,) + v.shape[1:], v.dtype) for k, v in part.items()}
            frames[:, g.index], absorbed[:, g.index] = f, a
            for k, v in e.items():
                extras[k][:, g.index] = v
            for k, v in part.items():
                summaries[k][g.index] = v
    return frames, absorbed, extras, summaries


def split(plan, progress):
    """One grid split along axis 0 across the mesh (:mod:`diffusion_conv._split`): slabs in, whole frames out."""
    impl = plan.method.slab()
    devices = plan.mesh.size
    static, arrays = impl.inputs(plan, devices)
    state, first, extras0 = init_split(impl, static, arrays, plan.mesh)
    frame, absorbed = (to_host(x) for x in first)
    first = (frame.reshape((1,) + plan.tank.shape), absorbed[:1])  # slabs -> the whole grid; one absorbed total
    store = Frames(
        len(plan.save_steps), first, {k: to_host(v).reshape((1,) + plan.tank.shape) for k, v in extras0.items()}
    )
    store.split = devices  # later frames arrive as slabs
    frame_bytes = int(np.prod(plan.tank.shape)) * np.dtype(plan.tank.dtype).itemsize
    cap = capacity(frame_bytes, 1, len(plan.save_steps) - 1)
    with _progress.bar(
        _total(plan), progress, desc=f"{plan.method.name} on {devices} devices", unit=impl.units, compiles=True
    ) as bar:
        state = run_compiled(impl, state, plan.save_steps, store, bar, cap, impl.units, plan.mesh)
    part = {k: to_host(v)[:1] for k, v in summary(state, impl, plan.mesh).items()}
    return store.frames, store.absorbed, store.extras, part

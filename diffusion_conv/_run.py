"""The three ways :func:`diffusion_conv.simulate` carries out a plan: on the host, compiled, or on a split grid.

Each returns ``(frames (F, B, *grid), absorbed (F, B), extras, summary)`` over the
flattened batch ``B`` (1 for one run); :func:`diffusion_conv.simulation.run`
reshapes them and builds the Result.
"""

from __future__ import annotations

import numpy as np

from . import _driver, _progress


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
    from .propagator import Propagator

    m, tank, prop, batch = plan.method, plan.tank, plan.prop, plan.batch
    if batch:
        conc = np.broadcast_to(np.asarray(tank.concentration), batch + tank.shape).reshape((-1,) + tank.shape)
        weights = np.broadcast_to(np.asarray(prop.weights), batch + prop.kernel_shape).reshape(
            (-1,) + prop.kernel_shape
        )
    else:  # one run: the arrays as they are
        conc, weights = (np.asarray(tank.concentration),), (np.asarray(prop.weights),)
    stores = []
    with _progress.bar(_total(plan) * plan.members, progress, desc=m.name, unit=m.units) as bar:
        for c, w in zip(conc, weights):
            t1, p1 = tank.like(np.ascontiguousarray(c)), Propagator._trusted(w)
            impl = (m.host(t1, p1, plan.options) or m) if m.traceable else m
            st = impl.init(t1, p1, **plan.options)
            frame, absorbed = impl.observe(st)
            store = _driver.Frames(len(plan.save_steps), (np.asarray(frame)[None], np.asarray(absorbed)[None]), {})
            _driver.run_host(impl, st, plan.save_steps, store, bar, m.units)
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
        return group.conc, group.weights, group.keys, group.prepared
    take = np.concatenate([np.arange(size), np.full(total - size, size - 1)])

    def rep(x):
        return None if x is None else x[take]

    prepared = None if group.prepared is None else jax.tree_util.tree_map(lambda x: np.asarray(x)[take], group.prepared)
    return rep(group.conc), rep(group.weights), rep(group.keys), prepared


def compiled(plan, progress):
    """The compiled members, in groups that take one path, on one device or spread over a mesh."""
    from .core import flatten_batch

    m, tank, prop, mesh = plan.method, plan.tank, plan.prop, plan.mesh
    groups = flatten_batch(m, tank, prop, plan.key if m.stochastic else None, plan.batch, plan.options)
    nframes = len(plan.save_steps)
    frames = absorbed = None
    extras, summary = {}, {}
    frame_bytes = int(np.prod(tank.shape)) * np.dtype(tank.dtype).itemsize
    with _progress.bar(_total(plan) * len(groups), progress, desc=m.name, unit=m.units, compiles=True) as bar:
        for g in groups:  # members that take one path run together
            inputs = (g.conc, g.weights, g.keys, g.prepared) if mesh is None else _padded(g, mesh.size)
            state, first, extras0 = _driver.init(m, tank, *inputs, plan.n_particles, plan.options, mesh=mesh)
            store = _driver.Frames(nframes, first, extras0)
            cap = _driver.capacity(frame_bytes, len(inputs[0]) // (1 if mesh is None else mesh.size), nframes - 1)
            state = _driver.run_compiled(m, state, plan.save_steps, store, bar, cap, m.units, mesh)
            part = {k: _driver.to_host(v)[: g.size] for k, v in _driver.summary(state, m, mesh).items()}
            f, a = store.frames[:, : g.size], store.absorbed[:, : g.size]
            e = {k: v[:, : g.size] for k, v in store.extras.items()}
            if len(groups) == 1:
                return f, a, e, part
            if frames is None:
                frames = np.empty((nframes, plan.members) + f.shape[2:], f.dtype)
                absorbed = np.empty((nframes, plan.members), np.float64)
                extras = {k: np.empty((nframes, plan.members) + v.shape[2:], v.dtype) for k, v in e.items()}
                summary = {k: np.empty((plan.members,) + v.shape[1:], v.dtype) for k, v in part.items()}
            frames[:, g.index], absorbed[:, g.index] = f, a
            for k, v in e.items():
                extras[k][:, g.index] = v
            for k, v in part.items():
                summary[k][g.index] = v
    return frames, absorbed, extras, summary


def split(plan, progress):
    """One grid split along axis 0 across the mesh (:mod:`diffusion_conv._split`): slabs in, whole frames out."""
    from ._split import SPLIT

    impl = SPLIT[plan.method.name]
    devices = plan.mesh.size
    static, arrays = impl.inputs(plan, devices)
    state, first, extras0 = _driver.init_split(impl, static, arrays, plan.mesh)
    frame, absorbed = (_driver.to_host(x) for x in first)
    first = (frame.reshape((1,) + plan.tank.shape), absorbed[:1])  # slabs -> the whole grid; one absorbed total
    store = _driver.Frames(
        len(plan.save_steps), first, {k: _driver.to_host(v).reshape((1,) + plan.tank.shape) for k, v in extras0.items()}
    )
    store.split = devices  # later frames arrive as slabs
    frame_bytes = int(np.prod(plan.tank.shape)) * np.dtype(plan.tank.dtype).itemsize
    cap = _driver.capacity(frame_bytes, 1, len(plan.save_steps) - 1)
    with _progress.bar(
        _total(plan), progress, desc=f"{plan.method.name} on {devices} devices", unit=impl.units, compiles=True
    ) as bar:
        state = _driver.run_compiled(impl, state, plan.save_steps, store, bar, cap, impl.units, plan.mesh)
    part = {k: _driver.to_host(v)[:1] for k, v in _driver.summary(state, impl, plan.mesh).items()}
    return store.frames, store.absorbed, store.extras, part

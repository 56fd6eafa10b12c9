"""The deterministic method: the field pushed through the propagator step by step.

Each step is ``c'(y) = sum_x sum_d w[d] c(x) [x + d lands in y]``, with the
boundaries and walls of :mod:`diffusion_conv.lattice`: the exact expectation of
the ``particles`` and ``counts`` methods. Pure JAX; ``advance`` is a loop of
steps (``lax.fori_loop``), so it runs under ``jit``, ``vmap`` and ``grad``.

Paths (``Result.meta['path']``):

``halo``
    Separable kernels (a Gaussian, a box, any outer product) without walls, with
    ``2 r <= n`` on every axis: one pass per axis over buffers that carry ``r``
    cells of halo along that axis. A pass writes the jumps that stay in the tank
    into the interior of the next buffer and folds the few cells that leave (the
    edge strips) back with the boundary's :meth:`~diffusion_conv.lattice.Boundary.fold_chunk`,
    the same fold :func:`~diffusion_conv.lattice.transport` applies.
``general``
    Every other case: :func:`diffusion_conv.lattice.transport` of the weighted
    field with the wall masks.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..lattice import axis_slice, separable_factors, transport
from .base import Method, State, lead, members, register


def step(field, weights, radius, bnd, blocked=None, factors=None):
    """One step of the propagator on a field: returns ``(new_field, absorbed_mass_in_cells)``.

    With ``factors`` (see :func:`diffusion_conv.lattice.separable_factors`; no walls)
    the step is taken one axis at a time: the same jumps, boundaries and absorption.
    """
    if factors is not None and blocked is None:
        absorbed = jnp.zeros((), field.dtype)
        for axis, f in enumerate(factors):
            rad = tuple(r if a == axis else 0 for a, r in enumerate(radius))
            field, da = transport(field, rad, bnd, weights=f.astype(field.dtype))
            absorbed = absorbed + da
        return field, absorbed
    w = jnp.ravel(weights).astype(field.dtype)
    return transport(field, radius, bnd, blocked, weights=w)


# -- the halo path -------------------------------------------------------------------------
def halo_applies(shape, radius, factors, walls) -> bool:
    """Whether the halo path applies: separable weights, no walls, ``2 r <= n`` on every axis."""
    return factors is not None and walls is None and all(2 * r <= n for n, r in zip(shape, radius))


def _window(buf, axis, r, lo, hi):
    """The field at coordinates ``[lo, hi)`` along ``axis`` from a buffer holding ``[-r, n + r)``."""
    a, b = lo + r, hi + r
    size = buf.shape[axis]
    piece = axis_slice(buf, axis, max(a, 0), min(b, size))
    if a >= 0 and b <= size:
        return piece
    width = [(0, 0)] * buf.ndim
    width[axis] = (max(0, -a), max(0, b - size))
    return jnp.pad(piece, width)


def _taps(win, f, axis, r, length):
    """``out[i] = sum_k f[k] win[i + 2 r - k]``: mass arriving from the window (a convolution)."""
    out = None
    for k in range(2 * r + 1):
        term = f[k] * axis_slice(win, axis, 2 * r - k, 2 * r - k + length)
        out = term if out is None else out + term
    return out


def _add_at(buf, values, starts):
    region = jax.lax.dynamic_slice(buf, starts, values.shape)
    return jax.lax.dynamic_update_slice(buf, region + values, starts)


def _axis_pass(src, dst, f, axis, r, bnd, dst_axis, dst_r):
    """One axis of a separable step: ``src`` (halo along ``axis``) into the interior of ``dst``."""
    n = src.shape[axis] - 2 * r
    absorbed = jnp.zeros((), src.dtype)
    starts = [0] * src.ndim
    starts[dst_axis] = dst_r
    dst = jax.lax.dynamic_update_slice(dst, _taps(src, f, axis, r, n), starts)
    if r == 0:
        return dst, absorbed
    strips = {-1: _taps(_window(src, axis, r, -2 * r, r), f, axis, r, r),  # mass landing on [-r, 0)
              1: _taps(_window(src, axis, r, n - r, n + 2 * r), f, axis, r, r)}  # ... on [n, n + r)
    for k, values in strips.items():
        where = bnd.fold_chunk(k, n)
        if where is None:
            absorbed = absorbed + jnp.sum(values)
            continue
        flip, shift = where
        z0 = -r if k < 0 else n
        if flip:
            values, start = jnp.flip(values, axis), (k + 1) * n - (z0 + r)
        else:
            start = z0 - shift
        s = list(starts)
        s[axis] += start
        dst = _add_at(dst, values, s)
    return dst, absorbed


def _halo_buffers(field, radius):
    """One buffer per axis, zero halo of that axis's radius; the first holds the field."""
    bufs = []
    for a, r in enumerate(radius):
        width = [(0, 0)] * field.ndim
        width[a] = (r, r)
        padded = jnp.pad(field, width)
        bufs.append(padded if a == 0 else jnp.zeros(padded.shape, field.dtype))
    return tuple(bufs)


def _halo_step(bufs, factors, radius, bnd):
    """One step on the halo buffers: returns ``(bufs, absorbed)``."""
    ndim = len(bufs)
    bufs = list(bufs)
    absorbed = jnp.zeros((), bufs[0].dtype)
    for a in range(ndim):
        b = (a + 1) % ndim
        bufs[b], da = _axis_pass(bufs[a], bufs[b], factors[a], a, radius[a], bnd[a], b, radius[b])
        absorbed = absorbed + da
    return tuple(bufs), absorbed


# -- the method ------------------------------------------------------------------------------
@register
class PropagatorMethod(Method):
    """``method='propagator'``: the exact lattice walk, step by step (see the module docstring)."""

    name = "propagator"
    kind = "deterministic"
    differentiable = True

    def validate(self, tank, prop, *, n_particles=None, key=None, **options):
        return self.check_arguments(n_particles, key, options)

    def order(self, tank, prop):
        from .heat import declared_order

        return declared_order(tank, prop)

    def signature(self, tank, weights, options):
        return tank.walls is None and halo_applies(tank.shape, [k // 2 for k in np.shape(weights)],
                                                   separable_factors(weights), None)

    def prepare(self, tank, prop, batch, options):
        if tank.walls is not None or not _checks.is_concrete(prop.weights):
            return None
        fs = [separable_factors(w) for w in members(prop.weights, prop.batch_shape)]
        if any(f is None for f in fs) or not halo_applies(tank.shape, prop.radius, fs[0], None):
            return None
        dtype = np.dtype(tank.dtype)
        factors = tuple(lead(np.stack([f[a] for f in fs]).astype(dtype).reshape(prop.batch_shape + (-1,)),
                             prop.batch_shape, batch) for a in range(tank.ndim))
        return State(("halo",), factors=factors)

    def init(self, tank, prop, key=None, n_particles=None, prepared=None):
        field = tank.concentration
        radius, bnd = prop.radius, tuple(tank.boundary)
        zero = jnp.zeros((), field.dtype)
        cell = tank.dx ** tank.ndim
        if prepared is None:
            prepared = self.prepare(tank, prop, (), {})
        if prepared is not None:
            f = tuple(jnp.asarray(a, field.dtype) for a in prepared.factors)
            return State(("halo", radius, bnd, cell), bufs=_halo_buffers(field, radius), factors=f, absorbed=zero)
        blocked = tank.blocked(radius)
        blocked = None if blocked is None else jnp.asarray(blocked)
        return State(("general", radius, bnd, cell), field=field, weights=jnp.ravel(prop.weights).astype(field.dtype),
                     blocked=blocked, absorbed=zero)

    def advance(self, state, n):
        path, radius, bnd, _ = state.static
        if path == "halo":
            def body(_, carry):
                bufs, a = carry
                bufs, da = _halo_step(bufs, state.factors, radius, bnd)
                return bufs, a + da

            bufs, absorbed = jax.lax.fori_loop(0, n, body, (state.bufs, state.absorbed))
            return state.replace(bufs=bufs, absorbed=absorbed)

        def body(_, carry):
            c, a = carry
            c, da = step(c, state.weights, radius, bnd, state.blocked)
            return c, a + da

        field, absorbed = jax.lax.fori_loop(0, n, body, (state.field, state.absorbed))
        return state.replace(field=field, absorbed=absorbed)

    def observe(self, state):
        path, radius, _, cell = state.static
        field = axis_slice(state.bufs[0], 0, radius[0], state.bufs[0].shape[0] - radius[0]) if path == "halo" \
            else state.field
        return field, state.absorbed * cell

    def meta(self, tank, prop, save_steps, options):
        path = "general" if self.prepare(tank, prop, prop.batch_shape, options) is None else "halo"
        return {"separable": path == "halo", "path": path}

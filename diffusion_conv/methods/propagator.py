"""The deterministic method: the field pushed through the propagator step by step.

Each step is ``c'(y) = sum_x sum_d w[d] c(x) [x + d lands in y]``, with the
boundaries and walls of :mod:`diffusion_conv.lattice`: the exact expectation of
the ``particles`` and ``counts`` methods. Pure JAX; ``advance`` is a loop of
steps (``lax.fori_loop``), so it runs under ``jit``, ``vmap`` and ``grad``.

Paths (``Result.meta['path']``):

``halo``
    Separable kernels (a Gaussian, a box, any outer product) with ``2 r <= n``
    on every axis: one pass per axis over buffers that carry ``r``
    cells of halo along that axis. A pass writes the jumps that stay in the tank
    into the interior of the next buffer and folds the few cells that leave (the
    edge strips) back with the boundary's :meth:`~diffusion_conv.lattice.Boundary.fold_chunk`,
    the same fold :func:`~diffusion_conv.lattice.transport` applies.
    A cell's new value is its own value plus each jump's share of the
    difference (the centre's share is one minus the others'), so a constant
    field steps to itself exactly and the rounding of the sums does not lean one
    way (a plain sum of products did, the same way in every cell and step: in
    float32 a mass drift linear in the steps).
    With walls (a board, a partition) the same step is taken over the whole
    field as if there were none, and the cells within the kernel's radius of a
    refused jump (:func:`wall_patch`) are then stepped again by the general
    path's own sums and written over it: their values are the general path's,
    for the cost of the fast step and a pass over the patch.
``direct``
    Kernels that do not factor (an edge detector, learned or random logits;
    traced weights too), with ``2 r <= n``: one
    :func:`~diffusion_conv.lattice.transport` step of all ``(2 r + 1)^d`` taps
    without wall masks, which XLA fuses into one pass over the field (on the
    CPU about twice as fast as its convolution with the frame folded back
    piece by piece, at every radius measured). Walls as on the halo path.
``general``
    Every other case (kernels wider than half the tank, walls over much of it):
    :func:`diffusion_conv.lattice.transport` of the weighted field with the wall
    masks.

A concrete kernel steps with its weights stored in the field's dtype with an
exact unit sum (``unit_sum`` in ``_stencils``; the halo path's wall patch too),
so the remainder of normalising does not drift the mass; traced weights are
used as they are.

The paths' steps live in ``diffusion_conv.methods._stencils``; walls take the
patch when it covers at most ``PATCH_FRACTION`` (a quarter) of the tank.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..lattice import axis_slice, separable_factors
from ..lattice.halo import AXIS, slab_transport
from ._continuum import declared_order
from ._stencils import (
    _halo_buffers,
    _halo_step,
    _patch_correct,
    _patch_source,
    _patch_state,
    halo_applies,
    step,
    takes_direct,
    unit_sum,
    wall_patch,
)
from .base import Method, Sizes, Slab, State, lead, members

__all__ = ["PropagatorMethod", "step", "halo_applies", "wall_patch", "takes_direct"]


@dataclasses.dataclass(frozen=True)
class Static:
    """The static data of a propagator state (what its compiled program depends on).

    Attributes
    ----------
    path : str
        ``'halo'``, ``'direct'`` or ``'general'`` (see the module docstring).
    radius : tuple of int
        The kernel's radius per axis.
    boundary : tuple of Boundary
        One per axis.
    cell : float
        The cell volume ``dx**ndim`` (absorbed mass = absorbed cell units times it).
    patch : tuple or None
        The wall patch's box (:func:`wall_patch`), None without walls or on the general path.
    mirrored : tuple of bool or None
        On the halo path: which axes' factors are mirror-symmetric.
    """

    path: str
    radius: tuple
    boundary: tuple
    cell: float
    patch: tuple | None = None
    mirrored: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Prepared:
    """The static data of a propagator's preparation: the path it prepared for.

    Attributes
    ----------
    path : str
        ``'halo'`` (separable kernels: the factors are prepared), ``'direct'`` or ``'general'``.
    mirrored : tuple of bool or None
        On the halo path: which axes' factors are mirror-symmetric.
    patch : tuple or None
        The wall patch's box (:func:`wall_patch`) on the halo and direct paths, None without one.
    """

    path: str
    mirrored: tuple | None = None
    patch: tuple | None = None


# -- the method ------------------------------------------------------------------------------
class PropagatorMethod(Method):
    """``method='propagator'``: the exact lattice walk, step by step (see the module docstring)."""

    name = "propagator"
    kind = "deterministic"
    differentiable = True
    listed = 10
    auto = 2  # exact everywhere: where nothing faster is

    def validate(self, tank, prop, *, n_particles=None, key=None, **options):
        return self.check_arguments(n_particles, key, options)

    def order(self, tank, prop):
        return declared_order(tank, prop)

    def signature(self, tank, weights, options):
        radius = [k // 2 for k in np.shape(weights)]
        return halo_applies(tank.shape, radius, separable_factors(weights), tank if tank.walls is not None else None)

    def prepare(self, tank, prop, batch, options):
        if not _checks.is_concrete(prop.weights):
            return None
        dtype = np.dtype(tank.dtype)
        ws = members(prop.weights, prop.batch_shape)
        weights = lead(
            np.stack([unit_sum(w, dtype).ravel() for w in ws]).reshape(prop.batch_shape + (-1,)),
            prop.batch_shape,
            batch,
        )
        fs = [separable_factors(w) for w in ws]
        walls = tank if tank.walls is not None else None
        patch = None if walls is None else wall_patch(tank, prop.radius)
        if any(f is None for f in fs) or not halo_applies(tank.shape, prop.radius, fs[0], walls):
            path = "direct" if takes_direct(tank, prop.radius) else "general"
            return State(Prepared(path, patch=patch if path == "direct" else None), weights=weights)
        factors = tuple(
            lead(np.stack([f[a] for f in fs]).astype(dtype).reshape(prop.batch_shape + (-1,)), prop.batch_shape, batch)
            for a in range(tank.ndim)
        )
        mirrored = tuple(bool(np.array_equal(f, f[..., ::-1])) for f in factors)
        return State(Prepared("halo", mirrored=mirrored, patch=patch), factors=factors, weights=weights)

    def init(self, tank, prop, key=None, n_particles=None, prepared=None):
        field = tank.concentration
        radius, bnd = prop.radius, tuple(tank.boundary)
        zero = jnp.zeros((), field.dtype)
        cell = tank.dx**tank.ndim
        if prepared is None:
            prepared = self.prepare(tank, prop, (), {})
        # concrete kernels step with weights whose sum is exactly 1 (unit_sum); traced ones as they are
        w = (
            jnp.ravel(prop.weights).astype(field.dtype)
            if prepared is None
            else jnp.asarray(prepared.weights, field.dtype)
        )
        if prepared is not None and prepared.static.path == "halo":
            f = tuple(jnp.asarray(a, field.dtype) for a in prepared.factors)
            patch = wall_patch(tank, radius) if tank.walls is not None else None
            fix = None if patch is None else _patch_state(tank, w, radius, patch)
            return State(
                Static("halo", radius, bnd, cell, patch, prepared.static.mirrored),
                bufs=_halo_buffers(field, radius),
                factors=f,
                absorbed=zero,
                fix=fix,
            )
        if takes_direct(tank, radius):
            patch = wall_patch(tank, radius) if tank.walls is not None else None
            fix = None if patch is None else _patch_state(tank, w, radius, patch)
            return State(
                Static("direct", radius, bnd, cell, patch), field=field, weights=w, blocked=None, absorbed=zero, fix=fix
            )
        blocked = tank.blocked(radius)
        blocked = None if blocked is None else jnp.asarray(blocked)
        return State(Static("general", radius, bnd, cell), field=field, weights=w, blocked=blocked, absorbed=zero)

    def advance(self, state, n):
        static = state.static
        radius, bnd, patch = static.radius, static.boundary, static.patch
        if static.path == "halo":
            at = (radius[0],) + (0,) * (len(radius) - 1)

            # The patch's sources are carried beside the buffers (read from the step's result), so
            # the step writes the first buffer in place instead of keeping a copy of it to read.
            def body(_, carry):
                bufs, src, a = carry
                new, da = _halo_step(bufs, state.factors, radius, bnd, static.mirrored)
                if patch is not None:
                    fixed, back = _patch_correct(src, new[0], state.fix, radius, bnd, patch, at)
                    new, da, src = (fixed,) + new[1:], da - back, _patch_source(fixed, patch, at)
                return new, src, a + da

            src = None if patch is None else _patch_source(state.bufs[0], patch, at)
            bufs, _, absorbed = jax.lax.fori_loop(0, n, body, (state.bufs, src, state.absorbed))
            return state.replace(bufs=bufs, absorbed=absorbed)
        zeros = (0,) * len(radius)

        def lattice_step(_, carry):  # direct and general: the lattice's own step, the patch after it on direct
            c, a = carry
            new, da = step(c, state.weights, radius, bnd, state.blocked)
            if patch is not None:
                new, back = _patch_correct(_patch_source(c, patch, zeros), new, state.fix, radius, bnd, patch, zeros)
                da = da - back
            return new, a + da

        field, absorbed = jax.lax.fori_loop(0, n, lattice_step, (state.field, state.absorbed))
        return state.replace(field=field, absorbed=absorbed)

    def observe(self, state):
        static = state.static
        if static.path == "halo":
            r0 = static.radius[0]
            field = axis_slice(state.bufs[0], 0, r0, state.bufs[0].shape[0] - r0)
        else:
            field = state.field
        return field, state.absorbed * static.cell

    def meta(self, tank, prop, save_steps, options, prepared=()):
        if not prepared:  # not prepared for this run (a traced kernel): prepared here, as a run would
            prepared = (self.prepare(tank, prop, prop.batch_shape, options),)
        halo = all(p is not None and p.static.path == "halo" for p in prepared)
        path = "halo" if halo else "direct" if takes_direct(tank, prop.radius) else "general"
        walls = None if tank.walls is None else "masks" if path == "general" else "patch"
        return {"separable": halo, "path": path, "walls": walls}

    def memory(self, sizes: Sizes, options, n_particles, nframes, members, itemsize, prepared=None):
        """Eight fields per member (the state, a step's extended field, the chunk's buffers), and with
        walls their masks and refused weights, one copy whatever the batch: on the wall patch's box
        where every group prepared one (the halo and direct paths), else on every cell."""
        out = super().memory(sizes, options, n_particles, nframes, members, itemsize, prepared)
        out["working"] = 8 * int(members) * sizes.cells * int(itemsize)
        if sizes.walls:
            boxes = [None if p is None else p.static.patch for p in prepared or [None]]
            cells = max(sizes.cells if b is None else math.prod(hi - lo for lo, hi, _ in b) for b in boxes)
            out["working"] += sizes.taps * cells * (1 + int(itemsize))
        return out

    def slab(self):
        return _SLAB


# -- on a split grid ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SlabStatic:
    """The static data of a propagator slab: the kernel's radius, the boundaries, the cell volume, the devices."""

    radius: tuple
    boundary: tuple
    cell: float
    devices: int


class PropagatorSlab(Slab):
    """The propagator method on a slab of rows: the lattice's step with the halo exchange along axis 0."""

    method = "propagator"

    def inputs(self, plan, devices):
        tank, prop = plan.tank, plan.prop
        field = np.asarray(tank.concentration)
        arrays = {
            "field": self.cut(field, devices),
            "weights": self.replicate(np.asarray(prop.weights, field.dtype).ravel(), devices),
            "blocked": self.cut_masks(tank.blocked(prop.radius), devices),
        }
        return SlabStatic(prop.radius, tuple(tank.boundary), tank.dx**tank.ndim, devices), arrays

    def init(self, static, field, weights, blocked):
        return State(static, field=field, weights=weights, blocked=blocked, absorbed=jnp.zeros((), field.dtype))

    def advance(self, state, n):
        static = state.static

        def body(_, carry):
            c, a = carry
            c, da = slab_transport(c, static.radius, static.boundary, state.blocked, state.weights, static.devices)
            return c, a + da

        field, absorbed = jax.lax.fori_loop(0, n, body, (state.field, state.absorbed))
        return state.replace(field=field, absorbed=absorbed)

    def observe(self, state):
        return state.field, jax.lax.psum(state.absorbed, AXIS) * state.static.cell


_SLAB = PropagatorSlab()

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

Mobility (``Tank(mobility=m)``): a jump by ``d`` from ``x`` is taken with
``w[d] * a(x, x + d)``, the factors of :func:`diffusion_conv.lattice.mobility.jump_factors`
(which hold the walls too: a factor is 0 where a wall lies in the jump's box),
computed once per run: on the host in :meth:`PropagatorMethod.prepare` for a
concrete map, in JAX in ``init`` for a traced one (``jax.grad`` flows into the
map). Where every factor is 1 the step is the fast one: the halo or direct step
over the whole field, then the cells within the kernel's radius of a jump whose
factor is not 1 stepped again on their box with the factors (the wall patch's
idea, :func:`mobility_patch`), so a map of 1 everywhere but a small gel costs
the fast step and a pass over the gel's box. A map over much of the tank (or a
traced one) takes the general path: :func:`diffusion_conv.lattice.mobility.step`
over the whole field.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..lattice import axis_slice, separable_factors
from ..lattice import mobility as _mobility
from ..lattice.halo import AXIS, slab_transport
from ._continuum import declared_order
from ._mobility_paths import (
    general_state,
    host_factors,
    mobility_correct,
    mobility_fix,
    mobility_general,
    mobility_patch,
)
from ._stencils import (
    _halo_buffers,
    _halo_step,
    _patch_correct,
    _patch_source,
    _patch_state,
    direct_applies,
    halo_applies,
    step,
    takes_direct,
    unit_sum,
    wall_patch,
)
from .base import Method, Sizes, Slab, State, lead, members

__all__ = ["PropagatorMethod", "step", "halo_applies", "wall_patch", "takes_direct", "mobility_patch"]


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
    mobility : bool
        Whether the tank has a mobility map: the patch (or, on the general path,
        the whole step) applies its jump factors instead of wall masks.
    """

    path: str
    radius: tuple
    boundary: tuple
    cell: float
    patch: tuple | None = None
    mirrored: tuple | None = None
    mobility: bool = False


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
        The wall patch's box (:func:`wall_patch`) on the halo and direct paths, None without one;
        with a mobility map the box of :func:`mobility_patch`.
    mobility : bool
        Whether the tank has a mobility map (its factors prepared: on the patch's box, or on the whole
        grid on the general path; none prepared for a traced map).
    """

    path: str
    mirrored: tuple | None = None
    patch: tuple | None = None
    mobility: bool = False


# -- the method ------------------------------------------------------------------------------
class PropagatorMethod(Method):
    """``method='propagator'``: the exact lattice walk, step by step (see the module docstring)."""

    name = "propagator"
    kind = "deterministic"
    differentiable = True
    mobility = True
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
        if tank.mobility is not None:
            return self._prepare_mobility(tank, prop, batch, weights, fs, dtype)
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

    def _prepare_mobility(self, tank, prop, batch, weights, fs, dtype):
        """The preparation with a mobility map: its jump factors, on the patch's box where one applies."""
        if not _checks.is_concrete(tank.mobility):  # traced: init computes the factors in JAX
            return State(Prepared("general", mobility=True), weights=weights)
        own = tuple(np.shape(tank.mobility)[: np.ndim(tank.mobility) - tank.ndim])
        factors = host_factors(tank, prop.radius)
        patch = mobility_patch(factors, prop.radius) if direct_applies(tank.shape, prop.radius) else None
        if patch is None:
            full = lead(factors.astype(dtype), own, batch)
            return State(Prepared("general", mobility=True), weights=weights, mfactors=full)
        box = (Ellipsis,) + tuple(slice(lo, hi) for lo, hi, _ in patch)
        mfix = lead(np.ascontiguousarray(factors[box]).astype(dtype), own, batch)
        if any(f is None for f in fs):
            return State(Prepared("direct", patch=patch, mobility=True), weights=weights, mfix=mfix)
        factors1 = tuple(
            lead(np.stack([f[a] for f in fs]).astype(dtype).reshape(prop.batch_shape + (-1,)), prop.batch_shape, batch)
            for a in range(tank.ndim)
        )
        mirrored = tuple(bool(np.array_equal(f, f[..., ::-1])) for f in factors1)
        return State(
            Prepared("halo", mirrored=mirrored, patch=patch, mobility=True),
            factors=factors1,
            weights=weights,
            mfix=mfix,
        )

    def _init_mobility(self, tank, prop, prepared, w, zero, cell):
        """The state with a mobility map (see the module docstring)."""
        field = tank.concentration
        radius, bnd = prop.radius, tuple(tank.boundary)
        static = None if prepared is None else prepared.static
        if static is None or static.path == "general":
            if static is not None and "mfactors" in prepared.arrays:
                factors = jnp.asarray(prepared.mfactors, field.dtype)
            else:  # a traced map or kernel: the factors in JAX, differentiable in the map
                factors = _mobility.jump_factors(jnp.asarray(tank.mobility), radius, bnd).astype(field.dtype)
            moves, keeps = general_state(factors, w, radius)
            return State(
                Static("general", radius, bnd, cell, mobility=True),
                field=field,
                moves=moves,
                keeps=keeps,
                absorbed=zero,
            )
        fix = mobility_fix(jnp.asarray(prepared.mfix, field.dtype), w, static.patch, tank.boundary)
        if static.path == "halo":
            return State(
                Static("halo", radius, bnd, cell, static.patch, static.mirrored, mobility=True),
                bufs=_halo_buffers(field, radius),
                factors=tuple(jnp.asarray(a, field.dtype) for a in prepared.factors),
                absorbed=zero,
                fix=fix,
            )
        return State(
            Static("direct", radius, bnd, cell, static.patch, mobility=True),
            field=field,
            weights=w,
            blocked=None,
            absorbed=zero,
            fix=fix,
        )

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
        if tank.mobility is not None or (prepared is not None and prepared.static.mobility):
            return self._init_mobility(tank, prop, prepared, w, zero, cell)
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
        correct = mobility_correct if static.mobility else _patch_correct
        if static.mobility and static.path == "general":

            def mobility_step(_, carry):
                c, a = carry
                new, da = mobility_general(c, state.moves, state.keeps, radius, bnd)
                return new, a + da

            field, absorbed = jax.lax.fori_loop(0, n, mobility_step, (state.field, state.absorbed))
            return state.replace(field=field, absorbed=absorbed)
        if static.path == "halo":
            at = (radius[0],) + (0,) * (len(radius) - 1)

            # The patch's sources are carried beside the buffers (read from the step's result), so
            # the step writes the first buffer in place instead of keeping a copy of it to read.
            def body(_, carry):
                bufs, src, a = carry
                new, da = _halo_step(bufs, state.factors, radius, bnd, static.mirrored)
                if patch is not None:
                    fixed, back = correct(src, new[0], state.fix, radius, bnd, patch, at)
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
                new, back = correct(_patch_source(c, patch, zeros), new, state.fix, radius, bnd, patch, zeros)
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
        if tank.mobility is not None:
            paths = {"general" if p is None else p.static.path for p in prepared}
            path = "halo" if halo else "general" if "general" in paths else "direct"
            how = "factors" if path == "general" else "patch"
            walls = None if tank.walls is None else how
            return {"separable": halo, "path": path, "walls": walls, "mobility_path": how}
        path = "halo" if halo else "direct" if takes_direct(tank, prop.radius) else "general"
        walls = None if tank.walls is None else "masks" if path == "general" else "patch"
        return {"separable": halo, "path": path, "walls": walls}

    def memory(self, sizes: Sizes, options, n_particles, nframes, members, itemsize, prepared=None):
        """Eight fields per member (the state, a step's extended field, the chunk's buffers), and with
        walls their masks and refused weights, one copy whatever the batch: on the wall patch's box
        where every group prepared one (the halo and direct paths), else on every cell. With a mobility
        map: twice its prepared jump factors (they and the moves per tap made of them), walls included."""
        out = super().memory(sizes, options, n_particles, nframes, members, itemsize, prepared)
        out["working"] = 8 * int(members) * sizes.cells * int(itemsize)
        mobility = [p for p in prepared or [] if p is not None and p.static.mobility]
        if mobility:  # the jump factors prepared (on the patch's box, or every cell), and the moves made of them
            out["working"] += 2 * sum(
                np.asarray(a).nbytes for p in mobility for k, a in p.arrays.items() if k in ("mfix", "mfactors")
            )
            return out
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
        if tank.mobility is not None:  # the jump factors (walls included) cut into slabs like the wall masks
            arrays["blocked"] = None
            arrays["factors"] = self.cut_masks(host_factors(tank, prop.radius).astype(field.dtype), devices)
        return SlabStatic(prop.radius, tuple(tank.boundary), tank.dx**tank.ndim, devices), arrays

    def init(self, static, field, weights, blocked, factors=None):
        more = {} if factors is None else {"factors": factors}
        return State(static, field=field, weights=weights, blocked=blocked, absorbed=jnp.zeros((), field.dtype), **more)

    def advance(self, state, n):
        static = state.static
        factors = state.arrays.get("factors")

        def body(_, carry):
            c, a = carry
            if factors is not None:  # each cell sends w[d] a(x, x + d) of its content by d and keeps the rest
                amounts = state.weights.reshape((-1,) + (1,) * c.ndim) * factors * c
                moved, da = slab_transport(amounts, static.radius, static.boundary, None, None, static.devices)
                return moved + (c - jnp.sum(amounts, axis=0)), a + da
            c, da = slab_transport(c, static.radius, static.boundary, state.blocked, state.weights, static.devices)
            return c, a + da

        field, absorbed = jax.lax.fori_loop(0, n, body, (state.field, state.absorbed))
        return state.replace(field=field, absorbed=absorbed)

    def observe(self, state):
        return state.field, jax.lax.psum(state.absorbed, AXIS) * state.static.cell


_SLAB = PropagatorSlab()

"""The tank: a concentration field on a grid of compartments, its boundaries and walls."""

from __future__ import annotations

from collections.abc import Mapping, Set

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _tank_batch, _tank_builders
from ._display import html
from .errors import InputError, InputTypeError
from .lattice import check_walls, normalize_boundary
from .lattice.mobility import check_mobility

_KEEP = object()  # ``like``'s default: keep this tank's mobility


def _check_cell(dx, ndim, dtype):
    try:
        cell = dx**ndim
    except OverflowError:
        cell = float("inf")
    if not (
        np.isfinite(cell)
        and cell > 0
        and cell <= float(np.finfo(dtype).max) / 8
        and cell >= float(np.finfo(dtype).tiny) * 8
    ):
        raise InputError(
            f"dx={dx!r} makes the cell volume dx**{ndim} = {cell:.3g}, outside the range of "
            f"{np.dtype(dtype)}; choose units with dx nearer 1"
        )


def _boundary_names(boundary):
    """``boundary`` if it is a string or a sequence of strings (a list, a tuple, an array of text); TypeError
    naming what it is otherwise (a mapping or a set would give its keys in an order of their own)."""
    if isinstance(boundary, str):
        return boundary
    if isinstance(boundary, (Mapping, Set, bytes, bytearray)) or not (
        hasattr(boundary, "__len__") and hasattr(boundary, "__getitem__")
    ):
        raise InputTypeError(
            f"boundary must be a string or a sequence of strings (one per axis), got {boundary!r} "
            f"({type(boundary).__name__})"
        )
    names = list(boundary)
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise InputTypeError(
                f"boundary entries must be strings ('reflect', 'periodic' or 'absorb'), got "
                f"{name!r} ({type(name).__name__}) at position {i}"
            )
    return tuple(names)


@jax.tree_util.register_pytree_node_class
class Tank:
    """A tank of water split into compartments, one per grid cell.

    Parameters
    ----------
    concentration : array_like, shape ``(n0,)``, ``(n0, n1)`` or ``(n0, n1, n2)``
        Concentration in each cell (mass per cell volume ``dx**ndim``); finite.
        Signed fields (deviations from a mean, edge-detector outputs) are
        allowed: the deterministic methods are linear and conserve the signed
        mass; ``particles`` and ``counts`` need a non-negative field. A float32
        array stays float32; anything else (integers and booleans included) is
        stored in the default float dtype (float32, or float64 when JAX's x64
        mode is on). Every method computes in this dtype; values and totals
        beyond its range are refused.
    boundary : str or sequence of str, default ``'reflect'``
        ``'reflect'`` (closed wall, half-cell mirror), ``'periodic'`` or
        ``'absorb'`` (open edge); one for all axes or one per axis (a list, a
        tuple or an array of text; a mapping or a set is refused: TypeError).
    walls : array_like of bool, optional
        Solid cells, same shape as ``concentration``; they must hold no
        concentration. A jump is refused when a wall lies in the box between
        its start and its target (see :mod:`diffusion_conv.lattice`).
    dx : float, default 1.0
        Cell width.
    mobility : array_like of float, optional
        How freely the salt moves in each cell, same shape as ``concentration``,
        values in ``[0, 1]``: 1 open water (the default everywhere), 0 a solid
        cell, anything between a medium that slows the walk (a gel, a porous
        board, a membrane). A jump is taken with the kernel's weight times the
        harmonic mean of the mobilities of the cells it touches
        (:mod:`diffusion_conv.lattice.mobility`). Cells of mobility 0 are walls:
        they join ``walls`` and must hold no concentration, so a map of only 0
        and 1 is exactly the same tank as those walls (``mobility`` is then
        None). Taken by the methods whose ``mobility`` attribute is True
        (``propagator``); the others refuse a tank with one.

    Notes
    -----
    ``Tank`` is a JAX pytree whose leaves are ``concentration`` and ``mobility``
    (None when it is 1 everywhere); boundary, walls and ``dx`` are static.
    ``jax.grad`` therefore flows into the initial field and into the mobility map.
    """

    def __init__(self, concentration, boundary="reflect", walls=None, dx=1.0, mobility=None):
        self.dx = _checks.positive_float("dx", dx)
        if _checks.is_concrete(concentration):
            arr = np.asarray(concentration)
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise InputTypeError(f"concentration must be a numeric array, got dtype {arr.dtype}")
            if np.iscomplexobj(arr):
                raise InputTypeError("concentration must be real, got a complex array")
            if arr.ndim not in (1, 2, 3):
                raise InputError(
                    f"concentration must be 1-D, 2-D or 3-D, got {arr.ndim}-D with shape {arr.shape}"
                    + (
                        "; a colour image is Tank.from_image(..., channels=True), a batch is Tank.stack"
                        if arr.ndim > 3 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))
                        else ""
                    )
                )
            if 0 in arr.shape:
                raise InputError(f"concentration must have at least one cell per axis, got shape {arr.shape}")
            _checks.finite("concentration", arr)
            dtype = _checks.field_dtype(arr)
            _check_cell(self.dx, arr.ndim, dtype)
            _checks.fits_dtype("concentration", arr, dtype, self.dx**arr.ndim)
            field = _checks.to_device(arr, dtype)
        else:
            field = concentration
            if field.ndim not in (1, 2, 3):
                raise InputError(f"concentration must be 1-D, 2-D or 3-D, got {field.ndim}-D")
            if not jnp.issubdtype(field.dtype, jnp.floating):
                field = field.astype(_checks.float_dtype())
        self.concentration = field
        self.boundary = normalize_boundary(_boundary_names(boundary), field.ndim)
        self._batch = 0
        self._walls = check_walls(walls, field.shape)
        self._mobility = None
        if mobility is not None and _checks.is_concrete(mobility):
            m = check_mobility(mobility, field.shape)
            if m is not None:  # cells of mobility 0 are walls; a map of 0 and 1 only is walls alone
                solid = m == 0
                if solid.any():
                    self._walls = check_walls(solid if self._walls is None else solid | self._walls.array, field.shape)
                if self._walls is not None:
                    m = np.where(self._walls.array, 0.0, m)
                if np.any((m > 0) & (m < 1)):
                    m.flags.writeable = False
                    self._mobility = m
        elif mobility is not None:  # traced (jax.grad into the map): its values are checked where concrete
            if tuple(mobility.shape) != tuple(field.shape):
                raise InputError(
                    f"mobility must have the tank's shape {tuple(field.shape)}, got {tuple(mobility.shape)}"
                )
            if not jnp.issubdtype(mobility.dtype, jnp.floating):
                raise InputTypeError(
                    f"mobility must be a float array with values in [0, 1], got dtype {mobility.dtype}"
                )
            self._mobility = mobility if self._walls is None else jnp.where(self._walls.array, 0.0, mobility)
        if self._walls is not None and _checks.is_concrete(field) and np.any(np.asarray(field)[self._walls.array] != 0):
            raise InputError(
                "concentration inside walls must be 0 (solid cells hold no water); "
                "use Tank.with_board, or zero those cells first"
            )

    # -- pytree ---------------------------------------------------------------
    def tree_flatten(self):
        return (self.concentration, self._mobility), (self.boundary, self._walls, self.dx, self._batch)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.concentration, obj._mobility = children
        obj.boundary, obj._walls, obj.dx, obj._batch = aux
        return obj

    @classmethod
    def _trusted(cls, concentration, boundary, walls, dx, batch=0, mobility=None) -> Tank:
        obj = object.__new__(cls)
        obj.concentration, obj.boundary, obj._walls, obj.dx, obj._batch = concentration, boundary, walls, dx, batch
        obj._mobility = mobility
        return obj

    # -- properties -------------------------------------------------------------
    def like(self, concentration, batch: int = 0, mobility=_KEEP) -> Tank:
        """A tank with this one's grid, boundaries, walls, mobility and ``dx`` around another field (no checks:
        for fields the package made itself, traced ones included), with ``batch`` leading batch axes.

        ``mobility``: another map (of the grid, or with leading batch axes; None: 1 everywhere) in place of
        this tank's.
        """
        m = self._mobility if mobility is _KEEP else mobility
        return Tank._trusted(concentration, self.boundary, self._walls, self.dx, batch, m)

    @property
    def mobility(self):
        """The mobility map (values in ``[0, 1]``, 0 at the walls), or None where it is 1 everywhere but the walls.

        Of the tank's shape, or, in a stack of tanks with maps of their own, with the stack's batch axes in front.
        """
        return self._mobility

    def mobility_summary(self) -> dict | None:
        """``{'min', 'mean', 'cells'}`` of the mobility map over the cells that are not walls (``cells``: how
        many are below 1), or None without a map or while it is traced."""
        m = self._mobility
        if m is None or not _checks.is_concrete(m):
            return None
        m = np.asarray(m, dtype=np.float64)
        if self._walls is not None:
            m = m[..., ~self._walls.array]
        return {"min": float(m.min()), "mean": float(m.mean()), "cells": int(np.count_nonzero(m < 1))}

    def blocked(self, radius):
        """Which jumps of a kernel of ``radius`` the walls refuse: a bool array ``(K, *shape)``, or None.

        See :func:`diffusion_conv.lattice.blocked_masks`; cached per wall mask.
        """
        return None if self._walls is None else self._walls.blocked(radius, self.boundary)

    @property
    def wall_mask(self):
        """The walls as a hashable :class:`diffusion_conv.lattice.Walls` (a cache key), or None."""
        return self._walls

    @property
    def walls(self):
        """Solid cells (read-only bool array of the tank's shape), or None."""
        return None if self._walls is None else self._walls.array

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid: cells per axis (without batch axes)."""
        return tuple(self.concentration.shape[self._batch :])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading batch axes of a stack of tanks (``()`` for one tank)."""
        return tuple(self.concentration.shape[: self._batch])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        return self.concentration.dtype

    @property
    def mass(self):
        """Total mass, ``sum(concentration) * dx**ndim``: a scalar, or one per member of a stack."""
        axes = tuple(range(self._batch, self.concentration.ndim))
        return jnp.sum(self.concentration, axis=axes) * self.dx**self.ndim

    def __repr__(self):
        walls = "None" if self._walls is None else f"{int(self.walls.sum())} cells"
        batch = f"batch_shape={self.batch_shape}, " if self._batch else ""
        if _checks.is_concrete(self.concentration):  # on the host: showing a tank compiles nothing
            field = np.asarray(self.concentration)
            masses = field.sum(axis=tuple(range(self._batch, field.ndim)), dtype=np.float64) * self.dx**self.ndim
            mass = f"{float(masses):.10g}" if not self._batch else str(np.round(masses.ravel()[:4], 6).tolist())
            mass = mass[:-1] + ", ...]" if masses.size > 4 else mass
        else:
            mass = "traced"
        summary = self.mobility_summary()
        mobility = (
            ""
            if self._mobility is None
            else ", mobility=traced"
            if summary is None
            else f", mobility={summary['cells']} cells below 1 (min {summary['min']:.4g}, mean {summary['mean']:.4g})"
        )
        return (
            f"Tank({batch}shape={self.shape}, boundary={tuple(str(b) for b in self.boundary)}, walls={walls}"
            f"{mobility}, dx={self.dx}, mass={mass}, dtype={self.dtype})"
        )

    def _repr_html_(self):
        return html(self)

    def replace(self, **changes) -> Tank:
        """A copy with some of ``concentration``, ``boundary``, ``walls``, ``dx``, ``mobility`` changed."""
        if self._batch:
            raise InputTypeError("replace applies to one tank; build the members and Tank.stack them")
        kw = dict(
            concentration=self.concentration,
            boundary=self.boundary,
            walls=self.walls,
            dx=self.dx,
            mobility=self._mobility,
        )
        if "walls" in changes and "mobility" not in changes and self._mobility is not None:
            # the map's zeros are the old walls: new walls keep the map's values elsewhere
            old = self.walls
            if old is not None and _checks.is_concrete(self._mobility):
                kw["mobility"] = np.where(old, 1.0, np.asarray(self._mobility))
        kw.update(changes)
        return Tank(**kw)

    # -- builders ----------------------------------------------------------------
    @classmethod
    def two_compartment(cls, shape, left=1.0, right=0.0, axis=-1, boundary="reflect", dx=1.0):
        """Salt water beside fresh water: two halves split at ``n // 2`` along ``axis``.

        Cells with index below ``shape[axis] // 2`` along ``axis`` hold ``left``,
        the others ``right``.
        """
        return _tank_builders.two_compartment(cls, shape, left, right, axis, boundary, dx)

    @classmethod
    def partitioned(cls, values, cell=1, boundary="reflect", dx=1.0):
        """A compartment per entry of ``values``, each ``cell`` cells wide along every axis.

        ``Tank.partitioned(rng.random((256, 256)), cell=1)`` is the 256x256 tank
        with every cell its own concentration.
        """
        return _tank_builders.partitioned(cls, values, cell, boundary, dx)

    @classmethod
    def from_image(cls, image, size=None, boundary="reflect", dx=1.0, channels=False):
        """A picture as the tank: brightness in [0, 1] becomes concentration.

        Parameters
        ----------
        image : path or array_like
            A PNG/JPEG file (read with imageio) or an array ``(H, W)``,
            ``(H, W, 3)`` or ``(H, W, 4)``. Integer images are scaled by their
            type's maximum; float images must already lie in [0, 1]. Alpha is
            dropped (transparency is not a concentration).
        size : int or (int, int), optional
            Resample to this shape (bilinear); an int gives a square.
        channels : bool
            ``False``: one tank of the luma (ITU-R BT.601 weights) of a colour
            image. ``True``: one tank per colour channel, stacked in the order
            red, green, blue (``batch_shape == (3,)``); a grayscale image gives one
            channel (``batch_shape == (1,)``).
        """
        return _tank_builders.from_image(cls, image, size, boundary, dx, channels)

    # -- batches ------------------------------------------------------------------
    @classmethod
    def stack(cls, tanks) -> Tank:
        """Tanks of one grid stacked along a new leading batch axis (``batch_shape`` grows by one).

        Every member must share the grid shape, the boundaries, the walls, ``dx``
        and the dtype; they differ in their fields and their mobility maps (a
        stack where any member has one holds a map per member, with the stack's
        batch axes in front).

        Raises
        ------
        TypeError, ValueError
            Unless ``tanks`` is a non-empty sequence of tanks that agree; the error names what differs.
        """
        return _tank_batch.stack(cls, tanks)

    def _member_mobility(self):
        """The mobility map with this tank's batch axes in front (1 in water and 0 at the walls where none)."""
        return _tank_batch.member_mobility(self)

    def _batched_mobility(self) -> bool:
        return self._mobility is not None and np.ndim(self._mobility) > self.ndim

    def reshape_batch(self, shape) -> Tank:
        """The same tanks with the batch axes reshaped to ``shape`` (e.g. ``(3, 1)`` to broadcast against a bank of 4)."""
        shape = _checks.batch_shape("shape", shape)
        size = int(np.prod(self.batch_shape, dtype=np.int64))
        if int(np.prod(shape, dtype=np.int64)) != size:
            raise InputError(f"cannot reshape a batch of shape {self.batch_shape} ({size} tanks) to {shape}")
        m = self._mobility
        if self._batched_mobility():
            m = m.reshape(shape + self.shape)
        return Tank._trusted(
            self.concentration.reshape(shape + self.shape), self.boundary, self._walls, self.dx, len(shape), m
        )

    def __getitem__(self, index) -> Tank:
        """One member (or a sub-batch) of a stack of tanks.

        The index applies to the batch axes only, by NumPy's rules: an integer out
        of range (``-n <= i < n`` along an axis of ``n`` members) raises
        IndexError, slices clip; a selection of no member raises ValueError.
        A traced index (under ``jax.vmap``/``jax.jit``) cannot be checked and
        follows JAX's indexing.
        """
        return _tank_batch.select(Tank, self, index)

    def with_board(self, axis, index, gap=None, mobility=0.0) -> Tank:
        """Put in a board: a wall one cell thick across ``axis`` at ``index`` (or a porous board).

        Parameters
        ----------
        axis : int
            The axis the board crosses; the board is the slab of cells whose
            coordinate along ``axis`` equals ``index``.
        index : int
            Position of the board along ``axis``.
        gap : (int, int), optional
            A half-open opening ``[start, stop)`` along the next axis
            ``(axis + 1) % ndim``, spanning any third axis. Not allowed in 1-D.
        mobility : float in ``[0, 1]``, default 0
            0: a solid board (its cells become walls). Between 0 and 1: a porous
            board (a membrane) that the salt crosses slowly: its cells keep their
            water and get this mobility (see ``Tank(mobility=...)``); cells that
            already are walls stay walls. 1: no board.

        Returns
        -------
        Tank
            A new tank; cells that become wall lose their concentration.
        """
        return _tank_builders.with_board(Tank, self, axis, index, gap, mobility)

    def _with_mobility(self, cells, value) -> Tank:
        """This tank with the mobility of ``cells`` (a bool mask of the grid) set to ``value`` (walls stay walls)."""
        return _tank_builders.with_mobility(Tank, self, cells, value)

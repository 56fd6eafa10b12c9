"""The tank: a concentration field on a grid of compartments, its boundaries and walls."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .lattice import normalize_boundary


class _Walls:
    """A hashable, read-only holder for a wall mask (static data of the pytree)."""

    __slots__ = ("array", "_key")

    def __init__(self, array: np.ndarray):
        array = np.array(array, dtype=bool)
        array.setflags(write=False)
        self.array = array
        self._key = (array.shape, array.tobytes())

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, _Walls) and self._key == other._key


@jax.tree_util.register_pytree_node_class
class Tank:
    """A tank of water split into compartments, one per grid cell.

    Parameters
    ----------
    concentration : array_like, shape ``(n0,)``, ``(n0, n1)`` or ``(n0, n1, n2)``
        Concentration in each cell (mass per cell volume ``dx**ndim``); finite
        and non-negative. A float32 array stays float32; anything else is
        stored in the default float dtype (float32, or float64 when JAX's x64
        mode is on). Every method computes in this dtype.
    boundary : str or sequence of str, default ``'reflect'``
        ``'reflect'`` (closed wall, half-cell mirror), ``'periodic'`` or
        ``'absorb'`` (open edge); one for all axes or one per axis.
    walls : array_like of bool, optional
        Solid cells, same shape as ``concentration``; they must hold no
        concentration. A jump is refused when a wall lies in the box between
        its start and its target (see :mod:`diffusion_conv.lattice`).
    dx : float, default 1.0
        Cell width.

    Notes
    -----
    ``Tank`` is a JAX pytree whose only leaf is ``concentration``; boundary,
    walls and ``dx`` are static. ``jax.grad`` therefore flows into the initial field.
    """

    def __init__(self, concentration, boundary="reflect", walls=None, dx=1.0):
        if _checks.is_concrete(concentration):
            arr = np.asarray(concentration)
            if arr.dtype == object or not (
                np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
            ):
                raise TypeError(f"concentration must be a numeric array, got dtype {arr.dtype}")
            if np.iscomplexobj(arr):
                raise TypeError("concentration must be real, got a complex array")
            if arr.ndim not in (1, 2, 3):
                raise ValueError(
                    f"concentration must be 1-D, 2-D or 3-D, got {arr.ndim}-D with shape {arr.shape}"
                )
            if 0 in arr.shape:
                raise ValueError(f"concentration must have at least one cell per axis, got shape {arr.shape}")
            _checks.finite_nonnegative("concentration", arr)
            field = jnp.asarray(arr, dtype=_checks.field_dtype(arr))
        else:
            field = concentration
            if field.ndim not in (1, 2, 3):
                raise ValueError(f"concentration must be 1-D, 2-D or 3-D, got {field.ndim}-D")
        self.concentration = field
        self.boundary = normalize_boundary(boundary, field.ndim)
        self.dx = _checks.positive_float("dx", dx)
        self._walls = None
        if walls is not None:
            w = np.asarray(walls)
            if w.shape != tuple(field.shape):
                raise ValueError(
                    f"walls must have the tank's shape {tuple(field.shape)}, got {w.shape}"
                )
            if w.dtype != bool:
                if not np.all(np.isin(w, (0, 1))):
                    raise ValueError("walls must be a boolean mask (True for solid cells)")
                w = w.astype(bool)
            if _checks.is_concrete(field) and np.any(np.asarray(field)[w] != 0):
                raise ValueError(
                    "concentration inside walls must be 0 (solid cells hold no water); "
                    "use Tank.with_board, or zero those cells first"
                )
            if w.any():
                self._walls = _Walls(w)

    # -- pytree ---------------------------------------------------------------
    def tree_flatten(self):
        return (self.concentration,), (self.boundary, self._walls, self.dx)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.concentration = children[0]
        obj.boundary, obj._walls, obj.dx = aux
        return obj

    # -- properties -------------------------------------------------------------
    @property
    def walls(self):
        """Solid cells (read-only bool array of the tank's shape), or None."""
        return None if self._walls is None else self._walls.array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.concentration.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        return self.concentration.dtype

    @property
    def mass(self):
        """Total mass, ``sum(concentration) * dx**ndim`` (a scalar)."""
        return jnp.sum(self.concentration) * self.dx**self.ndim

    def __repr__(self):
        walls = "None" if self._walls is None else f"{int(self.walls.sum())} cells"
        return (
            f"Tank(shape={self.shape}, boundary={self.boundary}, walls={walls}, "
            f"dx={self.dx}, dtype={self.dtype})"
        )

    def replace(self, **changes) -> "Tank":
        """A copy with some of ``concentration``, ``boundary``, ``walls``, ``dx`` changed."""
        kw = dict(concentration=self.concentration, boundary=self.boundary, walls=self.walls, dx=self.dx)
        kw.update(changes)
        return Tank(**kw)

    # -- builders ----------------------------------------------------------------
    @classmethod
    def two_compartment(cls, shape, left=1.0, right=0.0, axis=-1, boundary="reflect", dx=1.0):
        """Salt water beside fresh water: two halves split at ``n // 2`` along ``axis``.

        Cells with index below ``shape[axis] // 2`` along ``axis`` hold ``left``,
        the others ``right``.
        """
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        shape = tuple(_checks.integer("shape entry", s, minimum=1) for s in shape)
        if not 1 <= len(shape) <= 3:
            raise ValueError(f"shape must have 1 to 3 entries, got {shape}")
        ax = _checks.integer("axis", axis)
        if not -len(shape) <= ax < len(shape):
            raise ValueError(f"axis must be in [{-len(shape)}, {len(shape)}), got {ax}")
        ax %= len(shape)
        if shape[ax] < 2:
            raise ValueError(f"shape[axis] must be at least 2 to hold two compartments, got {shape[ax]}")
        for name, v in (("left", left), ("right", right)):
            v = float(v)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite concentration >= 0, got {v}")
        field = np.full(shape, float(right))
        idx = [slice(None)] * len(shape)
        idx[ax] = slice(0, shape[ax] // 2)
        field[tuple(idx)] = float(left)
        return cls(field, boundary=boundary, dx=dx)

    @classmethod
    def partitioned(cls, values, cell=1, boundary="reflect", dx=1.0):
        """A compartment per entry of ``values``, each ``cell`` cells wide along every axis.

        ``Tank.partitioned(rng.random((256, 256)), cell=1)`` is the 256x256 tank
        with every cell its own concentration.
        """
        values = np.asarray(values, dtype=float)
        cell = _checks.integer("cell", cell, minimum=1)
        if values.ndim not in (1, 2, 3):
            raise ValueError(f"values must be 1-D, 2-D or 3-D, got {values.ndim}-D")
        field = np.kron(values, np.ones((cell,) * values.ndim))
        return cls(field, boundary=boundary, dx=dx)

    @classmethod
    def from_image(cls, image, size=None, boundary="reflect", dx=1.0):
        """A picture as the tank: grayscale brightness in [0, 1] becomes concentration.

        Parameters
        ----------
        image : path or array_like
            A PNG/JPEG file (read with imageio) or an array ``(H, W)``,
            ``(H, W, 3)`` or ``(H, W, 4)``. Integer images are scaled by their
            type's maximum; float images must already lie in [0, 1]. Colour is
            turned into luma (ITU-R BT.601 weights); alpha is ignored.
        size : int or (int, int), optional
            Resample to this shape (bilinear); an int gives a square.
        """
        if isinstance(image, (str, os.PathLike)):
            if not os.path.exists(image):
                raise ValueError(f"image file {os.fspath(image)!r} does not exist")
            import imageio.v3 as iio

            arr = np.asarray(iio.imread(image))
        else:
            arr = np.asarray(image)
        if np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(float) / np.iinfo(arr.dtype).max
        elif arr.dtype == bool:
            arr = arr.astype(float)
        else:
            arr = arr.astype(float)
            if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
                raise ValueError("a float image must hold brightness in [0, 1]")
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            arr = arr[..., :3] @ np.array([0.299, 0.587, 0.114])
        elif arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2:
            raise ValueError(f"image must be grayscale (H, W) or colour (H, W, 3|4), got shape {arr.shape}")
        if size is not None:
            if isinstance(size, (int, np.integer)):
                size = (int(size), int(size))
            size = tuple(_checks.integer("size entry", s, minimum=1) for s in size)
            if len(size) != 2:
                raise ValueError(f"size must be an int or a pair (H, W), got {size}")
            from scipy import ndimage

            arr = ndimage.zoom(arr, (size[0] / arr.shape[0], size[1] / arr.shape[1]), order=1, grid_mode=True,
                               mode="nearest")
            arr = np.clip(arr, 0.0, 1.0)
        return cls(arr, boundary=boundary, dx=dx)

    def with_board(self, axis, index, gap=None) -> "Tank":
        """Put in a board: a wall one cell thick across ``axis`` at ``index``.

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

        Returns
        -------
        Tank
            A new tank; cells that become wall lose their concentration.
        """
        ax = _checks.integer("axis", axis)
        if not -self.ndim <= ax < self.ndim:
            raise ValueError(f"axis must be in [{-self.ndim}, {self.ndim}), got {ax}")
        ax %= self.ndim
        n = self.shape[ax]
        idx = _checks.integer("index", index)
        if not 0 <= idx < n:
            raise ValueError(f"index must be in [0, {n}) along axis {ax}, got {idx}")
        board = np.zeros(self.shape, dtype=bool)
        sl = [slice(None)] * self.ndim
        sl[ax] = idx
        board[tuple(sl)] = True
        if gap is not None:
            if self.ndim == 1:
                raise ValueError("gap needs a second axis; a 1-D board has no opening")
            try:
                start, stop = (int(g) for g in gap)
            except (TypeError, ValueError):
                raise TypeError(f"gap must be a pair (start, stop) of integers, got {gap!r}") from None
            other = (ax + 1) % self.ndim
            m = self.shape[other]
            if not 0 <= start < stop <= m:
                raise ValueError(f"gap must satisfy 0 <= start < stop <= {m}, got ({start}, {stop})")
            sl[other] = slice(start, stop)
            board[tuple(sl)] = False
        walls = board if self.walls is None else (board | self.walls)
        field = np.where(walls, 0.0, np.asarray(self.concentration))
        return Tank(field, boundary=self.boundary, walls=walls, dx=self.dx)

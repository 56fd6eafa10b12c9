"""Walls: the hashable mask, its checks, and which jumps it refuses (the box rule)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ..errors import InputError, InputTypeError
from .boundaries import Boundary, normalize_boundary
from .transport import offsets


class Walls:
    """A read-only, hashable wall mask: static data of a pytree and a key of caches.

    Parameters
    ----------
    array : array_like of bool
        Solid cells.
    """

    __slots__ = ("array", "_key")

    def __init__(self, array):
        array = np.array(array, dtype=bool)
        array.setflags(write=False)
        self.array = array
        self._key = (array.shape, array.tobytes())

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, Walls) and self._key == other._key

    def blocked(self, radius: Sequence[int], bnd: Sequence[str]):
        """:func:`blocked_masks` of this mask, cached per radius and boundary."""
        return _blocked_cached(self, tuple(int(r) for r in radius), tuple(str(b) for b in bnd))


def check_walls(walls, shape) -> Walls | None:
    """A :class:`Walls` from a boolean mask of ``shape`` (None when no cell is solid).

    Raises
    ------
    TypeError
        Unless ``walls`` is a boolean array (0/1 integers are accepted; floats are refused).
    ValueError
        If its shape is not ``shape``.
    """
    if walls is None:
        return None
    if isinstance(walls, Walls):
        walls = walls.array
    w = np.asarray(walls)
    if w.shape != tuple(shape):
        raise InputError(f"walls must have the tank's shape {tuple(shape)}, got {w.shape}")
    if w.dtype != bool:
        if not np.issubdtype(w.dtype, np.integer) or not np.all(np.isin(w, (0, 1))):
            raise InputTypeError(
                f"walls must be a boolean mask (True for solid cells), got dtype {w.dtype}"
                + ("" if not np.issubdtype(w.dtype, np.integer) else " with values other than 0 and 1")
            )
        w = w.astype(bool)
    return Walls(w) if w.any() else None


def _box_any(mask: np.ndarray, axis: int, d: int, bnd: Boundary) -> np.ndarray:
    """Whether any cell ``fold(x + t)``, ``t`` between 0 and ``d``, is set along ``axis``."""
    n = mask.shape[axis]
    out = np.zeros_like(mask)
    base = np.arange(n)
    for t in range(min(0, d), max(0, d) + 1):
        idx = bnd.fold(base + t, n)
        valid = idx >= 0
        taken = np.take(mask, np.where(valid, idx, 0), axis=axis)
        shape = [1] * mask.ndim
        shape[axis] = n
        out |= taken & valid.reshape(shape)
    return out


def blocked_masks(walls, radius: Sequence[int], bnd: Sequence[str]):
    """Which jumps the walls refuse.

    Parameters
    ----------
    walls : ndarray of bool, Walls or None
        Solid cells, shape of the tank.
    radius : sequence of int
        Kernel radius per axis.
    bnd : sequence of str
        Boundary per axis.

    Returns
    -------
    ndarray of bool, shape ``(K, *walls.shape)``, or None
        ``blocked[k, x]`` is True when the jump from ``x`` by ``offsets(radius)[k]``
        is refused. ``None`` when there are no walls (nothing is refused).
    """
    if isinstance(walls, Walls):
        walls = walls.array
    if walls is None or not np.any(walls):
        return None
    walls = np.asarray(walls, dtype=bool)
    bnd = normalize_boundary(bnd, walls.ndim)
    offs = offsets(radius)
    out = np.empty((len(offs),) + walls.shape, dtype=bool)
    for k, d in enumerate(offs):
        m = walls
        for axis, da in enumerate(d):
            m = _box_any(m, axis, int(da), bnd[axis])
        out[k] = m
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=32)
def _blocked_cached(walls: Walls, radius, bnd):
    return blocked_masks(walls.array, radius, bnd)

"""Walls: the hashable mask, its checks, and which jumps it refuses (the box rule)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import InputError, InputTypeError
from .boundaries import Boundary, normalize_boundary
from .transport import offsets


class Walls:
    """A read-only, hashable wall mask: static data of a pytree (equal masks compile one program).

    What is derived from the mask (the jumps it refuses for a kernel radius and
    boundaries, the methods' patches) is computed once per mask object and kept
    with it (:meth:`derived`).

    Parameters
    ----------
    array : array_like of bool
        Solid cells.
    """

    __slots__ = ("array", "_key", "_derived")

    def __init__(self, array):
        array = np.array(array, dtype=bool)
        array.setflags(write=False)
        self.array = array
        self._key = (array.shape, array.tobytes())
        self._derived = {}

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, Walls) and self._key == other._key

    def derived(self, key, compute: Callable):
        """``compute()``, made once for this mask per hashable ``key`` and kept with it (the mask is read-only)."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def blocked(self, radius: Sequence[int], bnd: Sequence[str]):
        """:func:`blocked_masks` of this mask (made once per radius and boundaries)."""
        radius, bnd = tuple(int(r) for r in radius), tuple(str(b) for b in bnd)
        return self.derived(("blocked", radius, bnd), lambda: blocked_masks(self.array, radius, bnd))


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

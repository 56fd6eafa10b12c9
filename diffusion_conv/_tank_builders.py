"""Tanks built from values, halves, pictures and boards: the bodies of ``Tank``'s builders.

Each function takes the tank class (and, for a board, the tank it goes into) so that this module does not import
:mod:`diffusion_conv.tank`; the documented entry points are the ``Tank`` methods.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from . import _checks
from .errors import InputError, InputTypeError
from .lattice import check_walls


def two_compartment(cls, shape, left, right, axis, boundary, dx):
    """See :meth:`diffusion_conv.tank.Tank.two_compartment`."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(_checks.integer("shape entry", s, minimum=1) for s in shape)
    if not 1 <= len(shape) <= 3:
        raise InputError(f"shape must have 1 to 3 entries, got {shape}")
    ax = _checks.integer("axis", axis)
    if not -len(shape) <= ax < len(shape):
        raise InputError(f"axis must be in [{-len(shape)}, {len(shape)}), got {ax}")
    ax %= len(shape)
    if shape[ax] < 2:
        raise InputError(f"shape[axis] must be at least 2 to hold two compartments, got {shape[ax]}")
    for name, v in (("left", left), ("right", right)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
            raise InputError(f"{name} must be a finite concentration, got {v!r}")
    field = np.full(shape, float(right))
    idx = [slice(None)] * len(shape)
    idx[ax] = slice(0, shape[ax] // 2)
    field[tuple(idx)] = float(left)
    return cls(field, boundary=boundary, dx=dx)


def partitioned(cls, values, cell, boundary, dx):
    """See :meth:`diffusion_conv.tank.Tank.partitioned`."""
    values = np.asarray(values, dtype=float)
    cell = _checks.integer("cell", cell, minimum=1)
    if values.ndim not in (1, 2, 3):
        raise InputError(f"values must be 1-D, 2-D or 3-D, got {values.ndim}-D")
    field = np.kron(values, np.ones((cell,) * values.ndim))
    return cls(field, boundary=boundary, dx=dx)


def from_image(cls, image, size, boundary, dx, channels):
    """See :meth:`diffusion_conv.tank.Tank.from_image`."""
    if isinstance(image, (str, os.PathLike)):
        if not os.path.isfile(image):
            raise InputError(f"image file {os.fspath(image)!r} does not exist or is not a file")
        import imageio.v3 as iio

        try:
            arr = np.asarray(iio.imread(image))
        except Exception as exc:  # imageio raises many kinds for a file that is not a picture
            raise InputError(f"image file {os.fspath(image)!r} could not be read as a picture: {exc}") from None
    else:
        arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputTypeError(f"image must be a numeric array or a picture file, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(float) / np.iinfo(arr.dtype).max
    else:
        arr = arr.astype(float)
        if arr.size and not (np.all(np.isfinite(arr)) and np.min(arr) >= 0 and np.max(arr) <= 1):
            raise InputError("a float image must hold finite brightness in [0, 1]")
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3]
    elif arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise InputError(f"image must be grayscale (H, W) or colour (H, W, 3|4), got shape {arr.shape}")
    if not channels:
        arr = arr[..., :1] if arr.shape[-1] == 1 else arr @ np.array([[0.299], [0.587], [0.114]])
    if size is not None:
        if isinstance(size, (int, np.integer)):
            size = (int(size), int(size))
        size = tuple(_checks.integer("size entry", s, minimum=1) for s in size)
        if len(size) != 2:
            raise InputError(f"size must be an int or a pair (H, W), got {size}")
        from scipy import ndimage

        arr = np.stack(
            [
                ndimage.zoom(
                    arr[..., c],
                    (size[0] / arr.shape[0], size[1] / arr.shape[1]),
                    order=1,
                    grid_mode=True,
                    mode="nearest",
                )
                for c in range(arr.shape[-1])
            ],
            axis=-1,
        )
        arr = np.clip(arr, 0.0, 1.0)
    if not channels:
        return cls(arr[..., 0], boundary=boundary, dx=dx)
    return cls.stack([cls(arr[..., c], boundary=boundary, dx=dx) for c in range(arr.shape[-1])])


def with_board(cls, tank, axis, index, gap, mobility):
    """See :meth:`diffusion_conv.tank.Tank.with_board`."""
    if isinstance(mobility, bool) or not isinstance(mobility, (int, float, np.integer, np.floating)):
        raise InputTypeError(
            f"mobility must be a number in [0, 1] (0 a solid board), got {mobility!r} ({type(mobility).__name__})"
        )
    if not 0.0 <= float(mobility) <= 1.0:  # NaN fails too
        raise InputError(f"mobility must lie in [0, 1] (0 a solid board, 1 no board), got {mobility!r}")
    ax = _checks.integer("axis", axis)
    if not -tank.ndim <= ax < tank.ndim:
        raise InputError(f"axis must be in [{-tank.ndim}, {tank.ndim}), got {ax}")
    ax %= tank.ndim
    n = tank.shape[ax]
    idx = _checks.integer("index", index)
    if not 0 <= idx < n:
        raise InputError(f"index must be in [0, {n}) along axis {ax}, got {idx}")
    board = np.zeros(tank.shape, dtype=bool)
    sl = [slice(None)] * tank.ndim
    sl[ax] = idx
    board[tuple(sl)] = True
    if gap is not None:
        if tank.ndim == 1:
            raise InputError("gap needs a second axis; a 1-D board has no opening")
        try:
            start, stop = (int(g) for g in gap)
        except (TypeError, ValueError):
            raise InputTypeError(f"gap must be a pair (start, stop) of integers, got {gap!r}") from None
        other = (ax + 1) % tank.ndim
        m = tank.shape[other]
        if not 0 <= start < stop <= m:
            raise InputError(f"gap must satisfy 0 <= start < stop <= {m}, got ({start}, {stop})")
        sl[other] = slice(start, stop)
        board[tuple(sl)] = False
    if float(mobility) > 0:
        return with_mobility(cls, tank, board, float(mobility))
    walls = board if tank.walls is None else (board | tank.walls)
    field = np.where(walls, 0.0, np.asarray(tank.concentration))
    if tank._batch:
        m = tank._mobility
        if m is not None:
            m = np.where(walls, 0.0, np.asarray(m))
            m.flags.writeable = False
        return cls._trusted(
            jnp.asarray(field, dtype=tank.dtype),
            tank.boundary,
            check_walls(walls, tank.shape),
            tank.dx,
            tank._batch,
            m,
        )
    return cls(field, boundary=tank.boundary, walls=walls, dx=tank.dx, mobility=tank._mobility)


def with_mobility(cls, tank, cells, value):
    """``tank`` with the mobility of ``cells`` (a bool mask of the grid) set to ``value`` (walls stay walls)."""
    if tank._mobility is not None and not _checks.is_concrete(tank._mobility):
        raise InputTypeError("a porous board goes into a tank whose mobility map is concrete, not traced")
    m = np.array(tank._member_mobility(), dtype=np.float64)
    solid = np.zeros(tank.shape, bool) if tank._walls is None else tank._walls.array
    m[..., cells & ~solid] = value
    if not tank._batch:
        return cls(tank.concentration, boundary=tank.boundary, walls=tank.walls, dx=tank.dx, mobility=m)
    if not np.any((m > 0) & (m < 1)):
        m = None
    else:
        m.flags.writeable = False
    return cls._trusted(tank.concentration, tank.boundary, tank._walls, tank.dx, tank._batch, m)

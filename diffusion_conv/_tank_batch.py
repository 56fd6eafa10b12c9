"""Stacks of tanks: building a stack, reshaping its batch axes, choosing members, and the members' mobility maps.

The functions take the tank class (and the stack) so that this module does not import :mod:`diffusion_conv.tank`;
the documented entry points are ``Tank.stack``, ``Tank.reshape_batch`` and indexing a ``Tank``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .errors import InputError, InputTypeError


def stack(cls, tanks):
    """See :meth:`diffusion_conv.tank.Tank.stack`."""
    tanks = list(tanks) if not isinstance(tanks, cls) else None
    if not tanks or not all(isinstance(t, cls) for t in tanks):
        raise InputTypeError("Tank.stack takes a non-empty sequence of Tank objects")
    first = tanks[0]
    for i, t in enumerate(tanks[1:], start=1):
        for what, a, b in (
            ("grid shape", first.shape, t.shape),
            ("batch shape", first.batch_shape, t.batch_shape),
            ("boundary", tuple(map(str, first.boundary)), tuple(map(str, t.boundary))),
            ("dx", first.dx, t.dx),
            ("dtype", first.dtype, t.dtype),
        ):
            if a != b:
                raise InputError(f"tanks in a stack must share their {what}: tanks[0] has {a}, tanks[{i}] has {b}")
        if first._walls != t._walls:
            raise InputError(f"tanks in a stack must share their walls: tanks[{i}] has other walls than tanks[0]")
    field = jnp.stack([t.concentration for t in tanks])
    mobility = None
    if any(t._mobility is not None for t in tanks):
        maps = [t._member_mobility() for t in tanks]
        xp = np if all(_checks.is_concrete(m) for m in maps) else jnp
        mobility = xp.stack([xp.asarray(m) for m in maps])
        if xp is np:
            mobility.flags.writeable = False
    return cls._trusted(field, first.boundary, first._walls, first.dx, first._batch + 1, mobility)


def member_mobility(tank):
    """The mobility map with ``tank``'s batch axes in front (1 in water and 0 at the walls where none)."""
    m = tank._mobility
    if m is None:
        m = np.ones(tank.shape) if tank._walls is None else np.where(tank._walls.array, 0.0, 1.0)
    if np.ndim(m) == tank.ndim + tank._batch:
        return m
    xp = np if _checks.is_concrete(m) else jnp
    return xp.broadcast_to(m, tank.batch_shape + tank.shape)


def select(cls, tank, index):
    """See ``Tank.__getitem__``: one member (or a sub-batch) of a stack of tanks."""
    if not tank._batch:
        raise InputTypeError("indexing applies to a stack of tanks (Tank.stack); this tank has no batch")
    parts = index if isinstance(index, tuple) else (index,)
    if all(_checks.is_concrete(p) for p in parts):
        bs = tank.batch_shape
        members = np.arange(int(np.prod(bs, dtype=np.int64))).reshape(bs)
        try:
            chosen = members[tuple(np.asarray(p) if isinstance(p, jax.Array) else p for p in parts)]
        except IndexError as exc:
            raise IndexError(
                f"index {index!r} does not select members of a stack of tanks with batch_shape "
                f"{bs}: {exc} (an axis of n members takes indices -n to n - 1, and slices)"
            ) from None
        if np.size(chosen) == 0:
            raise InputError(
                f"index {index!r} selects no tank from the stack (batch_shape {bs}); a selection "
                f"holds at least one member"
            )
    # the grid axes spelled out: an Ellipsis in the index then spans the batch axes only
    c = tank.concentration[parts + (slice(None),) * tank.ndim]
    m = tank._mobility
    if tank._batched_mobility():
        m = m[parts + (slice(None),) * tank.ndim]
    return cls._trusted(c, tank.boundary, tank._walls, tank.dx, c.ndim - len(tank.shape), m)

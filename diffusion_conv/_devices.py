"""Runs on many devices and many processes: the mesh, the placement of inputs, the return of frames.

``simulate(..., devices=...)`` takes a list of devices (``jax.devices()``, which
lists every device of every process after ``jax.distributed.initialize``), a
one-axis ``jax.sharding.Mesh``, ``'all'``, or a number of devices. Batch members
are spread over the mesh axis; one grid is cut into slabs along axis 0
(:mod:`diffusion_conv._split`). Inputs become global arrays placed shard by
shard (each process supplies its own devices' shards, from the same host
values every process computed), and frames come back to the host chunk by
chunk, gathered from every process.
"""

from __future__ import annotations

import numpy as np

from ._interrupt import wait
from ._split import AXIS
from .errors import InputError, InputTypeError


def mesh_of(devices):
    """A one-axis mesh (axis :data:`diffusion_conv._split.AXIS`) from ``devices``; None for None.

    Parameters
    ----------
    devices : None, 'all', int, sequence of jax devices, or jax.sharding.Mesh
        ``'all'``: every device of every process; an int ``k``: the first ``k``.

    Raises
    ------
    TypeError, ValueError
        For anything else, or a mesh with more than one axis.
    """
    import jax
    from jax.sharding import Mesh

    if devices is None:
        return None
    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            raise InputError(f"devices as a Mesh must have one axis, got axes {devices.axis_names}")
        _once_each(list(devices.devices.reshape(-1)))
        return Mesh(devices.devices.reshape(-1), (AXIS,))
    if isinstance(devices, str):
        if devices != "all":
            raise InputError(f"devices must be 'all', a number, a list of devices or a Mesh, got {devices!r}")
        devices = jax.devices()
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        available = jax.devices()
        if not 1 <= devices <= len(available):
            raise InputError(f"devices must be between 1 and the {len(available)} devices available, got {devices}")
        devices = available[: int(devices)]
    else:
        try:
            devices = list(devices)
        except TypeError:
            raise InputTypeError(
                f"devices must be 'all', a number, a list of devices or a Mesh, got {type(devices).__name__}"
            ) from None
        if not devices or not all(hasattr(d, "platform") and hasattr(d, "id") for d in devices):
            raise InputTypeError("devices must be a non-empty list of jax devices (e.g. jax.devices())")
        _once_each(devices)
    return Mesh(np.array(devices), (AXIS,))


def _once_each(devices):
    """Raise ValueError when a device appears twice in ``devices`` (a mesh holds each device once)."""
    seen = {}
    for i, d in enumerate(devices):
        if d in seen:
            raise InputError(
                f"devices lists {d} twice (positions {seen[d]} and {i}); each device may appear "
                f"once (e.g. jax.devices() or a part of it)"
            )
        seen[d] = i


def place(tree, mesh):
    """Host arrays (numpy, or concrete JAX arrays) as global arrays sharded along their leading axis over ``mesh``."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = NamedSharding(mesh, PartitionSpec(AXIS))

    def one(x):
        if x is None:
            return None
        if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            raise InputTypeError("keys travel as their raw data (jax.random.key_data)")
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree_util.tree_map(one, tree, is_leaf=lambda x: x is None)


def _identity(x):
    return x


def to_host(x):
    """A (possibly multi-process) JAX array as one numpy array on this host.

    The waits (for ``x``, then for the gather from every process) happen in
    :func:`diffusion_conv._interrupt.wait`, never inside ``np.asarray`` where the
    main thread would hold the GIL: a signal or the failure of another process
    still ends this one while a long computation runs. A numpy array is returned as it is.
    """
    if isinstance(x, np.ndarray):
        return x
    import jax

    if jax.process_count() > 1 and hasattr(x, "is_fully_addressable") and not x.is_fully_addressable:
        from jax.sharding import NamedSharding, PartitionSpec

        wait(x)
        if isinstance(x.sharding, NamedSharding):
            whole = wait(jax.jit(_identity, out_shardings=x.sharding.update(spec=PartitionSpec()))(x))
            return np.asarray(whole.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(wait(x))

"""One grid split along axis 0 across devices: the check made before such a run.

Each method that can split a grid declares its slab form
(:meth:`diffusion_conv.methods.Method.slab`, a
:class:`~diffusion_conv.methods.Slab` in the method's own module); the halo
exchange they share lives in :mod:`diffusion_conv.lattice.halo`. Randomness
does not depend on the split: ``counts`` draws each cell's split from the
counter of its global index, ``particles`` each particle's jump from its global
index, so the same key gives the same integers on any number of devices.

These forms run inside ``shard_map`` over the mesh axis :data:`AXIS`, one
member per device; :mod:`diffusion_conv.driver` drives them.
"""

from __future__ import annotations

from .errors import InputError
from .lattice.halo import AXIS

__all__ = ["AXIS", "check"]


def check(method, tank, prop, devices, options):
    """Refuse what a split grid cannot do, before any work: a method without a slab form, uneven slabs."""
    slab = method.slab()
    if slab is None:
        raise InputError(
            f"method {method.name!r} cannot split one grid across devices (its transforms or its "
            f"host code need the whole grid); give it a batch (Tank.stack, Propagator.stack, a batch "
            f"of keys) to spread over the devices instead, or run it on one device"
        )
    slab.check(tank, prop, devices, options)

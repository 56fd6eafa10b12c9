"""One grid split along axis 0 across devices: the check made before such a run, and the slab forms by name.

Each method that can split a grid declares its slab form
(:meth:`diffusion_conv.methods.Method.slab`, a
:class:`~diffusion_conv.methods.base.Slab` in the method's own module); the halo
exchange they share lives in :mod:`diffusion_conv.lattice.halo`. Randomness
does not depend on the split: ``counts`` draws each cell's split from the
counter of its global index, ``particles`` each particle's jump from its global
index, so the same key gives the same integers on any number of devices.

These forms run inside ``shard_map`` over the mesh axis :data:`AXIS`, one
member per device; :mod:`diffusion_conv.driver` drives them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .errors import InputError
from .lattice.halo import AXIS
from .methods import get, names

__all__ = ["AXIS", "SPLIT", "check"]


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


class _Slabs(Mapping):
    """The slab form of every registered method that can split a grid, by name (read from the registry)."""

    def __getitem__(self, name):
        slab = get(name).slab() if name in names() else None
        if slab is None:
            raise KeyError(name)
        return slab

    def __iter__(self) -> Iterator[str]:
        return (n for n in names() if get(n).slab() is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


SPLIT: Mapping = _Slabs()
"""The methods that split one grid across devices, by name: ``SPLIT[name]`` is ``get(name).slab()``."""

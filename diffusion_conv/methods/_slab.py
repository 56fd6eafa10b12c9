"""A method's form on one grid split along axis 0 across devices (:class:`Slab`); a method declares it with
:meth:`diffusion_conv.methods.Method.slab` and defines it in its own module."""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from ..errors import InputError
from ._state import State


class Slab(abc.ABC):
    """A method's form on one grid split along axis 0 across devices: each device holds ``n0 / D`` rows.

    The same interface as :class:`Method` (``init``, ``advance``, ``observe``,
    ``extras``, ``summary``, ``stepwise``) on one device's slab, run inside
    ``shard_map`` over the mesh axis :data:`diffusion_conv.lattice.halo.AXIS`, and
    :meth:`inputs`, which cuts a checked plan into per-device arrays. A method
    declares its form with :meth:`Method.slab`. One instance per class: equal
    (and of one hash) as static arguments of compiled programs.
    """

    method: ClassVar[str]
    """The name of the method this is the split form of."""
    units: ClassVar[str] = "step"

    @property
    def name(self) -> str:
        return self.method

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def check(self, tank, prop, devices, options) -> None:
        """Refuse what this form cannot split (before any work): equal slabs of at least the kernel's radius."""
        n0, r0 = tank.shape[0], prop.radius[0]
        if n0 % devices:
            raise InputError(
                f"axis 0 of the tank ({n0} cells) must be a multiple of the number of devices ({devices}) "
                f"to split the grid into equal slabs"
            )
        if r0 > n0 // devices:
            raise InputError(
                f"each device's slab ({n0 // devices} rows) must be at least the kernel's radius along "
                f"axis 0 ({r0}); use fewer devices"
            )

    @abc.abstractmethod
    def inputs(self, plan, devices) -> tuple:
        """``(static, arrays)``: the static data and the per-device arrays (leading axis ``devices``) of a plan."""

    @abc.abstractmethod
    def init(self, static, **arrays) -> State:
        """A device's state at step 0 from its share of :meth:`inputs`' arrays."""

    @abc.abstractmethod
    def advance(self, state: State, n) -> State:
        """The slab's state ``n`` steps later (exchanging halos with the neighbouring devices)."""

    @abc.abstractmethod
    def observe(self, state: State):
        """``(slab of the frame, absorbed total)`` (the total summed over the devices)."""

    def extras(self, state: State) -> dict:
        return {}

    def summary(self, state: State) -> dict:
        return {}

    def stepwise(self, state: State) -> bool:
        return True

    def __repr__(self):
        return f"<slab form of {self.method!r}>"

    # helpers of inputs()
    @staticmethod
    def cut(x, devices):
        """``(D, s, ...)``: an array of the tank's shape cut along axis 0 into ``devices`` slabs."""
        x = np.asarray(x)
        return x.reshape((devices, x.shape[0] // devices) + x.shape[1:])

    @staticmethod
    def cut_masks(blocked, devices):
        """Wall masks ``(K, n0, ...)`` cut along the grid's axis 0: ``(D, K, s, ...)`` (None stays None)."""
        if blocked is None:
            return None
        return np.moveaxis(Slab.cut(np.moveaxis(blocked, 0, -1), devices), -1, 1)

    @staticmethod
    def replicate(x, devices):
        """``(D, ...)``: one read-only copy of ``x`` per device (a broadcast view)."""
        x = np.asarray(x)
        return np.broadcast_to(x, (devices,) + x.shape)

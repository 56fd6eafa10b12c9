"""What the two stochastic methods share: the checks of their tank, their order, their units."""
from __future__ import annotations

import numpy as np

from .. import _checks
from .base import Order


def check_stochastic_tank(tank) -> None:
    """Particles need somewhere to start: a non-negative field with a positive mass."""
    if not _checks.is_concrete(tank.concentration):
        return
    c = np.asarray(tank.concentration)
    if np.any(c < 0):
        raise ValueError(f"the stochastic methods need a non-negative concentration (particles cannot be negative); "
                         f"its minimum is {c.min()!r}. Use a deterministic method for signed fields")
    per_member = c.reshape(c.shape[: c.ndim - tank.ndim] + (-1,)).sum(axis=-1, dtype=np.float64)
    if not np.all(per_member > 0):
        raise ValueError("the tank holds no mass: the stochastic methods need a positive initial mass to place")


def sampling_order() -> Order:
    """The law of large numbers: the error against the expectation falls like ``N ** -1/2``."""
    return Order(-0.5, "n_particles", "propagator",
                 "sampling noise: each cell's count is binomial, its relative spread ~ N^-1/2")


def to_concentration(counts, absorbed_counts, unit, cell):
    """``(frame, absorbed)`` from particle counts: ``counts * unit / cell`` in the unit's dtype and the absorbed mass.

    ``unit`` is the mass of one particle (initial mass / N) and ``cell`` the cell
    volume ``dx**ndim``, so a frame's mass is exactly the surviving share of the
    initial mass.
    """
    return (counts.astype(unit.dtype) * (unit / cell), absorbed_counts.astype(unit.dtype) * unit)


def host_mass(tank):
    """The initial mass of each member of a (concrete) tank, ``sum(c) * dx**ndim``, summed on the host in float64.

    The stochastic methods' mass per particle comes from it whichever program
    runs them (one run, a batch, a grid split across devices), so their frames
    agree to the last bit.
    """
    c = np.asarray(tank.concentration, dtype=np.float64)
    return c.reshape(c.shape[: c.ndim - tank.ndim] + (-1,)).sum(axis=-1) * tank.dx ** tank.ndim

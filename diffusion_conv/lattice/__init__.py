"""The one process every method shares: the boundaries, the wall rule and the transport of mass.

A particle in cell ``x`` jumps by offset ``d`` with probability ``w[d]``; its
unfolded target is ``z = x + d``. Per axis a :class:`Boundary` maps ``z`` back
into the tank ``[0, n)``:

``periodic``
    ``z mod n``.
``reflect``
    a half-cell mirror at each wall (``-1 -> 0``, ``-2 -> 1``, ``n -> n - 1``),
    repeated for jumps longer than the tank: the unfolded line has period ``2 n``.
``absorb``
    a target outside ``[0, n)`` is removed from the tank and counted as absorbed.

Walls (a boolean mask of solid cells) refuse a jump, and the particle stays in
``x``, when any wall cell lies in the box of cells spanned by ``x`` and the
unfolded target ``z`` (each box cell read through the same boundary map; cells
beyond an absorbing edge are open). The rule is symmetric, so a closed board
one cell thick is impassable for every kernel radius.

A boundary is an object (:data:`REFLECT`, :data:`PERIODIC`, :data:`ABSORB`,
looked up by :func:`normalize_boundary`) that owns everything the methods need
to know about it: its fold of coordinates (:meth:`Boundary.fold`), its fold of
the unfolded lattice (:meth:`Boundary.fold_chunk`, used by :func:`transport` and
by the halo path of the propagator), the transform that diagonalises the walk
along it (:meth:`Boundary.forward`), where that transform is exact
(:meth:`Boundary.spectral_reason`), its scipy and numpy modes, and what the
continuum heat equation can solve at it (:meth:`Boundary.heat_reason`).
Boundaries are strings too (``REFLECT == "reflect"``), so they print, compare
and serialise as their names.
"""

from __future__ import annotations

from .boundaries import (
    ABSORB,
    BOUNDARIES,
    PERIODIC,
    REFLECT,
    Boundary,
    boundary,
    fold_index,
    normalize_boundary,
    symmetric_along,
)
from .transport import axis_slice, fold_axis, fold_extended, offsets, separable_factors, spread, transport
from .walls import Walls, blocked_masks, check_walls

__all__ = [
    "ABSORB",
    "BOUNDARIES",
    "PERIODIC",
    "REFLECT",
    "Boundary",
    "Walls",
    "axis_slice",
    "blocked_masks",
    "boundary",
    "check_walls",
    "fold_axis",
    "fold_extended",
    "fold_index",
    "normalize_boundary",
    "offsets",
    "separable_factors",
    "spread",
    "symmetric_along",
    "transport",
]

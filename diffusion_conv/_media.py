"""The mobility maps and closed forms of the heterogeneous-media scenarios (``gel``, ``membrane``).

Plain NumPy, no tank: :mod:`diffusion_conv.scenarios` builds its scenarios from them and re-exports them.
"""

from __future__ import annotations

import numpy as np

GEL_MOBILITY = 0.2
"""Mobility of the ``gel`` scenario's disc: the salt crosses it five times more slowly than water."""

MEMBRANE_MOBILITY = 0.002
"""Mobility of the ``membrane`` scenario's porous board."""

MEMBRANE_P = 0.2
"""The ``membrane`` scenario's kernel: a jump to each of the four nearest neighbours with this probability."""


def gel_disc(shape, mobility=GEL_MOBILITY, area=0.1):
    """A mobility map of water (1) with a centred disc of gel covering ``area`` of the tank.

    Parameters
    ----------
    shape : tuple of int
        The tank's shape (2-D).
    mobility : float in [0, 1]
        The gel's mobility.
    area : float in (0, 1)
        The disc's share of the tank's cells (about: it is made of whole cells).
    """
    n0, n1 = shape
    y, x = np.mgrid[:n0, :n1]
    r2 = area * n0 * n1 / np.pi
    return np.where((y - (n0 - 1) / 2) ** 2 + (x - (n1 - 1) / 2) ** 2 < r2, float(mobility), 1.0)


def membrane_rate(n, mobility=MEMBRANE_MOBILITY, p=MEMBRANE_P):
    """The closed form of the ``membrane`` scenario's relaxation rate (per step), docs/theory.md.

    Two well-mixed sides, ``N_L = n // 2`` and ``N_R = n - n // 2 - 1`` cells
    across, joined through a board one cell thick of mobility ``m_b``,
    nearest-neighbour jumps with probability ``p``: the board passes
    ``p a (c_L - c_R) / 2`` per step with ``a = 2 m_b / (1 + m_b)``, so the
    difference of the sides' means falls by ``1 - kappa`` per step with
    ``kappa = (p a / 2) (1 / N_L + 1 / N_R)`` (docs/theory.md's
    ``2 p m_b / ((1 + m_b) N)`` for equal sides; valid for ``m_b`` well below
    ``1 / N``).
    """
    a = 2 * mobility / (1 + mobility)
    return p * a / 2 * (1 / (n // 2) + 1 / (n - n // 2 - 1))

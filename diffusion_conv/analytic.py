"""Closed-form solutions of the diffusion (heat) equation, as references for every method.

Where no closed form exists (a diffusivity that varies in space),
:func:`finite_volume` is the independent continuum reference: the finite-volume
solution of ``dc/dt = div(D(x) grad c)``, exact in time.

Cell ``x`` (along each axis) spans ``[x dx, (x + 1) dx)`` with its centre at
``(x + 1/2) dx``. Functions return numpy float64 arrays of the tank's shape:
cell averages (``average=True``, what the ``heat`` method returns) or point
values at cell centres. ``D`` is a diffusivity (length^2 / time), ``t`` a time,
``drift`` a velocity (length / time), all in the units of ``dx``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from . import _checks
from .errors import InputError
from .lattice import normalize_boundary

__all__ = ["two_compartment", "gaussian_source", "fourier_mode", "finite_volume"]


def _shape(shape):
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(_checks.integer("shape entry", s, minimum=1) for s in shape)
    if not 1 <= len(shape) <= 3:
        raise InputError(f"shape must have 1 to 3 entries, got {shape}")
    return shape


def _time(t):
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not np.isfinite(t) or t < 0:
        raise InputError(f"t must be a finite time >= 0, got {t!r}")
    return float(t)


def _per_axis(name, value, ndim):
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        v = np.full(ndim, float(v))
    if v.shape != (ndim,) or not np.all(np.isfinite(v)):
        raise InputError(f"{name} must be a finite scalar or one value per axis ({ndim}), got {value!r}")
    return v


def two_compartment(shape, t, D, left=1.0, right=0.0, axis=-1, dx=1.0):
    """The closed tank with two compartments: cell averages of the exact solution (cosine series).

    Parameters
    ----------
    shape : int or tuple of 1 to 3 ints
        Cells per axis.
    t : float
        Time since the boards were pulled (>= 0).
    D : float
        Diffusivity along ``axis`` (> 0).
    left, right : float
        Initial concentrations: cells with index below ``shape[axis] // 2`` hold ``left``.
    axis : int
        The axis across which the compartments are split; the solution is constant along the others.
    dx : float
        Cell width.

    Returns
    -------
    ndarray, float64, ``shape``
        Cell averages of the solution with no-flux walls at ``0`` and ``L = n dx``:
        ``u = a0 + sum_m a_m cos(k_m x) exp(-D k_m^2 t)``, ``k_m = m pi / L``,
        ``a0 = right + (left - right) s / L``, ``a_m = 2 (left - right) sin(k_m s) / (m pi)``
        with ``s = (n // 2) dx``; each cosine is averaged over its cell
        (``cos(k x_c) sinc(k dx / 2)``). Terms are kept until ``exp(-D k^2 t) < 1e-18``.
    """
    shape = _shape(shape)
    t = _time(t)
    D = _checks.positive_float("D", D)
    dx = _checks.positive_float("dx", dx)
    ax = _checks.integer("axis", axis)
    if not -len(shape) <= ax < len(shape):
        raise InputError(f"axis must be in [{-len(shape)}, {len(shape)}), got {ax}")
    ax %= len(shape)
    n = shape[ax]
    if n < 2:
        raise InputError(f"shape[axis] must be at least 2, got {n}")
    left, right = float(left), float(right)
    split = n // 2
    profile = np.where(np.arange(n) < split, left, right).astype(np.float64)
    if t > 0:
        L, s = n * dx, split * dx
        m_max = int(math.ceil(L / math.pi * math.sqrt(42.0 / (D * t)))) + 1
        xc = (np.arange(n) + 0.5) * dx
        profile = np.full(n, right + (left - right) * s / L)
        for start in range(1, m_max + 1, 4096):
            m = np.arange(start, min(m_max, start + 4095) + 1, dtype=np.float64)
            k = m * math.pi / L
            a = 2 * (left - right) * np.sin(k * s) / (m * math.pi) * np.exp(-D * k**2 * t)
            a = a * np.sinc(k * dx / (2 * math.pi))
            profile = profile + np.cos(np.multiply.outer(xc, k)) @ a
    bshape = [1] * len(shape)
    bshape[ax] = n
    return np.broadcast_to(profile.reshape(bshape), shape).copy()


def _gauss_axis(n, dx, centre, var, periodic, average):
    """1-D profile of a unit-mass Gaussian (mean ``centre``, variance ``var``) on ``n`` cells."""
    L = n * dx
    sd = math.sqrt(var)
    J = int(math.ceil(12 * sd / L)) + 1 if periodic else 0
    out = np.zeros(n)
    for j in range(-J, J + 1):
        mu = centre + j * L
        if average:
            lo = (np.arange(n) * dx - mu) / sd
            hi = lo + dx / sd
            right = lo + hi > 0
            out += np.where(right, special.ndtr(-lo) - special.ndtr(-hi), special.ndtr(hi) - special.ndtr(lo)) / dx
        else:
            z = ((np.arange(n) + 0.5) * dx - mu) / sd
            out += np.exp(-0.5 * z * z) / (sd * math.sqrt(2 * math.pi))
    return out


def gaussian_source(shape, t, D, center, mass=1.0, dx=1.0, drift=None, periodic=False, average=True):
    """A point source of ``mass`` released at ``center`` at ``t = 0``: a spreading Gaussian.

    Parameters
    ----------
    shape : int or tuple of 1 to 3 ints
    t : float
        Time (> 0).
    D : float or sequence of float
        Diffusivity, one for all axes or one per axis (a diagonal tensor); the
        variance along axis ``a`` is ``2 D_a t``.
    center : sequence of float
        Release point (length units; cell ``x`` covers ``[x dx, (x + 1) dx)``).
    mass : float
    dx : float
    drift : sequence of float, optional
        Velocity; the centre moves to ``center + drift t``.
    periodic : bool
        Sum the periodic images (period ``n dx`` per axis): the solution on a
        periodic tank. Otherwise free space (the tank is a window onto the line).
    average : bool
        Cell averages (erf differences) or point values at cell centres.

    Returns
    -------
    ndarray, float64, ``shape``
        Concentration (mass per ``dx**ndim``).
    """
    shape = _shape(shape)
    ndim = len(shape)
    t = _time(t)
    if t == 0:
        raise InputError("t must be > 0 for a point source (at t = 0 it is a delta)")
    Dv = _per_axis("D", D, ndim)
    if np.any(Dv <= 0):
        raise InputError(f"D must be > 0 along every axis, got {D!r}")
    dx = _checks.positive_float("dx", dx)
    c = _per_axis("center", center, ndim)
    v = np.zeros(ndim) if drift is None else _per_axis("drift", drift, ndim)
    out = np.asarray(float(mass))
    for a in range(ndim):
        prof = _gauss_axis(shape[a], dx, c[a] + v[a] * t, 2 * Dv[a] * t, bool(periodic), bool(average))
        out = np.multiply.outer(out, prof)
    return out


def fourier_mode(shape, t, D, mode, amplitude=1.0, offset=0.0, phase=0.0, drift=None, dx=1.0, average=True):
    """A single Fourier mode on a periodic tank, decaying and drifting.

    ``u(x, t) = offset + amplitude cos(k . (x - v t) + phase) exp(-k^T D k t)`` with
    ``k_a = 2 pi mode_a / (n_a dx)``: an exact solution of
    ``u_t = div(D grad u) - v . grad u`` for any symmetric ``D``.

    Parameters
    ----------
    shape : int or tuple of 1 to 3 ints
    t : float (>= 0)
    D : float, sequence (diagonal) or ``(ndim, ndim)`` array
    mode : sequence of int
        Wave numbers (whole waves across the tank) per axis.
    amplitude, offset, phase : float
    drift : sequence of float, optional
    dx : float
    average : bool
        Cell averages (the cosine times ``prod_a sinc(k_a dx / 2)``) or point values at centres.

    Returns
    -------
    ndarray, float64, ``shape``
    """
    shape = _shape(shape)
    ndim = len(shape)
    t = _time(t)
    dx = _checks.positive_float("dx", dx)
    Dm = np.asarray(D, dtype=np.float64)
    if Dm.ndim < 2:
        Dm = np.diag(_per_axis("D", Dm, ndim))
    if Dm.shape != (ndim, ndim) or not np.allclose(Dm, Dm.T) or np.linalg.eigvalsh(Dm)[0] < 0:
        raise InputError(f"D must be a non-negative scalar, per-axis values or a symmetric PSD matrix, got {D!r}")
    m = np.asarray(mode)
    if m.shape != (ndim,) or not np.issubdtype(m.dtype, np.integer):
        raise InputError(f"mode must hold one integer per axis ({ndim}), got {mode!r}")
    v = np.zeros(ndim) if drift is None else _per_axis("drift", drift, ndim)
    k = 2 * np.pi * m / (np.asarray(shape) * dx)
    amp = float(amplitude) * math.exp(-float(k @ Dm @ k) * t)
    if average:
        amp *= float(np.prod(np.sinc(k * dx / (2 * np.pi))))
    grids = np.meshgrid(*[(np.arange(n) + 0.5) * dx for n in shape], indexing="ij")
    arg = sum(kk * (g - vv * t) for kk, g, vv in zip(k, grids, v)) + float(phase)
    return float(offset) + amp * np.cos(arg)


def finite_volume(c0, D, t, dx=1.0, boundary="reflect"):
    """Cell averages at time ``t`` of ``dc/dt = div(D(x) grad c)``, by the finite-volume method.

    The continuum reference for a diffusivity that varies from cell to cell (a
    gel, a porous board): each cell exchanges with its neighbours along every
    axis through the face between them, with the face's diffusivity the
    harmonic mean of the two cells' (resistances in series); the linear system
    is solved exactly in time (``scipy.sparse.linalg.expm_multiply``). For a
    smooth ``D`` the error falls like ``dx**2``; at a jump of ``D`` the harmonic
    mean keeps the flux continuous.

    Parameters
    ----------
    c0 : array_like, 1-D, 2-D or 3-D
        Initial cell averages.
    D : float or array_like of ``c0``'s shape
        Diffusivity per cell (length^2 / time, in the units of ``dx``), >= 0.
    t : float
        Time (>= 0).
    dx : float, default 1.0
        Cell width.
    boundary : str or sequence of str, default ``'reflect'``
        Per axis: ``'reflect'`` (no flux), ``'periodic'``, or ``'absorb'``
        (``c = 0`` at the edge, half a cell beyond the last centre).

    Returns
    -------
    ndarray (float64) of ``c0``'s shape.
    """
    from scipy import sparse
    from scipy.sparse.linalg import expm_multiply

    c0 = np.asarray(c0, dtype=np.float64)
    if c0.ndim not in (1, 2, 3):
        raise InputError(f"c0 must be 1-D, 2-D or 3-D, got {c0.ndim}-D")
    t = _time(t)
    dx = _checks.positive_float("dx", dx)
    Dc = np.broadcast_to(np.asarray(D, dtype=np.float64), c0.shape)
    if not (np.all(np.isfinite(Dc)) and np.all(Dc >= 0)):
        raise InputError("D must be finite and non-negative in every cell")
    bnd = normalize_boundary(boundary, c0.ndim)
    index = np.arange(c0.size).reshape(c0.shape)
    rows, cols, vals = [], [], []
    diag = np.zeros(c0.size)

    def face(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((a > 0) & (b > 0), 2 * a * b / (a + b), 0.0) / dx**2

    for axis, b in enumerate(bnd):
        n = c0.shape[axis]
        lo, hi = np.take(index, np.arange(n - 1), axis), np.take(index, np.arange(1, n), axis)
        if b == "periodic" and n > 1:
            lo = np.concatenate([lo, np.take(index, [n - 1], axis)], axis)
            hi = np.concatenate([hi, np.take(index, [0], axis)], axis)
        lo, hi = lo.ravel(), hi.ravel()
        g = face(Dc.ravel()[lo], Dc.ravel()[hi])
        rows += [lo, hi]
        cols += [hi, lo]
        vals += [g, g]
        np.add.at(diag, lo, -g)
        np.add.at(diag, hi, -g)
        if b == "absorb":  # the edge is half a cell from the centre: conductance 2 D / dx^2
            for end in (0, n - 1):
                cells = np.take(index, [end], axis).ravel()
                np.add.at(diag, cells, -2 * Dc.ravel()[cells] / dx**2)
    L = sparse.csr_matrix(
        (
            np.concatenate(vals + [diag]),
            (np.concatenate(rows + [np.arange(c0.size)]), np.concatenate(cols + [np.arange(c0.size)])),
        ),
        shape=(c0.size, c0.size),
    )
    return expm_multiply(L * t, c0.ravel()).reshape(c0.shape)

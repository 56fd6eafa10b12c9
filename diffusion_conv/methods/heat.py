"""The continuum reference: the advection-diffusion equation solved exactly in Fourier space.

``u_t = div(D grad u) - v . grad u`` with the propagator's moments,
``D = covariance dx^2 / (2 dt)`` and ``v = mean dx / dt``, so that after
``t = s dt`` the Green's function is a Gaussian of covariance ``covariance * s``
and mean ``mean * s`` (cells). Each saved time is computed directly, with no
time stepping.

Cells in, cells out (``initial='cells'``, the default): each cell is the
average of a piecewise-constant initial field, and the frames are the cell
averages of the exact continuum solution. A mode ``exp(i k x)`` averaged over a
cell of width ``dx`` gains the factor ``sinc(k dx / 2)`` (``sinc z = sin z / z``),
once on the way in and once on the way out, and the continuum wavenumbers
``k = (theta + 2 pi j) / dx`` that alias to one discrete angle ``theta`` all
contribute. Per axis the multiplier of a transform coefficient is

``M(theta) = sum_j sinc^2((theta + 2 pi j) / 2) exp(-sigma^2 (theta + 2 pi j)^2 / 2 - i m (theta + 2 pi j))``

(``sigma^2 = S_aa s``, ``m = mu_a s`` in cells), summed over ``j`` when
``sigma >= 1``; for narrower Gaussians the Poisson-summed form
``M(theta) = sum_x f(x) exp(-i theta x)`` is used instead, with ``f`` the tent
(two cells wide) convolved with the Gaussian, in closed form with erf. Both are
exact; at ``t = 0`` ``M = 1``. ``initial='bandlimited'`` reads the cells as the
averages of the band-limited field instead: ``M = exp(-sigma^2 theta^2 / 2 - i m theta)``,
exact for a single Fourier mode.

Boundaries:

``periodic``: FFT; the full tensor ``D`` (off-diagonal entries too) and drift ``v``.
``reflect``: DCT-II; the walls are the tank's faces (``x = 0`` and ``x = n dx``),
    no-flux. Only diagonal ``D`` and no drift along that axis: the cosine modes
    are eigenfunctions of ``d^2/dx^2`` with zero flux, but drift and
    cross-diffusion map them onto sines, and the no-flux condition then mixes
    every mode.
``absorb``: DST-I, same limits. The absorbing line (``u = 0``) sits half a
    cell beyond each edge, at ``x = -dx/2`` and ``x = (n + 1/2) dx``, the centres
    of the first cells outside the tank. That is where the lattice walk that
    removes particles landing outside ``[0, n)`` has its zero: its eigenvectors
    are ``sin(pi m (x + 1) / (n + 1))``, which vanish at cells ``-1`` and ``n``,
    and their continuum limits vanish at those centres. A line at the tank's
    edge would differ from the walk by a half-cell shift, an error of order
    ``n^-1/2`` that never converges faster.

Walls are refused. Convergence of the lattice walk to this solution (declared
here, measured by the tests): ``ORDER_ZERO_THIRD_CUMULANT`` (error ~ 1/n) for
kernels with zero third cumulant, ``ORDER_SKEWED`` (~ n^-1/2) for skewed ones.
"""
from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from .. import _progress
from .. import fourier
from . import MethodOutput, no_stochastic_arguments

NAME = "heat"
KIND = "reference"

INITIAL = ("cells", "bandlimited")

ORDER_ZERO_THIRD_CUMULANT = 1.0
"""max |propagator - heat| ~ n^-1 after n steps when the kernel's third cumulant vanishes."""
ORDER_SKEWED = 0.5
"""max |propagator - heat| ~ n^-1/2 for a skewed kernel: the heat equation carries no third cumulant."""

_MAX_ALIASES = 4096


def _tol(dtype) -> float:
    return 64 * float(np.finfo(dtype).eps)


def third_cumulant(prop) -> np.ndarray:
    """The kernel's third cumulant ``sum_d w[d] (d - mu)_a (d - mu)_b (d - mu)_c`` (cells^3), shape ``(ndim,)*3``."""
    w = np.ravel(np.asarray(prop.weights, dtype=np.float64))
    d = prop.offsets.astype(np.float64)
    c = d - w @ d
    return np.einsum("k,ka,kb,kc->abc", w, c, c, c)


def expected_order(prop) -> float:
    """Declared order of ``propagator -> heat`` for this kernel: 1.0, or 0.5 when skewed."""
    skewed = np.max(np.abs(third_cumulant(prop))) > _tol(np.float64) * max(prop.radius) ** 3
    return ORDER_SKEWED if skewed else ORDER_ZERO_THIRD_CUMULANT


def _moments(prop):
    return np.asarray(prop.mean, dtype=np.float64), np.asarray(prop.covariance, dtype=np.float64)


def validate(tank, prop, *, n_particles=None, key=None, initial="cells", **options):
    """Raise ``ValueError`` for settings the heat equation cannot solve exactly here."""
    no_stochastic_arguments(NAME, n_particles, key)
    if options:
        raise TypeError(f"method {NAME!r} takes only the option 'initial', got {sorted(options)}")
    if initial not in INITIAL:
        raise ValueError(f"initial {initial!r} is unknown; allowed: {', '.join(INITIAL)}")
    if tank.walls is not None:
        raise ValueError("method 'heat' does not support walls (no transform diagonalises a tank with walls); "
                         "use method='propagator'")
    mean, cov = _moments(prop)
    tol = _tol(np.dtype(tank.dtype))
    scale = max(1.0, float(np.max(np.abs(cov))))
    for a, b in enumerate(tank.boundary):
        if b == "periodic":
            continue
        if abs(mean[a]) > tol * max(prop.radius):
            raise ValueError(
                f"method 'heat' cannot carry drift (mean jump {mean[a]:.3g} cells) along axis {a}, which is "
                f"{b!r}: drift turns cosine/sine modes into each other and the boundary then couples every mode. "
                f"Use boundary='periodic' along that axis, or method='propagator'"
            )
        off = [abs(cov[a, c]) for c in range(tank.ndim) if c != a]
        if off and max(off) > tol * scale:
            raise ValueError(
                f"method 'heat' needs a diagonal diffusion tensor along axis {a}, which is {b!r} (covariance "
                f"{cov.tolist()}): cross-diffusion maps cosine/sine modes onto sines/cosines. "
                f"Use a periodic tank, or method='propagator'"
            )
    if initial == "cells" and not _is_diagonal(cov, tol) and np.linalg.eigvalsh(cov)[0] <= tol * scale:
        raise ValueError(
            f"the covariance {cov.tolist()} is singular with off-diagonal entries: the cell-average alias sum "
            f"does not converge; use initial='bandlimited' or method='propagator'"
        )


def _is_diagonal(cov, tol):
    off = cov - np.diag(np.diag(cov))
    return bool(np.max(np.abs(off), initial=0.0) <= tol * max(1.0, float(np.max(np.abs(cov)))))


def _g2(u, sigma):
    """Second antiderivative of the Gaussian density of width ``sigma``: ``u Phi(u/sigma) + sigma^2 phi_sigma(u)``."""
    if sigma == 0:
        return np.maximum(u, 0.0)
    return u * special.ndtr(u / sigma) + sigma / math.sqrt(2 * math.pi) * np.exp(-0.5 * (u / sigma) ** 2)


def axis_multiplier(theta, variance, shift, initial="cells", form=None):
    """The multiplier ``M(theta)`` of one axis for a Gaussian of ``variance`` and mean ``shift`` (cells).

    Parameters
    ----------
    theta : ndarray
        Angles (radians per cell) of the axis's transform coefficients.
    variance, shift : float
        ``S_aa s`` and ``mu_a s`` for ``s = t / dt`` steps.
    initial : {'cells', 'bandlimited'}
    form : {'frequency', 'space'} or None
        Which exact form of the cell-average sum to use; ``None`` picks the one
        that converges fast (frequency aliases for ``sigma >= 1``).

    Returns
    -------
    complex ndarray of ``theta``'s shape (real part only when ``shift == 0``).
    """
    theta = np.asarray(theta, dtype=np.float64)
    sigma = math.sqrt(max(variance, 0.0))
    if initial == "bandlimited":
        return np.exp(-0.5 * variance * theta**2 - 1j * shift * theta)
    if form is None:
        form = "frequency" if sigma >= 1 else "space"
    if form == "frequency":
        if sigma == 0:
            raise ValueError("the frequency form needs a positive variance")
        J = int(math.ceil((math.sqrt(80.0) / (sigma * math.pi) + 1) / 2))
        k = theta[..., None] + 2 * np.pi * np.arange(-J, J + 1)
        terms = np.sinc(k / (2 * np.pi)) ** 2 * np.exp(-0.5 * variance * k**2 - 1j * shift * k)
        return terms.sum(axis=-1)
    x = np.arange(math.floor(shift - 1 - 10 * sigma), math.ceil(shift + 1 + 10 * sigma) + 1, dtype=np.float64)
    u = x - shift
    f = _g2(u + 1, sigma) - 2 * _g2(u, sigma) + _g2(u - 1, sigma)
    return np.exp(-1j * np.multiply.outer(theta, x)) @ f


def _full_multiplier(th, cov_s, mean_s, initial):
    """Non-separable multiplier for a full covariance (periodic axes only)."""
    grids = np.meshgrid(*th, indexing="ij", sparse=True)
    if initial == "bandlimited":
        quad = sum(cov_s[a, b] * grids[a] * grids[b] for a in range(len(th)) for b in range(len(th)))
        return np.exp(-0.5 * quad - 1j * sum(m * g for m, g in zip(mean_s, grids)))
    J = _alias_count(cov_s)
    out = 0.0
    for js in itertools.product(range(-J, J + 1), repeat=len(th)):
        k = [g + 2 * np.pi * j for g, j in zip(grids, js)]
        quad = sum(cov_s[a, b] * k[a] * k[b] for a in range(len(th)) for b in range(len(th)))
        sinc = functools.reduce(np.multiply, [np.sinc(kk / (2 * np.pi)) ** 2 for kk in k])
        out = out + sinc * np.exp(-0.5 * quad - 1j * sum(m * kk for m, kk in zip(mean_s, k)))
    return out


def _alias_count(cov_s) -> int:
    lam = float(np.linalg.eigvalsh(cov_s)[0])
    return int(math.ceil((math.sqrt(80.0 / lam) / math.pi + 1) / 2))


@functools.partial(jax.jit, static_argnames=("boundary", "shape"))
def _apply(coeffs, mult, boundary, shape):
    return fourier.inverse(coeffs * mult, boundary, shape)


def run(tank, prop, save_steps, *, dt=1.0, n_particles=None, key=None, progress=False, initial="cells", **options):
    """Cell averages of the exact continuum solution at ``save_steps * dt``; see :func:`diffusion_conv.simulate`."""
    validate(tank, prop, n_particles=n_particles, key=key, initial=initial, **options)
    field = tank.concentration
    bnd = tuple(tank.boundary)
    mean, cov = _moments(prop)
    diagonal = _is_diagonal(cov, _tol(np.dtype(tank.dtype)))
    steps = np.asarray(save_steps, dtype=np.int64)
    positive = steps[steps > 0]
    if not diagonal and initial == "cells" and len(positive):
        J = _alias_count(cov * positive.min())
        if (2 * J + 1) ** tank.ndim > _MAX_ALIASES:
            raise ValueError(
                f"the first saved time ({positive.min()} steps) is too short for this correlated kernel: the "
                f"cell-average alias sum needs {(2 * J + 1) ** tank.ndim} terms (at most {_MAX_ALIASES}); "
                f"save later frames, use initial='bandlimited', or method='propagator'"
            )
    coeffs = fourier.forward(field, bnd)
    th = fourier.angles(tank.shape, bnd)
    cdtype = coeffs.dtype
    frames = np.empty((len(steps),) + tank.shape, dtype=np.dtype(field.dtype))
    with _progress.bar(len(steps), progress, desc=NAME) as pbar:
        for i, s in enumerate(steps.tolist()):
            if s == 0:
                frames[i] = np.asarray(field)
                pbar.update(1)
                continue
            if diagonal:
                parts = []
                for a in range(tank.ndim):
                    m = axis_multiplier(th[a], cov[a, a] * s, mean[a] * s if bnd[a] == "periodic" else 0.0,
                                        initial)
                    shape = [1] * tank.ndim
                    shape[a] = -1
                    parts.append((m if jnp.iscomplexobj(coeffs) else m.real).reshape(shape))
                mult = functools.reduce(np.multiply, parts)
            else:
                mult = _full_multiplier(th, cov * s, mean * s, initial)
            frames[i] = np.asarray(_apply(coeffs, jnp.asarray(mult, dtype=cdtype), bnd, tank.shape))
            pbar.update(1)
    absorbed = np.zeros(len(steps), dtype=np.float64)
    if "absorb" in bnd:
        mass0 = float(np.sum(np.asarray(field), dtype=np.float64))
        absorbed = (mass0 - frames.sum(axis=tuple(range(1, frames.ndim)), dtype=np.float64)) * tank.dx**tank.ndim
        absorbed[steps == 0] = 0.0
    D = np.asarray(prop.diffusivity(tank.dx, dt), dtype=np.float64)
    v = np.asarray(prop.drift(tank.dx, dt), dtype=np.float64)
    meta = {"diffusivity": D.tolist(), "drift": v.tolist(), "initial": initial,
            "expected_order": expected_order(prop)}
    return MethodOutput(frames, absorbed, meta)

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
by :func:`declared_order`, measured by the tests): error ~ ``1/n`` for kernels
with zero third cumulant; ~ ``n^-1/2`` for skewed ones, whose skewness the heat
equation cannot carry; and ~ ``n^-1/2`` at absorbing edges for kernels that jump
more than one cell across them: the walk then loses particles from up to ``r``
cells inside the edge, an effective absorbing line that sits a fraction of a
cell away from the half-cell line of the continuum, an offset whose effect
falls only like the width of the profile, ``n^-1/2``.

Each frame's multiplier is computed on the host in float64 (``jax.pure_callback``
from the traced step count), so ``heat`` runs inside :func:`diffusion_conv.rollout`
under ``jit`` and ``vmap``. It is a reference: a derivative with respect to the
kernel raises ``ValueError`` naming the differentiable methods (``propagator``,
``spectral``); the field enters linearly, and derivatives into it work.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..errors import InputError
from ..lattice import transforms as per_axis
from ._continuum import (
    _tol,
    deficit_absorbed,
)
from ._registry import check_mobility_method
from .base import Method, Order, State

INITIAL = ("cells", "bandlimited")

_MAX_ALIASES = 4096


def _moments(prop):
    mean, cov = prop.host_moments()
    return np.asarray(mean, dtype=np.float64), np.asarray(cov, dtype=np.float64)


def _is_diagonal(cov, tol):
    off = cov - np.diag(np.diag(cov))
    return bool(np.max(np.abs(off), initial=0.0) <= tol * max(1.0, float(np.max(np.abs(cov)))))


def _g2(u, sigma):
    """Second antiderivative of the Gaussian density of width ``sigma``: ``u Phi(u/sigma) + sigma^2 phi_sigma(u)``."""
    if sigma == 0:
        return np.maximum(u, 0.0)
    return u * _ndtr(u / sigma) + sigma / math.sqrt(2 * math.pi) * np.exp(-0.5 * (u / sigma) ** 2)


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _ndtr(x):
    """The standard normal CDF, ``erfc(-x / sqrt 2) / 2``, elementwise (the arrays here hold a grid's offsets: a
    few hundred values; ``math.erfc`` spares loading scipy.special, a sixth of a second, on every heat run)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * _ERFC(-x / math.sqrt(2)).astype(np.float64)


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
            raise InputError("the frequency form needs a positive variance")
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


def _check(tank, prop, initial):
    """Raise ``ValueError`` for settings the heat equation cannot solve exactly here."""
    if initial not in INITIAL:
        raise InputError(f"initial {initial!r} is unknown; allowed: {', '.join(INITIAL)}")
    if tank.walls is not None:
        raise InputError(
            "method 'heat' does not support walls (no transform diagonalises a tank with walls); "
            "use method='propagator'"
        )
    means, covs = _moments(prop)
    tol = _tol(np.dtype(tank.dtype))
    for mean, cov in zip(means.reshape(-1, tank.ndim), covs.reshape(-1, tank.ndim, tank.ndim)):
        scale = max(1.0, float(np.max(np.abs(cov))))
        for a, b in enumerate(tank.boundary):
            off = max([abs(cov[a, c]) for c in range(tank.ndim) if c != a], default=0.0)
            why = b.heat_reason(float(mean[a]), off / scale, tol * max(prop.radius))
            if why:
                raise InputError(
                    f"method 'heat' cannot solve axis {a} ({b!r}) exactly: {why} (mean jump "
                    f"{mean.tolist()}, covariance {cov.tolist()}). Use boundary='periodic' along that "
                    f"axis, or method='propagator'"
                )
        if initial == "cells" and not _is_diagonal(cov, tol) and np.linalg.eigvalsh(cov)[0] <= tol * scale:
            raise InputError(
                f"the covariance {cov.tolist()} is singular with off-diagonal entries: the cell-average alias sum "
                f"does not converge; use initial='bandlimited' or method='propagator'"
            )


def multiplier(s, weights, shape, bnd, initial="cells", complex_=True):
    """The multiplier of the transform coefficients at step ``s`` (numpy, float64): cell averages of the solution."""
    prop_w = np.asarray(weights, dtype=np.float64)
    from ..lattice import offsets
    from ..propagator import moments

    mean, cov = moments(prop_w.ravel(), offsets([k // 2 for k in prop_w.shape]), np)
    ndim = len(shape)
    th = per_axis.angles(shape, bnd)
    s = float(s)
    if s == 0:
        return np.ones([len(t) for t in th])
    if _is_diagonal(cov, _tol(np.float64)):
        parts = []
        for a in range(ndim):
            m = axis_multiplier(th[a], cov[a, a] * s, mean[a] * s if bnd[a].wraps else 0.0, initial)
            parts.append((m if complex_ else m.real).reshape([-1 if b == a else 1 for b in range(ndim)]))
        return functools.reduce(np.multiply, parts)
    J = _alias_count(cov * s)
    if initial == "cells" and (2 * J + 1) ** ndim > _MAX_ALIASES:
        raise InputError(
            f"the saved time ({s:g} steps) is too short for this correlated kernel: the cell-average "
            f"alias sum needs {(2 * J + 1) ** ndim} terms (at most {_MAX_ALIASES}); save later frames, "
            f"use initial='bandlimited', or method='propagator'"
        )
    return _full_multiplier(th, cov * s, mean * s, initial)


NOT_DIFFERENTIABLE = (
    "method 'heat' is not differentiable with respect to the kernel (its multipliers are "
    "computed on the host, from the kernel's moments); use method='propagator' or "
    "method='spectral', the differentiable methods"
)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _host_multiplier(host, out, s, weights):
    """The multiplier from the host (``jax.pure_callback``); a derivative into the kernel raises ValueError."""
    return jax.pure_callback(host, out, s, weights, vmap_method="sequential")


def _host_multiplier_jvp(host, out, primals, tangents):
    # Only the kernel (weights) can carry a tangent here: the step count is an integer.
    raise InputError(NOT_DIFFERENTIABLE)


_host_multiplier.defjvp(_host_multiplier_jvp)


@dataclasses.dataclass(frozen=True)
class Static:
    """The static data of a heat state: the boundaries, the grid, the cell volume ``dx**ndim`` and how cells are
    read (``initial``)."""

    boundary: tuple
    shape: tuple
    cell: float
    initial: str


class HeatMethod(Method):
    """``method='heat'``: the continuum advection-diffusion equation, exactly (see the module docstring).

    Option ``initial``: ``'cells'`` (the default: cell averages in and out) or
    ``'bandlimited'``.
    """

    name = "heat"
    kind = "reference"
    options = {"initial": "cells"}
    units = "frame"
    listed = 60

    def validate(self, tank, prop, *, n_particles=None, key=None, **options):
        options = self.check_arguments(n_particles, key, options)
        check_mobility_method(self, tank)
        if options["initial"] not in INITIAL:
            raise InputError(f"initial {options['initial']!r} is unknown; allowed: {', '.join(INITIAL)}")
        if _checks.is_concrete(prop.weights):  # traced kernels: their moments are known only when they run
            _check(tank, prop, options["initial"])
        return options

    def order(self, tank, prop):
        return Order(0.0, "steps", "heat", "the continuum solution itself")

    def check_steps(self, tank, prop, save_steps, options):
        positive = np.asarray(save_steps)[np.asarray(save_steps) > 0]
        if len(positive) and options["initial"] == "cells" and _checks.is_concrete(prop.weights):
            for w in np.asarray(prop.weights, dtype=np.float64).reshape((-1,) + prop.kernel_shape):
                multiplier(int(positive.min()), w, (1,) * tank.ndim, tank.boundary, "cells")

    def init(self, tank, prop, key=None, n_particles=None, prepared=None, initial="cells"):
        bnd = tuple(tank.boundary)
        coeffs = per_axis.forward(tank.concentration, bnd)
        return State(
            Static(bnd, tank.shape, tank.dx**tank.ndim, initial),
            coeffs=coeffs,
            weights=jnp.asarray(
                prop.weights, jnp.float64 if _checks.float_dtype() == np.float64 else prop.weights.dtype
            ),
            s=jnp.zeros((), _checks.step_dtype()),
            mass0=jnp.sum(tank.concentration),
        )

    def advance(self, state, n):
        return state.replace(s=state.s + jnp.asarray(n, state.s.dtype))

    def observe(self, state):
        bnd, shape, cell, initial = (state.static.boundary, state.static.shape, state.static.cell, state.static.initial)
        cdtype = state.coeffs.dtype
        complex_ = jnp.iscomplexobj(state.coeffs)
        wshape = state.weights.shape

        def host(s, w):
            m = multiplier(np.asarray(s), np.asarray(w).reshape(wshape), shape, bnd, initial, complex_)
            return np.asarray(m, dtype=cdtype)

        out = jax.ShapeDtypeStruct(state.coeffs.shape, cdtype)
        mult = _host_multiplier(host, out, state.s, state.weights)
        frame = per_axis.inverse(state.coeffs * mult, bnd, shape).astype(state.mass0.dtype)
        return frame, deficit_absorbed(state.mass0, frame, bnd) * cell

    def memory(self, sizes, options, n_particles, nframes, members, itemsize, prepared=None):
        """Ten fields per member: the coefficients, the multiplier from the host (complex on a periodic
        axis), their product, the transforms' work, the frame and the chunk's buffers."""
        out = super().memory(sizes, options, n_particles, nframes, members, itemsize, prepared)
        out["working"] = 10 * int(members) * sizes.cells * int(itemsize)
        return out

    def meta(self, tank, prop, save_steps, options, prepared=()):
        if prop.batch_shape:
            return {"initial": options["initial"]}
        mean, cov = prop.host_moments()  # on the host: reading the moments compiles nothing
        return {
            "initial": options["initial"],
            "diffusivity_per_step": (cov * tank.dx**2 / 2).tolist(),
            "drift_per_step": (mean * tank.dx).tolist(),
        }

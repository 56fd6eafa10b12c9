"""Transforms that diagonalise one step of the lattice walk, mixed per axis.

Each boundary has its transform (all orthonormal along their axis):

``periodic``
    the FFT (``rfft`` along the last periodic axis); angles ``theta = 2 pi q / n``.
``reflect``
    the DCT-II, basis ``cos(theta (x + 1/2))``, ``theta = pi m / n``, ``m = 0 .. n-1``:
    even about the half-cell mirrors at ``x = -1/2`` and ``x = n - 1/2``.
``absorb``
    the DST-I, basis ``sin(theta (x + 1))``, ``theta = pi m / (n + 1)``, ``m = 1 .. n``:
    odd about the centres of the first cells outside the tank, ``x = -1`` and ``x = n``.

``forward`` applies the real transforms first and the FFT over the periodic
axes last; ``inverse`` undoes it. Everything is ``jax.numpy`` (runs on GPU,
differentiable) and keeps the field's precision (float32 -> complex64).
"""

from __future__ import annotations

import jax.lax as lax
import numpy as np

from .boundaries import ABSORB, PERIODIC, REFLECT, normalize_boundary


def _kinds(bnd):
    """``(boundary, axes)`` per kind of boundary present, real transforms first and the FFT last."""
    bnd = normalize_boundary(bnd, len(bnd))
    out = []
    for kind in (REFLECT, ABSORB, PERIODIC):
        axes = tuple(a for a, b in enumerate(bnd) if b == kind)
        if axes:
            out.append((kind, axes))
    return out


def periodic_axes(bnd) -> tuple[int, ...]:
    """The periodic axes (the last of them carries the real FFT's half spectrum)."""
    return tuple(a for a, b in enumerate(normalize_boundary(bnd, len(bnd))) if b.wraps)


def forward(field, bnd, host: bool = False, workers: int = 1):
    """Transform a real field with each axis's boundary transform (:meth:`diffusion_conv.lattice.Boundary.forward`).

    DCT-II on reflecting axes, DST-I on absorbing ones (all orthonormal), then the
    FFT over the periodic axes.

    Parameters
    ----------
    field : real array, shape ``(n0, ...)``
    bnd : sequence of str, one per axis
    host : bool
        Compute with scipy on numpy arrays (``workers`` threads) instead of ``jax.numpy``.

    Returns
    -------
    array
        Real with the field's shape when no axis is periodic; otherwise complex,
        with the last periodic axis shortened to ``n // 2 + 1`` (``rfft``).
    """
    c = field
    for kind, axes in _kinds(bnd):
        c = kind.forward(c, axes, host, workers)
    return c


def inverse(coeffs, bnd, shape, host: bool = False, workers: int = 1, overwrite: bool = False):
    """Inverse of ``forward``; ``shape`` is the field's shape. Returns a real array.

    ``overwrite=True`` (with ``host``) lets scipy use ``coeffs`` as scratch space
    (its contents are then undefined): for coefficients made for this call only.
    """
    c = coeffs
    for i, (kind, axes) in enumerate(reversed(_kinds(bnd))):
        c = kind.inverse(c, axes, shape, host, workers, overwrite=overwrite or i > 0)
    return c


def angles(shape, bnd) -> list[np.ndarray]:
    """Per axis, the angle ``theta`` (radians per cell) of each coefficient ``forward`` returns.

    Periodic: ``2 pi q / n`` in FFT order (``rfft`` order on the last periodic
    axis); reflecting: ``pi m / n``; absorbing: ``pi m / (n + 1)``, ``m >= 1``.
    """
    bnd = normalize_boundary(bnd, len(shape))
    per = periodic_axes(bnd)
    return [b.angles(n, bool(per) and a == per[-1]) for a, (n, b) in enumerate(zip(shape, bnd))]


def symbol_minus_one(weights, shape, bnd, xp=None):
    """One step's eigenvalue minus one, ``lambda(theta) - 1``, on the grid of ``forward``.

    ``lambda(theta) = sum_d w[d] prod_a E_a(theta_a, d_a)`` with ``E = exp(-i theta d)``
    on periodic axes and ``cos(theta d)`` on the others (exact there only for weights
    symmetric along that axis; callers check), for the weights normalised to sum
    to 1 (a probability distribution, whatever the rounding of their storage).
    Computed as ``sum_d w[d] (prod_a (1 + e_a) - 1)`` expanded over subsets of
    axes, with ``e_a = -2 sin^2(theta d / 2) [- i sin(theta d)]``, so that
    ``lambda - 1`` keeps full relative precision for long waves and
    ``lambda ** n`` stays accurate for large ``n``.

    Parameters
    ----------
    weights : array, the kernel (one member)
    shape : tuple of int, the field's shape
    bnd : sequence of str, one per axis
    xp : module, optional
        ``numpy`` (float64 on the host: what the spectral method uses for
        concrete kernels) or ``jax.numpy`` (traced weights, differentiable); by
        default the module of ``weights``.
    """
    import itertools

    if xp is None:
        import jax.numpy as jnp

        xp = np if isinstance(weights, np.ndarray) else jnp
    w = xp.asarray(weights)
    w = w / xp.sum(w)
    ndim = w.ndim
    bnd = normalize_boundary(bnd, ndim)
    radius = [s // 2 for s in w.shape]
    th = angles(shape, bnd)
    cplx = any(b.wraps for b in bnd)
    rdtype = w.dtype
    cdtype = np.result_type(rdtype, np.complex64) if cplx else rdtype
    mats = []
    for a in range(ndim):
        d = np.arange(-radius[a], radius[a] + 1, dtype=np.float64)
        phase = np.outer(th[a], d)
        e = -2.0 * np.sin(phase / 2) ** 2
        if bnd[a].wraps:
            e = e - 1j * np.sin(phase)
        mats.append(xp.asarray(e.astype(cdtype if bnd[a].wraps else rdtype)))
    letters = "abc"
    wc = w.astype(cdtype)
    mu = None
    for size in range(1, ndim + 1):
        for subset in itertools.combinations(range(ndim), size):
            ops, specs = [wc], [letters[:ndim]]
            for a in subset:
                ops.append(mats[a].astype(cdtype))
                specs.append(letters[a].upper() + letters[a])
            out = "".join(letters[a].upper() for a in subset)
            term = xp.einsum(",".join(specs) + "->" + out, *ops)
            idx = tuple(slice(None) if a in subset else None for a in range(ndim))
            mu = term[idx] if mu is None else mu + term[idx]
    return mu


def log_parts(mu, xp=np):
    """``(log|lambda|, arg lambda, negative, zero)`` of ``lambda = 1 + mu``: what :func:`symbol_power` needs.

    Real ``mu``: ``arg`` is None and ``negative`` marks ``lambda < 0``. Complex
    ``mu``: ``negative`` is None. ``log|lambda|`` keeps full precision both for
    long waves (``|lambda|`` near 1: ``log1p``) and for eigenvalues near 0 (taken
    from ``|1 + mu|`` itself rather than from ``|lambda|^2 - 1``, which cancels there);
    it is clipped at 0, as ``|lambda| <= 1`` for every probability kernel.
    """
    if xp.iscomplexobj(mu):
        re, im = xp.real(mu), xp.imag(mu)
        a = 2 * re + re * re + im * im  # |lambda|^2 - 1
        near_zero = a < -0.5
        mod = xp.hypot(1 + re, im)
        zero = mod == 0
        big = 0.5 * xp.log1p(xp.where(near_zero, 0, a))
        small = xp.log(xp.where(zero, 1, mod))
        log_abs = xp.minimum(xp.where(near_zero, small, big), 0)  # |lambda| <= 1 for a probability kernel
        return log_abs, xp.arctan2(im, 1 + re), None, zero
    lam = 1 + mu
    zero, neg = lam == 0, lam < 0
    log_abs = xp.where(neg, xp.log(xp.where(neg, -lam, 1)), xp.log1p(xp.where(zero | neg, 0, mu)))
    return xp.minimum(log_abs, 0), None, neg, zero


def symbol_power(parts, steps, xp=np):
    """``lambda ** steps`` from :func:`log_parts`, accurate for large ``steps``.

    ``exp(steps log|lambda|)`` times the phase ``steps arg lambda`` (complex) or the
    sign ``(-1) ** steps`` (negative real eigenvalues); eigenvalues that are exactly
    0 give 0 for ``steps > 0``. ``steps`` is a scalar ``>= 0`` (traced under JAX:
    an integer, whose parity is exact, or a float).
    """
    log_abs, phi, neg, zero = parts
    rdtype = log_abs.dtype
    s = xp.asarray(steps).astype(rdtype)
    mag = xp.exp(s * log_abs)
    one_if_zero_steps = xp.where(s == 0, 1, 0).astype(rdtype)
    if phi is not None:
        mag = xp.where(zero, one_if_zero_steps, mag)
        arg = s * phi
        phase = xp.cos(arg) + 1j * xp.sin(arg) if xp is np else jax_complex(xp.cos(arg), xp.sin(arg))
        return mag.astype(np.result_type(rdtype, np.complex64)) * phase
    odd = xp.asarray(steps) % 2 == 1
    mag = xp.where(neg & odd, -mag, mag)
    return xp.where(zero, one_if_zero_steps, mag)


def jax_complex(re, im):
    """``re + i im`` without implicit promotion."""
    return lax.complex(re, im)

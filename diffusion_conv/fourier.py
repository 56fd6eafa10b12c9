"""Transforms that diagonalise one step of the lattice walk, mixed per axis, and the convolution theorem.

Each boundary has its transform (all orthonormal along their axis):

``periodic``
    the FFT (``rfft`` along the last periodic axis); angles ``theta = 2 pi q / n``.
``reflect``
    the DCT-II, basis ``cos(theta (x + 1/2))``, ``theta = pi m / n``, ``m = 0 .. n-1``:
    even about the half-cell mirrors at ``x = -1/2`` and ``x = n - 1/2``.
``absorb``
    the DST-I, basis ``sin(theta (x + 1))``, ``theta = pi m / (n + 1)``, ``m = 1 .. n``:
    odd about the centres of the first cells outside the tank, ``x = -1`` and ``x = n``.

:func:`forward` applies the real transforms first and the FFT over the periodic
axes last; :func:`inverse` undoes it. Everything is ``jax.numpy`` (runs on GPU,
differentiable) and keeps the field's precision (float32 -> complex64).
"""
from __future__ import annotations

import numpy as np

MODES = ("linear", "circular")


def _move(fn, x, axis):
    import jax.numpy as jnp

    return jnp.moveaxis(fn(jnp.moveaxis(x, axis, -1)), -1, axis)


def dst1(x, axis=-1):
    """Orthonormal DST-I along ``axis`` (its own inverse), built from one FFT of length ``2 (n + 1)``.

    ``X[m-1] = sqrt(2 / (n + 1)) sum_x x[x] sin(pi m (x + 1) / (n + 1))``, ``m = 1 .. n``.
    """
    import jax.numpy as jnp

    def last(v):
        n = v.shape[-1]
        z = jnp.zeros(v.shape[:-1] + (1,), v.dtype)
        ext = jnp.concatenate([z, v, z, -jnp.flip(v, -1)], axis=-1)
        spec = jnp.fft.rfft(ext, axis=-1)[..., 1:n + 1]
        return (-jnp.imag(spec) * float(np.sqrt(0.5 / (n + 1)))).astype(v.dtype)

    return _move(last, x, axis)


def dct2(x, axis=-1):
    """Orthonormal DCT-II along ``axis`` (``jax.scipy.fft.dct(norm='ortho')``)."""
    from jax.scipy.fft import dct

    return dct(x, type=2, axis=axis, norm="ortho")


def idct2(x, axis=-1):
    """Inverse of :func:`dct2`."""
    from jax.scipy.fft import idct

    return idct(x, type=2, axis=axis, norm="ortho")


def periodic_axes(boundary) -> tuple[int, ...]:
    return tuple(a for a, b in enumerate(boundary) if b == "periodic")


def forward(field, boundary):
    """Transform a real field: DST-I on absorbing axes, DCT-II on reflecting ones, FFT on periodic ones.

    Parameters
    ----------
    field : real array, shape ``(n0, ...)``
    boundary : sequence of str, one per axis

    Returns
    -------
    array
        Real with the field's shape when no axis is periodic; otherwise complex,
        with the last periodic axis shortened to ``n // 2 + 1`` (``rfft``).
    """
    import jax.numpy as jnp

    c = field
    for a, b in enumerate(boundary):
        if b == "reflect":
            c = dct2(c, a)
        elif b == "absorb":
            c = dst1(c, a)
    per = periodic_axes(boundary)
    if per:
        c = jnp.fft.rfftn(c, axes=per)
    return c


def inverse(coeffs, boundary, shape):
    """Inverse of :func:`forward`; ``shape`` is the field's shape. Returns a real array."""
    import jax.numpy as jnp

    c = coeffs
    per = periodic_axes(boundary)
    if per:
        c = jnp.fft.irfftn(c, s=[shape[a] for a in per], axes=per)
    for a, b in enumerate(boundary):
        if b == "reflect":
            c = idct2(c, a)
        elif b == "absorb":
            c = dst1(c, a)
    return c


def angles(shape, boundary) -> list[np.ndarray]:
    """Per axis, the angle ``theta`` (radians per cell) of each coefficient :func:`forward` returns.

    Periodic: ``2 pi q / n`` in FFT order (``rfft`` order on the last periodic
    axis); reflecting: ``pi m / n``; absorbing: ``pi m / (n + 1)``, ``m >= 1``.
    """
    per = periodic_axes(boundary)
    out = []
    for a, (n, b) in enumerate(zip(shape, boundary)):
        if b == "periodic":
            q = np.fft.rfftfreq(n) if a == per[-1] else np.fft.fftfreq(n)
            out.append(2 * np.pi * q)
        elif b == "reflect":
            out.append(np.pi * np.arange(n) / n)
        else:
            out.append(np.pi * np.arange(1, n + 1) / (n + 1))
    return out


def _sum_minus_one(w):
    """``sum(w) - 1`` with compensated (Neumaier) summation: the mass defect of one step."""
    import jax
    import jax.numpy as jnp

    one = jnp.ones((), w.dtype)

    def body(carry, v):
        s, c = carry
        t = s + v
        c = c + jnp.where(jnp.abs(s) >= jnp.abs(v), (s - t) + v, (v - t) + s)
        return (t, c), None

    (s, c), _ = jax.lax.scan(body, (-one, jnp.zeros((), w.dtype)), jnp.ravel(w))
    return s + c


def symbol_minus_one(weights, shape, boundary):
    """One step's eigenvalue minus one, ``lambda(theta) - 1``, on the grid of :func:`forward`.

    ``lambda(theta) = sum_d w[d] prod_a E_a(theta_a, d_a)`` with ``E = exp(-i theta d)``
    on periodic axes and ``cos(theta d)`` on the others (exact there only for weights
    symmetric along that axis; callers check). Computed as
    ``prod_a (1 + e_a) - 1`` expanded over subsets of axes, with
    ``e_a = -2 sin^2(theta d / 2) [- i sin(theta d)]``, so that ``lambda - 1`` keeps
    full relative precision for long waves and ``lambda ** n`` stays accurate for
    large ``n``. The defect ``sum(w) - 1`` of the stored weights (a few ulp) is
    summed with compensation and carried exactly, as the step itself carries it.
    """
    import itertools

    import jax.numpy as jnp

    w = jnp.asarray(weights)
    ndim = w.ndim
    radius = [s // 2 for s in w.shape]
    th = angles(shape, boundary)
    cplx = "periodic" in boundary
    rdtype = w.dtype
    cdtype = (jnp.complex128 if rdtype == jnp.float64 else jnp.complex64) if cplx else rdtype
    mats = []
    for a in range(ndim):
        d = np.arange(-radius[a], radius[a] + 1, dtype=np.float64)
        phase = np.outer(th[a], d)
        e = -2.0 * np.sin(phase / 2) ** 2
        if boundary[a] == "periodic":
            e = e - 1j * np.sin(phase)
        mats.append(jnp.asarray(e, dtype=cdtype if boundary[a] == "periodic" else rdtype))
    letters = "abc"
    wc = w.astype(cdtype)
    mu = _sum_minus_one(w).astype(cdtype)
    for size in range(1, ndim + 1):
        for subset in itertools.combinations(range(ndim), size):
            ops, specs = [wc], [letters[:ndim]]
            for a in range(ndim):
                if a in subset:
                    ops.append(mats[a].astype(cdtype))
                    specs.append(letters[a].upper() + letters[a])
            out = "".join(letters[a].upper() if a in subset else "" for a in range(ndim))
            term = jnp.einsum(",".join(specs) + "->" + out, *ops)
            idx = tuple(slice(None) if a in subset else None for a in range(ndim))
            mu = mu + term[idx]
    return mu


def jax_complex(re, im):
    """``re + i im`` without implicit promotion."""
    import jax.lax as lax

    return lax.complex(re, im)


def symbol_power(mu, steps):
    """``(1 + mu) ** steps`` for a real or complex array ``mu``, accurate for large ``steps``.

    ``steps`` is a (traced) scalar >= 0. Uses ``exp(steps * log1p(mu))`` so that
    long waves (``mu`` near 0) keep full precision; eigenvalues that are exactly
    0 give 0 for ``steps > 0`` with finite gradients.
    """
    import jax.numpy as jnp

    s = jnp.asarray(steps, dtype=jnp.real(mu).dtype)
    if jnp.iscomplexobj(mu):
        re, im = jnp.real(mu), jnp.imag(mu)
        a = 2 * re + re * re + im * im  # |lambda|^2 - 1
        zero = a <= -1
        log_abs = 0.5 * jnp.log1p(jnp.where(zero, 0, a))
        phi = jnp.arctan2(im, 1 + re)
        mag = jnp.where(zero, jnp.where(s == 0, 1, 0), jnp.exp(s * log_abs))
        arg = s * phi
        return mag.astype(mu.dtype) * jax_complex(jnp.cos(arg), jnp.sin(arg))
    lam = 1 + mu
    zero = lam == 0
    neg = lam < 0
    safe = jnp.where(zero | neg, 0, mu)
    log_abs = jnp.where(neg, jnp.log(jnp.where(neg, -lam, 1)), jnp.log1p(safe))
    mag = jnp.exp(s * log_abs)
    odd = jnp.mod(s, 2) == 1
    sign = jnp.where(neg & odd, -1, 1).astype(mu.dtype)
    return jnp.where(zero, jnp.where(s == 0, 1, 0).astype(mu.dtype), sign * mag)


# -- the convolution theorem --------------------------------------------------------------
def _check_conv(a, kernel, mode):
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is unknown; allowed: {', '.join(MODES)}")
    for name, x in (("a", a), ("kernel", kernel)):
        if np.iscomplexobj(x) or not np.issubdtype(np.asarray(x).dtype, np.number):
            raise TypeError(f"{name} must be a real numeric array, got dtype {np.asarray(x).dtype}")
    if np.ndim(a) != np.ndim(kernel) or np.ndim(a) not in (1, 2, 3):
        raise ValueError(
            f"a and kernel must both be 1-D, 2-D or 3-D with the same number of axes, "
            f"got shapes {np.shape(a)} and {np.shape(kernel)}"
        )
    if mode == "circular" and any(s % 2 == 0 for s in np.shape(kernel)):
        raise ValueError(
            f"kernel must be odd-sized along every axis (its centre is offset 0) for mode='circular', "
            f"got shape {np.shape(kernel)}"
        )


def convolve_direct(a, kernel, mode="linear"):
    """Convolution by its definition, one shifted copy per kernel entry (numpy, float64).

    ``mode='linear'``: the full convolution ``out[i] = sum_j a[j] kernel[i - j]``,
    shape ``a.shape + kernel.shape - 1`` (zero outside ``a``).
    ``mode='circular'``: ``out[x] = sum_d kernel[r + d] a[(x - d) mod n]`` with the
    kernel centred (odd-sized, ``r`` its radius), shape ``a.shape``: one step of the
    lattice walk on a periodic tank.
    """
    _check_conv(a, kernel, mode)
    a = np.asarray(a, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    if mode == "linear":
        out = np.zeros(tuple(n + m - 1 for n, m in zip(a.shape, k.shape)))
        for idx in np.ndindex(k.shape):
            out[tuple(slice(i, i + n) for i, n in zip(idx, a.shape))] += k[idx] * a
        return out
    out = np.zeros_like(a)
    for idx in np.ndindex(k.shape):
        d = tuple(i - s // 2 for i, s in zip(idx, k.shape))
        out += k[idx] * np.roll(a, d, axis=tuple(range(a.ndim)))
    return out


def convolve_fft(a, kernel, mode="linear"):
    """The convolution theorem: convolve by multiplying Fourier transforms.

    Parameters
    ----------
    a, kernel : real arrays with the same number of axes (1-D to 3-D)
    mode : {'linear', 'circular'}
        ``'linear'``: both arrays are zero-padded to ``a.shape + kernel.shape - 1``
        before the FFT, so the circular wrap-around of the discrete transform falls
        into the padding and the result is the full (non-circular) convolution.
        ``'circular'``: the kernel, centred (odd-sized), is wrapped onto ``a``'s grid
        and the product of the transforms gives the periodic convolution.

    Returns
    -------
    jax array
        Same values as :func:`convolve_direct` to rounding; differentiable in both
        arguments, in the arrays' precision.
    """
    import jax.numpy as jnp

    _check_conv(a, kernel, mode)
    a = jnp.asarray(a)
    k = jnp.asarray(kernel, dtype=a.dtype) if jnp.issubdtype(a.dtype, jnp.floating) else jnp.asarray(kernel)
    axes = tuple(range(a.ndim))
    if mode == "linear":
        size = [n + m - 1 for n, m in zip(a.shape, k.shape)]
        fa = jnp.fft.rfftn(a, s=size, axes=axes)
        fk = jnp.fft.rfftn(k, s=size, axes=axes)
        return jnp.fft.irfftn(fa * fk, s=size, axes=axes)
    wrapped = jnp.zeros(a.shape, k.dtype)
    idx = np.indices(k.shape).reshape(k.ndim, -1)
    target = tuple(np.mod(i - s // 2, n) for i, s, n in zip(idx, k.shape, a.shape))
    wrapped = wrapped.at[target].add(jnp.ravel(k))
    fa = jnp.fft.rfftn(a, axes=axes)
    return jnp.fft.irfftn(fa * jnp.fft.rfftn(wrapped, axes=axes), s=a.shape, axes=axes)

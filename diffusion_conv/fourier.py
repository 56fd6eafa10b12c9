"""The convolution theorem and the Fourier pictures of the story.

:func:`convolve_direct` and :func:`convolve_fft` (the same convolution, directly
and by the convolution theorem); :func:`log_magnitude`, :func:`lowpass` and
:func:`cross_correlate` (the pictures of the story's Fourier chapters). The
transforms that diagonalise the lattice walk per axis (DCT-II at reflecting
walls, DST-I at absorbing edges, the FFT on periodic axes) live in
:mod:`diffusion_conv.lattice.transforms`.
"""

from __future__ import annotations

import numpy as np

from . import _checks
from .errors import InputError, InputTypeError

__all__ = ["convolve_direct", "convolve_fft", "cross_correlate", "log_magnitude", "lowpass"]

MODES = ("linear", "circular")


# -- the convolution theorem --------------------------------------------------------------
def _check_conv(a, kernel, mode):
    if mode not in MODES:
        raise InputError(f"mode {mode!r} is unknown; allowed: {', '.join(MODES)}")
    for name, x in (("a", a), ("kernel", kernel)):
        if np.iscomplexobj(x) or not np.issubdtype(np.asarray(x).dtype, np.number):
            raise InputTypeError(f"{name} must be a real numeric array, got dtype {np.asarray(x).dtype}")
    if np.ndim(a) != np.ndim(kernel) or np.ndim(a) not in (1, 2, 3):
        raise InputError(
            f"a and kernel must both be 1-D, 2-D or 3-D with the same number of axes, "
            f"got shapes {np.shape(a)} and {np.shape(kernel)}"
        )
    if mode == "circular" and any(s % 2 == 0 for s in np.shape(kernel)):
        raise InputError(
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

    The kernel is odd-sized along every axis in both modes, as every kernel of
    the package is (its centre is offset 0); others raise ValueError.
    """
    _check_conv(a, kernel, mode)
    if any(s % 2 == 0 for s in np.shape(kernel)):
        raise InputError(
            f"kernel must be odd-sized along every axis (its centre is offset 0), got shape {np.shape(kernel)}"
        )
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


# -- the seed's pictures: spectra, frequency filters, template matching -------------------
CORRELATE_MODES = ("linear", "valid", "circular")


def _dtype_of(x):
    """The dtype of an array, a JAX tracer or anything ``np.asarray`` takes, without copying a tracer."""
    dtype = getattr(x, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(x).dtype


def _as_float(name, x, allow_complex):
    """``x`` as a JAX array in a floating (or complex) dtype, checked: numeric, 1-D to 3-D.

    float32 and complex64 stay in single precision; float64 and complex128 stay double when JAX's x64
    mode is on; integers and booleans become the default float dtype.
    """
    import jax.numpy as jnp

    dtype = _dtype_of(x)
    if dtype.kind == "O" or not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
        raise InputTypeError(f"{name} must be a numeric array, got dtype {dtype}")
    if np.issubdtype(dtype, np.complexfloating) and not allow_complex:
        raise InputTypeError(f"{name} must be real, got dtype {dtype}")
    ndim = len(getattr(x, "shape", np.shape(x)))
    if ndim not in (1, 2, 3):
        raise InputError(f"{name} must be 1-D, 2-D or 3-D, got {ndim}-D with shape {tuple(np.shape(x))}")
    if np.issubdtype(dtype, np.inexact):
        out = jnp.asarray(x)
    else:
        out = jnp.asarray(x, dtype=_checks.float_dtype())
    if _checks.is_concrete(out) and not bool(jnp.all(jnp.isfinite(out))):
        raise InputError(f"{name} must be finite; it holds NaN or infinite values")
    return out


def _complex_of(dtype):
    import jax.numpy as jnp

    return jnp.complex128 if np.dtype(dtype) in (np.float64, np.complex128) else jnp.complex64


def log_magnitude(a):
    """The centred log spectrum of an array: ``log1p(|fftshift(fftn(a))|)``.

    The picture of a spectrum: the discrete Fourier transform over every axis
    (unnormalised, numpy's convention: ``F[q] = sum_x a[x] exp(-2 pi i q . x / n)``),
    its magnitude, shifted so that the zero frequency sits in the middle, and
    ``log1p`` (``log(1 + |F|)``) so that the mean (``F[0] = sum(a)``, far larger
    than the rest) and the faint high frequencies show on one colour scale, and
    a zero magnitude maps to 0 rather than ``-inf``.

    Parameters
    ----------
    a : array_like, shape ``(n0,)``, ``(n0, n1)`` or ``(n0, n1, n2)``
        A real or complex field (an image); integers and booleans are read as floats.

    Returns
    -------
    jax.Array
        Real, the shape of ``a``, in ``a``'s precision (float32 for float32 or
        complex64 input). The entry at index ``i`` along axis ``j`` is the
        frequency ``(i - n_j // 2) / n_j`` cycles per cell
        (``np.fft.fftshift(np.fft.fftfreq(n_j))``): the zero frequency is at
        ``n_j // 2``. A pattern of stripes shows as two bright spots on the line
        through the centre perpendicular to the stripes, so rotating an image
        rotates its spectrum by the same angle.

    Raises
    ------
    TypeError
        ``a`` is not numeric.
    ValueError
        ``a`` is not 1-D to 3-D, or holds NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from diffusion_conv import fourier
    >>> x = np.arange(64)
    >>> stripes = np.cos(2 * np.pi * 8 * x / 64)[None, :] * np.ones((64, 1))  # 8 periods along axis 1
    >>> spec = np.asarray(fourier.log_magnitude(stripes))
    >>> sorted(np.argwhere(spec > 5).tolist())  # frequencies -8/64 and +8/64 on row 32
    [[32, 24], [32, 40]]
    """
    import jax.numpy as jnp

    x = _as_float("a", a, allow_complex=True)
    axes = tuple(range(x.ndim))
    return jnp.log1p(jnp.abs(jnp.fft.fftshift(jnp.fft.fftn(x, axes=axes), axes=axes)))


def _cutoff(cutoff, ndim):
    import numbers

    if isinstance(cutoff, bool) or not isinstance(cutoff, (numbers.Real, np.floating, np.integer)):
        raise InputTypeError(
            f"cutoff must be a real number (cycles per cell), got {cutoff!r} ({type(cutoff).__name__})"
        )
    cutoff = float(cutoff)
    top = 0.5 * np.sqrt(ndim)
    if not (0.0 < cutoff < top):
        raise InputError(
            f"cutoff must lie in (0, {top:.6g}) cycles per cell for a {ndim}-D array "
            f"(0 keeps nothing, 0.5 sqrt({ndim}) = {top:.6g} is the largest |k| on the grid), got {cutoff!r}"
        )
    return cutoff


def lowpass(a, cutoff):
    """Keep exactly the frequencies with ``|k| < cutoff`` (cycles per cell): the ideal low-pass filter.

    The field is transformed over every axis (``fftn``; ``rfftn`` for a real
    field), every coefficient whose frequency ``k = (k_0, ..., k_{d-1})``, with
    ``k_j = np.fft.fftfreq(n_j)[q_j]`` in ``[-1/2, 1/2)``, has
    ``sqrt(sum_j k_j^2) >= cutoff`` (compared in float64) is set to zero, and the
    result is transformed back. The disc (sphere) mask is a periodic
    convolution: ``lowpass(a, c)`` equals the circular convolution of ``a`` with
    the kernel ``ifftn(mask)``, a sampled Airy pattern (a sinc in 1-D) whose
    negative side lobes ring at sharp edges (the Gibbs phenomenon). A Gaussian
    blur, whose transform has no edge, does not ring.

    Parameters
    ----------
    a : array_like, shape ``(n0,)``, ``(n0, n1)`` or ``(n0, n1, n2)``
        A real or complex field, periodic along every axis (as the DFT reads it).
    cutoff : float
        In cycles per cell, in the open interval ``(0, sqrt(d) / 2)`` for a
        ``d``-dimensional field: ``1/2`` is the Nyquist frequency of one axis and
        ``sqrt(d) / 2`` the corner of the frequency grid, beyond which nothing
        would be removed. A wavelength of ``L`` cells is kept when ``1 / L < cutoff``.

    Returns
    -------
    jax.Array
        The shape and precision of ``a``; real for a real ``a`` (the mask is
        symmetric under ``k -> -k``). The mean (``k = 0``) is always kept, so the
        sum of the field is unchanged.

    Raises
    ------
    TypeError
        ``a`` is not numeric, or ``cutoff`` is not a real number.
    ValueError
        ``a`` is not 1-D to 3-D or not finite, or ``cutoff`` lies outside ``(0, sqrt(d) / 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from diffusion_conv import fourier
    >>> x = np.arange(32)
    >>> slow, fast = np.sin(2 * np.pi * 2 * x / 32), np.sin(2 * np.pi * 10 * x / 32)
    >>> np.allclose(fourier.lowpass(slow + fast, cutoff=0.2), slow, atol=1e-6)  # 2/32 kept, 10/32 removed
    True
    """
    import jax.numpy as jnp

    x = _as_float("a", a, allow_complex=True)
    c = _cutoff(cutoff, x.ndim)
    axes = tuple(range(x.ndim))
    real = not jnp.iscomplexobj(x)
    freqs = [np.fft.fftfreq(n) for n in x.shape]
    if real:
        freqs[-1] = np.fft.rfftfreq(x.shape[-1])
    k2 = sum(np.reshape(f, [-1 if j == i else 1 for j in range(x.ndim)]) ** 2 for i, f in enumerate(freqs))
    cdtype = _complex_of(x.dtype)
    mask = jnp.asarray(np.sqrt(k2) < c, dtype=cdtype)
    if real:
        return jnp.fft.irfftn(jnp.fft.rfftn(x, axes=axes) * mask, s=x.shape, axes=axes)
    return jnp.fft.ifftn(jnp.fft.fftn(x, axes=axes) * mask, axes=axes)


def cross_correlate(a, template, mode="linear"):
    """Cross-correlation of an array with a template: the convolution with the flipped template.

    ``c[s] = sum_j a[s + j] template[j]``: the template laid over ``a`` with its
    first entry at ``s``, multiplied entry by entry and summed. It equals
    ``convolve_fft(a, flipped template)`` (every axis reversed), and is computed
    as ``ifft(fft(a) * conj(fft(template)))``. Where the template matches a
    patch of ``a`` the sum is large: the peak marks where the template sits
    (best after normalising, see the cross-correlation chapter of the docs).

    Parameters
    ----------
    a, template : array_like, real, the same number of axes (1-D to 3-D)
        Integers and booleans are read as floats; ``template`` is computed in ``a``'s precision.
    mode : {'linear', 'valid', 'circular'}
        ``'linear'``: every overlap, shape ``a.shape + template.shape - 1``; entry
        ``i`` holds the shift ``s = i - (template.shape - 1)`` (zero outside ``a``),
        as ``scipy.signal.correlate(mode='full')``.
        ``'valid'``: only the shifts with the template entirely inside ``a``, shape
        ``a.shape - template.shape + 1``; entry ``s`` is the template's first entry
        at ``a[s]``. The template must not be larger than ``a`` along any axis.
        ``'circular'``: ``a`` periodic and the template centred (odd-sized, radius
        ``r``), shape ``a.shape``; ``c[x] = sum_d template[r + d] a[(x + d) mod n]``,
        so the peak is where the template's centre sits.

    Returns
    -------
    jax.Array
        Real, in ``a``'s precision, with the shape given by ``mode``.
        Differentiable in both arguments.

    Raises
    ------
    TypeError
        ``a`` or ``template`` is complex or not numeric.
    ValueError
        Unknown ``mode``; different numbers of axes; not 1-D to 3-D; a template
        larger than ``a`` in ``'valid'`` mode; an even-sized template in
        ``'circular'`` mode.

    Examples
    --------
    >>> import numpy as np
    >>> from diffusion_conv import fourier
    >>> a = np.zeros(10); a[6:9] = [1.0, 2.0, 3.0]
    >>> int(np.argmax(fourier.cross_correlate(a, np.array([1.0, 2.0, 3.0]), mode="valid")))
    6
    """
    import jax.numpy as jnp

    if mode not in CORRELATE_MODES:
        raise InputError(f"mode {mode!r} is unknown; allowed: {', '.join(CORRELATE_MODES)}")
    x = _as_float("a", a, allow_complex=False)
    t_dtype = _dtype_of(template)
    if np.issubdtype(t_dtype, np.complexfloating):
        raise InputTypeError(f"template must be real, got dtype {t_dtype}")
    if t_dtype.kind == "O" or not (np.issubdtype(t_dtype, np.number) or t_dtype.kind == "b"):
        raise InputTypeError(f"template must be a numeric array, got dtype {t_dtype}")
    t_shape = tuple(getattr(template, "shape", np.shape(template)))
    if len(t_shape) != x.ndim:
        raise InputError(f"a and template must have the same number of axes, got shapes {x.shape} and {t_shape}")
    t = _as_float("template", template, allow_complex=False).astype(x.dtype)
    axes = tuple(range(x.ndim))
    if mode == "valid":
        too_big = [j for j, (n, m) in enumerate(zip(x.shape, t.shape)) if m > n]
        if too_big:
            raise InputError(
                f"template of shape {t.shape} is larger than a of shape {x.shape} along axis {too_big[0]}; "
                f"mode='valid' needs the template to fit inside a (allowed: template.shape <= a.shape on every "
                f"axis); use mode='linear' for every overlap"
            )
    if mode == "circular":
        if any(m % 2 == 0 for m in t.shape):
            raise InputError(
                f"template must be odd-sized along every axis (its centre is offset 0) for "
                f"mode='circular', got shape {t.shape}"
            )
        idx = np.indices(t.shape).reshape(t.ndim, -1)
        target = tuple(np.mod(i - m // 2, n) for i, m, n in zip(idx, t.shape, x.shape))
        wrapped = jnp.zeros(x.shape, x.dtype).at[target].add(jnp.ravel(t))
        prod = jnp.fft.rfftn(x, axes=axes) * jnp.conj(jnp.fft.rfftn(wrapped, axes=axes))
        return jnp.fft.irfftn(prod, s=x.shape, axes=axes)
    size = [n + m - 1 for n, m in zip(x.shape, t.shape)]
    prod = jnp.fft.rfftn(x, s=size, axes=axes) * jnp.conj(jnp.fft.rfftn(t, s=size, axes=axes))
    full = jnp.fft.irfftn(prod, s=size, axes=axes)  # full[s mod N] = sum_j a[j + s] template[j]
    if mode == "valid":
        return full[tuple(slice(0, n - m + 1) for n, m in zip(x.shape, t.shape))]
    return jnp.roll(full, [m - 1 for m in t.shape], axis=axes)

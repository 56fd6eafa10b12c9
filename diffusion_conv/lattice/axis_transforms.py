"""The one-axis transforms of the boundaries, in ``jax.numpy``: the orthonormal DST-I and DCT-II along one axis."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.fft import dct, idct


def _move(fn, x, axis):
    return jnp.moveaxis(fn(jnp.moveaxis(x, axis, -1)), -1, axis)


def dst1(x, axis=-1):
    """Orthonormal DST-I along ``axis`` (its own inverse), built from one FFT of length ``2 (n + 1)``.

    ``X[m-1] = sqrt(2 / (n + 1)) sum_x x[x] sin(pi m (x + 1) / (n + 1))``, ``m = 1 .. n``.
    """

    def last(v):
        n = v.shape[-1]
        z = jnp.zeros(v.shape[:-1] + (1,), v.dtype)
        ext = jnp.concatenate([z, v, z, -jnp.flip(v, -1)], axis=-1)
        spec = jnp.fft.rfft(ext, axis=-1)[..., 1 : n + 1]
        return (-jnp.imag(spec) * float(np.sqrt(0.5 / (n + 1)))).astype(v.dtype)

    return _move(last, x, axis)


def dct2(x, axis=-1):
    """Orthonormal DCT-II along ``axis`` (``jax.scipy.fft.dct(norm='ortho')``)."""
    return dct(x, type=2, axis=axis, norm="ortho")


def idct2(x, axis=-1):
    """Inverse of :func:`dct2`."""
    return idct(x, type=2, axis=axis, norm="ortho")

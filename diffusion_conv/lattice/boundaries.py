"""The boundaries: one object per edge rule, owning its fold, its transform and where each is exact."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError
from . import axis_transforms


def symmetric_along(w, axis: int) -> bool:
    """Whether ``w`` equals its mirror along ``axis`` to a few units of rounding of its dtype."""
    w = np.asarray(w)
    eps = np.finfo(w.dtype if np.issubdtype(w.dtype, np.floating) else np.float64).eps
    tol = 8 * eps * max(float(np.max(np.abs(w))), 1e-300)
    return bool(np.max(np.abs(w - np.flip(w, axis=axis))) <= tol)


class Boundary(str):
    """The edge rule of one axis: a string (its name) with the behaviour every method needs.

    Attributes
    ----------
    scipy_mode : str
        The ``scipy.ndimage`` mode of the same edge (for the ``image`` method).
    numpy_pad : str
        The ``numpy.pad`` mode of the same edge.
    transform : str
        The transform that diagonalises the walk along this axis.
    conserves : bool
        Whether mass stays in the tank (``False`` for an absorbing edge).
    wraps : bool
        Whether the axis is a ring (periodic): the walk is translation invariant
        along it, its transform is the complex FFT, drift and cross-diffusion
        stay in every mode, and a free walk may skip ahead.
    """

    scipy_mode = numpy_pad = transform = ""
    conserves = True
    wraps = False

    def __new__(cls):
        return super().__new__(cls, cls.name)

    def __reduce__(self):
        return (boundary, (str(self),))

    # -- the process ------------------------------------------------------------------
    def fold(self, z, n: int, xp=np):
        """Map unfolded integer coordinates ``z`` into ``[0, n)``; ``-1`` where the target is absorbed."""
        raise NotImplementedError

    def fold_chunk(self, k: int, n: int):
        """Where chunk ``k`` of the unfolded line (coordinates ``[k n, (k + 1) n)``) goes.

        Returns ``(flip, shift)``: the coordinates ``z`` of the chunk land on
        ``(k + 1) n - 1 - z`` when ``flip``, else on ``z - k n``; ``None`` when the
        chunk is absorbed. Chunk 0 is the tank itself.
        """
        raise NotImplementedError

    # -- transforms ---------------------------------------------------------------------
    def angles(self, n: int, last_periodic: bool = False) -> np.ndarray:
        """The angle ``theta`` (radians per cell) of each coefficient of :meth:`forward` along an axis of ``n`` cells."""
        raise NotImplementedError

    def forward(self, c, axes, host: bool = False, workers: int = 1):
        """This boundary's orthonormal transform of ``c`` along every axis in ``axes``.

        ``host=True`` computes it with scipy's pocketfft on numpy arrays (``workers``
        threads), otherwise with ``jax.numpy`` (any device, differentiable).
        """
        raise NotImplementedError

    def inverse(self, c, axes, shape, host: bool = False, workers: int = 1, overwrite: bool = False):
        """The inverse of :meth:`forward`; ``shape`` is the field's shape (``overwrite``: scipy may use ``c`` as
        scratch space)."""
        raise NotImplementedError

    def spectral_reason(self, w, axis: int) -> str | None:
        """Why the transform does not diagonalise the walk of kernel ``w`` along ``axis``, or None."""
        return None

    def heat_reason(self, mean_a: float, cross: float, tol: float) -> str | None:
        """Why the heat equation cannot be solved exactly with drift ``mean_a`` and largest cross-covariance ``cross``."""
        if abs(mean_a) > tol:
            return (
                f"drift (mean jump {mean_a:.3g} cells) turns cosine/sine modes into each other and the "
                f"{self} boundary then couples every mode"
            )
        if cross > tol:
            return "it needs a diagonal diffusion tensor: cross-diffusion maps cosine/sine modes onto sines/cosines"
        return None

    def __repr__(self):
        return f"Boundary({str(self)!r})"


class _Periodic(Boundary):
    name = "periodic"
    scipy_mode, numpy_pad, transform = "wrap", "wrap", "fft"
    wraps = True

    def fold(self, z, n, xp=np):
        return xp.mod(z, n)

    def fold_chunk(self, k, n):
        return (False, k * n)

    def angles(self, n, last_periodic=False):
        q = np.fft.rfftfreq(n) if last_periodic else np.fft.fftfreq(n)
        return 2 * np.pi * q

    def forward(self, c, axes, host=False, workers=1):
        if host:
            from scipy import fft

            return fft.rfftn(c, axes=axes, workers=workers)
        import jax.numpy as jnp

        return jnp.fft.rfftn(c, axes=axes)

    def inverse(self, c, axes, shape, host=False, workers=1, overwrite=False):
        s = [shape[a] for a in axes]
        if host:
            from scipy import fft

            return fft.irfftn(c, s=s, axes=axes, workers=workers, overwrite_x=overwrite)
        import jax.numpy as jnp

        return jnp.fft.irfftn(c, s=s, axes=axes)

    def heat_reason(self, mean_a, cross, tol):
        return None  # the FFT carries drift and the full tensor


def _real_transform(c, axes, host, workers, scipy_name, kind, jax_name, overwrite=False):
    """An orthonormal real transform along ``axes``: scipy's ``scipy_name`` (type ``kind``) on the host,
    else the one-axis ``jax_name`` of :mod:`.axis_transforms` axis after axis."""
    if host:
        from scipy import fft

        return getattr(fft, scipy_name)(c, type=kind, axes=axes, norm="ortho", workers=workers, overwrite_x=overwrite)
    for a in axes:
        c = getattr(axis_transforms, jax_name)(c, a)
    return c


class _Reflect(Boundary):
    name = "reflect"
    scipy_mode, numpy_pad, transform = "reflect", "symmetric", "dct-ii"

    def fold(self, z, n, xp=np):
        m = xp.mod(z, 2 * n)
        return xp.where(m < n, m, 2 * n - 1 - m)

    def fold_chunk(self, k, n):
        return (True, None) if k % 2 else (False, k * n)

    def angles(self, n, last_periodic=False):
        return np.pi * np.arange(n) / n

    def forward(self, c, axes, host=False, workers=1):
        return _real_transform(c, axes, host, workers, "dctn", 2, "dct2")

    def inverse(self, c, axes, shape, host=False, workers=1, overwrite=False):
        return _real_transform(c, axes, host, workers, "idctn", 2, "idct2", overwrite)

    def spectral_reason(self, w, axis):
        if not symmetric_along(w, axis):
            return (
                f"axis {axis} reflects and the kernel is not symmetric along it; the DCT diagonalises the "
                f"half-cell mirror only for kernels with w[d] = w[-d] along that axis"
            )
        return None


class _Absorb(Boundary):
    name = "absorb"
    scipy_mode, numpy_pad, transform = "constant", "constant", "dst-i"
    conserves = False

    def fold(self, z, n, xp=np):
        return xp.where((z >= 0) & (z < n), z, -1)

    def fold_chunk(self, k, n):
        return (False, 0) if k == 0 else None

    def angles(self, n, last_periodic=False):
        return np.pi * np.arange(1, n + 1) / (n + 1)

    def forward(self, c, axes, host=False, workers=1):
        return _real_transform(c, axes, host, workers, "dstn", 1, "dst1")

    def inverse(self, c, axes, shape, host=False, workers=1, overwrite=False):
        # the orthonormal DST-I is its own inverse
        return _real_transform(c, axes, host, workers, "dstn", 1, "dst1", overwrite)

    def spectral_reason(self, w, axis):
        w = np.asarray(w)
        r = w.shape[axis] // 2
        if r >= 2:
            far = np.take(w, [i for i in range(w.shape[axis]) if abs(i - r) >= 2], axis=axis)
            if np.any(far != 0):
                return (
                    f"axis {axis} absorbs and the kernel jumps {r} cells along it; the sine transform is "
                    f"exact at an absorbing edge only for jumps of at most one cell"
                )
        if not symmetric_along(w, axis):
            return (
                f"axis {axis} absorbs and the kernel is not symmetric along it; the sine transform needs "
                f"w[d] = w[-d] along an absorbing axis"
            )
        return None


PERIODIC, REFLECT, ABSORB = _Periodic(), _Reflect(), _Absorb()
BOUNDARIES = {b: b for b in (REFLECT, PERIODIC, ABSORB)}
"""The boundaries by name, in the order they are listed in messages."""


def boundary(name) -> Boundary:
    """The :class:`Boundary` called ``name`` (``'reflect'``, ``'periodic'`` or ``'absorb'``)."""
    if isinstance(name, Boundary):
        return name
    if isinstance(name, str) and name in BOUNDARIES:
        return BOUNDARIES[name]
    raise InputError(f"boundary {name!r} is unknown; allowed: {', '.join(BOUNDARIES)}")


def normalize_boundary(names, ndim: int) -> tuple[Boundary, ...]:
    """One :class:`Boundary` per axis.

    Parameters
    ----------
    names : str or sequence of str
        ``'reflect'``, ``'periodic'`` or ``'absorb'``, one for all axes or one per axis.
    ndim : int
        Number of axes of the tank.

    Raises
    ------
    ValueError
        If a name is unknown or the number of names does not match ``ndim``.
    TypeError
        If ``names`` is neither a string nor a sequence of strings.
    """
    if isinstance(names, str):
        names = (names,) * ndim
    else:
        try:
            names = tuple(names)
        except TypeError:
            raise InputTypeError(
                f"boundary must be a string or a sequence of strings, got {type(names).__name__}"
            ) from None
        if len(names) != ndim:
            raise InputError(
                f"boundary has {len(names)} entries but the tank has {ndim} axes; "
                f"give one name for all axes or one per axis"
            )
    return tuple(boundary(b) for b in names)


def fold_index(z, n: int, bnd, xp=np):
    """Map unfolded integer coordinates ``z`` into the tank along one axis (see :meth:`Boundary.fold`)."""
    return boundary(bnd).fold(z, n, xp)

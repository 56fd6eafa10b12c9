"""The propagator: a kernel normalised into the jump distribution of one particle."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .lattice import offsets

NORMALIZE = ("softmax", "sum")


def _as_kernel(name, kernel, ndim=None):
    """A concrete or traced kernel array, checked for dimension and odd sizes."""
    k = kernel if not _checks.is_concrete(kernel) else np.asarray(kernel)
    if _checks.is_concrete(k):
        if k.dtype == object or not np.issubdtype(k.dtype, np.number) or np.iscomplexobj(k):
            raise TypeError(f"{name} must be a real numeric array, got dtype {k.dtype}")
    if k.ndim not in (1, 2, 3):
        raise ValueError(f"{name} must be 1-D, 2-D or 3-D, got {k.ndim}-D with shape {tuple(k.shape)}")
    if ndim is not None and k.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(k.shape)}")
    if any(s % 2 == 0 for s in k.shape):
        raise ValueError(f"{name} must be odd-sized along every axis (a centre cell), got shape {tuple(k.shape)}")
    return k


def _sum_tolerance(dtype) -> float:
    return 1e-5 if jnp.finfo(dtype).bits <= 32 else 1e-12


@jax.tree_util.register_pytree_node_class
class Propagator:
    """The jump distribution of a particle over the offsets of a ``(2 r + 1)^d`` box.

    Parameters
    ----------
    weights : array_like, odd-sized along every axis, 1-D to 3-D
        ``weights[r + d]`` is the probability of the jump by offset ``d`` (cells).
        Non-negative, finite, summing to 1 (to rounding of the dtype).

    Notes
    -----
    A step of every method is the convolution ``c'(x) = sum_d w[d] c(x - d)``:
    weight on ``+d`` moves mass toward ``+d``. ``Propagator`` is a JAX pytree with
    ``weights`` as its leaf, so gradients reach the weights (and, through
    :meth:`from_logits`, the logits).
    """

    def __init__(self, weights):
        w = _as_kernel("weights", weights)
        if _checks.is_concrete(w):
            _checks.finite_nonnegative("weights", w)
            w = jnp.asarray(w, dtype=_checks.float_dtype())
            total = float(jnp.sum(w))
            if abs(total - 1.0) > _sum_tolerance(w.dtype):
                raise ValueError(f"weights must sum to 1 (a probability distribution), they sum to {total!r}")
        self.weights = w

    def tree_flatten(self):
        return (self.weights,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.weights = children[0]
        return obj

    # -- constructors -----------------------------------------------------------
    @classmethod
    def from_logits(cls, logits, temperature=1.0) -> "Propagator":
        """Softmax of ``logits / temperature`` over the box: every real array is a propagator.

        Differentiable: ``jax.grad`` flows through into ``logits``.
        """
        temperature = _checks.positive_float("temperature", temperature)
        z = _as_kernel("logits", logits)
        if _checks.is_concrete(z):
            if not np.all(np.isfinite(z)):
                raise ValueError("logits must be finite; they hold NaN or infinite values")
            z = jnp.asarray(z, dtype=_checks.float_dtype())
        flat = jax.nn.softmax(jnp.ravel(z) / temperature)
        return cls._trusted(flat.reshape(z.shape))

    @classmethod
    def from_kernel(cls, kernel, normalize="softmax", temperature=1.0) -> "Propagator":
        """Any image kernel (an edge detector, a blur) made into a jump distribution.

        ``normalize='softmax'``: softmax of ``kernel / temperature``.
        ``normalize='sum'``: ``kernel / kernel.sum()``; needs a non-negative kernel
        with a positive sum, and ``temperature`` must be left at 1.
        """
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize {normalize!r} is unknown; allowed: {', '.join(NORMALIZE)}")
        if normalize == "softmax":
            return cls.from_logits(kernel, temperature=temperature)
        temperature = _checks.positive_float("temperature", temperature)
        if temperature != 1.0:
            raise ValueError("temperature applies to normalize='softmax' only; leave it at 1 with 'sum'")
        k = _as_kernel("kernel", kernel)
        if _checks.is_concrete(k):
            _checks.finite_nonnegative("kernel", k)
            if not np.sum(k) > 0:
                raise ValueError("kernel must have a positive sum to be normalised with normalize='sum'")
            k = jnp.asarray(k, dtype=_checks.float_dtype())
        return cls._trusted(k / jnp.sum(k))

    @classmethod
    def gaussian(cls, sigma, ndim=2, radius=None) -> "Propagator":
        """Softmax of ``-|d|^2 / (2 sigma^2)``: a sampled Gaussian, normalised on the box.

        ``radius`` defaults to ``max(1, ceil(3 sigma))`` on every axis.
        """
        sigma = _checks.positive_float("sigma", sigma)
        ndim = _checks.integer("ndim", ndim, minimum=1)
        if ndim > 3:
            raise ValueError(f"ndim must be 1, 2 or 3, got {ndim}")
        if radius is None:
            radius = max(1, int(np.ceil(3 * sigma)))
        radius = _checks.integer("radius", radius, minimum=1)
        d = np.arange(-radius, radius + 1)
        grids = np.meshgrid(*([d] * ndim), indexing="ij")
        r2 = sum(g.astype(float) ** 2 for g in grids)
        return cls.from_logits(-r2 / (2 * sigma**2))

    @classmethod
    def box(cls, size=3, ndim=2) -> "Propagator":
        """Uniform weights over a ``size^ndim`` box: the box blur (``size=3, ndim=2``: m = 9)."""
        size = _checks.integer("size", size, minimum=1)
        if size % 2 == 0:
            raise ValueError(f"size must be odd (a centre cell), got {size}")
        ndim = _checks.integer("ndim", ndim, minimum=1)
        if ndim > 3:
            raise ValueError(f"ndim must be 1, 2 or 3, got {ndim}")
        return cls._trusted(jnp.full((size,) * ndim, 1.0 / size**ndim, dtype=_checks.float_dtype()))

    @classmethod
    def _trusted(cls, weights) -> "Propagator":
        obj = object.__new__(cls)
        obj.weights = weights
        return obj

    # -- properties ---------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return self.weights.ndim

    @property
    def radius(self) -> tuple[int, ...]:
        """Kernel radius per axis (cells)."""
        return tuple(s // 2 for s in self.weights.shape)

    @property
    def offsets(self) -> np.ndarray:
        """Integer offsets ``(K, ndim)`` of ``weights.ravel()``."""
        return offsets(self.radius)

    @property
    def mean(self):
        """Mean jump ``sum_d w[d] d`` (cells), shape ``(ndim,)``."""
        d = jnp.asarray(self.offsets, dtype=self.weights.dtype)
        return jnp.ravel(self.weights) @ d

    @property
    def covariance(self):
        """Covariance of the jump (cells^2), shape ``(ndim, ndim)``."""
        d = jnp.asarray(self.offsets, dtype=self.weights.dtype)
        w = jnp.ravel(self.weights)
        centred = d - w @ d
        return (centred * w[:, None]).T @ centred

    @property
    def is_symmetric(self) -> bool:
        """Whether the weights are symmetric under the mirror of each axis separately.

        That is what the DCT at reflecting walls and the agreement of the
        ``image`` and ``propagator`` methods need. Needs concrete weights.
        """
        w = np.asarray(self.weights)
        tol = 8 * np.finfo(w.dtype).eps * max(float(w.max()), 1e-300)
        return all(np.allclose(w, np.flip(w, axis=a), rtol=0, atol=tol) for a in range(w.ndim))

    def diffusivity(self, dx=1.0, dt=1.0):
        """Diffusion tensor ``D = covariance dx^2 / (2 dt)``, shape ``(ndim, ndim)``."""
        dx = _checks.positive_float("dx", dx)
        dt = _checks.positive_float("dt", dt)
        return self.covariance * dx**2 / (2 * dt)

    def drift(self, dx=1.0, dt=1.0):
        """Drift velocity ``v = mean dx / dt``, shape ``(ndim,)``."""
        dx = _checks.positive_float("dx", dx)
        dt = _checks.positive_float("dt", dt)
        return self.mean * dx / dt

    def symbol(self, freqs):
        """The Fourier multiplier of one step, ``sum_d w[d] exp(-i k . d)``.

        Parameters
        ----------
        freqs : array_like, shape ``(..., ndim)`` (or ``(...)`` when ``ndim == 1``)
            Angular wavenumbers ``k`` in radians per cell.

        Returns
        -------
        complex array, shape ``(...)``
            The factor by which one step multiplies the mode ``exp(i k . x)`` in
            numpy's FFT convention; it is the characteristic function of the
            jump evaluated at ``-k`` (the two agree for symmetric kernels), and
            equals 1 at ``k = 0``.
        """
        k = jnp.asarray(freqs, dtype=self.weights.dtype)
        if self.ndim == 1 and (k.ndim == 0 or k.shape[-1] != 1):
            k = k[..., None]
        if k.shape[-1] != self.ndim:
            raise ValueError(f"freqs must have a last axis of length ndim={self.ndim}, got shape {k.shape}")
        d = jnp.asarray(self.offsets, dtype=self.weights.dtype)
        phase = k @ d.T
        ctype = jnp.complex128 if phase.dtype == jnp.float64 else jnp.complex64
        return jnp.exp(phase.astype(ctype) * jnp.asarray(-1j, ctype)) @ jnp.ravel(self.weights).astype(ctype)

    def __repr__(self):
        return f"Propagator(shape={tuple(self.weights.shape)}, mean={np.round(np.asarray(self.mean), 6)})"

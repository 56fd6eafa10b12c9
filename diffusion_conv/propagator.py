"""The propagator: a kernel normalised into the jump distribution of one particle."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from . import _checks
from ._display import html
from ._weights import (
    NORMALIZE,
    as_kernel,
    index_message,
    moments,
    normalise,
    poison,
    sum_tolerance,
    traced_float,
    traced_weights,
)
from .errors import InputError, InputTypeError
from .lattice import offsets, symmetric_along


@jax.tree_util.register_pytree_node_class
class Propagator:
    """The jump distribution of a particle over the offsets of a ``(2 r + 1)^d`` box.

    Parameters
    ----------
    weights : array_like, odd-sized along every axis, 1-D to 3-D
        ``weights[r + d]`` is the probability of the jump by offset ``d`` (cells).
        Non-negative and finite; the sum must be 1 to the rounding of the dtype
        (``4 K eps``, ``K`` the number of entries). The weights are stored in the
        default float dtype after an exact renormalisation (``diffusion_conv.propagator.normalise``),
        so every method, stochastic or not, uses the same distribution.

    Notes
    -----
    A step of every method is the convolution ``c'(x) = sum_d w[d] c(x - d)``:
    weight on ``+d`` moves mass toward ``+d``. ``Propagator`` is a JAX pytree with
    ``weights`` as its leaf, so gradients reach the weights (and, through
    :meth:`from_logits`, the logits). A bank of kernels of one shape is a
    propagator with leading batch axes (:meth:`stack`, ``batch_shape``).
    """

    def __init__(self, weights):
        w = as_kernel("weights", weights)
        if _checks.is_concrete(w):
            w = np.asarray(w, dtype=np.float64) if w.dtype != np.float64 else w
            _checks.finite_nonnegative("weights", w)
            dtype = np.dtype(_checks.float_dtype())
            total = math.fsum(w.ravel())
            if not abs(total - 1.0) <= sum_tolerance(dtype, w.size):
                raise InputError(
                    f"weights must sum to 1 (a probability distribution) to the rounding of {dtype} "
                    f"(within {sum_tolerance(dtype, w.size):.2g}); they sum to {total!r}. Normalise them "
                    f"(Propagator.from_kernel(kernel, normalize='sum')) or use Propagator.from_logits"
                )
            w = _checks.to_device(normalise(w.ravel(), dtype, w.shape).reshape(w.shape), dtype)
        else:
            w = traced_weights(w)
        self.weights = w
        self._kdim = w.ndim

    # the number of kernel axes is the static data: under jax.vmap a bank's weights lose a batch axis, not a kernel one
    def tree_flatten(self):
        return (self.weights,), self._kdim

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.weights = children[0]
        obj._kdim = aux
        return obj

    @property
    def _batch(self) -> int:
        """The number of leading batch axes."""
        return np.ndim(self.weights) - self._kdim

    # -- constructors -----------------------------------------------------------
    @classmethod
    def from_logits(cls, logits, temperature=1.0) -> Propagator:
        """Softmax of ``logits / temperature`` over the box: every finite real array is a propagator.

        Computed as ``exp((z - max z) / T)`` normalised, so huge logits and tiny
        temperatures are well defined (the limit is uniform over the largest
        entries). Differentiable: ``jax.grad`` flows through into ``logits``.
        """
        temperature = _checks.positive_float("temperature", temperature)
        z = as_kernel("logits", logits)
        if _checks.is_concrete(z):
            z = np.asarray(z, dtype=np.float64)
            if not np.all(np.isfinite(z)):
                raise InputError("logits must be finite; they hold NaN or infinite values")
            with np.errstate(over="ignore", under="ignore"):
                e = np.exp((z - z.max()) / temperature)  # (z - max) <= 0: never NaN, at worst -inf -> 0
            w = normalise(e.ravel(), np.dtype(_checks.float_dtype()), z.shape)
            return cls._trusted(_checks.to_device(w.reshape(z.shape), w.dtype))._softmax_at(temperature)
        flat = jnp.ravel(traced_float(z))
        finite = jnp.all(jnp.isfinite(flat))
        checkify.debug_check(finite, "logits must be finite; they hold NaN or infinite values")
        e = jnp.exp((flat - jax.lax.stop_gradient(jnp.max(flat))) / temperature)
        return cls._trusted(poison(finite, e / jnp.sum(e)).reshape(z.shape))._softmax_at(temperature)

    @classmethod
    def from_kernel(cls, kernel, normalize="softmax", temperature=1.0) -> Propagator:
        """Any image kernel (an edge detector, a blur) made into a jump distribution.

        ``normalize='softmax'``: softmax of ``kernel / temperature``.
        ``normalize='sum'``: ``kernel / kernel.sum()``; needs a non-negative kernel
        with a positive sum, and ``temperature`` must be left at 1.
        """
        if normalize not in NORMALIZE:
            raise InputError(f"normalize {normalize!r} is unknown; allowed: {', '.join(NORMALIZE)}")
        if normalize == "softmax":
            return cls.from_logits(kernel, temperature=temperature)
        temperature = _checks.positive_float("temperature", temperature)
        if temperature != 1.0:
            raise InputError("temperature applies to normalize='softmax' only; leave it at 1 with 'sum'")
        k = as_kernel("kernel", kernel)
        if _checks.is_concrete(k):
            k = np.asarray(k, dtype=np.float64)
            _checks.finite_nonnegative("kernel", k)
            if not np.max(k) > 0:
                raise InputError("kernel must have a positive sum to be normalised with normalize='sum'")
            scaled = k / np.max(k)  # no overflow of the sum, whatever the entries' size
            w = normalise(scaled.ravel(), np.dtype(_checks.float_dtype()), k.shape)
            return cls._trusted(_checks.to_device(w.reshape(k.shape), w.dtype))
        k = traced_float(k)
        finite = jnp.all(jnp.isfinite(k))
        nonneg = jnp.all(k >= 0)
        positive = jnp.max(jnp.where(finite, k, 0)) > 0
        checkify.debug_check(finite, "kernel must be finite; it holds NaN or infinite values")
        checkify.debug_check(nonneg | ~finite, "kernel must be non-negative; its minimum is {m}", m=jnp.min(k))
        checkify.debug_check(
            positive | ~(finite & nonneg), "kernel must have a positive sum to be normalised with normalize='sum'"
        )
        ok = finite & nonneg & positive
        return cls._trusted(poison(ok, k / jnp.where(ok, jnp.sum(k), 1)))

    @classmethod
    def gaussian(cls, sigma, ndim=2, radius=None) -> Propagator:
        """Softmax of ``-|d|^2 / (2 sigma^2)``: a sampled Gaussian, normalised on the box.

        ``radius`` defaults to ``max(1, ceil(3 sigma))`` on every axis.
        """
        sigma = _checks.positive_float("sigma", sigma)
        ndim = _checks.integer("ndim", ndim, minimum=1)
        if ndim > 3:
            raise InputError(f"ndim must be 1, 2 or 3, got {ndim}")
        if radius is None:
            radius = max(1, int(np.ceil(3 * sigma)))
        radius = _checks.integer("radius", radius, minimum=1)
        if radius > 64:
            raise InputError(f"radius must be at most 64 cells, got {radius}")
        d = np.arange(-radius, radius + 1)
        grids = np.meshgrid(*([d] * ndim), indexing="ij")
        r2 = sum(g.astype(float) ** 2 for g in grids)
        return cls.from_logits(-r2 / (2 * sigma**2))

    @classmethod
    def box(cls, size=3, ndim=2) -> Propagator:
        """Uniform weights over a ``size^ndim`` box: the box blur (``size=3, ndim=2``: m = 9)."""
        size = _checks.integer("size", size, minimum=1)
        if size % 2 == 0:
            raise InputError(f"size must be odd (a centre cell), got {size}")
        ndim = _checks.integer("ndim", ndim, minimum=1)
        if ndim > 3:
            raise InputError(f"ndim must be 1, 2 or 3, got {ndim}")
        w = normalise(np.ones(size**ndim), np.dtype(_checks.float_dtype()), (size,) * ndim).reshape((size,) * ndim)
        return cls._trusted(_checks.to_device(w, w.dtype))

    @classmethod
    def _trusted(cls, weights, batch=0) -> Propagator:
        obj = object.__new__(cls)
        obj.weights = weights
        obj._kdim = np.ndim(weights) - batch
        return obj

    # -- batches -----------------------------------------------------------------
    @classmethod
    def stack(cls, props) -> Propagator:
        """A bank of kernels: propagators of one kernel shape stacked along a new leading batch axis.

        Concrete weights are stacked on the host and moved in one copy (no
        program is compiled for the bank's length); traced ones by JAX.

        Raises
        ------
        TypeError, ValueError
            Unless ``props`` is a non-empty sequence of propagators of one kernel shape.
        """
        props = list(props) if not isinstance(props, Propagator) else None
        if not props or not all(isinstance(p, Propagator) for p in props):
            raise InputTypeError("Propagator.stack takes a non-empty sequence of Propagator objects")
        first = props[0]
        kernel, batch = first.kernel_shape, first.batch_shape
        for i, p in enumerate(props):
            if p.kernel_shape != kernel:
                raise InputError(
                    f"a bank of kernels must share one kernel shape: props[0] is {kernel}, "
                    f"props[{i}] is {p.kernel_shape}"
                )
            if p.batch_shape != batch:
                raise InputError(
                    f"props must share one batch shape: props[0] has {batch}, props[{i}] has {p.batch_shape}"
                )
        weights = [p.weights for p in props]
        if all(_checks.is_concrete(w) for w in weights):
            stacked = jax.device_put(np.stack([np.asarray(w) for w in weights]))  # a copy, nothing compiled
        else:
            stacked = jnp.stack(weights)
        return cls._trusted(stacked, len(batch) + 1)

    def reshape_batch(self, shape) -> Propagator:
        """The same kernels with the batch axes reshaped to ``shape`` (NumPy's rules for ``reshape``)."""
        shape = _checks.batch_shape("shape", shape)
        size = int(np.prod(self.batch_shape, dtype=np.int64))
        if int(np.prod(shape, dtype=np.int64)) != size:
            raise InputError(f"cannot reshape a batch of shape {self.batch_shape} ({size} kernels) to {shape}")
        return Propagator._trusted(self.weights.reshape(shape + self.kernel_shape), len(shape))

    def __getitem__(self, index) -> Propagator:
        """One member (or a sub-batch) of a bank of kernels, by NumPy's indexing rules on the batch axes.

        An index out of range raises ``IndexError`` (negative indices count from
        the end, as in Python); a selection of no kernels (``bank[0:0]``) raises
        ``ValueError``. A traced integer index (under ``jax.jit``) cannot be
        checked while tracing: out of range, it gives NaN weights (and a
        ``checkify`` error) rather than another member.
        """
        if not self._batch:
            raise InputTypeError(
                "indexing applies to a bank of kernels (Propagator.stack); this propagator has no batch"
            )
        batch = self.batch_shape
        parts = index if isinstance(index, tuple) else (index,)
        if any(not _checks.is_concrete(i) for i in parts):
            return self._traced_item(parts)
        positions = np.arange(int(np.prod(batch, dtype=np.int64))).reshape(batch)
        try:
            picked = positions[index]
        except IndexError as e:
            raise IndexError(index_message(index, batch, e)) from None
        if picked.size == 0:
            raise InputError(
                f"index {index!r} selects no kernels from the bank of shape {batch}: a bank holds at least one kernel"
            )
        flat = self.weights.reshape((-1,) + self.kernel_shape)
        w = flat[int(picked)] if picked.ndim == 0 else flat[picked.ravel()].reshape(picked.shape + self.kernel_shape)
        return Propagator._trusted(w, picked.ndim)

    def _traced_item(self, parts):
        batch = self.batch_shape
        if len(parts) > len(batch) or not all(
            isinstance(i, (int, np.integer)) or np.issubdtype(np.dtype(getattr(i, "dtype", object)), np.integer)
            for i in parts
        ):
            raise InputTypeError(
                f"a traced index must be integers, one per batch axis at most (the bank's batch shape "
                f"is {batch}), got {parts!r}"
            )
        ok = True
        picks = []
        for i, n in zip(parts, batch):
            i = jnp.asarray(i)
            j = jnp.where(i < 0, i + n, i)
            inside = (j >= 0) & (j < n)
            checkify.debug_check(jnp.all(inside), f"index {{i}} is out of range for a batch axis of {n} kernels", i=i)
            ok = ok & inside
            picks.append(jnp.clip(j, 0, n - 1))
        w = self.weights[tuple(picks)]  # (*picked shape, *remaining batch axes, *kernel)
        rest = len(batch) - len(parts) + len(self.kernel_shape)
        w = jnp.where(jnp.reshape(ok, jnp.shape(ok) + (1,) * rest), w, jnp.asarray(jnp.nan, w.dtype))
        return Propagator._trusted(w, w.ndim - len(self.kernel_shape))

    # -- properties ---------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading batch axes of a bank of kernels (``()`` for one kernel)."""
        return tuple(self.weights.shape[: self._batch])

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        """The shape of one kernel, ``(2 r + 1, ...)``."""
        return tuple(self.weights.shape[self._batch :])

    @property
    def ndim(self) -> int:
        return len(self.kernel_shape)

    @property
    def radius(self) -> tuple[int, ...]:
        """Kernel radius per axis (cells)."""
        return tuple(s // 2 for s in self.kernel_shape)

    @property
    def offsets(self) -> np.ndarray:
        """Integer offsets ``(K, ndim)`` of ``weights.ravel()`` (of one kernel)."""
        return offsets(self.radius)

    def _flat(self):
        return jnp.reshape(self.weights, self.batch_shape + (-1,))

    @property
    def mean(self):
        """Mean jump ``sum_d w[d] d`` (cells), shape ``(*batch_shape, ndim)``."""
        return moments(self._flat(), self.offsets, jnp)[0]

    @property
    def covariance(self):
        """Covariance of the jump (cells^2), shape ``(*batch_shape, ndim, ndim)``."""
        return moments(self._flat(), self.offsets, jnp)[1]

    def derived(self, key, compute):
        """``compute()``, made once for this propagator per hashable ``key`` and kept with it: what a method
        derives from concrete weights (e.g. the spectral method's symbol on a grid), for runs that reuse the
        propagator."""
        memo = self.__dict__.setdefault("_derived", {})
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def host_moments(self):
        """``(mean, covariance)`` as float64 numpy arrays, computed on the host (concrete weights; made once)."""
        mean, cov = self.derived(
            "host moments",
            lambda: moments(np.asarray(self.weights, np.float64).reshape(self.batch_shape + (-1,)), self.offsets, np),
        )
        return mean.copy(), cov.copy()

    @property
    def is_symmetric(self) -> bool:
        """Whether the weights are symmetric under the mirror of each axis separately (every member of a bank).

        That is what the DCT at reflecting walls and the agreement of the
        ``image`` and ``propagator`` methods need. Needs concrete weights.
        """
        w = np.asarray(self.weights)
        return all(symmetric_along(w, a) for a in range(self._batch, w.ndim))

    def diffusivity(self, dx=1.0, dt=1.0):
        """Diffusion tensor ``D = covariance dx^2 / (2 dt)``, shape ``(*batch_shape, ndim, ndim)``."""
        dx = _checks.positive_float("dx", dx)
        dt = _checks.positive_float("dt", dt)
        return self.covariance * dx**2 / (2 * dt)

    def drift(self, dx=1.0, dt=1.0):
        """Drift velocity ``v = mean dx / dt``, shape ``(*batch_shape, ndim)``."""
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
        complex array, shape ``(*batch_shape, ...)``
            The factor by which one step multiplies the mode ``exp(i k . x)`` in
            numpy's FFT convention; it is the characteristic function of the
            jump evaluated at ``-k`` (the two agree for symmetric kernels), and
            equals 1 at ``k = 0``.
        """
        k = jnp.asarray(freqs, dtype=self.weights.dtype)
        if self.ndim == 1 and (k.ndim == 0 or k.shape[-1] != 1):
            k = k[..., None]
        if k.shape[-1] != self.ndim:
            raise InputError(f"freqs must have a last axis of length ndim={self.ndim}, got shape {k.shape}")
        d = jnp.asarray(self.offsets, dtype=self.weights.dtype)
        phase = k @ d.T
        ctype = jnp.complex128 if phase.dtype == jnp.float64 else jnp.complex64
        e = jnp.exp(phase.astype(ctype) * jnp.asarray(-1j, ctype))
        return jnp.einsum("...k,bk->b...", e, self._flat().reshape(-1, e.shape[-1]).astype(ctype)).reshape(
            self.batch_shape + e.shape[:-1]
        )

    # -- display ---------------------------------------------------------------------
    def _softmax_at(self, temperature) -> Propagator:
        """Record the softmax temperature this propagator was built at (shown by its display; not carried
        through JAX transformations, banks or indexing, where it is shown as not recorded)."""
        self._temperature = float(temperature)
        return self

    def __repr__(self):
        temperature = getattr(self, "_temperature", None)
        words = [
            f"kernel shape={self.kernel_shape}",
            f"radius={self.radius}",
            "temperature=" + ("not recorded" if temperature is None else f"{temperature:g}"),
        ]
        if self._batch:
            words.insert(0, f"bank of batch_shape={self.batch_shape}")
        elif not _checks.is_concrete(self.weights):
            words.append("traced weights")
        else:  # on the host: showing a propagator compiles nothing
            mean, cov = self.host_moments()
            words += [f"mean={np.round(mean, 6).tolist()}", f"covariance={np.round(cov, 6).tolist()}"]
        return f"Propagator({', '.join(words)})"

    def _repr_html_(self):
        return html(self)

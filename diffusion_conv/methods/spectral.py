"""The exact spectral method: ``n`` steps of the kernel in one transform, ``lambda(theta) ** n``.

One step of the lattice walk (:mod:`diffusion_conv.lattice`) is a linear map
``T``; where a transform diagonalises ``T`` exactly, ``n`` steps are the
transform, a multiplication by the eigenvalues to the ``n``-th power, and the
inverse transform. The cost does not depend on ``n``. Per axis
(see :mod:`diffusion_conv.fourier`):

``periodic``: any kernel.
    ``T`` is a circular convolution; the FFT diagonalises it with eigenvalue
    ``sum_d w[d] exp(-i theta d)``, ``theta = 2 pi q / n`` (any radius: jumps
    longer than the tank wrap).
``reflect``: kernels symmetric under that axis's mirror, any radius.
    The half-cell mirror makes ``T`` act on the even extension of period ``2 n``;
    ``cos(theta (x + 1/2))``, ``theta = pi m / n`` (the DCT-II basis) is mapped to
    itself times ``sum_d w[d] cos(theta d)`` when ``w[d] = w[-d]`` along the axis,
    for every radius (folds of any depth). An asymmetric kernel mixes cosine and
    sine parts: no real transform diagonalises it.
``absorb``: kernels symmetric under that axis's mirror whose jumps along the axis
    are at most one cell (``w = 0`` wherever ``|d_a| >= 2``).
    The walk with removal outside ``[0, n)`` is the Toeplitz matrix truncated to
    the tank; a jump of one cell lands at most on ``-1`` or ``n``, where
    ``sin(theta (x + 1))``, ``theta = pi m / (n + 1)`` (the DST-I basis), vanishes,
    so truncation and the odd extension agree and the basis is mapped to itself
    times ``sum_d w[d] cos(theta d)``. A jump of two cells would read the odd
    image at ``-2`` (not zero), so longer kernels are not diagonalised. An
    asymmetric three-point kernel is diagonalised only by an exponentially
    weighted sine basis whose condition number grows like
    ``(w[+1] / w[-1]) ** (n / 2)``; it is refused.

Walls break translation invariance: a tank with walls is refused. Everything
else raises ``ValueError`` naming ``method="propagator"``, which is exact
everywhere. Where it runs, the result equals the ``propagator`` method to
rounding (1e-12 relative in float64, up to 10,000 steps and beyond).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _progress
from .. import fourier
from ..lattice import normalize_boundary
from . import MethodOutput, no_stochastic_arguments

NAME = "spectral"
KIND = "deterministic"

_FRAME_BYTES = 64 * 2**20  # frames computed per batch stay below this size


def _symmetric_along(w: np.ndarray, axis: int) -> bool:
    tol = 8 * np.finfo(w.dtype).eps * max(float(w.max()), 1e-300)
    return bool(np.max(np.abs(w - np.flip(w, axis=axis))) <= tol)


def exactness(weights, boundary, walls=None) -> str | None:
    """Why the spectral method is not exact for this problem, or ``None`` where it is.

    Parameters
    ----------
    weights : array_like, concrete
        The propagator's weights.
    boundary : sequence of str, one per axis
    walls : bool array or None
    """
    if walls is not None and np.any(walls):
        return ("the tank has walls, which break translation invariance: no transform "
                "diagonalises the walk")
    w = np.ascontiguousarray(weights)
    return _kernel_exactness(w.tobytes(), w.shape, w.dtype.str, tuple(boundary))


@functools.lru_cache(maxsize=64)
def _kernel_exactness(wbytes, wshape, dtype, boundary):
    """:func:`exactness` without walls, cached per kernel and boundary (it runs on every call)."""
    w = np.frombuffer(wbytes, dtype=dtype).reshape(wshape)
    for a, b in enumerate(boundary):
        r = w.shape[a] // 2
        if b == "reflect" and not _symmetric_along(w, a):
            return (f"axis {a} reflects and the kernel is not symmetric along it; the DCT "
                    f"diagonalises the half-cell mirror only for kernels with w[d] = w[-d] along that axis")
        if b == "absorb":
            if r >= 2:
                far = np.take(w, [i for i in range(w.shape[a]) if abs(i - r) >= 2], axis=a)
                if np.any(far != 0):
                    return (f"axis {a} absorbs and the kernel jumps {r} cells along it; the sine "
                            f"transform is exact at an absorbing edge only for jumps of at most one cell")
            if not _symmetric_along(w, a):
                return (f"axis {a} absorbs and the kernel is not symmetric along it; the sine "
                        f"transform needs w[d] = w[-d] along an absorbing axis")
    return None


def validate(tank, prop, *, n_particles=None, key=None, **options):
    """Raise ``ValueError`` where the spectral method is not exact (see the module docstring)."""
    no_stochastic_arguments(NAME, n_particles, key)
    if options:
        raise TypeError(f"method {NAME!r} takes no options, got {sorted(options)}")
    why = exactness(prop.weights, tank.boundary, tank.walls)
    if why is not None:
        raise ValueError(f"method 'spectral' is not exact here: {why}. Use method=\"propagator\" instead.")


@functools.partial(jax.jit, static_argnames=("boundary",))
def _prepare(field, weights, boundary):
    coeffs = fourier.forward(field, boundary)
    mu = fourier.symbol_minus_one(weights.astype(field.dtype), field.shape, boundary)
    return coeffs, mu


@functools.partial(jax.jit, static_argnames=("boundary", "shape"))
def _batch(coeffs, mu, steps, boundary, shape):
    def one(s):
        return fourier.inverse(coeffs * fourier.symbol_power(mu, s), boundary, shape)

    return jax.vmap(one)(steps)


def propagate(field, prop, steps, boundary="reflect"):
    """``steps`` steps of the propagator in one transform: a pure, differentiable function.

    Parameters
    ----------
    field : array, 1-D to 3-D
        Concentration per cell; may be a JAX tracer.
    prop : Propagator
        May be built from traced logits (gradients flow into them). With concrete
        weights, the exactness conditions of the module docstring are checked.
    steps : int or scalar array
        Number of steps (may be traced: the cost is the same for every value).
    boundary : str or sequence of str

    Returns
    -------
    array of the field's shape
        Equal to :func:`diffusion_conv.propagate` (no walls) to rounding.
    """
    field = jnp.asarray(field)
    if field.ndim != prop.ndim:
        raise ValueError(f"prop is {prop.ndim}-D but field is {field.ndim}-D; they must match")
    bnd = normalize_boundary(boundary, field.ndim)
    if not isinstance(prop.weights, jax.core.Tracer):
        why = exactness(prop.weights, bnd)
        if why is not None:
            raise ValueError(f"spectral propagation is not exact here: {why}. Use diffusion_conv.propagate instead.")
    coeffs = fourier.forward(field, bnd)
    mu = fourier.symbol_minus_one(jnp.asarray(prop.weights).astype(field.dtype), field.shape, bnd)
    return fourier.inverse(coeffs * fourier.symbol_power(mu, steps), bnd, field.shape)


# -- host transforms -----------------------------------------------------------------------
# On the CPU backend the frames go to the host anyway, and scipy's pocketfft computes the
# DCT/DST/FFT several times faster than the XLA CPU transforms; on an accelerator the
# jitted JAX transforms below run on the device. Both use the orthonormal transforms of
# :mod:`diffusion_conv.fourier`, so the coefficients agree to rounding.


def _host_transforms() -> bool:
    return jax.default_backend() == "cpu"


def _workers(size):
    """Threads for scipy's transforms: every core from 2**18 cells (512 x 512) up; below that,
    starting the threads costs about what they save and makes the time less steady."""
    return -1 if size >= 2**18 else 1


def _forward_np(field, boundary):
    from scipy import fft

    c = field
    workers = _workers(field.size)
    refl, absb = _axes(boundary, "reflect"), _axes(boundary, "absorb")
    if refl:  # one multi-axis call: several times faster than one call per axis
        c = fft.dctn(c, type=2, axes=refl, norm="ortho", workers=workers)
    if absb:
        c = fft.dstn(c, type=1, axes=absb, norm="ortho", workers=workers)
    per = fourier.periodic_axes(boundary)
    return fft.rfftn(c, axes=per, workers=workers) if per else c


def _inverse_np(coeffs, boundary, shape):
    from scipy import fft

    c = coeffs
    workers = _workers(int(np.prod(shape)))
    per = fourier.periodic_axes(boundary)
    if per:
        c = fft.irfftn(c, s=[shape[a] for a in per], axes=per, workers=workers)
    refl, absb = _axes(boundary, "reflect"), _axes(boundary, "absorb")
    if refl:
        c = fft.idctn(c, type=2, axes=refl, norm="ortho", workers=workers)
    if absb:
        c = fft.dstn(c, type=1, axes=absb, norm="ortho", workers=workers)
    return c


def _axes(boundary, name):
    return [a for a, b in enumerate(boundary) if b == name]


@functools.lru_cache(maxsize=32)
def _symbol_np(wbytes, wshape, dtype, shape, boundary):
    """``lambda - 1`` on the coefficient grid, cached per kernel, shape and boundary."""
    w = jnp.asarray(np.frombuffer(wbytes, dtype=dtype).reshape(wshape))
    mu = np.asarray(_symbol_jit(w, shape, boundary))
    mu.setflags(write=False)
    return mu


@functools.partial(jax.jit, static_argnames=("shape", "boundary"))
def _symbol_jit(weights, shape, boundary):
    return fourier.symbol_minus_one(weights, shape, boundary)


def _log_parts(mu):
    """``log |lambda|``, ``arg lambda`` (complex symbols) and the masks of negative and zero eigenvalues."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.iscomplexobj(mu):
            re, im = mu.real, mu.imag
            a = 2 * re + re * re + im * im  # |lambda|^2 - 1
            zero = a <= -1
            log_abs = 0.5 * np.log1p(np.where(zero, 0, a))
            return log_abs, np.arctan2(im, 1 + re), None, zero
        lam = 1 + mu
        zero, neg = lam == 0, lam < 0
        log_abs = np.where(neg, np.log(np.where(neg, -lam, 1)), np.log1p(np.where(zero | neg, 0, mu)))
    return log_abs, None, neg, zero


@functools.lru_cache(maxsize=32)
def _log_symbol(key):
    """:func:`_log_parts` of the whole symbol, cached per kernel, shape and boundary."""
    return _log_parts(_symbol_np(*key))


@functools.lru_cache(maxsize=32)
def _axis_log_symbols(key):
    """Per-axis :func:`_log_parts` where the kernel is separable, else None.

    A separable kernel ``w = a_0 (x) a_1 (x) ...`` makes the walk a tensor
    product of one-axis walks, so every eigenvalue is a product of one-axis
    eigenvalues: ``lambda ** s`` is then an outer product of short vectors,
    one exponential per coefficient index and axis instead of one per coefficient.
    """
    from .propagator import separable_factors

    wbytes, wshape, dtype, shape, boundary = key
    if len(shape) == 1:
        return None
    factors = separable_factors(np.frombuffer(wbytes, dtype=dtype).reshape(wshape))
    if factors is None:
        return None
    parts = []
    for a, f in enumerate(factors):
        wa = np.ascontiguousarray(f.astype(dtype).reshape([-1 if b == a else 1 for b in range(len(shape))]))
        mu = _symbol_np(wa.tobytes(), wa.shape, dtype, shape, boundary)
        line = mu[tuple(slice(None) if b == a else 0 for b in range(len(shape)))]
        parts.append(_log_parts(np.ascontiguousarray(line)))
    return parts


def _power_from(parts, s):
    """``lambda ** s`` from :func:`_log_parts`, computed as :func:`diffusion_conv.fourier.symbol_power` does."""
    log_abs, phi, neg, zero = parts
    st = log_abs.dtype.type(s)
    mag = np.exp(log_abs * st)
    if phi is not None:
        mag = np.where(zero, log_abs.dtype.type(s == 0), mag)
        arg = phi * st
        return mag * (np.cos(arg) + 1j * np.sin(arg)).astype(np.result_type(mag.dtype, np.complex64))
    if s % 2 == 1:
        mag = np.where(neg, -mag, mag)
    return np.where(zero, log_abs.dtype.type(s == 0), mag)


def _power_np(key, s):
    """``lambda ** s`` on the host: an outer product of per-axis powers for separable kernels."""
    axes = _axis_log_symbols(key)
    if axes is None:
        return _power_from(_log_symbol(key), s)
    ndim = len(axes)
    power = None
    for a, parts in enumerate(axes):
        pa = _power_from(parts, s).reshape([-1 if b == a else 1 for b in range(ndim)])
        power = pa if power is None else power * pa
    return power


def _host_frames(frames, field, weights, steps, todo, boundary, progress):
    """Frames at ``steps[todo]``: the symbol from JAX (cached), its powers and scipy's transforms on the host."""
    field = np.asarray(field)
    w = np.ascontiguousarray(np.asarray(weights, dtype=field.dtype))
    key = (w.tobytes(), w.shape, w.dtype.str, field.shape, tuple(boundary))
    coeffs = _forward_np(field, boundary)
    with _progress.bar(len(todo), progress, desc=NAME) as pbar:
        for j in todo:
            frames[j] = _inverse_np(coeffs * _power_np(key, int(steps[j])), boundary, field.shape)
            pbar.update(1)


def run(tank, prop, save_steps, *, dt=1.0, n_particles=None, key=None, progress=False, **options):
    """Frames of the exact spectral method at ``save_steps``; see :func:`diffusion_conv.simulate`.

    Each frame is computed directly from the initial transform, so frames at
    step 100,000 cost what frames at step 10 cost.
    """
    validate(tank, prop, n_particles=n_particles, key=key, **options)
    field = tank.concentration
    bnd = tuple(tank.boundary)
    steps = np.asarray(save_steps, dtype=np.int64)
    todo = np.flatnonzero(steps > 0)  # step 0 is the initial field itself
    frames = np.empty((len(steps),) + tank.shape, dtype=np.dtype(field.dtype))
    if _host_transforms():
        _host_frames(frames, field, prop.weights, steps, todo, bnd, progress)
    else:
        _device_frames(frames, field, prop, steps, todo, bnd, tank.shape, progress)
    frames[steps == 0] = np.asarray(field)
    absorbed = np.zeros(len(steps), dtype=np.float64)
    if "absorb" in bnd:
        axes = tuple(range(1, frames.ndim))
        mass0 = float(np.sum(np.asarray(field), dtype=np.float64))
        absorbed = (mass0 - frames.sum(axis=axes, dtype=np.float64)) * tank.dx**tank.ndim
        absorbed[steps == 0] = 0.0
    meta = {"transforms": [{"periodic": "fft", "reflect": "dct-ii", "absorb": "dst-i"}[b] for b in bnd]}
    return MethodOutput(frames, absorbed, meta)


def _device_frames(frames, field, prop, steps, todo, bnd, shape, progress):
    """Frames on the JAX device: one transform, then one batched inverse per group of frames."""
    coeffs, mu = _prepare(field, jnp.asarray(prop.weights), bnd)
    per_frame = max(1, coeffs.size * coeffs.dtype.itemsize * 3)
    batch = int(max(1, min(max(1, len(todo)), _FRAME_BYTES // per_frame)))
    sdtype = jnp.real(mu).dtype
    with _progress.bar(len(todo), progress, desc=NAME) as pbar:
        for start in range(0, len(todo), batch):
            idx = todo[start:start + batch]
            chunk = steps[idx]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk))])
            out = _batch(coeffs, mu, jnp.asarray(padded, dtype=sdtype), bnd, shape)
            frames[idx] = np.asarray(out)[: len(chunk)]
            pbar.update(len(chunk))

"""The deterministic method: the field pushed through the propagator step by step.

Each step is ``c'(y) = sum_x sum_d w[d] c(x) [x + d lands in y]``, with the
boundaries and walls of :mod:`diffusion_conv.lattice`: the exact expectation of
the ``particles`` and ``counts`` methods. JAX-jitted, ``lax.scan`` over steps,
one compiled program per frame layout; frames leave the device only when saved.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, _progress
from ..lattice import normalize_boundary, tank_blocked, transport, blocked_masks
from . import MethodOutput, intervals, no_stochastic_arguments

NAME = "propagator"
KIND = "deterministic"

_FRAME_BYTES = 64 * 2**20  # frames computed per call stay below this size


def separable_factors(weights):
    """Per-axis factors ``a_0, a_1, ...`` with ``weights = a_0 (x) a_1 (x) ...``, or None.

    A Gaussian or a box kernel is separable; a step with it is then one pass per
    axis with ``2 r + 1`` taps instead of ``(2 r + 1)^ndim``. Needs concrete
    weights; the factors reproduce them to a few units of rounding of their dtype.
    """
    if not _checks.is_concrete(weights):
        return None
    w = np.asarray(weights)
    eps = np.finfo(w.dtype if np.issubdtype(w.dtype, np.floating) else np.float64).eps
    w = w.astype(np.float64)
    if w.ndim == 1:
        return None
    factors = [w.sum(axis=tuple(b for b in range(w.ndim) if b != a)) for a in range(w.ndim)]
    outer = factors[0]
    for f in factors[1:]:
        outer = np.multiply.outer(outer, f)
    if np.max(np.abs(outer - w)) > 4 * eps * w.max():
        return None
    return factors


def step(field, weights, radius, boundary, blocked=None, factors=None):
    """One step of the propagator: returns ``(new_field, absorbed_mass_in_cells)``.

    With ``factors`` (see :func:`separable_factors`; no walls) the step is taken
    one axis at a time: the same jumps, boundaries and absorption, fewer operations.
    """
    if factors is not None and blocked is None:
        absorbed = jnp.zeros((), field.dtype)
        for axis, f in enumerate(factors):
            rad = tuple(r if a == axis else 0 for a, r in enumerate(radius))
            field, da = transport(field, rad, boundary, weights=f.astype(field.dtype))
            absorbed = absorbed + da
        return field, absorbed
    w = jnp.ravel(weights).astype(field.dtype)
    return transport(field, radius, boundary, blocked, weights=w)


def _advance(field, weights, factors, blocked, n, radius, boundary):
    """``n`` steps; returns the field and the mass (in cell units) absorbed on the way."""

    def body(carry, _):
        c, a = carry
        c, da = step(c, weights, radius, boundary, blocked, factors)
        return (c, a + da), None

    zero = jnp.zeros((), field.dtype)
    if n == 0:
        return field, zero
    (field, absorbed), _ = jax.lax.scan(body, (field, zero), None, length=n)
    return field, absorbed


# -- the halo path: separable kernels without walls -------------------------------------
# The field is kept in a buffer with ``r`` zero cells on both sides of one axis; a pass
# along that axis reads the buffer, writes the jumps that stay in the tank into the
# interior of the next axis's buffer, and adds the few cells that leave (the edge strips)
# back as the boundary folds them. Every update is in place, so a step is one fused
# stencil loop per axis plus small strip updates: no padded copy, no full-size fold.
# The sums are taken in the same order as :func:`diffusion_conv.lattice.transport`.


def halo_path(shape, radius, factors, blocked) -> bool:
    """Whether the halo path applies: separable weights, no walls, ``2 r <= n`` on every axis."""
    return factors is not None and blocked is None and all(2 * r <= n for n, r in zip(shape, radius))


def _slc(a, axis, start, stop):
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(start, stop)
    return a[tuple(idx)]


def _window(buf, axis, r, lo, hi):
    """The field at coordinates ``[lo, hi)`` along ``axis`` from a buffer holding ``[-r, n + r)``."""
    a, b = lo + r, hi + r
    size = buf.shape[axis]
    piece = _slc(buf, axis, max(a, 0), min(b, size))
    if a >= 0 and b <= size:
        return piece
    width = [(0, 0)] * buf.ndim
    width[axis] = (max(0, -a), max(0, b - size))
    return jnp.pad(piece, width)


def _taps(win, f, axis, r, length):
    """``out[i] = sum_k f[k] win[i + 2 r - k]``: mass arriving from the window (a convolution)."""
    out = None
    for k in range(2 * r + 1):
        term = f[k] * _slc(win, axis, 2 * r - k, 2 * r - k + length)
        out = term if out is None else out + term
    return out


def _add_at(buf, values, starts):
    region = jax.lax.dynamic_slice(buf, starts, values.shape)
    return jax.lax.dynamic_update_slice(buf, region + values, starts)


def _axis_pass(src, dst, f, axis, r, boundary, dst_axis, dst_r):
    """One axis of a separable step: ``src`` (halo along ``axis``) into the interior of ``dst``."""
    n = src.shape[axis] - 2 * r
    absorbed = jnp.zeros((), src.dtype)
    starts = [0] * src.ndim
    starts[dst_axis] = dst_r
    dst = jax.lax.dynamic_update_slice(dst, _taps(src, f, axis, r, n), starts)
    if r == 0:
        return dst, absorbed
    left = _taps(_window(src, axis, r, -2 * r, r), f, axis, r, r)  # mass landing on [-r, 0)
    right = _taps(_window(src, axis, r, n - r, n + 2 * r), f, axis, r, r)  # ... on [n, n + r)
    if boundary == "absorb":
        return dst, (absorbed + jnp.sum(left)) + jnp.sum(right)
    if boundary == "reflect":
        left, right = jnp.flip(left, axis), jnp.flip(right, axis)
        lo, hi = left, right  # [-r, 0) folds onto [0, r), [n, n + r) onto [n - r, n)
    else:
        lo, hi = right, left  # periodic: [n, n + r) wraps onto [0, r), [-r, 0) onto [n - r, n)
    for values, start in ((lo, 0), (hi, n - r)):
        s = list(starts)
        s[axis] += start
        dst = _add_at(dst, values, s)
    return dst, absorbed


def _halo_buffers(field, radius):
    """One buffer per axis, zero halo of that axis's radius; the first holds the field."""
    bufs = []
    for a, r in enumerate(radius):
        width = [(0, 0)] * field.ndim
        width[a] = (r, r)
        bufs.append(jnp.pad(field, width) if a == 0 else jnp.zeros(jnp.pad(field, width).shape, field.dtype))
    return tuple(bufs)


def _halo_step(bufs, factors, radius, boundary):
    """One step on the halo buffers: returns ``(bufs, absorbed)``."""
    ndim = len(bufs)
    bufs = list(bufs)
    absorbed = jnp.zeros((), bufs[0].dtype)
    for a in range(ndim):
        b = (a + 1) % ndim
        bufs[b], da = _axis_pass(bufs[a], bufs[b], factors[a], a, radius[a], boundary[a], b, radius[b])
        absorbed = absorbed + da
    return tuple(bufs), absorbed


def _interior(buf, r, axis=0):
    return _slc(buf, axis, r, buf.shape[axis] - r)


def _halo_gap(bufs, factors, gap, radius, boundary):
    """``gap`` steps on the halo buffers: ``(bufs, absorbed on the way)``."""

    def advance(carry, _):
        b, a = carry
        b, da = _halo_step(b, factors, radius, boundary)
        return (b, a + da), None

    (bufs, a), _ = jax.lax.scan(advance, (bufs, jnp.zeros((), bufs[0].dtype)), None, length=gap)
    return bufs, a


def _halo_scan(bufs, factors, gap, count, radius, boundary):
    """``count`` frames, ``gap`` steps apart, on the halo buffers: ``(bufs, frames, absorbed)``."""

    def frame(b, _):
        b, a = _halo_gap(b, factors, gap, radius, boundary)
        return b, (_interior(b[0], radius[0]), a)

    bufs, (frames, absorbed) = jax.lax.scan(frame, bufs, None, length=count)
    return bufs, frames, absorbed


def _halo_frames(field, factors, gap, count, radius, boundary):
    bufs, frames, absorbed = _halo_scan(_halo_buffers(field, radius), factors, gap, count, radius, boundary)
    return _interior(bufs[0], radius[0]), frames, absorbed


# run() carries the buffers from one batch of frames to the next, donated and updated in place
_make_buffers = jax.jit(_halo_buffers, static_argnums=(1,))
_halo_chunk = jax.jit(_halo_scan, static_argnames=("gap", "count", "radius", "boundary"), donate_argnums=(0,))
_halo_advance = jax.jit(_halo_gap, static_argnames=("gap", "radius", "boundary"), donate_argnums=(0,))


@functools.partial(jax.jit, static_argnames=("gap", "count", "radius", "boundary"))
def _frames(field, weights, factors, blocked, gap, count, radius, boundary):
    """``count`` frames, ``gap`` steps apart: (final field, frames, absorbed per frame)."""
    if factors is None and field.ndim == 1:
        factors = (jnp.ravel(weights).astype(field.dtype),)  # a 1-D kernel is its own factor
    if halo_path(field.shape, radius, factors, blocked):
        return _halo_frames(field, factors, gap, count, radius, boundary)

    def body(c, _):
        c, a = _advance(c, weights, factors, blocked, gap, radius, boundary)
        return c, (c, a)

    field, (frames, absorbed) = jax.lax.scan(body, field, None, length=count)
    return field, frames, absorbed


def propagate(field, prop, steps, boundary="reflect", walls=None):
    """Push a field through ``steps`` steps of a propagator: a pure, differentiable function.

    Parameters
    ----------
    field : array, 1-D to 3-D
        Concentration per cell; may be a JAX tracer (``jax.grad`` flows into it).
    prop : Propagator
        May be built inside the differentiated function, e.g.
        ``Propagator.from_logits(logits)`` (gradients flow into the logits).
    steps : int
        Number of steps (static).
    boundary : str or sequence of str
        One boundary for all axes or one per axis.
    walls : array_like of bool, optional
        Solid cells (static, concrete).

    Returns
    -------
    array of the field's shape
        The field after ``steps`` steps. Mass absorbed at open edges is gone.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, diffusion_conv as dc
    >>> c0 = jnp.zeros(9).at[4].set(1.0)
    >>> loss = lambda z: dc.propagate(c0, dc.Propagator.from_logits(z), 3)[6]
    >>> g = jax.grad(loss)(jnp.zeros(3))
    """
    from ..propagator import Propagator

    if not isinstance(prop, Propagator):
        raise TypeError(f"prop must be a diffusion_conv.Propagator (e.g. Propagator.from_kernel(kernel)), "
                        f"got {type(prop).__name__}")
    steps = _checks.integer("steps", steps, minimum=0)
    field = jnp.asarray(field)
    if field.ndim != prop.ndim:
        raise ValueError(f"prop is {prop.ndim}-D but field is {field.ndim}-D; they must match")
    bnd = normalize_boundary(boundary, field.ndim)
    blocked = None
    if walls is not None:
        walls = np.asarray(walls, dtype=bool)
        if walls.shape != field.shape:
            raise ValueError(f"walls must have the field's shape {field.shape}, got {walls.shape}")
        blocked = blocked_masks(walls, prop.radius, bnd)
    if steps == 0:
        return field
    _, frames, _ = _frames(field, prop.weights, None, blocked, steps, 1, prop.radius, bnd)
    return frames[0]


def validate(tank, prop, *, n_particles=None, key=None, **options):
    no_stochastic_arguments(NAME, n_particles, key)
    if options:
        raise TypeError(f"method {NAME!r} takes no options, got {sorted(options)}")


def run(tank, prop, save_steps, *, dt=1.0, n_particles=None, key=None, progress=False, **options):
    """Frames of the deterministic propagator at ``save_steps``; see :func:`diffusion_conv.simulate`."""
    validate(tank, prop, n_particles=n_particles, key=key, **options)
    blocked = tank_blocked(tank, prop.radius)
    blocked = None if blocked is None else jnp.asarray(blocked)
    field = tank.concentration
    weights = jnp.asarray(prop.weights, dtype=field.dtype)
    factors = None
    if blocked is None:
        factors = separable_factors(prop.weights)
        factors = None if factors is None else tuple(jnp.asarray(f, dtype=field.dtype) for f in factors)
    dtype = np.dtype(field.dtype)
    frames = np.empty((len(save_steps),) + tuple(tank.shape), dtype=dtype)
    frames[0] = np.asarray(field)
    absorbed = np.zeros(len(save_steps), dtype=dtype)
    total_absorbed = np.zeros((), dtype=dtype)
    # frames computed per call stay below _FRAME_BYTES, so a run holds the saved frames,
    # one batch of them on the device and the field buffers
    most = max(1, _FRAME_BYTES // max(1, frames[0].nbytes))
    # with a progress bar, hand control back to Python every few frames to update it
    chunk_steps = max(1, int(save_steps[-1]) // 50) if progress else None
    # the halo path carries its buffers from one batch of frames to the next, in place
    halo = factors
    if halo is None and blocked is None and tank.ndim == 1:
        halo = (jnp.ravel(weights),)
    bufs = _make_buffers(field, prop.radius) if halo_path(tank.shape, prop.radius, halo, blocked) else None
    pos = 1
    with _progress.bar(int(save_steps[-1]), progress, desc=NAME) as pbar:
        for gap, count in intervals(save_steps):
            done = 0
            while done < count:
                n = count - done if chunk_steps is None else max(1, min(count - done, chunk_steps // gap))
                n = min(n, most)
                if bufs is not None and most == 1:  # large fields: no device copy of the frame
                    bufs, a = _halo_advance(bufs, halo, gap, prop.radius, tank.boundary)
                    a = a[None]
                    f = _interior(np.asarray(bufs[0]), prop.radius[0])[None]
                elif bufs is not None:
                    bufs, f, a = _halo_chunk(bufs, halo, gap, n, prop.radius, tank.boundary)
                else:
                    field, f, a = _frames(field, weights, factors, blocked, gap, n, prop.radius, tank.boundary)
                a = np.cumsum(np.asarray(a)) + total_absorbed
                total_absorbed = a[-1]
                frames[pos:pos + n] = np.asarray(f)
                absorbed[pos:pos + n] = a
                del f
                pos += n
                done += n
                pbar.update(n * gap)
    cell = tank.dx**tank.ndim
    meta = {"separable": factors is not None}
    return MethodOutput(frames, absorbed * cell, meta)

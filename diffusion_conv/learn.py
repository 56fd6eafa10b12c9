"""The propagator learned from snapshots, the way a network learns a kernel.

The parameters are the logits of a softmax propagator (so every iterate is a
valid jump distribution); the loss is the squared error between each observed
frame pushed ``steps_between`` steps forward by :func:`diffusion_conv.propagate`
and the next frame; ``jax.grad`` through the propagator method gives the
gradient and scipy's L-BFGS-B does the descent. Standard errors come from the
curvature of the loss (``jax.hessian`` in logit space) and the spread of the
gradient over spatial blocks, mapped to the weights and moments.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .core import propagate
from .errors import InputError, InputTypeError
from .lattice import check_walls, normalize_boundary, offsets
from .propagator import Propagator, moments

METHODS = ("lbfgs",)
"""Optimisers :func:`fit_propagator` accepts."""


def _predict(weights, inputs, steps, boundary, walls):
    """Each input frame pushed through the jump weights, shape of ``inputs``.

    ``steps`` is a tuple with the steps of each pair (static). With one count
    for all, every input takes that many steps; otherwise one loop pushes all of
    them a step at a time and keeps each pair's frame at its own count (one
    compiled loop whatever the number of distinct counts).
    """
    prop = Propagator._trusted(weights)
    wall = None if walls is None else walls.array

    def push(n):
        return jax.vmap(lambda f: propagate(f, prop, n, boundary=boundary, walls=wall))

    if len(set(steps)) == 1:
        return push(steps[0])(inputs)
    one = push(1)
    counts = jnp.asarray(steps).reshape((-1,) + (1,) * (inputs.ndim - 1))

    def body(carry, n):
        fields, out = carry
        fields = one(fields)
        return (fields, jnp.where(counts == n, fields, out)), None

    (_, out), _ = jax.lax.scan(body, (inputs, jnp.zeros_like(inputs)), jnp.arange(1, max(steps) + 1))
    return out


def _loss(z, inputs, targets, scale, steps, boundary, walls, temperature):
    w = Propagator.from_logits(z, temperature=temperature).weights
    r = _predict(w, inputs, steps, boundary, walls) - targets
    return jnp.sum(r * r) / scale


_STATIC = ("steps", "boundary", "walls", "temperature")
_value_and_grad = jax.jit(jax.value_and_grad(_loss), static_argnames=_STATIC)
_hessian = jax.jit(jax.hessian(_loss), static_argnames=_STATIC)


@functools.partial(jax.jit, static_argnames=("steps", "boundary", "walls", "block"))
def _design(w, inputs, targets, steps, boundary, walls, block):
    """The data's view of the weights at ``w``, one weight direction at a time.

    Returns ``J^T J (e_k - e_c)`` for each weight ``k`` (K, K), ``J`` the
    prediction's Jacobian in weight space and ``c`` the centre weight: the Gram
    matrix on the directions that keep the sum of the weights, taken from the
    differences of the Jacobian's columns (the columns themselves are nearly
    equal after many steps, and their own Gram matrix would lose the
    differences to rounding); the residual times each Jacobian column summed
    over spatial blocks (K, T, blocks); and how strongly each cell reacts to a
    change of the kernel's shape (T, *shape).
    """
    K = w.size
    pred = functools.partial(_predict, inputs=inputs, steps=steps, boundary=boundary, walls=walls)
    resid, vjp = jax.vjp(pred, w)
    resid = resid - targets
    eye = jnp.eye(K, dtype=w.dtype).reshape((K,) + w.shape)
    column = lambda e: jax.jvp(pred, (w,), (e,))[1]  # noqa: E731
    centre = column(eye[K // 2])
    shape = inputs.shape[1:]
    nb = [-(-n // block) for n in shape]
    pad = [(0, 0)] + [(0, b * block - n) for b, n in zip(nb, shape)]
    split = (inputs.shape[0],) + tuple(x for b in nb for x in (b, block))

    def body(acc, e):
        col = column(e)
        sums = jnp.pad(col * resid, pad).reshape(split).sum(axis=tuple(range(2, 2 * len(shape) + 1, 2)))
        return acc + jnp.abs(col - centre), (vjp(col - centre)[0].ravel(), sums.reshape(sums.shape[0], -1))

    informative, (gram, blocks) = jax.lax.scan(body, jnp.zeros_like(inputs), eye)
    return gram, blocks, informative


class Fit:
    """A propagator fitted to frames, its moments with standard errors, and the descent.

    Attributes
    ----------
    propagator : Propagator
        The fitted one-step jump distribution, shape ``(2 r + 1, ...)``.
    logits : ndarray
        Its logits (defined up to a constant; ``weights = softmax(logits / temperature)``).
    loss : ndarray, shape ``(iterations + 1,)``
        The loss at the start and after each iteration: the squared error of the
        predicted frames over the squared change between frames (1 = no better
        than "nothing moves", 0 = exact).
    iterations : int
        L-BFGS iterations.
    converged : bool
        Whether the optimiser met its tolerances, or stopped where no step can
        lower the loss by more than ``tol`` (a descent that starts at the
        answer); ``message`` says why it stopped.
    weights_se : ndarray
        Standard error of each weight (kernel shape).
    mean, mean_se : ndarray, shape ``(ndim,)``
        Mean jump per step (cells) and its standard error; NaN along the
        ``unobserved_axes``.
    covariance, covariance_se : ndarray, shape ``(ndim, ndim)``
        Covariance of one step's jump (cells^2) and its standard error.
    drift, drift_se : ndarray, shape ``(ndim,)``
        ``v = mean dx / dt`` (length per time, in the units of ``dx`` and ``dt``).
    diffusivity, diffusivity_se : ndarray, shape ``(ndim, ndim)``
        ``D = covariance dx^2 / (2 dt)`` (length^2 per time).
    dx, dt : float
        Cell width and duration of one step used for the units.
    n_blocks : int
        Spatial blocks (over all frame pairs) behind the standard errors.
    descent_s, elapsed : float
        Wall-clock seconds of the L-BFGS descent (compilation of the loss
        included) and of the whole fit.
    steps_between : int or tuple of int
        Steps between consecutive frames: one count, or one per pair of frames
        when they differ.
    unobserved_axes : tuple of int
        Axes along which every frame is constant at a conserving boundary
        (reflecting or periodic) and the kernel's radius is 0: the jumps along
        them leave no trace in the frames, so the kernel is the marginal over
        those axes and the moments along them are unknown (NaN; ``None`` in
        :meth:`to_dict`).
    member : tuple of int or None
        The member of a batch of frames that was fitted (``frames[:, *member]``).
    boundary, n_frames, shape, temperature
        The set-up of the fit.
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    @property
    def final_loss(self) -> float:
        """The loss at the fitted kernel."""
        return float(self.loss[-1])

    def to_dict(self) -> dict:
        """Everything as plain JSON-serialisable Python values (lists for arrays)."""
        out = {}
        for name, value in self.__dict__.items():
            if name == "propagator":
                value = self.propagator.weights
                name = "weights"
            if isinstance(value, (np.ndarray, jax.Array)):
                value = _json_floats(np.asarray(value, dtype=float).tolist())
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        out["final_loss"] = self.final_loss
        out["units"] = {
            "mean": "cells per step",
            "covariance": "cells^2 per step",
            "drift": "dx per dt",
            "diffusivity": "dx^2 per dt",
        }
        json.dumps(out, allow_nan=False)  # every entry must serialise, as strict JSON
        return out

    def summary(self) -> str:
        """A short human-readable report of the fit."""
        fmt = lambda a: np.array2string(np.asarray(a, dtype=float), precision=6, suppress_small=True)  # noqa: E731

        # standard errors span many orders of magnitude (1e-8 for exact frames): three significant digits each
        def err(a):
            return np.array2string(
                np.asarray(a, dtype=float),  # noqa: E731
                formatter={"float_kind": lambda x: f"{x:.3g}"},
            )

        member = "" if self.member is None else f" (member {self.member} of a batch)"
        lines = [
            f"propagator fit: radius {self.radius}, {self.n_frames} frames of shape {tuple(self.shape)}{member}, "
            f"{_describe_steps(self.steps_between)}, boundary {[str(b) for b in self.boundary]}",
            f"loss {self.final_loss:.3e} after {self.iterations} iterations "
            f"({'converged' if self.converged else 'NOT converged'}: {self.message})",
            "weights:",
            fmt(self.propagator.weights),
            "weights standard error:",
            err(self.weights_se),
            f"mean jump (cells/step): {fmt(self.mean)} +- {err(self.mean_se)}",
            f"covariance (cells^2/step):\n{fmt(self.covariance)}\n  +-\n{err(self.covariance_se)}",
            f"drift (dx={self.dx:g}, dt={self.dt:g}): {fmt(self.drift)} +- {err(self.drift_se)}",
            f"diffusion tensor:\n{fmt(self.diffusivity)}\n  +-\n{err(self.diffusivity_se)}",
        ]
        for axis in self.unobserved_axes:
            lines.append(
                f"axis {axis}: not observed; every frame is constant along it, so the jumps along it leave "
                f"no trace (radius 0 there: the kernel is the marginal over that axis; its moments along "
                f"it are unknown, nan)"
            )
        return "\n".join(lines)

    def __repr__(self):
        return f"Fit(radius={self.radius}, loss={self.final_loss:.3e}, iterations={self.iterations})"


def _json_floats(value):
    """Nested lists of floats with NaN as None (strict JSON has no NaN)."""
    if isinstance(value, list):
        return [_json_floats(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def _describe_steps(steps):
    """``'5 steps apart'`` for one count, the counts of the pairs otherwise."""
    if isinstance(steps, int):
        return f"{steps} step{'s' if steps != 1 else ''} apart"
    if len(steps) <= 12:
        return f"steps apart per pair {list(steps)}"
    counts = {n: steps.count(n) for n in dict.fromkeys(steps)}
    return "steps apart " + ", ".join(f"{n} ({c} pair{'s' if c != 1 else ''})" for n, c in counts.items())


ROUNDOFF = 16
"""Negative values of float frames down to ``-ROUNDOFF * eps * peak`` (``eps`` of the frames' dtype, ``peak``
their largest absolute value) are rounding, not concentration: a transform (``spectral``, ``heat``) leaves
values of about one ``eps`` of the field's scale below zero where the field is 0. The fit reads them as 0."""

_BATCH_HINT = (
    "frames of a batch, shape (F, *batch, *grid) (Tank.stack, a bank of kernels), are fitted one member "
    "at a time: member=i, or member=(i, j) for two batch axes"
)


def _check_member(member, shape):
    """``member`` as a tuple of in-range indices into the leading axes of a frame of ``shape``, or None."""
    if member is None:
        return None
    index = tuple(member) if isinstance(member, (tuple, list)) else (member,)
    if not index:
        raise InputError("member must be an index or a tuple of indices into the batch axes, got ()")
    index = tuple(_checks.integer("member" if len(index) == 1 else "member entry", i) for i in index)
    if len(index) >= len(shape):
        raise InputError(
            f"member has {len(index)} entries, but frames of shape {tuple(shape)} would have no "
            f"spatial axis left after {len(index)} batch axes"
        )
    batch = tuple(shape[: len(index)])
    if any(not 0 <= i < n for i, n in zip(index, batch)):
        shown = member if not isinstance(member, list) else tuple(member)
        allowed = "; ".join(f"0 to {n - 1}" for n in batch)
        raise InputError(
            f"member {shown!r} is out of range for the frames' batch shape {batch}; allowed: {allowed}"
            + (" (one range per batch axis)" if len(batch) > 1 else "")
        )
    return index


def _check_frames(frames, member=None):
    """The frames stacked ``(F, *shape)`` (the member's, if given), round-off below zero read as 0; and the member."""
    if isinstance(frames, (str, bytes)) or not hasattr(frames, "__len__"):
        raise InputTypeError(
            f"frames must be a sequence of arrays or an array (F, *shape), got {type(frames).__name__}"
        )
    if len(frames) < 2:
        raise InputError(f"frames must hold at least two frames (a before and an after), got {len(frames)}")
    arrays = [np.asarray(f) for f in frames]
    for i, a in enumerate(arrays):
        if a.dtype == object or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise InputTypeError(f"frames[{i}] must be a real numeric array, got dtype {a.dtype}")
        if a.shape != arrays[0].shape:
            raise InputError(
                f"frames must all have one shape: frames[0] is {arrays[0].shape}, frames[{i}] is {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise InputError(f"frames[{i}] must be finite; it holds NaN or infinite values")
    member = _check_member(member, arrays[0].shape)
    data = np.stack(arrays)
    if member is not None:
        data = data[(slice(None),) + member]
    if data.ndim - 1 not in (1, 2, 3) or 0 in data.shape[1:]:
        hint = f"; {_BATCH_HINT}" if data.ndim > 4 and 0 not in data.shape else ""
        raise InputError(f"each frame must be a non-empty 1-D, 2-D or 3-D array, got shape {data.shape[1:]}{hint}")
    tol = _roundoff(data)
    for i, a in enumerate(data):
        if a.min() < -tol:
            rounding = (
                (
                    f", below the rounding of {data.dtype} (values down to {-tol:.3g}, {ROUNDOFF} eps of the "
                    f"frames' largest absolute value, are read as 0)"
                )
                if tol > 0
                else ""
            )
            raise InputError(
                f"frames[{i}] must be non-negative (a concentration); its minimum is {a.min()!r}{rounding}"
            )
    if tol > 0 and data.min() < 0:
        data = np.where(data < 0, np.zeros((), data.dtype), data)
    return data, member


def _roundoff(data) -> float:
    """The rounding of float frames at their scale (``ROUNDOFF`` eps of their largest absolute value); 0 for ints."""
    if not np.issubdtype(data.dtype, np.floating):
        return 0.0
    return ROUNDOFF * float(np.finfo(data.dtype).eps) * float(np.max(np.abs(data)))


def _flat_axes(data, bnd) -> tuple:
    """Axes at a conserving boundary along which every frame is constant (to rounding): jumps along them leave no
    trace. (At an open edge such jumps would drain the field unevenly, so there flatness is itself a measurement.)"""
    tol = _roundoff(data)
    return tuple(a for a in range(data.ndim - 1) if bnd[a].conserves and float(np.max(np.ptp(data, axis=a + 1))) <= tol)


def _check_steps(steps_between, npairs) -> tuple:
    """The steps of each of the ``npairs`` pairs of frames, from one count or one per pair."""
    if isinstance(steps_between, (tuple, list, np.ndarray)):
        counts = (
            list(np.asarray(steps_between, dtype=object).ravel())
            if isinstance(steps_between, np.ndarray)
            else list(steps_between)
        )
        if len(counts) != npairs:
            raise InputError(
                f"steps_between has {len(counts)} entries, but the frames make {npairs} pairs; give one "
                f"count for every pair or one per pair"
            )
        return tuple(_checks.integer("steps_between entry", n, minimum=1) for n in counts)
    return (_checks.integer("steps_between", steps_between, minimum=1),) * npairs


def _check_sequence_length(name, value, ndim, shape):
    """A per-axis sequence must have one entry per axis of the frames; fewer may mean batch axes."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or len(value) == ndim:
        return
    hint = f"; {_BATCH_HINT}" if len(value) < ndim else ""
    raise InputError(
        f"{name} has {len(value)} entries but each frame has {ndim} axes (shape {tuple(shape)}); give "
        f"one per axis{hint}"
    )


def _check_radius(radius, ndim):
    if isinstance(radius, (tuple, list)):
        if len(radius) != ndim:
            raise InputError(f"radius has {len(radius)} entries but the frames have {ndim} axes")
        radius = tuple(_checks.integer("radius entry", r, minimum=0) for r in radius)
    else:
        radius = (_checks.integer("radius", radius, minimum=1),) * ndim
    if not any(radius):
        raise InputError(f"radius must be positive along at least one axis, got {radius}")
    return radius


def _check_determinable(data, radius, bnd):
    """Refuse, on the host and before any JAX work, a radius that the frames cannot determine.

    A kernel wider than the frames along an axis, or one with more free weights
    (``prod(2 r + 1) - 1``) than there are informative cells: cells, summed over
    the frame pairs, whose input frame is not constant over the kernel's box
    around them (with the boundaries' own extension: folded at reflecting edges,
    wrapped at periodic ones, zero beyond open ones; walls hold zero).
    Where the box is constant, every kernel predicts the same value, so such
    cells say nothing about the weights.
    """
    from scipy import ndimage

    shape = data.shape[1:]
    for axis, (r, n) in enumerate(zip(radius, shape)):
        if 2 * r + 1 > n:
            fits = tuple(min(q, (m - 1) // 2) for q, m in zip(radius, shape))
            if not any(fits):
                advice = "no kernel fits frames this narrow (a jump needs 3 cells along an axis)"
            else:
                shown = fits[0] if len(set(fits)) == 1 else fits
                advice = f"use a radius of at most {(n - 1) // 2} there: radius={shown}"
            if axis == 0 and len(shape) > 1:
                advice += f"; if axis 0 is a batch axis, {_BATCH_HINT}"
            raise InputError(
                f"radius {radius} is too wide for frames of shape {shape}: along axis {axis} the kernel "
                f"spans {2 * r + 1} cells but the frames have {n}; {advice}"
            )
    free = int(np.prod([2 * r + 1 for r in radius])) - 1
    modes = [{"reflect": "reflect", "periodic": "wrap", "absorb": "constant"}[b] for b in bnd]
    size = tuple(2 * r + 1 for r in radius)
    informative = 0
    for frame in data[:-1]:
        f = frame.astype(np.float64)  # walls hold 0 (checked), so a box reaching into one sees variation
        spread = ndimage.maximum_filter(f, size=size, mode=modes, cval=0.0) - ndimage.minimum_filter(
            f, size=size, mode=modes, cval=0.0
        )
        informative += int(np.count_nonzero(spread > 0))
        if informative >= free:
            return
    raise InputError(
        f"the frames cannot determine a radius-{radius} kernel: it has {free} free weights, but only "
        f"{informative} cells (over the {data.shape[0] - 1} frame pairs) see any variation within the "
        f"kernel's reach; use a smaller radius or frames with more structure"
    )


def _check_init(init, radius, temperature):
    size = tuple(2 * r + 1 for r in radius)
    if init is None:
        return np.zeros(size)
    if isinstance(init, Propagator):
        w = np.asarray(init.weights, dtype=float)
        if w.shape != size:
            raise InputError(f"init has kernel shape {w.shape}, but radius {radius} needs {size}")
        return temperature * np.log(np.maximum(w, 1e-12))
    z = np.asarray(init)
    if z.dtype == object or not np.issubdtype(z.dtype, np.number) or np.iscomplexobj(z):
        raise InputTypeError(f"init must be a Propagator or an array of real logits, got dtype {z.dtype}")
    if z.shape != size:
        raise InputError(f"init logits have shape {z.shape}, but radius {radius} needs {size}")
    if not np.all(np.isfinite(z)):
        raise InputError("init logits must be finite; they hold NaN or infinite values")
    return z.astype(float)


def _outcome(res, hinv, loss, tol, dtype):
    """``(converged, message)`` of the descent, with a reason always given.

    L-BFGS-B ends 'ABNORMAL' (often with no reason) when its line search finds
    no lower value: at the minimum itself when the loss is already as low as the
    dtype can resolve, e.g. a descent that starts at the answer. That is
    convergence when no step can lower the loss by more than ``tol``: the loss
    is within ``tol`` of 0, or the Newton step (the quadratic model at the end
    point) would gain less than ``tol`` (relative to the loss when it is above 1,
    as the optimiser's own test).
    """
    message = str(res.message).strip()
    if res.success or res.status != 2:  # converged, or stopped by the iteration or evaluation limit
        return bool(res.success), message or ("converged" if res.success else "stopped")
    g = np.asarray(res.jac, dtype=float).ravel()
    gain = 0.5 * float(g @ hinv @ g)
    if loss <= tol or gain <= tol * max(1.0, loss):
        return True, (
            f"CONVERGENCE: the loss is at its minimum; the line search found no lower value and a Newton "
            f"step would lower it by {gain:.2g}, within tol={tol:g}"
        )
    reason = message.split(":", 1)[1].strip() if ":" in message else ""
    return False, (
        f"ABNORMAL: {reason or 'the line search found no lower value'}; a Newton step would still lower "
        f"the loss by {gain:.2g}"
        + ("" if np.dtype(dtype) == np.float64 else f" (the loss is computed in {np.dtype(dtype)}: x64 mode may help)")
    )


def fit_propagator(
    frames,
    steps_between: int | Sequence[int] = 1,
    radius: int | Sequence[int] = 1,
    boundary="reflect",
    walls=None,
    init=None,
    temperature=1.0,
    method="lbfgs",
    *,
    dx=1.0,
    dt=1.0,
    maxiter=1000,
    tol=1e-12,
    block=None,
    member=None,
) -> Fit:
    """Learn the one-step propagator from frames of a concentration field.

    Parameters
    ----------
    frames : sequence of arrays or array, shape ``(F, *shape)``, ``F >= 2``
        Concentration fields (1-D to 3-D, finite, non-negative) observed
        ``steps_between`` steps apart; from any method, noisy ones included.
        Float values below zero by no more than the rounding of their dtype
        (``ROUNDOFF`` eps of the frames' largest absolute value, what a
        transform leaves where the field is 0) are read as 0. The frames may
        have any magnitude: they are fitted in units of their largest value.
        Frames of a batch, ``(F, *batch, *shape)``, need ``member``.
    steps_between : int or sequence of int, each >= 1
        Steps of the process between consecutive frames: one count for every
        pair, or one per pair (``F - 1`` entries; the loss then pushes each
        frame through its own number of steps).
    radius : int or tuple of int
        Kernel radius (cells), one for all axes or one per axis (0 along an
        axis: no jumps along it).
    boundary : str or sequence of str
        ``'reflect'``, ``'periodic'`` or ``'absorb'`` per axis, as in the data.
    walls : array_like of bool, optional
        Solid cells (the frames' shape; frames must be 0 there).
    init : Propagator or array of logits, optional
        Starting point; the uniform kernel when None.
    temperature : float
        ``weights = softmax(logits / temperature)``; scales the logits only.
    method : str
        ``'lbfgs'``: scipy's L-BFGS-B on JAX values and gradients.
    dx, dt : float
        Cell width and duration of one step, for the drift and diffusion tensor.
    maxiter : int
        Most L-BFGS iterations.
    tol : float
        Stop when the loss falls by less than ``tol`` per iteration, or the
        largest gradient entry is below ``tol``.
    block : int, optional
        Side (cells) of the spatial blocks over which the gradient's spread is
        measured for the standard errors; by default ``max(4, 4 n r)``. The
        errors are trustworthy when the frames hold many more blocks than
        weights (``Fit.n_blocks``).
    member : int or tuple of int, optional
        For frames of a batch, ``(F, *batch, *shape)`` (a stack of tanks, a
        bank of kernels): the member to fit, ``frames[:, *member]``; one index
        per batch axis fitted over (an int for one).

    Returns
    -------
    Fit

    Raises
    ------
    ValueError, TypeError
        On bad input, before any work; ValueError also when the frames cannot
        determine a kernel of this radius (they do not change, fewer cells
        react to the kernel's shape than there are free weights, or the
        directions the data sees are fewer than the free weights: every frame
        constant along an axis, for one, says nothing about the jumps along it,
        and the message names the radius with 0 there that fits the kernel's
        marginal instead).

    Notes
    -----
    The loss is ``sum_t |P^(n_t) f_t - f_(t+1)|^2 / sum_t |f_(t+1) - f_t|^2``, the
    share of the observed change that the kernel fails to explain, computed in
    the default float dtype (turn on JAX's x64 mode for weights accurate to
    1e-6 or better). For frames of particle counts, ``E[f_(t+1) | f_t] =
    P^n f_t`` exactly, so the fit is unbiased; the standard errors are the
    sandwich ``H^+ V H^+`` with ``H`` the Hessian of the loss in logit space
    and ``V`` the variance of its gradient estimated from independent spatial
    blocks, mapped to weights and moments by the delta method.

    Identifiability: with ``steps_between = n > 1`` only the n-step operator
    ``P^n`` is observed. Its mean is ``n`` times the one-step mean and its
    covariance ``n`` times the one-step covariance, so the drift and the
    diffusion tensor are always recoverable (with errors like those of a
    one-step fit of the same frames). The individual weights are recoverable in
    principle (a non-negative kernel is the unique n-th convolution root of its
    n-step kernel), but the inversion damps detail like ``|symbol|^n``: the
    higher cumulants, and which of several kernels with the same first two
    moments produced the data, blur out as ``n`` grows and noise dominates
    them. What is never recoverable: jumps whose effect the frames do not show
    (a uniform field; in a periodic tank, variation along one axis only says
    nothing about jumps along the other, while a reflecting wall reveals them),
    and the logits beyond the softmax (a constant shift, and the split between
    logits and ``temperature``). See ``docs/learn.md``.
    """
    data, member = _check_frames(frames, member)
    ndim = data.ndim - 1
    steps = _check_steps(steps_between, data.shape[0] - 1)
    _check_sequence_length("radius", radius, ndim, data.shape[1:])
    radius = _check_radius(radius, ndim)
    _check_sequence_length("boundary", boundary, ndim, data.shape[1:])
    bnd = normalize_boundary(boundary, ndim)
    temperature = _checks.positive_float("temperature", temperature)
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"method {method!r} is unknown; allowed: {', '.join(METHODS)}")
    dx, dt = _checks.positive_float("dx", dx), _checks.positive_float("dt", dt)
    maxiter = _checks.integer("maxiter", maxiter, minimum=1)
    tol = _checks.positive_float("tol", tol)
    block = max(4, 4 * max(steps) * max(radius)) if block is None else _checks.integer("block", block, minimum=1)
    z0 = _check_init(init, radius, temperature)
    walls = check_walls(walls, data.shape[1:])
    if walls is not None and np.any(data[:, walls.array] != 0):
        raise InputError("frames must be 0 inside walls (solid cells hold no concentration)")

    start = time.perf_counter()
    dtype = _checks.float_dtype()
    eps = float(np.finfo(dtype).eps)
    flat = _flat_axes(data, bnd)  # to the rounding of the frames' own dtype
    # the process is linear: the frames are fitted in units of their largest value (a power of two, so the
    # scaling is exact), which keeps every sum below in range for frames of any magnitude
    peak = float(np.max(np.abs(data)))
    data = data.astype(np.float64) / (2.0 ** np.floor(np.log2(peak)) if peak > 0 else 1.0)
    change = float(np.sum((data[1:] - data[:-1]) ** 2))
    if not change > (100 * eps) ** 2 * float(np.sum(data**2)):
        raise InputError(
            "frames do not change from one to the next: nothing moves, so no kernel can be "
            "determined (uniform or stationary fields carry no information about the jumps)"
        )
    _check_determinable(data, radius, bnd)
    inputs, targets = jnp.asarray(data[:-1], dtype=dtype), jnp.asarray(data[1:], dtype=dtype)
    K = z0.size
    w0 = np.asarray(Propagator.from_logits(z0, temperature=temperature).weights)
    gram, _, informative = _design(jnp.asarray(w0, dtype=dtype), inputs, targets, steps, bnd, walls, block)
    reach = float(jnp.max(informative))
    n_info = int(jnp.sum(informative > 1e3 * eps * max(reach, 1e-300)))
    if n_info < K - 1:
        raise InputError(
            f"only {n_info} cells of the frames react to the kernel's shape, fewer than the "
            f"{K - 1} free weights of a radius-{radius} kernel; use a smaller radius or frames "
            f"with more structure"
        )
    # (J b_k)^T (J b_l) for the basis b_k = e_k - e_c (k != c) of the directions that keep the sum of the weights
    c, g = K // 2, np.asarray(gram, dtype=float)
    rest = [k for k in range(K) if k != c]
    m = (g - g[:, [c]])[np.ix_(rest, rest)]
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    rank = int(np.sum(ev > 1e-10 * max(ev[-1], 1e-300)))
    if rank < K - 1:
        blind = [a for a in flat if radius[a] > 0]
        if blind and any(radius[a] > 0 for a in range(ndim) if a not in blind):
            fix = tuple(0 if a in blind else r for a, r in enumerate(radius))
            raise InputError(
                f"the frames determine only {rank} of the {K - 1} free weights of a radius-{radius} "
                f"kernel: every frame is constant along axis {', '.join(map(str, blind))}, so the "
                f"jumps along it leave no trace; fit radius={fix} for the kernel's marginal over "
                f"that axis (its moments along it are then reported as unknown)"
            )
        raise InputError(
            f"the frames determine only {rank} of the {K - 1} free weights of a radius-{radius} "
            f"kernel (their variation misses some jump directions); use a smaller radius, a radius "
            f"of 0 along axes without variation, or frames with more structure"
        )
    unobserved = tuple(a for a in flat if radius[a] == 0)

    from scipy.optimize import minimize

    scale = change
    args = (inputs, targets, scale)
    statics = dict(steps=steps, boundary=bnd, walls=walls, temperature=temperature)

    def fun(x):
        v, g = _value_and_grad(jnp.asarray(x.reshape(z0.shape), dtype=dtype), *args, **statics)
        return float(v), np.asarray(g, dtype=np.float64).ravel()

    descent = time.perf_counter()
    history = [fun(z0.ravel())[0]]
    res = minimize(
        fun,
        z0.ravel(),
        jac=True,
        method="L-BFGS-B",
        callback=lambda intermediate_result: history.append(float(intermediate_result.fun)),
        options=dict(maxiter=maxiter, ftol=tol, gtol=tol, maxcor=20),
    )
    z = res.x.reshape(z0.shape)
    descent = time.perf_counter() - descent
    prop = Propagator.from_logits(z, temperature=temperature)
    w = np.asarray(prop.weights, dtype=float).ravel()

    # standard errors: sandwich H^+ V H^+ in logit space, mapped to weights and moments
    hess = np.asarray(_hessian(jnp.asarray(z, dtype=dtype), *args, **statics), dtype=float).reshape(K, K)
    _, blocks, _ = _design(jnp.asarray(w.reshape(z0.shape), dtype=dtype), inputs, targets, steps, bnd, walls, block)
    jac_w = (np.diag(w) - np.outer(w, w)) / temperature  # d weights / d logits
    blocks = np.asarray(blocks, dtype=float).reshape(K, -1)
    scores = 2.0 / scale * jac_w.T @ blocks
    hv, hu = np.linalg.eigh((hess + hess.T) / 2)
    keep = hv > 1e-10 * max(hv[-1], 1e-300)
    hinv = (hu[:, keep] / hv[keep]) @ hu[:, keep].T
    cov_w = jac_w @ hinv @ (scores @ scores.T) @ hinv @ jac_w.T
    d = offsets(radius).astype(float)
    mean, cov = moments(w, d, np)
    cen = d - mean
    g_cov = np.einsum("ki,kj->ijk", cen, cen)  # d covariance / d weights on the simplex
    se = lambda g: np.sqrt(np.maximum(np.einsum("...k,kl,...l->...", g, cov_w, g), 0.0))  # noqa: E731
    mean_se, cov_se = se(d.T), se(g_cov)
    for a in unobserved:  # not measured: unknown, not the 0 of a radius-0 kernel
        for m in (mean, mean_se):
            m[a] = np.nan
        for c in (cov, cov_se):
            c[a, :] = c[:, a] = np.nan
    converged, message = _outcome(res, hinv, float(history[-1]), tol, dtype)
    return Fit(
        propagator=prop,
        logits=z,
        loss=np.asarray(history),
        iterations=int(res.nit),
        converged=converged,
        message=message,
        radius=radius,
        steps_between=steps[0] if len(set(steps)) == 1 else steps,
        unobserved_axes=unobserved,
        member=member,
        boundary=bnd,
        n_frames=int(data.shape[0]),
        shape=tuple(data.shape[1:]),
        temperature=temperature,
        weights_se=np.sqrt(np.maximum(np.diag(cov_w), 0.0)).reshape(z0.shape),
        mean=mean,
        mean_se=mean_se,
        covariance=cov,
        covariance_se=cov_se,
        drift=mean * dx / dt,
        drift_se=mean_se * dx / dt,
        diffusivity=cov * dx**2 / (2 * dt),
        diffusivity_se=cov_se * dx**2 / (2 * dt),
        dx=dx,
        dt=dt,
        n_blocks=int(blocks.shape[1]),
        descent_s=descent,
        elapsed=time.perf_counter() - start,
    )


def fit_file(path, radius=1, steps_between=None, boundary=None, member=None) -> Fit:
    """Fit the propagator to the frames of a saved :class:`diffusion_conv.Result`.

    Parameters
    ----------
    path : str or path-like
        An ``.npz`` file written by ``Result.save``.
    radius : int or tuple of int
        Kernel radius to fit (cells). An int is that radius along every axis
        the frames vary along, and 0 along an axis where every frame is constant
        at a reflecting or periodic boundary (the two-compartment tank along its
        boards): the jumps along it leave no trace, so the fit is the kernel's
        marginal over it and its moments there are unknown
        (``Fit.unobserved_axes``). A tuple is taken as given.
    steps_between : int or sequence of int, optional
        Steps between frames; read from the saved step indices when None (each
        pair of frames with its own count when they are unevenly spaced, as the
        last frame of a run whose steps are not a multiple of ``save_every``).
        When given it must agree with them.
    boundary : str or sequence of str, optional
        The boundaries; read from the file (``meta['boundary']``) when None.
    member : int or tuple of int, optional
        Which member of a batch result (``Tank.stack``, a bank of kernels, the
        command's ``--temperatures`` or ``--channels``) to fit: one index per
        batch axis. Required for a batch, refused otherwise.

    Returns
    -------
    Fit
        With ``dx`` and ``dt`` from the file, so the drift and diffusion tensor
        are in the run's units.

    Raises
    ------
    ValueError
        When the file is missing or not a result, the spacing disagrees with
        ``steps_between``, the file holds a batch and no ``member`` is given,
        or the run had walls (a saved result holds their count, not their
        positions).
    """
    from .simulation import Result

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"path {path!r} does not exist or is not a file")
    res = Result.load(path)
    if len(res.steps) < 2:
        raise InputError(f"{path!r} holds only {len(res.steps)} frame; fitting needs at least two")
    batch = tuple(res.batch_shape)
    if batch and member is None:
        n = int(np.prod(batch))
        pick, flag = (
            ("member=i", "--member I")
            if len(batch) == 1
            else ("member=(" + ", ".join("ijk"[: len(batch)]) + ")", "--member " + ",".join("IJK"[: len(batch)]))
        )
        raise InputError(
            f"{path!r} holds a batch of {n} members (batch shape {batch}), each with its own frames; "
            f"fit one at a time: fit_file(path, {pick}), indices from 0 (on the command line "
            f"{flag})"
        )
    if member is not None:
        if not batch:
            raise InputError(f"member={member!r} was given, but the run in {path!r} is not a batch")
        index = tuple(member) if isinstance(member, (tuple, list)) else (member,)
        if len(index) != len(batch):
            raise InputError(
                f"member needs {len(batch)} indices for the batch shape {batch} of {path!r}, got {member!r}"
            )
    gaps = tuple(int(g) for g in np.diff(res.steps))
    if steps_between is not None:
        given = _check_steps(steps_between, len(gaps))
        if given != gaps:
            shown = (
                f"{gaps[0]} steps apart"
                if len(set(gaps)) == 1
                else f"unevenly spaced, steps between them {_short_list(gaps)}; leave steps_between out to use them"
            )
            raise InputError(f"steps_between={steps_between!r} disagrees with the file, whose frames are {shown}")
    if res.meta.get("walls"):
        raise InputError(
            f"the run in {path!r} had {res.meta['walls']} wall cells, whose positions a saved result "
            f"does not hold; use fit_propagator(frames, walls=...) with the tank's walls"
        )
    if boundary is None:
        boundary = res.meta.get("boundary", "reflect")
    if not isinstance(radius, (tuple, list)):
        data, _ = _check_frames(res.frames, member)
        ndim = data.ndim - 1
        _check_sequence_length("boundary", boundary, ndim, data.shape[1:])
        flat = _flat_axes(data, normalize_boundary(boundary, ndim))
        if flat and len(flat) < ndim:
            radius = tuple(0 if a in flat else _checks.integer("radius", radius, minimum=1) for a in range(ndim))
    return fit_propagator(
        res.frames,
        steps_between=gaps,
        radius=radius,
        boundary=boundary,
        dx=float(res.meta.get("dx", 1.0)),
        dt=float(res.meta.get("dt", 1.0)),
        member=member,
    )


def _short_list(values, most=12):
    """A list as text, its middle elided when long."""
    values = list(values)
    if len(values) <= most:
        return str(values)
    return "[" + ", ".join(map(str, values[:6])) + ", ..., " + ", ".join(map(str, values[-3:])) + "]"

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

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .lattice import check_walls, normalize_boundary, offsets
from .propagator import Propagator, moments
from .rollout import propagate

METHODS = ("lbfgs",)
"""Optimisers :func:`fit_propagator` accepts."""


def _predict(weights, inputs, steps, boundary, walls):
    """Each input frame pushed ``steps`` steps through the jump weights, shape of ``inputs``."""
    prop = Propagator._trusted(weights)
    return jax.vmap(lambda f: propagate(f, prop, steps, boundary=boundary,
                                        walls=None if walls is None else walls.array))(inputs)


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

    Returns the Gram matrix ``J^T J`` (K, K) of the prediction's Jacobian in
    weight space, the residual times each Jacobian column summed over spatial
    blocks (K, T, blocks), and how strongly each cell reacts to a change of the
    kernel's shape (T, *shape).
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
        return acc + jnp.abs(col - centre), (vjp(col)[0].ravel(), sums.reshape(sums.shape[0], -1))

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
        Whether the optimiser met its tolerances; ``message`` says why it stopped.
    weights_se : ndarray
        Standard error of each weight (kernel shape).
    mean, mean_se : ndarray, shape ``(ndim,)``
        Mean jump per step (cells) and its standard error.
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
    steps_between, boundary, n_frames, shape, temperature
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
                value = np.asarray(value, dtype=float).tolist()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        out["final_loss"] = self.final_loss
        out["units"] = {"mean": "cells per step", "covariance": "cells^2 per step",
                        "drift": "dx per dt", "diffusivity": "dx^2 per dt"}
        json.dumps(out)  # every entry must serialise
        return out

    def summary(self) -> str:
        """A short human-readable report of the fit."""
        fmt = lambda a: np.array2string(np.asarray(a, dtype=float), precision=6, suppress_small=True)  # noqa: E731
        # standard errors span many orders of magnitude (1e-8 for exact frames): three significant digits each
        err = lambda a: np.array2string(np.asarray(a, dtype=float),  # noqa: E731
                                        formatter={"float_kind": lambda x: f"{x:.3g}"})
        lines = [
            f"propagator fit: radius {self.radius}, {self.n_frames} frames of shape {tuple(self.shape)}, "
            f"{self.steps_between} step(s) apart, boundary {list(self.boundary)}",
            f"loss {self.final_loss:.3e} after {self.iterations} iterations "
            f"({'converged' if self.converged else 'NOT converged'}: {self.message})",
            "weights:", fmt(self.propagator.weights), "weights standard error:", err(self.weights_se),
            f"mean jump (cells/step): {fmt(self.mean)} +- {err(self.mean_se)}",
            f"covariance (cells^2/step):\n{fmt(self.covariance)}\n  +-\n{err(self.covariance_se)}",
            f"drift (dx={self.dx:g}, dt={self.dt:g}): {fmt(self.drift)} +- {err(self.drift_se)}",
            f"diffusion tensor:\n{fmt(self.diffusivity)}\n  +-\n{err(self.diffusivity_se)}",
        ]
        return "\n".join(lines)

    def __repr__(self):
        return f"Fit(radius={self.radius}, loss={self.final_loss:.3e}, iterations={self.iterations})"


def _check_frames(frames):
    if isinstance(frames, (str, bytes)) or not hasattr(frames, "__len__"):
        raise TypeError(f"frames must be a sequence of arrays or an array (F, *shape), got {type(frames).__name__}")
    if len(frames) < 2:
        raise ValueError(f"frames must hold at least two frames (a before and an after), got {len(frames)}")
    arrays = [np.asarray(f) for f in frames]
    for i, a in enumerate(arrays):
        if a.dtype == object or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise TypeError(f"frames[{i}] must be a real numeric array, got dtype {a.dtype}")
        if a.shape != arrays[0].shape:
            raise ValueError(f"frames must all have one shape: frames[0] is {arrays[0].shape}, "
                             f"frames[{i}] is {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"frames[{i}] must be finite; it holds NaN or infinite values")
        if np.any(a < 0):
            raise ValueError(f"frames[{i}] must be non-negative (a concentration); its minimum is {a.min()!r}")
    if arrays[0].ndim not in (1, 2, 3) or 0 in arrays[0].shape:
        raise ValueError(f"each frame must be a non-empty 1-D, 2-D or 3-D array, got shape {arrays[0].shape}")
    return np.stack(arrays)


def _check_radius(radius, ndim):
    if isinstance(radius, (tuple, list)):
        if len(radius) != ndim:
            raise ValueError(f"radius has {len(radius)} entries but the frames have {ndim} axes")
        radius = tuple(_checks.integer("radius entry", r, minimum=0) for r in radius)
    else:
        radius = (_checks.integer("radius", radius, minimum=1),) * ndim
    if not any(radius):
        raise ValueError(f"radius must be positive along at least one axis, got {radius}")
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
            raise ValueError(f"radius {radius} is too wide for frames of shape {shape}: along axis {axis} the kernel "
                             f"spans {2 * r + 1} cells but the frames have {n}; use a radius of at most "
                             f"{(n - 1) // 2} there")
    free = int(np.prod([2 * r + 1 for r in radius])) - 1
    modes = [{"reflect": "reflect", "periodic": "wrap", "absorb": "constant"}[b] for b in bnd]
    size = tuple(2 * r + 1 for r in radius)
    informative = 0
    for frame in data[:-1]:
        f = frame.astype(np.float64)  # walls hold 0 (checked), so a box reaching into one sees variation
        spread = (ndimage.maximum_filter(f, size=size, mode=modes, cval=0.0)
                  - ndimage.minimum_filter(f, size=size, mode=modes, cval=0.0))
        informative += int(np.count_nonzero(spread > 0))
        if informative >= free:
            return
    raise ValueError(f"the frames cannot determine a radius-{radius} kernel: it has {free} free weights, but only "
                     f"{informative} cells (over the {data.shape[0] - 1} frame pairs) see any variation within the "
                     f"kernel's reach; use a smaller radius or frames with more structure")


def _check_init(init, radius, temperature):
    size = tuple(2 * r + 1 for r in radius)
    if init is None:
        return np.zeros(size)
    if isinstance(init, Propagator):
        w = np.asarray(init.weights, dtype=float)
        if w.shape != size:
            raise ValueError(f"init has kernel shape {w.shape}, but radius {radius} needs {size}")
        return temperature * np.log(np.maximum(w, 1e-12))
    z = np.asarray(init)
    if z.dtype == object or not np.issubdtype(z.dtype, np.number) or np.iscomplexobj(z):
        raise TypeError(f"init must be a Propagator or an array of real logits, got dtype {z.dtype}")
    if z.shape != size:
        raise ValueError(f"init logits have shape {z.shape}, but radius {radius} needs {size}")
    if not np.all(np.isfinite(z)):
        raise ValueError("init logits must be finite; they hold NaN or infinite values")
    return z.astype(float)


def fit_propagator(frames, steps_between=1, radius=1, boundary="reflect", walls=None, init=None,
                   temperature=1.0, method="lbfgs", *, dx=1.0, dt=1.0, maxiter=1000, tol=1e-12,
                   block=None) -> Fit:
    """Learn the one-step propagator from frames of a concentration field.

    Parameters
    ----------
    frames : sequence of arrays or array, shape ``(F, *shape)``, ``F >= 2``
        Concentration fields (1-D to 3-D, finite, non-negative) observed
        ``steps_between`` steps apart; from any method, noisy ones included.
    steps_between : int, >= 1
        Steps of the process between consecutive frames.
    radius : int or tuple of int
        Kernel radius (cells), one for all axes or one per axis.
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

    Returns
    -------
    Fit

    Raises
    ------
    ValueError, TypeError
        On bad input, before any work; ValueError also when the frames cannot
        determine a kernel of this radius (they do not change, fewer cells
        react to the kernel's shape than there are free weights, or the
        directions the data sees are fewer than the free weights).

    Notes
    -----
    The loss is ``sum_t |P^n f_t - f_(t+1)|^2 / sum_t |f_(t+1) - f_t|^2``, the
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
    data = _check_frames(frames)
    ndim = data.ndim - 1
    steps = _checks.integer("steps_between", steps_between, minimum=1)
    radius = _check_radius(radius, ndim)
    bnd = normalize_boundary(boundary, ndim)
    temperature = _checks.positive_float("temperature", temperature)
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method {method!r} is unknown; allowed: {', '.join(METHODS)}")
    dx, dt = _checks.positive_float("dx", dx), _checks.positive_float("dt", dt)
    maxiter = _checks.integer("maxiter", maxiter, minimum=1)
    tol = _checks.positive_float("tol", tol)
    block = max(4, 4 * steps * max(radius)) if block is None else _checks.integer("block", block, minimum=1)
    z0 = _check_init(init, radius, temperature)
    walls = check_walls(walls, data.shape[1:])
    if walls is not None and np.any(data[:, walls.array] != 0):
        raise ValueError("frames must be 0 inside walls (solid cells hold no concentration)")

    start = time.perf_counter()
    dtype = _checks.float_dtype()
    change = float(np.sum((data[1:].astype(float) - data[:-1]) ** 2))
    if not change > (100 * np.finfo(dtype).eps) ** 2 * float(np.sum(data.astype(float) ** 2)):
        raise ValueError("frames do not change from one to the next: nothing moves, so no kernel can be "
                         "determined (uniform or stationary fields carry no information about the jumps)")
    _check_determinable(data, radius, bnd)
    inputs, targets = jnp.asarray(data[:-1], dtype=dtype), jnp.asarray(data[1:], dtype=dtype)
    K = z0.size
    w0 = np.asarray(Propagator.from_logits(z0, temperature=temperature).weights)
    gram, _, informative = _design(jnp.asarray(w0, dtype=dtype), inputs, targets, steps, bnd, walls, block)
    peak = float(jnp.max(informative))
    n_info = int(jnp.sum(informative > 1e3 * np.finfo(dtype).eps * max(peak, 1e-300)))
    if n_info < K - 1:
        raise ValueError(f"only {n_info} cells of the frames react to the kernel's shape, fewer than the "
                         f"{K - 1} free weights of a radius-{radius} kernel; use a smaller radius or frames "
                         f"with more structure")
    q = np.linalg.qr(np.eye(K) - 1.0 / K)[0][:, : K - 1]
    ev = np.linalg.eigvalsh(q.T @ np.asarray(gram, dtype=float) @ q)
    rank = int(np.sum(ev > 1e-10 * max(ev[-1], 1e-300)))
    if rank < K - 1:
        raise ValueError(f"the frames determine only {rank} of the {K - 1} free weights of a radius-{radius} "
                         f"kernel (their variation misses some jump directions); use a smaller radius, a radius "
                         f"of 0 along axes without variation, or frames with more structure")

    from scipy.optimize import minimize

    scale = change
    args = (inputs, targets, scale)
    statics = dict(steps=steps, boundary=bnd, walls=walls, temperature=temperature)

    def fun(x):
        v, g = _value_and_grad(jnp.asarray(x.reshape(z0.shape), dtype=dtype), *args, **statics)
        return float(v), np.asarray(g, dtype=np.float64).ravel()

    descent = time.perf_counter()
    history = [fun(z0.ravel())[0]]
    res = minimize(fun, z0.ravel(), jac=True, method="L-BFGS-B",
                   callback=lambda intermediate_result: history.append(float(intermediate_result.fun)),
                   options=dict(maxiter=maxiter, ftol=tol, gtol=tol, maxcor=20))
    z = res.x.reshape(z0.shape)
    descent = time.perf_counter() - descent
    prop = Propagator.from_logits(z, temperature=temperature)
    w = np.asarray(prop.weights, dtype=float).ravel()

    # standard errors: sandwich H^+ V H^+ in logit space, mapped to weights and moments
    hess = np.asarray(_hessian(jnp.asarray(z, dtype=dtype), *args, **statics), dtype=float).reshape(K, K)
    _, blocks, _ = _design(jnp.asarray(w.reshape(z0.shape), dtype=dtype), inputs, targets, steps, bnd, walls,
                           block)
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
    return Fit(
        propagator=prop, logits=z, loss=np.asarray(history), iterations=int(res.nit),
        converged=bool(res.success), message=str(res.message), radius=radius, steps_between=steps,
        boundary=bnd, n_frames=int(data.shape[0]), shape=tuple(data.shape[1:]), temperature=temperature,
        weights_se=np.sqrt(np.maximum(np.diag(cov_w), 0.0)).reshape(z0.shape),
        mean=mean, mean_se=mean_se, covariance=cov, covariance_se=cov_se,
        drift=mean * dx / dt, drift_se=mean_se * dx / dt,
        diffusivity=cov * dx**2 / (2 * dt), diffusivity_se=cov_se * dx**2 / (2 * dt),
        dx=dx, dt=dt, n_blocks=int(blocks.shape[1]), descent_s=descent,
        elapsed=time.perf_counter() - start,
    )


def fit_file(path, radius=1, steps_between=None, boundary=None) -> Fit:
    """Fit the propagator to the frames of a saved :class:`diffusion_conv.Result`.

    Parameters
    ----------
    path : str or path-like
        An ``.npz`` file written by ``Result.save``.
    radius : int or tuple of int
        Kernel radius to fit (cells).
    steps_between : int, optional
        Steps between frames; read from the saved step indices when None. When
        given it must agree with them.
    boundary : str or sequence of str, optional
        The boundaries; read from the file (``meta['boundary']``) when None.

    Returns
    -------
    Fit
        With ``dx`` and ``dt`` from the file, so the drift and diffusion tensor
        are in the run's units.

    Raises
    ------
    ValueError
        When the file is missing or not a result, its frames are unevenly
        spaced (fit a subset with :func:`fit_propagator` instead), the spacing
        disagrees with ``steps_between``, or the run had walls (a saved result
        holds their count, not their positions).
    """
    from .simulate import Result

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"path {path!r} does not exist or is not a file")
    res = Result.load(path)
    if len(res.steps) < 2:
        raise ValueError(f"{path!r} holds only {len(res.steps)} frame; fitting needs at least two")
    gaps = np.unique(np.diff(res.steps))
    if len(gaps) != 1:
        raise ValueError(f"{path!r} has unevenly spaced frames (saved steps {res.steps.tolist()}); fitting needs "
                         f"equal spacing: fit_propagator on an evenly spaced subset of Result.frames")
    if steps_between is not None:
        steps_between = _checks.integer("steps_between", steps_between, minimum=1)
        if steps_between != int(gaps[0]):
            raise ValueError(f"steps_between={steps_between} disagrees with the file, whose frames are "
                             f"{int(gaps[0])} steps apart")
    if res.meta.get("walls"):
        raise ValueError(f"the run in {path!r} had {res.meta['walls']} wall cells, whose positions a saved result "
                         f"does not hold; use fit_propagator(frames, walls=...) with the tank's walls")
    return fit_propagator(res.frames, steps_between=int(gaps[0]), radius=radius,
                          boundary=res.meta.get("boundary", "reflect") if boundary is None else boundary,
                          dx=float(res.meta.get("dx", 1.0)), dt=float(res.meta.get("dt", 1.0)))

"""fit_propagator: the logits of a softmax propagator by L-BFGS-B on the loss, with standard errors."""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..errors import InputError
from ..lattice import check_walls, normalize_boundary, offsets
from ..propagator import Propagator, moments
from .checks import (
    check_determinable,
    check_frames,
    check_init,
    check_radius,
    check_sequence_length,
    check_steps,
    flat_axes,
    lbfgs,
    scaled_frames,
)
from .model import METHODS, design, hessian, value_and_grad
from .outcome import Fit


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
    data, member = check_frames(frames, member)
    ndim = data.ndim - 1
    steps = check_steps(steps_between, data.shape[0] - 1)
    check_sequence_length("radius", radius, ndim, data.shape[1:])
    radius = check_radius(radius, ndim)
    check_sequence_length("boundary", boundary, ndim, data.shape[1:])
    bnd = normalize_boundary(boundary, ndim)
    temperature = _checks.positive_float("temperature", temperature)
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"method {method!r} is unknown; allowed: {', '.join(METHODS)}")
    dx, dt = _checks.positive_float("dx", dx), _checks.positive_float("dt", dt)
    maxiter = _checks.integer("maxiter", maxiter, minimum=1)
    tol = _checks.positive_float("tol", tol)
    block = max(4, 4 * max(steps) * max(radius)) if block is None else _checks.integer("block", block, minimum=1)
    z0 = check_init(init, radius, temperature)
    walls = check_walls(walls, data.shape[1:])
    if walls is not None and np.any(data[:, walls.array] != 0):
        raise InputError("frames must be 0 inside walls (solid cells hold no concentration)")

    start = time.perf_counter()
    dtype = _checks.float_dtype()
    eps = float(np.finfo(dtype).eps)
    flat = flat_axes(data, bnd)  # to the rounding of the frames' own dtype
    data, change = scaled_frames(data, "kernel")
    check_determinable(data, radius, bnd)
    inputs, targets = jnp.asarray(data[:-1], dtype=dtype), jnp.asarray(data[1:], dtype=dtype)
    K = z0.size
    w0 = np.asarray(Propagator.from_logits(z0, temperature=temperature).weights)
    gram, _, informative = design(jnp.asarray(w0, dtype=dtype), inputs, targets, steps, bnd, walls, block)
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

    scale = change
    args = (inputs, targets, scale)
    statics = dict(steps=steps, boundary=bnd, walls=walls, temperature=temperature)

    def fun(x):
        v, g = value_and_grad(jnp.asarray(x.reshape(z0.shape), dtype=dtype), *args, **statics)
        return float(v), np.asarray(g, dtype=np.float64).ravel()

    descent = time.perf_counter()
    res, history = lbfgs(fun, z0.ravel(), maxiter, tol, tol)
    z = res.x.reshape(z0.shape)
    descent = time.perf_counter() - descent
    prop = Propagator.from_logits(z, temperature=temperature)
    w = np.asarray(prop.weights, dtype=float).ravel()

    # standard errors: sandwich H^+ V H^+ in logit space, mapped to weights and moments
    hess = np.asarray(hessian(jnp.asarray(z, dtype=dtype), *args, **statics), dtype=float).reshape(K, K)
    _, blocks, _ = design(jnp.asarray(w.reshape(z0.shape), dtype=dtype), inputs, targets, steps, bnd, walls, block)
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

"""fit_mobility: the mobility map learned back from snapshots, by gradient descent through the expectation.

The model is the shared process with mobility (:mod:`diffusion_conv.lattice.mobility`):
each observed frame is pushed ``steps_between`` expectation steps forward with
a known kernel and the jump factors of a candidate map, and compared with the
next frame. The map is ``m = exp(-u^2)``, one parameter per cell, so every
iterate lies in ``(0, 1]`` and open water (``m = 1``, ``u = 0``) is an interior
point the descent reaches (a sigmoid would put it at infinity); ``jax.grad`` through the steps gives the gradient and
scipy's L-BFGS-B does the descent.

A prior keeps the map where the frames say little (cells the salt never
reaches, or where its gradient is flat): ``'smooth'`` penalises the squared
differences of neighbouring cells (for maps that vary slowly), ``'tv'`` their
absolute differences (total variation: for piecewise maps, a gel with a sharp
edge), ``'none'`` nothing. Its weight follows the noise of the frames (see
:func:`fit_mobility`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..errors import InputError, InputTypeError
from ..lattice import check_walls, normalize_boundary
from ..lattice.mobility import check_mobility, jump_factors, step
from ..propagator import Propagator
from .checks import check_frames, check_sequence_length, check_steps, lbfgs, scaled_frames

PRIORS = ("smooth", "tv", "none")
"""Priors :func:`fit_mobility` accepts."""

TV_EPS = 1e-3
"""The total variation is ``sum sqrt(diff^2 + TV_EPS^2)``: smooth at 0, so L-BFGS can descend it."""

RULE = 3.0
"""The prior's weight is ``RULE`` times the noise share (see :func:`fit_mobility`)."""

PILOT = 50
"""Iterations of the first descent that measures the noise share."""

_FLOOR = 1e-6
"""The smallest weight the rule gives: a noise-free fit still needs the prior where the frames say nothing."""


@dataclass
class MobilityFit:
    """A mobility map fitted to frames.

    Attributes
    ----------
    mobility : ndarray, shape of a frame
        The fitted map, in ``(0, 1]`` (0 exactly in the given walls).
    parameters : ndarray
        ``u`` with ``mobility = exp(-u^2)``.
    loss : ndarray, shape ``(iterations + 1,)``
        The objective (data share plus ``weight`` times the penalty) at the start
        and after each iteration.
    data_loss : float
        At the end: the squared error of the predicted frames over the squared
        change between frames (1 = no better than "nothing moves", 0 = exact).
    penalty : float
        At the end: the prior's penalty (mean over neighbouring pairs of cells).
    prior : str
        ``'smooth'``, ``'tv'`` or ``'none'``.
    weight : float
        The prior's weight used.
    noise_share : float
        The data loss a first descent with almost no prior leaves (the share of
        the change the noise makes), which set ``weight``; NaN when ``weight``
        was given.
    iterations : int
    converged : bool
    message : str
        Why the optimiser stopped.
    steps_between : int or tuple of int
    boundary : tuple of str
    propagator : Propagator
        The kernel the map was fitted with (given, not fitted).
    shape : tuple of int
    n_frames : int
    elapsed : float
        Wall-clock seconds of the fit (compilation included).
    """

    mobility: np.ndarray
    parameters: np.ndarray
    loss: np.ndarray
    data_loss: float
    penalty: float
    prior: str
    weight: float
    noise_share: float
    iterations: int
    converged: bool
    message: str
    steps_between: int | tuple
    boundary: tuple
    propagator: Propagator = field(repr=False)
    shape: tuple = ()
    n_frames: int = 0
    elapsed: float = 0.0

    def error(self, truth) -> float:
        """Mean absolute difference between the fitted map and ``truth`` (same shape)."""
        truth = np.asarray(truth, dtype=float)
        if truth.shape != self.mobility.shape:
            raise InputError(f"truth must have the map's shape {self.mobility.shape}, got {truth.shape}")
        return float(np.mean(np.abs(self.mobility - truth)))

    def __repr__(self):
        m = self.mobility
        return (
            f"MobilityFit(shape={self.shape}, mobility in [{m.min():.3g}, {m.max():.3g}], "
            f"data_loss={self.data_loss:.3g}, prior={self.prior!r}, weight={self.weight:.3g}, "
            f"iterations={self.iterations}, converged={self.converged})"
        )


def _penalty(m, prior, solid):
    """Mean over neighbouring pairs of open cells of ``diff^2`` (smooth) or ``sqrt(diff^2 + eps^2) - eps`` (tv)."""
    total, pairs = 0.0, 0.0
    for axis in range(m.ndim):
        n = m.shape[axis]
        if n < 2:
            continue
        cut = lambda a, lo, n=n, axis=axis: jax.lax.slice_in_dim(a, lo, lo + n - 1, axis=axis)  # noqa: E731
        d = cut(m, 1) - cut(m, 0)
        term = d**2 if prior == "smooth" else jnp.sqrt(d**2 + TV_EPS**2) - TV_EPS
        both = ~(cut(solid, 1) | cut(solid, 0))
        total, pairs = total + jnp.sum(jnp.where(both, term, 0.0)), pairs + jnp.sum(both, dtype=m.dtype)
    return total / jnp.maximum(pairs, 1.0)


def _objective(z, inputs, targets, weights, scale, weight, solid, *, steps, radius, boundary, prior):
    m = jnp.where(solid, 0.0, jnp.exp(-(z**2)))
    factors = jump_factors(m, radius, boundary)

    def one(f):
        return step(f, weights, factors, radius, boundary)[0]

    push = jax.vmap(one)
    counts = jnp.asarray(steps).reshape((-1,) + (1,) * (inputs.ndim - 1))

    def body(carry, n):
        fields, out = carry
        fields = push(fields)
        return (fields, jnp.where(counts == n, fields, out)), None

    (_, pred), _ = jax.lax.scan(body, (inputs, inputs), jnp.arange(1, max(steps) + 1))
    data = jnp.sum((pred - targets) ** 2) / scale
    pen = _penalty(m, prior, solid) if prior != "none" else jnp.zeros((), data.dtype)
    return data + weight * pen, (data, pen)


_value_and_grad = jax.jit(
    jax.value_and_grad(_objective, has_aux=True),
    static_argnames=("steps", "radius", "boundary", "prior"),
)


def fit_mobility(
    frames,
    prop,
    steps_between: int | Sequence[int] = 1,
    boundary="reflect",
    *,
    prior="smooth",
    weight=None,
    walls=None,
    init=None,
    maxiter=500,
    tol=1e-10,
    member=None,
) -> MobilityFit:
    """Learn the mobility map of a tank from frames of its concentration, the kernel known.

    Parameters
    ----------
    frames : sequence of arrays or array, shape ``(F, *shape)``, ``F >= 2``
        Concentration fields (1-D to 3-D, finite, non-negative) observed
        ``steps_between`` steps apart: the propagator's own frames, or noisy
        ones (particles, counts, a measurement). Frames of a batch need ``member``.
    prop : Propagator
        The one-step kernel of the water (mobility 1), one kernel (no batch).
        :func:`fit_propagator` on frames of open water learns it.
    steps_between : int or sequence of int, each >= 1
        Steps between consecutive frames, one count or one per pair.
    boundary : str or sequence of str
        ``'reflect'``, ``'periodic'`` or ``'absorb'`` per axis, as in the data.
    prior : str
        ``'smooth'`` (squared differences of neighbouring cells: slowly varying
        maps), ``'tv'`` (total variation: piecewise maps with sharp edges, a gel
        disc, a board) or ``'none'``.
    weight : float, optional
        The prior's weight. By default the rule below.
    walls : array_like of bool, optional
        Cells known to be solid: mobility 0 there, not fitted; the frames must be 0 there.
    init : array_like, optional
        Starting map, values in ``(0, 1)``; 0.5 everywhere when None.
    maxiter : int
        Most L-BFGS iterations.
    tol : float
        Stop when the objective falls by less than ``tol`` (relative) per iteration.
    member : int or tuple of int, optional
        For frames of a batch ``(F, *batch, *shape)``: the member to fit.

    Returns
    -------
    MobilityFit

    Raises
    ------
    InputError, InputTypeError
        On bad input, before any work: frames (as :func:`fit_propagator`),
        ``prop`` not a single Propagator or of another dimension, an unknown
        prior, a negative weight, ``init`` outside ``(0, 1)`` or of another
        shape, frames that do not change.

    Notes
    -----
    The objective is ``L = sum_t |E_m^(n_t) f_t - f_(t+1)|^2 / sum_t |f_(t+1) - f_t|^2
    + weight * penalty(m)``, with ``E_m`` one expectation step with the
    mobility map ``m`` (the propagator method's step) and the penalty the mean
    over neighbouring pairs of cells of ``(m_i - m_j)^2`` (``'smooth'``) or
    ``|m_i - m_j|`` (``'tv'``, smoothed by ``TV_EPS``).

    The weight's rule: ``weight = max(RULE * noise_share, 1e-6)`` with
    ``RULE = 3``, where ``noise_share`` is the data loss left by a first
    descent (``PILOT = 50`` iterations) with the prior's weight at ``1e-6``:
    the share of the change between frames that no map explains, i.e. the
    noise. The prior then weighs in proportion to what the data cannot decide;
    noise-free frames get a weight near the floor and the data decide alone.
    The factor 3 is measured, not derived: on a gel disc (mobility 0.2,
    32 x 32, Gaussian kernel, noise of 1% and 5% of the field's peak) the
    map's error with either prior was smallest at 1 to 10 times the noise
    share among 0.3, 1, 3, 10 and 30 times, and 3 is within a quarter of the
    best in all four cases; the total variation at 10 and 30 times flattens the
    disc away under the larger noise (docs/learn.md gives the table).

    What the frames cannot tell: the mobility of cells where the field is
    uniform (no gradient, so nothing crosses) and of cells the salt never
    reaches; the prior fills them from their neighbours (or leaves ``init``).
    Between cells the data see the conductance of each jump, the harmonic
    mean of its box, so a single cell's value is determined through its
    neighbours: a sharp edge is recovered to about a cell.
    """
    data, member = check_frames(frames, member)
    ndim = data.ndim - 1
    shape = tuple(data.shape[1:])
    if not isinstance(prop, Propagator):
        raise InputTypeError(f"prop must be a Propagator (the kernel of open water), got {type(prop).__name__}")
    if prop.batch_shape:
        raise InputError(f"prop must be one kernel, got a batch of shape {prop.batch_shape}")
    if prop.ndim != ndim:
        raise InputError(f"prop is {prop.ndim}-D but the frames are {ndim}-D (shape {shape})")
    steps = check_steps(steps_between, data.shape[0] - 1)
    check_sequence_length("boundary", boundary, ndim, shape)
    bnd = normalize_boundary(boundary, ndim)
    if not isinstance(prior, str) or prior not in PRIORS:
        raise InputError(f"prior {prior!r} is unknown; allowed: {', '.join(PRIORS)}")
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
            raise InputTypeError(f"weight must be a non-negative number or None, got {type(weight).__name__}")
        weight = float(weight)
        if not (np.isfinite(weight) and weight >= 0):
            raise InputError(f"weight must be a finite number >= 0 or None, got {weight!r}")
    maxiter = _checks.integer("maxiter", maxiter, minimum=1)
    tol = _checks.positive_float("tol", tol)
    wall = check_walls(walls, shape)
    mask = None if wall is None else np.asarray(wall.array, dtype=bool)
    if mask is not None and np.any(data[:, mask] != 0):
        raise InputError("frames must be 0 inside walls (solid cells hold no concentration)")
    if init is None:
        z0 = np.full(shape, np.sqrt(np.log(2.0)))  # m = 1/2: away from u = 0, where the gradient vanishes
    else:
        m0 = check_mobility(init, shape)
        m0 = np.ones(shape) if m0 is None else m0
        if mask is not None:
            m0 = np.where(mask, 0.5, m0)
        if np.any((m0 <= 0) | (m0 >= 1)):
            raise InputError(
                f"init must lie strictly inside (0, 1) (the map is exp(-u^2), whose gradient vanishes at 1); "
                f"it spans [{m0.min():.4g}, {m0.max():.4g}]"
            )
        z0 = np.sqrt(-np.log(m0))

    start = time.perf_counter()
    data, change = scaled_frames(data, "mobility")
    dtype = _checks.float_dtype()
    inputs, targets = jnp.asarray(data[:-1], dtype=dtype), jnp.asarray(data[1:], dtype=dtype)
    w = jnp.asarray(np.asarray(prop.weights, dtype=np.float64).ravel(), dtype=dtype)
    statics = dict(steps=steps, radius=tuple(prop.radius), boundary=tuple(bnd), prior=prior)
    solid = jnp.asarray(np.zeros(shape, bool) if mask is None else mask)

    def evaluate(z, lam):
        (v, (dl, pen)), g = _value_and_grad(
            jnp.asarray(z.reshape(shape), dtype=dtype), inputs, targets, w, change, lam, solid, **statics
        )
        return float(v), np.asarray(g, dtype=np.float64).ravel(), float(dl), float(pen)

    def descend(z, lam, iterations):
        return lbfgs(lambda x: evaluate(x, lam)[:2], z.ravel(), iterations, tol, 1e-12)

    noise_share = float("nan")
    if weight is None:
        if prior == "none":
            weight = 0.0
        else:  # the rule: a first descent with almost no prior measures what the map cannot explain
            first, _ = descend(z0, _FLOOR, min(PILOT, maxiter))
            noise_share = evaluate(first.x, _FLOOR)[2]
            weight = max(RULE * noise_share, _FLOOR)
    res, history = descend(z0, weight, maxiter)
    z = res.x.reshape(shape)
    _, _, dloss, pen = evaluate(z, weight)
    m = np.exp(-(z**2))
    if mask is not None:
        m = np.where(mask, 0.0, m)
    return MobilityFit(
        mobility=m,
        parameters=z,
        loss=np.asarray(history),
        data_loss=float(dloss),
        penalty=float(pen),
        prior=prior,
        weight=float(weight),
        noise_share=noise_share,
        iterations=int(res.nit),
        converged=bool(res.success),
        message=str(res.message).strip(),
        steps_between=steps[0] if len(set(steps)) == 1 else steps,
        boundary=tuple(bnd),
        propagator=prop,
        shape=shape,
        n_frames=int(data.shape[0]),
        elapsed=time.perf_counter() - start,
    )

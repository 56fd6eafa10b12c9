"""What a fit returns: :class:`Fit`, its summary and its JSON form."""

from __future__ import annotations

import json

import jax
import numpy as np


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

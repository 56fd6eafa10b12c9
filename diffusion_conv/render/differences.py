"""Difference panels that tell agreement from disagreement.

A run's difference to the reference is measured against what is expected of it:

- two lattice methods (``propagator``, ``spectral``, ``image``) compute the same
  numbers, so they should differ by rounding only: at most one rounding of the
  field's scale per step, ``eps * max|field| * (steps + 1)`` (``eps`` of the
  coarser dtype). Below that the panel is drawn flat and says "agrees to
  rounding"; above it, it says how many times the rounding bound it is;
- a stochastic run (``particles``, ``counts``) should differ by its sampling
  noise: the binomial variance of each cell around the expectation
  (:func:`diffusion_conv.comparison.sampling_variance`); the panel gives the root
  mean square difference in units of that noise (about 1 is expected);
- the continuum ``heat`` equation differs from the lattice walk by the lattice's
  declared order (``~ n^-1`` for a symmetric kernel); the panel gives the
  difference relative to the peak and the declared order.

The colour scale of a difference is held steady over the run (its largest
difference over the frames that do not agree to rounding) unless
``diff_scale='frame'`` asks for each frame's own.
"""

from __future__ import annotations

import numpy as np

from ..comparison import sampling_variance
from ..errors import InputError
from .scales import stochastic
from .sources import view

DIFF_SCALES = ("run", "frame")
"""How a difference panel's colour scale follows the run."""

LATTICE = ("propagator", "spectral", "image")
"""Methods that compute the lattice walk's expectation itself: they agree to rounding."""


def _eps(result) -> float:
    dtype = np.dtype(result.meta.get("dtype", result.frames.dtype))
    return float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)


def _dtype_name(result) -> str:
    return str(np.dtype(result.meta.get("dtype", result.frames.dtype)))


def kind_of(result, reference) -> str:
    """``'noise'``, ``'order'`` or ``'rounding'``: what the difference of ``result`` to ``reference`` should be."""
    if stochastic(result) or stochastic(reference):
        return "noise"
    if "heat" in (result.method, reference.method):
        return "order"
    return "rounding"


class Difference:
    """The difference of one run to the reference, frame by frame, and what it is measured against.

    Parameters
    ----------
    result, reference : Result
        Unbatched runs with the same saved steps.
    diff_scale : {'run', 'frame'}
        One colour scale for the run, or each frame its own.

    Attributes
    ----------
    kind : str
        See :func:`kind_of`.
    largest : ndarray
        ``max |difference|`` of each frame.
    bound : ndarray
        The rounding bound of each frame (``kind == 'rounding'``), else zeros.
    agrees : ndarray of bool
        Frames whose difference is within the rounding bound (drawn flat).
    ratio : ndarray
        ``kind == 'noise'``: root mean square difference over the expected sampling
        noise; ``'rounding'``: the largest difference over the bound; ``'order'``:
        the largest difference over the reference's peak.
    """

    def __init__(self, result, reference, diff_scale="run"):
        if diff_scale not in DIFF_SCALES:
            raise InputError(f"diff_scale must be one of {', '.join(map(repr, DIFF_SCALES))}, got {diff_scale!r}")
        self.result, self.reference, self.diff_scale = result, reference, diff_scale
        self.kind = kind_of(result, reference)
        steps = np.asarray(reference.steps, dtype=np.float64)
        n = len(steps)
        eps = max(_eps(result), _eps(reference))
        self.dtype = _dtype_name(result) if _eps(result) >= _eps(reference) else _dtype_name(reference)
        self.largest, self.bound, self.ratio, self.peak = (np.zeros(n) for _ in range(4))
        self.agrees = np.zeros(n, dtype=bool)
        ndim = result.frames.ndim - 1
        for i in range(n):
            a = np.asarray(view(result.frames[i]), dtype=np.float64)
            b = np.asarray(view(reference.frames[i]), dtype=np.float64)
            d = a - b
            self.largest[i] = float(np.max(np.abs(d)))
            self.peak[i] = float(max(np.max(np.abs(a)), np.max(np.abs(b))))
            if self.kind == "rounding":
                self.bound[i] = eps * self.peak[i] * (steps[i] + 1.0)
                self.agrees[i] = self.largest[i] <= self.bound[i]
                if self.bound[i] > 0:
                    self.ratio[i] = self.largest[i] / self.bound[i]
                else:
                    self.ratio[i] = np.inf if self.largest[i] > 0 else 0.0
            elif self.kind == "noise":
                expected = b if stochastic(result) else a
                var = self._variance(result, expected, ndim) + self._variance(reference, expected, ndim)
                total = float(np.sum(var))
                self.ratio[i] = float(np.sqrt(np.sum(d * d) / total)) if total > 0 else np.nan
            else:
                self.ratio[i] = self.largest[i] / self.peak[i] if self.peak[i] > 0 else 0.0
        shown = self.largest[~self.agrees]
        self.steady = (
            float(shown.max())
            if shown.size and shown.max() > 0
            else float(max(self.bound.max(), self.largest.max(), 1e-300))
        )
        lattice = result if reference.method == "heat" else reference
        self.order = lattice.meta.get("order")
        self.steps = steps

    @staticmethod
    def _variance(res, expected, ndim):
        if not stochastic(res) or res.meta.get("n_particles") is None:
            return 0.0
        m0 = float(np.asarray(res.mass()[0], dtype=np.float64))
        return sampling_variance(expected, m0, int(res.meta["n_particles"]), res.dx, ndim)

    def data(self, i):
        """What the panel draws at frame ``i``: the difference, or zeros where it agrees to rounding."""
        d = np.asarray(view(self.result.frames[i]), dtype=np.float64) - np.asarray(
            view(self.reference.frames[i]), dtype=np.float64
        )
        return np.zeros_like(d) if self.agrees[i] else d

    def limit(self, i):
        """The symmetric colour limit of frame ``i``."""
        if self.diff_scale == "frame" and not self.agrees[i] and self.largest[i] > 0:
            return float(self.largest[i])
        return self.steady

    def text(self, i):
        """Two short lines under the panel: how large the difference is against what is expected."""
        m = self.largest[i]
        if self.kind == "rounding":
            if self.steps[i] == 0 and m == 0:
                return "the same initial field\n(nothing to differ yet)"
            if self.agrees[i]:
                return f"agrees to rounding\nmax |diff| {m:.1e} <= {self.bound[i]:.0e} ({self.dtype})"
            return f"differs: max |diff| {m:.1e}\n= {self.ratio[i]:.3g} x {self.dtype} rounding"
        if self.kind == "noise":
            if self.steps[i] == 0 and m == 0:
                return "the same initial field\n(no jump sampled yet)"
            r = self.ratio[i]
            shown = "n/a" if not np.isfinite(r) else f"{r:.2f}"
            return f"rms diff = {shown} x sampling noise\n(about 1 expected; max {m:.1e})"
        first = f"max |diff| {m:.1e} = {self.ratio[i]:.1e} of peak"
        if self.order is None:
            return first + "\ncontinuum vs lattice"
        measured = self._slope(i)
        tail = f", measured {measured:.2f}" if measured is not None else ""
        return first + f"\nlattice error ~ n^{float(self.order):g}{tail}"

    def _slope(self, i):
        """The slope of log(max |diff| / peak) against log(step) over the frames from a quarter of step ``i`` to it
        (the error the declared order is about: relative to the field's peak)."""
        s = self.steps[: i + 1]
        e = self.ratio[: i + 1]
        keep = (s >= max(1.0, s[-1] / 4)) & (e > 0)
        if keep.sum() < 3:
            return None
        return float(np.polyfit(np.log(s[keep]), np.log(e[keep]), 1)[0])

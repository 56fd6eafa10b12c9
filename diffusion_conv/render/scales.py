"""Colour scales that follow the physics: what the colours of the fields mean, frame by frame.

The scale is chosen from the deterministic runs of a picture (a stochastic run's
noise would set it otherwise: a few cells holding several particles too many), is
shared by every panel of a frame, and is one of

- ``linear`` over the whole run when the field's peak stays within a factor of
  ten (two compartments, the partitioned tank): the colours mean the same in
  every frame, and a field that evens out fades;
- ``linear`` frame by frame when the peak falls by more than ten but less than a
  hundred;
- ``log`` (``symlog`` for a signed field) frame by frame when the peak falls by
  more than a hundred (a point source spreading into a Gaussian): each frame
  spans :data:`DECADES` decades below its own peak.

Every choice can be overridden (``scale=``, ``limits=``). The colour bars say
what is drawn: the quantity and its units (mass per unit length, area or volume).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InputError, InputTypeError
from ..methods import get
from .sources import view

SCALES = ("auto", "linear", "log", "symlog")
"""Colour scales the pictures accept (``auto`` picks one of the others from the run)."""

LIMITS = ("auto", "run", "frame")
"""How the limits follow the run: one pair for the whole run, one per frame, or chosen (``auto``)."""

DECADES = 4
"""Decades below a frame's peak that a log scale shows."""

FADE = 10.0
"""A peak that falls by more than this over the run gets limits per frame."""

SPAN = 100.0
"""A peak that falls by more than this over the run gets a log scale (``auto``)."""

_UNITS = {1: "mass / length", 2: "mass / area", 3: "mass / volume"}


def units(ndim: int) -> str:
    """The units of a concentration on a grid of ``ndim`` axes (mass per cell volume in ``dx`` units)."""
    return _UNITS.get(int(ndim), "mass / volume")


def stochastic(result) -> bool:
    """Whether a run is sampled (particles or counts): its frames carry sampling noise."""
    if result.meta.get("n_particles") is not None:
        return True
    try:
        return bool(get(result.method).stochastic)
    except (ValueError, KeyError, TypeError):
        return False


def check_scale(scale, limits):
    """``(scale, limits)`` checked: ``scale`` in :data:`SCALES`, ``limits`` in :data:`LIMITS` or ``(low, high)``."""
    if not isinstance(scale, str) or scale not in SCALES:
        raise InputError(f"scale must be one of {', '.join(map(repr, SCALES))}, got {scale!r}")
    if isinstance(limits, str):
        if limits not in LIMITS:
            raise InputError(
                f"limits must be one of {', '.join(map(repr, LIMITS))} or a pair (low, high), got {limits!r}"
            )
        return scale, limits
    try:
        lo, hi = limits
    except (TypeError, ValueError):
        raise InputTypeError(
            f"limits must be one of {', '.join(map(repr, LIMITS))} or a pair (low, high) of numbers, got {limits!r}"
        ) from None
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.floating, np.integer)) or not np.isfinite(v):
            raise InputTypeError(f"limits must be a pair (low, high) of finite numbers, got {limits!r}")
    if not float(lo) < float(hi):
        raise InputError(f"limits must be a pair (low, high) with low < high, got {limits!r}")
    if scale == "log" and float(lo) <= 0:
        raise InputError(f"a log scale needs positive limits, got {limits!r}")
    return scale, (float(lo), float(hi))


class FieldScale:
    """The colour scale of the field panels of one picture, frame by frame.

    Parameters
    ----------
    results : list of Result
        Unbatched runs with the same saved steps; the deterministic ones set the
        scale (all of them when every run is stochastic, at robust percentiles).
    scale : {'auto', 'linear', 'log', 'symlog'}
    limits : {'auto', 'run', 'frame'} or (low, high)
    every_run : bool
        Take the limits from every run, the stochastic ones too (line plots, which
        would otherwise cut the noisy lines off).

    Attributes
    ----------
    kind : str
        ``linear``, ``log`` or ``symlog``.
    per_frame : bool
        Whether the limits change from frame to frame.
    label : str
        The colour bar's label: quantity, units and scale.
    """

    def __init__(self, results, scale="auto", limits="auto", every_run=False):
        scale, limits = check_scale(scale, limits)
        sources = list(results) if every_run else [r for r in results if not stochastic(r)]
        robust = not sources
        sources = sources or list(results)
        nframes = len(sources[0].steps)
        lo, hi, peak, floor = (np.empty(nframes) for _ in range(4))
        for i in range(nframes):
            data = np.concatenate([np.ravel(view(r.frames[i])).astype(np.float64) for r in sources])
            finite = data[np.isfinite(data)]
            if finite.size == 0:
                finite = np.zeros(1)
            if robust:
                lo[i], hi[i] = np.percentile(finite, [0.5, 99.5])
            else:
                lo[i], hi[i] = finite.min(), finite.max()
            peak[i] = max(abs(lo[i]), abs(hi[i]))
            positive = finite[finite > 0]
            floor[i] = positive.min() if positive.size else 0.0
        self.signed = bool(np.min(lo) < -1e-12 * max(float(np.max(peak)), 1e-300))
        alive = peak[peak > 0]
        fall = float(alive.max() / alive.min()) if alive.size else 1.0
        if scale == "auto":
            kind = ("symlog" if self.signed else "log") if fall > SPAN and not isinstance(limits, tuple) else "linear"
        else:
            kind = scale
        if kind == "log" and self.signed and not isinstance(limits, tuple):
            raise InputError("scale='log' needs a non-negative field; this one has negative values: use 'symlog'")
        self.kind = kind
        if isinstance(limits, tuple):
            self.per_frame = False
        elif limits == "auto":
            self.per_frame = kind != "linear" or fall > FADE
        else:
            self.per_frame = limits == "frame"
        self._fixed = limits if isinstance(limits, tuple) else None
        self.lo, self.hi, self.peak = lo, hi, peak
        self.fall = fall
        ndim = sources[0].frames.ndim - 1
        what = "concentration"
        if kind != "linear":
            what += f", {kind} scale"
        self.label = f"{what} ({units(ndim)})"

    def limits(self, i):
        """``(low, high)`` of frame ``i`` (for ``log``: the peak and :data:`DECADES` decades below it)."""
        if self._fixed is not None:
            return self._fixed
        if self.per_frame:
            lo, hi, top = float(self.lo[i]), float(self.hi[i]), float(self.peak[i])
        else:
            lo, hi, top = float(self.lo.min()), float(self.hi.max()), float(self.peak.max())
        if self.kind == "log":
            hi = hi if hi > 0 else 1.0
            return hi * 10.0**-DECADES, hi
        if self.kind == "symlog":
            top = top if top > 0 else 1.0
            return -top, top
        if not hi > lo:
            lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
        return lo, hi

    def norm(self, i):
        """A matplotlib ``Normalize`` for frame ``i``."""
        from matplotlib import colors

        lo, hi = self.limits(i)
        if self.kind == "log":
            return colors.LogNorm(vmin=lo, vmax=hi, clip=True)
        if self.kind == "symlog":
            return colors.SymLogNorm(linthresh=hi * 10.0 ** -(DECADES - 1), vmin=lo, vmax=hi, base=10)
        return colors.Normalize(vmin=lo, vmax=hi)

    def contrast(self, data, i):
        """The spread of ``data`` in frame ``i``'s colour scale: ``(p99 - p1)`` of its normalised values, in [0, 1]."""
        normed = np.ma.filled(self.norm(i)(np.asarray(data, dtype=np.float64)), 0.0)
        normed = np.clip(normed, 0.0, 1.0)
        lo, hi = np.percentile(normed, [1, 99])
        return float(hi - lo)


def colormap(name, levels=None, under=None):
    """Matplotlib colour map ``name`` (optionally resampled to ``levels`` colours), with the bottom colour for
    values below the scale and for masked ones (zeros on a log scale)."""
    import matplotlib

    cmap = matplotlib.colormaps[name]
    if levels is not None:
        cmap = cmap.resampled(int(levels))
    bottom = cmap(0.0) if under is None else under
    return cmap.with_extremes(under=bottom, bad=bottom)

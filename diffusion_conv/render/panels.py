"""The panels of :func:`diffusion_conv.render.animate`: one column per run, a row of differences, drawn frame by frame.

The top row shows each run's field on one colour scale shared by the panels of a
frame and chosen from the deterministic runs (:mod:`.scales`); colour channels of
a batch are recombined into one colour picture. Walls are drawn solid grey in
every panel. Below every run but the reference is its difference to the same
member of the reference, with a line saying how large it is against what is
expected (:mod:`.differences`); below the reference, the relative change of every
run's mass against the step. Titles name the runs; the figure's title gives the
step (and the time when ``dt`` is not 1).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import figures as _figures
from .batch import composite_scaled
from .differences import Difference
from .figures import Blitted, new_figure
from .scales import FieldScale, colormap, units
from .sources import view

SIDE = 3.6
"""Inches per column (2-D fields): at 100 dpi the image in a panel is about 260 pixels wide."""

WALL_GREY = 0.5
"""The grey (0 black .. 1 white) of wall cells in every panel."""
SLOW_ALPHA = 0.3
"""The tint of the cells a mobility map slows (0 < mobility < 1) in 1-D panels; 2-D panels outline them."""


class _ColourDifference:
    """The differences of a colour column's three channels, drawn as one picture (grey where they agree)."""

    def __init__(self, diffs):
        self.diffs = diffs
        self.kind = diffs[0].kind
        self.agrees = np.all([d.agrees for d in diffs], axis=0)
        self.largest = np.max([d.largest for d in diffs], axis=0)
        self.steady = max(d.steady for d in diffs)

    def limit(self, i):
        return max(d.limit(i) for d in self.diffs)

    def data(self, i):
        return np.stack([d.data(i) for d in self.diffs], axis=-1)

    def text(self, i):
        worst = max(self.diffs, key=lambda d: d.ratio[i] if np.isfinite(d.ratio[i]) else -1.0)
        return worst.text(i)


def recorded_cells(result, key):
    """The cells a run records in ``meta[key]`` (flat indices; ``'wall_cells'``, ``'slow_cells'``) as a mask of
    its grid, or None."""
    cells = result.meta.get(key)
    if not cells:
        return None
    grid = result.frames.shape[1:]
    mask = np.zeros(int(np.prod(grid)), dtype=bool)
    mask[np.asarray(cells, dtype=np.int64)] = True
    return mask.reshape(grid)


def wall_mask(result, walls=None):
    """The wall cells drawn in a panel of ``result`` (the middle slice of a 3-D grid), or None.

    ``walls`` (a boolean array of the grid's shape) overrides the mask a run records
    (``meta['wall_cells']``, written by :func:`diffusion_conv.simulate`).
    """
    grid = result.frames.shape[1:]
    if walls is None:
        mask = recorded_cells(result, "wall_cells")
        if mask is None:
            return None
    else:
        mask = np.asarray(walls)
        if mask.dtype != bool or mask.shape != grid:
            raise InputError(f"walls must be a boolean array of the grid's shape {grid}, got {mask.dtype} {mask.shape}")
        if not mask.any():
            return None
    return view(mask)


class Panels(Blitted):
    """A figure of panels updated frame by frame (see the module docstring).

    Parameters
    ----------
    cols : list of Column
        From :func:`diffusion_conv.render.sources.columns`.
    cmap : str
        Colour map of the fields.
    dpi : float
    diff : bool
        Draw the row of differences (when a column has a reference to compare with).
    scale, limits
        The fields' colour scale (:class:`.scales.FieldScale`).
    diff_scale : {'run', 'frame'}
        The differences' colour scale (:class:`.differences.Difference`).
    walls : bool array, optional
        Wall cells to draw (default: what the runs record).
    levels : (int, int), optional
        Colours of the field map and of the difference map (a GIF's palette); default continuous.
    """

    @staticmethod
    def inches(results, diff):
        """Width and height (inches) of the panels of ``results``: one column each, a row of differences."""
        oned = results[0].frames.ndim == 2
        ncol, nrow = len(results), 2 if bool(diff) and len(results) > 1 else 1
        side = 3.0 if oned else SIDE
        return side * ncol + (0.5 if oned else 1.3 + (0.7 if nrow == 2 else 0.0)), side * nrow + 0.7

    @staticmethod
    def check_size(results, diff, dpi, what):
        """The resolution, checked, and the pixel size the panels would have (rounded up to 16 pixels)."""
        dpi = _figures.check_dpi(dpi)
        width, height = Panels.inches(results, diff)
        _figures.check_pixels(-(-width * dpi // 16) * 16 / dpi, -(-height * dpi // 16) * 16 / dpi, dpi, what)
        return dpi

    def __init__(
        self,
        cols,
        cmap="viridis",
        dpi=80,
        diff=True,
        scale="auto",
        limits="auto",
        diff_scale="run",
        walls=None,
        levels=None,
    ):
        self.cols = cols
        results = [c.result for c in cols]
        self.results = results
        self.ref = next(c.result for c in cols if c.ref is None)
        self.oned = results[0].frames.ndim == 2
        self.diff = bool(diff) and any(c.ref is not None for c in cols)
        everything = [r for c in cols for r in (c.channels or [c.result])]
        # colours follow the deterministic runs; the lines of 1-D plots show every run whole
        self.scale = FieldScale(everything, scale, limits, every_run=self.oned)
        self.colour = (
            FieldScale(everything, "linear", limits if limits != "auto" else "run")
            if any(c.channels for c in cols)
            else None
        )
        field_levels, diff_levels = levels if levels is not None else (None, None)
        self.cmap = colormap(cmap, field_levels)
        self.dcmap = colormap("RdBu_r", diff_levels)
        self.masses = [
            np.asarray(c.result.mass(), dtype=np.float64)
            if not c.channels
            else np.sum([np.asarray(r.mass(), dtype=np.float64) for r in c.channels], axis=0)
            for c in cols
        ]
        self.walls = wall_mask(results[0], walls)
        slow = recorded_cells(results[0], "slow_cells")  # a mobility map's slow cells, tinted
        self.slow = None if slow is None else view(slow)
        ndim = results[0].frames.ndim - 1
        ncol, nrow = len(cols), 2 if self.diff else 1
        self.fig = new_figure(*self.inches(results, self.diff), dpi)
        w, h = self.fig.canvas.get_width_height()
        self.fig.set_size_inches(-(-w // 16) * 16 / dpi, -(-h // 16) * 16 / dpi)  # even sizes for video codecs
        axes = np.array(self.fig.subplots(nrow, ncol, squeeze=False))
        if self.oned:
            self.fig.subplots_adjust(
                left=0.75 / self.fig.get_size_inches()[0],
                right=0.98,
                top=0.88 if nrow == 2 else 0.8,
                bottom=0.1 if nrow == 2 else 0.17,
                wspace=0.45,
                hspace=0.55,
            )
        else:
            width = self.fig.get_size_inches()[0]
            self.fig.subplots_adjust(
                left=(0.8 if self.diff else 0.1) / width,
                right=1 - 1.25 / width,
                top=0.88 if nrow == 2 else 0.82,
                bottom=0.08,
                wspace=0.35,
                hspace=0.3,
            )
        self.top, self.bottom, self.labels, self.notes, self.scales, self.overlays = [], [], [], [], [], []
        self.dynamic_axes = []
        self.marker = None
        for j, col in enumerate(cols):
            ax = axes[0, j]
            self.top.append(self._field(ax, col, 0))
            ax.set_title(col.name + ("  (dashed: cells of mobility < 1)" if self.slow is not None else ""), fontsize=9)
            if self.oned:
                label = ax.text(
                    0.98,
                    0.96,
                    "",
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=7,
                    bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1),
                )
                if j == 0:
                    ax.set_ylabel(self.scale.label, fontsize=7)
                if nrow == 1:
                    ax.set_xlabel("position (cells)", fontsize=7)
            else:
                label = ax.text(0.5, -0.02, "", transform=ax.transAxes, ha="center", va="top", fontsize=8)
            self.labels.append(label)
        self.differences = {}
        if self.diff:
            mass_drawn, labelled = False, False
            for j, col in enumerate(cols):
                bx = axes[1, j]
                if col.ref is None:
                    if not mass_drawn:
                        self._mass_plot(bx)
                        mass_drawn = True
                    else:
                        bx.set_axis_off()
                    continue
                other = cols[col.ref]
                if col.channels:
                    d = _ColourDifference([Difference(a, b, diff_scale) for a, b in zip(col.channels, other.channels)])
                else:
                    d = Difference(col.result, other.result, diff_scale)
                self.differences[j] = d
                art = self._difference(bx, d, 0)
                self.bottom.append((j, art))
                same = col.member == other.member
                title = f"{col.run} - {other.run}" if same else f"{col.name} - {other.name}"
                if same and col.member and col.member != "colour":
                    title += f" ({col.member})"
                bx.set_title(title, fontsize=8)
                if self.oned:
                    bx.set_xlabel("position (cells)", fontsize=7)
                    if not labelled:
                        bx.set_ylabel(f"difference ({units(ndim)})", fontsize=7)
                        labelled = True
                    self.notes.append(
                        (
                            j,
                            bx.text(
                                0.02,
                                0.97,
                                "",
                                transform=bx.transAxes,
                                ha="left",
                                va="top",
                                fontsize=6.5,
                                bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1),
                            ),
                        )
                    )
                else:
                    self.notes.append(
                        (j, bx.text(0.5, -0.02, "", transform=bx.transAxes, ha="center", va="top", fontsize=7.5))
                    )
                if not self.oned and not col.channels:
                    cb = self.fig.colorbar(art, ax=bx, fraction=0.046, pad=0.03)
                    cb.set_label(f"difference ({units(ndim)})", fontsize=7)
                    cb.ax.tick_params(labelsize=6)
                    cb.ax.yaxis.get_offset_text().set_fontsize(6)
                    if diff_scale == "frame":
                        self.scales.append(cb.ax)  # its scale changes with the frame: drawn with it
        if not self.oned and any(not c.channels for c in cols):
            field = next(a for a, c in zip(self.top, cols) if not c.channels)
            width = self.fig.get_size_inches()[0]
            cax = self.fig.add_axes(
                [1 - 1.0 / width, 0.56 if self.diff else 0.1, 0.13 / width, 0.3 if self.diff else 0.7]
            )
            cb = self.fig.colorbar(field, cax=cax)
            cb.set_label(self.scale.label, fontsize=8)
            cb.ax.tick_params(labelsize=7)
            if self.scale.per_frame:
                self.scales.append(cax)
        if self.oned and self.scale.per_frame:
            self.dynamic_axes = [axes[0, j] for j in range(ncol)]
        self.title = self.fig.suptitle("", fontsize=10)
        self.axes = axes
        self._background = None

    # -- artists ------------------------------------------------------------------------------
    def _field(self, ax, col, i):
        if col.channels:
            ax.set_axis_off()
            art = ax.imshow(self._rgb(col, i), interpolation="nearest", origin="upper")
            self._overlay(ax)
            return art
        data = view(col.result.frames[i])
        if self.oned:
            x = np.arange(data.size)
            (line,) = ax.plot(x, data, lw=1.2, color="C0")
            if self.scale.kind == "log":
                ax.set_yscale("log")
            elif self.scale.kind == "symlog":
                ax.set_yscale("symlog", linthresh=self.scale.limits(i)[1] * 1e-3)
            self._ylim(ax, *self.scale.limits(i))
            ax.tick_params(labelsize=7)
            self._walls_1d(ax)
            return line
        ax.set_axis_off()
        art = ax.imshow(data, cmap=self.cmap, norm=self.scale.norm(i), interpolation="nearest", origin="upper")
        self._overlay(ax)
        return art

    def _difference(self, ax, d, i):
        if self.oned:
            (line,) = ax.plot(np.arange(d.data(i).size), d.data(i), lw=1.2, color="C3")
            lim = d.limit(i)
            ax.set_ylim(-1.1 * lim, 1.1 * lim)
            ax.tick_params(labelsize=7)
            ax.yaxis.get_offset_text().set_fontsize(6)
            self._walls_1d(ax)
            return line
        ax.set_axis_off()
        if isinstance(d, _ColourDifference):
            art = ax.imshow(self._rgb_difference(d, i), interpolation="nearest", origin="upper")
        else:
            lim = d.limit(i)
            art = ax.imshow(d.data(i), cmap=self.dcmap, vmin=-lim, vmax=lim, interpolation="nearest", origin="upper")
        self._overlay(ax)
        return art

    def _rgb(self, col, i):
        lo, hi = self.colour.limits(i)
        return composite_scaled(np.stack([view(r.frames[i]) for r in col.channels]), lo, hi)

    @staticmethod
    def _rgb_difference(d, i):
        lim = d.limit(i) or 1.0
        return np.clip(0.5 + 0.5 * d.data(i) / lim, 0.0, 1.0)

    def _overlay(self, ax):
        if self.walls is not None:
            rgba = np.zeros(self.walls.shape + (4,))
            rgba[self.walls] = (WALL_GREY, WALL_GREY, WALL_GREY, 1.0)
            self.overlays.append(ax.imshow(rgba, interpolation="nearest", origin="upper"))
        if self.slow is not None:  # outlined, not tinted: the colours inside keep their meaning
            self.overlays.append(
                ax.contour(self.slow.astype(float), levels=[0.5], colors="white", linewidths=1.0, linestyles="--")
            )

    def _walls_1d(self, ax):
        for mask, colour, alpha in ((self.slow, "0.6", SLOW_ALPHA), (self.walls, str(WALL_GREY), 1.0)):
            for k in () if mask is None else np.flatnonzero(mask):
                ax.axvspan(k - 0.5, k + 0.5, color=colour, alpha=alpha, lw=0)

    def _ylim(self, ax, lo, hi):
        if self.scale.kind == "linear":
            pad = 0.05 * (hi - lo)
            ax.set_ylim(lo - pad, hi + pad)
        elif self.scale.kind == "log":
            ax.set_ylim(lo, hi * 1.5)
        else:
            ax.set_ylim(lo * 1.1, hi * 1.1)

    def _mass_plot(self, ax):
        """Below the reference: every run's relative mass change against the step, and a marker that moves."""
        steps = np.asarray(self.ref.steps, dtype=np.float64)
        shown = set()
        for col, m in zip(self.cols, self.masses):
            if col.run in shown:
                continue
            shown.add(col.run)
            ax.plot(steps, m / m[0] - 1 if m[0] != 0 else m - m[0], lw=1.0, label=col.run, color=f"C{len(shown) - 1}")
        ax.set_title("mass change of each run", fontsize=8)
        ax.set_xlabel("step", fontsize=7)
        ax.set_ylabel("mass / initial mass - 1", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        ax.yaxis.get_offset_text().set_fontsize(6)
        ax.legend(fontsize=6.5, loc="best")
        self.marker = ax.axvline(steps[0], color="0.3", lw=0.8)

    # -- frames -------------------------------------------------------------------------------
    def draw(self, i):
        """Update every panel to saved frame ``i``."""
        for j, col in enumerate(self.cols):
            art = self.top[j]
            if col.channels:
                art.set_data(self._rgb(col, i))
            elif self.oned:
                art.set_ydata(view(col.result.frames[i]))
                if self.scale.per_frame:
                    self._ylim(art.axes, *self.scale.limits(i))
            else:
                art.set_data(view(col.result.frames[i]))
                if self.scale.per_frame:
                    lo, hi = self.scale.limits(i)
                    if self.scale.kind == "symlog":
                        art.set_norm(self.scale.norm(i))
                    else:
                        art.set_clim(lo, hi)
            self.labels[j].set_text(f"mass {self.masses[j][i]:.7g}")
        for j, art in self.bottom:
            d = self.differences[j]
            if isinstance(d, _ColourDifference):
                art.set_data(self._rgb_difference(d, i))
            elif self.oned:
                art.set_ydata(d.data(i))
            else:
                art.set_data(d.data(i))
                lim = d.limit(i)
                art.set_clim(-lim, lim)
        for j, note in self.notes:
            note.set_text(self.differences[j].text(i))
        if self.marker is not None:
            step = float(self.ref.steps[i])
            self.marker.set_xdata([step, step])
        step, t = int(self.ref.steps[i]), float(self.ref.times[i])
        dt = float(self.ref.meta.get("dt", 1.0))
        text = f"step {step} of {int(self.ref.steps[-1])}"
        if dt != 1.0:
            text += f"   t = {t:.4g}"
        if self.ref.frames.ndim == 4:
            text += "   (middle slice of axis 0)"
        self.title.set_text(text)

    def _dynamic(self):
        """The artists that change from frame to frame (drawn in this order over the background)."""
        if self.dynamic_axes:  # limits per frame on 1-D plots: the axes (ticks, lines, labels) redrawn whole
            out = list(self.dynamic_axes)
        else:
            out = list(self.top)
        out += [a for _, a in self.bottom] + self.overlays + list(self.labels) + [n for _, n in self.notes]
        out += self.scales
        if self.marker is not None:
            out.append(self.marker)
        return out + [self.title]

"""The panels of :func:`diffusion_conv.render.animate`: one column per run, a row of differences, drawn frame by frame.

The top row shows each run's field on one shared colour scale. Below every run
but the reference is its difference to the reference, each on its own symmetric
scale (set by that run's largest difference over all frames) with the largest
difference of the frame written on it; below the reference, the relative change
of every run's mass against time, with a marker at the frame's step. Titles name
the runs on every frame; the figure's title gives the step, the time and the mass.
"""
from __future__ import annotations

import numpy as np

from . import figures as _figures
from .figures import new_figure
from .sources import view

SIDE = 3.6
"""Inches per column (2-D fields): at 100 dpi the image in a panel is about 260 pixels wide."""


class Panels:
    """A figure of panels updated frame by frame (see the module docstring)."""

    @staticmethod
    def inches(results, diff):
        """Width and height (inches) of the panels of ``results``: one column each, a row of differences."""
        oned = results[0].frames.ndim == 2
        ncol, nrow = len(results), 2 if bool(diff) and len(results) > 1 else 1
        side = 3.0 if oned else SIDE
        return side * ncol + (0 if oned else 0.9), side * nrow + 0.7

    @staticmethod
    def check_size(results, diff, dpi, what):
        """The resolution, checked, and the pixel size the panels would have (rounded up to 16 pixels)."""
        dpi = _figures.check_dpi(dpi)
        width, height = Panels.inches(results, diff)
        _figures.check_pixels(-(-width * dpi // 16) * 16 / dpi, -(-height * dpi // 16) * 16 / dpi, dpi, what)
        return dpi

    def __init__(self, names, results, reference, cmap, dpi, diff):
        self.names, self.results = names, results
        self.iref = names.index(reference)
        self.ref = results[self.iref]
        self.reference = reference
        self.oned = results[0].frames.ndim == 2
        self.diff = bool(diff) and len(results) > 1
        nframes = len(results[0].steps)
        self.vmin = min(float(np.min(r.frames)) for r in results)
        self.vmax = max(float(np.max(r.frames)) for r in results)
        if self.vmax <= self.vmin:
            self.vmax = self.vmin + 1.0
        # each difference on its own symmetric scale: the largest |difference| of the frame shown
        self.err = np.zeros((len(results), nframes))
        if self.diff:
            for i in range(nframes):
                ref = view(self.ref.frames[i]).astype(np.float64)
                for j, r in enumerate(results):
                    self.err[j, i] = float(np.max(np.abs(view(r.frames[i]) - ref)))
        self.masses = [r.mass() for r in results]
        ncol, nrow = len(results), 2 if self.diff else 1
        self.fig = new_figure(*self.inches(results, diff), dpi)
        w, h = self.fig.canvas.get_width_height()
        self.fig.set_size_inches(-(-w // 16) * 16 / dpi, -(-h // 16) * 16 / dpi)  # even sizes for video codecs
        axes = np.array(self.fig.subplots(nrow, ncol, squeeze=False))
        self.fig.subplots_adjust(left=0.05 if self.oned else 0.02, right=0.97 if self.oned else 0.9,
                                 top=0.86 if nrow == 2 else 0.8, bottom=0.07, wspace=0.35, hspace=0.32)
        self.top, self.bottom, self.labels, self.notes, self.scales = [], [], [], [], []
        for j, (name, res) in enumerate(zip(names, results)):
            ax = axes[0, j]
            self.top.append(self._artist(ax, view(res.frames[0]), cmap, self.vmin, self.vmax))
            ax.set_title(name, fontsize=9)
            self.labels.append(ax.text(0.5, -0.02, "", transform=ax.transAxes, ha="center", va="top", fontsize=7))
        if self.diff:
            for j, (name, res) in enumerate(zip(names, results)):
                bx = axes[1, j]
                if j == self.iref:
                    self._mass_plot(bx)
                    continue
                lim = float(self.err[j].max()) or 1e-12
                d = view(res.frames[0]) - view(self.ref.frames[0])
                art = self._artist(bx, d, "RdBu_r", -lim, lim)
                self.bottom.append((j, art))
                bx.set_title(f"{name} - {reference}", fontsize=8)
                self.notes.append((j, bx.text(0.5, -0.02, "", transform=bx.transAxes, ha="center", va="top",
                                              fontsize=7)))
                if not self.oned:
                    cb = self.fig.colorbar(art, ax=bx, fraction=0.046, pad=0.03)
                    self.scales.append(cb.ax)  # its scale changes with the frame: drawn with it
                    cb.ax.tick_params(labelsize=6)
                    cb.ax.yaxis.get_offset_text().set_fontsize(6)
        if not self.oned:
            cax = self.fig.add_axes([0.915, 0.56 if self.diff else 0.1, 0.012, 0.28 if self.diff else 0.65])
            self.fig.colorbar(self.top[0], cax=cax).ax.tick_params(labelsize=7)
        self.title = self.fig.suptitle("", fontsize=10)
        self.axes = axes
        self._background = None

    def _mass_plot(self, ax):
        """Below the reference: every run's relative mass change against the step, and a marker that moves."""
        steps = np.asarray(self.ref.steps, dtype=np.float64)
        for j, (name, m) in enumerate(zip(self.names, self.masses)):
            m = np.asarray(m, dtype=np.float64)
            ax.plot(steps, m / m[0] - 1 if m[0] != 0 else m - m[0], lw=1.0, label=name, color=f"C{j}")
        ax.set_title("mass / initial - 1", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        ax.yaxis.get_offset_text().set_fontsize(6)
        ax.legend(fontsize=5, loc="best")
        self.marker = ax.axvline(steps[0], color="0.3", lw=0.8)

    def _artist(self, ax, data, cmap, lo, hi):
        if self.oned:
            (line,) = ax.plot(np.arange(data.size), data, lw=1.2, color="C0" if cmap != "RdBu_r" else "C3")
            ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
            ax.tick_params(labelsize=7)
            return line
        ax.set_axis_off()
        return ax.imshow(data, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest", origin="upper")

    def _set(self, artist, data):
        if self.oned:
            artist.set_ydata(data)
        else:
            artist.set_data(data)

    def draw(self, i):
        """Update every panel to saved frame ``i``."""
        ref = view(self.ref.frames[i])
        for j, res in enumerate(self.results):
            self._set(self.top[j], view(res.frames[i]))
            self.labels[j].set_text(f"mass {self.masses[j][i]:.6g}")
        for j, art in self.bottom:
            self._set(art, view(self.results[j].frames[i]) - ref)
            if not self.oned:  # each difference on its own symmetric scale, this frame's largest value
                lim = self.err[j, i] or float(self.err[j].max()) or 1e-12
                art.set_clim(-lim, lim)
        for j, note in self.notes:
            note.set_text(f"max |diff| {self.err[j, i]:.2e}")
        if self.diff:
            step = float(self.ref.steps[i])
            self.marker.set_xdata([step, step])
        step, t = int(self.ref.steps[i]), float(self.ref.times[i])
        slice_note = "  (middle slice of axis 0)" if self.ref.frames.ndim == 4 else ""
        self.title.set_text(f"step {step}   t = {t:.4g}   mass {self.masses[self.iref][i]:.6g}" + slice_note)

    def _dynamic(self):
        """The artists that change from frame to frame."""
        out = list(self.top) + [a for _, a in self.bottom] + list(self.labels) + [n for _, n in self.notes]
        out += self.scales
        if self.diff:
            out.append(self.marker)
        return out + [self.title]

    def rgb(self, i):
        """Frame ``i`` as an RGB uint8 array ``(H, W, 3)``.

        The static parts (axes, colour bars, labels) are drawn once and kept as a
        background; each frame restores it and draws only what changes (blitting).
        """
        self.draw(i)
        canvas = self.fig.canvas
        if self._background is None:
            for artist in self._dynamic():
                artist.set_visible(False)
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.fig.bbox)
            for artist in self._dynamic():
                artist.set_visible(True)
        canvas.restore_region(self._background)
        for artist in self._dynamic():
            self.fig.draw_artist(artist)
        return np.array(canvas.buffer_rgba())[..., :3]

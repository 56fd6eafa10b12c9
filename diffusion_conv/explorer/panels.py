"""The explorer's picture: six panels of one figure, redrawn in place."""

from __future__ import annotations

import numpy as np


class Panels:
    """One figure of six panels, redrawn in place (its artists are made once)."""

    def __init__(self):
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(11.0, 7.2), dpi=80, layout="constrained")
        axes = self.fig.subplots(2, 3)
        self.axes = {}
        self.images, self.bars, self.notes = {}, {}, {}
        for ax, name, cmap in (
            (axes[0, 0], "propagator", "viridis"),
            (axes[0, 1], "particles", "viridis"),
            (axes[0, 2], "heat", "viridis"),
            (axes[1, 0], "kernel", "magma"),
            (axes[1, 1], "particles - propagator", "RdBu_r"),
            (axes[1, 2], "heat - propagator", "RdBu_r"),
        ):
            self.axes[name] = ax
            self.images[name] = ax.imshow(np.zeros((2, 2)), cmap=_cmap(cmap), interpolation="nearest")
            self.bars[name] = self.fig.colorbar(self.images[name], ax=ax, shrink=0.85)
            note = ax.text(0.5, 0.5, "", ha="center", va="center", fontsize=9, transform=ax.transAxes)
            note.set_in_layout(False)
            self.notes[name] = note
            ax.set_xticks([])
            ax.set_yticks([])
        self.mean = axes[1, 0].plot([], [], "c+", markersize=14, mew=2)[0]
        self.outlines = []  # the gel's edge on the field panels

    def draw(self, view, steps, description):
        walls = view.walls
        hi = max(float(np.max(view.propagator)), 1e-300)
        lo = min(0.0, float(np.min(view.propagator)))
        n = view.settings["n_particles"]
        for name, data, title in (
            ("propagator", view.propagator, "propagator (the exact mean)\n"),
            ("particles", view.particles, f"particles\nN = {n:,}"),
            ("heat", view.heat, "heat equation\n(cell averages)"),
        ):
            self._show(name, data, walls, lo, hi, title)
        self.notes["heat"].set_text(
            "" if view.heat is not None else "no exact solution here:\n" + _wrap(view.heat_note)
        )
        noise = float(np.sqrt(np.mean(view.noise**2)))
        for name, d, expected in (
            ("particles - propagator", view.differences["particles - propagator"], f"sampling noise {noise:.2g}"),
            ("heat - propagator", view.differences["heat - propagator"], "the continuum's order"),
        ):
            if d is None:
                self._show(name, None, walls, -1.0, 1.0, f"{name}\n")
                continue
            lim = max(float(np.max(np.abs(d))), 1e-300)
            rms = float(np.sqrt(np.mean(np.asarray(d, dtype=np.float64) ** 2)))
            self._show(name, d, walls, -lim, lim, f"{name}\nrms {rms:.2g} ({expected})")
        for line in self.outlines:
            line.remove()
        self.outlines = []
        if view.mobility is not None:
            slow = np.asarray(view.mobility) < 1
            for name in ("propagator", "particles") + (("heat",) if view.heat is not None else ()):
                self.outlines.append(self.axes[name].contour(slow, levels=[0.5], colors="c", linewidths=0.8))
        k = view.kernel
        r0, r1 = k.shape[0] // 2, k.shape[1] // 2
        offsets = np.stack(np.meshgrid(np.arange(-r0, r0 + 1), np.arange(-r1, r1 + 1), indexing="ij"))
        mean = (offsets * k).reshape(2, -1).sum(axis=1)
        title = f"kernel {k.shape[0]}x{k.shape[1]}\nmean jump ({mean[0]:+.2f}, {mean[1]:+.2f}) cells"
        self._show("kernel", k, None, 0.0, max(float(k.max()), 1e-300), title)
        self.mean.set_data([r1 + mean[1]], [r0 + mean[0]])
        self.fig.suptitle(f"step {view.step} of {steps}   |   {description}", fontsize=11)

    def _show(self, name, data, walls, lo, hi, title):
        img, ax = self.images[name], self.axes[name]
        ax.set_title(title, fontsize=10)
        img.set_visible(data is not None)
        self.bars[name].ax.set_visible(data is not None)
        if data is None:
            return
        img.set_data(np.ma.masked_array(data, mask=walls) if walls is not None else data)
        img.set_extent((-0.5, data.shape[1] - 0.5, data.shape[0] - 0.5, -0.5))
        img.set_clim(lo, hi)


def _cmap(name):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="0.55")  # walls grey


def _wrap(text, width=42):
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:6])

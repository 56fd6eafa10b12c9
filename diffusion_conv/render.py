"""Pictures of runs: animations (GIF, MP4) and plots.

matplotlib is imported only inside the functions that draw, so importing the
package stays light. Figures are built on ``matplotlib.figure.Figure`` with the
Agg canvas (no pyplot state); every file is written under a temporary name in
the target folder and renamed when complete.

Functions
---------
animate
    Side-by-side panels, one per method, with its difference to the reference.
plot_frame
    The same panels at one saved frame, as a figure.
plot_profiles
    Profiles through the tank at several times for every method, and a closed form.
plot_convergence
    Error against resolution on log-log axes, with the fitted slope.
plot_kernel_temperatures
    A kernel beside its softmax propagator at several temperatures.
save_figure
    Write a figure safely (temporary name, then rename).
save_text
    Write a text file (a table, a report) the same way.
"""
from __future__ import annotations

import os

import numpy as np

from . import _figures, _io, _progress
from ._figures import collect as _collect
from ._figures import new_figure as _figure
from ._figures import save_figure, save_text
from ._figures import view as _view
from ._render_plots import plot_convergence, plot_kernel_temperatures, plot_profiles, profile

__all__ = ["VIDEO_HINT", "animate", "plot_convergence", "plot_frame", "plot_kernel_temperatures", "plot_profiles",
           "profile", "save_figure", "save_text"]

VIDEO_HINT = 'MP4 output needs imageio-ffmpeg; install it with: pip install "diffusion-conv[video]"'


# -- panels --------------------------------------------------------------------------------
class _Panels:
    """A figure of panels (one column per method; a second row of differences) updated frame by frame."""

    @staticmethod
    def inches(results, diff):
        """Width and height (inches) of the panels of ``results``: one column each, a row of differences."""
        oned = results[0].frames.ndim == 2
        ncol, nrow = len(results), 2 if bool(diff) and len(results) > 1 else 1
        side = 3.0 if oned else 2.6
        return side * ncol + (0 if oned else 0.9), side * nrow + 0.5

    @staticmethod
    def check_size(results, diff, dpi, what):
        """The resolution, checked, and the pixel size the panels would have (rounded up to 16 pixels)."""
        dpi = _figures.check_dpi(dpi)
        width, height = _Panels.inches(results, diff)
        _figures.check_pixels(-(-width * dpi // 16) * 16 / dpi, -(-height * dpi // 16) * 16 / dpi, dpi, what)
        return dpi

    def __init__(self, names, results, reference, cmap, dpi, diff):
        self.names, self.results = names, results
        self.ref = results[names.index(reference)]
        self.reference = reference
        self.oned = results[0].frames.ndim == 2
        self.diff = bool(diff) and len(results) > 1
        nframes = len(results[0].steps)
        self.vmin = min(float(np.min(r.frames)) for r in results)
        self.vmax = max(float(np.max(r.frames)) for r in results)
        if self.vmax <= self.vmin:
            self.vmax = self.vmin + 1.0
        self.dmax = 0.0
        if self.diff:
            for i in range(nframes):  # one frame at a time: no full-size temporaries
                ref = _view(self.ref.frames[i]).astype(np.float64)
                for r in results:
                    self.dmax = max(self.dmax, float(np.max(np.abs(_view(r.frames[i]) - ref))))
        self.dmax = self.dmax or 1e-12
        self.masses = [r.mass() for r in results]
        ncol, nrow = len(results), 2 if self.diff else 1
        self.fig = _figure(*self.inches(results, diff), dpi)
        w, h = self.fig.canvas.get_width_height()
        # even pixel sizes (video codecs need them)
        self.fig.set_size_inches(-(-w // 16) * 16 / dpi, -(-h // 16) * 16 / dpi)
        axes = np.array(self.fig.subplots(nrow, ncol, squeeze=False))
        self.fig.subplots_adjust(left=0.06 if self.oned else 0.02, right=0.97 if self.oned else 0.88,
                                 top=0.86 if nrow == 2 else 0.8, bottom=0.08, wspace=0.25, hspace=0.3)
        self.top, self.bottom = [], []
        for j, (name, res) in enumerate(zip(names, results)):
            ax = axes[0, j]
            self.top.append(self._artist(ax, _view(res.frames[0]), cmap, self.vmin, self.vmax))
            ax.set_title(name, fontsize=9)
            if self.diff:
                bx = axes[1, j]
                d = _view(res.frames[0]) - _view(self.ref.frames[0])
                self.bottom.append(self._artist(bx, d, "RdBu_r", -self.dmax, self.dmax))
                bx.set_title(f"{name} - {reference}" if res is not self.ref else "(reference)", fontsize=8)
        if not self.oned:
            cax = self.fig.add_axes([0.90, 0.55 if self.diff else 0.1, 0.015, 0.3 if self.diff else 0.65])
            self.fig.colorbar(self.top[0], cax=cax)
            if self.diff:
                dax = self.fig.add_axes([0.90, 0.1, 0.015, 0.3])
                self.fig.colorbar(self.bottom[0], cax=dax)
        self.title = self.fig.suptitle("", fontsize=10)
        self.axes = axes
        self._background = None

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
        ref = _view(self.ref.frames[i])
        for j, res in enumerate(self.results):
            view = _view(res.frames[i])
            self._set(self.top[j], view)
            self.axes[0, j].set_title(f"{self.names[j]}\nmass {self.masses[j][i]:.6g}", fontsize=8)
            if self.diff:
                self._set(self.bottom[j], view - ref)
        step, t = int(self.ref.steps[i]), float(self.ref.times[i])
        slice_note = "  (middle slice of axis 0)" if self.ref.frames.ndim == 4 else ""
        self.title.set_text(f"step {step}   t = {t:.4g}   mass {self.masses[self.names.index(self.reference)][i]:.6g}"
                            + slice_note)

    def _dynamic(self):
        """The artists that change from frame to frame."""
        titles = [self.axes[0, j].title for j in range(len(self.results))]
        return list(self.top) + list(self.bottom) + titles + [self.title]

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


def animate(source, path, fps=10, cmap="viridis", reference=None, diff=True, dpi=80, progress=False):
    """Write an animation of one or several runs: GIF, or MP4 with imageio-ffmpeg.

    Each method gets a panel of its field (one colour scale shared by all
    panels and frames) and, below it, its difference to the reference (one
    symmetric scale). The title gives the step, the time and the mass.
    1-D tanks are drawn as profiles, 3-D tanks as the middle slice along axis 0.
    Frames are drawn and handed to the writer one at a time, so memory does
    not grow with the number of frames.

    Parameters
    ----------
    source : Comparison, Result, dict of str to Result, or list of Result
        The runs; they must have the same saved steps.
    path : str or os.PathLike
        Output file, ending in ``.gif`` or ``.mp4``; its folder must exist and
        be writable (checked before any drawing). Written under a temporary
        name and renamed when complete; a failed or interrupted write (Ctrl-C,
        SIGTERM) leaves neither the file nor a temporary file. Mode ``0o666``
        less the umask.
    fps : float
        Frames per second.
    cmap : str
        Matplotlib colour map of the fields.
    reference : str, optional
        Name of the reference run (default: the comparison's reference, or the first run).
    diff : bool
        Draw the row of differences to the reference (when there are several runs).
    dpi : float
        Pixels per inch of the frames (a panel is about 2.6 inches wide), in
        ``[10, 1200]``; a frame may not exceed 16384 pixels a side or 2**25 pixels.
    progress : bool
        Show a progress bar.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ValueError, TypeError
        Bad input, before anything is written.
    ImportError
        ``.mp4`` without imageio-ffmpeg (the message names the ``video`` extra).
    """
    names, results, reference = _collect(source, reference)
    path = _io.check_target(path, (".gif", ".mp4"))
    suffix = os.path.splitext(path)[1].lower()
    dpi = _Panels.check_size(results, diff, dpi, "animation frame")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 100:
        raise ValueError(f"fps must be a number in (0, 100], got {fps!r}")
    import matplotlib

    if cmap not in matplotlib.colormaps:
        raise ValueError(f"cmap {cmap!r} is not a matplotlib colour map")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ImportError(VIDEO_HINT) from None
    import imageio.v2 as iio

    panels = _Panels(names, results, reference, cmap, dpi, diff)
    n = len(results[0].steps)
    with _io.atomic_path(path) as tmp, _progress.bar(n, progress, desc="render") as bar:
        if suffix == ".gif":
            # fast octree quantiser (PIL method 2): several times faster than median cut, same look
            writer = iio.get_writer(tmp, format="GIF-PIL", mode="I", fps=fps, loop=0, quantizer=2)
        else:
            writer = iio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, macro_block_size=16)
        try:
            for i in range(n):
                writer.append_data(panels.rgb(i))
                bar.update(1)
        finally:
            writer.close()
    return path


def plot_frame(source, index=-1, path=None, cmap="viridis", reference=None, diff=True, dpi=100):
    """The panels of :func:`animate` at one saved frame, as a figure (saved when ``path`` is given).

    Parameters
    ----------
    source, cmap, reference, diff
        As in :func:`animate`.
    index : int
        Which saved frame (negative counts from the end).
    path : str, optional
        Write the figure there (``.png``, ``.pdf``, ``.svg``).
    dpi : float
        Resolution, in ``[10, 1200]``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names, results, reference = _collect(source, reference)
    n = len(results[0].steps)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
        raise ValueError(f"index must be an integer in [{-n}, {n}), got {index!r}")
    if path is not None:
        path = _io.check_target(path, _figures.FIGURE_SUFFIXES)
    dpi = _Panels.check_size(results, diff, dpi, "figure")
    panels = _Panels(names, results, reference, cmap, dpi, diff)
    panels.draw(int(index) % n)
    if path is not None:
        save_figure(panels.fig, path, dpi=dpi)
    return panels.fig


from ._render_batch import composite, members, plot_feature_maps  # noqa: E402,F401

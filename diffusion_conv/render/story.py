"""One clear story on one screen: the same tank through the propagator, the particles and the heat equation.

:func:`plot_story` (one frame) and :func:`animate_story` (every frame) draw a
1280 x 720 picture at 100 dpi, with fonts sized for that picture as it is shown:
three large panels side by side on one colour scale, walls in grey, and below
them the profiles of every method across the tank in one panel, where the
particles' own noise is a band (the spread N particles give by chance alone, two
standard deviations each side of the expectation) that their profile should stay
in. The other methods belong in the comparison table and the full dashboard of
:func:`diffusion_conv.render.animate`.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _io
from ..comparison import sampling_variance
from ..errors import InputError, InputTypeError, MissingExtraError
from .animation import INLINE_WIDTH, SUFFIXES, VIDEO_HINT, in_memory, write_frames
from .figures import FIGURE_SUFFIXES, Blitted, check_dpi, new_figure, save_figure
from .panels import WALL_GREY, wall_mask
from .scales import FieldScale, colormap, stochastic
from .sources import columns, view
from .writers import DIFF_LEVELS, FIELD_LEVELS, palette

STORY_METHODS = ("propagator", "particles", "heat")
"""The runs a story shows, when the source holds them."""

STORY_SIZE = (12.8, 7.2)
"""The story's size in inches: 1280 x 720 pixels at 100 dpi."""

WHAT = {
    "propagator": "the kernel applied step by step",
    "spectral": "all steps in one Fourier product",
    "particles": "{n} random walkers",
    "counts": "{n} walkers, as counts",
    "image": "repeated image convolution",
    "heat": "the continuum heat equation",
}
"""What each method is, in a line under its panel."""


def _check(source, methods, index, dpi, rows, fps=None):
    cols, _ = columns(source)
    names = [c.name for c in cols]
    if isinstance(methods, str) or not hasattr(methods, "__iter__") or not all(isinstance(m, str) for m in methods):
        raise InputTypeError(f"methods must be a sequence of run names, got {methods!r}")
    methods = list(dict.fromkeys(methods))
    missing = [m for m in methods if m not in names]
    if missing or not methods:
        raise InputError(f"methods {missing or methods} are not among the runs {names}")
    cols = [next(c for c in cols if c.name == m) for m in methods]
    if any(c.result.batch_shape or c.member for c in cols):
        raise InputError("a story draws unbatched runs; select one member of a batch first (render.members)")
    if cols[0].result.frames.ndim != 3:
        raise InputError(f"a story draws 2-D tanks, got frames of shape {cols[0].result.frames.shape[1:]}")
    n = len(cols[0].result.steps)
    if index is not None and (
        isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n
    ):
        raise InputError(f"index must be an integer in [{-n}, {n}), got {index!r}")
    dpi = check_dpi(dpi)
    height = cols[0].result.frames.shape[1]
    if rows is not None:
        try:
            r0, r1 = (int(r) for r in rows)
        except (TypeError, ValueError):
            raise InputTypeError(f"rows must be a pair (start, stop) of row indices, got {rows!r}") from None
        if not 0 <= r0 < r1 <= height:
            raise InputError(f"rows must be a pair (start, stop) with 0 <= start < stop <= {height}, got {rows!r}")
    if fps is not None:
        if (
            isinstance(fps, (bool, np.bool_))
            or not isinstance(fps, (numbers.Real, np.integer, np.floating))
            or not 0 < float(fps) <= 100
        ):
            raise InputError(f"fps must be a number in (0, 100], got {fps!r}")
    return cols, dpi


class Story(Blitted):
    """The story's figure, updated frame by frame (see the module docstring)."""

    def __init__(self, cols, title=None, dpi=100, rows=None, cmap="viridis", levels=None):
        self.cols = cols
        results = [c.result for c in cols]
        first = results[0]
        self.steps = np.asarray(first.steps)
        h, w = first.frames.shape[1:]
        if rows is None:  # a band through the middle, a sixteenth of the tank high (one compartment of the demo)
            half = max(1, h // 32)
            rows = (max(0, h // 2 - half), min(h, h // 2 + half))
        self.rows = tuple(int(r) for r in rows)
        self.scale = FieldScale(results, "auto", "auto")
        field_levels, _ = levels if levels is not None else (None, None)
        self.cmap = colormap(cmap, field_levels)
        self.walls = wall_mask(first)
        self.fig = new_figure(*STORY_SIZE, dpi)
        fig = self.fig
        fig.text(
            0.5,
            0.965,
            title or "the same tank by " + ", ".join(c.name for c in cols),
            ha="center",
            va="center",
            fontsize=19,
        )
        self.subtitle = fig.text(0.5, 0.91, "", ha="center", va="center", fontsize=15, color="0.25")
        ncol = len(cols)
        side_h = 0.47
        side_w = side_h * STORY_SIZE[1] / STORY_SIZE[0] * w / h if w <= h else 0.27
        side_h = side_w * STORY_SIZE[0] / STORY_SIZE[1] * h / w
        gap = (0.9 - ncol * side_w) / max(1, ncol)
        bottom = 0.38
        self.images, self.overlays, self.marks = [], [], []
        for j, col in enumerate(cols):
            ax = fig.add_axes([0.03 + j * (side_w + gap), bottom, side_w, side_h])
            ax.set_axis_off()
            self.images.append(
                ax.imshow(
                    view(col.result.frames[0]),
                    cmap=self.cmap,
                    norm=self.scale.norm(0),
                    interpolation="nearest",
                    origin="upper",
                )
            )
            if self.walls is not None:
                rgba = np.zeros(self.walls.shape + (4,))
                rgba[self.walls] = (WALL_GREY, WALL_GREY, WALL_GREY, 1.0)
                self.overlays.append(ax.imshow(rgba, interpolation="nearest", origin="upper"))
            ax.set_title(col.name, fontsize=16, pad=6)
            n = col.result.meta.get("n_particles")
            what = WHAT.get(col.result.method, "").format(n=f"{n:,}" if n else "N")
            ax.text(0.5, -0.03, what, transform=ax.transAxes, ha="center", va="top", fontsize=12, color="0.2")
            if j == 0:  # the rows the profiles average over (drawn over the field: with it, frame by frame)
                self.marks = [ax.axhline(r - 0.5, color="white", lw=1.2, ls=(0, (4, 3))) for r in self.rows]
        cax = fig.add_axes([0.03 + ncol * (side_w + gap) - gap + 0.012, bottom, 0.011, side_h])
        cb = fig.colorbar(self.images[0], cax=cax)
        cb.set_label(self.scale.label, fontsize=12)
        cb.ax.tick_params(labelsize=11)
        self.colorbar_axes = cax if self.scale.per_frame else None
        self._profiles(fig, results)
        self._background = None

    def _profile(self, frame):
        r0, r1 = self.rows
        return np.asarray(frame, dtype=np.float64)[r0:r1].mean(axis=0)

    def _profiles(self, fig, results):
        ax = fig.add_axes([0.07, 0.085, 0.6, 0.2])
        self.pax = ax
        r0, r1 = self.rows
        x = np.arange(results[0].frames.shape[2])
        self.x = x
        deterministic = [r for r in results if not stochastic(r)]
        self.expected = deterministic[0] if deterministic else None
        base = [self._profile(r.frames[k]) for r in (deterministic or results) for k in range(len(self.steps))]
        lo, hi = float(np.min(base)), float(np.max(base))
        pad = 0.12 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlim(-0.5, x[-1] + 0.5)
        ax.plot(x, self._profile(results[0].frames[0]), color="0.75", lw=1.0, label="step 0")
        self.lines, self.band, self.band_of = [], None, None
        styles = {"heat": dict(color="k", ls=(0, (4, 2)), lw=1.6), "propagator": dict(color="C0", lw=2.2)}
        for k, (col, res) in enumerate(zip(self.cols, results)):
            if stochastic(res):
                if self.expected is not None and self.band is None:
                    self.band = ax.fill_between(
                        x, x * 0.0, x * 0.0, color="C1", alpha=0.25, lw=0, label=f"{col.name}: expected noise (2 sd)"
                    )
                    self.band_of = res
                (line,) = ax.plot(x, self._profile(res.frames[0]), ".", color="C1", ms=3.5, label=col.name)
            else:
                (line,) = ax.plot(
                    x,
                    self._profile(res.frames[0]),
                    label=col.name,
                    **styles.get(res.method, dict(color=f"C{k + 2}", lw=1.6)),
                )
            self.lines.append(line)
        if self.walls is not None:
            for c in np.flatnonzero(self.walls[r0:r1].any(axis=0)):
                ax.axvspan(c - 0.5, c + 0.5, color=str(WALL_GREY), lw=0)
        ax.set_xlabel("position across the tank (cells)", fontsize=12)
        ax.set_ylabel("concentration", fontsize=12)
        ax.set_title(f"profiles: the mean of rows {r0}-{r1 - 1} (between the dashed lines)", fontsize=13, loc="left")
        ax.tick_params(labelsize=11)
        ax.legend(fontsize=11, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)

    def _band(self, i):
        res = self.band_of
        r0, r1 = self.rows
        expected = np.asarray(self.expected.frames[i], dtype=np.float64)
        m0 = float(np.asarray(res.mass()[0]))
        var = sampling_variance(expected, m0, int(res.meta["n_particles"]), res.dx, 2)
        sd = np.sqrt(var[r0:r1].sum(axis=0)) / (r1 - r0)
        mid = self._profile(expected)
        x = self.x
        top, bottom = mid + 2 * sd, mid - 2 * sd
        verts = np.concatenate([np.stack([x, bottom], axis=1), np.stack([x[::-1], top[::-1]], axis=1)])
        self.band.set_verts([verts])

    def draw(self, i):
        """Update the picture to saved frame ``i``."""
        for col, im, line in zip(self.cols, self.images, self.lines):
            frame = view(col.result.frames[i])
            im.set_data(frame)
            if self.scale.per_frame:
                if self.scale.kind == "symlog":
                    im.set_norm(self.scale.norm(i))
                else:
                    im.set_clim(*self.scale.limits(i))
            line.set_ydata(self._profile(frame))
        if self.band is not None:
            self._band(i)
        first = self.cols[0].result
        step, last = int(self.steps[i]), int(self.steps[-1])
        dt = float(first.meta.get("dt", 1.0))
        text = f"step {step} of {last}"
        if dt != 1.0:
            text += f"   (t = {float(first.times[i]):.4g})"
        self.subtitle.set_text(text)

    def _dynamic(self):
        out = self.images + self.overlays + self.marks + self.lines
        if self.band is not None:
            out.insert(len(self.images) + len(self.overlays) + len(self.marks), self.band)
        if self.colorbar_axes is not None:
            out.append(self.colorbar_axes)
        return out + [self.subtitle]


def plot_story(source, path=None, index=-1, methods=STORY_METHODS, title=None, dpi=100, rows=None, cmap="viridis"):
    """The story at one saved frame: a few runs side by side and their profiles in one panel (1280 x 720 at 100 dpi).

    Parameters
    ----------
    source : Comparison, dict of str to Result, or list of Result
        Unbatched runs of a 2-D tank with the same saved steps.
    path : str, optional
        Write the figure there (``.png``, ``.pdf``, ``.svg``).
    index : int
        Which saved frame (negative counts from the end).
    methods : sequence of str
        The runs to show, by name, at most three fit well (default: ``propagator``,
        ``particles`` and ``heat`` where the source holds them, else its first three).
    title : str, optional
        The picture's title.
    dpi : float
        Resolution: 100 gives 1280 x 720 pixels.
    rows : (int, int), optional
        The rows whose mean the profiles show (default: a sixteenth of the tank through its middle).
    cmap : str
        Colour map of the fields.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols, dpi = _check(source, _methods(source, methods), index, dpi, rows)
    if path is not None:
        path = _io.check_target(path, FIGURE_SUFFIXES)
    story = Story(cols, title, dpi, rows, cmap)
    story.draw(int(index) % len(story.steps))
    if path is not None:
        save_figure(story.fig, path, dpi=dpi)
    return story.fig


def animate_story(
    source, path=None, fps=6, methods=STORY_METHODS, title=None, dpi=None, rows=None, cmap="viridis", progress=False
):
    """The story as an animation (GIF, MP4 or numbered PNG frames), or, without a path, one that plays inline
    in a notebook: see :func:`plot_story`.

    GIFs use the fixed palette of :func:`diffusion_conv.render.animate` (no
    banding); the frames are drawn one at a time. ``dpi`` defaults to 100 for a
    file (1280 x 720 pixels) and to what makes the frames 1000 pixels wide
    inline (``render.animation.INLINE_WIDTH``). Returns the path written (for
    PNG frames, the printf pattern of their names), or, without a path, an
    :class:`~diffusion_conv.render.InlineAnimation` (a GIF made in memory,
    nothing written).
    """
    inline = path is None
    if dpi is None:
        dpi = INLINE_WIDTH / STORY_SIZE[0] if inline else 100
    cols, dpi = _check(source, _methods(source, methods), None, dpi, rows, fps)
    if not inline:
        path = _io.check_target(path, SUFFIXES)
    gif = inline or path.lower().endswith(".gif")
    if not inline and path.lower().endswith(".mp4"):
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise MissingExtraError(VIDEO_HINT) from None
    levels = (FIELD_LEVELS, DIFF_LEVELS) if gif else None
    story = Story(cols, title, dpi, rows, cmap, levels)
    colours = palette(cmap) if gif else None
    if inline:
        return in_memory(story.rgb, len(story.steps), float(fps), colours, progress)
    return write_frames(story.rgb, len(story.steps), path, float(fps), colours, progress)


def _methods(source, methods):
    """The default methods where the source holds them; otherwise the source's first three runs."""
    if methods is not STORY_METHODS:
        return methods
    names = [c.name for c in columns(source)[0]]
    chosen = [m for m in STORY_METHODS if m in names]
    return chosen if chosen else names[:3]

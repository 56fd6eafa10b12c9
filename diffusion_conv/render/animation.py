"""Animations of runs (GIF, MP4) and the same panels at one frame as a figure."""

from __future__ import annotations

import numbers
import os

import numpy as np

from .. import _io, _progress
from ..errors import InputError, InputTypeError, MissingExtraError
from .differences import DIFF_SCALES
from .figures import FIGURE_SUFFIXES, save_figure
from .panels import Panels
from .scales import check_scale
from .sources import columns
from .writers import DIFF_LEVELS, FIELD_LEVELS, GifWriter, PngFrames, palette

VIDEO_HINT = 'MP4 output needs imageio-ffmpeg; install it with: pip install "diffusion-conv[video]"'


SUFFIXES = (".gif", ".mp4", ".png")
"""What :func:`animate` writes: a GIF, an MP4 (imageio-ffmpeg), or numbered PNG frames."""


def _check_common(source, reference, labels, channels, cmap, scale, limits, diff_scale):
    """The columns and the checked options shared by :func:`animate` and :func:`plot_frame`."""
    import matplotlib

    cols, reference = columns(source, reference, labels=labels, channels=channels)
    if not isinstance(cmap, str) or cmap not in matplotlib.colormaps:
        raise InputError(f"cmap {cmap!r} is not a matplotlib colour map")
    check_scale(scale, limits)
    if diff_scale not in DIFF_SCALES:
        raise InputError(f"diff_scale must be one of {', '.join(map(repr, DIFF_SCALES))}, got {diff_scale!r}")
    return cols


INLINE_WIDTH = 1000
"""Width in pixels that an inline animation is drawn to fit by default (see :func:`animate`'s ``dpi``)."""


def fit_dpi(results, diff, width, most) -> float:
    """The dpi at which the panels of ``results`` are ``width`` pixels wide, at most ``most`` (at least 20)."""
    inches = Panels.inches(results, diff)[0]
    return float(max(20.0, min(float(most), width / inches)))


class InlineAnimation:
    """An animation held in memory (a looping GIF) that plays inline in a notebook.

    What :func:`animate` returns without a path: self-contained (the GIF is
    embedded in the HTML as base64), nothing written to disk.

    Attributes
    ----------
    data : bytes
        The GIF file's bytes.
    frames : int
        Number of frames.
    size : (int, int)
        Width and height in pixels.
    fps : float
    """

    def __init__(self, data: bytes, frames: int, size, fps: float):
        self.data = bytes(data)
        self.frames = int(frames)
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)

    def __repr__(self):
        w, h = self.size
        return f"InlineAnimation(GIF, {self.frames} frames of {w} x {h} pixels at {self.fps:g} fps, {len(self.data):,} bytes)"

    def _repr_html_(self):
        import base64

        w, h = self.size
        data = base64.b64encode(self.data).decode("ascii")
        return (
            f'<img src="data:image/gif;base64,{data}" width="{w}" height="{h}" '
            f'alt="an animation of {self.frames} frames" style="max-width: 100%; height: auto">'
        )

    def save(self, path) -> str:
        """Write the GIF to ``path`` (ending in ``.gif``; temporary name, then rename); return the path."""
        path = _io.check_target(path, (".gif",))
        with _io.atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(self.data)
        return path


def animate(
    source,
    path=None,
    fps=10,
    cmap="viridis",
    reference=None,
    diff=True,
    dpi=None,
    progress=False,
    scale="auto",
    limits="auto",
    diff_scale="run",
    walls=None,
    labels=None,
    channels=None,
):
    """An animation of one or several runs: a file (GIF, MP4 with imageio-ffmpeg, numbered PNG frames) or,
    without a path, an object that plays inline in a notebook.

    Each run gets a panel of its field and, below it, its difference to the
    reference; below the reference, every run's relative mass change against the
    step. The fields share one colour scale per frame, chosen from the
    deterministic runs (a sampled run's noise does not set it): linear over the
    whole run when the peak stays within a factor of ten, otherwise frame by frame,
    and logarithmic when the peak falls by more than a hundred (a point source);
    the colour bar names the quantity and its units. Walls are drawn solid grey in
    every panel. A difference panel says how large the difference is against what
    is expected of it: rounding for two lattice methods (below that it is drawn
    flat and says "agrees to rounding"), the sampling noise for particles and
    counts, the declared order for the heat equation; its colour scale is held
    over the run. A batched Result is drawn as one panel per member (each compared
    with the same member of the reference), or, with ``channels``, as colour
    pictures. 1-D tanks are drawn as profiles, 3-D tanks as the middle slice along
    axis 0. Frames are drawn and handed to the writer one at a time, so memory does
    not grow with the number of frames.

    GIFs are written on one fixed palette of 256 colours that holds the colour
    maps at 128 (fields) and 64 (differences) levels, so smooth gradients stay
    smooth (an adaptive palette per frame bands them); colour pictures of channels
    are dithered instead. MP4 and PNG frames keep every colour.

    Parameters
    ----------
    source : Comparison, Result, dict of str to Result, or list of Result
        The runs; they must have the same saved steps.
    path : str or os.PathLike, optional
        None (the default): nothing is written; the GIF is made in memory and
        returned as an :class:`InlineAnimation`, which a notebook shows as a
        looping animation (embedded in the page, so it needs no file). Otherwise
        the output file, ending in ``.gif``, ``.mp4``, or ``.png`` for numbered frames
        ``stem_0000.png``, ``stem_0001.png``, ... beside it; its folder must exist
        and be writable (checked before any drawing). Written under a temporary
        name and renamed when complete; a failed or interrupted write (Ctrl-C,
        SIGTERM) leaves neither the file nor a temporary file (nor any PNG frame).
        Mode ``0o666`` less the umask.
    fps : float
        Frames per second, in ``(0, 100]`` (a Python or NumPy integer or float; not a bool).
    cmap : str
        Matplotlib colour map of the fields.
    reference : str, optional
        Name of the reference run (default: the comparison's reference, or the first run).
    diff : bool
        Draw the row of differences to the reference (when there are several runs).
    dpi : float, optional
        Pixels per inch of the frames (a panel is about 3.6 inches wide), in
        ``[10, 1200]``; a frame may not exceed 16384 pixels a side or 2**25 pixels.
        Default 80 for a file; inline, at most 80 and no more than makes the frames
        1000 pixels wide (``render.animation.INLINE_WIDTH``; a notebook scales wider pictures down to
        its column anyway, and the GIF's size grows with the square of the dpi).
    progress : bool
        Show a progress bar.
    scale : {'auto', 'linear', 'log', 'symlog'}
        The fields' colour scale (``auto``: see above).
    limits : {'auto', 'run', 'frame'} or (low, high)
        One pair of colour limits for the run, one per frame, or fixed numbers.
    diff_scale : {'run', 'frame'}
        The differences' colour scale: held over the run, or each frame's own largest difference.
    walls : bool array, optional
        Wall cells to draw (default: those the runs record in ``meta['wall_cells']``).
    labels : sequence, optional
        Labels of a batch's members: one entry per batch axis, each a list of
        labels for that axis (``[["T = 0.5", "T = 1"]]``, ``[None, ["key 0", "key 1"]]``)
        or None (numbered).
    channels : int, optional
        The batch axis that holds colour channels (red, green, blue): drawn as one
        colour picture per member of the other axes.

    Returns
    -------
    str or InlineAnimation
        The path written (for PNG frames, the printf pattern of their names,
        ``stem_%04d.png``), or, without a path, the animation in memory.

    Raises
    ------
    ValueError, TypeError
        Bad input, before anything is written.
    ImportError
        ``.mp4`` without imageio-ffmpeg (the message names the ``video`` extra).
    """
    cols = _check_common(source, reference, labels, channels, cmap, scale, limits, diff_scale)
    inline = path is None
    if not inline:
        path = _io.check_target(path, SUFFIXES)
    suffix = ".gif" if inline else os.path.splitext(path)[1].lower()
    diff_row = bool(diff) and any(c.ref is not None for c in cols)
    if dpi is None:
        dpi = fit_dpi([c.result for c in cols], diff_row, INLINE_WIDTH, 80.0) if inline else 80.0
    dpi = Panels.check_size([c.result for c in cols], diff_row, dpi, "animation frame")
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, (numbers.Real, np.integer, np.floating)):
        raise InputTypeError(f"fps must be a number in (0, 100], got {fps!r} ({type(fps).__name__})")
    fps = float(fps)
    if not 0 < fps <= 100:
        raise InputError(f"fps must be a number in (0, 100], got {fps!r}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise MissingExtraError(VIDEO_HINT) from None
    gif = suffix == ".gif"
    colour_pictures = any(c.channels for c in cols)
    levels = (FIELD_LEVELS, DIFF_LEVELS) if gif and not colour_pictures else None
    panels = Panels(
        cols, cmap, dpi, diff, scale=scale, limits=limits, diff_scale=diff_scale, walls=walls, levels=levels
    )
    n = len(cols[0].result.steps)
    colours = palette(cmap) if levels is not None else None
    if inline:
        return in_memory(panels.rgb, n, fps, colours, progress)
    return write_frames(panels.rgb, n, path, fps, colours, progress)


def in_memory(draw, n, fps, colours=None, progress=False) -> InlineAnimation:
    """The frames ``draw(i)`` for ``i < n`` as a GIF in memory."""
    import io

    buf = io.BytesIO()
    writer = GifWriter(buf, fps, colours)
    size = (0, 0)
    with _progress.bar(n, progress, desc="render", unit="image") as bar:
        try:
            for i in range(n):
                frame = draw(i)
                size = (frame.shape[1], frame.shape[0])
                writer.append_data(frame)
                bar.update(1)
        finally:
            writer.close()
    return InlineAnimation(buf.getvalue(), n, size, fps)


def write_frames(draw, n, path, fps, colours=None, progress=False):
    """Hand ``draw(i)`` (an RGB uint8 frame) for ``i < n`` to the writer ``path``'s suffix names; return the path.

    GIF frames are mapped onto ``colours`` (a fixed palette) or, without one, each
    quantised with dithering; a failure leaves no file behind.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".png":
        frames = PngFrames(path, n)
        try:
            with _progress.bar(n, progress, desc="render", unit="image") as bar:
                for i in range(n):
                    frames.append_data(draw(i))
                    bar.update(1)
        except BaseException:
            frames.discard()
            raise
        return frames.pattern
    with _io.atomic_path(path) as tmp, _progress.bar(n, progress, desc="render", unit="image") as bar:
        if suffix == ".gif":
            writer = GifWriter(tmp, fps, colours)
        else:
            import imageio.v2 as iio

            writer = iio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, macro_block_size=16)
        try:
            for i in range(n):
                writer.append_data(draw(i))
                bar.update(1)
        finally:
            writer.close()
    return path


def plot_frame(
    source,
    index=-1,
    path=None,
    cmap="viridis",
    reference=None,
    diff=True,
    dpi=100,
    scale="auto",
    limits="auto",
    diff_scale="run",
    walls=None,
    labels=None,
    channels=None,
):
    """The panels of :func:`animate` at one saved frame, as a figure (saved when ``path`` is given).

    Parameters
    ----------
    source, cmap, reference, diff, scale, limits, diff_scale, walls, labels, channels
        As in :func:`animate` (the colour scales are those of the whole run).
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
    cols = _check_common(source, reference, labels, channels, cmap, scale, limits, diff_scale)
    n = len(cols[0].result.steps)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
        raise InputError(f"index must be an integer in [{-n}, {n}), got {index!r}")
    if path is not None:
        path = _io.check_target(path, FIGURE_SUFFIXES)
    diff_row = bool(diff) and any(c.ref is not None for c in cols)
    dpi = Panels.check_size([c.result for c in cols], diff_row, dpi, "figure")
    panels = Panels(cols, cmap, dpi, diff, scale=scale, limits=limits, diff_scale=diff_scale, walls=walls)
    panels.draw(int(index) % n)
    if path is not None:
        save_figure(panels.fig, path, dpi=dpi)
    return panels.fig

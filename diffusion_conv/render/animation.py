"""Animations of runs (GIF, MP4) and the same panels at one frame as a figure."""
from __future__ import annotations

import numbers
import os

import numpy as np

from .. import _io, _progress
from .figures import FIGURE_SUFFIXES, save_figure
from .panels import Panels
from .sources import collect

VIDEO_HINT = 'MP4 output needs imageio-ffmpeg; install it with: pip install "diffusion-conv[video]"'


def animate(source, path, fps=10, cmap="viridis", reference=None, diff=True, dpi=80, progress=False):
    """Write an animation of one or several runs: GIF, or MP4 with imageio-ffmpeg.

    Each method gets a panel of its field (one colour scale shared by all
    panels and frames) and, below it, its difference to the reference, on its
    own symmetric scale with the frame's largest difference written on it;
    below the reference, every run's relative mass change against time. The
    title gives the step, the time and the mass. A batched Result is drawn as
    one panel per member.
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
        Frames per second, in ``(0, 100]`` (a Python or NumPy integer or float; not a bool).
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
    names, results, reference = collect(source, reference)
    path = _io.check_target(path, (".gif", ".mp4"))
    suffix = os.path.splitext(path)[1].lower()
    dpi = Panels.check_size(results, diff, dpi, "animation frame")
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"fps must be a number in (0, 100], got {fps!r} ({type(fps).__name__})")
    fps = float(fps)
    if not 0 < fps <= 100:
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

    panels = Panels(names, results, reference, cmap, dpi, diff)
    n = len(results[0].steps)
    with _io.atomic_path(path) as tmp, _progress.bar(n, progress, desc="render", unit="image") as bar:
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
    names, results, reference = collect(source, reference)
    n = len(results[0].steps)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
        raise ValueError(f"index must be an integer in [{-n}, {n}), got {index!r}")
    if path is not None:
        path = _io.check_target(path, FIGURE_SUFFIXES)
    dpi = Panels.check_size(results, diff, dpi, "figure")
    panels = Panels(names, results, reference, cmap, dpi, diff)
    panels.draw(int(index) % n)
    if path is not None:
        save_figure(panels.fig, path, dpi=dpi)
    return panels.fig


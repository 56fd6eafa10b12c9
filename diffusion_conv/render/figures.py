"""What every picture shares: figure sizes, new figures and safe saving (matplotlib imported inside the functions)."""

from __future__ import annotations

import numbers
import os

import numpy as np

from .. import _io
from ..errors import InputError, InputTypeError

DPI_RANGE = (10, 1200)
"""Resolutions (dots per inch) that figures and animations accept."""

MAX_SIDE = 16384
"""Largest width or height of a figure, in pixels."""

MAX_PIXELS = 2**25
"""Largest figure area in pixels (about 33 million: 128 MiB of RGBA)."""

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
TEXT_SUFFIXES = (".md", ".json", ".txt", ".csv")


def check_dpi(dpi, what: str = "dpi") -> float:
    """A resolution in ``DPI_RANGE``; ValueError or TypeError naming ``what`` otherwise."""
    if isinstance(dpi, bool) or not isinstance(dpi, (numbers.Real, np.floating, np.integer)):
        raise InputTypeError(f"{what} must be a number of dots per inch, got {dpi!r} ({type(dpi).__name__})")
    lo, hi = DPI_RANGE
    if not lo <= float(dpi) <= hi:
        raise InputError(f"{what} must be between {lo} and {hi} dots per inch, got {dpi!r}")
    return float(dpi)


def check_pixels(width_in: float, height_in: float, dpi: float, what: str = "figure") -> tuple[int, int]:
    """Pixel size of a ``width_in`` x ``height_in`` inch figure at ``dpi``; ValueError when absurd."""
    w, h = int(round(width_in * dpi)), int(round(height_in * dpi))
    if w < 1 or h < 1 or w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise InputError(
            f"the {what} would be {w} x {h} pixels ({width_in:.3g} x {height_in:.3g} inches at "
            f"dpi={dpi:g}); at most {MAX_SIDE} pixels a side and {MAX_PIXELS} in all are allowed: "
            f"lower dpi or draw fewer panels"
        )
    return w, h


def new_figure(width, height, dpi=100):
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches on the Agg canvas (no pyplot state)."""
    dpi = check_dpi(dpi)
    check_pixels(width, height, dpi)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, dpi=100):
    """Write a matplotlib figure to ``path`` (PNG, PDF or SVG) under a temporary name, then rename.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
        Ends in ``.png``, ``.pdf`` or ``.svg``; its folder must exist and be writable.
    dpi : float
        Resolution of raster output, in ``DPI_RANGE`` (10 to 1200); the figure at that
        resolution must stay within ``MAX_SIDE`` and ``MAX_PIXELS``.

    Raises
    ------
    ValueError, TypeError
        Bad path or resolution, before anything is written.
    """
    path = _io.check_target(path, FIGURE_SUFFIXES)
    dpi = check_dpi(dpi)
    if not hasattr(fig, "savefig") or not hasattr(fig, "get_size_inches"):
        raise InputTypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    check_pixels(*fig.get_size_inches(), dpi)
    suffix = os.path.splitext(path)[1].lower()
    with _io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=suffix[1:])


def save_text(path, text):
    """Write ``text`` to ``path`` (``.md``, ``.json``, ``.txt`` or ``.csv``) under a temporary name, then rename.

    Parameters
    ----------
    path : str or os.PathLike
        Its folder must exist and be writable.
    text : str

    Raises
    ------
    ValueError, TypeError
        Bad path, or ``text`` not a string, before anything is written.
    """
    path = _io.check_target(path, TEXT_SUFFIXES)
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str, got {type(text).__name__}")
    with _io.atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write(text)


class Blitted:
    """A picture drawn frame by frame: ``draw(i)``, ``fig``, ``_dynamic()`` (the artists that change) and
    ``_background`` (None until the first frame) are the subclass's; :meth:`rgb` renders a frame."""

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

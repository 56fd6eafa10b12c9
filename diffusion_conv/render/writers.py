"""Frame writers of the animations: GIF on a fixed palette, MP4, and numbered PNG frames.

A GIF holds at most 256 colours a frame. An adaptive palette per frame (what a
generic writer does) spends them on whatever fills the frame, and a smooth
gradient comes out as a few flat bands: contour lines that are not in the data.
:class:`GifWriter` instead maps every frame onto one fixed palette built from
the colour maps the picture uses (:func:`palette`): the panels draw their fields
with those maps resampled to exactly the palette's levels, so a field's colours
pass through unchanged; pictures that are not drawn from colour maps (RGB
composites of colour channels) are quantised per frame with Floyd-Steinberg
dithering instead. Frames are written as they come, so memory does not grow
with the number of frames.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from .. import _io
from ..errors import InputError

FIELD_LEVELS = 128
"""Colours of a field's colour map in a GIF's palette (a 128-value gradient keeps every step)."""

DIFF_LEVELS = 64
"""Colours of the difference map (``RdBu_r``) in a GIF's palette."""

GREY_LEVELS = 41
"""Greys in a GIF's palette (text, axes, walls, antialiased edges)."""


def palette(field_cmap="viridis", diff_cmap="RdBu_r"):
    """The fixed GIF palette: ``(256, 3)`` uint8 colours of the field map, the difference map, greys and the
    line colours of matplotlib's default cycle."""
    import matplotlib
    from matplotlib import colors

    parts = [
        matplotlib.colormaps[field_cmap].resampled(FIELD_LEVELS)(np.arange(FIELD_LEVELS))[:, :3],
        matplotlib.colormaps[diff_cmap].resampled(DIFF_LEVELS)(np.arange(DIFF_LEVELS))[:, :3],
        np.repeat(np.linspace(0.0, 1.0, GREY_LEVELS)[:, None], 3, axis=1),
        np.array([colors.to_rgb(f"C{k}") for k in range(10)]),
    ]
    cycle = np.array([colors.to_rgb(f"C{k}") for k in range(10)])
    # the line colours blended with white (antialiased lines, light bands)
    parts.append(1.0 - (1.0 - cycle) * 0.45)
    rgb = np.concatenate(parts)
    rgb = np.round(rgb * 255).astype(np.uint8)
    if len(rgb) < 256:
        rgb = np.concatenate([rgb, np.repeat(rgb[-1:], 256 - len(rgb), axis=0)])
    return rgb[:256]


def _short(value):
    return struct.pack("<H", int(value))


class GifWriter:
    """A looping GIF written frame by frame.

    Parameters
    ----------
    path : str or binary file object
        The file (already checked; written in place: wrap in an atomic path), or an open binary
        file (a ``BytesIO``) that the GIF is written into and that is left open.
    fps : float
    colours : ndarray (256, 3) uint8, optional
        A fixed palette (every frame mapped onto it, no dithering); ``None``:
        each frame its own palette with Floyd-Steinberg dithering.
    """

    def __init__(self, path, fps, colours=None):
        self._owned = isinstance(path, (str, bytes, os.PathLike))
        self._fh = open(path, "wb") if self._owned else path
        self._finished = False
        self._delay = max(2, int(round(100.0 / float(fps))))  # hundredths of a second
        self._colours = None if colours is None else np.asarray(colours, dtype=np.uint8)
        self._lut = self._known = None
        if self._colours is not None:
            # exact nearest palette colour of every RGB value met so far (PIL's own mapping onto a given palette
            # is approximate: white lands on a light grey)
            self._lut = np.zeros(2**24, dtype=np.uint8)
            self._known = np.zeros(2**24, dtype=bool)
        self._size = None

    def _indices(self, frame):
        """The palette index of every pixel of an ``(H, W, 3)`` uint8 frame (exact nearest colour)."""
        codes = (frame[..., 0].astype(np.int32) << 16) | (frame[..., 1].astype(np.int32) << 8) | frame[..., 2]
        new = np.unique(codes[~self._known[codes]])
        if new.size:
            rgb = np.stack([(new >> 16) & 255, (new >> 8) & 255, new & 255], axis=-1).astype(np.int32)
            pal = self._colours.astype(np.int32)
            for start in range(0, len(new), 4096):
                part = rgb[start : start + 4096]
                dist = ((part[:, None, :] - pal[None, :, :]) ** 2).sum(axis=-1)
                self._lut[new[start : start + 4096]] = np.argmin(dist, axis=1).astype(np.uint8)
            self._known[new] = True
        return self._lut[codes]

    def append_data(self, rgb):
        """Add one frame: an ``(H, W, 3)`` uint8 array."""
        from PIL import GifImagePlugin, Image

        frame = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[..., :3])
        h, w = frame.shape[:2]
        if self._colours is not None:
            p = Image.frombytes("P", (w, h), np.ascontiguousarray(self._indices(frame)).tobytes())
            p.putpalette(self._colours.ravel().tolist())
            local = False
        else:
            p = Image.fromarray(frame, "RGB").quantize(
                256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG
            )
            local = True
        if self._size is None:
            self._size = (w, h)
            self._header(p)
        elif (w, h) != self._size:
            raise InputError(f"every frame of a GIF has one size: the first was {self._size}, this one {(w, h)}")
        data = GifImagePlugin.getdata(p, duration=self._delay * 10, include_color_table=local)
        self._fh.write(b"".join(bytes(chunk) for chunk in data))  # pyright: ignore[reportGeneralTypeIssues]

    def _header(self, first):
        w, h = self._size  # pyright: ignore[reportGeneralTypeIssues]  (set by the first frame)
        if self._colours is not None:
            table = self._colours.tobytes()
            flags = 0xF7  # a global colour table of 256 entries, 8 bits a channel
        else:
            table, flags = b"", 0x70
        self._fh.write(b"GIF89a" + _short(w) + _short(h) + bytes([flags, 0, 0]) + table)
        # loop forever (NETSCAPE2.0 application extension)
        self._fh.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + _short(0) + b"\x00")

    def close(self):
        """Finish the file."""
        if not self._finished:
            self._finished = True
            try:
                if self._size is not None:
                    self._fh.write(b"\x3b")
            finally:
                if self._owned:
                    self._fh.close()


class PngFrames:
    """Numbered PNG frames ``stem_0000.png``, ``stem_0001.png``, ... beside ``path`` (print quality).

    Each frame is written under a temporary name and renamed; :meth:`discard`
    removes the frames written so far (an interrupted or failed render).
    """

    def __init__(self, path, nframes, dpi=None):
        stem, _ = os.path.splitext(path)
        width = max(4, len(str(max(0, nframes - 1))))
        self.pattern = f"{stem}_%0{width}d.png"
        self.written = []
        self._dpi = dpi

    def append_data(self, rgb):
        """Write the next frame."""
        import imageio.v3 as iio

        target = self.pattern % len(self.written)
        with _io.atomic_path(target, suffix=".png") as tmp:
            iio.imwrite(tmp, np.asarray(rgb, dtype=np.uint8), extension=".png")
        self.written.append(target)

    def discard(self):
        """Remove every frame written so far."""
        for name in self.written:
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
        self.written = []

    def close(self):
        pass

"""Generate ``test_image.png``, the small picture of the 'image' scenario, and its colour version.

The picture is made from scratch (no download): a 128x128 grayscale scene with
a bright disc, a ring, a bar pattern of rising frequency, a checkerboard and a
smooth gradient, so that blurring, sharpening and edge kernels each leave a
visible trace. ``test_image_rgb.png`` puts the same shapes in colour (a red
disc, a green ring, blue bars, a yellow checkerboard on a cyan-to-magenta
gradient), so that each colour channel holds a different picture. Run
``python diffusion_conv/data/make_test_image.py`` to rebuild both; the output is
deterministic.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

SIZE = 128


def make_image(size: int = SIZE) -> np.ndarray:
    """The test scene as uint8 brightness, shape ``(size, size)``."""
    y, x = np.mgrid[0:size, 0:size].astype(float) / size
    img = 0.15 + 0.25 * x  # a gentle gradient as background
    r = np.hypot(x - 0.3, y - 0.3)
    img = np.where(r < 0.14, 0.95, img)  # a bright disc
    img = np.where(np.abs(np.hypot(x - 0.72, y - 0.3) - 0.13) < 0.025, 0.9, img)  # a ring
    bars = (y > 0.58) & (y < 0.9) & (x > 0.06) & (x < 0.46)
    freq = 4 + 20 * (x - 0.06)  # bars of rising frequency
    img = np.where(bars, 0.5 + 0.45 * np.sign(np.sin(2 * np.pi * freq * x * 3)), img)
    check = (y > 0.58) & (y < 0.9) & (x > 0.56) & (x < 0.94)
    cells = (np.floor(x * 16) + np.floor(y * 16)) % 2
    img = np.where(check, 0.1 + 0.8 * cells, img)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def make_colour_image(size: int = SIZE) -> np.ndarray:
    """The colour scene as uint8 RGB, shape ``(size, size, 3)``: each channel a different picture."""
    y, x = np.mgrid[0:size, 0:size].astype(float) / size
    rgb = np.stack([0.1 + 0.3 * x, 0.35 - 0.25 * x, 0.15 + 0.3 * (1 - x)], axis=-1)  # cyan to magenta
    disc = np.hypot(x - 0.3, y - 0.3) < 0.14
    ring = np.abs(np.hypot(x - 0.72, y - 0.3) - 0.13) < 0.025
    bars = (y > 0.58) & (y < 0.9) & (x > 0.06) & (x < 0.46) & (np.sin(2 * np.pi * (4 + 20 * (x - 0.06)) * x * 3) > 0)
    check = (y > 0.58) & (y < 0.9) & (x > 0.56) & (x < 0.94) & ((np.floor(x * 16) + np.floor(y * 16)) % 2 == 1)
    for mask, colour in (
        (disc, (0.95, 0.1, 0.1)),
        (ring, (0.1, 0.9, 0.2)),
        (bars, (0.15, 0.25, 0.95)),
        (check, (0.95, 0.85, 0.1)),
    ):
        rgb = np.where(mask[..., None], np.array(colour), rgb)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _write(path, picture):
    import imageio.v3 as iio

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=folder)
    os.close(fd)
    try:
        iio.imwrite(tmp, picture, extension=".png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def main(path=None) -> str:
    """Write both pictures (default: beside this script; ``path`` names the grayscale one); returns its path."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = path or os.path.join(here, "test_image.png")
    _write(path, make_image())
    root, ext = os.path.splitext(path)
    _write(root + "_rgb" + ext, make_colour_image())
    return path


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else None))

"""Generate ``test_image.png``, the small picture of the 'image' scenario.

The picture is made from scratch (no download): a 128x128 grayscale scene with
a bright disc, a ring, a bar pattern of rising frequency, a checkerboard and a
smooth gradient, so that blurring, sharpening and edge kernels each leave a
visible trace. Run ``python diffusion_conv/data/make_test_image.py`` to rebuild it;
the output is deterministic.
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


def main(path=None) -> str:
    """Write the image (default: ``test_image.png`` beside this script); returns the path."""
    import imageio.v3 as iio

    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_image.png")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=folder)
    os.close(fd)
    try:
        iio.imwrite(tmp, make_image(), extension=".png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else None))

"""Fourier pictures: an image and its centred log spectrum; rotate the image and the spectrum turns with it.

The test picture (a disc, a ring, vertical bars and a checkerboard on a
gradient) and the same picture rotated by 30 degrees, each beside
``dc.fourier.log_magnitude`` of it: ``log(1 + |F|)`` of the 2-D DFT with the
zero frequency in the middle. Stripes that vary along one direction put their
energy on the line through the centre along that direction, so the spectrum of
the rotated image is the rotated spectrum. Both pictures are tapered to a disc
(a raised-cosine window of the radius) so that the rotation changes nothing
but the orientation; without it the square's edges, which do not rotate with
the content, draw their own cross through the spectrum.

The script measures the dominant orientation of each spectrum (the principal
axis of the power outside the lowest frequencies) and the correlation between
the spectrum of the rotated image and the rotated spectrum. Writes
``fourier_pictures.png`` and ``fourier_pictures.md`` into ``--out``.

    python simulations/fourier_pictures.py [--smoke] [--out DIR]
"""

import os
import sys

import numpy as np
from _script import arguments, write_report

ANGLE = 30.0  # degrees


def disc_taper(n):
    """A raised-cosine window on an ``n x n`` grid: 1 within radius ``0.35 n``, falling to 0 at ``0.5 n``."""
    r = np.hypot(*(np.mgrid[:n, :n] - (n - 1) / 2)) / n
    return np.where(r <= 0.35, 1.0, np.where(r < 0.5, np.cos(0.5 * np.pi * (r - 0.35) / 0.15) ** 2, 0.0))


def orientation(spec, inner=0.08):
    """Angle of the principal axis of the power ``expm1(spec)^2`` outside ``|k| < inner``.

    In degrees in ``(-90, 90]``, counter-clockwise from axis 1 as the picture is drawn (axis 0 downward)."""
    n = spec.shape[0]
    k = (np.arange(n) - n // 2) / n
    k0, k1 = np.meshgrid(k, k, indexing="ij")
    power = np.expm1(spec) ** 2 * (np.hypot(k0, k1) >= inner)
    m00, m11, m01 = (power * k0 * k0).sum(), (power * k1 * k1).sum(), (power * k0 * k1).sum()
    angle = float(np.degrees(0.5 * np.arctan2(-2 * m01, m11 - m00)))
    return angle if angle > -90.0 else angle + 180.0


def main(argv=None):
    args = arguments(__doc__, argv)

    from scipy import ndimage

    import diffusion_conv as dc
    from diffusion_conv import render, scenarios

    n = 64 if args.smoke else None
    image = np.asarray(dc.Tank.from_image(scenarios.TEST_IMAGE, size=n).concentration, dtype=np.float64)
    n = image.shape[0]
    window = disc_taper(n)
    centred = image - image.mean()
    tapered = centred * window
    rotated = ndimage.rotate(centred, ANGLE, reshape=False, order=3, mode="reflect") * window

    spec = np.asarray(dc.fourier.log_magnitude(tapered), dtype=np.float64)
    spec_rot = np.asarray(dc.fourier.log_magnitude(rotated), dtype=np.float64)
    turned = ndimage.rotate(spec, ANGLE, reshape=False, order=1, mode="constant")
    inside = np.hypot(*(np.mgrid[:n, :n] - n // 2)) < 0.45 * n  # where the turned spectrum is defined
    corr = float(np.corrcoef(spec_rot[inside], turned[inside])[0, 1])
    corr_unturned = float(np.corrcoef(spec_rot[inside], spec[inside])[0, 1])
    a0, a1 = orientation(spec), orientation(spec_rot)
    turn = (a1 - a0 + 90.0) % 180.0 - 90.0

    # the convention, checked against numpy directly
    ref = np.log1p(np.fft.fftshift(np.abs(np.fft.fft2(tapered))))
    conv_err = float(np.max(np.abs(spec - ref)))

    lines = [
        f"{n}x{n} test picture, mean removed, tapered to a disc; rotated by {ANGLE:g} degrees "
        "(cubic interpolation, counter-clockwise as drawn).",
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| max abs(log_magnitude - log1p(abs(fftshift(fft2)))) | {conv_err:.2e} |",
        f"| dominant orientation of the spectrum, original | {a0:.1f} deg |",
        f"| dominant orientation of the spectrum, rotated image | {a1:.1f} deg |",
        f"| turn of the spectrum | {turn:+.1f} deg (image turned by {ANGLE:g}) |",
        f"| correlation: spectrum of rotated image vs rotated spectrum | {corr:.3f} |",
        f"| correlation: spectrum of rotated image vs unrotated spectrum | {corr_unturned:.3f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args, "fourier_pictures.md", text)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.9), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    extent = [-0.5, 0.5, 0.5, -0.5]
    gray = dict(cmap="gray", vmin=tapered.min(), vmax=tapered.max())
    mag = dict(cmap="magma", extent=extent, vmin=0.0, vmax=max(spec.max(), spec_rot.max()))
    for ax, data, title, kw in [
        (axes[0], tapered, "test picture", gray),
        (axes[1], spec, "its log spectrum", mag),
        (axes[2], rotated, f"rotated by {ANGLE:g} deg", gray),
        (axes[3], spec_rot, "its log spectrum", mag),
    ]:
        ax.imshow(data, **kw)
        ax.set_title(title, fontsize=10)
        if "extent" in kw:
            ax.set_xlabel("k1 (cycles per cell)", fontsize=8)
            ax.set_ylabel("k0", fontsize=8)
            ax.tick_params(labelsize=7)
        else:
            ax.set_axis_off()
    fig.suptitle(f"log(1 + |F|), zero frequency in the middle: the spectrum turns by {turn:+.1f} deg", fontsize=10)
    fig.tight_layout()
    render.save_figure(fig, os.path.join(args.out, "fourier_pictures.png"))

    if conv_err > 1e-4 * ref.max():
        raise SystemExit(f"log_magnitude differs from numpy's log1p(abs(fftshift(fft2))) by {conv_err}")
    if not corr > corr_unturned or abs(abs(turn) - ANGLE) > 8.0:
        raise SystemExit(
            f"the spectrum did not turn with the image: turn {turn:.1f} deg, correlation {corr:.3f} "
            f"(unturned {corr_unturned:.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

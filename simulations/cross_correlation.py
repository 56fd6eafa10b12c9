"""Cross-correlation: find a pattern in a picture by the peak of its correlation with a template.

A small face-like pattern (a bright disc with two dark eyes and a mouth) is
planted into the test picture, and noise is added. Sliding the template over
the picture and summing the products, ``dc.fourier.cross_correlate(image,
template, mode="valid")``, is the convolution with the flipped template: one
product of Fourier transforms. Its raw peak is drawn to whatever is brightest
(a large white disc correlates with any bright template). Normalised
cross-correlation removes that bias: the correlation with the zero-mean template
divided by the local standard deviation of the picture, whose local sums are
themselves cross-correlations with a template of ones. Its peak, 1 for a perfect
match, lands on the face.

The script checks ``cross_correlate`` against ``dc.convolve_fft`` with the
flipped template and against ``scipy.signal.correlate``, and fails unless the
normalised peak is where the face was planted. Writes ``cross_correlation.png``
and ``cross_correlation.md`` into ``--out``.

    python simulations/cross_correlation.py [--smoke] [--out DIR]
"""

import os
import sys

import numpy as np
from _script import arguments, write_report


def face(m):
    """An ``m x m`` face-like pattern in [0, 1]: a bright disc, two dark eyes and a dark smile."""
    y, x = (np.mgrid[:m, :m] - (m - 1) / 2) / (m / 2)
    out = np.where(np.hypot(x, y) < 0.95, 0.85, 0.15)
    for ex in (-0.38, 0.38):
        out[np.hypot(x - ex, y + 0.3) < 0.16] = 0.1
    r = np.hypot(x, y + 0.05)
    out[(np.abs(r - 0.55) < 0.1) & (y > 0.15)] = 0.1
    return out


def normalised_cross_correlation(image, template):
    """Pearson correlation of the template with every patch of the picture (``mode='valid'``), in [-1, 1]."""
    import jax.numpy as jnp

    from diffusion_conv.fourier import cross_correlate

    t0 = template - template.mean()
    ones = np.ones_like(template)
    m = template.size
    num = cross_correlate(image, t0, mode="valid")
    s1 = cross_correlate(image, ones, mode="valid")
    s2 = cross_correlate(image * image, ones, mode="valid")
    var = jnp.maximum(s2 - s1 * s1 / m, 1e-12 * m)  # m times the local variance
    return np.asarray(num / jnp.sqrt(var * float(np.sum(t0 * t0))))


def main(argv=None):
    args = arguments(__doc__, argv)

    from scipy import signal

    import diffusion_conv as dc
    from diffusion_conv import render, scenarios

    size, m = (64, 11) if args.smoke else (128, 17)
    image = np.asarray(dc.Tank.from_image(scenarios.TEST_IMAGE, size=size).concentration)  # the default float dtype
    template = face(m).astype(image.dtype)
    where = (int(0.40 * size), int(0.44 * size))  # between the shapes, on the gradient background
    picture = image.copy()
    picture[where[0] : where[0] + m, where[1] : where[1] + m] = template
    picture += 0.05 * np.random.default_rng(0).standard_normal(picture.shape)
    picture = picture.astype(image.dtype)

    raw = np.asarray(dc.fourier.cross_correlate(picture, template, mode="valid"))
    ncc = normalised_cross_correlation(picture, template)
    raw_peak = tuple(int(i) for i in np.unravel_index(np.argmax(raw), raw.shape))
    ncc_peak = tuple(int(i) for i in np.unravel_index(np.argmax(ncc), ncc.shape))

    full = np.asarray(dc.fourier.cross_correlate(picture, template, mode="linear"))
    err_conv = float(np.max(np.abs(full - np.asarray(dc.convolve_fft(picture, template[::-1, ::-1])))))
    err_scipy = float(np.max(np.abs(full - signal.correlate(picture, template, mode="full", method="direct"))))
    scale = float(np.abs(full).max())

    lines = [
        f"{size}x{size} test picture, a {m}x{m} face planted with its first cell at {where}, noise sigma 0.05.",
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| max abs(cross_correlate - convolve_fft(flipped template)) / peak | {err_conv / scale:.2e} |",
        f"| max abs(cross_correlate - scipy.signal.correlate) / peak | {err_scipy / scale:.2e} |",
        f"| raw correlation: peak at | {raw_peak} ({'the face' if raw_peak == where else 'not the face'}) |",
        f"| normalised correlation: peak at | {ncc_peak}, value {ncc.max():.3f} |",
        f"| normalised correlation: best elsewhere (outside +-{m // 2} cells) | "
        f"{np.max(np.where(_far(ncc.shape, ncc_peak, m // 2), ncc, -1)):.3f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args, "cross_correlation.md", text)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(11, 3.1), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 4, gridspec_kw=dict(width_ratios=[1, 0.45, 1, 1]))
    ax[0].imshow(picture, cmap="gray")
    for peak, colour, label in [(raw_peak, "C3", "raw peak"), (ncc_peak, "C2", "normalised peak")]:
        ax[0].add_patch(Rectangle((peak[1] - 0.5, peak[0] - 0.5), m, m, fill=False, ec=colour, lw=1.5, label=label))
    ax[0].legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    ax[0].set_title("picture with a planted face", fontsize=10)
    ax[1].imshow(template, cmap="gray", vmin=0, vmax=1)
    ax[1].set_title("template", fontsize=10)
    for a, data, title, peak in [
        (ax[2], raw, "cross_correlate (valid)", raw_peak),
        (ax[3], ncc, "normalised cross-correlation", ncc_peak),
    ]:
        im = a.imshow(data, cmap="viridis")
        a.plot(peak[1], peak[0], "+", color="w", ms=12, mew=2)
        a.set_title(title, fontsize=10)
        fig.colorbar(im, ax=a, fraction=0.046, pad=0.03).ax.tick_params(labelsize=7)
    for a in ax:
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    render.save_figure(fig, os.path.join(args.out, "cross_correlation.png"))

    tol = 1e-5 if full.dtype == np.float32 else 1e-12
    if err_conv > tol * scale or err_scipy > tol * scale:
        raise SystemExit(f"cross_correlate disagrees: {err_conv} (convolve_fft), {err_scipy} (scipy)")
    if ncc_peak != where:
        raise SystemExit(f"normalised correlation peaks at {ncc_peak}, the face is at {where}")
    return 0


def _far(shape, peak, r):
    """True where an index is more than ``r`` cells from ``peak`` along some axis."""
    i0, i1 = np.indices(shape)
    return (np.abs(i0 - peak[0]) > r) | (np.abs(i1 - peak[1]) > r)


if __name__ == "__main__":
    sys.exit(main())

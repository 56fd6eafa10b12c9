"""Frequency filtering: the ideal low-pass filter is a convolution, and it rings where a Gaussian blur does not.

``dc.fourier.lowpass(image, cutoff)`` keeps exactly the frequencies with
``|k| < cutoff`` (cycles per cell) and removes the rest. Multiplying the
spectrum by that disc mask is, by the convolution theorem, a periodic
convolution of the image with the mask's inverse transform: a sampled Airy
pattern (the 2-D sinc), whose negative side lobes overshoot and ring at every
sharp edge (the Gibbs phenomenon). A Gaussian blur, one step of the Gaussian
propagator, has a Gaussian spectrum with no edge and a positive kernel: it never
overshoots. Its width is chosen so that its transfer function is 1/2 at the cutoff.

The script checks ``lowpass`` against the circular convolution with that kernel
(``dc.convolve_fft``, an odd-sized grid so that the kernel has a centre), and
measures the overshoot of both filters. Writes ``frequency_filter.png`` and
``frequency_filter.md`` into ``--out``.

    python simulations/frequency_filter.py [--smoke] [--out DIR]
"""

import os
import sys

import numpy as np
from _script import arguments, write_report

CUTOFF = 0.1  # cycles per cell: wavelengths longer than 10 cells pass


def main(argv=None):
    args = arguments(__doc__, argv)

    import diffusion_conv as dc
    from diffusion_conv import render, scenarios

    size = 64 if args.smoke else 128
    image = np.asarray(dc.Tank.from_image(scenarios.TEST_IMAGE, size=size).concentration)[:-1, :-1]  # odd grid
    n0, n1 = image.shape

    low = np.asarray(dc.fourier.lowpass(image, CUTOFF))

    # the disc mask and its inverse transform, centred: the kernel of the convolution
    k0, k1 = np.meshgrid(np.fft.fftfreq(n0), np.fft.fftfreq(n1), indexing="ij")
    mask = np.hypot(k0, k1) < CUTOFF
    kernel = np.fft.fftshift(np.real(np.fft.ifft2(mask))).astype(image.dtype)
    via_kernel = np.asarray(dc.convolve_fft(image, kernel, mode="circular"))
    kernel_err = float(np.max(np.abs(low - via_kernel)))

    # the Gaussian blur with transfer exp(-2 pi^2 sigma^2 k^2) = 1/2 at the cutoff: one propagator step
    sigma = float(np.sqrt(np.log(2.0) / 2.0) / (np.pi * CUTOFF))
    gauss = dc.Propagator.gaussian(sigma, ndim=2)
    blur = np.asarray(dc.simulate(dc.Tank(image, boundary="periodic"), gauss, steps=1).final)

    lo, hi = float(image.min()), float(image.max())
    over_low = max(float(low.max()) - hi, lo - float(low.min()))
    over_blur = max(float(blur.max()) - hi, lo - float(blur.min()))
    kept = int(mask.sum())
    lines = [
        f"{n0}x{n1} test picture (periodic), cutoff {CUTOFF:g} cycles per cell "
        f"({kept} of {mask.size} frequencies kept).",
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| max abs(lowpass - circular convolution with ifft2(mask)) | {kernel_err:.2e} |",
        f"| kernel: centre value, most negative side lobe | {kernel.max():.4f}, {kernel.min():.4f} |",
        f"| Gaussian propagator: sigma (cells), radius | {sigma:.3f}, {gauss.radius[0]} |",
        f"| overshoot beyond the image's range [{lo:.3f}, {hi:.3f}]: lowpass | {over_low:.4f} |",
        f"| overshoot beyond the image's range: Gaussian blur | {max(over_blur, 0.0):.2e} |",
        f"| sum: image, lowpass, blur | {image.sum():.4f}, {low.sum():.4f}, {blur.sum():.4f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args, "frequency_filter.md", text)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots(2, 4)
    extent = [-0.5, 0.5, 0.5, -0.5]
    gray = dict(cmap="gray", vmin=lo, vmax=hi)
    spec = [np.asarray(dc.fourier.log_magnitude(x)) for x in (image, low, blur)]
    vmax = max(s.max() for s in spec)
    for j, (data, title) in enumerate(
        [(image, "test picture"), (low, f"lowpass, |k| < {CUTOFF:g}"), (blur, f"Gaussian blur, sigma {sigma:.2f}")]
    ):
        ax[0, j].imshow(data, **gray)
        ax[0, j].set_title(title, fontsize=10)
        ax[0, j].set_axis_off()
        ax[1, j].imshow(spec[j], cmap="magma", extent=extent, vmin=0, vmax=vmax)
        ax[1, j].set_title("log spectrum", fontsize=9)
        ax[1, j].tick_params(labelsize=7)
    row = int(round(0.31 * n0))  # through the disc and the ring
    x = np.arange(n1)
    ax[0, 3].plot(x, image[row], color="0.6", lw=1, label="picture")
    ax[0, 3].plot(x, low[row], color="C3", lw=1.2, label="lowpass (rings)")
    ax[0, 3].plot(x, blur[row], color="C0", lw=1.2, label="Gaussian")
    ax[0, 3].set_title(f"row {row}", fontsize=10)
    ax[0, 3].legend(fontsize=7)
    r = min(12, n1 // 2)
    c0, c1 = n0 // 2, n1 // 2
    d = np.arange(-r, r + 1)
    g1 = np.zeros(2 * r + 1)
    w = np.asarray(gauss.weights)
    gr = gauss.radius[1]
    g1[max(0, r - gr) : r + gr + 1] = w[gr, max(0, gr - r) : gr + r + 1]
    ax[1, 3].axhline(0, color="0.7", lw=0.8)
    ax[1, 3].plot(d, kernel[c0, c1 - r : c1 + r + 1], "o-", color="C3", ms=3, label="ifft2(disc mask)")
    ax[1, 3].plot(d, g1, "s-", color="C0", ms=3, label="Gaussian propagator")
    ax[1, 3].set_title("kernels through the centre", fontsize=9)
    ax[1, 3].set_xlabel("offset (cells)", fontsize=8)
    ax[1, 3].legend(fontsize=7)
    ax[1, 3].tick_params(labelsize=7)
    fig.tight_layout()
    render.save_figure(fig, os.path.join(args.out, "frequency_filter.png"))

    tol = 1e-4 if image.dtype == np.float32 else 1e-10
    if kernel_err > tol:
        raise SystemExit(f"lowpass differs from the convolution with its kernel by {kernel_err}")
    if not over_low > 0.01 or over_blur > 1e-5:
        raise SystemExit(f"expected ringing for lowpass only: overshoot {over_low} (lowpass), {over_blur} (blur)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

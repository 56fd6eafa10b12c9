"""The convolution theorem and the heat equation in Fourier space.

1. Convolution by its definition equals the inverse transform of the product
   of the transforms (zero-padded for the full linear convolution, wrapped for
   the periodic one).
2. n steps of a propagator are one multiplication by the n-th power of the
   kernel's Fourier symbol: the ``spectral`` method equals ``propagator`` to rounding.
3. As n grows the lattice walk approaches the continuum heat equation with the
   kernel's drift and diffusivity (the ``heat`` method): the error falls like
   1/n for a symmetric kernel and like n^-1/2 for a skewed one, whose third
   cumulant the heat equation cannot carry. The slopes are fitted, not assumed.

Writes ``fourier_convergence.png`` and ``fourier.md`` into ``--out``. Runs in float64.

    python simulations/fourier.py [--smoke] [--out DIR]
"""

import os
import sys

import numpy as np
from _script import arguments, write_report


def main(argv=None):
    args = arguments(__doc__, argv)

    import jax

    jax.config.update("jax_enable_x64", True)  # convergence orders need float64 rounding far below the errors
    import diffusion_conv as dc
    from diffusion_conv import render

    lines = []
    # 1. the convolution theorem
    rng = np.random.default_rng(0)
    a, k = rng.random((40, 30)), rng.random((5, 3))
    lin = dc.max_error(dc.convolve_fft(a, k, mode="linear"), dc.convolve_direct(a, k, mode="linear"))
    circ = dc.max_error(dc.convolve_fft(a, k, mode="circular"), dc.convolve_direct(a, k, mode="circular"))
    lines += [
        "## The convolution theorem",
        "",
        f"40x30 array, 5x3 kernel: max |FFT product - direct sum| = {lin:.2e} (linear), {circ:.2e} (circular)",
        "",
    ]

    # 2. and 3. a point source on a periodic ring
    n = 128 if args.smoke else 1024
    steps_list = [8, 16, 32, 64] if args.smoke else [16, 32, 64, 128, 256, 512]
    field = np.zeros(n)
    field[n // 2] = 1.0
    tank = dc.Tank(field, boundary="periodic")
    kernels = {
        "symmetric (Gaussian, sigma 1)": dc.Propagator.gaussian(1.0, ndim=1),
        "skewed (softmax of [0, 0.5, 1.5])": dc.Propagator.from_logits(np.array([0.0, 0.5, 1.5])),
    }
    series = {}
    lines += [
        "## Spectral and heat against the step-by-step propagator",
        "",
        "| kernel | steps | max abs(spectral - propagator) | max abs(heat - propagator) / peak |",
        "|---|---:|---:|---:|",
    ]
    for label, prop in kernels.items():
        errors = []
        for s in steps_list:
            cmp = dc.compare(tank, prop, s, methods=("propagator", "spectral", "heat"), reference="propagator")
            rows = {r["method"]: r for r in cmp.table}
            peak = float(np.max(cmp.results["propagator"].final))
            errors.append(rows["heat"]["max_abs_error"] / peak)
            lines.append(f"| {label} | {s} | {rows['spectral']['max_abs_error']:.2e} | {errors[-1]:.3e} |")
            if rows["spectral"]["max_abs_error"] > 1e-10:
                raise SystemExit(f"spectral disagrees with propagator: {rows['spectral']['max_abs_error']}")
        series[label] = (steps_list, errors)
    lines += ["", "Fitted orders (slope of log error against log steps):", ""]
    for label, (s, e) in series.items():
        slope, _ = dc.fit_order(s, e)
        lines.append(f"- {label}: {slope:.3f}")
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args, "fourier.md", text)
    render.plot_convergence(
        series,
        os.path.join(args.out, "fourier_convergence.png"),
        xlabel="steps n",
        ylabel="max |propagator - heat| / peak",
        title="lattice walk -> heat equation (point source, periodic)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

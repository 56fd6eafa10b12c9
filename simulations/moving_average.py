"""The moving average: a 1-D series smoothed by a Gaussian kernel is one step of the Gaussian propagator.

A weighted moving average replaces each value by ``sum_d w[d] x[t - d]``, the
convolution of the series with the weights. With non-negative weights that sum
to 1 that is exactly one step of a particle that jumps by ``d`` with probability
``w[d]``: one ``dc.simulate`` step of the Gaussian propagator on a 1-D tank.
At the ends the closed tank folds a jump back in (a half-cell mirror), which
for a symmetric kernel is the moving average of the series padded by its
mirror image (``numpy.pad(mode="symmetric")``). Repeating the step widens the
kernel: ``n`` steps of variance ``s^2`` are one Gaussian-like average of
variance ``n s^2``, the heat equation.

Writes ``moving_average.png`` and ``moving_average.md`` into ``--out``.

    python simulations/moving_average.py [--smoke] [--out DIR]
"""

import os
import sys

import numpy as np
from _script import arguments, write_report

SIGMA = 3.0  # days


def main(argv=None):
    args = arguments(__doc__, argv)

    import diffusion_conv as dc
    from diffusion_conv import render

    n = 120 if args.smoke else 365
    t = np.arange(n)
    rng = np.random.default_rng(0)
    series = 20 + 8 * np.sin(2 * np.pi * (t - 100) / 365) + 0.004 * t + rng.normal(0, 2.0, n)  # a year of days
    prop = dc.Propagator.gaussian(SIGMA, ndim=1)
    w = np.asarray(prop.weights, dtype=np.float64)
    w = w / w.sum()  # the float32 weights sum to 1 to rounding; exactly here, so that variances add exactly
    r = prop.radius[0]

    # the moving average, as a time-series analyst writes it: mirror-pad, then np.convolve
    by_hand = np.convolve(np.pad(series, r, mode="symmetric"), w, mode="valid")
    tank = dc.Tank(series.astype(np.float32), boundary="reflect")
    steps = 10
    res = dc.simulate(tank, prop, steps, save_every=1)
    one = np.asarray(res.frames[1], dtype=np.float64)
    many = np.asarray(res.frames[steps], dtype=np.float64)
    err = float(np.max(np.abs(one - by_hand)))
    err_rel = err / float(np.max(np.abs(by_hand)))
    # n steps: the variance adds; compare with one step of the propagator whose kernel is the n-fold convolution
    wn = w.copy()
    for _ in range(steps - 1):
        wn = np.convolve(wn, w)
    var1 = float(np.sum(w * np.arange(-r, r + 1) ** 2))
    rn = (wn.size - 1) // 2
    varn = float(np.sum(wn * np.arange(-rn, rn + 1) ** 2))
    err_many = float(np.max(np.abs(many - np.convolve(np.pad(series, rn, mode="symmetric"), wn, mode="valid"))))

    lines = [
        f"{n} daily values (a seasonal cycle, a trend and noise of sigma 2), Gaussian weights sigma {SIGMA:g} "
        f"days (radius {r}); float32.",
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| max abs(one propagator step - mirror-padded np.convolve) | {err:.2e} ({err_rel:.1e} relative) |",
        f"| variance of one step's kernel (days^2) | {var1:.4f} |",
        f"| variance after {steps} steps (days^2) | {varn:.4f} = {steps} x {varn / var1 / steps:.4f} x one step |",
        f"| max abs({steps} steps - mirror-padded np.convolve with the {steps}-fold kernel) | {err_many:.2e} |",
        f"| mean: series, 1 step, {steps} steps | {series.mean():.4f}, {one.mean():.4f}, {many.mean():.4f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args, "moving_average.md", text)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax, axk = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[3, 1]))
    ax.plot(t, series, ".", color="0.6", ms=3, label="series")
    ax.plot(t, by_hand, color="C1", lw=3, alpha=0.5, label="moving average (np.convolve)")
    ax.plot(t, one, color="C0", lw=1, label="one propagator step")
    ax.plot(t, many, color="C3", lw=1.2, label=f"{steps} steps")
    ax.set_xlabel("day")
    ax.set_ylabel("value of the series (its own units)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("a Gaussian moving average is one step of the propagator", fontsize=10)
    axk.plot(np.arange(-r, r + 1), w, "o-", color="C0", ms=3, lw=1)
    axk.plot(np.arange(-rn, rn + 1), wn, color="C3", lw=1.2)
    axk.set_xlim(-3.5 * np.sqrt(varn), 3.5 * np.sqrt(varn))
    axk.set_title(f"weights: 1 step, {steps} steps", fontsize=10)
    axk.set_xlabel("offset d (days)")
    axk.set_ylabel("weight w[d]")
    fig.tight_layout()
    render.save_figure(fig, os.path.join(args.out, "moving_average.png"))

    if err_rel > 1e-5 or err_many > 1e-4 * float(np.max(np.abs(series))):
        raise SystemExit(f"the propagator differs from the moving average: {err} (1 step), {err_many} ({steps})")
    if abs(varn - steps * var1) > 1e-9 * varn:
        raise SystemExit(f"variances do not add: {varn} after {steps} steps, {var1} per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The kernel learned back from snapshots: a Sobel filter's softmax, recovered by gradient descent.

A convolutional network learns its kernels from data; here the kernel is a
particle's propagator, the softmax of the Sobel edge detector
``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` (a drift toward +axis 1). Frames of a
random field pushed through it are handed to :func:`diffusion_conv.learn.fit_propagator`,
which knows only the frames: once clean (the ``propagator`` method) and once
noisy (the ``particles`` method). The learned kernels are drawn beside the true
one, with the loss against the L-BFGS iteration.

Writes ``learn_kernel.png`` (true and learned kernels), ``learn_kernel_loss.png``
and ``learn_kernel.md`` into ``--out``.

    python simulations/learn_kernel.py [--smoke] [--out DIR]
"""

import os
import sys
import time

import numpy as np
from _script import arguments, write_report

SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def plot_kernels(kernels, path):
    """True and learned kernels side by side, each weight written in its cell."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from diffusion_conv.render import save_figure

    fig = Figure(figsize=(3.2 * len(kernels), 3.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(kernels))
    vmax = max(float(np.max(w)) for w in kernels.values())
    for ax, (title, w) in zip(axes, kernels.items()):
        ax.imshow(w, cmap="viridis", vmin=0, vmax=vmax)
        for (i, j), v in np.ndenumerate(w):
            ax.text(j, i, f"{v:.4f}", ha="center", va="center", color="w" if v < 0.6 * vmax else "k", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(w.shape[1]), [str(d - w.shape[1] // 2) for d in range(w.shape[1])])
        ax.set_yticks(range(w.shape[0]), [str(d - w.shape[0] // 2) for d in range(w.shape[0])])
        ax.set_xlabel("jump along axis 1")
    axes[0].set_ylabel("jump along axis 0")
    fig.tight_layout()
    save_figure(fig, path)


def plot_loss(histories, path):
    """The loss (share of the observed change left unexplained) against the iteration."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from diffusion_conv.render import save_figure

    fig = Figure(figsize=(5, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for label, loss in histories.items():
        ax.semilogy(np.arange(len(loss)), np.maximum(loss, 1e-32), marker=".", label=label)
    ax.set_xlabel("L-BFGS iteration")
    ax.set_ylabel("loss (unexplained share of the change)")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    args = arguments(__doc__, argv)

    import jax

    jax.config.update("jax_enable_x64", True)  # weights to 1e-6 need float64
    import diffusion_conv as dc
    from diffusion_conv.learn import fit_propagator

    size, frames, n_particles = (16, 3, 10**5) if args.smoke else (64, 9, 10**6)
    true = dc.Propagator.from_kernel(SOBEL)
    tank = dc.Tank(np.random.default_rng(0).random((size, size)), boundary="reflect")
    runs = {
        "clean (propagator)": dc.simulate(tank, true, frames - 1, save_every=1),
        f"particles (N={n_particles:.0e})": dc.simulate(
            tank, true, frames - 1, method="particles", save_every=1, n_particles=n_particles, key=jax.random.key(0)
        ),
    }
    w_true = np.asarray(true.weights)
    kernels = {"true: softmax(Sobel)": w_true}
    histories = {}
    mean0, cov0 = np.asarray(true.mean), np.asarray(true.covariance)
    lines = [
        f"{size}x{size} reflecting tank, random field, {frames} frames one step apart; true kernel "
        f"softmax of the Sobel filter (mean jump {np.round(mean0, 4).tolist()} cells/step).",
        "",
        "| data | max weight error | mean jump (cells/step) | covariance diagonal (cells^2) | "
        "iterations | fit time (s) |",
        "|---|---:|---|---|---:|---:|",
    ]
    for label, res in runs.items():
        t = time.perf_counter()
        fit = fit_propagator(res.frames, radius=1, boundary="reflect")
        seconds = time.perf_counter() - t
        w = np.asarray(fit.propagator.weights)
        kernels[f"learned, {label}"] = w
        histories[label] = fit.loss
        mean = ", ".join(f"{m:.4f} +- {s:.4f}" for m, s in zip(fit.mean, fit.mean_se))
        var = ", ".join(f"{c:.4f} +- {s:.4f}" for c, s in zip(np.diag(fit.covariance), np.diag(fit.covariance_se)))
        lines.append(
            f"| {label} | {np.max(np.abs(w - w_true)):.2e} | {mean} | {var} | {fit.iterations} | {seconds:.2f} |"
        )
    lines += ["", f"true covariance diagonal: {np.round(np.diag(cov0), 4).tolist()} cells^2 per step"]
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args, "learn_kernel.md", text)
    plot_kernels(kernels, os.path.join(args.out, "learn_kernel.png"))
    plot_loss(histories, os.path.join(args.out, "learn_kernel_loss.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

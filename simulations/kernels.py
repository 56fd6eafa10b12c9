"""Kernels as propagators: what the box blur, a Gaussian and an edge detector do as jump distributions.

An image kernel becomes the jump distribution of a particle by normalising it:
a non-negative kernel by its sum (the box blur, m = 9, is the uniform jump to
the 3x3 neighbourhood), any kernel by a softmax of its entries over a
temperature. A Sobel edge detector through a softmax is an *asymmetric* jump:
diffusion with drift toward its positive side, strong at low temperature and
fading to the uniform box at high temperature.

For each propagator this prints the moments (mean jump, covariance, drift and
diffusion tensor), checks the box blur against ``scipy.ndimage.uniform_filter``,
and applies it to the shipped test picture. Writes ``kernel_temperatures.png``,
``kernels_on_image.png`` and ``kernels.md`` into ``--out``.

    python simulations/kernels.py [--smoke] [--out DIR]
"""

import os
import sys

import numpy as np
from _script import arguments, write_report


def main(argv=None):
    args = arguments(__doc__, argv)

    from scipy import ndimage

    import diffusion_conv as dc
    from diffusion_conv import render, scenarios

    sobel = scenarios.SOBEL
    temperatures = (0.25, 1.0, 4.0)
    props = {
        "box blur (m = 9)": dc.Propagator.from_kernel(np.ones((3, 3)), normalize="sum"),
        "Gaussian, sigma = 1": dc.Propagator.gaussian(1.0, ndim=2),
    }
    for t in temperatures:
        props[f"softmax(Sobel / {t:g})"] = dc.Propagator.from_kernel(sobel, normalize="softmax", temperature=t)

    size = 48 if args.smoke else None
    tank = dc.Tank.from_image(scenarios.TEST_IMAGE, size=size)
    steps = 4 if args.smoke else 12
    rows = [
        "| propagator | mean jump (cells) | covariance diag (cells^2) | D = cov/2 | symmetric | "
        "mass after (closed tank) |",
        "|---|---|---|---|---|---:|",
    ]
    finals = {}
    for name, prop in props.items():
        res = dc.simulate(tank, prop, steps)
        finals[name] = res.final
        mean = (np.round(np.asarray(prop.mean, dtype=float), 4) + 0.0).tolist()
        cov = np.round(np.diag(np.asarray(prop.covariance, dtype=float)), 4).tolist()
        dd = np.round(np.diag(np.asarray(prop.diffusivity(), dtype=float)), 4).tolist()
        rows.append(
            f"| {name} | {mean} | {cov} | {dd} | {prop.is_symmetric} | "
            f"{float(res.mass()[-1]) / float(res.mass()[0]):.6f} x initial |"
        )

    # the box blur as a propagator is the image-processing blur repeated (scipy's half-sample mirror)
    img = np.asarray(tank.concentration, dtype=np.float64)
    blurred = img.copy()
    for _ in range(steps):
        blurred = ndimage.uniform_filter(blurred, size=3, mode="reflect")
    box_gap = float(np.max(np.abs(finals["box blur (m = 9)"] - blurred)))
    text = (
        f"{steps} steps of each propagator on the {tank.shape[0]}x{tank.shape[1]} test picture.\n\n"
        + "\n".join(rows)
        + f"\n\nBox blur propagator vs {steps} x scipy.ndimage.uniform_filter: "
        f"max |difference| = {box_gap:.2e}\n"
    )
    print(text)
    write_report(args, "kernels.md", text)
    if box_gap > 1e-4:
        raise SystemExit(f"the box blur propagator disagrees with uniform_filter by {box_gap}")

    render.plot_kernel_temperatures(
        sobel,
        temperatures,
        path=os.path.join(args.out, "kernel_temperatures.png"),
        title="a Sobel kernel and its softmax propagator",
    )
    from diffusion_conv.render import save_figure
    from diffusion_conv.render.figures import new_figure as _figure

    panels = [("test picture", img)] + list(finals.items())
    fig = _figure(2.3 * len(panels), 2.7)
    for ax, (name, field) in zip(fig.subplots(1, len(panels)), panels):
        ax.imshow(field, cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
        ax.set_axis_off()
    fig.suptitle(f"{steps} steps of each propagator", fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.8, wspace=0.08)
    save_figure(fig, os.path.join(args.out, "kernels_on_image.png"), dpi=90)
    return 0


if __name__ == "__main__":
    sys.exit(main())

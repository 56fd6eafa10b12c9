"""The stochastic convolution: few particles give a different picture for every key, many give the convolution.

The test picture's brightness is split among N particles; each takes a few
random jumps drawn from a Gaussian kernel (the ``particles`` method). With a
thousand particles the result is a speckle that changes with the random key;
as N grows the two keys agree with each other and with the ``propagator``
method, the same kernel applied as a convolution, which is their exact
expectation. The relative L2 distance falls like N^-1/2
(``simulations/particles_to_deterministic.py`` measures that slope in detail).

Writes ``stochastic_convolution.png`` and ``stochastic_convolution.md`` into ``--out``.

    python simulations/stochastic_convolution.py [--smoke] [--out DIR]
"""

import os
import sys

import numpy as np
from _script import arguments, write_report


def main(argv=None):
    args = arguments(__doc__, argv)

    import jax

    import diffusion_conv as dc
    from diffusion_conv import render, scenarios

    size, sizes = (48, [10**3, 10**5]) if args.smoke else (128, [10**3, 10**4, 10**5, 10**6])
    steps = 3
    tank = dc.Tank.from_image(scenarios.TEST_IMAGE, size=size)
    prop = dc.Propagator.gaussian(1.0, ndim=2)
    exact = np.asarray(dc.simulate(tank, prop, steps, method="propagator").final)
    finals, errors = {}, {}
    for n in sizes:
        for k in (0, 1):
            res = dc.simulate(tank, prop, steps, method="particles", n_particles=n, key=jax.random.key(k))
            finals[n, k] = np.asarray(res.final)
            errors[n, k] = dc.rel_l2_error(res.final, exact)
    between = {n: dc.rel_l2_error(finals[n, 0], finals[n, 1]) for n in sizes}
    slope, _ = dc.fit_order(np.repeat(sizes, 2), [errors[n, k] for n in sizes for k in (0, 1)])

    lines = [
        f"{size}x{size} test picture, closed tank, Gaussian kernel (sigma 1, 7x7), {steps} steps. "
        "Relative L2 distances.",
        "",
        "| N | key 0 vs propagator | key 1 vs propagator | key 0 vs key 1 |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {n:,} | {errors[n, 0]:.3e} | {errors[n, 1]:.3e} | {between[n]:.3e} |" for n in sizes]
    lines += ["", f"Fitted order of the distance to the propagator in N: {slope:.3f} (expected -0.5)."]
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args, "stochastic_convolution.md", text)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = len(sizes) + 1
    fig = Figure(figsize=(2.3 * cols, 5.3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots(2, cols)
    vmax = float(np.asarray(tank.concentration).max())
    for j, n in enumerate(sizes):
        for k in (0, 1):
            ax[k, j].imshow(finals[n, k], cmap="gray", vmin=0, vmax=vmax)
            ax[k, j].set_title(f"N = {n:,}, key {k}\nL2 distance {errors[n, k]:.2f}", fontsize=8)
    ax[0, -1].imshow(exact, cmap="gray", vmin=0, vmax=vmax)
    ax[0, -1].set_title("propagator\n(the expectation)", fontsize=8)
    ax[1, -1].imshow(np.asarray(tank.concentration), cmap="gray", vmin=0, vmax=vmax)
    ax[1, -1].set_title("the picture before", fontsize=8)
    for a in ax.ravel():
        a.set_axis_off()
    fig.suptitle(f"{steps} random jumps per particle; the distance falls like N^{slope:.2f}", fontsize=10)
    fig.tight_layout()
    render.save_figure(fig, os.path.join(args.out, "stochastic_convolution.png"))

    if abs(slope + 0.5) > 0.15:
        raise SystemExit(f"fitted order {slope:.3f} is not -0.5")
    if not between[sizes[0]] > 5 * between[sizes[-1]]:
        raise SystemExit(f"the two keys do not converge: {between}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

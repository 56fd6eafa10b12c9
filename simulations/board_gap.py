"""A board with a gap: salt leaks from one compartment into the other through the opening only.

A closed tank, salt on the left, fresh water on the right, a board across the
middle with an opening. A jump is refused when a wall lies in the box between
its start and its target, so the salt passes through the gap and nowhere else;
with the gap shut, none passes, whatever the kernel's radius. Walls rule out
the transforms and scipy's convolution: ``propagator``, ``particles`` and
``counts`` run it.

Writes ``board_gap.gif``, ``board_gap_final.png``, ``board_gap_leak.png`` (mass
beyond the board against time) and ``board_gap.md`` into ``--out``.

    python simulations/board_gap.py [--smoke] [--out DIR] [--methods propagator,particles,counts]
"""

import os
import sys

import numpy as np
from _script import arguments, compare_scenario, write_report


def main(argv=None):
    args = arguments(__doc__, argv, methods=True)

    import diffusion_conv as dc
    from diffusion_conv import render, scenarios

    size = 24 if args.smoke else 96
    sc = scenarios.get("slit", size=size)
    steps = 40 if args.smoke else sc.steps
    every = max(1, steps // 40)
    n_particles = 10**4 if args.smoke else 2 * 10**6
    methods = (
        tuple(args.methods.split(",")) if args.methods else (("propagator", "particles") if args.smoke else sc.methods)
    )
    cmp = compare_scenario(sc, steps, methods, every, n_particles)
    half = size // 2
    beyond = {
        name: res.frames[:, :, half + 1 :].sum(axis=(1, 2), dtype=np.float64) for name, res in cmp.results.items()
    }

    # the same board without its gap: nothing passes, for a kernel of radius 1 and of radius 3
    closed = dc.Tank.two_compartment((size, size), axis=1).with_board(axis=1, index=half)
    sealed = {}
    for label, prop in (("box 3x3", dc.Propagator.box(3, ndim=2)), ("Gaussian r=3", sc.propagator)):
        res = dc.simulate(closed, prop, steps)
        sealed[label] = float(res.final[:, half + 1 :].sum(dtype=np.float64))

    gap = np.nonzero(~sc.tank.walls[:, half])[0]
    lines = [
        f"{size}x{size} closed tank, board at column {half} with a gap at rows {gap[0]}..{gap[-1]}, "
        f"{steps} steps of a Gaussian kernel (sigma 1, radius 3), {n_particles} particles.",
        "",
        "| method | mass beyond the board at the end | share of the initial mass |",
        "|---|---:|---:|",
    ]
    mass0 = float(sc.tank.mass)
    for name, m in beyond.items():
        lines.append(f"| {name} | {m[-1]:.4f} | {m[-1] / mass0:.4%} |")
    lines += ["", "With the gap shut (same steps):", ""]
    lines += [f"- {label}: mass beyond the board = {v:.3g}" for label, v in sealed.items()]
    text = "\n".join(lines) + "\n\n" + cmp.to_markdown() + "\n"
    print(text)
    write_report(args, "board_gap.md", text)
    if any(v != 0.0 for v in sealed.values()):
        raise SystemExit(f"mass crossed a closed board: {sealed}")

    from diffusion_conv.render import save_figure
    from diffusion_conv.render.figures import new_figure as _figure

    fig = _figure(6, 4)
    ax = fig.subplots()
    t = cmp.results["propagator"].times
    for name, m in beyond.items():
        ax.plot(t, m / mass0, label=name)
    ax.set_xlabel("time (steps)")
    ax.set_ylabel("share of the salt beyond the board")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, os.path.join(args.out, "board_gap_leak.png"))
    render.plot_frame(cmp, -1, path=os.path.join(args.out, "board_gap_final.png"), dpi=70)
    render.animate(cmp, os.path.join(args.out, "board_gap.gif"), fps=8, dpi=50, progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

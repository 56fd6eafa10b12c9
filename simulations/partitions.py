"""The 256x256 tank split into 16 x 16 compartments, boards pulled, through every method.

Each compartment (16 x 16 cells) starts at its own random concentration; one
step is the box blur (m = 9: the 3x3 kernel of ones over 9), read as the jump
distribution of a particle. The deterministic propagator, its one-transform
spectral form, N particles, occupation numbers, repeated image convolution and
the continuum heat equation all run the same problem (the ``partitions``
scenario, the demo's tank) and are compared with the propagator.

Writes ``partitions.gif`` (each method and its difference to the propagator),
``partitions_final.png`` (the last frame), ``partitions_story.png`` (the
propagator, the particles and the heat equation at mid-run, with their profiles),
``partitions_profiles.png`` and ``partitions.md`` (the comparison table) into
``--out``.

    python simulations/partitions.py [--smoke] [--out DIR] [--methods a,b,...]
"""

import os
import sys

from _script import arguments, compare_scenario, write_report


def main(argv=None):
    args = arguments(__doc__, argv, methods=True)

    from diffusion_conv import render, scenarios

    size, steps, every = (32, 8, 2) if args.smoke else (256, 200, 5)
    n_particles = 10**4 if args.smoke else 4 * 10**6
    sc = scenarios.get("partitions", size=size, seed=0)
    methods = (
        tuple(args.methods.split(","))
        if args.methods
        else (("propagator", "spectral", "image", "heat", "particles") + (() if args.smoke else ("counts",)))
    )
    cmp = compare_scenario(sc, steps, methods, every, n_particles)
    prop = sc.propagator
    text = (
        f"{size}x{size} tank in 16 x 16 compartments of random concentration, {steps} steps of the box blur "
        f"(m = 9), closed walls; kernel variance {float(prop.covariance[0, 0]):.4f} cells^2 per axis, "
        f"{n_particles} particles.\n\n" + cmp.to_markdown() + "\n"
    )
    print(text)
    write_report(args, "partitions.md", text)
    nf = len(cmp.results["propagator"].steps)
    render.plot_frame(cmp, -1, path=os.path.join(args.out, "partitions_final.png"), dpi=70)
    if {"propagator", "particles", "heat"} <= set(cmp.results):
        render.plot_story(
            cmp,
            os.path.join(args.out, "partitions_story.png"),
            index=nf // 4,
            title="Pull the boards: 16 x 16 compartments of salt water even out",
        )
    band = (size // 2 - size // 32, size // 2 + size // 32)  # the middle row of compartments
    render.plot_profiles(
        {k: cmp.results[k] for k in ("propagator", "heat", "particles") if k in cmp.results},
        os.path.join(args.out, "partitions_profiles.png"),
        span=band,
        times=sorted({0, nf // 4, nf - 1}),
    )
    render.animate(cmp, os.path.join(args.out, "partitions.gif"), fps=8, dpi=50, progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

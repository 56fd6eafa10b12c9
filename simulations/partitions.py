"""The 256x256 tank with every cell its own compartment, through every method.

Each cell starts at its own random concentration; one step is the box blur
(m = 9: the 3x3 kernel of ones over 9), read as the jump distribution of a
particle. The deterministic propagator, its one-transform spectral form, N
particles, occupation numbers, repeated image convolution and the continuum
heat equation all run the same problem and are compared with the propagator.

Writes ``partitions.gif`` (each method and its difference to the propagator),
``partitions_final.png`` (the last frame), ``partitions_profiles.png`` and
``partitions.md`` (the comparison table) into ``--out``.

    python simulations/partitions.py [--smoke] [--out DIR] [--methods a,b,...]
"""
import os
import sys

from _script import arguments, write_report


def main(argv=None):
    args = arguments(__doc__, argv, methods=True)

    import diffusion_conv as dc
    from diffusion_conv import render, scenarios

    size, steps, every = (24, 8, 2) if args.smoke else (256, 100, 4)
    n_particles = 10**4 if args.smoke else 4 * 10**6
    sc = scenarios.get("partitions", size=size, seed=0)
    methods = tuple(args.methods.split(",")) if args.methods else (
        ("propagator", "spectral", "image", "heat", "particles") + (() if args.smoke else ("counts",)))
    cmp = dc.compare(sc.tank, sc.propagator, steps, methods=methods, reference="propagator", save_every=every,
                     n_particles=n_particles, seed=0, progress=True)
    prop = sc.propagator
    text = (f"{size}x{size} tank, random cells, {steps} steps of the box blur (m = 9), closed walls; "
            f"kernel variance {float(prop.covariance[0, 0]):.4f} cells^2 per axis, {n_particles} particles.\n\n"
            + cmp.to_markdown() + "\n")
    print(text)
    write_report(args, "partitions.md", text)
    nf = len(cmp.results["propagator"].steps)
    render.plot_frame(cmp, -1, path=os.path.join(args.out, "partitions_final.png"), dpi=70)
    render.plot_profiles({k: cmp.results[k] for k in ("propagator", "heat", "particles")},
                         os.path.join(args.out, "partitions_profiles.png"), reduce="middle",
                         times=sorted({1, nf // 4, nf - 1}))
    render.animate(cmp, os.path.join(args.out, "partitions.gif"), fps=8, dpi=50, progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

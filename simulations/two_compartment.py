"""Salt water beside fresh water in a closed tank, against the closed form.

A 1-D tank, salt (1) in the left half and fresh water (0) in the right; pull
the board and the salt spreads. Every method runs the same problem and is
measured against the exact solution of the heat equation in a closed tank
(the cosine series of ``diffusion_conv.analytic.two_compartment``, cell averaged),
with the diffusivity of the kernel, ``D = variance / 2`` (cells^2 per step).

Writes ``two_compartment_profiles.png`` (profiles at several times and the closed
form), ``two_compartment.gif`` (the profiles moving) and ``two_compartment.md``
(the errors) into ``--out``.

    python simulations/two_compartment.py [--smoke] [--out DIR]
"""

import os
import sys

import numpy as np
from _script import arguments, write_report


def main(argv=None):
    args = arguments(__doc__, argv)

    import jax

    import diffusion_conv as dc
    from diffusion_conv import analytic, render

    n = 32 if args.smoke else 200
    steps = 64 if args.smoke else 4000
    n_particles = 10**4 if args.smoke else 10**6
    tank = dc.Tank.two_compartment(n, left=1.0, right=0.0, boundary="reflect")
    prop = dc.Propagator.gaussian(1.0, ndim=1)
    D = float(prop.diffusivity()[0, 0])
    methods = ("propagator", "spectral", "heat", "image", "particles") + (() if args.smoke else ("counts",))
    cmp = dc.compare(
        tank,
        prop,
        steps,
        methods=methods,
        reference="propagator",
        save_every=steps // 20,
        n_particles=n_particles,
        seed=0,
        progress=True,
    )

    def exact(t):
        return analytic.two_compartment(n, t, D) if t > 0 else np.asarray(tank.concentration, dtype=float)

    rows = [
        "| method | max error vs closed form (last frame) | max error over all frames | mass drift |",
        "|---|---:|---:|---:|",
    ]
    for name, res in cmp.results.items():
        errs = [dc.max_error(f, exact(t)) for f, t in zip(res.frames, res.times)]
        mass = res.mass()
        rows.append(f"| {name} | {errs[-1]:.3e} | {max(errs):.3e} | {abs(mass[-1] - mass[0]):.2e} |")
    text = (
        f"Two-compartment tank, n = {n}, {steps} steps of a Gaussian kernel (sigma = 1, radius 3), "
        f"D = {D:.6f} cells^2/step, {n_particles} particles.\n\n" + "\n".join(rows) + "\n\n" + cmp.to_markdown() + "\n"
    )
    print(text)
    write_report(args, "two_compartment.md", text)
    nf = len(cmp.results["propagator"].steps)
    times = sorted({1, nf // 8, nf // 3, nf - 1})
    render.plot_profiles(
        {k: cmp.results[k] for k in ("propagator", "heat", "particles")},
        os.path.join(args.out, "two_compartment_profiles.png"),
        times=times,
        exact=exact,
    )
    render.animate(cmp, os.path.join(args.out, "two_compartment.gif"), fps=6, dpi=50)
    jax.clear_caches()
    return 0


if __name__ == "__main__":
    sys.exit(main())

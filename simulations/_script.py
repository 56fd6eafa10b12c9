"""What the scripts in this folder share: their command line and how they write a report.

Not a script itself (the leading underscore keeps it out of the smoke tests).
"""

import argparse
import os


def arguments(doc, argv=None, methods=False, smoke_help="small sizes (for the tests)"):
    """Parse ``--smoke``, ``--out`` (created) and, with ``methods``, ``--methods``; the first line of
    ``doc`` describes the script."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=smoke_help)
    parser.add_argument("--out", default="simulation-output", help="output folder")
    if methods:
        parser.add_argument("--methods", default=None, help="comma-separated methods (default: all that apply)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    return args


def write_report(args, name, text):
    """Write ``text`` to ``name`` in ``--out`` under a temporary name, then rename (no half-written file)."""
    from diffusion_conv.render import save_text

    save_text(os.path.join(args.out, name), text)


def compare_scenario(sc, steps, methods, every, n_particles):
    """The scenario's methods against the propagator, frames every ``every`` steps, a progress bar (seed 0)."""
    import diffusion_conv as dc

    return dc.compare(
        sc.tank,
        sc.propagator,
        steps,
        methods=methods,
        reference="propagator",
        save_every=every,
        n_particles=n_particles,
        seed=0,
        progress=True,
    )

"""The ``diffusion-conv`` command.

Subcommands: ``demo``, ``run``, ``compare``, ``scenarios``, ``fit``, ``bench``
(``diffusion-conv SUBCOMMAND --help`` for each). Bad input gives exit code 2 and
one line on stderr, before any file is written; every file is written under a
temporary name and renamed.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

PROG = "diffusion-conv"
DEMO_METHODS = ("propagator", "particles", "image", "heat")
BENCHMARKS = ("bench_propagator", "bench_spectral", "bench_stochastic", "bench_render", "bench_learn")


class UsageError(Exception):
    """Bad input on the command line: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(f"{self.prog}: {message}")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonneg(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``diffusion-conv`` command."""
    from . import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--x64", action="store_true", help="compute in float64 (JAX x64 mode)")
    common.add_argument("--seed", type=_nonneg, default=0, help="seed of the stochastic methods (default 0)")
    common.add_argument("--particles", type=_positive, default=None, metavar="N",
                        help="number of particles of the stochastic methods")

    parser = _Parser(prog=PROG, description="Diffusion as convolution: a kernel as a particle's propagator, "
                     "checked against particles, image convolution and the heat equation.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("demo", parents=[common], help="the 256x256 partitioned tank through every method")
    p.add_argument("--out", default="diffusion-conv-demo", metavar="DIR",
                   help="output folder (default ./diffusion-conv-demo)")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)

    p = sub.add_parser("run", parents=[common], help="run one method on a scenario")
    p.add_argument("scenario", help="scenario name (see `diffusion-conv scenarios`)")
    p.add_argument("--method", default="auto", help="propagator, spectral, particles, counts, image, heat or auto")
    p.add_argument("--steps", type=_nonneg, default=None, help="number of steps (default: the scenario's)")
    p.add_argument("--save-every", type=_positive, default=None, metavar="K", help="save a frame every K steps")
    p.add_argument("--size", type=_positive, default=None, help="grid side (default: the scenario's)")
    p.add_argument("--out", default=None, metavar="FILE.npz", help="write the result (Result.load reads it)")
    p.add_argument("--animate", default=None, metavar="FILE", help="write an animation (.gif, or .mp4)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    p = sub.add_parser("compare", parents=[common], help="run several methods on a scenario and compare them")
    p.add_argument("scenario", help="scenario name")
    p.add_argument("--methods", default=None, help="comma-separated methods (default: all that apply)")
    p.add_argument("--reference", default=None, help="the method the others are measured against")
    p.add_argument("--steps", type=_nonneg, default=None, help="number of steps")
    p.add_argument("--save-every", type=_positive, default=None, metavar="K", help="save a frame every K steps")
    p.add_argument("--size", type=_positive, default=None, help="grid side")
    p.add_argument("--animate", default=None, metavar="FILE", help="write an animation (.gif, or .mp4)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")

    p = sub.add_parser("scenarios", help="list the scenarios, one line each")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = sub.add_parser("fit", parents=[common], help="recover a kernel from saved frames")
    p.add_argument("frames", metavar="FRAMES.npz", help="a result file (from `run --out`) or an npz of frames")
    p.add_argument("--radius", type=_positive, default=1, help="kernel radius to fit (default 1)")
    p.add_argument("--steps-between", type=_positive, default=None, metavar="N",
                   help="steps between consecutive frames (default: read from the file)")
    p.add_argument("--json", action="store_true", help="print the fit as JSON")

    p = sub.add_parser("bench", help="run the benchmarks (needs a source checkout)")
    p.add_argument("names", nargs="*", help=f"which ones (default all: {', '.join(BENCHMARKS)})")
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


# -- checks made before any work ------------------------------------------------------------
def _check_file(path, suffixes, what):
    if path is None:
        return None
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in suffixes:
        raise UsageError(f"{what} {path!r} must end in {' or '.join(suffixes)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{what} {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a folder")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            from .render import VIDEO_HINT

            raise UsageError(VIDEO_HINT) from None
    return path


def _scenario(args):
    from . import scenarios

    if args.scenario not in scenarios.names():
        raise UsageError(f"scenario {args.scenario!r} is unknown; valid: {', '.join(scenarios.names())}")
    if args.size is not None and args.size < 8:
        raise UsageError(f"--size must be at least 8, got {args.size}")
    return scenarios.get(args.scenario, size=args.size, seed=args.seed)


def _check_methods(names, allowed):
    from .simulate import METHODS

    for m in names:
        if m not in METHODS and not (allowed == "auto" and m == "auto"):
            raise UsageError(f"method {m!r} is unknown; allowed: {', '.join(METHODS)}")


def _available(method):
    try:
        importlib.import_module(f"diffusion_conv.methods.{method}")
    except ImportError:
        return False
    return True


def _stochastic_kw(method, args, default_n):
    from .simulate import STOCHASTIC

    if method not in STOCHASTIC:
        return {}
    import jax

    return dict(n_particles=args.particles or default_n, key=jax.random.key(args.seed))


# -- subcommands ------------------------------------------------------------------------------
def cmd_scenarios(args):
    from . import scenarios

    if args.json:
        print(json.dumps(scenarios.describe(), indent=2))
        return 0
    width = max(map(len, scenarios.names()))
    for name, text in scenarios.describe().items():
        print(f"{name:<{width}}  {text}")
    return 0


def cmd_run(args):
    import numpy as np

    from . import simulate

    sc = _scenario(args)
    _check_methods([args.method], "auto")
    if args.method != "auto" and not _available(args.method):
        raise UsageError(f"method {args.method!r} is not available in this installation")
    out = _check_file(args.out, (".npz",), "--out")
    anim = _check_file(args.animate, (".gif", ".mp4"), "--animate")
    steps = sc.steps if args.steps is None else args.steps
    save_every = args.save_every or max(1, steps // 40)
    res = simulate(sc.tank, sc.propagator, steps, method=args.method, save_every=save_every, progress=True,
                   **_stochastic_kw(args.method, args, sc.n_particles))
    if out:
        res.save(out)
    if anim:
        from . import render

        render.animate(res, anim, progress=True)
    mass = res.mass()
    summary = {"scenario": sc.name, "method": res.method, "steps": int(res.steps[-1]), "frames": len(res.steps),
               "shape": list(sc.tank.shape), "elapsed_s": res.elapsed, "initial_mass": float(mass[0]),
               "final_mass": float(mass[-1]), "absorbed": float(res.absorbed[-1]),
               "final_max": float(np.max(res.final)), "out": out, "animation": anim}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{sc.name}: {res.method}, {summary['steps']} steps, {summary['frames']} frames of "
              f"{tuple(sc.tank.shape)} in {res.elapsed:.2f} s; mass {mass[0]:.6g} -> {mass[-1]:.6g}")
        for label, path in (("result", out), ("animation", anim)):
            if path:
                print(f"{label}: {path}")
    return 0


def _methods_arg(text, sc):
    if text is None:
        return [m for m in sc.methods if _available(m)]
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise UsageError("--methods is empty; give a comma-separated list")
    _check_methods(names, "")
    return names


def cmd_compare(args):
    from . import compare

    sc = _scenario(args)
    methods = _methods_arg(args.methods, sc)
    missing = [m for m in methods if not _available(m)]
    if missing:
        raise UsageError(f"methods {missing} are not available in this installation")
    reference = args.reference or (sc.reference if sc.reference in methods else methods[0])
    _check_methods([reference], "")
    anim = _check_file(args.animate, (".gif", ".mp4"), "--animate")
    steps = sc.steps if args.steps is None else args.steps
    save_every = args.save_every or max(1, steps // 40)
    cmp = compare(sc.tank, sc.propagator, steps, methods=methods, reference=reference, save_every=save_every,
                  n_particles=args.particles or sc.n_particles if any(m in ("particles", "counts") for m in methods)
                  else None, seed=args.seed, progress=True)
    if anim:
        from . import render

        render.animate(cmp, anim, progress=True)
    print(cmp.to_json() if args.json else cmp.to_markdown())
    return 0


def cmd_demo(args):
    from . import compare, render, scenarios

    out = os.path.abspath(args.out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {args.out!r} exists and is not a folder")
    if not os.path.isdir(os.path.dirname(out)):
        raise UsageError(f"--out {args.out!r}: its parent folder does not exist")
    size, steps, save_every = (32, 12, 3) if args.smoke else (256, 100, 4)
    sc = scenarios.get("partitions", size=size, seed=args.seed)
    methods = [m for m in DEMO_METHODS if _available(m)]
    n_particles = args.particles or (10**4 if args.smoke else 10**6)
    print(f"demo: the {size}x{size} tank, every cell its own concentration, {steps} steps of the box blur "
          f"(m = 9) by {', '.join(methods)}", file=sys.stderr)
    cmp = compare(sc.tank, sc.propagator, steps, methods=methods, reference="propagator", save_every=save_every,
                  n_particles=n_particles if "particles" in methods else None, seed=args.seed, progress=True)
    os.makedirs(out, exist_ok=True)
    render.save_text(os.path.join(out, "comparison.md"), cmp.to_markdown() + "\n")
    render.save_text(os.path.join(out, "comparison.json"), cmp.to_json() + "\n")
    nframes = len(cmp.results["propagator"].steps)
    render.plot_profiles(cmp, os.path.join(out, "profiles.png"), reduce="middle",
                         times=sorted({1, min(3, nframes - 1), nframes // 2, nframes - 1}))
    render.animate(cmp, os.path.join(out, "tank.gif"), fps=8, dpi=60 if not args.smoke else 40, progress=True)
    print(cmp.to_markdown())
    print(f"\nwritten to {out}: tank.gif, comparison.md, comparison.json, profiles.png")
    return 0


def cmd_fit(args):
    if not os.path.isfile(args.frames):
        raise UsageError(f"frames file {args.frames!r} does not exist")
    try:
        from .learn import fit_file
    except ImportError as exc:
        raise UsageError(f"fit is not available: {exc}") from None
    fit = fit_file(args.frames, radius=args.radius, steps_between=args.steps_between)
    print(json.dumps(fit.to_dict(), indent=2) if args.json else fit.summary())
    return 0


def _bench_root():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return here if os.path.isdir(os.path.join(here, "benchmarks")) else None


def cmd_bench(args):
    root = _bench_root()
    if root is None:
        raise UsageError("the benchmarks are not installed with the package; run `diffusion-conv bench` from a "
                         "source checkout installed with `pip install -e .`")
    names = args.names or list(BENCHMARKS)
    for n in names:
        if n not in BENCHMARKS:
            raise UsageError(f"benchmark {n!r} is unknown; valid: {', '.join(BENCHMARKS)}")
    if root not in sys.path:
        sys.path.insert(0, root)
    results = {}
    for n in names:
        if not os.path.isfile(os.path.join(root, "benchmarks", f"{n}.py")):
            print(f"{n}: not present in {os.path.join(root, 'benchmarks')}, skipped", file=sys.stderr)
            continue
        print(f"== {n}", file=sys.stderr)
        module = importlib.import_module(f"benchmarks.{n}")
        results[n] = module.main(["--quick"] if args.quick else [])
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0


COMMANDS = {"demo": cmd_demo, "run": cmd_run, "compare": cmd_compare, "scenarios": cmd_scenarios,
            "fit": cmd_fit, "bench": cmd_bench}


def main(argv=None) -> int:
    """Run the command; returns the exit code (0 success, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if getattr(args, "x64", False):
            import jax

            jax.config.update("jax_enable_x64", True)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}" if not str(exc).startswith(PROG) else f"{exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, ImportError) as exc:  # the library's own input checks
        print(f"{PROG}: error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

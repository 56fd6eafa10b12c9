"""The commands: ``demo``, ``run``, ``compare``, ``scenarios``, ``fit``, ``bench``."""

from __future__ import annotations

import importlib
import json
import os
import sys

import numpy as np

from .. import _io, render, scenarios
from ..comparison import compare
from ..errors import InputError
from ..learn import fit_file
from ..methods import get
from ..methods import names as method_names
from ..propagator import Propagator
from ..simulation import simulate
from ..tank import Tank
from . import checks, config, inputs, job
from .parser import UsageError, command_parser

"""The methods the demo runs: all six (the story shows three; the table compares them all)."""


def cmd_scenarios(args, guard):
    table = scenarios.details()
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    width = max(map(len, table))
    print(f"{'name':<{width}}  {'grid':>9}  {'steps':>6}  {'method':<10}  what it shows")
    for name, d in table.items():
        grid = "x".join(map(str, d["shape"]))
        print(f"{name:<{width}}  {grid:>9}  {d['steps']:>6}  {d['method']:<10}  {d['description']}")
    return 0


def _setup(args, command):
    """Merge ``--config`` into ``args`` and check the scenario's name; how the messages name an option."""

    source = config.apply(args, command, command_parser(command))
    checks.scenario_name(args)
    return source.label


def _outputs(args, writer, found, main):
    """The record's path beside the main output (checked for writing), or None when nothing is written."""
    if not writer or main is None:
        return None
    return config.check_record(main, found.files.values())


def _methods_that_apply(candidates, tank, prop, n_particles, seed):
    """The candidates whose own checks accept the problem (a method that refuses it is left out)."""
    import jax

    kept = []
    for m in candidates:
        method = get(m)
        kw = dict(n_particles=n_particles, key=jax.random.key(seed)) if method.stochastic else {}
        try:
            method.validate(tank, prop, **kw)
        except InputError:
            continue
        kept.append(m)
    return kept


def cmd_run(args, guard):
    label = _setup(args, "run")
    checks.check_methods([args.method], "auto")
    if args.method != "auto" and not checks.available(args.method):
        raise UsageError(f"method {args.method!r} is not available in this installation")
    devices = job.devices_arg(args)
    writer = job.writes(args)
    out = checks.check_file(args.out, (".npz", ".nc"), "--out") if writer else None
    anim = checks.check_file(args.animate, (".gif", ".mp4"), "--animate") if writer else None
    methods = [args.method]  # "auto": the memory check takes the largest of the methods it may pick
    checks.check_memory_first(args, methods)
    found = inputs.read(args, label)
    record = _outputs(args, writer, found, out or anim)
    job.join(args)  # a job of several processes forms here, once every argument is checked
    sc = inputs.problem(args, found)
    steps = sc.steps if args.steps is None else args.steps
    save_every = args.save_every or max(1, steps // 40)
    checks.check_memory_of_scenario(args, methods, sc, steps, save_every)
    tank, prop, labels = checks.batched(args, sc)
    stochastic = checks.stochastic_kw(args.method, args, sc.n_particles)
    res = simulate(
        tank,
        prop,
        steps,
        method=args.method,
        save_every=save_every,
        dt=1.0 if args.dt is None else args.dt,
        progress=writer,
        devices=devices,
        **stochastic,
    )
    if not writer:
        return 0
    if out:
        res.save(out)
        guard.output(out)
    if anim:
        render.animate(res, anim, progress=True, **checks.batch_pictures(args, labels))
        guard.output(anim)
    if record:
        n = stochastic.get("n_particles")  # None for a deterministic method ('auto' picks one)
        data = config.record(
            "run", args, sc, found, record, method=res.method, steps=steps, save_every=save_every, particles=n
        )
        config.write(record, data, "run")
        guard.output(record)
    mass = res.mass()
    summary = {
        "scenario": sc.name,
        "method": res.method,
        "steps": int(res.steps[-1]),
        "frames": len(res.steps),
        "shape": list(tank.shape),
        "batch_shape": list(res.batch_shape),
        "elapsed_s": res.elapsed,
        "initial_mass": mass[0].tolist(),
        "final_mass": mass[-1].tolist(),
        "absorbed": res.absorbed[-1].tolist(),
        "final_max": float(np.max(res.final)),
        "out": out,
        "animation": anim,
        "record": record,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        batch = (
            f" x {checks.plural(int(np.prod(res.batch_shape)), 'member')} {tuple(res.batch_shape)}"
            if res.batch_shape
            else ""
        )
        print(
            f"{sc.name}: {res.method}, {checks.plural(summary['steps'], 'step')}, {checks.plural(summary['frames'], 'frame')} "
            f"of {tuple(tank.shape)}{batch} in {res.elapsed:.2f} s; mass {np.sum(mass[0]):.6g} -> "
            f"{np.sum(mass[-1]):.6g}" + (" (all members)" if batch else "")
        )
        for what, path in (("result", out), ("animation", anim), ("record", record)):
            if path:
                print(f"{what}: {path}")
    return 0


def cmd_compare(args, guard):
    label = _setup(args, "compare")
    methods = None if args.methods is None else checks.methods_arg(args.methods, ())
    missing = [m for m in methods or () if not checks.available(m)]
    if missing:
        raise UsageError(f"methods {missing} are not available in this installation")
    if args.reference is not None:
        checks.check_methods([args.reference], "")
    devices = job.devices_arg(args)
    writer = job.writes(args)
    anim = checks.check_file(args.animate, (".gif", ".mp4"), "--animate") if writer else None
    # before building: the methods named, or at least one (the scenario says which apply once built)
    checks.check_memory_first(args, list(dict.fromkeys((methods or ["propagator"]) + [args.reference or "propagator"])))
    found = inputs.read(args, label)
    record = _outputs(args, writer, found, anim)
    job.join(args)  # a job of several processes forms here, once every argument is checked
    sc = inputs.problem(args, found)
    tank, prop, labels = checks.batched(args, sc)
    n_particles = args.particles or sc.n_particles
    if methods is None:
        candidates = checks.methods_arg(None, sc.methods)
        methods = _methods_that_apply(candidates, tank, prop, n_particles, args.seed)
        if not methods:
            raise UsageError(f"none of the methods {', '.join(candidates)} accepts this problem")
    reference = args.reference or (sc.reference if sc.reference in methods else methods[0])
    steps = sc.steps if args.steps is None else args.steps
    save_every = args.save_every or max(1, steps // 40)
    checks.check_memory_of_scenario(args, list(dict.fromkeys([reference] + methods)), sc, steps, save_every)
    stochastic = any(checks.is_stochastic(m) for m in [reference, *methods])
    cmp = compare(
        tank,
        prop,
        steps,
        methods=methods,
        reference=reference,
        save_every=save_every,
        n_particles=n_particles if stochastic else None,
        dt=1.0 if args.dt is None else args.dt,
        seed=args.seed,
        progress=writer,
        devices=devices,
    )
    if not writer:
        return 0
    if anim:
        render.animate(cmp, anim, progress=True, **checks.batch_pictures(args, labels))
        guard.output(anim)
    if record:
        data = config.record(
            "compare",
            args,
            sc,
            found,
            record,
            methods=list(methods),
            reference=reference,
            steps=steps,
            save_every=save_every,
            particles=n_particles if stochastic else None,
        )
        config.write(record, data, "compare")
        guard.output(record)
        print(f"record: {record}", file=sys.stderr)
    print(cmp.to_json() if args.json else cmp.to_markdown())
    return 0


def demo_problem(smoke=False, seed=0):
    """The demo's problem: the 256x256 tank split into 16 x 16 compartments of random concentration, the box blur.

    Returns ``(tank, prop, steps, save_at)``: frames at logarithmically spaced steps
    (1, 2, 3, ... up to ``steps``), so that the motion shows through the whole
    animation, from the first steps that blur the boards to the last that even
    out the tank.
    """

    size, steps, nframes = (32, 40, 12) if smoke else (256, 1000, 40)
    values = np.random.default_rng(seed).random((16, 16))
    tank = Tank.partitioned(values, cell=size // 16)
    save_at = np.unique(np.round(np.geomspace(1, steps, nframes)).astype(int))[:-1].tolist()
    return tank, Propagator.box(3, ndim=2), steps, save_at


def cmd_demo(args, guard):
    try:
        out, exists = _io.check_folder(args.out, "--out")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tank, prop, steps, save_at = demo_problem(args.smoke, args.seed)
    methods = [m for m in method_names() if checks.available(m)]  # every registered method
    n_particles = args.particles or (10**4 if args.smoke else 5 * 10**5)
    print(
        f"demo: the {tank.shape[0]}x{tank.shape[1]} tank split into 16 x 16 compartments, {steps} steps of the "
        f"box blur (m = 9) by {', '.join(methods)}; frames at logarithmically spaced steps",
        file=sys.stderr,
    )
    stochastic = any(checks.is_stochastic(m) for m in methods)
    cmp = compare(
        tank,
        prop,
        steps,
        methods=methods,
        reference="propagator",
        save_at=save_at,
        n_particles=n_particles if stochastic else None,
        seed=args.seed,
        progress=True,
    )
    if not exists:
        os.makedirs(out, exist_ok=True)
        guard.output(out)  # created by this command: removed (once empty) if it is interrupted

    def written(name):
        guard.output(os.path.join(out, name))
        return os.path.join(out, name)

    render.save_text(os.path.join(out, "comparison.md"), cmp.to_markdown() + "\n")
    written("comparison.md")
    render.save_text(os.path.join(out, "comparison.json"), cmp.to_json() + "\n")
    written("comparison.json")
    n = len(cmp.results["propagator"].steps)
    size = tank.shape[0]
    title = "Pull the boards: 16 x 16 compartments of salt water even out"
    dpi = 100 if not args.smoke else 40
    render.plot_story(cmp, os.path.join(out, "story.png"), index=n // 2, title=title, dpi=dpi)
    written("story.png")
    render.plot_profiles(
        cmp,
        os.path.join(out, "profiles.png"),
        reduce="mean",
        span=(size // 2 - max(1, size // 32), size // 2 + max(1, size // 32)),
        times=sorted({0, n // 2, n - 1}),
        title=f"the middle rows of the tank at three times ({steps} steps of the box blur)",
    )
    written("profiles.png")
    render.plot_frame(cmp, -1, os.path.join(out, "methods.png"), dpi=80 if not args.smoke else 40)
    written("methods.png")
    render.animate_story(cmp, os.path.join(out, "tank.gif"), fps=6, title=title, dpi=dpi, progress=True)
    written("tank.gif")
    names = ["tank.gif", "story.png", "profiles.png", "methods.png", "comparison.md", "comparison.json"]
    if args.dashboard:
        render.animate(cmp, os.path.join(out, "dashboard.gif"), fps=6, dpi=80 if not args.smoke else 40, progress=True)
        written("dashboard.gif")
        names.append("dashboard.gif")
    print(cmp.to_markdown())
    print(f"\nwritten to {out}: {', '.join(names)}")
    return 0


def cmd_fit(args, guard):
    def indices(option, text, minimum, what):
        try:
            values = tuple(int(part) for part in text.split(","))
        except ValueError:
            values = ()
        if not values or any(v < minimum for v in values):
            raise UsageError(f"{option}: expected {what}, got {text!r}")
        return values

    radius = indices("--radius", args.radius, 0, "a radius >= 1 or one radius >= 0 per axis (R or R0,R1,...)")
    if len(radius) == 1:
        if radius[0] < 1:
            raise UsageError(f"--radius: expected a radius >= 1 (or one per axis, R0,R1,...), got {args.radius!r}")
        radius = radius[0]
    member = (
        None if args.member is None else indices("--member", args.member, 0, "an index >= 0 per batch axis (I or I,J)")
    )
    if not os.path.isfile(args.frames):
        what = "is a folder" if os.path.isdir(args.frames) else "does not exist"
        raise UsageError(f"frames file {args.frames!r} {what}")
    fit = fit_file(args.frames, radius=radius, steps_between=args.steps_between, member=member)
    print(json.dumps(fit.to_dict(), indent=2) if args.json else fit.summary())
    return 0


def bench_root():
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
    return here if os.path.isdir(os.path.join(here, "benchmarks")) else None


def cmd_bench(args, guard):
    root = bench_root()
    if root is None:
        raise UsageError(
            "the benchmarks are not installed with the package; run `diffusion-conv bench` from a "
            "source checkout installed with `pip install -e .`"
        )
    if root not in sys.path:
        sys.path.insert(0, root)
    known = importlib.import_module("benchmarks").MODULES
    names = args.names or list(known)
    for n in names:
        if n not in known:
            raise UsageError(f"benchmark {n!r} is unknown; valid: {', '.join(known)}")
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


COMMANDS = {
    "demo": cmd_demo,
    "run": cmd_run,
    "compare": cmd_compare,
    "scenarios": cmd_scenarios,
    "fit": cmd_fit,
    "bench": cmd_bench,
}

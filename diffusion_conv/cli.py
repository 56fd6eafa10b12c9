"""The ``diffusion-conv`` command.

Subcommands: ``demo``, ``run``, ``compare``, ``scenarios``, ``fit``, ``bench``
(``diffusion-conv SUBCOMMAND --help`` for each). Bad input gives exit code 2 and
one line on stderr, before any work and before any file is written (outputs are
checked for writability first); every file is written under a temporary name
and renamed. Ctrl-C (SIGINT) and SIGTERM stop every method within about two
seconds with exit code 130 or 143, and the interrupted command leaves none of
its files behind (see :mod:`diffusion_conv._interrupt`).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

import numpy as np

PROG = "diffusion-conv"
MAX_STEPS = 2**31 - 1
"""Largest ``--steps`` and ``--save-every``: the methods count steps in 32-bit integers on the device."""
MAX_SEED = 2**32 - 1
"""Largest ``--seed``: without JAX's x64 mode a key keeps the low 32 bits of its seed, so larger seeds
would silently repeat smaller ones."""
DEMO_METHODS = ("propagator", "spectral", "particles", "image", "heat")
"""The methods the demo runs: every method but ``counts``, whose first compilation (about 30 s for the
256x256 tank on two cores) alone would take half the demo's minute."""


class UsageError(Exception):
    """Bad input on the command line: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(f"{self.prog}: {message}")


def _integer(text, minimum, maximum, what):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"got {text}, more than the largest allowed, {maximum}")
    return value


def _positive(text):
    return _integer(text, 1, None, "a positive integer")


def _steps(text):
    return _integer(text, 0, MAX_STEPS, f"an integer from 0 to {MAX_STEPS}")


def _every(text):
    return _integer(text, 1, MAX_STEPS, f"an integer from 1 to {MAX_STEPS}")


def _seed(text):
    return _integer(text, 0, MAX_SEED, f"an integer from 0 to {MAX_SEED}")


def _nonnegative(text):
    return _integer(text, 0, 2**31 - 1, "an integer >= 0")


def _devices_arg(args):
    """``--devices`` as ``simulate`` takes it (None, 'all' or a count), and the job's options checked.

    Nothing joins here: a job of several processes forms in :func:`_join`, once
    every argument is checked (process 0 checks that it can listen at
    ``--coordinator``).
    """
    coordinator = getattr(args, "coordinator", None)
    parts = (coordinator, getattr(args, "num_processes", None), getattr(args, "process_id", None))
    if any(p is not None for p in parts):
        if any(p is None for p in parts):
            raise UsageError("--coordinator, --num-processes and --process-id go together (the arguments of "
                             "jax.distributed.initialize)")
        if args.process_id >= args.num_processes:
            raise UsageError(f"--process-id must be below --num-processes ({args.num_processes}), got "
                             f"{args.process_id}")
        from . import _devices

        try:
            _devices.check_coordinator(coordinator, args.process_id)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    elif getattr(args, "join_timeout", None) is not None:
        raise UsageError("--join-timeout applies to a job of several processes (with --coordinator, "
                         "--num-processes and --process-id)")
    text = getattr(args, "devices", None)
    if text is None:
        return "all" if coordinator is not None else None
    if text == "all":
        return "all"
    try:
        return _integer(text, 1, 2**20, "'all' or a number of devices")
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--devices: {exc}") from None


def _writes(args):
    """Whether this process writes the outputs: process 0 of a job (every single process is one)."""
    return getattr(args, "process_id", None) in (None, 0)


_LOCAL_OPTIONS = ("out", "animate", "json", "process_id", "join_timeout", "coordinator")
"""Options that may differ between the processes of a job: the outputs (written by process 0 alone), the id,
the wait, and the coordinator's address (a name on one host, a number on another: they met there)."""


def _join(args):
    """Form the job of several processes (nothing for one process), after every argument is checked.

    Every process then compares its run (the command, the scenario and every
    option but :data:`_LOCAL_OPTIONS`, and the package's version) with the
    others'; a difference ends every process with a line that names it.
    """
    if getattr(args, "coordinator", None) is None:
        return
    from . import __version__, _devices

    description = {"the command": args.command, "diffusion_conv's version": __version__}
    for name, value in vars(args).items():
        if name not in _LOCAL_OPTIONS and name != "command":
            description["the scenario" if name == "scenario" else "--" + name.replace("_", "-")] = value
    timeout = _devices.JOIN_TIMEOUT if args.join_timeout is None else args.join_timeout
    _devices.join(args.coordinator, args.num_processes, args.process_id, description=description, timeout=timeout,
                  prog=PROG)


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 1 to 3600, got {text!r}")
    return value


def _temperatures(text):
    values = []
    for part in text.split(","):
        try:
            t = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated positive numbers, got {text!r}") from None
        if not (np.isfinite(t) and 1e-6 <= t <= 1e6):
            raise argparse.ArgumentTypeError(f"each temperature must be a number in [1e-6, 1e6], got {part!r}")
        values.append(t)
    if not values or len(values) > 64:
        raise argparse.ArgumentTypeError(f"give 1 to 64 temperatures, got {len(values)}")
    return values


def _check_channels(args):
    if getattr(args, "channels", False) and args.scenario != "image":
        raise UsageError(f"--channels applies to the image scenario (a colour picture), not to {args.scenario!r}")


def _batched(args, sc):
    """The scenario's tank and kernel with the batch options applied: ``(tank, prop, labels)``."""
    from . import scenarios
    from .propagator import Propagator
    from .tank import Tank

    tank, prop, labels = sc.tank, sc.propagator, None
    if getattr(args, "channels", False):
        _check_channels(args)
        size = None if args.size is None else args.size
        tank = Tank.from_image(scenarios.TEST_IMAGE_RGB, size=size, channels=True)
    temps = getattr(args, "temperatures", None)
    if temps:
        w = np.asarray(prop.weights, dtype=np.float64)
        if np.any(w <= 0):
            raise UsageError(f"--temperatures needs a kernel with no zero weights (a softmax); {sc.name!r} has some")
        prop = Propagator.stack([Propagator.from_logits(np.log(w), temperature=t) for t in temps])
        if tank.batch_shape:
            tank = tank.reshape_batch(tank.batch_shape + (1,))
        labels = [f"T={t:g}" for t in temps]
    return tank, prop, labels


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``diffusion-conv`` command."""
    from . import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--x64", action="store_true", help="compute in float64 (JAX x64 mode)")
    common.add_argument("--seed", type=_seed, default=0,
                        help=f"seed of the stochastic methods, 0 to {MAX_SEED} (default 0)")
    common.add_argument("--particles", type=_positive, default=None, metavar="N",
                        help="number of particles of the stochastic methods")

    parser = _Parser(prog=PROG, description="Diffusion as convolution: a kernel as a particle's propagator, "
                     "checked against particles, image convolution and the heat equation.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("demo", parents=[common],
                       help="the 256x256 partitioned tank through five methods (all but counts)")
    p.add_argument("--out", default="diffusion-conv-demo", metavar="DIR",
                   help="output folder (default ./diffusion-conv-demo)")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)

    scale = argparse.ArgumentParser(add_help=False)
    scale.add_argument("--devices", default=None, metavar="all|N",
                       help="run on these devices: 'all' (every device of every process) or the first N; a batch is "
                            "spread over them, one grid split along axis 0 (propagator, counts, particles)")
    scale.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                       help="one job over several processes or hosts: the address of process 0 "
                            "(jax.distributed.initialize); process 0 writes every output")
    scale.add_argument("--num-processes", type=_positive, default=None, metavar="N", help="processes in the job")
    scale.add_argument("--process-id", type=_nonnegative, default=None, metavar="I", help="this process (0 .. N-1)")
    scale.add_argument("--join-timeout", type=_seconds, default=None, metavar="SECONDS",
                       help="how long a process waits for the whole job to form before it stops with exit code 2 "
                            "(default 120)")

    batch = argparse.ArgumentParser(add_help=False)
    batch.add_argument("--channels", action="store_true",
                       help="the image scenario in colour: one tank per channel (red, green, blue) in one run")
    batch.add_argument("--temperatures", default=None, metavar="T1,T2,...", type=_temperatures,
                       help="a bank of kernels: the scenario's kernel as a softmax at each temperature, in one run")

    p = sub.add_parser("run", parents=[common, batch, scale], help="run one method on a scenario")
    p.add_argument("scenario", help="scenario name (see `diffusion-conv scenarios`)")
    p.add_argument("--method", default="auto", help="propagator, spectral, particles, counts, image, heat or auto")
    p.add_argument("--steps", type=_steps, default=None,
                   help=f"number of steps, at most 2**31 - 1 = {MAX_STEPS} (default: the scenario's)")
    p.add_argument("--save-every", type=_every, default=None, metavar="K", help="save a frame every K steps")
    p.add_argument("--size", type=_positive, default=None, help="grid side (default: the scenario's)")
    p.add_argument("--out", default=None, metavar="FILE.npz", help="write the result (Result.load reads it)")
    p.add_argument("--animate", default=None, metavar="FILE", help="write an animation (.gif, or .mp4)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    p = sub.add_parser("compare", parents=[common, batch, scale],
                       help="run several methods on a scenario and compare them")
    p.add_argument("scenario", help="scenario name")
    p.add_argument("--methods", default=None, help="comma-separated methods (default: all that apply)")
    p.add_argument("--reference", default=None, help="the method the others are measured against")
    p.add_argument("--steps", type=_steps, default=None, help=f"number of steps, at most {MAX_STEPS}")
    p.add_argument("--save-every", type=_every, default=None, metavar="K", help="save a frame every K steps")
    p.add_argument("--size", type=_positive, default=None, help="grid side")
    p.add_argument("--animate", default=None, metavar="FILE", help="write an animation (.gif, or .mp4)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")

    p = sub.add_parser("scenarios", help="list the scenarios, one line each")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = sub.add_parser("fit", help="recover a kernel from saved frames")  # no --seed or --particles: no sampling
    p.add_argument("--x64", action="store_true", help="compute in float64 (JAX x64 mode)")
    p.add_argument("frames", metavar="FRAMES.npz", help="a result file written by `run --out`")
    p.add_argument("--radius", default="1", metavar="R|R0,R1,...",
                   help="kernel radius to fit: R along every axis the frames vary along (0 along an axis where "
                        "every frame is constant: its jumps leave no trace), or one per axis (default 1)")
    p.add_argument("--steps-between", type=_positive, default=None, metavar="N",
                   help="steps between consecutive frames (default: read from the file, each pair its own)")
    p.add_argument("--member", default=None, metavar="I[,J]",
                   help="which member of a batch result (--temperatures, --channels, a stack) to fit: one index "
                        "per batch axis, from 0")
    p.add_argument("--json", action="store_true", help="print the fit as JSON")

    p = sub.add_parser("bench", help="run the benchmarks (needs a source checkout)")
    p.add_argument("names", nargs="*", help="which ones (default all: the list in benchmarks/__init__.py of a source checkout)")
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


# -- checks made before any work ------------------------------------------------------------
def _check_file(path, suffixes, what):
    """``path`` checked for writing (suffix, folder, name length, a test file); UsageError otherwise."""
    from . import _io

    if path is None:
        return None
    try:
        path = _io.check_target(path, suffixes, what)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if path.lower().endswith(".mp4"):
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            from .render import VIDEO_HINT

            raise UsageError(VIDEO_HINT) from None
    return path


def _scenario_name(args):
    from . import scenarios

    if args.scenario not in scenarios.names():
        raise UsageError(f"scenario {args.scenario!r} is unknown; valid: {', '.join(scenarios.names())}")
    if args.size is not None and args.size < 8:
        raise UsageError(f"--size must be at least 8, got {args.size}")


def _scenario(args):
    from . import scenarios

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


# -- memory: refuse a run that cannot fit before building anything ---------------------------
def _memory_available():
    """Bytes of memory available to a new run (Linux MemAvailable; else free physical pages), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _nframes(steps, save_every):
    if save_every is None or steps == 0:
        return 2
    return steps // save_every + 1 + (steps % save_every != 0)


def _estimate(cells, nframes, methods, n_particles, kernel_size, itemsize):
    """Rough bytes of a run, in three parts: the grid's working arrays, the saved frames, the particles."""
    grid = 3 * cells * 8  # the scenario builds its field in float64 before the tank converts it
    frames = 0
    particles = 0
    for m in methods:
        grid += 8 * cells * 8  # fields, halos or transforms on the device
        frames += nframes * cells * itemsize  # the frames kept on the host
        if m == "particles":
            frames += nframes * cells * itemsize  # integer counts per frame, then concentrations
            particles += n_particles * 32  # positions, keys and draws
        elif m == "counts":
            frames += nframes * cells * itemsize
            grid += 2 * cells * kernel_size * 8  # the split of every cell's count among the jumps
    return {"grid": grid, "frames": frames, "particles": particles}


def _bytes(n):
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 2**10:.3g} KiB"


def _check_memory(args, methods, size, cells, nframes, n_particles, kernel_size):
    """UsageError when the run's estimated memory exceeds what is available, naming the option to change."""
    import jax

    available = _memory_available()
    if available is None:
        return
    parts = _estimate(cells, nframes, methods, n_particles, kernel_size, 8 if jax.config.jax_enable_x64 else 4)
    need = sum(parts.values())
    if need <= available:
        return
    head = (f"the run needs about {_bytes(need)} of memory ({cells} cells, {nframes} frames, "
            f"{_plural(len(methods), 'method')}), more than the {_bytes(available)} available")
    worst = max(parts, key=parts.get)
    if worst == "particles":
        most = int(max(0, available - parts["grid"] - parts["frames"]) // 32)
        raise UsageError(f"--particles {n_particles}: {head}; use --particles {most} or fewer")
    if worst == "frames" and args.save_every is not None:
        raise UsageError(f"--save-every {args.save_every}: {head}; save fewer frames (a larger --save-every)")
    most = int(size * (available / need) ** 0.5)
    fix = f"use --size {most} or less" if most >= 8 else "save fewer frames (a larger --save-every)"
    raise UsageError(f"--size {size}: {head}; {fix}")


def _check_memory_of_args(args, methods):
    """The memory check before the scenario is built, from the arguments alone."""
    from . import scenarios

    size = args.size or scenarios.default_size(args.scenario)
    cells = size * size
    if args.steps is not None:
        nframes = _nframes(args.steps, args.save_every or max(1, args.steps // 40))
    else:  # the scenario's steps are known once it is built; by default about 41 frames are saved
        nframes = 41 if args.save_every is None else 2
    _check_memory(args, methods, size, cells, nframes, args.particles or 10 * cells, 49)


def _check_memory_of_scenario(args, methods, sc, steps, save_every):
    import numpy as np

    cells = int(np.prod(sc.tank.shape))
    _check_memory(args, methods, args.size or max(sc.tank.shape), cells, _nframes(steps, save_every),
                  args.particles or sc.n_particles, int(np.size(sc.propagator.weights)))


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- subcommands ------------------------------------------------------------------------------
def cmd_scenarios(args, guard):
    from . import scenarios

    if args.json:
        print(json.dumps(scenarios.describe(), indent=2))
        return 0
    width = max(map(len, scenarios.names()))
    for name, text in scenarios.describe().items():
        print(f"{name:<{width}}  {text}")
    return 0


def cmd_run(args, guard):
    import numpy as np

    from . import simulate

    _scenario_name(args)
    _check_methods([args.method], "auto")
    if args.method != "auto" and not _available(args.method):
        raise UsageError(f"method {args.method!r} is not available in this installation")
    _check_channels(args)
    devices = _devices_arg(args)
    writer = _writes(args)
    out = _check_file(args.out, (".npz",), "--out") if writer else None
    anim = _check_file(args.animate, (".gif", ".mp4"), "--animate") if writer else None
    methods = [args.method if args.method != "auto" else "spectral"]
    _check_memory_of_args(args, methods)
    _join(args)  # a job of several processes forms here, once every argument is checked
    sc = _scenario(args)
    steps = sc.steps if args.steps is None else args.steps
    save_every = args.save_every or max(1, steps // 40)
    _check_memory_of_scenario(args, methods, sc, steps, save_every)
    tank, prop, _ = _batched(args, sc)
    res = simulate(tank, prop, steps, method=args.method, save_every=save_every, progress=writer, devices=devices,
                   **_stochastic_kw(args.method, args, sc.n_particles))
    if not writer:
        return 0
    if out:
        res.save(out)
        guard.output(out)
    if anim:
        from . import render

        render.animate(res, anim, progress=True)
        guard.output(anim)
    mass = res.mass()
    summary = {"scenario": sc.name, "method": res.method, "steps": int(res.steps[-1]), "frames": len(res.steps),
               "shape": list(tank.shape), "batch_shape": list(res.batch_shape), "elapsed_s": res.elapsed,
               "initial_mass": mass[0].tolist(), "final_mass": mass[-1].tolist(),
               "absorbed": res.absorbed[-1].tolist(), "final_max": float(np.max(res.final)), "out": out,
               "animation": anim}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        batch = f" x {_plural(int(np.prod(res.batch_shape)), 'member')} {tuple(res.batch_shape)}" \
            if res.batch_shape else ""
        print(f"{sc.name}: {res.method}, {_plural(summary['steps'], 'step')}, {_plural(summary['frames'], 'frame')} "
              f"of {tuple(tank.shape)}{batch} in {res.elapsed:.2f} s; mass {np.sum(mass[0]):.6g} -> "
              f"{np.sum(mass[-1]):.6g}" + (" (all members)" if batch else ""))
        for label, path in (("result", out), ("animation", anim)):
            if path:
                print(f"{label}: {path}")
    return 0


def _methods_arg(text, sc_methods):
    if text is None:
        return [m for m in sc_methods if _available(m)]
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise UsageError("--methods is empty; give a comma-separated list")
    _check_methods(names, "")
    return names


def cmd_compare(args, guard):
    from . import compare

    _scenario_name(args)
    methods = None if args.methods is None else _methods_arg(args.methods, ())
    missing = [m for m in methods or () if not _available(m)]
    if missing:
        raise UsageError(f"methods {missing} are not available in this installation")
    if args.reference is not None:
        _check_methods([args.reference], "")
    _check_channels(args)
    devices = _devices_arg(args)
    writer = _writes(args)
    anim = _check_file(args.animate, (".gif", ".mp4"), "--animate") if writer else None
    # before building: the methods named, or at least one (the scenario says which apply once built)
    _check_memory_of_args(args, list(dict.fromkeys((methods or ["propagator"]) + [args.reference or "propagator"])))
    _join(args)  # a job of several processes forms here, once every argument is checked
    sc = _scenario(args)
    methods = methods or _methods_arg(None, sc.methods)
    reference = args.reference or (sc.reference if sc.reference in methods else methods[0])
    steps = sc.steps if args.steps is None else args.steps
    save_every = args.save_every or max(1, steps // 40)
    _check_memory_of_scenario(args, list(dict.fromkeys([reference] + methods)), sc, steps, save_every)
    tank, prop, _ = _batched(args, sc)
    cmp = compare(tank, prop, steps, methods=methods, reference=reference, save_every=save_every,
                  n_particles=args.particles or sc.n_particles if any(m in ("particles", "counts") for m in methods)
                  else None, seed=args.seed, progress=writer, devices=devices)
    if not writer:
        return 0
    if anim:
        from . import render

        render.animate(cmp, anim, progress=True)
        guard.output(anim)
    print(cmp.to_json() if args.json else cmp.to_markdown())
    return 0


def demo_problem(smoke=False, seed=0):
    """The demo's problem: the 256x256 tank split into 16 x 16 compartments of random concentration, the box blur.

    Returns ``(tank, prop, steps, save_at)``: frames at logarithmically spaced steps
    (1, 2, 3, ... up to ``steps``), so that the motion shows through the whole
    animation, from the first steps that blur the boards to the last that even
    out the tank.
    """
    import numpy as np

    from .propagator import Propagator
    from .tank import Tank

    size, steps, nframes = (32, 40, 12) if smoke else (256, 1000, 40)
    values = np.random.default_rng(seed).random((16, 16))
    tank = Tank.partitioned(values, cell=size // 16)
    save_at = np.unique(np.round(np.geomspace(1, steps, nframes)).astype(int))[:-1].tolist()
    return tank, Propagator.box(3, ndim=2), steps, save_at


def cmd_demo(args, guard):
    from . import _io, compare, render

    try:
        out, exists = _io.check_folder(args.out, "--out")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tank, prop, steps, save_at = demo_problem(args.smoke, args.seed)
    methods = [m for m in DEMO_METHODS if _available(m)]
    n_particles = args.particles or (10**4 if args.smoke else 5 * 10**5)
    print(f"demo: the {tank.shape[0]}x{tank.shape[1]} tank split into 16 x 16 compartments, {steps} steps of the "
          f"box blur (m = 9) by {', '.join(methods)}; frames at logarithmically spaced steps", file=sys.stderr)
    cmp = compare(tank, prop, steps, methods=methods, reference="propagator", save_at=save_at,
                  n_particles=n_particles if "particles" in methods else None, seed=args.seed, progress=True)
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
    nframes = len(cmp.results["propagator"].steps)
    render.plot_profiles(cmp, os.path.join(out, "profiles.png"), reduce="middle", panels=True,
                         times=sorted({0, nframes // 4, nframes // 2, (3 * nframes) // 4, nframes - 1}),
                         title=f"the middle row of the tank at five times ({steps} steps of the box blur)")
    written("profiles.png")
    render.animate(cmp, os.path.join(out, "tank.gif"), fps=6, dpi=100 if not args.smoke else 40, progress=True)
    written("tank.gif")
    print(cmp.to_markdown())
    print(f"\nwritten to {out}: tank.gif, comparison.md, comparison.json, profiles.png")
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
    member = None if args.member is None else \
        indices("--member", args.member, 0, "an index >= 0 per batch axis (I or I,J)")
    if not os.path.isfile(args.frames):
        what = "is a folder" if os.path.isdir(args.frames) else "does not exist"
        raise UsageError(f"frames file {args.frames!r} {what}")
    try:
        from .learn import fit_file
    except ImportError as exc:
        raise UsageError(f"fit is not available: {exc}") from None
    fit = fit_file(args.frames, radius=radius, steps_between=args.steps_between, member=member)
    print(json.dumps(fit.to_dict(), indent=2) if args.json else fit.summary())
    return 0


def _bench_root():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return here if os.path.isdir(os.path.join(here, "benchmarks")) else None


def cmd_bench(args, guard):
    root = _bench_root()
    if root is None:
        raise UsageError("the benchmarks are not installed with the package; run `diffusion-conv bench` from a "
                         "source checkout installed with `pip install -e .`")
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


def _job():
    devices = sys.modules.get(f"{__package__ or 'diffusion_conv'}._devices")
    return None if devices is None else devices.joined()


def _job_error(exc):
    """The line for an unexpected error in a job: a collective that lost its peer says so."""
    text = (str(exc).splitlines() or [""])[0]
    if any(w in text for w in ("Gloo", "Connection reset", "Connection closed", "NCCL", "peer")):
        for prefix in ("INTERNAL: ", "UNAVAILABLE: ", "Error dispatching computation: "):
            text = text[len(prefix):] if text.startswith(prefix) else text
        return (f"{PROG}: error: the computation lost another process of the job (it died or was killed; its own "
                f"output says why): {text[:300]}")
    return f"{PROG}: error: {type(exc).__name__}: {text}"


def _failed(line, code, printed=False) -> int:
    """Print the line of a failed command and return its exit code.

    In a job of several processes the others learn of it and stop too, and this
    process ends here (see :class:`diffusion_conv._devices._Job`); if another
    process failed first (this one then failed for want of it), its line is
    printed instead.
    """
    job = _job()
    if job is None:
        print(line, file=sys.stderr)
        return code
    said = job.failed(code, line)
    while said is None:  # the job's watcher is already ending this process for another's failure
        import threading

        threading.Event().wait(60.0)
    if not printed or said != (line, code):
        print(said[0], file=sys.stderr)
    job.leave(said[1])  # ends the process
    return said[1]


COMMANDS = {"demo": cmd_demo, "run": cmd_run, "compare": cmd_compare, "scenarios": cmd_scenarios,
            "fit": cmd_fit, "bench": cmd_bench}


def main(argv=None) -> int:
    """Run the command; returns the exit code (0 success, 2 bad input, 130 or 143 interrupted).

    Parameters
    ----------
    argv : list of str, optional
        The arguments; None reads ``sys.argv`` and means this process exists to
        run the command: after SIGINT or SIGTERM the process then ends at once
        (``os._exit``) once the files are removed, instead of returning, because
        JAX's exit handlers would wait for the computations already dispatched.
        With ``argv`` given (a call from another program) the code is returned.
    """
    from . import _interrupt

    parser = build_parser()
    with _interrupt.command_guard(hard_exit=argv is None, prog=PROG) as guard:
        try:
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help()
                return 0
            if getattr(args, "x64", False):
                import jax

                jax.config.update("jax_enable_x64", True)
            return COMMANDS[args.command](args, guard)
        except UsageError as exc:
            return _failed(f"{PROG}: error: {exc}" if not str(exc).startswith(PROG) else f"{exc}", 2)
        except (ValueError, TypeError, ImportError) as exc:  # the library's own input checks
            return _failed(f"{PROG}: error: {exc}".splitlines()[0], 2)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (see diffusion_conv._interrupt)
            print(f"{PROG}: interrupted", file=sys.stderr)
            code = guard.interrupted(exc)
            if _job() is not None:  # the files are removed: the other processes stop with this one
                _failed(f"{PROG}: interrupted", code, printed=True)
            return code
        except Exception as exc:  # noqa: BLE001 - in a job: the others must learn of it (alone: a traceback)
            if _job() is None:
                raise
            return _failed(_job_error(exc), 1)


if __name__ == "__main__":
    sys.exit(main())

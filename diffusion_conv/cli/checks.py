"""Checks of the command's inputs made before any work: files, scenarios, methods, memory."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from .parser import UsageError


def batched(args, sc):
    """The problem's tank and kernel with ``--temperatures`` applied: ``(tank, prop, labels)``.

    ``sc`` is the run's problem (:func:`diffusion_conv.cli.inputs.problem`: with ``--channels`` its
    tank already holds one member per colour channel); a bank of kernels is made of its kernel.
    """
    from .. import scenarios

    tank, prop, labels = sc.tank, sc.propagator, None
    temps = getattr(args, "temperatures", None)
    if temps:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                prop, labels = scenarios.temperature_bank(prop, temps)
            except ValueError as exc:
                raise UsageError(f"--temperatures: {exc}") from None
        for w in caught:  # e.g. identical members: a uniform kernel is uniform at every temperature
            print(f"diffusion-conv: warning: {str(w.message).splitlines()[0]}", file=sys.stderr)
        if tank.batch_shape:
            tank = tank.reshape_batch(tank.batch_shape + (1,))
    return tank, prop, labels


def batch_pictures(args, labels):
    """How the pictures draw a batch run: colour channels as one colour picture, members by what they mean."""
    channels = bool(getattr(args, "channels", False))
    if not channels and labels is None:
        return {}
    axes = ([None] if channels else []) + ([labels] if labels is not None else [])
    return {"channels": 0 if channels else None, "labels": axes}


def check_file(path, suffixes, what):
    """``path`` checked for writing (suffix, folder, name length, a test file); UsageError otherwise."""
    from .. import _io

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
            from ..render import VIDEO_HINT

            raise UsageError(VIDEO_HINT) from None
    return path


def scenario_name(args):
    """The scenario's name (None is allowed: a field of one's own, checked by the inputs) and ``--size``."""
    from .. import scenarios

    if args.scenario is not None and args.scenario not in scenarios.names():
        raise UsageError(f"scenario {args.scenario!r} is unknown; valid: {', '.join(scenarios.names())}")
    if args.size is not None and args.size < 8:
        raise UsageError(f"--size must be at least 8, got {args.size}")


def check_methods(names, allowed):
    from ..methods import names as registered

    known = registered()
    for m in names:
        if m not in known and not (allowed == "auto" and m == "auto"):
            raise UsageError(f"method {m!r} is unknown; allowed: {', '.join(known)}")


def available(method):
    """Whether ``method`` is registered (the built-in methods and any registered since)."""
    from ..methods import names

    return method in names()


def is_stochastic(method):
    """Whether a registered method samples (needs a key and a particle count)."""
    from ..methods import get

    return method != "auto" and get(method).stochastic


def stochastic_kw(method, args, default_n):
    from ..methods import get

    if method == "auto" or not get(method).stochastic:
        return {}
    import jax

    return dict(n_particles=args.particles or default_n, key=jax.random.key(args.seed))


def memory_available():
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


def frame_count(steps, save_every):
    if save_every is None or steps == 0:
        return 2
    return steps // save_every + 1 + (steps % save_every != 0)


def estimate(cells, nframes, methods, n_particles, kernel_size, itemsize):
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


def size_text(n):
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 2**10:.3g} KiB"


def check_memory(args, methods, size, cells, nframes, n_particles, kernel_size):
    """UsageError when the run's estimated memory exceeds what is available, naming the option to change."""
    import jax

    available = memory_available()
    if available is None:
        return
    parts = estimate(cells, nframes, methods, n_particles, kernel_size, 8 if jax.config.jax_enable_x64 else 4)
    need = sum(parts.values())
    if need <= available:
        return
    head = (
        f"the run needs about {size_text(need)} of memory ({cells} cells, {nframes} frames, "
        f"{plural(len(methods), 'method')}), more than the {size_text(available)} available"
    )
    worst = max(parts, key=parts.get)
    if worst == "particles":
        most = int(max(0, available - parts["grid"] - parts["frames"]) // 32)
        raise UsageError(f"--particles {n_particles}: {head}; use --particles {most} or fewer")
    if worst == "frames" and args.save_every is not None:
        raise UsageError(f"--save-every {args.save_every}: {head}; save fewer frames (a larger --save-every)")
    most = int(size * (available / need) ** 0.5)
    fix = f"use --size {most} or less" if most >= 8 else "save fewer frames (a larger --save-every)"
    raise UsageError(f"--size {size}: {head}; {fix}")


def check_memory_of_args(args, methods):
    """The memory check before the scenario is built, from the arguments alone."""
    from .. import scenarios

    size = args.size or scenarios.default_size(args.scenario)
    cells = size * size
    if args.steps is not None:
        nframes = frame_count(args.steps, args.save_every or max(1, args.steps // 40))
    else:  # the scenario's steps are known once it is built; by default about 41 frames are saved
        nframes = 41 if args.save_every is None else 2
    check_memory(args, methods, size, cells, nframes, args.particles or 10 * cells, 49)


def check_memory_of_scenario(args, methods, sc, steps, save_every):

    cells = int(np.prod(sc.tank.shape))
    check_memory(
        args,
        methods,
        args.size or max(sc.tank.shape),
        cells,
        frame_count(steps, save_every),
        args.particles or sc.n_particles,
        int(np.size(sc.propagator.weights)),
    )


def check_memory_first(args, methods):
    """The memory check from the arguments alone, before any file is read or anything is built.

    A scenario's grid is known from its name and ``--size``; so is a picture's that ``--size``
    resamples (``SIZE x SIZE``, as the ``image`` scenario's). A field read as it is gets its check
    once read (:func:`check_memory_of_scenario`).
    """
    import argparse

    if args.scenario is not None:
        check_memory_of_args(args, methods)
    elif getattr(args, "image", None) is not None and args.size is not None:
        check_memory_of_args(argparse.Namespace(**{**vars(args), "scenario": "image"}), methods)


def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def methods_arg(text, sc_methods):
    if text is None:
        return [m for m in sc_methods if available(m)]
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise UsageError("--methods is empty; give a comma-separated list")
    check_methods(names, "")
    return names

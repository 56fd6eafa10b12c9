"""Checks of the command's inputs made before any work: files, scenarios, methods, memory."""

from __future__ import annotations

import sys
import warnings

import numpy as np

from .. import _io, _memory, scenarios
from ..methods import auto_names, get, names
from ..methods import names as registered
from ..methods.base import Sizes
from ..render import VIDEO_HINT
from .parser import UsageError


def batched(args, sc):
    """The problem's tank and kernel with ``--temperatures`` applied: ``(tank, prop, labels)``.

    ``sc`` is the run's problem (:func:`diffusion_conv.cli.inputs.problem`: with ``--channels`` its
    tank already holds one member per colour channel); a bank of kernels is made of its kernel.
    """

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
            raise UsageError(VIDEO_HINT) from None
    if path.lower().endswith(".nc"):
        try:
            import xarray  # noqa: F401
        except ImportError:
            raise UsageError(
                f"{what} {path!r}: netCDF output needs xarray (pip install 'diffusion-conv[xarray]')"
            ) from None
    return path


def scenario_name(args):
    """The scenario's name (None is allowed: a field of one's own, checked by the inputs) and ``--size``."""
    if args.scenario is not None and args.scenario not in scenarios.names():
        raise UsageError(f"scenario {args.scenario!r} is unknown; valid: {', '.join(scenarios.names())}")
    if args.size is not None and args.size < 8:
        raise UsageError(f"--size must be at least 8, got {args.size}")


def check_methods(names, allowed):
    known = registered()
    for m in names:
        if m not in known and not (allowed == "auto" and m == "auto"):
            raise UsageError(f"method {m!r} is unknown; allowed: {', '.join(known)}")


def available(method):
    """Whether ``method`` is registered (the built-in methods and any registered since)."""
    return method in names()


def is_stochastic(method):
    """Whether a registered method samples (needs a key and a particle count)."""
    return method != "auto" and get(method).stochastic


def stochastic_kw(method, args, default_n):
    if method == "auto" or not get(method).stochastic:
        return {}
    import jax

    return dict(n_particles=args.particles or default_n, key=jax.random.key(args.seed))


def frame_count(steps, save_every):
    if save_every is None or steps == 0:
        return 2
    return steps // save_every + 1 + (steps % save_every != 0)


BUILD_FIELDS = 3
"""Float64 fields of the grid's size a problem takes while it is built (a scenario's field, a picture read)."""


def estimate(methods, sizes, nframes, n_particles, itemsize, members=1):
    """Bytes of a run of ``methods`` one after another, by part: what each method says it holds
    (:meth:`diffusion_conv.methods.Method.memory`, summed: a comparison keeps every method's frames; for
    ``'auto'`` the largest of the methods it may run) and ``build``, the problem's field while it is built."""

    def own(m):
        n = n_particles if m.stochastic else None
        return m.memory(sizes, dict(m.options), n, nframes, members, itemsize)

    parts = {"build": BUILD_FIELDS * sizes.cells * 8}
    for name in methods:
        tried = [own(get(n)) for n in (auto_names() if name == "auto" else (name,))]
        for part, size in max(tried, key=lambda p: sum(p.values())).items():
            parts[part] = parts.get(part, 0) + int(size)
    return parts


def check_memory(args, methods, size, sizes, nframes, n_particles, members=1):
    """UsageError when the run's estimated memory exceeds what is available, naming the option to change.

    The estimate is the methods' own, the memory available the one :func:`diffusion_conv.simulate`
    reads (``DIFFUSION_CONV_MEMORY_LIMIT`` where set), in the same binary units.
    """
    import jax

    available = _memory.available_bytes()
    if available is None:
        return
    parts = estimate(methods, sizes, nframes, n_particles, 8 if jax.config.jax_enable_x64 else 4, members)
    need = sum(parts.values())
    if need <= 0.9 * available:
        return
    head = (
        f"the run needs about {_memory.size_text(need)} of memory ({sizes.cells} cells, {nframes} frames, "
        f"{plural(len(methods), 'method')}), more than the {_memory.size_text(available)} available"
    )
    worst = max(parts, key=parts.__getitem__)
    if worst == "particles" and n_particles:
        per_particle = parts["particles"] / n_particles
        most = int(max(0, 0.9 * available - (need - parts["particles"])) // per_particle)
        raise UsageError(f"--particles {n_particles}: {head}; use --particles {most} or fewer")
    if worst in ("frames", "extras") and args.save_every is not None:
        raise UsageError(f"--save-every {args.save_every}: {head}; save fewer frames (a larger --save-every)")
    most = int(size * (0.9 * available / need) ** 0.5)
    fix = f"use --size {most} or less" if most >= 8 else "save fewer frames (a larger --save-every)"
    raise UsageError(f"--size {size}: {head}; {fix}")


def check_memory_of_args(args, methods):
    """The memory check before the scenario is built, from the arguments alone (a kernel of 7 x 7, no walls)."""
    size = args.size or scenarios.default_size(args.scenario)
    cells = size * size
    if args.steps is not None:
        nframes = frame_count(args.steps, args.save_every or max(1, args.steps // 40))
    else:  # the scenario's steps are known once it is built; by default about 41 frames are saved
        nframes = 41 if args.save_every is None else 2
    check_memory(args, methods, size, Sizes((size, size), (7, 7)), nframes, args.particles or 10 * cells)


def check_memory_of_scenario(args, methods, sc, steps, save_every):
    """The memory check once the problem is built: its grid, kernel, walls and members."""
    members = int(np.prod(sc.tank.batch_shape)) * max(1, len(getattr(args, "temperatures", None) or ()))
    check_memory(
        args,
        methods,
        args.size or max(sc.tank.shape),
        Sizes.of(sc.tank, sc.propagator),
        frame_count(steps, save_every),
        args.particles or sc.n_particles,
        members,
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

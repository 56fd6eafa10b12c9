"""The argument parser of the ``diffusion-conv`` command (the types of its options are in :mod:`.types`)."""

from __future__ import annotations

import argparse

from .. import __version__
from ..methods import names
from ..scenarios import KERNELS
from .types import (
    BOUNDARY_NAMES,
    KERNEL_FILES,
    MAX_SEED,
    MAX_STEPS,
    boundary_arg,
    cell_arg,
    every_arg,
    kernel_arg,
    nonnegative,
    positive,
    seconds,
    seed_arg,
    steps_arg,
    temperature_arg,
    temperatures,
)
from .usage import PROG, UsageError


class Parser(argparse.ArgumentParser):
    """The command's parsers: errors in one line, and no option taken from a prefix of its name."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --temperature must not be read as --temperatures
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, no usage block
        raise UsageError(f"{self.prog}: {message}")

    def parse_known_args(self, args=None, namespace=None):
        """As argparse's, and for a parser with ``track_given`` set: ``given``, the options on its command line.

        ``given`` lists the destinations of the options that were given (a flag that equals its default
        included), so that ``--config`` can tell them from defaults: a flag always overrides the file.
        """
        parsed, rest = super().parse_known_args(args, namespace)
        if getattr(self, "track_given", False) and args is not None:
            unset = object()
            probe = argparse.Namespace(
                **{a.dest: unset for a in self._actions if a.dest != argparse.SUPPRESS and a.option_strings}
            )
            super().parse_known_args(list(args), probe)
            parsed.given = sorted(k for k, v in vars(probe).items() if v is not unset and k != "given")
        return parsed, rest


def own_inputs() -> argparse.ArgumentParser:
    """The options of ``run`` and ``compare`` that bring one's own field, walls and kernel, and ``--config``."""

    own = argparse.ArgumentParser(add_help=False)
    own.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="read the options from a TOML file (keys: the long options, with dashes or underscores; paths "
        "relative to the file's folder); options given here override it. Every run that writes an output "
        "also writes NAME.toml beside it: --config NAME.toml repeats the run bit for bit",
    )
    own.add_argument(
        "--image",
        default=None,
        metavar="PATH",
        help="a picture (PNG, JPEG, ...) as the initial field: its brightness (luma of a colour picture; "
        "each channel with --channels) in [0, 1]; --size resamples it to SIZE x SIZE",
    )
    own.add_argument(
        "--initial",
        default=None,
        metavar="FILE.npy",
        help="a 1-D, 2-D or 3-D array (numpy.save) as the initial field, taken as it is",
    )
    own.add_argument(
        "--walls",
        default=None,
        metavar="FILE",
        help="solid cells, the field's shape: a .npy mask (bool, or 0 and 1: 1 = wall) or a black-and-white "
        "picture (dark = wall: brightness below 0.5); the walls displace the water in them (those cells "
        "start at 0)",
    )
    own.add_argument(
        "--mobility",
        default=None,
        metavar="FILE",
        help="how freely the salt moves in each cell, the field's shape: a .npy array of values in [0, 1] "
        "(1 open water, 0 solid, between: a gel or a porous board) or a grey picture (brightness = "
        "mobility: white open water, black solid); taken by the methods that take a mobility map "
        "(propagator, particles, counts), which the run keeps",
    )
    own.add_argument(
        "--kernel",
        default=None,
        type=kernel_arg,
        metavar="NAME[:PARAM]|FILE",
        help="the kernel: "
        + "; ".join(KERNELS.values())
        + f"; or a {' or '.join(KERNEL_FILES)} array with odd sizes, of the field's dimension "
        "(default: the scenario's; box:3 without one)",
    )
    own.add_argument(
        "--temperature",
        default=None,
        type=temperature_arg,
        metavar="T",
        help="softmax temperature of the kernel, in [1e-6, 1e6] (default 1): a blur (gaussian, box, the "
        "scenario's kernel) as softmax(log(K) / T), a signed kernel or a file as softmax(K / T)",
    )
    own.add_argument(
        "--normalize",
        default=None,
        choices=("softmax", "sum"),
        help="how --kernel becomes a jump distribution: softmax (default) or sum (K / sum(K): a kernel "
        "with no negative entries, temperature 1)",
    )
    own.add_argument(
        "--boundary",
        default=None,
        type=boundary_arg,
        metavar="B|B0,B1,...",
        help=f"{', '.join(BOUNDARY_NAMES)}: one for every axis or one per axis (default: the scenario's; "
        "reflect without one)",
    )
    own.add_argument("--dx", default=None, type=cell_arg, help="cell width (default 1)")
    own.add_argument("--dt", default=None, type=cell_arg, help="time step: frame times are steps * dt (default 1)")
    return own


def method_names() -> tuple[str, ...]:
    """Every registered method (the built-in ones and any registered since)."""

    return names()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``diffusion-conv`` command."""

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--x64", action="store_true", help="compute in float64 (JAX x64 mode)")
    common.add_argument(
        "--seed", type=seed_arg, default=0, help=f"seed of the stochastic methods, 0 to {MAX_SEED} (default 0)"
    )
    common.add_argument(
        "--particles", type=positive, default=None, metavar="N", help="number of particles of the stochastic methods"
    )
    common.add_argument(
        "--no-cache",
        action="store_true",
        help="compile without JAX's persistent compilation cache (also: DIFFUSION_CONV_NO_CACHE=1)",
    )

    parser = Parser(
        prog=PROG,
        description="Diffusion as convolution: a kernel as a particle's propagator, "
        "checked against particles, image convolution and the heat equation.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="the 256x256 partitioned tank through all six methods: the story animation, "
        "profiles and the comparison table",
    )
    p.add_argument(
        "--out", default="diffusion-conv-demo", metavar="DIR", help="output folder (default ./diffusion-conv-demo)"
    )
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="also write dashboard.gif: every method's panel and its difference to the propagator",
    )
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)

    scale = argparse.ArgumentParser(add_help=False)
    scale.add_argument(
        "--devices",
        default=None,
        metavar="all|N",
        help="run on these devices: 'all' (every device of every process) or the first N; a batch is "
        "spread over them, one grid split along axis 0 (propagator, counts, particles)",
    )
    scale.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="one job over several processes or hosts: the address of process 0 "
        "(jax.distributed.initialize); process 0 writes every output",
    )
    scale.add_argument("--num-processes", type=positive, default=None, metavar="N", help="processes in the job")
    scale.add_argument("--process-id", type=nonnegative, default=None, metavar="I", help="this process (0 .. N-1)")
    scale.add_argument(
        "--join-timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="how long a process waits for the whole job to form before it stops with exit code 2 (default 120)",
    )

    batch = argparse.ArgumentParser(add_help=False)
    batch.add_argument(
        "--channels",
        action="store_true",
        help="a picture in colour (the image scenario's, or --image): one tank per channel (red, green, blue) "
        "in one run",
    )
    batch.add_argument(
        "--temperatures",
        default=None,
        metavar="T1,T2,...",
        type=temperatures,
        help="a bank of kernels: the kernel (--kernel, or the scenario's) as a softmax at each temperature, in one run",
    )

    own = own_inputs()
    commands = {}

    p = sub.add_parser(
        "run",
        parents=[common, own, batch, scale],
        help="run one method on a scenario, or on a field of one's own (--image, --initial)",
    )
    p.track_given = True  # type: ignore[attr-defined]  # --config: flags given override the file
    commands["run"] = p
    p.add_argument(
        "scenario",
        nargs="?",
        default=None,
        metavar="SCENARIO",
        help="scenario name (see `diffusion-conv scenarios`); optional with --image or --initial",
    )
    p.add_argument("--method", default="auto", help=f"{', '.join(method_names())} or auto")
    p.add_argument(
        "--steps",
        type=steps_arg,
        default=None,
        help=f"number of steps, at most 2**31 - 1 = {MAX_STEPS} (default: the scenario's)",
    )
    p.add_argument("--save-every", type=every_arg, default=None, metavar="K", help="save a frame every K steps")
    p.add_argument("--size", type=positive, default=None, help="grid side (default: the scenario's)")
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.npz|FILE.nc",
        help="write the result (.npz, or netCDF with xarray; Result.load reads both)",
    )
    p.add_argument("--animate", default=None, metavar="FILE", help="write an animation (.gif, or .mp4)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    p = sub.add_parser(
        "compare",
        parents=[common, own, batch, scale],
        help="run several methods on a scenario (or a field of one's own) and compare them",
    )
    p.track_given = True  # type: ignore[attr-defined]
    commands["compare"] = p
    p.add_argument(
        "scenario",
        nargs="?",
        default=None,
        metavar="SCENARIO",
        help="scenario name; optional with --image or --initial",
    )
    p.add_argument("--methods", default=None, help="comma-separated methods (default: all that apply)")
    p.add_argument("--reference", default=None, help="the method the others are measured against")
    p.add_argument("--steps", type=steps_arg, default=None, help=f"number of steps, at most {MAX_STEPS}")
    p.add_argument("--save-every", type=every_arg, default=None, metavar="K", help="save a frame every K steps")
    p.add_argument("--size", type=positive, default=None, help="grid side")
    p.add_argument("--animate", default=None, metavar="FILE", help="write an animation (.gif, or .mp4)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")

    p = sub.add_parser("scenarios", help="list the scenarios, one line each")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = sub.add_parser("fit", help="recover a kernel from saved frames")  # no --seed or --particles: no sampling
    p.add_argument("--x64", action="store_true", help="compute in float64 (JAX x64 mode)")
    p.add_argument("--no-cache", action="store_true", help="compile without the persistent compilation cache")
    p.add_argument("frames", metavar="FRAMES.npz", help="a result file written by `run --out`")
    p.add_argument(
        "--radius",
        default="1",
        metavar="R|R0,R1,...",
        help="kernel radius to fit: R along every axis the frames vary along (0 along an axis where "
        "every frame is constant: its jumps leave no trace), or one per axis (default 1)",
    )
    p.add_argument(
        "--steps-between",
        type=positive,
        default=None,
        metavar="N",
        help="steps between consecutive frames (default: read from the file, each pair its own)",
    )
    p.add_argument(
        "--member",
        default=None,
        metavar="I[,J]",
        help="which member of a batch result (--temperatures, --channels, a stack) to fit: one index "
        "per batch axis, from 0",
    )
    p.add_argument("--json", action="store_true", help="print the fit as JSON")

    p = sub.add_parser("bench", help="run the benchmarks (needs a source checkout)")
    p.add_argument(
        "names", nargs="*", help="which ones (default all: the list in benchmarks/__init__.py of a source checkout)"
    )
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.commands = commands  # type: ignore[attr-defined]  # the parsers of run and compare, for --config
    return parser


def command_parser(name) -> argparse.ArgumentParser:
    """The parser of command ``name`` (``'run'`` or ``'compare'``): what a config file's values go through."""
    return build_parser().commands[name]  # type: ignore[attr-defined]

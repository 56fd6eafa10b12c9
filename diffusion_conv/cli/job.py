"""One command run by several processes: the arguments of the job, forming it, and ending it together."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import distributed
from .types import integer
from .usage import PROG, UsageError


def devices_arg(args):
    """``--devices`` as ``simulate`` takes it (None, 'all' or a count), and the job's options checked.

    Nothing joins here: a job of several processes forms in :func:`join`, once
    every argument is checked (process 0 checks that it can listen at
    ``--coordinator``).
    """
    coordinator = getattr(args, "coordinator", None)
    parts = (coordinator, getattr(args, "num_processes", None), getattr(args, "process_id", None))
    if any(p is not None for p in parts):
        if any(p is None for p in parts):
            raise UsageError(
                "--coordinator, --num-processes and --process-id go together (the arguments of "
                "jax.distributed.initialize)"
            )
        if args.process_id >= args.num_processes:
            raise UsageError(
                f"--process-id must be below --num-processes ({args.num_processes}), got {args.process_id}"
            )
        try:
            distributed.check_coordinator(coordinator, args.process_id)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    elif getattr(args, "join_timeout", None) is not None:
        raise UsageError(
            "--join-timeout applies to a job of several processes (with --coordinator, "
            "--num-processes and --process-id)"
        )
    text = getattr(args, "devices", None)
    if text is None:
        return "all" if coordinator is not None else None
    if text == "all":
        return "all"
    try:
        return integer(text, 1, 2**20, "'all' or a number of devices")
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--devices: {exc}") from None


def writes(args):
    """Whether this process writes the outputs: process 0 of a job (every single process is one)."""
    return getattr(args, "process_id", None) in (None, 0)


LOCAL_OPTIONS = ("out", "animate", "json", "process_id", "join_timeout", "coordinator")
"""Options that may differ between the processes of a job: the outputs (written by process 0 alone), the id,
the wait, and the coordinator's address (a name on one host, a number on another: they met there)."""


def join(args):
    """Form the job of several processes (nothing for one process), after every argument is checked.

    Every process then compares its run (the command, the scenario and every
    option but :data:`LOCAL_OPTIONS`, and the package's version) with the
    others'; a difference ends every process with a line that names it.
    """
    if getattr(args, "coordinator", None) is None:
        return

    description = {"the command": args.command, "diffusion_conv's version": __version__}
    for name, value in vars(args).items():
        if name not in LOCAL_OPTIONS and name != "command":
            description["the scenario" if name == "scenario" else "--" + name.replace("_", "-")] = value
    timeout = distributed.JOIN_TIMEOUT if args.join_timeout is None else args.join_timeout
    distributed.join(
        args.coordinator, args.num_processes, args.process_id, description=description, timeout=timeout, prog=PROG
    )


def current_job():
    return distributed.joined()


def job_error(exc):
    """The line for an unexpected error in a job: a collective that lost its peer says so."""
    text = (str(exc).splitlines() or [""])[0]
    if any(w in text for w in ("Gloo", "Connection reset", "Connection closed", "NCCL", "peer")):
        for prefix in ("INTERNAL: ", "UNAVAILABLE: ", "Error dispatching computation: "):
            text = text[len(prefix) :] if text.startswith(prefix) else text
        return (
            f"{PROG}: error: the computation lost another process of the job (it died or was killed; its own "
            f"output says why): {text[:300]}"
        )
    return f"{PROG}: error: {type(exc).__name__}: {text}"


def failed(line, code, printed=False) -> int:
    """Print the line of a failed command and return its exit code.

    In a job of several processes the others learn of it and stop too, and this
    process ends here (see :class:`diffusion_conv.cli.distributed._Job`); if another
    process failed first (this one then failed for want of it), its line is
    printed instead.
    """
    job = current_job()
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

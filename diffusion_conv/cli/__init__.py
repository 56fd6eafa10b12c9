"""The ``diffusion-conv`` command.

Subcommands: ``demo``, ``run``, ``compare``, ``scenarios``, ``fit``, ``bench``
(``diffusion-conv SUBCOMMAND --help`` for each). Bad input gives exit code 2 and
one line on stderr, before any work and before any file is written (outputs are
checked for writability first); every file is written under a temporary name
and renamed. Ctrl-C (SIGINT) and SIGTERM stop every method within about two
seconds with exit code 130 or 143, and the interrupted command leaves none of
its files behind (:mod:`diffusion_conv.cli.guard`, installed here before JAX is
imported). Compiled programs are kept in JAX's persistent cache
(:mod:`diffusion_conv.cache`) unless ``--no-cache`` or ``DIFFUSION_CONV_NO_CACHE=1``.

Layout: :mod:`.parser` (the options), :mod:`.checks` (inputs checked before any
work), :mod:`.commands` (one function per command), :mod:`.job` and
:mod:`.distributed` (one command over several processes), :mod:`.guard`.
"""

from __future__ import annotations

import sys

from .. import cache
from ..errors import InputError
from .guard import command_guard
from .usage import PROG, UsageError

__all__ = ["PROG", "UsageError", "build_parser", "main"]


def build_parser():
    """The argument parser of the ``diffusion-conv`` command (see :mod:`.parser`)."""
    from .parser import build_parser as build

    return build()


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
    with command_guard(hard_exit=argv is None, prog=PROG) as guard:
        # the guard is up before JAX and the library are imported: Ctrl-C works from the start
        from . import commands, job

        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help()
                return 0
            import jax

            if getattr(args, "x64", False):
                jax.config.update("jax_enable_x64", True)
            if not getattr(args, "no_cache", False) and not cache.disabled_by_environment():
                cache.enable_compile_cache()
            return commands.COMMANDS[args.command](args, guard)
        except UsageError as exc:
            return job.failed(f"{PROG}: error: {exc}" if not str(exc).startswith(PROG) else f"{exc}", 2)
        except InputError as exc:  # the library's own input checks; any other error is a bug and shows as one
            return job.failed(f"{PROG}: error: {exc}".splitlines()[0], 2)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (see diffusion_conv.cli.guard)
            print(f"{PROG}: interrupted", file=sys.stderr)
            code = guard.interrupted(exc)
            if job.current_job() is not None:  # the files are removed: the other processes stop with this one
                job.failed(f"{PROG}: interrupted", code, printed=True)
            return code
        except Exception as exc:  # noqa: BLE001 - in a job: the others must learn of it (alone: a traceback)
            if job.current_job() is None:
                raise
            return job.failed(job.job_error(exc), 1)

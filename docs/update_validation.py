"""Regenerate the measured tables of docs/validation.md from the simulation scripts' own reports.

Every measured block of ``validation.md`` sits between two markers::

    <!-- report: two_compartment.md | python simulations/two_compartment.py -->
    ... (written by this tool: the report the command wrote, as it wrote it) ...
    <!-- end report -->

This tool runs each command at its full size (a ``simulations/`` script gets
``--out`` a temporary folder and its report file is read back; a
``diffusion-conv`` command's standard output is the report), and replaces the
text between the markers with the report, so that no number in those blocks is
typed by hand or goes stale: rerun it after a change that moves them.

    python docs/update_validation.py [--only NAME ...] [--doc docs/validation.md]

It writes the page under a temporary name and renames it when complete.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = re.compile(r"<!-- report: (?P<name>[^|]+?) \| (?P<command>.+?) -->\n(?P<body>.*?)<!-- end report -->", re.S)


def blocks(text):
    """``[(name, command, body, span), ...]`` of the marked blocks of a page."""
    return [(m["name"].strip(), m["command"].strip(), m["body"], m.span()) for m in MARK.finditer(text)]


def run(name, command, timeout=3600):
    """Run one block's command and return its report (the report file, or the standard output)."""
    argv = shlex.split(command)
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("JAX_ENABLE_X64", None)
    with tempfile.TemporaryDirectory() as out:
        if argv[0] == "python":
            argv = [sys.executable] + argv[1:] + ["--out", out]
        elif argv[0] == "diffusion-conv":
            argv = [sys.executable, "-m", "diffusion_conv.cli"] + argv[1:]
        else:
            raise SystemExit(f"{name}: a block's command starts with 'python' or 'diffusion-conv', got {command!r}")
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
        if proc.returncode:
            raise SystemExit(f"{name}: {command} failed:\n{proc.stderr[-3000:]}")
        path = os.path.join(out, name)
        report = open(path).read() if os.path.isfile(path) else proc.stdout
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return report.strip() + "\n"


def update(doc, only=None):
    text = open(doc).read()
    found = blocks(text)
    if not found:
        raise SystemExit(f"{doc} has no marked blocks")
    for name, command, _, _ in reversed(found):  # from the end, so earlier spans stay valid
        if only and name not in only:
            continue
        report = run(name, command)
        name_, command_, _, (a, b) = next(x for x in blocks(text) if x[0] == name)
        text = text[:a] + f"<!-- report: {name_} | {command_} -->\n{report}<!-- end report -->" + text[b:]
    folder = os.path.dirname(os.path.abspath(doc))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".md", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, doc)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", default=os.path.join(ROOT, "docs", "validation.md"))
    parser.add_argument("--only", nargs="+", help="only these blocks (by report name)")
    args = parser.parse_args(argv)
    update(args.doc, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())

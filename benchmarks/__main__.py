"""Run every benchmark and write docs/benchmarks.md.

    python -m benchmarks [--quick] [--only NAME ...] [--no-write]

Each benchmark module times diffusion_conv and its alternative side by side in one
run and returns its figures; this entry point collects them, prints them, and
writes the figures with the machine they were measured on to docs/benchmarks.md
(between the generated-results markers, so the hand-written text stays).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

from benchmarks import MODULES

BEGIN = "<!-- generated results: begin -->"
END = "<!-- generated results: end -->"


def _flatten(d, prefix=""):
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) if len(value) <= 8 else f"[{len(value)} values]"
    return str(value)


def render_markdown(results: dict, quick: bool) -> str:
    lines = [BEGIN, "", f"Measured {time.strftime('%Y-%m-%d')}" + (" with `--quick`" if quick else "") + "."]
    machine = next((r.get("machine") for r in results.values() if isinstance(r, dict) and "machine" in r), None)
    if machine:
        lines += ["", "| machine | |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in machine.items()]
    for name, res in results.items():
        lines += ["", f"### {name}", ""]
        if not isinstance(res, dict):
            lines.append(f"not run: {res}")
            continue
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in _flatten(res) if not k.startswith("machine.")]
    lines += ["", END]
    return "\n".join(lines)


def write_doc(path: str, block: str) -> None:
    text = ""
    if os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n## Results\n\n" if text else "# Benchmarks\n\n## Results\n\n") + block + "\n"
    from diffusion_conv._io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write(text)


def _sections(block):
    """``(head, {name: text})`` of a generated block: the text before the first ``### `` and each section."""
    parts = block.split("\n### ")
    return parts[0], {p.split("\n", 1)[0]: "### " + p for p in parts[1:]}


def _current_block(path):
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        text = fh.read()
    if BEGIN not in text or END not in text:
        return None
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END


def merge(old, new):
    """``new``'s sections in place of ``old``'s of the same name (the others kept, each with its date line)."""
    if old is None:
        return new
    old_head, old_sections = _sections(old.replace("\n" + END, ""))
    head, new_sections = _sections(new.replace("\n" + END, ""))
    date = head.split("Measured ", 1)[1].split(".", 1)[0] if "Measured " in head else "?"
    # the shared head (its date and machine) stays the old run's; each new section says its own
    machine = [row.strip("| ").split(" | ", 1) for row in head.splitlines() if row.startswith("| ")]
    machine = ", ".join(f"{k}: {v}" for k, v in (r for r in machine if len(r) == 2) if k not in ("machine", "---"))
    merged = {k: v.rstrip() + "\n" for k, v in old_sections.items()}
    for k, v in new_sections.items():
        merged[k] = v.rstrip() + f"\n\n(this section measured {date}" + (f" on {machine}" if machine else "") + ")\n"
    return old_head.rstrip() + "\n\n" + "\n".join(merged[k] for k in merged) + "\n" + END


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument("--only", nargs="+", choices=MODULES, help="run only these benchmarks")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--doc", default=os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks.md"))
    args = parser.parse_args(argv)
    results = {}
    for name in args.only or MODULES:
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ImportError as exc:
            results[name] = f"could not be imported ({exc})"
            print(results[name])
            continue
        try:
            results[name] = module.main(["--quick"] if args.quick else [])
        except Exception as exc:  # one broken benchmark does not lose the others' figures
            results[name] = f"failed: {type(exc).__name__}: {exc}"
            print(results[name])
    if not args.no_write:
        block = render_markdown(results, args.quick)
        if args.only:  # a partial run replaces its own sections and keeps the others' figures
            block = merge(_current_block(args.doc), block)
        write_doc(args.doc, block)
        print(f"wrote {os.path.normpath(args.doc)}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])

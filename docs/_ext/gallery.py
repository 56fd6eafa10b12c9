"""A gallery built from ``simulations/``: every script run at ``--smoke`` size in its own process.

For each script (and the ``diffusion-conv demo`` command) the extension runs the
program into ``docs/_build/gallery-run/NAME/`` before Sphinx reads the sources,
two at a time, and writes a page ``docs/gallery/NAME.md`` with the script's
docstring, every picture and animation it wrote, the report it wrote and its
source; ``docs/gallery/index.md`` shows every picture of every script.

Each program runs as the tests run it (a fresh interpreter, ``MPLBACKEND=Agg``,
no ``JAX_ENABLE_X64``): the scripts set process-wide JAX options and end with
``sys.exit``, which executing them inside the Sphinx process (as sphinx-gallery
does) would carry from one script to the next. A run is reused while the script,
``simulations/_script.py`` and the package's files are unchanged (a hash of them
is stored beside the outputs), and JAX's persistent compilation cache in the same
folder makes a rerun after a change compile little again. A script that fails
or writes no picture fails the build.
"""

from __future__ import annotations

import ast
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

PICTURES = (".png", ".gif")
TIMEOUT_S = 900
DEMO = "demo"
DEMO_TITLE = "The demo: the partitioned tank through every method"
DEMO_TEXT = (
    "`diffusion-conv demo` runs the 256x256 tank in 16 x 16 compartments through the propagator, spectral, "
    "particles, image and heat methods and writes an animation of the panels side by side with their "
    "differences to the propagator (`tank.gif`), the profiles and the comparison table. Here at `--smoke` "
    "size; see [the command line](../cli.md)."
)


# -- what to run -------------------------------------------------------------------------------
def scripts(root):
    folder = os.path.join(root, "simulations")
    return sorted(os.path.splitext(f)[0] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))


def command(root, name, out):
    if name == DEMO:
        return [
            sys.executable,
            "-c",
            "import sys; from diffusion_conv.cli import main; sys.exit(main())",
            "demo",
            "--smoke",
            "--out",
            out,
        ]
    return [sys.executable, os.path.join(root, "simulations", f"{name}.py"), "--smoke", "--out", out]


def fingerprint(root, name):
    """A hash of everything a run depends on: the script, the shared helper and the package."""
    h = hashlib.sha256()
    files = [os.path.join(root, "simulations", "_script.py")]
    if name != DEMO:
        files.append(os.path.join(root, "simulations", f"{name}.py"))
    for folder, dirs, names in os.walk(os.path.join(root, "diffusion_conv")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        files += [os.path.join(folder, n) for n in sorted(names) if not n.endswith(".pyc")]
    for path in files:
        h.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as fh:
            h.update(fh.read())
    h.update(sys.version.encode())
    return h.hexdigest()


def run_one(root, run_dir, name):
    """Run one program unless its outputs are current; returns (name, seconds, reused)."""
    out = os.path.join(run_dir, name)
    stamp = os.path.join(run_dir, f"{name}.stamp")
    key = fingerprint(root, name)
    if os.path.isdir(out) and os.path.exists(stamp):
        with open(stamp) as fh:
            if json.load(fh).get("key") == key:
                return name, 0.0, True
    shutil.rmtree(out, ignore_errors=True)
    if os.path.exists(stamp):
        os.remove(stamp)
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    env["MPLBACKEND"] = "Agg"
    # JAX's persistent compilation cache: a rerun after a change to the package compiles little again
    env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(run_dir, "jax-cache"))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    log = os.path.join(run_dir, f"{name}.log")
    start = time.perf_counter()
    with open(log, "w") as fh:
        try:
            proc = subprocess.run(
                command(root, name, out), stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=run_dir, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise ExtensionError(f"gallery: {name} --smoke did not finish within {TIMEOUT_S} s (log: {log})") from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        with open(log) as fh:
            tail = "".join(fh.readlines()[-30:])
        raise ExtensionError(f"gallery: {name} --smoke failed with exit code {proc.returncode}:\n{tail}")
    if not any(f.endswith(PICTURES) for f in os.listdir(out)):
        raise ExtensionError(f"gallery: {name} --smoke wrote no picture into {out}")
    if name == DEMO and not os.path.exists(os.path.join(out, "tank.gif")):
        raise ExtensionError(f"gallery: diffusion-conv demo --smoke wrote no tank.gif into {out}")
    with open(stamp, "w") as fh:
        json.dump({"key": key, "seconds": round(seconds, 1)}, fh)
    return name, seconds, False


def run_all(root, run_dir, names, jobs):
    os.makedirs(run_dir, exist_ok=True)
    history = {}
    for name in names:  # longest first, by the last run's duration
        path = os.path.join(run_dir, f"{name}.stamp")
        if os.path.exists(path):
            with open(path) as fh:
                history[name] = json.load(fh).get("seconds", 0.0)
    order = sorted(names, key=lambda n: -history.get(n, 60.0 if n == DEMO else 30.0))
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, root, run_dir, n) for n in order]
        errors = []
        for fut in concurrent.futures.as_completed(futures):
            try:
                name, seconds, reused = fut.result()
            except ExtensionError as exc:
                errors.append(str(exc))
                continue
            logger.info(f"gallery: {name} {'reused' if reused else f'ran in {seconds:.0f} s'}")
    if errors:
        raise ExtensionError("\n\n".join(errors))
    logger.info(f"gallery: {len(names)} programs ready in {time.perf_counter() - start:.0f} s")


# -- the pages -----------------------------------------------------------------------------------
def markdown(text):
    """A docstring's reStructuredText literals (````x````) as Markdown code spans."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def describe(root, name):
    """(title, body in Markdown) of a script, from its docstring."""
    if name == DEMO:
        return DEMO_TITLE, DEMO_TEXT
    with open(os.path.join(root, "simulations", f"{name}.py")) as fh:
        doc = ast.get_docstring(ast.parse(fh.read())) or name
    paragraphs = doc.strip().split("\n\n")
    title = " ".join(paragraphs[0].split()).rstrip(".")
    return markdown(title), markdown("\n\n".join(paragraphs[1:]))


def report(path):
    """A report written by a script, its headings made into bold lines (the page has its own)."""
    with open(path) as fh:
        lines = fh.read().splitlines()
    return "\n".join(re.sub(r"^#+\s*(.*)$", r"**\1**", line) for line in lines).strip()


def write_if_changed(path, text):
    if os.path.exists(path):
        with open(path) as fh:
            if fh.read() == text:
                return
    with open(path, "w") as fh:
        fh.write(text)


def pictures_of(folder):
    files = sorted(os.listdir(folder))
    return [f for f in files if f.endswith(".gif")] + [f for f in files if f.endswith(".png")]


def write_pages(app, root, run_dir, names):
    gallery = os.path.join(app.srcdir, "gallery")
    os.makedirs(gallery, exist_ok=True)
    chapters = app.config.gallery_chapters
    cards = []
    for name in names:
        src = os.path.join(run_dir, name)
        dst = os.path.join(gallery, name)
        shutil.rmtree(dst, ignore_errors=True)
        os.makedirs(dst)
        pics = pictures_of(src)
        for f in pics:
            shutil.copy2(os.path.join(src, f), os.path.join(dst, f))
        reports = sorted(f for f in os.listdir(src) if f.endswith(".md"))
        title, body = describe(root, name)
        run = (
            "diffusion-conv demo --smoke --out DIR"
            if name == DEMO
            else f"python simulations/{name}.py --smoke --out DIR"
        )
        lines = [
            f"# {title}",
            "",
            body,
            "",
            f"The pictures below were made by `{run}` while this site was built"
            + ("" if name == DEMO else " (without `--smoke` for the full size)")
            + ".",
        ]
        if name in chapters:
            lines += ["", f"This is a chapter of the story: [read it]({chapters[name]})."]
        lines += ["", "## Pictures", ""]
        lines += [f"![{f}]({name}/{f})\n" for f in pics]
        for r in reports:
            lines += ["", f"## What it wrote to `{r}`", "", report(os.path.join(src, r))]
        if name != DEMO:
            lines += [
                "",
                "## Source",
                "",
                f"```{{literalinclude}} ../../simulations/{name}.py",
                ":language: python",
                "```",
            ]
        write_if_changed(os.path.join(gallery, f"{name}.md"), "\n".join(lines) + "\n")
        thumbs = "\n".join(f"[![{title}: {f}]({name}/{f})]({name}.md)" for f in pics)
        cards.append(f"## [{title}]({name}.md)\n\n:::{{container}} dc-gallery-row\n{thumbs}\n:::\n")
    index = [
        "# Gallery",
        "",
        "Every picture and animation that the scripts in `simulations/` and the `diffusion-conv demo` "
        "command make, produced at `--smoke` size while this site was built (each program in its own "
        "process, as the tests run them). The full-size pictures, with the numbers measured, are in the "
        "[story](../story/index.md) and in [validation](../validation.md). Click a picture for the "
        "script, its report and its source.",
        "",
    ]
    index += cards
    index += ["```{toctree}", ":hidden:", ""] + names + ["```", ""]
    write_if_changed(os.path.join(gallery, "index.md"), "\n".join(index))


def builder_inited(app):
    root = os.path.abspath(os.path.join(app.srcdir, app.config.gallery_root))
    run_dir = os.path.join(app.srcdir, app.config.gallery_run_dir)
    names = [DEMO] + scripts(root)
    run_all(root, run_dir, names, app.config.gallery_jobs)
    write_pages(app, root, run_dir, names)


def setup(app):
    app.add_config_value("gallery_root", "..", "env")
    app.add_config_value("gallery_run_dir", "_build/gallery-run", "env")
    app.add_config_value("gallery_jobs", 2, "env")
    app.add_config_value("gallery_chapters", {}, "env")
    app.connect("builder-inited", builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

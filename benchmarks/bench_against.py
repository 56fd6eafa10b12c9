"""This checkout against another checkout of the package (an earlier commit), timed in turn in one run.

    git worktree add /tmp/before <commit>
    python -m benchmarks.bench_against /tmp/before [--rounds 8] [--cases spectral propagator ...] [--cpu 0]

Each side runs in its own live Python process (``PYTHONPATH`` set to its
checkout), builds the same problems through the public API, compiles them, and
then waits; the two processes are asked in turn for a few calls of one case, round
after round, so a slow spell of the machine falls on both sides instead of one.
Each call's result is kept until the next call has been timed (see
:func:`benchmarks._common.median_time`). Printed: the median time per case and
side, the ratio ``other / this`` (above 1: this checkout is faster), and each
side's ``propagator / spectral`` ratio. The problems are those of
``bench_propagator``, ``bench_spectral`` and ``bench_stochastic`` (256x256,
float64, reflecting walls, a 3x3 Gaussian kernel).

``--cpu N`` runs both processes on core ``N`` alone (Linux). On a virtual
machine whose other cores are shared with other guests, a program whose XLA
threads hand small kernels to each other (the counts' rejection loop) waits
for a core that is busy elsewhere, and the same code measured 0.57 to 1.21 of
the other side's time from one run to the next; on one core both sides run
their programs alone, in turn, and the ratio repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

# case: (calls per round, source of a zero-argument callable; ``dc``, ``np``, ``jax``, ``tank``, ``prop`` in scope)
CASES = {
    "spectral": (10, "lambda: dc.simulate(tank, prop, 1000, method='spectral', save_every=1000)"),
    "propagator": (2, "lambda: dc.simulate(tank, prop, 1000, save_every=1000)"),
    "nonseparable": (1, "lambda: dc.simulate(tank, generic, 1000, save_every=1000)"),
    "particles": (
        1,
        "lambda: dc.simulate(tank, prop, 100, method='particles', save_every=100, "
        "n_particles=10**6, key=jax.random.key(0))",
    ),
    "counts": (
        1,
        "lambda: dc.simulate(tank, prop, 100, method='counts', save_every=100, "
        "n_particles=10**9, key=jax.random.key(0))",
    ),
}

_WORKER = r"""
import json, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import diffusion_conv as dc

tank = dc.Tank(np.random.default_rng(0).random((256, 256)), boundary="reflect")
prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
logits = np.random.default_rng(3).normal(size=(3, 3))
generic = dc.Propagator.from_logits(logits + logits[::-1, ::-1])
cases = {name: eval(src) for name, src in json.loads(sys.argv[1]).items()}
kept = {name: fn() for name, fn in cases.items()}  # compile, and the first result to keep
print(json.dumps({"ready": dc.__file__}), flush=True)
for line in sys.stdin:
    name, calls = line.split()
    times = []
    for _ in range(int(calls)):
        t = time.perf_counter()
        out = cases[name]()
        times.append(time.perf_counter() - t)
        kept[name] = out
    print(json.dumps(times), flush=True)
"""


def _start(checkout, cases, scratch, cpu=None):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, json.dumps(cases)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=scratch,
        preexec_fn=None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu})),
    )
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"the worker for {checkout} ended before it was ready (see its error above)")
    where = json.loads(line)["ready"]
    if not os.path.abspath(where).startswith(os.path.abspath(checkout)):
        raise RuntimeError(f"the worker for {checkout} imported diffusion_conv from {where}")
    return proc


def main(argv=None) -> dict:
    """Run the comparison; returns the medians (seconds) and ratios per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="the root of the other checkout (a git worktree of an earlier commit)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds; each asks both sides for each case")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--cpu", type=int, default=None, help="run both sides on this core alone (Linux)")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if args.cpu not in allowed:
            parser.error(f"--cpu must be one of this process's cores {allowed}, got {args.cpu}")
    if not os.path.isfile(os.path.join(args.other, "diffusion_conv", "__init__.py")):
        parser.error(f"other: {args.other!r} holds no diffusion_conv package")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    this = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cases = {name: CASES[name][1] for name in args.cases}
    times = {side: {name: [] for name in cases} for side in ("this", "other")}
    with tempfile.TemporaryDirectory() as scratch:
        procs = {side: _start(path, cases, scratch, args.cpu) for side, path in (("this", this), ("other", args.other))}
        try:
            for r in range(args.rounds):
                for name in cases:
                    order = ("this", "other") if r % 2 == 0 else ("other", "this")  # who goes first alternates
                    for side in order:
                        proc = procs[side]
                        proc.stdin.write(f"{name} {CASES[name][0]}\n")
                        proc.stdin.flush()
                        times[side][name] += json.loads(proc.stdout.readline())
        finally:
            for proc in procs.values():
                proc.stdin.close()
                proc.wait()
    out = {"rounds": args.rounds, "other": os.path.abspath(args.other), "cpu": args.cpu}
    pinned = "" if args.cpu is None else f", both on core {args.cpu}"
    print(f"this checkout against {out['other']}: medians over {args.rounds} rounds, timed in turn{pinned}")
    for name in cases:
        a, b = (statistics.median(times[side][name]) for side in ("this", "other"))
        out[name] = {"this_s": a, "other_s": b, "ratio_other_over_this": b / a}
        print(f"  {name:13s} this {a * 1e3:9.2f} ms   other {b * 1e3:9.2f} ms   other/this {b / a:5.2f}")
    if "spectral" in cases and "propagator" in cases:
        for side in ("this", "other"):
            r = statistics.median(times[side]["propagator"]) / statistics.median(times[side]["spectral"])
            out[f"propagator_over_spectral_{side}"] = r
            print(f"  propagator / spectral ({side}): {r:.1f}x")
    return out


if __name__ == "__main__":
    main()

"""Latency: how long a user waits for the first result of each method, in a fresh process.

The problem: a 64x64 two-compartment tank (left half 1, reflecting walls), the 3x3
Gaussian kernel (sigma 0.7), 10 steps, 10^6 particles for the stochastic methods,
``key=jax.random.key(0)``, float32 (JAX's default, as the command runs). Each figure
comes from new Python processes (the median over the repeats):

- ``import``: ``import diffusion_conv`` alone;
- ``cold``: the first ``dc.simulate`` call after the import (tank, kernel and key
  built in the timed statement), with an empty persistent compilation cache;
- ``warm``: the same in a process whose cache holds what the cold run wrote
  (``JAX_COMPILATION_CACHE_DIR``, entries from 0.1 s of compile, as the command's cache);
- ``again``: the same call again in the cold process (nothing left to compile);
- ``programs``, ``compile_s``: the XLA programs the cold call compiled and their
  compile time (JAX's ``backend_compile_duration`` events).

The scenarios at their default sizes (``diffusion_conv.scenarios``): the cold and
warm first result of a 10-step run of each with every method it takes, one fresh
process each, and the programs compiled (``--no-scenarios`` leaves them out).

Peers on the same problem, where installed: exponax (periodic only, so with
periodic edges, as in ``bench_suite``) and py-pde (explicit Euler with numba, as
``bench_suite``), their first result after their import, and again.

The exact binomial sampler that the counts method compiles twice (placement and
step) is measured on its own: its compiled program for 4096 draws (compile time,
fused kernels, loops) beside ``jax.random.binomial``'s, and draws per second for
n in {10, 10^3, 10^6} and p in {0.01, 0.3} against ``jax.random.binomial`` and
numpy's ``Generator.binomial``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

METHODS = ("propagator", "spectral", "particles", "counts", "image", "heat")
SHAPE, STEPS, N_PARTICLES, SIGMA = (64, 64), 10, 10**6, 0.7
CACHE_MIN_COMPILE_S = "0.1"  # diffusion_conv.cache.MIN_COMPILE_SECONDS: what the command writes

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
what, args = sys.argv[1], sys.argv[2:]
out = {}
if what == "import":
    import diffusion_conv
    out["import_s"] = time.perf_counter() - t0
elif what == "sampler":
    import jax
    import jax.numpy as jnp
    import numpy as np
    from benchmarks._common import block, interleaved_medians
    from diffusion_conv.random import binomial

    size, repeats = int(args[0]), int(args[1])

    def program(fn, draws=4096):
        n, p = jnp.full((draws,), 300.0, jnp.float32), jnp.full((draws,), 0.3, jnp.float32)
        lowered = jax.jit(fn).lower(jax.random.key(0), n, p)
        t = time.perf_counter()
        text = lowered.compile().as_text()
        seconds = time.perf_counter() - t
        ops = [line for line in text.splitlines() if line.startswith("  ") and " = " in line]
        return {"compile_s": seconds, "lines": text.count("\n"), "kernels": sum(" fusion(" in op for op in ops),
                "loops": sum(" while(" in op for op in ops)}

    out["program"] = {"ours": program(binomial), "jax": program(jax.random.binomial)}
    rng = np.random.default_rng(0)
    keys = iter(jax.random.split(jax.random.key(1), 100 * (repeats + 1)))
    out["draws_per_s"] = {}
    for trials in (10, 1000, 10**6):
        for p in (0.01, 0.3):
            n = jnp.full((size,), trials, jnp.float32)
            ours = jax.jit(lambda k, n, p=p: binomial(k, n, p))
            theirs = jax.jit(lambda k, n, p=p: jax.random.binomial(k, n, p))
            times = interleaved_medians([lambda: block(ours(next(keys), n)), lambda: block(theirs(next(keys), n)),
                                         lambda: rng.binomial(trials, p, size)], repeats)
            out["draws_per_s"][f"n={trials:g}, p={p}"] = dict(zip(("ours", "jax", "numpy"), (size / t for t in times)))
elif what in ("exponax", "pypde"):
    import numpy as np
    n, steps, D = int(args[0]), int(args[1]), float(args[2])
    c0 = np.zeros((n, n)); c0[:, : n // 2] = 1.0
    if what == "exponax":
        import jax
        import exponax as ex
        out["import_s"] = time.perf_counter() - t0

        def first():
            stepper = ex.stepper.Diffusion(2, float(n), n, 1.0, diffusivity=D)
            rollout = jax.jit(lambda u: ex.rollout(stepper, steps, include_init=False)(u)[-1])
            return lambda: np.asarray(rollout(jax.numpy.asarray(c0[None], jax.numpy.float32)))
    else:
        import warnings
        import pde
        out["import_s"] = time.perf_counter() - t0
        warnings.simplefilter("ignore")

        def first():
            grid = pde.CartesianGrid([[0, n], [0, n]], [n, n], periodic=[False, False])
            eq = pde.DiffusionPDE(diffusivity=D, bc={"derivative": 0})
            m = int(np.ceil(1.01 * steps * 2 * 2 * D))  # explicit Euler at the largest stable step (dx = 1)
            dt = steps / m
            state = pde.ScalarField(grid, c0)
            stepper = pde.solvers.EulerSolver(eq, backend="numba", adaptive=False).make_stepper(state, dt=dt)

            def again():
                s = state.copy()
                stepper(s, 0.0, steps - 0.5 * dt)
                return s.data
            return again
    t = time.perf_counter()
    again = first()
    again()
    out["first_s"] = time.perf_counter() - t
    t = time.perf_counter()
    again()
    out["again_s"] = time.perf_counter() - t
elif what == "scenario":
    import diffusion_conv as dc
    import jax
    from diffusion_conv import scenarios
    out["import_s"] = time.perf_counter() - t0
    name, method, steps = args[0], args[1], int(args[2])
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiles.append(duration)
        if event == "/jax/core/compile/backend_compile_duration" else None)
    t = time.perf_counter()
    sc = scenarios.get(name)
    stochastic = method in ("particles", "counts")
    kw = {"n_particles": sc.n_particles, "key": jax.random.key(0)} if stochastic else {}
    res = dc.simulate(sc.tank, sc.propagator, steps, method=method, **kw)
    res.final
    out["first_s"] = time.perf_counter() - t
    out["programs"], out["compile_s"] = len(compiles), sum(compiles)
    out["shape"] = list(sc.tank.shape)
else:
    import diffusion_conv as dc
    import jax
    out["import_s"] = time.perf_counter() - t0
    n, steps, n_particles, sigma = int(args[0]), int(args[1]), int(args[2]), float(args[3])
    compiles = []

    def listen(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    stochastic = {"n_particles": n_particles} if what in ("particles", "counts") else {}

    def run():
        key = {"key": jax.random.key(0)} if stochastic else {}
        res = dc.simulate(dc.Tank.two_compartment((n, n)), dc.Propagator.gaussian(sigma, ndim=2), steps,
                          method=what, **stochastic, **key)
        return res.final

    t = time.perf_counter()
    run()
    out["first_s"] = time.perf_counter() - t
    out["programs"], out["compile_s"] = len(compiles), sum(compiles)
    t = time.perf_counter()
    run()
    out["again_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def _child(what, *args, cache=None):
    """One fresh process: the figures it printed, or the reason it gave none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") and k != "XLA_FLAGS"}
    env["JAX_ENABLE_X64"] = "0"
    if cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = CACHE_MIN_COMPILE_S
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, what, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=900,
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit code {proc.returncode}"
        return f"failed: {last}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(runs, key):
    return statistics.median(r[key] for r in runs)


def method_latency(method, repeats):
    """Cold and warm first results of one method: each repeat a cold process (empty cache) then a warm one."""
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as cache:
            for runs in (cold, warm):
                r = _child(method, SHAPE[0], STEPS, N_PARTICLES, SIGMA, cache=cache)
                if isinstance(r, str):
                    return r
                runs.append(r)
    return {
        "cold_s": _median(cold, "first_s"),
        "warm_s": _median(warm, "first_s"),
        "again_s": _median(cold, "again_s"),
        "programs": int(_median(cold, "programs")),
        "compile_s": _median(cold, "compile_s"),
        "warm_compile_s": _median(warm, "compile_s"),
        "import_s": _median(cold, "import_s"),
    }


def peer_latency(name, module, diffusivity, repeats):
    """A peer's first result after its import, in fresh processes; a note where it is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return f"skipped: {name} is not installed (the 'bench' extra installs it)"
    runs = []
    for _ in range(repeats):
        r = _child(name, SHAPE[0], STEPS, repr(diffusivity))
        if isinstance(r, str):
            return r
        runs.append(r)
    return {
        "import_s": _median(runs, "import_s"),
        "cold_s": _median(runs, "first_s"),
        "again_s": _median(runs, "again_s"),
    }


def scenario_latency(methods=METHODS, warm=True):
    """Cold (and warm) first result of a 10-step run of every scenario at its default size, each method it takes."""
    from diffusion_conv import scenarios

    table = {}
    print(f"first results at the scenarios' default sizes ({STEPS} steps, float32, one fresh process each):")
    print(f"  {'scenario':16s} {'method':11s} {'shape':>9s} {'cold':>7s} {'warm':>7s} {'programs':>8s}")
    for name in scenarios.names():
        for method in scenarios.get(name, size=8).methods:
            if method not in methods:
                continue
            with tempfile.TemporaryDirectory(prefix="bench-latency-") as cache:
                cold = _child("scenario", name, method, STEPS, cache=cache)
                hot = _child("scenario", name, method, STEPS, cache=cache) if warm and isinstance(cold, dict) else None
            if isinstance(cold, str):
                print(f"  {name:16s} {method:11s} {cold}")
                table[f"{name}.{method}"] = cold
                continue
            row = {"cold_s": cold["first_s"], "programs": cold["programs"], "shape": "x".join(map(str, cold["shape"]))}
            if isinstance(hot, dict):
                row["warm_s"] = hot["first_s"]
            table[f"{name}.{method}"] = row
            print(
                f"  {name:16s} {method:11s} {row['shape']:>9s} {row['cold_s']:6.2f}s "
                + (f"{row['warm_s']:6.2f}s" if "warm_s" in row else "      -")
                + f" {row['programs']:8d}",
                flush=True,
            )
    rows = [r for r in table.values() if isinstance(r, dict)]
    if rows:
        print(
            f"  slowest cold first result: {max(r['cold_s'] for r in rows):.2f} s; "
            f"programs per run: {min(r['programs'] for r in rows)} to {max(r['programs'] for r in rows)}"
        )
    return table


def sampler(size, repeats):
    """The exact binomial sampler's compiled program and draws per second, beside jax.random.binomial and numpy."""
    r = _child("sampler", size, repeats)
    if isinstance(r, str):
        print(f"  sampler: {r}")
        return r
    for name, p in r["program"].items():
        print(
            f"  binomial program ({name}, 4096 draws): {p['compile_s']:.2f} s to compile, {p['kernels']} fused "
            f"kernels, {p['loops']} loops, {p['lines']} lines of optimised HLO"
        )
    print(f"  draws per second ({size} draws, float32): {'ours':>10s} {'jax':>10s} {'numpy':>10s}  ours/jax")
    for case, d in r["draws_per_s"].items():
        print(
            f"    {case:20s} {d['ours'] / 1e6:9.1f}M {d['jax'] / 1e6:9.1f}M {d['numpy'] / 1e6:9.1f}M  "
            f"{d['ours'] / d['jax']:7.1f}x"
        )
    return r


def run(repeats=3, methods=METHODS, peers=True, sampler_size=10**6, scenarios=True):
    import numpy as np

    import diffusion_conv as dc

    from ._common import machine

    diffusivity = float(np.asarray(dc.Propagator.gaussian(SIGMA, ndim=2).diffusivity())[0, 0])  # isotropic
    out = {
        "machine": machine(),
        "problem": {
            "shape": list(SHAPE),
            "steps": STEPS,
            "n_particles": N_PARTICLES,
            "kernel": f"3x3 Gaussian, sigma {SIGMA}",
            "dtype": "float32",
            "repeats": repeats,
        },
    }
    print(
        f"first results: {SHAPE[0]}x{SHAPE[1]} two-compartment tank, {STEPS} steps, float32, fresh processes, "
        f"median of {repeats}",
        flush=True,
    )
    imports = [_child("import") for _ in range(repeats)]
    bad = next((r for r in imports if isinstance(r, str)), None)
    out["import_s"] = bad or _median(imports, "import_s")
    if not bad:
        print(f"  import diffusion_conv: {out['import_s']:.2f} s", flush=True)
    head = ("cold", "warm", "again", "cold/warm", "programs", "compile")
    print(f"  {'method':11s} " + " ".join(f"{h:>8s}" for h in head))
    results = {}
    for method in methods:
        r = method_latency(method, repeats)
        results[method] = r
        if isinstance(r, str):
            print(f"  {method:11s} {r}", flush=True)
            continue
        print(
            f"  {method:11s} {r['cold_s']:7.2f}s {r['warm_s']:7.2f}s {r['again_s']:7.3f}s "
            f"{r['cold_s'] / r['warm_s']:8.1f}x {r['programs']:8d} {r['compile_s']:7.2f}s",
            flush=True,
        )
    out["methods"] = results
    peer = {}
    for name, module in (("exponax", "exponax"), ("pypde", "pde")):
        peer[name] = peer_latency(name, module, diffusivity, repeats) if peers else "skipped with --quick"
        r = peer[name]
        print(
            f"  {name:11s} "
            + (
                r
                if isinstance(r, str)
                else f"{r['cold_s']:7.2f}s first result after its import of {r['import_s']:.2f} s, "
                f"{r['again_s']:.3f} s again"
            ),
            flush=True,
        )
    out["peers"] = peer
    ratios = {}
    ours = {m: r for m, r in results.items() if isinstance(r, dict)}
    if ours:
        fastest = min(ours, key=lambda m: ours[m]["cold_s"])
        for m, r in ours.items():
            ratios[f"{m}_cold/{fastest}_cold"] = r["cold_s"] / ours[fastest]["cold_s"]
        for name, r in peer.items():
            if isinstance(r, dict):
                for m in ("propagator", "counts"):
                    if m in ours:
                        ratios[f"{name}_first/{m}_cold"] = r["cold_s"] / ours[m]["cold_s"]
    out["ratios"] = ratios
    for k, v in ratios.items():
        print(f"  ratio {k:34s} {v:7.2f}x")
    if scenarios:
        out["scenarios"] = scenario_latency(methods, warm=repeats > 1)
    if sampler_size:
        out["sampler"] = sampler(sampler_size, max(3, 2 * repeats))
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one process per figure, peers skipped, 10^5 draws")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="these methods only")
    parser.add_argument("--no-scenarios", action="store_true", help="leave out the scenarios at their default sizes")
    args = parser.parse_args(argv)
    return run(
        1 if args.quick else 3,
        tuple(args.methods),
        peers=not args.quick,
        sampler_size=10**5 if args.quick else 10**6,
        scenarios=not args.no_scenarios,
    )


if __name__ == "__main__":
    main(sys.argv[1:])

"""The stochastic methods against straightforward numpy: particles, skip-ahead, counts, peak memory.

- particles: 10^6 particles x 100 steps on a 256x256 reflecting tank with a 3x3
  Gaussian kernel, against a numpy random walk (``rng.choice`` over the 9
  offsets each step, then the same half-cell reflection); particle-steps per second.
- skip-ahead: the same particles in a periodic tank over 10,000 steps against 100 steps.
- counts: 10^9 particles as occupation numbers on the same tank, 100 steps, against
  the same splitting written with numpy's ``Generator.multinomial`` (one split over
  the 9 offsets per cell and step), and against numpy splitting axis by axis as the
  counts method does for a separable kernel; steps per second.
- peak memory (max RSS) of the particles run, measured in a fresh subprocess.
- Smoldyn 2.74 (continuous Brownian dynamics, the same tank, particle count and
  diffusivity, time step 1) where it imports; one run, its setup included.

Each tool is warmed up first (compilation timed separately), then timed as the
median of repeats. ``--quick`` shrinks every problem to finish in seconds.

    python -m benchmarks.bench_stochastic [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from ._common import PEAK_KIB, first_call, machine, median_time

_MEMORY_SCRIPT = (
    PEAK_KIB
    + """
import json, resource, sys
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import diffusion_conv as dc



n, n_particles, steps = (int(a) for a in sys.argv[1:4])
tank = dc.Tank(np.random.default_rng(0).random((n, n)), boundary="reflect")
prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
base = peak_kib()
dc.simulate(tank, prop, steps, method="particles", save_every=steps, n_particles=n_particles, key=jax.random.key(0))
peak = peak_kib()
print(json.dumps({"peak_rss_mb": peak / 1024, "rss_before_run_mb": base / 1024}))
"""
)


def numpy_walk(field, weights, n_particles, steps, rng):
    """Place particles in proportion to ``field``, walk them with ``rng.choice`` and the half-cell mirror."""
    n0, n1 = field.shape
    p = (field / field.sum()).ravel()
    cells = rng.choice(field.size, size=n_particles, p=p)
    x, y = np.divmod(cells, n1)
    offs = np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)])
    w = weights.ravel()
    for _ in range(steps):
        k = rng.choice(9, size=n_particles, p=w)
        x = x + offs[k, 0]
        y = y + offs[k, 1]
        x = np.where(x < 0, -1 - x, np.where(x >= n0, 2 * n0 - 1 - x, x))
        y = np.where(y < 0, -1 - y, np.where(y >= n1, 2 * n1 - 1 - y, y))
    return np.bincount(x * n1 + y, minlength=field.size).reshape(field.shape)


def numpy_counts(counts, weights, steps, rng):
    """Occupation numbers split with ``Generator.multinomial``, moved with the half-cell mirror."""
    n0, n1 = counts.shape
    w = weights.ravel()
    c = counts
    for _ in range(steps):
        parts = rng.multinomial(c.ravel(), w).T.reshape(9, n0, n1)
        ext = np.zeros((n0 + 2, n1 + 2), dtype=np.int64)
        for k, (a, b) in enumerate((a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)):
            ext[1 + a : 1 + a + n0, 1 + b : 1 + b + n1] += parts[k]
        ext[1, :] += ext[0, :]
        ext[n0, :] += ext[n0 + 1, :]
        ext[:, 1] += ext[:, 0]
        ext[:, n1] += ext[:, n1 + 1]
        c = ext[1 : n0 + 1, 1 : n1 + 1]
    return c


def numpy_counts_per_axis(counts, weights, steps, rng):
    """The per-axis split of a separable kernel in numpy: ``Generator.multinomial`` over 3 offsets per axis."""
    factors = [weights.sum(axis=1), weights.sum(axis=0)]
    c = counts
    for _ in range(steps):
        for axis, f in enumerate(factors):
            moved = np.moveaxis(c, axis, 0)
            m = moved.shape[0]
            parts = rng.multinomial(moved.reshape(-1), f).T.reshape((3,) + moved.shape)
            ext = np.zeros((m + 2,) + moved.shape[1:], dtype=np.int64)
            for k in range(3):
                ext[k : k + m] += parts[k]
            ext[1] += ext[0]
            ext[m] += ext[m + 1]
            c = np.moveaxis(ext[1 : m + 1], 0, axis)
    return c


def _smoldyn(n, n_particles, steps, diffusivity):
    """Smoldyn's Brownian dynamics in an n x n reflecting box, or the reason it cannot run."""
    try:
        import smoldyn
    except Exception as err:  # report why, do not fail the benchmark
        return f"smoldyn unavailable ({type(err).__name__}: {err}); pip install smoldyn (the 'bench' extra)"
    sim = smoldyn.Simulation(low=[0, 0], high=[n, n], boundary_type="r")
    species = sim.addSpecies("A", difc=diffusivity)
    species.addToSolution(n_particles, lowpos=[0, 0], highpos=[n, n])
    t = time.perf_counter()
    sim.run(steps, dt=1.0, display=False, quit_at_end=True, log_level=0)  # includes Smoldyn's own setup
    return time.perf_counter() - t


def main(argv=None) -> dict:
    """Run the benchmark; returns the measured figures (seconds, rates and ratios)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems that run in seconds")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)  # int64 counts for 10^9 particles
    import diffusion_conv as dc

    if args.quick:
        n, n_part, steps, long_steps, n_counts, repeats = 32, 10**4, 20, 2000, 10**7, 1
    else:
        n, n_part, steps, long_steps, n_counts, repeats = 256, 10**6, 100, 10_000, 10**9, 3
    out = {"machine": machine(), "shape": [n, n], "n_particles": n_part, "steps": steps}
    field = np.random.default_rng(0).random((n, n))
    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    w = np.asarray(prop.weights, np.float64)
    tank = dc.Tank(field, boundary="reflect")
    key = jax.random.key(0)

    # particles against the numpy walk
    def run_p():
        return dc.simulate(tank, prop, steps, method="particles", save_every=steps, n_particles=n_part, key=key)

    out["particles_compile_s"] = first_call(run_p)
    out["particles_s"] = median_time(run_p, repeats, warmup=0)
    rng = np.random.default_rng(0)
    out["numpy_walk_s"] = median_time(lambda: numpy_walk(field, w, n_part, steps, rng), repeats, warmup=1)
    out["particles_steps_per_s"] = n_part * steps / out["particles_s"]
    out["numpy_walk_steps_per_s"] = n_part * steps / out["numpy_walk_s"]
    out["ratio_particles_speedup"] = out["numpy_walk_s"] / out["particles_s"]

    # skip-ahead: a free (periodic) tank, long against short
    free = dc.Tank(field, boundary="periodic")

    def short():
        return dc.simulate(
            free, prop, steps, method="particles", save_every=steps, n_particles=n_part, key=key, skip_ahead=True
        )

    def walk():
        return dc.simulate(
            free, prop, steps, method="particles", save_every=steps, n_particles=n_part, key=key, skip_ahead=False
        )

    def long():
        return dc.simulate(
            free, prop, long_steps, method="particles", save_every=long_steps, n_particles=n_part, key=key
        )

    out["skip_compile_s"] = first_call(short) + first_call(long) + first_call(walk)
    out["skip_used_long"] = bool(long().meta["skip_ahead"])
    out["skip_short_s"] = median_time(short, repeats, warmup=0)
    out["skip_long_s"] = median_time(long, repeats, warmup=0)
    out["stepping_short_s"] = median_time(walk, repeats, warmup=0)
    out["long_steps"] = long_steps
    out["ratio_skip_long_over_skip_short"] = out["skip_long_s"] / out["skip_short_s"]
    out["ratio_skip_long_over_stepping_short"] = out["skip_long_s"] / out["stepping_short_s"]

    # counts against numpy's multinomial splitting
    def run_c():
        return dc.simulate(tank, prop, steps, method="counts", save_every=steps, n_particles=n_counts, key=key)

    out["counts_n_particles"] = n_counts
    out["counts_compile_s"] = first_call(run_c)
    out["counts_s"] = median_time(run_c, repeats, warmup=0)
    start = rng.multinomial(n_counts, (field / field.sum()).ravel()).reshape(n, n)
    out["counts_split"] = run_c().meta["split"]
    out["numpy_multinomial_s"] = median_time(lambda: numpy_counts(start, w, steps, rng), repeats, warmup=1)
    out["numpy_per_axis_s"] = median_time(lambda: numpy_counts_per_axis(start, w, steps, rng), repeats, warmup=1)
    out["counts_steps_per_s"] = steps / out["counts_s"]
    out["numpy_multinomial_steps_per_s"] = steps / out["numpy_multinomial_s"]
    out["numpy_per_axis_steps_per_s"] = steps / out["numpy_per_axis_s"]
    out["ratio_counts_speedup"] = out["numpy_multinomial_s"] / out["counts_s"]
    out["ratio_counts_speedup_per_axis"] = out["numpy_per_axis_s"] / out["counts_s"]

    # peak memory of the particles run, in a fresh process
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(n), str(n_part), str(steps)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode == 0:
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    else:
        out["peak_rss_mb"] = f"failed: {proc.stderr.strip().splitlines()[-1:]}"

    d = float(np.asarray(prop.diffusivity())[0, 0])
    sm = _smoldyn(n, n_part, steps, d)
    if isinstance(sm, str):
        out["smoldyn"] = sm
    else:
        out["smoldyn_s"] = sm
        out["smoldyn_version"] = __import__("smoldyn").__version__
        out["smoldyn_steps_per_s"] = n_part * steps / sm
        out["ratio_smoldyn_over_particles"] = sm / out["particles_s"]

    print(f"{n}x{n} reflecting tank, 3x3 Gaussian kernel (sigma 0.7), median of {repeats}")
    print(
        f"  particles  {n_part:.0e} x {steps} steps  {out['particles_s']:8.3f} s  "
        f"({out['particles_steps_per_s']:.3g} particle-steps/s, compile {out['particles_compile_s']:.2f} s)"
    )
    print(
        f"  numpy walk (rng.choice)        {out['numpy_walk_s']:8.3f} s  "
        f"({out['numpy_walk_steps_per_s']:.3g} particle-steps/s)   ratio {out['ratio_particles_speedup']:.2f}x"
    )
    print(
        f"  skip-ahead (periodic): {long_steps} steps {out['skip_long_s']:.3f} s (used={out['skip_used_long']}); "
        f"{steps} steps skipped {out['skip_short_s']:.3f} s, stepped {out['stepping_short_s']:.3f} s"
    )
    print(
        f"    ratio long/short: {out['ratio_skip_long_over_skip_short']:.2f} (both skipped), "
        f"{out['ratio_skip_long_over_stepping_short']:.2f} (short stepped)"
    )
    print(
        f"  counts {n_counts:.0e} particles  {out['counts_s']:8.3f} s  ({out['counts_steps_per_s']:.3g} steps/s, "
        f"compile {out['counts_compile_s']:.2f} s)"
    )
    print(
        f"  numpy Generator.multinomial    {out['numpy_multinomial_s']:8.3f} s  "
        f"({out['numpy_multinomial_steps_per_s']:.3g} steps/s)   ratio {out['ratio_counts_speedup']:.2f}x"
    )
    print(
        f"  numpy, split axis by axis      {out['numpy_per_axis_s']:8.3f} s  "
        f"({out['numpy_per_axis_steps_per_s']:.3g} steps/s)   ratio {out['ratio_counts_speedup_per_axis']:.2f}x"
        f"  (counts split: {out['counts_split']})"
    )
    print(f"  peak memory of the particles run: {out.get('peak_rss_mb')} MB")
    if "smoldyn_s" in out:
        print(
            f"  smoldyn {out['smoldyn_version']}  {out['smoldyn_s']:8.3f} s  ({out['smoldyn_steps_per_s']:.3g} "
            f"molecule-steps/s)   particles are {out['ratio_smoldyn_over_particles']:.1f}x faster"
        )
    else:
        print(f"  smoldyn: {out['smoldyn']}")
    return out


if __name__ == "__main__":
    main()

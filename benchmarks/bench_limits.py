"""How far the propagator method is from what the machine allows.

- arithmetic: 256x256 float64, 3x3 Gaussian, reflecting walls, 1000 steps; GFLOP/s
  counted as 9 multiply-adds per cell and step (18 flops, the direct stencil) against
  the peak of the cores (AVX2: two 4-wide FMA units, 16 float64 flops per cycle and core);
- memory: 2048x2048 float32; GB/s counted as one read and one write of the field per
  step, against a large array copy (read + write) measured in the same run;
- peak memory of a 4096x4096 float32 run saving 10 frames (11 with step 0), measured in a
  subprocess (``VmHWM``, or ``resource.getrusage`` where /proc is missing) and given in fields
  (64 MiB each) beyond the saved frames.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from ._common import PEAK_KIB

_MEMORY_SCRIPT = (
    PEAK_KIB
    + r"""
import json, resource, sys
import numpy as np
import jax
import diffusion_conv as dc



n, every = int(sys.argv[1]), int(sys.argv[2])
prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
dc.simulate(dc.Tank(np.ones((64, 64), np.float32), boundary="reflect"), prop, every, save_every=every)
tank = dc.Tank(np.random.default_rng(0).random((n, n), dtype=np.float32), boundary="reflect")
base = peak_kib()
res = dc.simulate(tank, prop, 10 * every, save_every=every)
peak = peak_kib()
print(json.dumps({"base_kib": base, "peak_kib": peak, "frames": int(res.frames.shape[0]),
                  "field_bytes": int(res.frames[0].nbytes), "dtype": str(res.frames.dtype)}))
"""
)


def arithmetic(steps, repeats):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffusion_conv as dc

    from ._common import cpu_mhz, timed

    n = 256
    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    tank = dc.Tank(np.random.default_rng(0).random((n, n)), boundary="reflect")
    t = timed(lambda: dc.simulate(tank, prop, steps), repeats)
    c = time.process_time()
    dc.simulate(tank, prop, steps)
    cpu_s = time.process_time() - c
    flops = 2 * 9 * n * n * steps
    mhz = cpu_mhz() or float("nan")
    cores = os.cpu_count() or 1
    peak = cores * 16 * mhz / 1e3
    out = {
        "shape": [n, n],
        "steps": steps,
        "dtype": "float64",
        "wall_s": t["median_s"],
        "cpu_s": cpu_s,
        "compile_s": t["compile_s"],
        "gflop_per_s": flops / t["median_s"] / 1e9,
        "peak_gflop_per_s": peak,
        "arithmetic_limit_s": flops / (peak * 1e9),
        "limit_ratio": t["median_s"] / (flops / (peak * 1e9)),
    }
    print(
        f"  arithmetic: {n}^2 float64, {steps} steps: {t['median_s'] * 1e3:.1f} ms wall ({cpu_s * 1e3:.1f} ms "
        f"CPU), {out['gflop_per_s']:.1f} GFLOP/s of {peak:.0f} peak ({cores} cores x 16 flop/cycle x "
        f"{mhz:.0f} MHz): {out['limit_ratio']:.1f}x the arithmetic limit of {out['arithmetic_limit_s'] * 1e3:.1f} ms"
    )
    return out


def bandwidth(n, steps, repeats):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffusion_conv as dc

    from ._common import timed

    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    tank = dc.Tank(np.random.default_rng(0).random((n, n), dtype=np.float32), boundary="reflect")
    t = timed(lambda: dc.simulate(tank, prop, steps), repeats)
    bytes_step = 2 * n * n * 4
    achieved = bytes_step * steps / t["median_s"] / 1e9
    big = np.ones(64 * 2**20 // 8 * 4, dtype=np.float64)  # 256 MiB
    dst = np.empty_like(big)
    tc = timed(lambda: np.copyto(dst, big), repeats)
    copy = 2 * big.nbytes / tc["median_s"] / 1e9
    field = np.asarray(tank.concentration)
    fdst = np.empty_like(field)
    tf = timed(lambda: np.copyto(fdst, field), 5 * repeats)
    field_copy = 2 * field.nbytes / tf["median_s"] / 1e9
    out = {
        "shape": [n, n],
        "steps": steps,
        "dtype": "float32",
        "wall_s": t["median_s"],
        "compile_s": t["compile_s"],
        "gb_per_s": achieved,
        "copy_gb_per_s": copy,
        "field_copy_gb_per_s": field_copy,
        "copy_ratio": copy / achieved,
    }
    print(
        f"  memory: {n}^2 float32, {steps} steps: {t['median_s'] * 1e3:.1f} ms, {achieved:.1f} GB/s (one read + "
        f"one write per step) against {copy:.1f} GB/s for a 256 MiB copy ({field_copy:.1f} GB/s for a copy of "
        f"the field): {out['copy_ratio']:.1f}x from the copy"
    )
    return out


def peak_memory(n, every):
    cmd = [sys.executable, "-c", _MEMORY_SCRIPT, str(n), str(every)]
    env = dict(os.environ, JAX_ENABLE_X64="0")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=900)
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    field = r["field_bytes"]
    extra = (r["peak_kib"] - r["base_kib"]) * 1024
    out = {
        "shape": [n, n],
        "dtype": r["dtype"],
        "frames": r["frames"],
        "field_mib": field / 2**20,
        "peak_rss_mib": r["peak_kib"] / 1024,
        "base_rss_mib": r["base_kib"] / 1024,
        "run_extra_mib": extra / 2**20,
        "run_extra_fields": extra / field,
        "beyond_frames_fields": extra / field - r["frames"],
    }
    print(
        f"  peak memory: {n}^2 {r['dtype']}, {r['frames']} frames saved: the run added {extra / 2**20:.0f} MiB = "
        f"{out['run_extra_fields']:.1f} fields ({out['beyond_frames_fields']:.1f} fields beyond the frames; "
        f"goal: under 3)"
    )
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = parser.parse_args(argv)
    from ._common import machine

    print("limits of the propagator method")
    q = args.quick
    out = {"machine": machine()}
    out["arithmetic"] = arithmetic(200 if q else 1000, 3 if q else 7)
    out["memory"] = bandwidth(2048, 10 if q else 50, 3 if q else 5)
    out["peak_memory"] = peak_memory(4096, 1 if q else 5)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])

"""The propagator method against a Python loop of scipy.ndimage.convolve.

256x256 two-compartment tank, 3x3 Gaussian kernel, reflecting walls, 1000 steps:
both timed in one run (warm-up first, median of repeats, compilation reported
separately), the ratio printed, float64 and float32, and the answer compared.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def run(steps=1000, size=256, repeats=5):
    import jax

    jax.config.update("jax_enable_x64", True)
    from scipy import ndimage

    import diffusion_conv as dc

    from ._common import first_call, machine, median_time

    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    out = {"machine": machine(), "size": size, "steps": steps}
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        tank = dc.Tank.two_compartment((size, size), boundary="reflect")
        tank = dc.Tank(np.asarray(tank.concentration, dtype=dtype), boundary="reflect")
        weights = np.asarray(prop.weights, dtype=dtype)
        c0 = np.asarray(tank.concentration)

        def scipy_loop():
            c = c0
            for _ in range(steps):
                c = ndimage.convolve(c, weights, mode="reflect")
            return c

        def package():
            return dc.simulate(tank, prop, steps).final

        compile_s = first_call(package) - median_time(package, 1, warmup=0)
        t_pkg = median_time(package, repeats)
        t_scipy = median_time(scipy_loop, max(1, repeats // 2), warmup=0)
        diff = float(np.max(np.abs(package().astype(np.float64) - scipy_loop().astype(np.float64))))
        flops = 2 * 9 * size * size * steps
        out[name] = {
            "propagator_s": t_pkg,
            "scipy_loop_s": t_scipy,
            "ratio": t_scipy / t_pkg,
            "compile_s": max(compile_s, 0.0),
            "max_abs_difference": diff,
            "stencil_gflop": flops / 1e9,
            "gflop_per_s": flops / t_pkg / 1e9,
        }
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    res = run(steps=200 if args.quick else 1000, repeats=3 if args.quick else 7)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"propagator vs scipy.ndimage.convolve loop: {res['size']}^2, 3x3 Gaussian, reflect, "
              f"{res['steps']} steps ({res['machine']['cpu']}, {res['machine']['cores']} cores)")
        for name in ("float64", "float32"):
            r = res[name]
            print(f"  {name}: propagator {r['propagator_s'] * 1e3:8.1f} ms  scipy {r['scipy_loop_s'] * 1e3:8.1f} ms"
                  f"  ratio {r['ratio']:6.1f}x  compile {r['compile_s']:.2f} s  max|diff| {r['max_abs_difference']:.1e}"
                  f"  {r['gflop_per_s']:.1f} GFLOP/s (9-tap count)")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)

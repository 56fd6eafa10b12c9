"""The propagator method against a Python loop of scipy.ndimage.convolve.

256x256 two-compartment tank, 3x3 Gaussian kernel, reflecting walls, 1000 steps:
both timed in one run (warm-up first, median of repeats, compilation reported
separately), the ratio printed, float64 and float32, and the answer compared.
A non-separable 3x3 kernel (the general stencil path) is timed beside it, and the
time is set against the arithmetic limit of the 9-tap stencil at the cores' peak.
"""

from __future__ import annotations

import sys

import numpy as np

from ._common import run_from_command_line


def run(steps=1000, size=256, repeats=5):
    import jax

    jax.config.update("jax_enable_x64", True)
    from scipy import ndimage

    import diffusion_conv as dc

    from ._common import cpu_mhz, first_call, machine, median_time

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
        logits = np.random.default_rng(3).normal(size=(3, 3))
        generic = dc.Propagator.from_logits(logits + logits[::-1, ::-1])
        t_gen = median_time(lambda: dc.simulate(tank, generic, steps).final, repeats)
        out[name]["nonseparable_s"] = t_gen
        out[name]["nonseparable_ratio"] = t_scipy / t_gen
    peak = (cpu_mhz() or float("nan")) * 1e6 * 16 * (out["machine"]["cores"] or 1)
    out["float64"]["arithmetic_limit_s"] = 2 * 9 * size * size * steps / peak
    out["float64"]["limit_ratio"] = out["float64"]["propagator_s"] / out["float64"]["arithmetic_limit_s"]
    return out


def main(argv=None) -> dict:
    res, printed = run_from_command_line(
        __doc__, lambda quick: run(steps=200 if quick else 1000, repeats=3 if quick else 7), argv, "fewer steps"
    )
    if not printed:
        print(
            f"propagator vs scipy.ndimage.convolve loop: {res['size']}^2, 3x3 Gaussian, reflect, "
            f"{res['steps']} steps ({res['machine']['cpu']}, {res['machine']['cores']} cores)"
        )
        for name in ("float64", "float32"):
            r = res[name]
            print(
                f"  {name}: propagator {r['propagator_s'] * 1e3:8.1f} ms  scipy {r['scipy_loop_s'] * 1e3:8.1f} ms"
                f"  ratio {r['ratio']:6.1f}x  compile {r['compile_s']:.2f} s  max|diff| {r['max_abs_difference']:.1e}"
                f"  {r['gflop_per_s']:.1f} GFLOP/s (9-tap count)"
            )
            print(
                f"           non-separable 3x3: {r['nonseparable_s'] * 1e3:8.1f} ms  ratio {r['nonseparable_ratio']:6.1f}x"
            )
        r = res["float64"]
        print(
            f"  float64 against the arithmetic limit ({r['arithmetic_limit_s'] * 1e3:.1f} ms at the cores' peak): "
            f"{r['limit_ratio']:.1f}x;  load average {res['machine']['load_average']}"
        )
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)

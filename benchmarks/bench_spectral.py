"""Spectral propagation against repeated scipy.ndimage.convolve, the propagator method and exponax.

256x256, 1000 steps, float64, reflecting walls, a 3x3 Gaussian kernel. Each tool is
warmed up first (compilation timed separately), then timed as the median of repeats.
``--quick`` shrinks the problem (64x64, 100 steps) to run in seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ._common import median_time


def _median(fn, repeats):
    return median_time(fn, repeats, warmup=0)


def _exponax(n, steps, nu, repeats):
    try:
        import exponax as ex
        import jax
    except ImportError as err:
        print(f"exponax: skipped ({err}); install the 'bench' extra to time it")
        return None
    # exponax's domain [0, L) with n points; choose L = n so one cell is 1 and D matches
    stepper = ex.stepper.Diffusion(2, float(n), n, 1.0, diffusivity=nu)
    u0 = np.random.default_rng(0).random((1, n, n))
    rollout = jax.jit(lambda u: ex.rollout(stepper, steps, include_init=False)(u)[-1])
    t = time.perf_counter()
    rollout(u0).block_until_ready()
    compile_s = time.perf_counter() - t
    run_s = _median(lambda: rollout(u0).block_until_ready(), repeats)
    return compile_s, run_s


def main(argv=None) -> dict:
    """Run the benchmark; returns the measured figures (seconds and ratios)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small problem that runs in seconds")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    from scipy import ndimage

    import diffusion_conv as dc

    n, steps, long_steps, repeats = (64, 100, 10_000, 3) if args.quick else (256, 1000, 100_000, 5)
    field = np.random.default_rng(0).random((n, n))
    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    w = np.asarray(prop.weights)
    tank = dc.Tank(field, boundary="reflect")
    out = {"shape": [n, n], "steps": steps, "dtype": "float64", "boundary": "reflect"}

    t = time.perf_counter()
    dc.simulate(tank, prop, steps, method="spectral", save_every=steps)
    out["spectral_compile_s"] = time.perf_counter() - t
    # a spectral run takes milliseconds: ten times the repeats for a steady median
    out["spectral_s"] = _median(
        lambda: dc.simulate(tank, prop, steps, method="spectral", save_every=steps), 10 * repeats
    )
    out["spectral_long_s"] = _median(
        lambda: dc.simulate(tank, prop, long_steps, method="spectral", save_every=long_steps), 10 * repeats
    )

    t = time.perf_counter()
    dc.simulate(tank, prop, steps, save_every=steps)
    out["propagator_compile_s"] = time.perf_counter() - t
    out["propagator_s"] = _median(lambda: dc.simulate(tank, prop, steps, save_every=steps), repeats)

    def scipy_loop():
        c = field.copy()
        for _ in range(steps):
            c = ndimage.convolve(c, w, mode="reflect")
        return c

    out["scipy_loop_s"] = _median(scipy_loop, max(1, repeats // 2))
    ref = scipy_loop()
    out["max_abs_diff_vs_scipy"] = float(
        np.max(np.abs(dc.simulate(tank, prop, steps, method="spectral", save_every=steps).frames[-1] - ref))
    )

    out["ratio_scipy_over_spectral"] = out["scipy_loop_s"] / out["spectral_s"]
    out["ratio_propagator_over_spectral"] = out["propagator_s"] / out["spectral_s"]
    out["ratio_long_over_short"] = out["spectral_long_s"] / out["spectral_s"]
    cov = np.asarray(prop.covariance)
    ex = _exponax(n, steps, float(cov[0, 0]) / 2, repeats)
    if ex is not None:
        out["exponax_compile_s"], out["exponax_s"] = ex
        out["ratio_exponax_over_spectral"] = out["exponax_s"] / out["spectral_s"]

    print(f"{n}x{n}, {steps} steps, float64, reflecting walls, 3x3 Gaussian kernel (median of {repeats})")
    print(f"  spectral            {out['spectral_s'] * 1e3:9.2f} ms   (compile {out['spectral_compile_s']:.2f} s)")
    print(
        f"  spectral {long_steps:>7} st {out['spectral_long_s'] * 1e3:9.2f} ms   "
        f"ratio {out['ratio_long_over_short']:.2f}"
    )
    print(
        f"  propagator          {out['propagator_s'] * 1e3:9.2f} ms   (compile {out['propagator_compile_s']:.2f} s)"
        f"   ratio {out['ratio_propagator_over_spectral']:.1f}x"
    )
    print(
        f"  scipy.ndimage loop  {out['scipy_loop_s'] * 1e3:9.2f} ms   ratio {out['ratio_scipy_over_spectral']:.1f}x"
        f"   (max |diff| {out['max_abs_diff_vs_scipy']:.2e})"
    )
    if ex is not None:
        print(
            f"  exponax (periodic)  {out['exponax_s'] * 1e3:9.2f} ms   (compile {out['exponax_compile_s']:.2f} s)"
            f"   ratio {out['ratio_exponax_over_spectral']:.1f}x"
        )
    return out


if __name__ == "__main__":
    main()

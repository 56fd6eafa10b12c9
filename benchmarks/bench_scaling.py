"""How the deterministic methods scale: grid size, kernel radius, steps, dtype; log-log plots.

- grid: 64^2 .. 2048^2 and 32^3 .. 128^3, time per step of ``propagator`` (float32 and
  float64), the time of ``spectral`` for the whole run, and a ``scipy.ndimage.convolve``
  step for comparison;
- radius 1 .. 8 on 256^2: the direct stencil (separable Gaussian and a non-separable
  kernel) against one step by FFT convolution (zero-padded ``rfft``, then the boundary
  fold), the crossover radius, and what an FFT step does to non-negativity and mass;
- steps 10 .. 10^5 on 256^2: ``propagator`` grows linearly, ``spectral`` stays flat.

Plots go to ``docs/img/scaling_*.png``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _per_step(tank, prop, steps, repeats):
    import diffusion_conv as dc

    from ._common import timed

    t = timed(lambda: dc.simulate(tank, prop, steps), repeats)
    return t["median_s"] / steps, t["compile_s"]


def grid(sizes2, sizes3, repeats):
    from scipy import ndimage

    import diffusion_conv as dc

    from ._common import timed

    rows = []
    for ndim, sizes in ((2, sizes2), (3, sizes3)):
        prop = dc.Propagator.gaussian(0.7, ndim=ndim, radius=1)
        for n in sizes:
            cells = n**ndim
            steps = int(np.clip(2e7 // cells, 10, 1000))
            row = {"ndim": ndim, "n": n, "cells": cells, "steps": steps}
            for dtype in (np.float32, np.float64):
                field = np.random.default_rng(0).random((n,) * ndim).astype(dtype)
                tank = dc.Tank(field, boundary="reflect")
                row[f"propagator_{np.dtype(dtype).name}_s_per_step"], _ = _per_step(tank, prop, steps, repeats)
            tank = dc.Tank(np.random.default_rng(0).random((n,) * ndim), boundary="reflect")
            row["spectral_1000_steps_s"] = timed(lambda: dc.simulate(tank, prop, 1000, method="spectral"), repeats)[
                "median_s"
            ]
            w = np.asarray(prop.weights)
            c = np.asarray(tank.concentration)
            row["scipy_s_per_step"] = timed(lambda: ndimage.convolve(c, w, mode="reflect"), repeats)["median_s"]
            rows.append(row)
            print(
                f"  {ndim}-D n={n:5d}: propagator {row['propagator_float32_s_per_step'] * 1e6:9.1f} us/step "
                f"(float32) {row['propagator_float64_s_per_step'] * 1e6:9.1f} us/step (float64); scipy "
                f"{row['scipy_s_per_step'] * 1e6:9.1f} us/step ({row['scipy_s_per_step'] / row['propagator_float64_s_per_step']:.1f}x); "
                f"spectral 1000 steps {row['spectral_1000_steps_s'] * 1e3:8.2f} ms",
                flush=True,
            )
    return rows


def _fft_stepper(shape, weights, boundary, steps):
    """``steps`` steps, each a linear convolution by FFT of the zero-padded field, then the fold."""
    import jax
    import jax.numpy as jnp

    from diffusion_conv.lattice import fold_extended

    radius = tuple(s // 2 for s in weights.shape)
    ext = tuple(n + 2 * r for n, r in zip(shape, radius))
    size = tuple(e + 2 * r for e, r in zip(ext, radius))  # room for the full linear convolution
    kf = jnp.fft.rfftn(jnp.asarray(weights), s=size)
    bnd = (boundary,) * len(shape)

    def step(c, _):
        full = jnp.fft.irfftn(jnp.fft.rfftn(c, s=size) * kf, s=size)
        e = full[tuple(slice(0, x) for x in ext)]
        c, _ = fold_extended(e, radius, bnd)
        return c, None

    return jax.jit(lambda c: jax.lax.scan(step, c, None, length=steps)[0])


def radius_sweep(n, radii, steps, repeats):
    import jax.numpy as jnp

    import diffusion_conv as dc

    from ._common import block, timed

    field = np.random.default_rng(0).random((n, n))
    tank = dc.Tank(field, boundary="reflect")
    rows = []
    for r in radii:
        gauss = dc.Propagator.gaussian(max(0.5, r / 2), ndim=2, radius=r)
        logits = np.random.default_rng(r).normal(size=(2 * r + 1,) * 2)
        generic = dc.Propagator.from_logits(logits + logits[::-1, ::-1])
        fft = _fft_stepper((n, n), np.asarray(generic.weights), "reflect", steps)
        c = jnp.asarray(field)
        row = {
            "radius": r,
            "separable_s_per_step": _per_step(tank, gauss, steps, repeats)[0],
            "direct_s_per_step": _per_step(tank, generic, steps, repeats)[0],
            "fft_s_per_step": timed(lambda: block(fft(c)), repeats)["median_s"] / steps,
        }
        rows.append(row)
        print(
            f"  radius {r}: separable {row['separable_s_per_step'] * 1e6:8.1f} us/step, direct "
            f"{row['direct_s_per_step'] * 1e6:8.1f} us/step, FFT step {row['fft_s_per_step'] * 1e6:8.1f} us/step",
            flush=True,
        )
    cross = {}
    for kind in ("separable", "direct"):
        faster = [row["radius"] for row in rows if row["fft_s_per_step"] < row[f"{kind}_s_per_step"]]
        cross[kind] = faster[0] if faster else None
    return rows, cross


def fft_rounding(n=64, r=2, steps=10):
    """What FFT-convolution steps do to a point source: negative values and mass drift, beside the stencil."""
    import jax.numpy as jnp

    import diffusion_conv as dc

    prop = dc.Propagator.gaussian(1.0, ndim=2, radius=r)
    c0 = np.zeros((n, n))
    c0[n // 2, n // 2] = 1.0
    c = np.asarray(_fft_stepper((n, n), np.asarray(prop.weights, dtype=np.float64), "reflect", steps)(jnp.asarray(c0)))
    stencil = dc.simulate(dc.Tank(c0, boundary="reflect"), prop, steps).final
    return {
        "steps": steps,
        "fft_min": float(c.min()),
        "fft_negative_cells": int((c < 0).sum()),
        "fft_mass_drift": abs(float(c.sum()) - 1.0),
        "stencil_min": float(stencil.min()),
        "stencil_mass_drift": abs(float(stencil.sum()) - 1.0),
    }


def steps_sweep(n, counts, repeats):
    import diffusion_conv as dc

    from ._common import timed

    tank = dc.Tank(np.random.default_rng(0).random((n, n)), boundary="reflect")
    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    rows = []
    for s in counts:
        reps = repeats if s <= 10_000 else 1
        row = {
            "steps": s,
            "propagator_s": timed(lambda: dc.simulate(tank, prop, s), reps)["median_s"],
            "spectral_s": timed(lambda: dc.simulate(tank, prop, s, method="spectral"), reps)["median_s"],
        }
        rows.append(row)
        print(
            f"  {s:7d} steps: propagator {row['propagator_s'] * 1e3:9.2f} ms, spectral {row['spectral_s'] * 1e3:7.2f} ms",
            flush=True,
        )
    return rows


def plots(grid_rows, radius_rows, steps_rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._common import save_plot

    paths = []
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for ndim, marker in ((2, "o"), (3, "s")):
        rows = [r for r in grid_rows if r["ndim"] == ndim]
        if not rows:
            continue
        cells = [r["cells"] for r in rows]
        ls = "-" if ndim == 2 else ":"
        for key, label, color in (
            ("propagator_float32_s_per_step", "propagator f32", "C0"),
            ("propagator_float64_s_per_step", "propagator f64", "C1"),
            ("scipy_s_per_step", "scipy convolve f64", "C2"),
        ):
            ax.loglog(cells, [r[key] for r in rows], marker=marker, ls=ls, color=color, label=f"{label} ({ndim}-D)")
        ax.loglog(
            cells,
            [r["spectral_1000_steps_s"] / 1000 for r in rows],
            marker=marker,
            ls=ls,
            color="C3",
            label=f"spectral / 1000 steps ({ndim}-D)",
        )
    ax.set_xlabel("cells")
    ax.set_ylabel("seconds per step")
    ax.set_title("time per step against grid size (3x3 Gaussian, reflect)")
    ax.legend(fontsize=6)
    paths.append(save_plot(fig, "scaling_grid.png"))
    if radius_rows:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        rad = [r["radius"] for r in radius_rows]
        for key, label in (
            ("separable_s_per_step", "stencil, separable"),
            ("direct_s_per_step", "stencil, generic"),
            ("fft_s_per_step", "FFT convolution step"),
        ):
            ax.loglog(rad, [r[key] for r in radius_rows], marker="o", label=label)
        ax.set_xticks(rad, [str(r) for r in rad])  # the radii measured, not powers of ten
        ax.minorticks_off()
        ax.set_xlabel("kernel radius (cells)")
        ax.set_ylabel("seconds per step")
        ax.set_title("time per step against kernel radius")
        ax.legend(fontsize=7)
        paths.append(save_plot(fig, "scaling_radius.png"))
    if steps_rows:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        st = [r["steps"] for r in steps_rows]
        ax.loglog(st, [r["propagator_s"] for r in steps_rows], marker="o", label="propagator")
        ax.loglog(st, [r["spectral_s"] for r in steps_rows], marker="s", label="spectral")
        ax.set_xlabel("steps")
        ax.set_ylabel("seconds per run")
        ax.set_title("time per run against steps (256^2, float64)")
        ax.legend(fontsize=7)
        paths.append(save_plot(fig, "scaling_steps.png"))
    return paths


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few radii and steps")
    parser.add_argument("--no-plots", action="store_true", help="do not write docs/img/scaling_*.png")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    from ._common import machine

    q = args.quick
    start = time.perf_counter()
    out = {"machine": machine()}
    print("scaling: grid size")
    rows = grid([64, 128] if q else [64, 128, 256, 512, 1024, 2048], [16, 32] if q else [32, 64, 128], 2 if q else 3)
    out["grid"] = {f"{r['ndim']}d_{r['n']}": r for r in rows}
    print("scaling: kernel radius (256^2, float64)" if not q else "scaling: kernel radius (128^2, float64)")
    rrows, cross = radius_sweep(
        128 if q else 256, [1, 2, 3] if q else [1, 2, 3, 4, 6, 8], 10 if q else 100, 2 if q else 3
    )
    out["radius"] = {f"r{r['radius']}": r for r in rrows}
    out["fft_crossover_radius"] = cross
    out["fft_step_rounding"] = fft_rounding()
    print(f"  FFT step faster from radius: {cross}; rounding: {out['fft_step_rounding']}")
    print("scaling: steps")
    srows = steps_sweep(64 if q else 256, [10, 100, 1000] if q else [10, 100, 1000, 10_000, 100_000], 2 if q else 3)
    out["steps"] = {f"s{r['steps']}": r for r in srows}
    if not args.no_plots:
        out["plots"] = plots(rows, rrows, srows)
        print("  wrote " + ", ".join(out["plots"]))
    out["wall_s"] = time.perf_counter() - start
    return out


if __name__ == "__main__":
    main(sys.argv[1:])

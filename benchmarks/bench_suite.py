"""The tools people use instead, on one physical problem, with their error against the closed form.

A two-compartment tank (left half 1, right half 0), reflecting walls, the 3x3
Gaussian kernel (sigma 0.7), ``dx = dt = 1``, so ``D = covariance / 2``, run to
``t = steps``. Every contender solves that problem; its time (warm-up first,
median of repeats, compilation apart) and its largest error against
:func:`diffusion_conv.analytic.two_compartment` are reported side by side:

- ``propagator``, ``spectral``: this package (``simulate``);
- ``scipy_loop``: a Python loop of ``scipy.ndimage.convolve`` (mode ``reflect``);
- ``gaussian_filter``: one ``scipy.ndimage.gaussian_filter`` call with the equivalent
  ``sigma = sqrt(steps * variance)`` (the continuum limit in one blur);
- ``pypde``: py-pde's ``DiffusionPDE``, explicit Euler (numba) at the largest stable step;
- ``exponax``: exponax's ``Diffusion`` stepper, a rollout of ``steps`` steps; it is
  periodic only, so it is timed on the periodic version of the tank, beside
  ``spectral_periodic`` and ``propagator_periodic`` (same problem, same closed form).

Optional contenders that are not installed are skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np


def periodic_reference(n, t, D):
    """Cell averages of the periodic square wave (left half 1): mirror images of the closed tank."""
    from diffusion_conv.analytic import two_compartment

    half = two_compartment((n // 2,), t, D)  # the tank between the symmetry planes n/4, 3n/4
    x = np.arange(n)
    q = n // 4
    j = np.where(x < q, q - 1 - x, np.where(x < 3 * q, x - q, 5 * q - 1 - x))
    return half[j]


def _pypde(c0, D, t_end, repeats):
    try:
        import pde
    except ImportError as err:
        return f"skipped: py-pde is not installed ({err}); install the 'bench' extra"
    n = c0.shape[0]
    grid = pde.CartesianGrid([[0, c0.shape[0]], [0, c0.shape[1]]], list(c0.shape), periodic=[False, False])
    eq = pde.DiffusionPDE(diffusivity=D, bc={"derivative": 0})
    dt_max = 1.0 / (2 * c0.ndim * D)  # explicit Euler, 5-point Laplacian, dx = 1
    m = int(np.ceil(1.01 * t_end / dt_max))
    dt = t_end / m
    from ._common import first_call, timed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver = pde.solvers.EulerSolver(eq, backend="numba", adaptive=False)
        state = pde.ScalarField(grid, c0)
        holder = {}
        compile_s = first_call(lambda: holder.setdefault("step", solver.make_stepper(state, dt=dt)))
        stepper = holder["step"]

        def once():
            s = state.copy()
            stepper(s, 0.0, t_end - 0.5 * dt)  # steps while t < t_end: m steps
            holder["out"] = s.data
            return s

        t = timed(once, repeats)
    t["compile_s"] += compile_s
    return {**t, "final": holder["out"], "dt": dt, "steps": m, "n": n}


def _exponax(c0, D, steps, repeats):
    try:
        import exponax as ex
        import jax
    except ImportError as err:
        return f"skipped: exponax is not installed ({err}); install the 'bench' extra"
    from ._common import block, timed

    n = c0.shape[0]
    stepper = ex.stepper.Diffusion(2, float(n), n, 1.0, diffusivity=D)
    rollout = jax.jit(lambda u: ex.rollout(stepper, steps, include_init=False)(u)[-1])
    u0 = jax.numpy.asarray(c0[None])
    t = timed(lambda: block(rollout(u0)), repeats)
    return {**t, "final": np.asarray(rollout(u0))[0]}


def run(n=256, steps=1000, repeats=5, pypde=True):
    import jax

    jax.config.update("jax_enable_x64", True)
    from scipy import ndimage

    import diffusion_conv as dc
    from diffusion_conv.analytic import two_compartment

    from ._common import machine, timed

    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    w = np.asarray(prop.weights)
    var = float(np.asarray(prop.covariance)[1, 1])
    D = var / 2
    tank = dc.Tank.two_compartment((n, n), left=1.0, right=0.0, boundary="reflect")
    ptank = dc.Tank.two_compartment((n, n), left=1.0, right=0.0, boundary="periodic")
    c0 = np.asarray(tank.concentration, dtype=np.float64)
    ref = two_compartment((n, n), float(steps), D)
    pref = np.broadcast_to(periodic_reference(n, float(steps), D), (n, n))
    out = {
        "machine": machine(),
        "problem": {
            "shape": [n, n],
            "steps": steps,
            "t": float(steps),
            "D": D,
            "kernel": "3x3 Gaussian, sigma 0.7",
            "dtype": "float64",
        },
    }
    results = {}

    def record(name, t, final, reference):
        results[name] = {
            "median_s": t["median_s"],
            "compile_s": t["compile_s"],
            "max_error": float(np.max(np.abs(np.asarray(final, dtype=np.float64) - reference))),
        }
        print(
            f"  {name:20s} {t['median_s'] * 1e3:10.2f} ms  (compile {t['compile_s']:.2f} s)  "
            f"max |error| {results[name]['max_error']:.2e}",
            flush=True,
        )

    for name, tk, reference in (
        ("propagator", tank, ref),
        ("spectral", tank, ref),
        ("propagator_periodic", ptank, pref),
        ("spectral_periodic", ptank, pref),
    ):
        method = name.split("_")[0]
        t = timed(lambda: dc.simulate(tk, prop, steps, method=method), repeats)
        record(name, t, dc.simulate(tk, prop, steps, method=method).final, reference)

    def loop():
        c = c0
        for _ in range(steps):
            c = ndimage.convolve(c, w, mode="reflect")
        return c

    t = timed(loop, max(1, repeats // 2))
    record("scipy_loop", t, loop(), ref)
    sigma = float(np.sqrt(steps * var))
    t = timed(lambda: ndimage.gaussian_filter(c0, sigma, mode="reflect"), repeats)
    record("gaussian_filter", t, ndimage.gaussian_filter(c0, sigma, mode="reflect"), ref)
    if pypde:
        r = _pypde(c0, D, float(steps), max(1, repeats // 2))
    else:
        r = "skipped with --quick: numba compiles py-pde's stepper for about a minute"
    if isinstance(r, dict):
        record("pypde", r, r["final"], ref)
        results["pypde"].update(time_step=r["dt"], steps=r["steps"])
    else:
        results["pypde"] = r
        print(f"  pypde: {r}")
    r = _exponax(np.asarray(ptank.concentration, dtype=np.float64), D, steps, repeats)
    if isinstance(r, dict):
        record("exponax", r, r["final"], pref)
    else:
        results["exponax"] = r
        print(f"  exponax: {r}")
    out["contenders"] = results
    ratios = {}
    for slow, fast in (
        ("scipy_loop", "propagator"),
        ("pypde", "propagator"),
        ("scipy_loop", "spectral"),
        ("gaussian_filter", "spectral"),
        ("pypde", "spectral"),
        ("propagator", "spectral"),
        ("exponax", "spectral_periodic"),
        ("exponax", "propagator_periodic"),
    ):
        if isinstance(results.get(slow), dict) and isinstance(results.get(fast), dict):
            ratios[f"{slow}/{fast}"] = results[slow]["median_s"] / results[fast]["median_s"]
    out["ratios"] = ratios
    for k, v in ratios.items():
        print(f"  ratio {k:34s} {v:9.1f}x")
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64x64, 200 steps, py-pde skipped")
    args = parser.parse_args(argv)
    n, steps, repeats = (64, 200, 3) if args.quick else (256, 1000, 5)
    print(f"contenders on the two-compartment tank: {n}x{n}, {steps} steps, float64")
    return run(n, steps, repeats, pypde=not args.quick)


if __name__ == "__main__":
    main(sys.argv[1:])

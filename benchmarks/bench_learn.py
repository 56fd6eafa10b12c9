"""Fitting a 3x3 propagator to 10 frames of 128x128, against a direct linear least-squares solve.

The frames come from an asymmetric 3x3 kernel at reflecting walls (float64).
``fit_propagator`` (softmax logits, L-BFGS-B with JAX gradients, standard errors
from the Hessian) is timed on its first call (compilation included) and warm;
the alternative is the closed form for clean one-step data: the design matrix
of the frame shifted by every offset, solved by ``numpy.linalg.lstsq`` under
the constraint that the weights sum to 1 (no positivity, no errors).
``--quick`` shrinks the problem (32x32, 4 frames).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

TRUE = np.array([[0.02, 0.05, 0.20], [0.08, 0.30, 0.15], [0.03, 0.07, 0.10]])


def lstsq_fit(frames, boundary="reflect"):
    """Weights by constrained linear least squares on the one-step design (columns: shifted frames)."""
    import jax.numpy as jnp

    import diffusion_conv as dc

    K = TRUE.size
    x, y = frames[:-1], frames[1:]
    columns = []
    for k in range(K):
        e = np.zeros(K)
        e[k] = 1.0
        p = dc.Propagator(e.reshape(TRUE.shape))
        columns.append(np.stack([np.asarray(dc.propagate(jnp.asarray(f), p, 1, boundary=boundary)) for f in x]))
    X = np.stack([c.ravel() for c in columns], axis=1)
    # w = e_c + Q u with Q spanning {sum = 0}: an unconstrained problem in u
    c = K // 2
    q = np.linalg.qr(np.eye(K) - 1.0 / K)[0][:, : K - 1]
    base = np.zeros(K)
    base[c] = 1.0
    u = np.linalg.lstsq(X @ q, y.ravel() - X @ base, rcond=None)[0]
    return (base + q @ u).reshape(TRUE.shape)


def main(argv=None) -> dict:
    """Run the benchmark; returns the measured figures (seconds, errors, iterations)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small problem that runs in seconds")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffusion_conv as dc
    from diffusion_conv.learn import fit_propagator

    n, count = (32, 4) if args.quick else (128, 10)
    tank = dc.Tank(np.random.default_rng(0).random((n, n)), boundary="reflect")
    frames = dc.simulate(tank, dc.Propagator(TRUE), count - 1, save_every=1).frames
    out = {"shape": [n, n], "frames": count, "kernel": "3x3 asymmetric", "dtype": "float64", "boundary": "reflect"}

    t = time.perf_counter()
    fit = fit_propagator(frames, radius=1)
    out["fit_first_call_s"] = time.perf_counter() - t
    t = time.perf_counter()
    fit = fit_propagator(frames, radius=1)
    out["fit_warm_s"] = time.perf_counter() - t
    out["fit_warm_descent_s"] = fit.descent_s
    out["fit_iterations"] = fit.iterations
    out["fit_converged"] = fit.converged
    out["fit_final_loss"] = fit.final_loss
    out["fit_max_weight_error"] = float(np.max(np.abs(np.asarray(fit.propagator.weights) - TRUE)))

    lstsq_fit(frames[:2])  # compile the one-hot propagations
    t = time.perf_counter()
    w = lstsq_fit(frames)
    out["lstsq_s"] = time.perf_counter() - t
    out["lstsq_max_weight_error"] = float(np.max(np.abs(w - TRUE)))
    out["converged_under_10_s_warm"] = out["fit_warm_s"] < 10.0

    print(f"{n}x{n}, {count} frames, float64, reflecting walls, 3x3 asymmetric kernel")
    print(
        f"  fit_propagator (L-BFGS)  first call {out['fit_first_call_s']:7.2f} s   warm {out['fit_warm_s']:7.3f} s "
        f"(descent {fit.descent_s:.3f} s)   "
        f"{fit.iterations} iterations, loss {fit.final_loss:.1e}, max weight error "
        f"{out['fit_max_weight_error']:.1e}"
    )
    print(f"  linear least squares     {out['lstsq_s']:7.3f} s   max weight error {out['lstsq_max_weight_error']:.1e}")
    return out


if __name__ == "__main__":
    main()

"""Particles become deterministic as N grows: the scatter around the propagator falls like N^-1/2.

Two compartments in a closed tank, a 3x3 Gaussian kernel. The ``particles``
and ``counts`` methods run with N = 10^3 .. 10^6 particles (several keys per
N), and each final frame is compared with the ``propagator`` method, their
exact expectation. The relative L2 error is fitted on a log-log scale: the
slope is the measured order (expected -1/2, the law of large numbers), and the
prediction from the binomial variance of every cell is drawn beside it.

Writes ``particles_to_deterministic.png`` (log-log plot) and
``particles_to_deterministic.md`` (the figures) into ``--out``.

    python simulations/particles_to_deterministic.py [--smoke] [--out DIR]
"""

import os

import numpy as np
from _script import arguments, write_report


def predicted_error(p, n):
    """Expected relative L2 error of N-particle counts with cell probabilities ``p``:
    ``sqrt(sum p (1 - p) / N) / ||p||`` (binomial variance of each cell)."""
    return float(np.sqrt(np.sum(p * (1 - p)) / n) / np.linalg.norm(p))


def run(sizes, shape, steps, keys_per_size, methods=("particles", "counts")):
    """Relative L2 errors ``{method: (len(sizes), keys_per_size)}`` and the cell probabilities."""
    import jax

    import diffusion_conv as dc

    tank = dc.Tank.two_compartment(shape, left=1.0, right=0.2, boundary="reflect")
    prop = dc.Propagator.gaussian(0.8, ndim=2, radius=1)
    ref = dc.simulate(tank, prop, steps, method="propagator").final
    p = np.asarray(ref, np.float64).ravel() / float(np.sum(ref, dtype=np.float64))
    errors = {}
    for method in methods:
        err = np.empty((len(sizes), keys_per_size))
        for i, n in enumerate(sizes):
            for j in range(keys_per_size):
                key = jax.random.fold_in(jax.random.key(i), j)
                res = dc.simulate(tank, prop, steps, method=method, n_particles=int(n), key=key)
                err[i, j] = dc.rel_l2_error(res.final, ref)
        errors[method] = err
    return errors, p


def plot(sizes, errors, predicted, fits, path):
    """The log-log plot of error against N (matplotlib imported here, written atomically)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from diffusion_conv.render import save_figure

    fig = Figure(figsize=(6, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for k, ((method, err), marker) in enumerate(zip(errors.items(), ("o", "s"))):
        colour = f"C{k}"  # a method's runs and its fitted line in one colour
        x = np.repeat(sizes, err.shape[1])
        ax.loglog(
            x,
            err.ravel(),
            marker,
            color=colour,
            alpha=0.45,
            ms=5,
            mfc="none" if marker == "s" else colour,
            label=f"{method}: {err.shape[1]} runs per N (one key each)",
        )
        slope, intercept = fits[method]
        ax.loglog(
            sizes,
            np.exp(intercept) * np.asarray(sizes, float) ** slope,
            color=colour,
            lw=1.2,
            label=f"{method}: fitted slope {slope:.3f}",
        )
    ax.loglog(sizes, predicted, "k--", lw=1.0, label="binomial prediction, slope -1/2")
    ax.set_xlabel("number of particles N")
    ax.set_ylabel("relative L2 error against propagator")
    ax.set_title("stochastic methods converge to their expectation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    """Run the study; returns the fitted slopes and errors."""
    args = arguments(__doc__, argv, smoke_help="small sizes that finish in seconds (for the tests)")

    import diffusion_conv as dc

    if args.smoke:
        sizes, shape, steps, reps, methods = [10**3, 10**4, 10**5], (12, 12), 5, 2, ("particles",)
    else:
        sizes, shape, steps, reps = [10**3, 10**3.5, 10**4, 10**4.5, 10**5, 10**5.5, 10**6], (64, 64), 50, 5
        methods = ("particles", "counts")
    sizes = [int(round(s)) for s in sizes]
    errors, p = run(sizes, shape, steps, reps, methods)
    predicted = [predicted_error(p, n) for n in sizes]
    fits = {m: dc.fit_order(np.repeat(sizes, e.shape[1]), e.ravel()) for m, e in errors.items()}

    lines = [
        f"{shape[0]}x{shape[1]} closed tank (two compartments, 1.0 | 0.2), 3x3 Gaussian kernel (sigma 0.8), "
        f"{steps} steps; {reps} keys per N. Relative L2 error of the final frame against `propagator`.",
        "",
        "| N | " + " | ".join(f"{m} (mean)" for m in errors) + " | binomial prediction |",
        "|---:|" + "---:|" * (len(errors) + 1),
    ]
    for i, n in enumerate(sizes):
        lines.append(
            f"| {n:,} | " + " | ".join(f"{e[i].mean():.3e}" for e in errors.values()) + f" | {predicted[i]:.3e} |"
        )
    lines += ["", "Fitted order (slope of log error against log N; expected -0.5):", ""]
    lines += [f"- {m}: {s:.3f}" for m, (s, _) in fits.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    write_report(args, "particles_to_deterministic.md", text)
    plot(sizes, errors, predicted, fits, os.path.join(args.out, "particles_to_deterministic.png"))
    for m, (s, _) in fits.items():
        if abs(s + 0.5) > 0.15:
            raise SystemExit(f"{m}: fitted order {s:.3f} is not -0.5")
    return {
        "sizes": sizes,
        "slopes": {m: s for m, (s, _) in fits.items()},
        "errors": {m: e.mean(axis=1).tolist() for m, e in errors.items()},
        "predicted": predicted,
    }


if __name__ == "__main__":
    main()

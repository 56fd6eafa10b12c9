"""A gel hidden in the tank, found again from noisy snapshots of the salt.

A disc of gel (mobility 0.2: the salt crosses it five times more slowly than
water) sits off-centre in a closed tank. Salt is sprinkled unevenly over the
tank (a random field, so that it has a gradient to follow everywhere) and its
spreading is observed through noisy frames: particles when the ``particles``
method takes a mobility map, otherwise the exact expectation with the noise
of counting a fixed number of particles (a Poisson count per cell), which is
what a particle run's frames are in distribution cell by cell. The script
says which in its output. :func:`diffusion_conv.fit_mobility`, knowing the
kernel of water and the frames only, recovers the map (total-variation prior,
its weight by the documented rule); the error against the hidden truth is
measured: the mean absolute error of the map and the intersection over union
of the gel (cells below mobility 0.6, halfway between gel and water).

Writes ``hidden_gel.png`` (true | recovered | error) and ``hidden_gel.md`` into ``--out``.

    python simulations/hidden_gel.py [--smoke] [--out DIR]
"""

import os
import sys
import time

import numpy as np
from _script import arguments, write_report

GEL = 0.2
THRESHOLD = 0.6


def gel_disc(n):
    """The hidden map: water (1) with a disc of gel (``GEL``) of radius n / 5, off-centre."""
    y, x = np.mgrid[:n, :n]
    return np.where((y - 0.42 * n) ** 2 + (x - 0.58 * n) ** 2 < (n / 5) ** 2, GEL, 1.0)


def particles_take_mobility(dc):
    """Whether the particles method of this installation walks with a mobility map."""
    import inspect

    from diffusion_conv.methods import get

    return "mobility" in inspect.signature(dc.Tank).parameters and bool(getattr(get("particles"), "mobility", False))


def expectation(truth, field, prop, steps, n_frames):
    """Frames of the exact expectation with the mobility map ``truth`` (the propagator's steps)."""
    import jax.numpy as jnp

    from diffusion_conv.lattice.mobility import jump_factors, step

    bnd = ("reflect", "reflect")
    factors = jump_factors(jnp.asarray(truth), prop.radius, bnd)
    w = jnp.asarray(prop.weights).ravel()
    f, out = jnp.asarray(field), [np.asarray(field)]
    for _ in range(n_frames - 1):
        for _ in range(steps):
            f = step(f, w, factors, prop.radius, bnd)[0]
        out.append(np.asarray(f))
    return np.stack(out)


def observe(dc, truth, field, prop, steps, n_frames, n_particles, seed):
    """``(frames, how)``: noisy frames every ``steps`` steps, and a sentence saying how they were made."""
    import jax

    exact = expectation(truth, field, prop, steps, n_frames)
    if particles_take_mobility(dc):
        tank = dc.Tank(field, boundary="reflect", mobility=truth)
        res = dc.simulate(
            tank,
            prop,
            steps * (n_frames - 1),
            method="particles",
            save_every=steps,
            n_particles=n_particles,
            key=jax.random.key(seed),
        )
        frames = np.asarray(res.frames, dtype=np.float64)
        water = expectation(np.ones_like(truth), field, prop, steps, n_frames)
        # a check, not a formality: the walk must follow the gel (closer to its expectation than to open water's)
        if np.sum((frames - exact) ** 2) < np.sum((frames - water) ** 2):
            return frames, f"{n_particles:,} particles (the particles method)"
        note = "this installation's particles method does not follow the mobility map"
    else:
        note = "this installation's particles method does not take a mobility map"
    scale = n_particles / float(exact[0].sum())  # particles per unit of concentration
    frames = np.random.default_rng(seed).poisson(exact * scale) / scale
    return frames, (
        f"the exact expectation with the counting noise of {n_particles:,} particles (a Poisson count per "
        f"cell, what a particle run's frames are cell by cell; {note})"
    )


def plot(truth, fitted, path):
    """true | recovered | error, on one colour scale for the maps."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from diffusion_conv.render import save_figure

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, (title, m) in zip(axes[:2], (("true mobility", truth), ("recovered from noisy frames", fitted))):
        im = ax.imshow(m, cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=axes[:2].tolist(), shrink=0.85, label="mobility")
    err = fitted - truth
    lim = max(float(np.max(np.abs(err))), 1e-12)
    im = axes[2].imshow(err, cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[2].set_title("recovered - true", fontsize=10)
    fig.colorbar(im, ax=axes[2], shrink=0.85)
    for ax in axes:
        ax.set_xlabel("cell (axis 1)")
    axes[0].set_ylabel("cell (axis 0)")
    save_figure(fig, path)


def main(argv=None):
    args = arguments(__doc__, argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import diffusion_conv as dc

    n = 24 if args.smoke else 64
    n_particles = 10**6 if args.smoke else 10**7
    steps, n_frames = 2, 6
    truth = gel_disc(n)
    field = np.random.default_rng(0).random((n, n))
    prop = dc.Propagator.gaussian(0.8)
    frames, how = observe(dc, truth, field, prop, steps, n_frames, n_particles, seed=1)
    start = time.perf_counter()
    fit = dc.fit_mobility(frames, prop, steps_between=steps, boundary="reflect", prior="tv")
    elapsed = time.perf_counter() - start
    gel, found = truth < THRESHOLD, fit.mobility < THRESHOLD
    iou = float(np.sum(gel & found) / np.sum(gel | found))
    mae = fit.error(truth)
    inside, outside = float(np.median(fit.mobility[gel])), float(np.median(fit.mobility[~gel]))
    text = (
        f"Hidden gel: a disc of mobility {GEL} (radius {n / 5:.1f} cells) in a closed {n}x{n} tank, a Gaussian "
        f"kernel (sigma 0.8), {n_frames} frames {steps} steps apart, observed as {how}.\n\n"
        f"| measure | value |\n|---|---:|\n"
        f"| mean absolute error of the map | {mae:.4f} |\n"
        f"| IoU of the gel (mobility < {THRESHOLD}) | {iou:.3f} |\n"
        f"| median mobility found inside the gel (true {GEL}) | {inside:.3f} |\n"
        f"| median mobility found in the water (true 1) | {outside:.3f} |\n"
        f"| data loss (share of the change unexplained) | {fit.data_loss:.3g} |\n"
        f"| prior weight (3 x noise share {fit.noise_share:.3g}) | {fit.weight:.3g} |\n"
        f"| L-BFGS iterations, converged | {fit.iterations}, {fit.converged} |\n"
        f"| fit time (s, compilation included) | {elapsed:.1f} |\n"
    )
    print(text)
    write_report(args, "hidden_gel.md", text)
    plot(truth, fit.mobility, os.path.join(args.out, "hidden_gel.png"))
    jax.clear_caches()
    return 0


if __name__ == "__main__":
    sys.exit(main())

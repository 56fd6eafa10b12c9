"""Shared statistical checks for the stochastic methods (particles, counts)."""

import jax
import numpy as np
import pytest
from scipy import stats

import diffusion_conv as dc


def asym(shape, seed):
    """A softmax propagator of random logits: asymmetric along every axis."""
    return dc.Propagator.from_logits(np.random.default_rng(seed).normal(size=shape))


def field(shape, seed=1):
    """A random field with every cell occupied."""
    return np.random.default_rng(seed).uniform(0.2, 1.0, size=shape)


def check_unbiased(counts, absorbed, tank, prop, steps, n, what="particles"):
    """Per-cell z-scores (|z| < 5) and chi-square of the ensemble mean against the propagator.

    ``counts`` (R, F, *shape), ``absorbed`` (R, F): R independent runs of ``n`` particles; each
    cell's count (and the absorbed count) is binomial(n, p) with p the propagator's share of the
    mass in that cell.
    """
    ref = dc.simulate(tank, prop, int(steps[-1]), method="propagator", save_every=1)
    mass = float(np.asarray(tank.mass))
    r = counts.shape[0]
    for f, s in enumerate(steps):
        p = np.append(np.asarray(ref.frames[s]).ravel() * tank.dx**tank.ndim, ref.absorbed[s]) / mass
        x = np.append(counts[:, f].reshape(r, -1), absorbed[:, f, None], axis=1).astype(np.float64)
        live = p > 1e-12
        assert np.all(x[:, ~live] == 0), f"{what} reached cells the propagator never reaches"
        if s == 0:
            continue
        pl = p[live]
        z = (x[:, live].mean(axis=0) - n * pl) / np.sqrt(n * pl * (1 - pl) / r)
        assert np.max(np.abs(z)) < 5, f"step {s}: max |z| = {np.max(np.abs(z)):.2f}"
        chi2, dof = float(np.sum(z**2)), int(live.sum())
        assert stats.chi2.sf(chi2, dof) > 1e-4 and stats.chi2.cdf(chi2, dof) > 1e-4, (chi2, dof)


def check_bad_input(method, kwargs, error, words):
    """``simulate(method=...)`` on a small tank with ``kwargs`` over valid defaults raises ``error`` matching ``words``."""
    tank, prop = dc.Tank(field((5, 5))), dc.Propagator.gaussian(0.7)
    args = dict(n_particles=10, key=jax.random.key(0))
    args.update(kwargs)
    with pytest.raises(error, match=words):
        dc.simulate(tank, prop, 3, method=method, **args)


def check_large_n_says_how_to_enable_x64(method, n_particles):
    """Without JAX's x64 mode, ``n_particles`` above the float32-exact limit is refused with a hint."""
    with jax.enable_x64(False):
        tank = dc.Tank(np.ones((4, 4), np.float32))
        with pytest.raises(ValueError, match="x64"):
            dc.simulate(tank, dc.Propagator.box(3), 2, method=method, n_particles=n_particles, key=jax.random.key(0))


def _shared_cases():
    return {
        "symmetric-reflect": (dc.Tank(field((9, 8))), dc.Propagator.gaussian(0.8, ndim=2)),
        "asymmetric-periodic": (dc.Tank(field((9, 8)), boundary="periodic"), asym((3, 3), 2)),
        "asymmetric-absorb": (dc.Tank(field((9, 8)), boundary="absorb"), asym((3, 5), 3)),
        "board-gap-mixed": (
            dc.Tank(field((10, 9)), boundary=("reflect", "absorb")).with_board(0, 5, gap=(2, 5)),
            asym((3, 3), 4),
        ),
    }


SHARED_CASES = _shared_cases()
"""The problems both stochastic methods are checked on: each boundary, a kernel with drift, a board with a gap."""

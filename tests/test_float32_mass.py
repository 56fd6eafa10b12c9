"""Float32 mass over many steps of the propagator method: rounding that does not lean one way.

A float32 step rounds each cell's value once per pass (the separable path takes one pass per axis)
by up to about eps/2 of it, eps = 2^-23 = 1.19e-7, so a pass moves the mass by up to about eps/2
of it whatever the correlation between cells. If the roundings do not lean one way, those errors
take random signs from pass to pass and after n steps (2n passes) the relative drift has a standard
deviation of at most sqrt(2n) eps / 2 = 0.71 sqrt(n) eps; with the cells' errors independent it
is smaller again by about sqrt(cells) (8192 here). The bound sqrt(n) eps (5.3e-6 for n = 2000)
holds that with room to spare. A rounding that leans one way by b (relative, per step) drifts by
n b instead, linearly: 0.1 eps per step is 2.4e-5 after 2000 steps, past the bound.
What remains is the rounding of the stored field itself, which leans too where a step changes a
cell by less than its last place (near equilibrium; measured up to 1.5e-5 after 10^4 steps on a
128x256 tank, the same as with each pass computed in float64 and rounded once); 2000 steps on
this tank stay well below the bound.

The tests run with float32 computation (x64 off), as a user's run does by default.
"""

import math

import jax
import numpy as np
import pytest

import diffusion_conv as dc

EPS32 = float(np.finfo(np.float32).eps)
_D = np.arange(-1, 2)
_Y, _X = np.meshgrid(_D, _D, indexing="ij")

# the kernel families: separable ones take the halo path, the others the direct path
FAMILIES = {
    "box3": (lambda: dc.Propagator.box(3, ndim=2), "halo"),
    "gaussian0.7": (lambda: dc.Propagator.gaussian(0.7, ndim=2), "halo"),
    "gaussian-r3": (lambda: dc.Propagator.gaussian(1.0, ndim=2, radius=3), "halo"),
    "skewed": (lambda: dc.Propagator.from_logits(-(_X**2 + _Y**2) / 2.0 + 0.8 * _X - 0.3 * _Y), "halo"),
    "edge": (lambda: dc.Propagator.from_kernel(np.array([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]) / 4), "direct"),
    # random logits whose float32 weights sum to 1 - 1.3e-8 (normalising leaves up to half a unit in the
    # last place of the centre weight, 1.5e-8 here): summed as stored, that alone is 2.6e-5 in 2000 steps
    "random": (lambda: dc.Propagator.from_logits(np.random.default_rng(9).normal(size=(3, 3))), "direct"),
}


def _drift(family, boundary, shape, steps):
    make, path = FAMILIES[family]
    with jax.enable_x64(False):
        tank = dc.Tank.two_compartment(shape, left=1.0, right=0.0, boundary=boundary)
        res = dc.simulate(tank, make(), steps, method="propagator")
    assert res.frames.dtype == np.float32
    assert res.meta["path"] == path
    mass = res.frames.astype(np.float64).sum(axis=(1, 2))
    return mass[-1] / mass[0] - 1


@pytest.mark.parametrize("boundary", ["reflect", "periodic"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_float32_mass_drift_grows_no_faster_than_unbiased_rounding(family, boundary):
    steps = 2000
    drift = _drift(family, boundary, (64, 128), steps)
    assert abs(drift) < np.sqrt(steps) * EPS32, f"{family}/{boundary}: relative mass drift {drift:.3e}"


@pytest.mark.parametrize("boundary", ["reflect", "periodic"])
@pytest.mark.parametrize("family", [f for f, (_, path) in FAMILIES.items() if path == "halo"])
def test_float32_uniform_field_is_stationary_to_the_bit_away_from_the_edges(family, boundary):
    # a cell of a uniform field gets back exactly what it gives away: a separable step returns it
    # unchanged (the plain sum of the products f_k c rounded it off c by a fraction of a unit in the
    # last place, the same way in every cell and step: the one-sided drift in its purest form). Cells
    # within the kernel's reach of an edge take the mass folded back there as an addition, which rounds.
    make, _ = FAMILIES[family]
    values = np.random.default_rng(0).uniform(0.1, 1.0, size=12).astype(np.float32)
    steps, n = 2, 24
    with jax.enable_x64(False):
        prop = make()
        reach = steps * max(prop.radius)
        inner = (slice(reach, n - reach),) * 2
        for value in values:
            tank = dc.Tank(np.full((n, n), value, np.float32), boundary=boundary)
            res = dc.simulate(tank, prop, steps, method="propagator")
            assert res.meta["path"] == "halo"
            np.testing.assert_array_equal(res.final[inner], value, err_msg=f"{family}, c = {value!r}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("family", list(FAMILIES) + ["gaussian-3d", "asymmetric-5x3"])
def test_unit_sum_weights_sum_to_one_exactly_within_their_rounding(family, dtype):
    from diffusion_conv.methods._stencils import unit_sum

    if family == "gaussian-3d":
        w = np.asarray(dc.Propagator.gaussian(0.9, ndim=3, radius=2).weights)
    elif family == "asymmetric-5x3":
        w = np.asarray(dc.Propagator.from_logits(np.random.default_rng(1).normal(size=(5, 3))).weights)
    else:
        w = np.asarray(FAMILIES[family][0]().weights)
    stored = w.astype(dtype)
    remainder = abs(1.0 - math.fsum(stored.astype(np.float64).ravel()))
    out = unit_sum(w, dtype)
    assert out.dtype == dtype and out.shape == w.shape
    # the sum of the stored entries (computed exactly, then rounded once to float64) is 1
    assert math.fsum(out.astype(np.float64).ravel()) == 1.0
    # each entry moves by at most the remainder plus a unit in the last place of the largest entry
    moved = np.abs(out.astype(np.float64) - stored.astype(np.float64))
    assert moved.max() <= remainder + float(np.spacing(stored.max()))
    np.testing.assert_array_equal(out[stored == 0], 0.0)
    for a in range(w.ndim):  # every mirror symmetry of the stored kernel is kept
        if np.array_equal(stored, np.flip(stored, a)):
            np.testing.assert_array_equal(out, np.flip(out, a))

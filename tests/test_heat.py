"""The heat method against closed forms, and the measured order of propagator -> heat."""

import numpy as np
import pytest
from helpers import run_at

import diffusion_conv as dc
from diffusion_conv import analytic
from diffusion_conv.methods import _continuum, heat


def _along(w, axis, ndim):
    shape = [1] * ndim
    shape[axis] = len(w)
    return dc.Propagator(np.asarray(w, dtype=np.float64).reshape(shape))


@pytest.mark.parametrize("shape,axis", [((64,), 0), ((5, 40), 1), ((30, 4), 0), ((4, 3, 26), 2)])
def test_closed_tank_matches_cosine_series(shape, axis):
    w = [0.3, 0.4, 0.3]  # D = 0.3 along the axis (dx = dt = 1)
    tank = dc.Tank.two_compartment(shape, left=1.0, right=0.2, axis=axis, boundary="reflect")
    res = dc.simulate(tank, _along(w, axis, len(shape)), 400, method="heat", save_every=10)
    for frame, t in zip(res.frames[1:], res.times[1:]):
        ref = analytic.two_compartment(shape, t, 0.3, left=1.0, right=0.2, axis=axis)
        assert np.max(np.abs(frame - ref)) <= 1e-10
    np.testing.assert_allclose(res.mass(), res.mass()[0], rtol=1e-13)


def test_dx_dt_units():
    """D = S dx^2 / (2 dt): the same kernel with dx = 0.5, dt = 2 is the series with D = 0.6 * 0.25 / 4."""
    tank = dc.Tank.two_compartment((48,), dx=0.5)
    res = dc.simulate(tank, dc.Propagator([0.3, 0.4, 0.3]), 50, method="heat", dt=2.0, save_every=25)
    ref = analytic.two_compartment((48,), res.times[-1], 0.6 * 0.25 / 4, dx=0.5)
    assert np.max(np.abs(res.final - ref)) <= 1e-10


W2 = np.array([[0.05, 0.1, 0.02], [0.1, 0.3, 0.15], [0.08, 0.1, 0.1]])


@pytest.mark.parametrize("shape,w", [((24,), [0.2, 0.5, 0.3]), ((16, 20), W2 / W2.sum())])
def test_single_mode_exact_on_periodic_tank(shape, w):
    """initial='bandlimited' carries one Fourier mode exactly: full D (off-diagonal) and drift."""
    p = dc.Propagator(w)
    D, v = np.asarray(p.diffusivity()), np.asarray(p.drift())
    mode = (1, 2)[: len(shape)]
    kw = dict(offset=2.0, phase=0.3, drift=v)
    tank = dc.Tank(analytic.fourier_mode(shape, 0.0, D, mode, **kw), boundary="periodic")
    res = dc.simulate(tank, p, 30, method="heat", save_every=10, initial="bandlimited")
    for frame, t in zip(res.frames, res.times):
        assert np.max(np.abs(frame - analytic.fourier_mode(shape, t, D, mode, **kw))) <= 1e-12


def test_gaussian_source_semigroup():
    """From a periodic Gaussian at t0, heat reaches the periodic Gaussian at t0 + t (anisotropic, drifting)."""
    p = dc.Propagator(np.outer([0.2, 0.5, 0.3], [0.25, 0.5, 0.25]))
    D, v = np.diag(np.asarray(p.diffusivity())), np.asarray(p.drift())
    shape, t0 = (32, 40), 12.0
    kw = dict(center=(10.0, 21.5), mass=3.0, drift=v, periodic=True)
    tank = dc.Tank(analytic.gaussian_source(shape, t0, D, **kw), boundary="periodic")
    res = dc.simulate(tank, p, 40, method="heat", save_every=20, initial="bandlimited")
    for frame, t in zip(res.frames, res.times):
        ref = analytic.gaussian_source(shape, t0 + t, D, **kw)
        assert np.max(np.abs(frame - ref)) <= 1e-10 * ref.max()


@pytest.mark.parametrize("variance,shift", [(1.0, 0.0), (2.5, 0.7), (1.3, -3.3)])
def test_two_exact_forms_of_the_cell_average_sum_agree(variance, shift):
    theta = np.linspace(-np.pi, np.pi, 9)
    a = heat.axis_multiplier(theta, variance, shift, form="frequency")
    b = heat.axis_multiplier(theta, variance, shift, form="space")
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    # at theta = 0 the multiplier is exactly 1 (mass is conserved)
    assert abs(heat.axis_multiplier(np.zeros(1), variance, shift)[0] - 1) <= 1e-14


def _errors(tank, prop, ns):
    """max |propagator - heat| after n steps, for each n."""
    steps = np.concatenate([[0], ns])
    a = run_at("propagator", tank, prop, steps).frames[1:]
    b = run_at("heat", tank, prop, steps).frames[1:]
    return [float(np.max(np.abs(x - y))) for x, y in zip(a, b)]


NS = np.array([10, 20, 40, 80, 160, 320, 640, 1000])
ORDER_CASES = [
    ("reflect", [0.3, 0.4, 0.3]),
    ("periodic", [0.3, 0.4, 0.3]),
    ("periodic", [0.2, 0.5, 0.3]),  # skewed: the heat equation drops the third cumulant
    ("absorb", [0.3, 0.4, 0.3]),  # the absorbing line half a cell outside keeps order 1
]


@pytest.mark.parametrize("boundary,w", ORDER_CASES)
def test_order_of_propagator_to_heat(boundary, w):
    prop = dc.Propagator(w)
    tank = dc.Tank.two_compartment((256,), boundary=boundary)
    slope, _ = dc.fit_order(NS, _errors(tank, prop, NS))
    assert abs(slope - dc.methods.get("propagator").order(tank, prop).exponent) <= 0.1, slope


def test_order_anisotropic_2d():
    """A correlated, anisotropic kernel on a periodic tank converges to heat with its full D at order 1/n."""
    w = np.array([[0.02, 0.05, 0.12], [0.1, 0.42, 0.1], [0.12, 0.05, 0.02]])
    prop = dc.Propagator(w / w.sum())
    cov = np.asarray(prop.covariance)
    assert abs(cov[0, 1]) > 0.1 and abs(cov[0, 0] - cov[1, 1]) > 0.01
    field = np.zeros((128, 128))
    field[40:88, 52:76] = 1.0
    tank = dc.Tank(field, boundary="periodic")
    ns = np.array([10, 20, 40, 80, 160, 320, 640])
    slope, _ = dc.fit_order(ns, _errors(tank, prop, ns))
    assert dc.methods.get("propagator").order(tank, prop).exponent == _continuum.ORDER_ZERO_THIRD_CUMULANT
    assert abs(slope + 1) <= 0.1, slope


def test_declared_orders():
    order = dc.methods.get("propagator").order
    line, cube = dc.Tank(np.ones(9)), dc.Tank(np.ones((4, 4, 4)))
    assert order(line, dc.Propagator([0.3, 0.4, 0.3])).exponent == -1.0
    assert order(line, dc.Propagator([0.2, 0.5, 0.3])).exponent == -0.5
    assert order(cube, dc.Propagator.gaussian(0.8, ndim=3)).exponent == -1.0


def test_absorbed_is_the_lost_mass():
    tank = dc.Tank.two_compartment((40,), boundary="absorb")
    res = dc.simulate(tank, dc.Propagator([0.25, 0.5, 0.25]), 200, method="heat", save_every=50)
    assert res.absorbed[0] == 0 and res.absorbed[-1] > 0.3 * float(tank.mass)
    np.testing.assert_allclose(res.mass() + res.absorbed, float(tank.mass), rtol=1e-12)


@pytest.mark.parametrize(
    "boundary,w,match",
    [
        ("reflect", [[0.2, 0.5, 0.3]], "drift"),
        ("absorb", [[0.2, 0.5, 0.3]], "drift"),
        (("periodic", "reflect"), [[0.2, 0.0, 0.0], [0.0, 0.6, 0.0], [0.0, 0.0, 0.2]], "diagonal"),
    ],
)
def test_refuses_what_it_cannot_solve(boundary, w, match):
    tank = dc.Tank(np.ones((6, 7)), boundary=boundary)
    with pytest.raises(ValueError, match=match):
        dc.simulate(tank, dc.Propagator(w), 3, method="heat")


def test_refuses_walls_and_bad_options():
    tank = dc.Tank.two_compartment((10, 10)).with_board(1, 5)
    prop = dc.Propagator.box(3, ndim=2)
    with pytest.raises(ValueError, match="walls"):
        dc.simulate(tank, prop, 3, method="heat")
    with pytest.raises(ValueError, match="initial"):
        dc.simulate(dc.Tank(np.ones(5)), dc.Propagator([0.25, 0.5, 0.25]), 3, method="heat", initial="smooth")

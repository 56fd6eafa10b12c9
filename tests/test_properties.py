"""Property-based checks over random small tanks, kernels, boundaries and walls."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import transition_matrix

import diffusion_conv as dc

BOUNDARY = st.sampled_from(["reflect", "periodic", "absorb"])


@st.composite
def problems(draw, walls=True, symmetric=False):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(2, {1: 9, 2: 6, 3: 4}[ndim])) for _ in range(ndim))
    radius = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    boundary = tuple(draw(BOUNDARY) for _ in range(ndim))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=tuple(2 * r + 1 for r in radius))
    if symmetric:
        for axis in range(ndim):
            logits = 0.5 * (logits + np.flip(logits, axis=axis))
    field = rng.random(shape) * draw(st.sampled_from([1.0, 1e-3, 1e3]))
    mask = None
    if walls and draw(st.booleans()):
        mask = rng.random(shape) < 0.3
        field[mask] = 0.0
    return dc.Tank(field, boundary=boundary, walls=mask), dc.Propagator.from_logits(logits)


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems(), st.integers(1, 6))
def test_mass_accounted_nonnegative_and_equal_to_the_naive_process(problem, steps):
    tank, prop = problem
    res = dc.simulate(tank, prop, steps, save_every=2)
    m0 = float(tank.mass)
    np.testing.assert_allclose(res.mass() + res.absorbed, m0, rtol=1e-12, atol=1e-300)
    assert np.all(res.frames >= 0)
    if "absorb" not in tank.boundary:
        np.testing.assert_array_equal(res.absorbed, 0)
    P = transition_matrix(tank.shape, np.asarray(prop.weights), tank.boundary, tank.walls)
    c = np.asarray(tank.concentration).ravel()
    for _ in range(steps):
        c = P @ c
    np.testing.assert_allclose(res.final.ravel(), c, rtol=1e-11, atol=1e-14 * max(m0, 1e-300))


@SETTINGS
@given(problems(walls=False, symmetric=True), st.integers(1, 8))
def test_propagator_equals_image_for_axis_symmetric_kernels(problem, steps):
    tank, prop = problem
    a = dc.simulate(tank, prop, steps, method="propagator")
    b = dc.simulate(tank, prop, steps, method="image")
    scale = max(float(np.abs(a.frames).max()), 1e-300)
    np.testing.assert_allclose(a.final, b.final, rtol=0, atol=1e-12 * scale)

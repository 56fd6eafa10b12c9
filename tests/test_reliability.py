"""Regression tests of the defects found by trying to break the package (input that overflows, weights
that do not sum to 1, fields of other types, precision at extreme eigenvalues and step counts, late errors)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import run_at

import diffusion_conv as dc

ALL = dc.METHODS


def _kw(method):
    return dict(n_particles=1000, key=jax.random.key(0)) if dc.methods.get(method).stochastic else {}


# -- input that overflows the dtype ---------------------------------------------------------------
@pytest.mark.parametrize("logits", [[0.0, 1e308, 0.0], [-1e308, 1e308, -1e308], [1e308, 1e308, 0.0]])
def test_softmax_of_huge_logits_is_well_defined(logits):
    prop = dc.Propagator.from_logits(logits)
    w = np.asarray(prop.weights)
    assert np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-15
    top = np.asarray(logits) == max(logits)
    np.testing.assert_allclose(w[top], 1.0 / top.sum(), rtol=1e-15)
    assert np.all(w[~top] == 0)
    tank = dc.Tank(np.arange(1.0, 7.0), boundary="periodic")
    ref = dc.simulate(tank, prop, 3).final
    for m in ALL:
        res = dc.simulate(tank, prop, 3, method=m, **_kw(m))
        assert np.all(np.isfinite(res.frames)), m
        if m != "heat" and not dc.methods.get(m).stochastic:
            np.testing.assert_allclose(res.final, ref, rtol=0, atol=1e-12)


def test_tiny_temperature_is_the_argmax_limit():
    prop = dc.Propagator.from_logits([0.1, 0.3, 0.2], temperature=1e-45)
    np.testing.assert_array_equal(np.asarray(prop.weights), [0.0, 1.0, 0.0])
    with jax.enable_x64(False):
        prop = dc.Propagator.from_logits([0.1, 0.3, 0.2], temperature=1e-30)
        assert np.asarray(prop.weights).dtype == np.float32
        np.testing.assert_array_equal(np.asarray(prop.weights), [0.0, 1.0, 0.0])


def test_a_kernel_of_huge_entries_normalises():
    prop = dc.Propagator.from_kernel([1e308] * 3, normalize="sum")
    np.testing.assert_allclose(np.asarray(prop.weights), [1 / 3] * 3, rtol=1e-15)


def test_gradient_through_the_stable_softmax():
    z0 = jnp.asarray([0.2, -0.4, 1.0])
    g = jax.grad(lambda z: dc.Propagator.from_logits(z).weights[0])(z0)
    w = np.exp(np.asarray(z0)) / np.exp(np.asarray(z0)).sum()
    np.testing.assert_allclose(np.asarray(g), w[0] * (np.eye(3)[0] - w), rtol=1e-12)


# -- weights that do not sum to 1 -------------------------------------------------------------------
def test_weights_off_by_more_than_rounding_are_refused():
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="sum to 1"):
            dc.Propagator([0.25, 0.5, 0.25 + 9e-6])
        ok = dc.Propagator(np.array([0.25, 0.5, 0.25], np.float32) * np.float32(1 + 1e-7))
        assert abs(float(np.sum(np.asarray(ok.weights), dtype=np.float64)) - 1) <= 6e-8
    with pytest.raises(ValueError, match="sum to 1"):
        dc.Propagator([0.25, 0.5, 0.25 + 9e-13])
    ok = dc.Propagator([0.25, 0.5, 0.25 + 2e-16])
    assert float(np.sum(np.asarray(ok.weights))) == 1.0


def test_renormalised_weights_keep_the_mass_in_float64_over_10000_steps():
    prop = dc.Propagator(np.array([0.2, 0.3, 0.5]) * (1 + 1e-15))
    tank = dc.Tank(np.random.default_rng(0).random(64), boundary="periodic")
    res = dc.simulate(tank, prop, 10_000)
    assert abs(res.mass()[-1] / res.mass()[0] - 1) < 1e-12


def test_particles_and_propagator_use_one_distribution():
    w = np.array([0.1, 0.6, 0.3]) * (1 + 3e-16)
    prop = dc.Propagator(w)
    from diffusion_conv.methods.particles import thresholds

    cdf = np.cumsum(np.asarray(prop.weights, np.float64))[:-1]
    np.testing.assert_array_equal(thresholds(np.asarray(prop.weights)), np.floor(cdf * 2.0**31).astype(np.uint32))


# -- fields and walls of other types ----------------------------------------------------------------
def test_integer_and_bool_fields_are_computed_in_floating_point():
    prop = dc.Propagator([0.25, 0.5, 0.25])
    np.testing.assert_allclose(np.asarray(dc.propagate(np.array([1, 2, 3, 4]), prop, 1)), [1.25, 2, 3, 3.75])
    np.testing.assert_allclose(np.asarray(dc.propagate(np.array([True, False, False]), prop, 1)), [0.75, 0.25, 0])
    with pytest.raises(TypeError, match="walls must be a boolean mask"):
        dc.Tank(np.ones(4), walls=np.full(4, 0.5))


@pytest.mark.parametrize("method", ["propagator", "spectral", "image", "heat"])
def test_signed_fields_are_linear_in_the_deterministic_methods(method):
    rng = np.random.default_rng(1)
    a, b = rng.random((10, 9)), rng.random((10, 9))
    prop = dc.Propagator.gaussian(0.8, ndim=2, radius=1)
    run = lambda f: dc.simulate(dc.Tank(f), prop, 20, method=method).final  # noqa: E731
    signed = run(a - b)
    np.testing.assert_allclose(signed, run(a) - run(b), rtol=0, atol=1e-12)
    res = dc.simulate(dc.Tank(a - b), prop, 20, method=method)
    np.testing.assert_allclose(res.mass()[-1], (a - b).sum(), rtol=0, atol=1e-11)


@pytest.mark.parametrize("method", ["particles", "counts"])
def test_signed_fields_are_refused_by_the_stochastic_methods(method):
    with pytest.raises(ValueError, match="non-negative"):
        dc.simulate(
            dc.Tank(np.array([1.0, -0.5, 2.0])), dc.Propagator([0.25, 0.5, 0.25]), 3, method=method, **_kw(method)
        )


# -- precision ---------------------------------------------------------------------------------------
def test_spectral_keeps_a_tiny_eigenvalue_on_a_periodic_tank():
    q = (1 - 3e-9) / 4
    prop = dc.Propagator([q, 1 - 2 * q, q])
    i = np.arange(8)
    tank = dc.Tank(1 + np.cos(np.pi * i), boundary="periodic")
    lam = 1 - 4 * q  # the eigenvalue of the mode cos(pi i)
    for steps in (1, 2):
        out = dc.simulate(tank, prop, steps, method="spectral").final
        exact = 1 + np.cos(np.pi * i) * lam**steps
        assert np.max(np.abs(out - exact)) < 1e-15, steps
    assert dc.simulate(tank, prop, 1, method="auto").method == "spectral"


@pytest.mark.parametrize("steps", [10**6, 10**9, 2**31 - 1])
def test_float32_spectral_keeps_its_mass_at_huge_step_counts(steps):
    with jax.enable_x64(False):
        sc = dc.scenarios.get("point", size=32)
        res = dc.simulate(sc.tank, sc.propagator, steps, method="spectral")
        assert np.all(np.isfinite(res.final))
        assert abs(res.mass()[-1] / res.mass()[0] - 1) < 1e-5
        np.testing.assert_allclose(res.final, 1.0 / 32**2, rtol=1e-3)  # the uniform state of the periodic tank


def test_step_counts_beyond_the_integers_of_the_mode_are_refused():
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="steps must be at most 2147483647"):
            dc.simulate(dc.Tank(np.ones(4)), dc.Propagator([0.25, 0.5, 0.25]), 10**12, method="spectral")
    with pytest.raises(ValueError, match="steps must be at most"):
        dc.simulate(dc.Tank(np.ones(4)), dc.Propagator([0.25, 0.5, 0.25]), 2**60, method="spectral")


def test_heat_declares_the_order_it_has_at_absorbing_edges_for_wide_kernels():
    """A radius-3 Gaussian at absorbing edges converges like n^-1/2, a radius-1 kernel like 1/n; both declared."""
    ns = np.array([20, 40, 80, 160, 320, 640])
    for prop, expected in ((dc.Propagator.gaussian(1.0, ndim=1), -0.5), (dc.Propagator([0.3, 0.4, 0.3]), -1.0)):
        tank = dc.Tank.two_compartment((256,), boundary="absorb")
        order = dc.methods.get("propagator").order(tank, prop)
        assert order.exponent == expected and order.reference == "heat"
        steps = np.concatenate([[0], ns])
        a = run_at("propagator", tank, prop, steps).frames[1:]
        b = run_at("heat", tank, prop, steps).frames[1:]
        slope, _ = dc.fit_order(ns, [np.max(np.abs(x - y)) for x, y in zip(a, b)])
        assert abs(slope - expected) <= 0.1, (expected, slope)


# -- errors before the work ---------------------------------------------------------------------------
def test_compare_checks_every_method_before_running_any(monkeypatch):
    import importlib

    sim = importlib.import_module("diffusion_conv.simulation")

    ran = []
    monkeypatch.setattr(sim, "run", lambda plan, progress=False: ran.append(plan.method.name))
    tank = dc.Tank.two_compartment((16, 16)).with_board(axis=1, index=8)
    with pytest.raises(ValueError, match="'image' does not support walls"):
        dc.compare(tank, dc.Propagator.box(3), 10, methods=("propagator", "counts", "image"), n_particles=100)
    assert ran == []
    with pytest.raises(TypeError, match="key must be a JAX random key"):
        dc.compare(tank, dc.Propagator.box(3), 10, methods=("counts",), n_particles=100, key=3)
    with pytest.raises(TypeError, match="methods must be a method name or a non-empty list of them"):
        dc.compare(tank, dc.Propagator.box(3), 10, methods=None)


def test_a_run_that_does_not_fit_in_memory_is_refused_with_the_estimate(monkeypatch):
    monkeypatch.setenv("DIFFUSION_CONV_MEMORY_LIMIT", str(2**30))
    tank = dc.Tank(np.zeros((512, 512)))
    with pytest.raises(ValueError, match=r"would hold about .* save fewer frames"):
        dc.simulate(tank, dc.Propagator.box(3), 1000, save_every=1)
    with pytest.raises(ValueError, match="fewer particles"):
        dc.simulate(
            dc.Tank(np.ones((8, 8))),
            dc.Propagator.box(3),
            10,
            method="particles",
            n_particles=2**31 - 1,
            key=jax.random.key(0),
        )
    dc.simulate(dc.Tank(np.ones((8, 8))), dc.Propagator.box(3), 10, save_every=1)  # small runs go through

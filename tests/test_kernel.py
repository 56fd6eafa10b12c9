"""Propagator: constructors, moments, symbol, pytree, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffusion_conv as dc


def test_softmax_and_temperature():
    logits = np.array([[0.0, 1.0, 2.0]])
    p = dc.Propagator.from_logits(logits, temperature=2.0)
    e = np.exp(logits / 2.0)
    np.testing.assert_allclose(np.asarray(p.weights), e / e.sum(), rtol=1e-14)
    cold = dc.Propagator.from_kernel(logits, temperature=0.05)
    assert float(cold.weights[0, 2]) > 0.999  # low temperature -> the arg-max jump


def test_from_kernel_sum_and_errors():
    k = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    p = dc.Propagator.from_kernel(k, normalize="sum")
    np.testing.assert_allclose(np.asarray(p.weights), k / 16, rtol=1e-15)
    with pytest.raises(ValueError, match="kernel must be non-negative"):
        dc.Propagator.from_kernel(-k, normalize="sum")
    with pytest.raises(ValueError, match="positive sum"):
        dc.Propagator.from_kernel(np.zeros((3, 3)), normalize="sum")
    with pytest.raises(ValueError, match="softmax"):
        dc.Propagator.from_kernel(k, normalize="sum", temperature=2.0)
    with pytest.raises(ValueError, match="normalize 'max' is unknown"):
        dc.Propagator.from_kernel(k, normalize="max")


def test_gaussian_and_box_moments():
    g = dc.Propagator.gaussian(0.7, ndim=2, radius=3)
    d = np.arange(-3, 4)
    w1 = np.exp(-(d**2) / (2 * 0.49))
    w1 /= w1.sum()
    var = (w1 * d**2).sum()
    np.testing.assert_allclose(np.asarray(g.covariance), var * np.eye(2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(g.mean), 0, atol=1e-15)
    assert g.radius == (3, 3) and g.is_symmetric
    b = dc.Propagator.box(3, ndim=2)
    np.testing.assert_allclose(np.asarray(b.weights), 1 / 9)
    np.testing.assert_allclose(np.asarray(b.covariance), (2 / 3) * np.eye(2), rtol=1e-14)
    assert dc.Propagator.gaussian(1.0, ndim=1).radius == (3,)


def test_moments_of_an_asymmetric_kernel():
    w = np.array([0.2, 0.5, 0.3])
    p = dc.Propagator(w)
    assert float(p.mean[0]) == pytest.approx(0.1)
    assert float(p.covariance[0, 0]) == pytest.approx(0.5 - 0.01)
    assert not p.is_symmetric
    np.testing.assert_allclose(np.asarray(p.drift(dx=2.0, dt=0.5)), [0.4])
    np.testing.assert_allclose(np.asarray(p.diffusivity(dx=2.0, dt=0.5)), [[0.49 * 4 / 1.0]])


def test_is_symmetric_per_axis_mirror():
    w = np.array([[1.0, 2.0, 1.0], [3.0, 5.0, 3.0], [1.0, 2.0, 1.0]])
    assert dc.Propagator(w / w.sum()).is_symmetric
    # symmetric under the point reflection d -> -d only: not per-axis symmetric
    v = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [2.0, 0.0, 1.0]])
    assert not dc.Propagator(v / v.sum()).is_symmetric


def test_symbol_is_the_dft_of_the_weights():
    rng = np.random.default_rng(0)
    w = rng.random((3, 5))
    w /= w.sum()
    p = dc.Propagator(w)
    n0, n1 = 8, 10
    # place the kernel on an 8 x 10 periodic grid (offset d at index d mod n) and take numpy's FFT
    grid = np.zeros((n0, n1))
    for (i, j), v in np.ndenumerate(w):
        grid[(i - 1) % n0, (j - 2) % n1] += v
    k0, k1 = np.meshgrid(2 * np.pi * np.fft.fftfreq(n0), 2 * np.pi * np.fft.fftfreq(n1), indexing="ij")
    got = np.asarray(p.symbol(np.stack([k0, k1], axis=-1)))
    np.testing.assert_allclose(got, np.fft.fft2(grid), atol=1e-14)
    assert abs(complex(p.symbol(np.zeros(2))) - 1) < 1e-15


def test_pytree_roundtrip_and_grad_through_logits():
    p = dc.Propagator.gaussian(0.8, ndim=1)
    leaves, tree = jax.tree_util.tree_flatten(p)
    q = jax.tree_util.tree_unflatten(tree, leaves)
    np.testing.assert_array_equal(np.asarray(q.weights), np.asarray(p.weights))
    g = jax.grad(lambda z: dc.Propagator.from_logits(z).mean[0])(jnp.zeros(3))
    # d mean / d z_j = w_j (d_j - mean) = (1/3) * (-1, 0, 1) at uniform weights
    np.testing.assert_allclose(np.asarray(g), np.array([-1.0, 0.0, 1.0]) / 3, atol=1e-15)


@pytest.mark.parametrize(
    "weights, exc, match",
    [
        (np.array([0.5, -0.1, 0.6]), ValueError, "weights must be non-negative"),
        (np.array([0.5, np.nan, 0.5]), ValueError, "weights must be finite"),
        (np.array([0.2, 0.2, 0.2]), ValueError, "sum to 1"),
        (np.array([0.5, 0.5]), ValueError, "odd-sized"),
        (np.ones((1, 1, 1, 1)), ValueError, "1-D, 2-D or 3-D"),
        (np.array(["a"]), TypeError, "real numeric"),
    ],
)
def test_bad_weights(weights, exc, match):
    with pytest.raises(exc, match=match):
        dc.Propagator(weights)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="temperature must be"):
        dc.Propagator.from_logits(np.zeros(3), temperature=0.0)
    with pytest.raises(ValueError, match="temperature must be"):
        dc.Propagator.from_logits(np.zeros(3), temperature=-1.0)
    with pytest.raises(ValueError, match="logits must be finite"):
        dc.Propagator.from_logits(np.array([0.0, np.inf, 0.0]))
    with pytest.raises(ValueError, match="sigma must be"):
        dc.Propagator.gaussian(0.0)
    with pytest.raises(ValueError, match="size must be odd"):
        dc.Propagator.box(4)
    with pytest.raises(ValueError, match="ndim must be 1, 2 or 3"):
        dc.Propagator.box(3, ndim=4)

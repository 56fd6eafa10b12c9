"""The closed forms against independent constructions (images, mass, symmetry, translation)."""

import math

import numpy as np
import pytest
from scipy import special

from diffusion_conv import analytic

SHAPES = [((40,), 0), ((6, 30), 1), ((30, 5), 0), ((3, 4, 24), 2)]


def _images_step(n, t, D, left, right, dx):
    """Closed tank by the method of images: the even extension of the step, period 2L, erf solution,
    averaged over each cell with the antiderivative of Phi."""
    L, s = n * dx, (n // 2) * dx
    sd = math.sqrt(2 * D * t)
    edges = np.arange(n + 1) * dx

    def G(u):  # antiderivative of Phi(u / sd)
        return u * special.ndtr(u / sd) + sd * np.exp(-0.5 * (u / sd) ** 2) / math.sqrt(2 * math.pi)

    total = np.zeros(n)
    for j in range(-4, 5):
        a, b = -s + 2 * L * j, s + 2 * L * j  # the extended field is 1 on [a, b]
        integ = G(edges - a) - G(edges - b)  # integral of P(a < X - Z < b)
        total += np.diff(integ) / dx
    return right + (left - right) * total


@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("t", [0.5, 10.0, 300.0])
def test_two_compartment_equals_images(shape, axis, t):
    got = analytic.two_compartment(shape, t, 0.4, left=2.0, right=0.5, axis=axis, dx=0.7)
    ref1 = _images_step(shape[axis], t, 0.4, 2.0, 0.5, 0.7)
    bshape = [1] * len(shape)
    bshape[axis] = -1
    np.testing.assert_allclose(got, np.broadcast_to(ref1.reshape(bshape), shape), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape,axis", SHAPES)
def test_two_compartment_start_and_mass(shape, axis):
    n = shape[axis]
    start = analytic.two_compartment(shape, 0.0, 1.0, left=1.0, right=0.0, axis=axis)
    idx = np.moveaxis(np.indices(shape)[axis], 0, 0)
    np.testing.assert_array_equal(start, (idx < n // 2).astype(float))
    later = analytic.two_compartment(shape, 25.0, 1.0, left=1.0, right=0.0, axis=axis)
    assert abs(later.sum() - start.sum()) <= 1e-10 * start.sum()
    late = analytic.two_compartment(shape, 1e6, 1.0, left=1.0, right=0.0, axis=axis)
    np.testing.assert_allclose(late, (n // 2) / n, atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_gaussian_source_mass_and_images(ndim):
    shape = (30, 26, 22)[:ndim]
    centre = (14.2, 12.0, 9.5)[:ndim]
    D = (0.5, 0.8, 0.3)[:ndim]
    per = analytic.gaussian_source(shape, 40.0, D, centre, mass=2.0, periodic=True)
    assert abs(per.sum() - 2.0) <= 1e-12  # the images hold all the mass
    free = analytic.gaussian_source(shape, 40.0, D, centre, mass=2.0)
    assert free.sum() < 2.0 - 1e-3  # free space: mass leaves the window
    narrow_per = analytic.gaussian_source(shape, 1.0, D, centre, mass=2.0, periodic=True)
    narrow_free = analytic.gaussian_source(shape, 1.0, D, centre, mass=2.0)
    np.testing.assert_allclose(narrow_per, narrow_free, rtol=0, atol=1e-15)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_gaussian_point_values_and_averages_converge(ndim):
    """Cell averages and centre values differ by D2/24 dx^2 per axis: the gap shrinks like 1/sigma^2."""
    shape = (64, 64, 64)[:ndim]
    gaps = []
    for t in (10.0, 40.0):
        a = analytic.gaussian_source(shape, t, 1.0, (32.0,) * ndim, average=True)
        b = analytic.gaussian_source(shape, t, 1.0, (32.0,) * ndim, average=False)
        gaps.append(np.max(np.abs(a - b)) / b.max())
    assert 3.0 < gaps[0] / gaps[1] < 5.0  # 1/sigma^2: factor 4


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_fourier_mode_translates_and_decays(ndim):
    shape = (12, 10, 8)[:ndim]
    mode = (1, 2, 1)[:ndim]
    D = np.diag((0.3, 0.2, 0.5)[:ndim])
    v = np.array((0.25, -0.5, 0.75)[:ndim])  # over t = 4: shifts of 1, -2, 3 cells
    u0 = analytic.fourier_mode(shape, 0.0, D, mode, offset=1.0, phase=0.4, drift=v)
    u4 = analytic.fourier_mode(shape, 4.0, D, mode, offset=1.0, phase=0.4, drift=v)
    k = 2 * np.pi * np.asarray(mode) / np.asarray(shape)
    decay = math.exp(-float(k @ D @ k) * 4.0)
    shifted = np.roll(u0 - 1.0, tuple(int(s) for s in v * 4), axis=tuple(range(ndim)))
    np.testing.assert_allclose(u4 - 1.0, decay * shifted, rtol=0, atol=1e-13)
    # cell averages of a cosine: the mean of many fine samples in each cell
    fine = 16
    grids = np.meshgrid(*[(np.arange(n * fine) + 0.5) / fine for n in shape], indexing="ij")
    pts = 1.0 + np.cos(sum(kk * g for kk, g in zip(k, grids)) + 0.4)
    avg = pts.reshape(sum(((n, fine) for n in shape), ())).mean(axis=tuple(range(1, 2 * ndim, 2)))
    np.testing.assert_allclose(u0, avg, rtol=0, atol=1e-3)  # midpoint rule error ~ k^2 / (24 * 16^2)


def test_bad_input():
    with pytest.raises(ValueError, match="t must be"):
        analytic.two_compartment(10, -1.0, 1.0)
    with pytest.raises(ValueError, match="D"):
        analytic.two_compartment(10, 1.0, 0.0)
    with pytest.raises(ValueError, match="mode"):
        analytic.fourier_mode((8, 8), 1.0, 0.1, (1.5, 2))
    with pytest.raises(ValueError, match="t must be > 0"):
        analytic.gaussian_source(8, 0.0, 1.0, (4.0,))

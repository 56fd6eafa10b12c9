"""The convolution theorem and the transforms behind the spectral and heat methods."""

import numpy as np
import pytest
from conftest import RTOL
from scipy import fft as sfft
from scipy import signal

from diffusion_conv import fourier
from diffusion_conv.lattice import axis_transforms, transforms


@pytest.mark.parametrize("shape,kshape", [((17,), (5,)), ((9, 12), (3, 5)), ((5, 6, 7), (3, 3, 1))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_convolution_theorem(shape, kshape, dtype):
    rng = np.random.default_rng(0)
    a, k = rng.random(shape).astype(dtype), rng.random(kshape).astype(dtype)
    direct = fourier.convolve_direct(a, k, mode="linear")
    np.testing.assert_allclose(
        direct, signal.convolve(a.astype(float), k.astype(float), method="direct"), rtol=1e-13, atol=0
    )
    via_fft = np.asarray(fourier.convolve_fft(a, k, mode="linear"))
    assert via_fft.shape == direct.shape and via_fft.dtype == dtype
    np.testing.assert_allclose(via_fft, direct, rtol=0, atol=20 * RTOL[np.dtype(dtype)] * direct.max())


def test_zero_padding_is_what_makes_it_linear():
    """Without padding the product of transforms wraps around: the circular result differs at the ends."""
    a = np.zeros(10)
    a[-1] = 1.0
    k = np.array([0.25, 0.5, 0.25])
    circ = np.asarray(fourier.convolve_fft(a, k, mode="circular"))
    lin = np.asarray(fourier.convolve_fft(a, k, mode="linear"))
    assert circ[0] == pytest.approx(0.25)  # wrapped around
    assert lin[0] == pytest.approx(0.0, abs=1e-15) and lin[-1] == pytest.approx(0.25)
    np.testing.assert_allclose(circ, fourier.convolve_direct(a, k, mode="circular"), atol=1e-15)


@pytest.mark.parametrize("shape,kshape", [((16,), (5,)), ((6, 9), (7, 3)), ((4, 5, 6), (3, 3, 3))])
def test_circular_convolution_moves_mass_toward_heavier_side(shape, kshape):
    rng = np.random.default_rng(1)
    a, k = rng.random(shape), rng.random(kshape)
    np.testing.assert_allclose(
        np.asarray(fourier.convolve_fft(a, k, mode="circular")),
        fourier.convolve_direct(a, k, mode="circular"),
        rtol=0,
        atol=1e-13,
    )
    delta = np.zeros(shape)
    delta[(0,) * len(shape)] = 1.0
    kern = np.zeros(kshape)
    kern[tuple(s // 2 + 1 if i == 0 else s // 2 for i, s in enumerate(kshape))] = 1.0  # jump +1 along axis 0
    out = fourier.convolve_direct(delta, kern, mode="circular")
    assert out[(1,) + (0,) * (len(shape) - 1)] == 1.0


def test_transforms_match_scipy_and_invert():
    rng = np.random.default_rng(2)
    x = rng.random((7, 6))
    np.testing.assert_allclose(
        np.asarray(axis_transforms.dct2(x, 0)), sfft.dct(x, type=2, axis=0, norm="ortho"), atol=1e-14
    )
    np.testing.assert_allclose(
        np.asarray(axis_transforms.dst1(x, 1)), sfft.dst(x, type=1, axis=1, norm="ortho"), atol=1e-14
    )
    for bnd in [("periodic", "reflect"), ("absorb", "periodic"), ("reflect", "absorb")]:
        back = np.asarray(transforms.inverse(transforms.forward(x, bnd), bnd, x.shape))
        np.testing.assert_allclose(back, x, atol=1e-14)


def test_bad_input():
    with pytest.raises(ValueError, match="mode"):
        fourier.convolve_fft(np.ones(4), np.ones(3), mode="same")
    with pytest.raises(ValueError, match="odd-sized"):
        fourier.convolve_fft(np.ones(4), np.ones(2), mode="circular")
    with pytest.raises(ValueError, match="same number of axes"):
        fourier.convolve_direct(np.ones((4, 4)), np.ones(3))

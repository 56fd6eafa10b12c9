"""The Fourier chapters of the story: log spectra, the ideal low-pass filter and cross-correlation.

Each function is checked against an independent computation: numpy's FFT with the mask or the
formula written out, a direct loop over shifts, and the convolution with the flipped template.
"""

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import RTOL

from diffusion_conv import fourier

SHAPES = [((17,), (5,)), ((9, 12), (3, 5)), ((6, 7, 8), (3, 2, 3))]
DTYPES = [np.float64, np.float32]


def tol(dtype, scale, factor=50):
    """Absolute tolerance for FFT-based sums of magnitude ``scale`` in ``dtype``."""
    return factor * RTOL[np.dtype(dtype)] * scale


def correlate_loop(a, t, mode):
    """``c[s] = sum_j a[s + j] t[j]`` by a loop over shifts (float64, zero outside ``a``)."""
    a, t = np.asarray(a, np.float64), np.asarray(t, np.float64)
    if mode == "circular":
        out = np.zeros(a.shape)
        for j in np.ndindex(t.shape):
            d = tuple(i - m // 2 for i, m in zip(j, t.shape))
            out += t[j] * np.roll(a, tuple(-x for x in d), axis=tuple(range(a.ndim)))  # a[(x + d) mod n]
        return out
    if mode == "valid":
        shifts = [range(0, n - m + 1) for n, m in zip(a.shape, t.shape)]
    else:
        shifts = [range(-(m - 1), n) for n, m in zip(a.shape, t.shape)]
    out = np.zeros(tuple(len(r) for r in shifts))
    for _i, s in enumerate(np.ndindex(*out.shape)):
        shift = tuple(r[k] for r, k in zip(shifts, s))
        total = 0.0
        for j in np.ndindex(t.shape):
            y = tuple(sj + jj for sj, jj in zip(shift, j))
            if all(0 <= yy < n for yy, n in zip(y, a.shape)):
                total += a[y] * t[j]
        out[s] = total
    return out


# -- cross_correlate --------------------------------------------------------------------------
@pytest.mark.parametrize("shape,tshape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_correlation_is_convolution_with_the_flipped_template(shape, tshape, dtype):
    rng = np.random.default_rng(0)
    a, t = rng.random(shape).astype(dtype), rng.standard_normal(tshape).astype(dtype)
    got = np.asarray(fourier.cross_correlate(a, t, mode="linear"))
    flipped = t[(slice(None, None, -1),) * t.ndim]
    via_conv = np.asarray(fourier.convolve_fft(a, flipped, mode="linear"))
    assert got.shape == tuple(n + m - 1 for n, m in zip(shape, tshape)) and got.dtype == dtype
    np.testing.assert_allclose(got, via_conv, rtol=0, atol=tol(dtype, np.abs(via_conv).max()))
    loop = correlate_loop(a, t, "linear")
    np.testing.assert_allclose(got, loop, rtol=0, atol=tol(dtype, np.abs(loop).max()))


@pytest.mark.parametrize("shape,tshape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_valid_mode_keeps_the_shifts_with_the_template_inside(shape, tshape, dtype):
    rng = np.random.default_rng(1)
    a, t = rng.random(shape).astype(dtype), rng.random(tshape).astype(dtype)
    got = np.asarray(fourier.cross_correlate(a, t, mode="valid"))
    loop = correlate_loop(a, t, "valid")
    assert got.shape == tuple(n - m + 1 for n, m in zip(shape, tshape)) and got.dtype == dtype
    np.testing.assert_allclose(got, loop, rtol=0, atol=tol(dtype, loop.max()))
    # the valid block is the middle of the linear result
    full = np.asarray(fourier.cross_correlate(a, t, mode="linear"))
    inner = full[tuple(slice(m - 1, n) for n, m in zip(shape, tshape))]
    np.testing.assert_allclose(got, inner, rtol=0, atol=tol(dtype, loop.max()))


@pytest.mark.parametrize("shape,tshape", [((16,), (5,)), ((6, 9), (7, 3)), ((4, 5, 6), (3, 3, 3))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_circular_mode_against_rolls_and_the_flipped_convolution(shape, tshape, dtype):
    rng = np.random.default_rng(2)
    a, t = rng.random(shape).astype(dtype), rng.standard_normal(tshape).astype(dtype)
    got = np.asarray(fourier.cross_correlate(a, t, mode="circular"))
    loop = correlate_loop(a, t, "circular")
    assert got.shape == shape and got.dtype == dtype
    np.testing.assert_allclose(got, loop, rtol=0, atol=tol(dtype, np.abs(loop).max()))
    flipped = t[(slice(None, None, -1),) * t.ndim]
    np.testing.assert_allclose(
        got, fourier.convolve_direct(a, flipped, mode="circular"), rtol=0, atol=tol(dtype, np.abs(loop).max())
    )


@pytest.mark.parametrize("where", [(0, 0), (5, 17), (30, 11)])
def test_the_peak_of_the_valid_correlation_marks_a_planted_patch(where):
    """A random template planted into zero-mean noise: the valid correlation peaks at its first cell."""
    rng = np.random.default_rng(3)
    a = 0.3 * rng.standard_normal((40, 36))
    t = rng.standard_normal((7, 9))
    a[where[0] : where[0] + 7, where[1] : where[1] + 9] += t
    c = np.asarray(fourier.cross_correlate(a, t, mode="valid"))
    assert np.unravel_index(np.argmax(c), c.shape) == where
    full = np.asarray(fourier.cross_correlate(a, t, mode="linear"))  # linear: shifted by template.shape - 1
    assert np.unravel_index(np.argmax(full), full.shape) == (where[0] + 6, where[1] + 8)


def test_integer_input_and_the_template_in_the_precision_of_a():
    a = np.arange(12).reshape(3, 4)
    got = fourier.cross_correlate(a, np.ones((2, 2), dtype=np.int32), mode="valid")
    assert got.dtype == jnp.zeros(()).dtype  # the default float dtype (float64 here: x64 is on)
    np.testing.assert_allclose(np.asarray(got), correlate_loop(a, np.ones((2, 2)), "valid"), atol=1e-12)
    got32 = fourier.cross_correlate(a.astype(np.float32), np.ones((2, 2)), mode="valid")
    assert got32.dtype == np.float32


def test_gradient_of_the_correlation_with_respect_to_the_template_is_a_correlation():
    """d/dt_j sum_s w[s] sum_j a[s + j] t[j] = sum_s w[s] a[s + j]: the correlation of a with w."""
    rng = np.random.default_rng(4)
    a, t = rng.random((12, 10)), rng.random((3, 4))
    w = rng.standard_normal((10, 7))
    grad = jax.grad(lambda tt: jnp.sum(w * fourier.cross_correlate(a, tt, mode="valid")))(jnp.asarray(t))
    np.testing.assert_allclose(np.asarray(grad), correlate_loop(a, w, "valid"), atol=1e-12)


def test_cross_correlate_bad_input():
    with pytest.raises(ValueError, match=r"larger than a.*axis 1.*valid"):
        fourier.cross_correlate(np.ones((8, 4)), np.ones((3, 5)), mode="valid")
    with pytest.raises(ValueError, match=r"mode 'same' is unknown; allowed: linear, valid, circular"):
        fourier.cross_correlate(np.ones(8), np.ones(3), mode="same")
    with pytest.raises(ValueError, match="odd-sized"):
        fourier.cross_correlate(np.ones(8), np.ones(2), mode="circular")
    with pytest.raises(ValueError, match="same number of axes"):
        fourier.cross_correlate(np.ones((4, 4)), np.ones(3))
    with pytest.raises(TypeError, match="template must be real"):
        fourier.cross_correlate(np.ones(8), np.ones(3) * 1j)
    with pytest.raises(TypeError, match="a must be real"):
        fourier.cross_correlate(np.ones(8) * 1j, np.ones(3))
    with pytest.raises(TypeError, match="a must be a numeric array"):
        fourier.cross_correlate(np.array(["x"] * 4), np.ones(3))
    with pytest.raises(ValueError, match="a must be 1-D, 2-D or 3-D"):
        fourier.cross_correlate(np.ones((2,) * 4), np.ones((1,) * 4))
    with pytest.raises(ValueError, match="template must be finite"):
        fourier.cross_correlate(np.ones(8), np.array([1.0, np.nan, 1.0]))
    # a template as large as a is allowed in valid mode: one shift
    assert fourier.cross_correlate(np.ones((3, 4)), np.ones((3, 4)), mode="valid").shape == (1, 1)


# -- lowpass ------------------------------------------------------------------------------------
def disc_mask(shape, cutoff):
    """The disc mask on numpy's full ``fftn`` grid: True where sqrt(sum k_j^2) < cutoff (cycles per cell)."""
    k = np.meshgrid(*[np.fft.fftfreq(n) for n in shape], indexing="ij")
    return np.sqrt(sum(kj**2 for kj in k)) < cutoff


@pytest.mark.parametrize("shape", [(31,), (32,), (16, 20), (15, 17), (6, 8, 7)])
@pytest.mark.parametrize("cutoff", [0.05, 0.2, 0.45])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lowpass_is_the_disc_mask_in_numpys_fft(shape, cutoff, dtype):
    rng = np.random.default_rng(5)
    a = rng.random(shape).astype(dtype)
    got = np.asarray(fourier.lowpass(a, cutoff))
    want = np.real(np.fft.ifftn(np.fft.fftn(a.astype(np.float64)) * disc_mask(shape, cutoff)))
    assert got.shape == shape and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=tol(dtype, np.abs(a).max()))


def test_lowpass_of_a_complex_field():
    rng = np.random.default_rng(6)
    a = rng.random((12, 10)) + 1j * rng.random((12, 10))
    got = np.asarray(fourier.lowpass(a, 0.3))
    assert np.iscomplexobj(got) and got.dtype == np.complex128
    np.testing.assert_allclose(got, np.fft.ifftn(np.fft.fftn(a) * disc_mask(a.shape, 0.3)), atol=1e-13)


def test_lowpass_keeps_exactly_the_waves_below_the_cutoff():
    """Single plane waves: kept whole when |k| < cutoff, removed when |k| >= cutoff (the edge included)."""
    n = 16
    x0, x1 = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    cutoff = 0.25  # = 4 / 16 cycles per cell
    for q, kept in [((3, 0), True), ((4, 0), False), ((2, 3), True), ((3, 3), False), ((0, 5), False), ((1, 1), True)]:
        wave = np.cos(2 * np.pi * (q[0] * x0 + q[1] * x1) / n)
        out = np.asarray(fourier.lowpass(wave, cutoff))
        np.testing.assert_allclose(out, wave if kept else 0.0, atol=1e-12, err_msg=f"wave {q}")
    # the mean is always kept; the sum does not change
    field = np.random.default_rng(7).random((n, n))
    assert float(np.sum(fourier.lowpass(field, 0.01))) == pytest.approx(field.sum(), rel=1e-13)
    np.testing.assert_allclose(np.asarray(fourier.lowpass(field, 0.01)), field.mean(), atol=1e-13)


def test_the_disc_mask_is_a_convolution_with_its_inverse_transform():
    """On an odd grid the centred kernel ifftn(mask) fits convolve_direct's circular mode."""
    rng = np.random.default_rng(8)
    a = rng.random((15, 13))
    kernel = np.fft.fftshift(np.real(np.fft.ifftn(disc_mask(a.shape, 0.2))))
    np.testing.assert_allclose(
        np.asarray(fourier.lowpass(a, 0.2)), fourier.convolve_direct(a, kernel, mode="circular"), atol=1e-13
    )
    assert kernel.min() < 0  # the side lobes that ring at edges


def test_lowpass_is_self_adjoint_so_its_gradient_is_itself():
    rng = np.random.default_rng(9)
    a, b = rng.random((10, 12)), rng.random((10, 12))
    grad = jax.grad(lambda x: jnp.sum(b * fourier.lowpass(x, 0.2)))(jnp.asarray(a))
    np.testing.assert_allclose(np.asarray(grad), np.asarray(fourier.lowpass(b, 0.2)), atol=1e-13)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_lowpass_bad_cutoff(ndim):
    a = np.ones((4,) * ndim)
    top = 0.5 * np.sqrt(ndim)
    for bad in [0, -0.1, top, top + 0.01, 2.0, np.inf, np.nan]:
        with pytest.raises(ValueError, match=rf"cutoff must lie in \(0, {top:.6g}\) cycles per cell"):
            fourier.lowpass(a, bad)
    for bad in [True, "0.2", 0.2j, None, [0.2]]:
        with pytest.raises(TypeError, match="cutoff must be a real number"):
            fourier.lowpass(a, bad)
    assert fourier.lowpass(a, np.nextafter(top, 0)).shape == a.shape  # just inside is allowed


def test_lowpass_bad_field():
    with pytest.raises(ValueError, match="a must be 1-D, 2-D or 3-D"):
        fourier.lowpass(np.ones((2,) * 4), 0.2)
    with pytest.raises(ValueError, match="a must be finite"):
        fourier.lowpass(np.array([1.0, np.inf, 0.0]), 0.2)
    with pytest.raises(TypeError, match="a must be a numeric array"):
        fourier.lowpass(np.array(["x", "y"]), 0.2)


# -- log_magnitude --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(33,), (16, 20), (15, 17), (4, 6, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_magnitude_is_log1p_of_the_shifted_magnitude(shape, dtype):
    rng = np.random.default_rng(10)
    a = rng.random(shape).astype(dtype)
    got = np.asarray(fourier.log_magnitude(a))
    want = np.log1p(np.fft.fftshift(np.abs(np.fft.fftn(a.astype(np.float64)))))
    assert got.shape == shape and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=10 * RTOL[np.dtype(dtype)], atol=tol(dtype, 1.0))


def test_log_magnitude_puts_the_zero_frequency_at_n_over_2():
    for shape in [(8, 9), (7, 10)]:
        spec = np.array(fourier.log_magnitude(np.full(shape, 2.0)))
        centre = tuple(n // 2 for n in shape)
        assert spec[centre] == pytest.approx(np.log1p(2.0 * np.prod(shape)), rel=1e-13)
        spec[centre] = 0.0
        assert np.abs(spec).max() < 1e-12


def test_log_magnitude_of_a_complex_field_and_of_integers():
    rng = np.random.default_rng(11)
    z = rng.random((6, 7)) + 1j * rng.random((6, 7))
    np.testing.assert_allclose(
        np.asarray(fourier.log_magnitude(z)), np.log1p(np.fft.fftshift(np.abs(np.fft.fftn(z)))), atol=1e-12
    )
    im = rng.integers(0, 255, (6, 7)).astype(np.uint8)
    got = fourier.log_magnitude(im)
    assert got.dtype == np.float64
    np.testing.assert_allclose(
        np.asarray(got), np.log1p(np.fft.fftshift(np.abs(np.fft.fft2(im.astype(float))))), atol=1e-11
    )


def test_rotating_an_image_rotates_its_spectrum():
    """On an odd square grid the centred frequencies are symmetric, so the match is exact."""
    rng = np.random.default_rng(12)
    a = rng.random((15, 15))
    np.testing.assert_allclose(
        np.asarray(fourier.log_magnitude(np.rot90(a))), np.rot90(np.asarray(fourier.log_magnitude(a))), atol=1e-12
    )
    x = np.arange(32)
    stripes = np.cos(2 * np.pi * 5 * x / 32)[None, :] * np.ones((32, 1))  # varies along axis 1
    for img, peaks in [(stripes, [(16, 11), (16, 21)]), (stripes.T, [(11, 16), (21, 16)])]:
        spec = np.asarray(fourier.log_magnitude(img))
        assert sorted(map(tuple, np.argwhere(spec > 3).tolist())) == peaks


def test_log_magnitude_traces_under_jit():
    a = np.random.default_rng(13).random((8, 8))
    np.testing.assert_allclose(
        np.asarray(jax.jit(fourier.log_magnitude)(a)), np.asarray(fourier.log_magnitude(a)), atol=1e-14
    )


def test_log_magnitude_bad_input():
    with pytest.raises(TypeError, match="a must be a numeric array"):
        fourier.log_magnitude(np.array(["x", "y"]))
    with pytest.raises(ValueError, match="a must be 1-D, 2-D or 3-D, got 0-D"):
        fourier.log_magnitude(3.0)
    with pytest.raises(ValueError, match="a must be finite"):
        fourier.log_magnitude(np.array([[1.0, np.nan]]))


# -- the examples in the docstrings ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["log_magnitude", "lowpass", "cross_correlate"])
def test_docstring_examples(name):
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    (test,) = finder.find(getattr(fourier, name), name, globs={})
    assert test.examples, f"{name} has no example"
    result = runner.run(test)
    assert result.failed == 0

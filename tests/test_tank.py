"""Tank: builders, conventions of record, and bad input."""

import jax
import numpy as np
import pytest

import diffusion_conv as dc


@pytest.mark.parametrize("shape, axis", [((10,), 0), ((6, 9), -1), ((6, 9), 0), ((4, 5, 7), 1)])
def test_two_compartment_splits_at_half(shape, axis):
    tank = dc.Tank.two_compartment(shape, left=2.0, right=0.5, axis=axis)
    c = np.asarray(tank.concentration)
    ax = axis % len(shape)
    half = shape[ax] // 2
    idx = np.indices(shape)[ax]
    np.testing.assert_array_equal(c[idx < half], 2.0)
    np.testing.assert_array_equal(c[idx >= half], 0.5)
    assert tank.boundary == ("reflect",) * len(shape)


def test_mass_uses_cell_volume():
    tank = dc.Tank(np.ones((4, 5)), dx=0.5)
    assert float(tank.mass) == pytest.approx(20 * 0.25)


def test_partitioned_repeats_each_value():
    values = np.array([[1.0, 2.0], [3.0, 4.0]])
    tank = dc.Tank.partitioned(values, cell=3)
    c = np.asarray(tank.concentration)
    assert c.shape == (6, 6)
    np.testing.assert_array_equal(c[:3, :3], 1.0)
    np.testing.assert_array_equal(c[3:, 3:], 4.0)
    np.testing.assert_array_equal(c[:3, 3:], 2.0)


def test_with_board_and_gap():
    tank = dc.Tank(np.ones((6, 8)), boundary="reflect").with_board(axis=1, index=4, gap=(2, 4))
    walls = tank.walls
    assert walls[:, 4].tolist() == [True, True, False, False, True, True]
    assert walls.sum() == 4
    c = np.asarray(tank.concentration)
    assert np.all(c[walls] == 0) and np.all(c[~walls] == 1)
    # a second board keeps the first
    tank2 = tank.with_board(axis=0, index=0)
    assert tank2.walls.sum() == 4 + 8 - 1


def test_with_board_gap_spans_third_axis():
    tank = dc.Tank(np.ones((3, 5, 4))).with_board(axis=0, index=1, gap=(1, 3))
    w = tank.walls
    assert w[1, 1:3, :].sum() == 0 and w[1, 0, :].all() and w[1, 3:, :].all()
    assert w[0].sum() == 0 and w[2].sum() == 0


def test_from_image_array_and_file(tmp_path):
    import imageio.v3 as iio

    rgb = np.zeros((8, 10, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    tank = dc.Tank.from_image(rgb)
    np.testing.assert_allclose(np.asarray(tank.concentration), 0.299, rtol=1e-6)
    gray = (np.arange(80).reshape(8, 10) * 3).astype(np.uint8)
    path = tmp_path / "g.png"
    iio.imwrite(path, gray)
    tank = dc.Tank.from_image(path)
    np.testing.assert_allclose(np.asarray(tank.concentration), gray / 255.0, rtol=1e-6)
    small = dc.Tank.from_image(path, size=(4, 5))
    assert small.shape == (4, 5)
    c = np.asarray(small.concentration)
    assert c.min() >= 0 and c.max() <= 1


def test_float32_input_stays_float32():
    tank = dc.Tank(np.ones((3, 3), np.float32))
    assert tank.dtype == np.float32
    assert dc.Tank(np.ones((3, 3))).dtype == np.float64  # x64 is on in the tests


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(concentration=np.array([1e308, 1e308, 0])), ValueError, "does not fit float64"),
        (dict(concentration=np.ones((2, 2, 2)), dx=1e200), ValueError, "cell volume"),
        (dict(concentration=np.ones(3), walls=np.full(3, 0.5)), TypeError, "walls must be a boolean mask"),
        (dict(concentration=np.array([1.0, np.nan])), ValueError, "concentration must be finite"),
        (dict(concentration=np.array([1.0, np.inf])), ValueError, "concentration must be finite"),
        (dict(concentration=np.float64(1.0)), ValueError, "1-D, 2-D or 3-D"),
        (dict(concentration=np.ones((2, 2, 2, 2))), ValueError, "1-D, 2-D or 3-D"),
        (dict(concentration=np.ones(4), boundary="open"), ValueError, "boundary 'open' is unknown"),
        (dict(concentration=np.ones((3, 3)), boundary=("reflect",)), ValueError, "boundary has 1 entries"),
        (dict(concentration=np.ones((3, 3)), walls=np.zeros((3, 4), bool)), ValueError, "walls must have"),
        (dict(concentration=np.ones((3, 3)), walls=np.eye(3, dtype=bool)), ValueError, "inside walls must be 0"),
        (dict(concentration=np.ones(3), dx=0.0), ValueError, "dx must be"),
        (dict(concentration=np.array(["a", "b"])), TypeError, "numeric"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dc.Tank(**kwargs)


def test_builder_bad_input():
    with pytest.raises(ValueError, match="index must be in"):
        dc.Tank(np.ones((4, 4))).with_board(axis=0, index=4)
    with pytest.raises(ValueError, match="gap must satisfy"):
        dc.Tank(np.ones((4, 4))).with_board(axis=0, index=1, gap=(3, 2))
    with pytest.raises(ValueError, match="axis must be in"):
        dc.Tank.two_compartment((4, 4), axis=2)
    with pytest.raises(ValueError, match="left must be"):
        dc.Tank.two_compartment((4, 4), left=float("nan"))
    with pytest.raises(TypeError, match="cell must be an integer"):
        dc.Tank.partitioned(np.ones((2, 2)), cell=1.5)
    with pytest.raises(ValueError, match="does not exist"):
        dc.Tank.from_image("/nonexistent/picture.png")
    with pytest.raises(ValueError, match=r"brightness in \[0, 1\]"):
        dc.Tank.from_image(np.full((3, 3), 2.0))


def test_float32_overflow_is_refused_not_inf():
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="does not fit float32"):
            dc.Tank([1e39, 0.0, 0.0])
        assert dc.Tank([1e30, 0.0, 0.0]).dtype == np.float32


def test_integer_and_bool_fields_are_floats_and_signed_fields_are_allowed():
    t = dc.Tank(np.array([1, 2, 3, 4]))
    assert np.issubdtype(t.dtype, np.floating)
    np.testing.assert_array_equal(np.asarray(t.concentration), [1.0, 2.0, 3.0, 4.0])
    assert np.issubdtype(dc.Tank(np.array([True, False])).dtype, np.floating)
    signed = dc.Tank(np.array([-1.0, 2.0, -3.0]))
    assert float(signed.mass) == pytest.approx(-2.0)

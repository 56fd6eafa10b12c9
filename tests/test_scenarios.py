"""The named scenarios: each builds what its description says, checked against numpy directly."""

import imageio.v3 as iio
import jax
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import scenarios
from diffusion_conv.data import make_test_image

NAMES = ("two-compartment", "partitions", "noise", "image", "slit", "drift", "point", "gel", "membrane")


def test_registry_lists_the_nine_scenarios():
    assert scenarios.names() == NAMES
    descriptions = scenarios.describe()
    assert tuple(descriptions) == NAMES
    assert all(text and "\n" not in text for text in descriptions.values())


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        scenarios.get("nope")
    assert "'nope'" in str(err.value)
    for name in NAMES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="size"):
        scenarios.get("point", size=4)
    with pytest.raises(TypeError, match="size"):
        scenarios.get("point", size=16.5)


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_builds_and_runs_its_methods_checks(name):
    sc = scenarios.get(name, size=16)
    assert sc.name == name and sc.description == scenarios.describe()[name]
    assert sc.tank.ndim == sc.propagator.ndim == 2
    assert sc.steps >= 1 and 1 <= sc.save_every <= sc.steps
    assert set(sc.methods) <= set(dc.METHODS) and sc.reference in sc.methods
    assert sc.n_particles >= 1
    # every listed method accepts the problem (validation only: no run)
    for m in sc.methods:
        method = dc.methods.get(m)
        kw = {"n_particles": 10, "key": jax.random.key(0)} if method.stochastic else {}
        method.validate(sc.tank, sc.propagator, **kw)


def test_two_compartment_is_salt_beside_fresh_water():
    c = np.asarray(scenarios.get("two-compartment", size=16).tank.concentration)
    assert c.shape == (8, 16)
    np.testing.assert_array_equal(c[:, :8], 1.0)
    np.testing.assert_array_equal(c[:, 8:], 0.0)


def test_noise_is_seeded_random_cells():
    a = np.asarray(scenarios.get("noise", size=16, seed=3).tank.concentration)
    b = np.asarray(scenarios.get("noise", size=16, seed=3).tank.concentration)
    c = np.asarray(scenarios.get("noise", size=16, seed=4).tank.concentration)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    expected = np.random.default_rng(3).random((16, 16))
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    assert scenarios.get("noise").tank.shape == (256, 256)
    # the propagator is the box blur with m = 9
    np.testing.assert_allclose(np.asarray(scenarios.get("noise", size=8).propagator.weights), 1 / 9, rtol=1e-6)


@pytest.mark.parametrize("size", [16, 32, 40, 256])
def test_partitions_are_sixteen_by_sixteen_compartments(size):
    sc = scenarios.get("partitions", size=size, seed=3)
    c = np.asarray(sc.tank.concentration, dtype=np.float64)
    assert c.shape == (size, size) and sc.tank.walls is None
    # the blocks: rows (and columns) split into 16 runs of equal values, each run its own draw
    edges = [0] + [i for i in range(1, size) if (i * 16) // size != ((i - 1) * 16) // size] + [size]
    assert len(edges) == 17
    values = np.random.default_rng(3).random((16, 16))
    for bi in range(16):
        for bj in range(16):
            block = c[edges[bi] : edges[bi + 1], edges[bj] : edges[bj + 1]]
            np.testing.assert_allclose(block, values[bi, bj], rtol=1e-6)
    widths = np.diff(edges)
    assert widths.max() - widths.min() <= 1
    np.testing.assert_allclose(np.asarray(sc.propagator.weights), 1 / 9, rtol=1e-6)
    assert scenarios.get("partitions").tank.shape == (256, 256)


def test_details_give_size_steps_and_the_method_auto_runs():
    from diffusion_conv.core import resolve

    info = scenarios.details()
    assert tuple(info) == NAMES
    for name, row in info.items():
        assert row["size"] == scenarios.default_size(name) and row["description"] == scenarios.describe()[name]
        small = scenarios.details(size=16)[name]
        sc = scenarios.get(name, size=16)
        assert small["steps"] == sc.steps and small["save_every"] == sc.save_every
        assert small["shape"] == list(sc.tank.shape)
        expected_frames = len(set(range(0, sc.steps + 1, sc.save_every)) | {sc.steps})
        assert small["frames"] == expected_frames
        # the method 'auto' picks, as simulate resolves it
        assert small["method"] == resolve("auto", sc.tank, sc.propagator).name
    assert info["partitions"]["steps"] >= 1000  # long enough for the 16-cell compartments to dissolve
    with pytest.raises(ValueError, match="size"):
        scenarios.details(size=4)


def test_temperature_bank_labels_members_and_warns_when_they_are_identical():
    sc = scenarios.get("two-compartment", size=16)
    bank, labels = scenarios.temperature_bank(sc.propagator, [0.5, 1, 2])
    assert bank.batch_shape == (3,) and labels == ["T = 0.5", "T = 1", "T = 2"]
    w = np.asarray(sc.propagator.weights, dtype=np.float64)
    for t, member in zip((0.5, 1.0, 2.0), np.asarray(bank.weights, dtype=np.float64)):
        expected = w ** (1 / t) / np.sum(w ** (1 / t))  # softmax(log w / T)
        np.testing.assert_allclose(member, expected, rtol=1e-9)
    box = scenarios.get("partitions", size=16).propagator
    with pytest.warns(UserWarning, match="identical"):
        scenarios.temperature_bank(box, [0.5, 1, 2])
    with pytest.raises(ValueError, match="zero weights"):
        scenarios.temperature_bank(dc.Propagator.from_kernel(np.array([0.0, 1.0, 1.0]), normalize="sum"), [1, 2])
    with pytest.raises(ValueError, match="temperatures"):
        scenarios.temperature_bank(sc.propagator, [1, -2])


def test_image_scenario_is_the_shipped_picture():
    tank = scenarios.get("image").tank
    pixels = iio.imread(scenarios.TEST_IMAGE)
    assert pixels.dtype == np.uint8 and tank.shape == pixels.shape
    np.testing.assert_allclose(np.asarray(tank.concentration), pixels / 255.0, rtol=1e-6)


def test_shipped_picture_is_what_the_script_makes(tmp_path):
    np.testing.assert_array_equal(iio.imread(scenarios.TEST_IMAGE), make_test_image.make_image())
    path = make_test_image.main(str(tmp_path / "again.png"))
    np.testing.assert_array_equal(iio.imread(path), iio.imread(scenarios.TEST_IMAGE))


def test_slit_has_one_board_with_a_gap():
    sc = scenarios.get("slit", size=32)
    walls = sc.tank.walls
    assert walls is not None
    cols = np.nonzero(walls.any(axis=0))[0]
    np.testing.assert_array_equal(cols, [16])  # one board, across axis 1 at the middle
    open_rows = np.nonzero(~walls[:, 16])[0]
    assert 1 <= open_rows.size < 32 and np.all(np.diff(open_rows) == 1)  # one contiguous gap
    assert set(sc.methods) == {"propagator", "particles", "counts"}
    with pytest.raises(ValueError, match="walls"):
        dc.simulate(sc.tank, sc.propagator, 1, method="image")


def test_drift_is_the_softmax_of_a_sobel_kernel():
    sc = scenarios.get("drift", size=16)
    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    expected = np.exp(sobel) / np.exp(sobel).sum()
    np.testing.assert_allclose(np.asarray(sc.propagator.weights), expected, rtol=1e-6)
    assert sc.tank.boundary == ("reflect", "reflect")
    assert "spectral" not in sc.methods and "heat" not in sc.methods


def test_point_source_is_a_unit_mass_at_the_centre():
    c = np.asarray(scenarios.get("point", size=16).tank.concentration)
    assert c.sum() == 1.0 and c[8, 8] == 1.0
    assert scenarios.get("point", size=16).tank.boundary == ("periodic", "periodic")

"""Labelled output: Result.to_xarray (dims, coordinates in the tank's units, meta as attributes), and the result
file's formats (.npz, netCDF .nc through xarray), each read back exactly; other suffixes refused before writing."""

from __future__ import annotations

import json
import os
import sys

import jax
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv.errors import InputError, InputTypeError, MissingExtraError

xr = pytest.importorskip("xarray")


def _plain(meta):
    return json.loads(json.dumps(meta))


def _runs():
    """A 1-D run with absorbing edges and dx, dt; a 2-D run with walls; a batch of two kernels; a stochastic run."""
    one = dc.simulate(
        dc.Tank(np.r_[np.zeros(5), np.ones(3), np.zeros(4)], boundary="absorb", dx=0.5),
        dc.Propagator.gaussian(0.7, ndim=1),
        9,
        save_every=4,
        dt=0.25,
    )
    walled = dc.Tank.two_compartment((8, 10)).with_board(axis=1, index=5, gap=(2, 5))
    two = dc.simulate(walled, dc.Propagator.box(3), 6, save_every=3)
    bank = dc.Propagator.stack([dc.Propagator.box(3), dc.Propagator.gaussian(0.6, radius=1)])
    batch = dc.simulate(dc.Tank.two_compartment((6, 8)), bank, 4, save_every=2)
    noisy = dc.simulate(
        dc.Tank.two_compartment((8, 8)),
        dc.Propagator.box(3),
        5,
        method="particles",
        n_particles=500,
        key=jax.random.key(3),
    )
    return {"1d": one, "2d": two, "batch": batch, "particles": noisy}


RUNS = _runs()


@pytest.mark.parametrize("name", list(RUNS))
def test_dataset_dims_coordinates_and_attributes(name):
    res = RUNS[name]
    ds = res.to_xarray()
    batch = res.batch_shape
    ndim = res.frames.ndim - 1 - len(batch)
    space = {1: ("x",), 2: ("y", "x"), 3: ("z", "y", "x")}[ndim]
    bdims = ("member",) if len(batch) == 1 else ()
    assert ds["concentration"].dims == ("time", *bdims, *space)
    assert ds["absorbed"].dims == ("time", *bdims)
    np.testing.assert_array_equal(ds["concentration"].values, res.frames)
    np.testing.assert_array_equal(ds["absorbed"].values, res.absorbed)
    dt = res.meta["dt"]
    np.testing.assert_array_equal(ds["time"].values, res.steps * dt)  # time = step * dt
    np.testing.assert_array_equal(ds["step"].values, res.steps)
    grid = res.frames.shape[1 + len(batch) :]
    for dim, n in zip(space, grid):  # cell centres in dx units
        np.testing.assert_allclose(ds[dim].values, (np.arange(n) + 0.5) * res.dx, rtol=0, atol=1e-15)
    # a coordinate picks the cell it should: the centre of cell 3 along the last axis
    last = ds["concentration"].sel({space[-1]: 3.5 * res.dx}).isel(time=-1).values
    np.testing.assert_array_equal(last, res.final[..., 3])
    assert ds.attrs["method"] == res.method and ds.attrs["elapsed"] == res.elapsed
    assert json.loads(ds.attrs["diffusion_conv_meta"]) == _plain(res.meta)
    encoded = set(json.loads(ds.attrs["json_attrs"]))
    for key, value in res.meta.items():
        got = json.loads(ds.attrs[key]) if key in encoded else ds.attrs[key]
        assert got == _plain(value), key
    assert "boundary" in encoded and ds.attrs["dx"] == res.dx


def test_batch_dims_are_named_as_asked_or_numbered():
    res = RUNS["batch"]
    assert res.to_xarray(batch_dims=["kernel"])["concentration"].dims == ("time", "kernel", "y", "x")
    frames = np.zeros((2, 3, 2, 4, 5))
    two = dc.Result("propagator", [0, 1], [0.0, 1.0], frames, np.zeros((2, 3, 2)), 0.0, {"batch_shape": [3, 2]})
    assert two.to_xarray()["concentration"].dims == ("time", "member_0", "member_1", "y", "x")
    named = dc.Result(
        "propagator",
        [0, 1],
        [0.0, 1.0],
        frames,
        np.zeros((2, 3, 2)),
        0.0,
        {"batch_shape": [3, 2], "batch_dims": ["channel", "kernel"]},
    )
    assert named.to_xarray()["absorbed"].dims == ("time", "channel", "kernel")
    for bad in (["a"], ["a", "a"], ["time", "b"], ["x", "k"]):
        with pytest.raises(InputError, match="batch_dims"):
            two.to_xarray(batch_dims=bad)
    with pytest.raises(InputTypeError, match="batch_dims"):
        two.to_xarray(batch_dims=[1, 2])


def _same(a, b):
    assert a.method == b.method and a.elapsed == b.elapsed
    for k in ("steps", "times", "frames", "absorbed"):
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype and x.shape == y.shape, k
        np.testing.assert_array_equal(x, y, err_msg=k)
    assert b.meta == _plain(a.meta)


@pytest.mark.parametrize("suffix", [".nc", ".npz"])
@pytest.mark.parametrize("name", list(RUNS))
def test_save_and_load_give_the_same_result_back(name, suffix, tmp_path):
    res = RUNS[name]
    path = tmp_path / f"run{suffix}"
    res.save(path)
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left
    _same(res, dc.Result.load(path))


def test_the_netcdf_file_is_netcdf3_that_scipy_reads_alone(tmp_path):
    # an independent reader: SciPy's own netCDF3 module, not xarray
    from scipy.io import netcdf_file

    res = RUNS["2d"]
    path = tmp_path / "run.nc"
    res.save(path)
    assert path.read_bytes()[:4] in (b"CDF\x01", b"CDF\x02")
    with netcdf_file(path, "r", mmap=False) as f:
        np.testing.assert_array_equal(f.variables["concentration"][:], res.frames)
        np.testing.assert_array_equal(f.variables["step"][:], res.steps)
        assert f.variables["concentration"].dimensions == ("time", "y", "x")
        assert f.method == b"propagator"


def test_extras_and_integers_beyond_int32_round_trip_through_netcdf(tmp_path):
    res = dc.Result(
        "propagator",
        [0, 3],
        [0.0, 3.0],
        np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3),
        [0.0, 0.5],
        1.5,
        {"dx": 1.0, "seed": 2**40 + 1, "flag": True, "none": None, "nested": {"a": [1, 2.5]}, "bad name/": 1},
        {"track": np.array([[1, 2**33], [3, -4]], dtype=np.int64), "mask": np.array([True, False]), "note": "x"},
    )
    path = tmp_path / "run.nc"
    res.save(path)
    back = dc.Result.load(path)
    _same(res, back)
    assert back.extras["track"].dtype == np.int64 and back.extras["track"].tolist() == [[1, 2**33], [3, -4]]
    assert back.extras["mask"].dtype == bool and back.extras["mask"].tolist() == [True, False]
    assert back.extras["note"] == "x"


def test_values_netcdf3_cannot_hold_are_refused_before_writing(tmp_path):
    res = dc.Result("propagator", [0], [0.0], np.ones((1, 3)), [0.0], 0.0, {}, {"z": np.array([1 + 2j])})
    with pytest.raises(InputTypeError, match=r"extra_z.*\.npz"):
        res.save(tmp_path / "run.nc")
    assert os.listdir(tmp_path) == []
    res.save(tmp_path / "run.npz")  # the archive holds complex numbers
    assert dc.Result.load(tmp_path / "run.npz").extras["z"].tolist() == [1 + 2j]


@pytest.mark.parametrize("name", ["run.h5", "run.hdf5", "run", "run.npy", "run.NC.txt"])
def test_other_suffixes_are_refused_before_anything_is_written(name, tmp_path):
    with pytest.raises(InputError, match=r"\.npz or \.nc"):
        RUNS["2d"].save(tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_suffixes_are_read_without_regard_to_case(tmp_path):
    RUNS["1d"].save(tmp_path / "RUN.NC")
    _same(RUNS["1d"], dc.Result.load(tmp_path / "RUN.NC"))


def test_a_netcdf_file_that_is_not_a_result_is_refused(tmp_path):
    path = tmp_path / "other.nc"
    xr.Dataset({"a": ("t", np.arange(3.0))}).to_netcdf(path, engine="scipy")
    with pytest.raises(InputError, match="not a diffusion_conv result file"):
        dc.Result.load(path)
    damaged = tmp_path / "damaged.nc"
    RUNS["2d"].save(damaged)
    damaged.write_bytes(damaged.read_bytes()[:200])
    with pytest.raises(InputError, match="damaged"):
        dc.Result.load(damaged)


def test_without_xarray_the_extra_is_named_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray now fails
    res = RUNS["2d"]
    with pytest.raises(MissingExtraError, match=r"diffusion-conv\[xarray\]"):
        res.to_xarray()
    with pytest.raises(MissingExtraError, match=r"diffusion-conv\[xarray\]"):
        res.save(tmp_path / "run.nc")
    assert os.listdir(tmp_path) == []
    res.save(tmp_path / "run.npz")  # the archive needs no extra
    monkeypatch.undo()
    res.save(tmp_path / "run.nc")
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match="xarray"):
        dc.Result.load(tmp_path / "run.nc")

"""Regression tests of batches, keys and devices (indices out of range, empty batches, a device listed twice) and
of small input checks (times that overflow, numpy numbers as options, boundaries given as a mapping, arrays of
other shapes, even kernels, numpy values in a result's meta and mixed extras in its file)."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffusion_conv as dc


def _stack():
    a = dc.Tank.two_compartment((8, 8))
    b = dc.Tank.two_compartment((8, 8), left=0.25, right=0.5)
    return a, b, dc.Tank.stack([a, b])


def _same(t, u):
    return t.batch_shape == u.batch_shape and np.array_equal(np.asarray(t.concentration), np.asarray(u.concentration))


# -- batches: indices ---------------------------------------------------------------------------
@pytest.mark.parametrize("index", [2, 5, -3, -7, (0, 0), (slice(None), 1)])
def test_tank_index_out_of_range_is_an_index_error(index):
    _, _, s = _stack()
    with pytest.raises(IndexError, match="batch_shape"):
        s[index]


def test_tank_index_follows_pythons_rules():
    a, b, s = _stack()
    assert _same(s[0], a) and _same(s[1], b) and _same(s[-1], b) and _same(s[-2], a)
    assert _same(s[np.int64(1)], b) and _same(s[jnp.asarray(-2)], a)
    assert _same(s[1:], dc.Tank.stack([b])) and _same(s[::-1], dc.Tank.stack([b, a]))
    assert s[-5:].batch_shape == (2,) and _same(s[1:5], s[1:])  # slices clip, as in Python
    grid = s.reshape_batch((2, 1))
    assert _same(grid[1, 0], b) and _same(grid[-1, -1], b) and _same(grid[..., 0], s)
    assert grid[:, 0].shape == (8, 8) and grid[:, 0].batch_shape == (2,)
    for bad in [(2, 0), (0, 1), (0, -2), (0, 0, 0)]:
        with pytest.raises(IndexError):
            grid[bad]


def test_tank_index_under_vmap_still_works():
    """A traced index cannot be checked on the host: it keeps JAX's behaviour."""
    _, _, s = _stack()
    masses = jax.vmap(lambda i: s[i].mass)(jnp.arange(2))
    np.testing.assert_allclose(np.asarray(masses), np.asarray(s.mass), rtol=1e-6)


# -- batches: empty ones ------------------------------------------------------------------------
@pytest.mark.parametrize("index", [slice(0, 0), slice(5, None), np.zeros(2, bool), np.array([], int)])
def test_empty_selection_of_a_stack_is_refused(index):
    _, _, s = _stack()
    with pytest.raises(ValueError, match="selects no tank"):
        s[index]


def test_empty_tank_batch_is_refused_before_work():
    _, _, s = _stack()
    empty = jax.tree_util.tree_map(lambda c: c[:0], s)  # a pytree map can still make one
    assert empty.batch_shape == (0,)
    prop = dc.Propagator.box(3, ndim=2)
    with pytest.raises(ValueError, match=r"tank is an empty batch \(batch_shape \(0,\)\)"):
        dc.simulate(empty, prop, 3)
    with pytest.raises(ValueError, match="tank is an empty batch"):
        dc.rollout(empty, prop, 3)
    bank = dc.Propagator.stack([prop, prop])
    no_kernels = jax.tree_util.tree_map(lambda w: w[:0], bank)
    with pytest.raises(ValueError, match=r"prop is an empty bank \(batch_shape \(0,\)\)"):
        dc.simulate(s[0], no_kernels, 3)


@pytest.mark.parametrize("method", ["particles", "counts"])
@pytest.mark.parametrize("raw", [False, True])
def test_empty_batch_of_keys_is_refused(method, raw):
    tank = dc.Tank.two_compartment((8, 8))
    prop = dc.Propagator.box(3, ndim=2)
    keys = jax.random.split(jax.random.key(0), 0)
    if raw:
        keys = jax.random.key_data(keys)
    for run in (dc.simulate, dc.rollout):
        with pytest.raises(ValueError, match=r"key is an empty batch of keys \(batch shape \(0,\)\)"):
            run(tank, prop, 3, method=method, n_particles=100, key=keys)
    if method == "counts" or raw:
        return  # the check is the same for every method; one run shows a batch of two keys still works
    res = dc.simulate(tank, prop, 3, method=method, n_particles=100, key=jax.random.split(jax.random.key(0), 2))
    assert res.frames.shape == (2, 2, 8, 8)


# -- devices listed twice -----------------------------------------------------------------------
def test_a_device_listed_twice_is_refused():
    _, _, s = _stack()
    prop = dc.Propagator.box(3, ndim=2)
    d0 = jax.devices()[0]
    with pytest.raises(ValueError, match=r"devices lists .* twice \(positions 0 and 1\)"):
        dc.simulate(s, prop, 3, devices=[d0, d0])
    from jax.sharding import Mesh

    with pytest.raises(ValueError, match="devices lists .* twice"):
        dc.simulate(s, prop, 3, devices=Mesh(np.array([d0, d0]), ("x",)))
    ref = dc.simulate(s, prop, 3)
    np.testing.assert_array_equal(dc.simulate(s, prop, 3, devices=[d0]).frames, ref.frames)


# -- small ones -----------------------------------------------------------------------------------
def test_times_must_stay_finite():
    tank, prop = dc.Tank.two_compartment((8, 8)), dc.Propagator.box(3, ndim=2)
    with pytest.raises(ValueError, match=r"dt=1e\+308 .* steps=3, .* beyond"):
        dc.simulate(tank, prop, 3, dt=1e308)
    with pytest.raises(ValueError, match="dt="):
        dc.compare(tank, prop, 3, methods=("propagator",), dt=1e308)
    res = dc.simulate(tank, prop, 1, dt=1e308)  # the largest time still a float
    np.testing.assert_array_equal(res.times, [0.0, 1e308])


def test_boundary_must_be_a_string_or_a_sequence_of_strings():
    c = np.ones((4, 4))
    for bad in [
        {"reflect": 1},
        {"reflect": 1, "periodic": 2},
        {"reflect", "periodic"},
        ["reflect", 1],
        (b for b in ["reflect", "reflect"]),
        b"reflect",
        3,
    ]:
        with pytest.raises(TypeError, match="boundary"):
            dc.Tank(c, boundary=bad)
    t = dc.Tank(c, boundary=["reflect", "periodic"])
    assert tuple(map(str, t.boundary)) == ("reflect", "periodic")
    assert tuple(map(str, dc.Tank(c, boundary=np.array(["absorb", "reflect"])).boundary)) == ("absorb", "reflect")
    with pytest.raises(TypeError, match="boundary"):
        dc.propagate(c, dc.Propagator.box(3, ndim=2), 1, boundary={"reflect": 1})


def test_errors_of_arrays_of_other_shapes_name_both_shapes():
    for fn in (dc.rel_l2_error, dc.max_error):
        with pytest.raises(ValueError, match=r"\(3, 3\) and \(4, 4\)"):
            fn(np.ones((3, 3)), np.ones((4, 4)))
        with pytest.raises(ValueError, match=r"\(3,\) and \(1, 3\)"):
            fn(np.ones(3), np.ones((1, 3)))  # broadcastable is not the same shape
    a, b = np.array([3.0, 4.0]), np.array([0.0, 5.0])
    assert dc.rel_l2_error(a, b) == pytest.approx(np.hypot(3.0, 1.0) / 5.0, rel=1e-15)
    assert dc.max_error(a, b) == 3.0


def test_convolve_direct_refuses_even_kernels():
    for mode in ("linear", "circular"):
        with pytest.raises(ValueError, match=r"odd-sized .* got shape \(2, 2\)"):
            dc.convolve_direct(np.ones((5, 5)), np.ones((2, 2)), mode=mode)
        with pytest.raises(ValueError, match=r"odd-sized .* got shape \(3, 4\)"):
            dc.convolve_direct(np.ones((5, 5)), np.ones((3, 4)), mode=mode)
    out = dc.convolve_direct(np.ones((5, 5)), np.ones((3, 1)), mode="linear")
    np.testing.assert_array_equal(out[:, 0], [1, 2, 3, 3, 3, 2, 1])


# -- animate: numpy numbers ----------------------------------------------------------------------
def _small_result():
    return dc.simulate(dc.Tank.two_compartment((8, 8)), dc.Propagator.box(3, ndim=2), 4, save_every=2)


def test_animate_takes_numpy_numbers_for_fps(tmp_path):
    from PIL import Image

    res = _small_result()
    paths = {}
    for name, fps in [("int", 5), ("np_int", np.int64(5)), ("np_int32", np.int32(5)), ("np_float", np.float64(5))]:
        paths[name] = dc.render.animate(res, tmp_path / f"{name}.gif", fps=fps)
    for name, path in paths.items():
        with Image.open(path) as im:
            assert im.n_frames == 3 and im.info["duration"] == 200, name  # 5 frames a second
    for bad in (True, np.bool_(True), "5", None):
        with pytest.raises(TypeError, match="fps"):
            dc.render.animate(res, tmp_path / "bad.gif", fps=bad)
    for bad in (np.int64(0), np.float64(np.nan), 101):
        with pytest.raises(ValueError, match="fps"):
            dc.render.animate(res, tmp_path / "bad.gif", fps=bad)
    assert not os.path.exists(tmp_path / "bad.gif")


# -- Result files: meta and extras ---------------------------------------------------------------
def test_save_stores_numpy_values_in_meta_as_plain_values(tmp_path):
    res = _small_result()
    res.meta.update(
        seed=np.int64(7),
        scale=np.float32(0.5),
        flag=np.bool_(True),
        grid=np.arange(3),
        nested={"a": [np.float64(1.5), np.int32(2)], "b": (1, "x")},
        name=np.str_("run"),
    )
    path = tmp_path / "run.npz"
    res.save(path)
    back = dc.Result.load(path)
    expected = dict(seed=7, scale=0.5, flag=True, grid=[0, 1, 2], nested={"a": [1.5, 2], "b": [1, "x"]}, name="run")
    for k, v in expected.items():
        assert back.meta[k] == v and json.dumps(back.meta[k]) == json.dumps(v), k
    assert type(back.meta["seed"]) is int and type(back.meta["flag"]) is bool


@pytest.mark.parametrize(
    "value, where",
    [
        (object(), r"meta\['bad'\] holds <object"),
        ({1, 2}, r"meta\['bad'\] holds \{1, 2\} \(set\)"),
        (1 + 2j, r"meta\['bad'\] holds \(1\+2j\) \(complex\)"),
        ({"deep": [1, object()]}, r"meta\['bad'\]\['deep'\]\[1\]"),
        ({3: "x"}, r"meta\['bad'\] has a key 3"),
    ],
)
def test_save_refuses_what_json_cannot_hold_before_touching_the_file(tmp_path, value, where):
    res = _small_result()
    path = tmp_path / "run.npz"
    res.save(path)
    before = path.read_bytes()
    res.meta["bad"] = value
    with pytest.raises(TypeError, match=where):
        res.save(path)
    with pytest.raises(TypeError, match=where):
        res.save(tmp_path / "new.npz")
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["run.npz"]


def test_extras_round_trip_faithfully(tmp_path):
    res = _small_result()
    res.extras.update(
        mixed=[1, "a", 2.5, None, True],
        labels=["x", "y"],
        numbers=[1, 2, 3],
        nested=[[1, 2], "z"],
        count=4,
        track=np.arange(6.0).reshape(2, 3),
        ints=np.arange(3, dtype=np.int16),
        text=np.array(["p", "q"]),
        scalar=np.float32(2.5),
        info={"k": [1, "v"]},
    )
    path = tmp_path / "run.npz"
    res.save(path)
    back = dc.Result.load(path)
    assert set(back.extras) == set(res.extras)
    for k in ("mixed", "labels", "numbers", "nested", "count", "info"):
        assert back.extras[k] == res.extras[k] and json.dumps(back.extras[k]) == json.dumps(res.extras[k]), k
    for k in ("track", "ints", "text", "scalar"):
        want = np.asarray(res.extras[k])
        assert isinstance(back.extras[k], np.ndarray) and back.extras[k].dtype == want.dtype, k
        np.testing.assert_array_equal(back.extras[k], want)
    res.extras["objects"] = np.array([1, "a"], dtype=object)
    with pytest.raises(TypeError, match=r"extras\['objects'\]"):
        res.save(tmp_path / "other.npz")
    assert not os.path.exists(tmp_path / "other.npz")

"""The propagator method with a mobility map, each check against something independent.

The naive statement of the rule (``reference.mobility_transition_matrix``),
mass balance, the uniform field of a closed tank, today's walls and today's
tank, central differences, the members of a batch run alone, and the refusals
of the methods that do not take a map.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import mobility_transition_matrix

import diffusion_conv as dc
from diffusion_conv.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOUNDARIES = ("reflect", "periodic", "absorb")


def _kernel(shape, seed):
    w = np.random.default_rng(seed).random(shape) + 0.1
    return w / w.sum()


def _gaussian3(ndim):
    f = np.array([1.0, 2.0, 1.0]) / 4
    w = f
    for _ in range(ndim - 1):
        w = np.multiply.outer(w, f)
    return w


def _gel(shape, box, seed, zero=True):
    """1 everywhere but a box of random mobilities (one of them 0: a wall cell)."""
    rng = np.random.default_rng(seed)
    m = np.ones(shape)
    m[box] = rng.uniform(0.1, 0.9, m[box].shape)
    if zero:
        m[box].flat[0] = 0.0  # a view: writes into m
    return m


def _expected(c0, weights, boundary, mobility, steps):
    shape = c0.shape
    P = mobility_transition_matrix(shape, weights, (boundary,) * len(shape), mobility)
    return np.linalg.matrix_power(P, steps) @ c0.ravel()


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(
    "shape, kernel, box, path",
    [
        ((13,), "random3", np.s_[4:9], "general"),
        ((10, 9), "random5", np.s_[2:7, 3:6], "general"),  # a 5x5 kernel, a map over much of the tank
        ((28, 28), "gauss", np.s_[12:16, 10:14], "halo"),  # the patch: separable kernel
        ((28, 28), "random3", np.s_[12:16, 10:14], "direct"),  # the patch: a kernel that does not factor
        ((40, 40), "gauss", np.s_[0:3, 17:21], "halo"),  # the patch's box meets an edge (folded)
        ((5, 4, 6), "random3", np.s_[1:3, 1:3, 2:4], "general"),
    ],
)
def test_propagator_equals_the_naive_rule(boundary, shape, kernel, box, path):
    ndim = len(shape)
    w = {
        "gauss": _gaussian3(ndim),
        "random3": _kernel((3,) * ndim, 1),
        "random5": _kernel((5,) * ndim, 2),
    }[kernel]
    m = _gel(shape, box, 3)
    c0 = np.random.default_rng(4).random(shape) * (m > 0)
    tank = dc.Tank(c0, boundary=boundary, mobility=m)
    r = dc.simulate(tank, dc.Propagator(w), 4, save_every=2)
    assert r.meta["path"] == path
    assert r.meta["mobility_path"] == ("factors" if path == "general" else "patch")
    np.testing.assert_allclose(r.frames[-1].ravel(), _expected(c0, w, boundary, m, 4), rtol=0, atol=1e-13)
    assert np.all(r.frames[:, m == 0] == 0)  # cells of mobility 0 are walls: they stay dry
    # mass: what is in the tank plus what left through absorbing edges (none elsewhere)
    lost = r.absorbed[-1] if boundary == "absorb" else 0.0
    assert abs(r.frames[-1].sum() + lost - c0.sum()) <= 1e-12 * c0.sum()
    if boundary != "absorb":
        assert r.absorbed[-1] == 0


@pytest.mark.parametrize("boundary", ("reflect", "periodic"))
def test_uniform_field_stays_uniform_in_a_closed_tank(boundary):
    rng = np.random.default_rng(5)
    m = rng.uniform(0.05, 1.0, (12, 11))
    w = _gaussian3(2)  # symmetric
    for mm in (m, np.where(np.arange(12)[:, None] == 6, 0.0, m)):  # one region, and two behind a wall
        c0 = np.where(mm > 0, 0.7, 0.0)
        r = dc.simulate(dc.Tank(c0, boundary=boundary, mobility=mm), dc.Propagator(w), 50)
        np.testing.assert_allclose(r.frames[-1], c0, rtol=0, atol=1e-13)


def test_zero_one_map_equals_todays_walls_bit_for_bit():
    sc_walls = np.zeros((24, 24), bool)
    sc_walls[:, 12] = True
    sc_walls[9:13, 12] = False
    c0 = np.where(sc_walls, 0.0, np.random.default_rng(6).random((24, 24)))
    for w in (_gaussian3(2), _kernel((3, 3), 7)):
        for boundary in BOUNDARIES:
            walls = dc.simulate(dc.Tank(c0, boundary=boundary, walls=sc_walls), dc.Propagator(w), 10, save_every=3)
            tank = dc.Tank(c0, boundary=boundary, mobility=np.where(sc_walls, 0.0, 1.0))
            assert tank.mobility is None
            mob = dc.simulate(tank, dc.Propagator(w), 10, save_every=3)
            np.testing.assert_array_equal(mob.frames, walls.frames)
            np.testing.assert_array_equal(mob.absorbed, walls.absorbed)


def test_mobility_one_everywhere_equals_no_mobility_bit_for_bit():
    c0 = np.random.default_rng(8).random((16, 16))
    prop = dc.Propagator(_gaussian3(2))
    plain = dc.simulate(dc.Tank(c0, boundary="absorb"), prop, 12, save_every=4)
    ones = dc.simulate(dc.Tank(c0, boundary="absorb", mobility=np.ones((16, 16))), prop, 12, save_every=4)
    np.testing.assert_array_equal(ones.frames, plain.frames)
    np.testing.assert_array_equal(ones.absorbed, plain.absorbed)
    assert ones.meta["mobility"] is None and "mobility_path" not in ones.meta


def test_meta_records_the_map_and_save_load_round_trip(tmp_path):
    m = _gel((10, 10), np.s_[3:6, 3:6], 9, zero=False)
    r = dc.simulate(dc.Tank(np.ones((10, 10)), mobility=m), dc.Propagator(_gaussian3(2)), 3)
    assert r.meta["mobility"]["cells"] == 9
    assert r.meta["mobility"]["min"] == pytest.approx(m.min())
    assert r.meta["mobility"]["mean"] == pytest.approx(m.mean())
    path = tmp_path / "run.npz"
    r.save(path)
    back = dc.Result.load(path)
    np.testing.assert_array_equal(back.frames, r.frames)
    assert back.meta["mobility"] == json.loads(json.dumps(r.meta["mobility"]))


def test_rollout_and_jit_equal_simulate():
    m = _gel((12, 12), np.s_[4:8, 4:8], 10)
    c0 = np.random.default_rng(11).random((12, 12)) * (m > 0)
    tank, prop = dc.Tank(c0, boundary="absorb", mobility=m), dc.Propagator(_kernel((3, 3), 12))
    want = dc.simulate(tank, prop, 6, save_every=2)
    frames, absorbed = dc.rollout(tank, prop, 6, save_every=2)
    np.testing.assert_allclose(frames, want.frames, rtol=0, atol=1e-14)
    np.testing.assert_allclose(absorbed, want.absorbed, rtol=0, atol=1e-14)
    jitted = jax.jit(lambda t: dc.rollout(t, prop, 6, save_every=2)[0])(tank)
    np.testing.assert_allclose(jitted, want.frames, rtol=0, atol=1e-14)


def test_gradient_into_the_map_against_central_differences():
    shape = (9, 8)
    c0 = jnp.asarray(np.random.default_rng(13).random(shape))
    target = jnp.asarray(np.random.default_rng(14).random(shape))
    prop = dc.Propagator(_kernel((3, 3), 15))
    m0 = np.random.default_rng(16).uniform(0.3, 0.9, shape)

    def loss(m):
        out = dc.propagate(c0, prop, 5, boundary="absorb", mobility=m)
        return jnp.sum((out - target) ** 2)

    g = np.asarray(jax.grad(loss)(jnp.asarray(m0)))
    h = 1e-6
    for idx in [(0, 0), (4, 3), (8, 7), (2, 6)]:
        e = np.zeros(shape)
        e[idx] = h
        fd = (loss(jnp.asarray(m0 + e)) - loss(jnp.asarray(m0 - e))) / (2 * h)
        assert g[idx] == pytest.approx(float(fd), rel=1e-6, abs=1e-10)
    assert np.all(np.isfinite(g)) and np.any(g != 0)


def test_a_batch_of_two_maps_equals_the_two_runs():
    shape = (28, 28)
    m1 = _gel(shape, np.s_[10:14, 10:14], 17)
    m2 = _gel(shape, np.s_[12:15, 8:12], 18)
    c0 = np.random.default_rng(19).random(shape) * (m1 > 0) * (m2 > 0)
    walls = (m1 == 0) | (m2 == 0)  # a stack shares its walls
    m1, m2 = np.where(walls, 0.0, m1), np.where(walls, 0.0, m2)
    prop = dc.Propagator(_gaussian3(2))
    tanks = [dc.Tank(c0, boundary="absorb", mobility=m) for m in (m1, m2)]
    batch = dc.simulate(dc.Tank.stack(tanks), prop, 6, save_every=3)
    assert batch.frames.shape[:2] == (3, 2)
    for i, t in enumerate(tanks):
        one = dc.simulate(t, prop, 6, save_every=3)
        np.testing.assert_allclose(batch.frames[:, i], one.frames, rtol=0, atol=1e-14)
        np.testing.assert_allclose(batch.absorbed[:, i], one.absorbed, rtol=0, atol=1e-14)
        frames, _ = dc.rollout(dc.Tank.stack(tanks), prop, 6, save_every=3)
        np.testing.assert_allclose(frames[:, i], one.frames, rtol=0, atol=1e-14)
    # a bank of two kernels over one map: each member its own run
    bank = dc.Propagator.stack([prop, dc.Propagator(_kernel((3, 3), 20))])
    both = dc.simulate(tanks[0], bank, 4)
    for i, p in enumerate([prop, dc.Propagator(_kernel((3, 3), 20))]):
        np.testing.assert_allclose(both.frames[:, i], dc.simulate(tanks[0], p, 4).frames, rtol=0, atol=1e-14)


def test_float32_mass_within_its_tolerance():
    m = _gel((32, 32), np.s_[12:18, 12:18], 21)
    c0 = (np.random.default_rng(22).random((32, 32)) * (m > 0)).astype(np.float32)
    tank = dc.Tank(c0, mobility=m)
    assert tank.dtype == np.float32
    r = dc.simulate(tank, dc.Propagator(_gaussian3(2)), 200, save_every=100)
    mass0 = float(np.sum(c0, dtype=np.float64))
    drift = abs(float(np.sum(r.frames[-1], dtype=np.float64)) - mass0) / mass0
    assert drift < 200 * np.finfo(np.float32).eps


@pytest.mark.parametrize("method", ["spectral", "image", "heat"])
def test_methods_without_mobility_refuse_a_map(method):
    m = _gel((8, 8), np.s_[2:5, 2:5], 23, zero=False)
    tank = dc.Tank(np.ones((8, 8)), mobility=m)
    with pytest.raises(InputError, match=r"does not take a tank with a mobility map.*propagator"):
        dc.simulate(tank, dc.Propagator(_gaussian3(2)), 3, method=method)
    with pytest.raises(InputError, match="propagator"):
        dc.methods.get(method).validate(tank, dc.Propagator(_gaussian3(2)))
    assert dc.simulate(tank, dc.Propagator(_gaussian3(2)), 3, method="auto").method == "propagator"


def test_compare_takes_propagator_as_the_reference_with_a_map():
    m = _gel((10, 10), np.s_[3:6, 3:6], 24, zero=False)
    tank = dc.Tank(np.random.default_rng(25).random((10, 10)), mobility=m)
    cmp = dc.compare(tank, dc.Propagator(_gaussian3(2)), 4, methods=["propagator"])
    assert cmp.reference == "propagator"
    with pytest.raises(InputError, match="reference 'heat'"):
        dc.compare(tank, dc.Propagator(_gaussian3(2)), 4, methods=["propagator"], reference="heat")
    with pytest.raises(InputError, match="mobility map"):
        dc.compare(tank, dc.Propagator(_gaussian3(2)), 4, methods=["propagator", "image"])


@pytest.mark.slow
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_split_grid_on_eight_devices_equals_one(boundary):
    code = f"""
        import json, jax
        jax.config.update("jax_enable_x64", True)
        import numpy as np, diffusion_conv as dc
        assert len(jax.devices()) == 8
        m = np.ones((32, 16)); m[10:20, 4:9] = np.random.default_rng(0).uniform(0.1, 0.9, (10, 5)); m[14, 6] = 0
        c0 = np.random.default_rng(1).random((32, 16)) * (m > 0)
        tank = dc.Tank(c0, boundary={boundary!r}, mobility=m)
        w = np.random.default_rng(2).random((3, 3)) + 0.1
        prop = dc.Propagator(w / w.sum())
        one = dc.simulate(tank, prop, 20, save_every=5)
        many = dc.simulate(tank, prop, 20, save_every=5, devices="all")
        print(json.dumps([float(np.max(np.abs(one.frames - many.frames))),
                          float(np.max(np.abs(one.absorbed - many.absorbed)))]))
    """
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    frames, absorbed = json.loads(proc.stdout.strip().splitlines()[-1])
    # the slabs add their strips in another order than one device: rounding, up to a few dozen float64 ulps of
    # the field (values below 1) per step; a wrong exchange or factor cut would be off by the field itself
    steps, eps = 20, np.finfo(np.float64).eps
    assert frames < 64 * steps * eps and absorbed < 64 * steps * eps * 512


def test_vmap_over_maps_equals_the_runs():
    shape = (10, 9)
    c0 = jnp.asarray(np.random.default_rng(26).random(shape))
    prop = dc.Propagator(_kernel((3, 3), 27))
    maps = np.random.default_rng(28).uniform(0.2, 1.0, (2,) + shape)
    out = jax.vmap(lambda m: dc.propagate(c0, prop, 4, boundary="absorb", mobility=m))(jnp.asarray(maps))
    for i in range(2):
        want = _expected(np.asarray(c0), np.asarray(prop.weights), "absorb", maps[i], 4)
        np.testing.assert_allclose(np.asarray(out[i]).ravel(), want, rtol=0, atol=1e-13)

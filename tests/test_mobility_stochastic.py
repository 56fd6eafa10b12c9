"""particles and counts sample the mobility rule: a jump by d from x is taken with w[d] a(x, x + d).

Each check compares with something independent: the propagator's expectation
of the rule (held to the naive transition matrix in test_mobility.py), exact
integer bookkeeping, the wall rule, and the draws of the same key elsewhere (the
pure sample functions, a traced map, a batch, eight devices in a subprocess as
tests/test_devices.py runs them).
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
from stochastic import asym, check_unbiased, field

import diffusion_conv as dc
from diffusion_conv.errors import InputError
from diffusion_conv.methods import counts as counts_method
from diffusion_conv.methods import particles as particles_method
from diffusion_conv.random import multinomial

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLERS = {
    "particles": lambda key, tank, prop, n, steps: particles_method.sample(key, tank, prop, n, steps)[:2],
    "counts": counts_method.sample,
}


def _mobility(shape, seed, walls=0):
    """A random map in [0.05, 1] with ``walls`` cells of mobility 0."""
    rng = np.random.default_rng(seed)
    m = rng.uniform(0.05, 1.0, shape)
    m.flat[rng.choice(m.size, walls, replace=False)] = 0.0
    return m


def _tank(shape, boundary, mobility, seed=1):
    return dc.Tank(np.where(mobility > 0, field(shape, seed), 0.0), boundary=boundary, mobility=mobility)


def _cases():
    board = np.ones((10, 9))
    board[5] = 0.15  # a porous board with no gap
    board[5, 3] = 0.0
    return {
        "gel-reflect-symmetric": (_tank((10, 9), "reflect", _mobility((10, 9), 1, walls=3)), dc.Propagator.box(3)),
        "gel-periodic-asymmetric": (_tank((9, 8), "periodic", _mobility((9, 8), 2)), asym((3, 3), 2)),
        "board-absorb-reflect": (_tank((10, 9), ("absorb", "reflect"), board), asym((3, 5), 3)),
    }


CASES = _cases()


def _grid(fast):
    """(method, case) pairs: ``fast`` in the fast tier, the rest marked slow (each compiles its own sampler)."""
    return [
        pytest.param(m, c, marks=() if (m, c) in fast else pytest.mark.slow, id=f"{c}-{m}")
        for m in ("particles", "counts")
        for c in CASES
    ]


@pytest.mark.parametrize(
    "method, case", _grid({("particles", "gel-reflect-symmetric"), ("counts", "board-absorb-reflect")})
)
def test_mean_equals_the_expectation_of_the_rule(method, case):
    """Each cell's count over R runs of n particles is binomial(n, p), p the propagator's share (|z| < 5, chi2):
    the propagator with the map is the rule's exact expectation (tests/test_mobility.py holds it to the naive
    transition matrix)."""
    tank, prop = CASES[case]
    steps, n, r = np.array([0, 1, 3, 6]), 2000, 160
    keys = jax.random.split(jax.random.key(11), r)
    counts, absorbed = jax.vmap(lambda k: SAMPLERS[method](k, tank, prop, n, steps))(keys)
    counts, absorbed = np.asarray(counts), np.asarray(absorbed)
    check_unbiased(counts, absorbed, tank, prop, steps, n, what=method)


@pytest.mark.parametrize(
    "method, case",
    _grid({("particles", c) for c in CASES} | {("counts", "gel-periodic-asymmetric")}),
)
def test_integers_are_conserved_exactly(method, case):
    tank, prop = CASES[case]
    n = 777
    counts, absorbed = SAMPLERS[method](jax.random.key(5), tank, prop, n, np.arange(0, 13, 3))
    counts, absorbed = np.asarray(counts), np.asarray(absorbed)
    assert np.issubdtype(counts.dtype, np.integer) and np.all(counts >= 0)
    remaining = counts.reshape(counts.shape[0], -1).sum(axis=1)
    np.testing.assert_array_equal(remaining + absorbed, n)
    if all(b.conserves for b in tank.boundary):
        np.testing.assert_array_equal(absorbed, 0)
    else:
        assert absorbed[-1] > 0
    assert np.all(counts[:, np.asarray(tank.mobility) == 0] == 0)  # nothing enters a solid cell


@pytest.mark.parametrize("method", ["particles", "counts"])
@pytest.mark.parametrize("boundary", ["reflect", ("absorb", "periodic")])
def test_a_map_of_zero_and_one_is_the_walls_bit_for_bit(method, boundary):
    walls = np.random.default_rng(4).random((9, 8)) < 0.2
    c = np.where(walls, 0.0, field((9, 8), 3))
    prop = asym((3, 3), 5)
    kw = dict(n_particles=3000, key=jax.random.key(2), save_every=2)
    by_map = dc.simulate(
        dc.Tank(c, boundary=boundary, mobility=np.where(walls, 0.0, 1.0)), prop, 6, method=method, **kw
    )
    by_walls = dc.simulate(dc.Tank(c, boundary=boundary, walls=walls), prop, 6, method=method, **kw)
    np.testing.assert_array_equal(by_map.frames, by_walls.frames)
    np.testing.assert_array_equal(by_map.absorbed, by_walls.absorbed)


@pytest.mark.parametrize("method", ["particles", pytest.param("counts", marks=pytest.mark.slow)])
def test_simulate_samples_the_map(method):
    """simulate (the host driver) draws what the pure sample function draws, and the map changes the draws."""
    tank, prop = CASES["gel-periodic-asymmetric"]
    n = 4000
    res = dc.simulate(tank, prop, 6, method=method, n_particles=n, key=jax.random.key(9), save_every=3)
    counts, _ = SAMPLERS[method](jax.random.key(9), tank, prop, n, np.array([0, 3, 6]))
    unit = float(tank.mass) / n
    np.testing.assert_array_equal(np.rint(np.asarray(res.frames) / unit), np.asarray(counts))
    plain = dc.Tank(np.asarray(tank.concentration), boundary="periodic")
    other = dc.simulate(plain, prop, 6, method=method, n_particles=n, key=jax.random.key(9), save_every=3)
    assert not np.array_equal(other.frames[-1], res.frames[-1])


@pytest.mark.parametrize("method", ["particles", pytest.param("counts", marks=pytest.mark.slow)])
def test_a_batch_of_maps_draws_what_each_map_draws_alone(method):
    """A stack of tanks with different maps (the factors prepared on the host) and a traced map under vmap
    (the factors computed in the program) give each member's own integers."""
    c = field((9, 8), 6)
    maps = [_mobility((9, 8), s) for s in (7, 8, 9)]
    prop = asym((3, 3), 7)
    kw = dict(n_particles=2500, key=jax.random.key(4), save_every=3)
    tanks = [dc.Tank(c, boundary="reflect", mobility=m) for m in maps]
    alone = [dc.simulate(t, prop, 6, method=method, **kw).frames for t in tanks]
    stacked = dc.simulate(dc.Tank.stack(tanks), prop, 6, method=method, **kw).frames
    for i, f in enumerate(alone):
        np.testing.assert_array_equal(stacked[:, i], f)
    steps = np.array([0, 3, 6])

    def run(m):
        return SAMPLERS[method](jax.random.key(4), tanks[0].like(jnp.asarray(c), mobility=m), prop, 2500, steps)[0]

    traced = jax.jit(jax.vmap(run))(jnp.asarray(np.stack(maps)))
    unit = float(tanks[0].mass) / 2500
    for i, f in enumerate(alone):
        np.testing.assert_array_equal(np.asarray(traced[i]), np.rint(np.asarray(f) / unit))


def test_counts_take_the_joint_split_with_a_map():
    """The per-axis split of a separable kernel does not apply where jumps depend on the cell."""
    tank, _ = CASES["gel-reflect-symmetric"]
    prop = dc.Propagator.gaussian(0.7, ndim=2)
    m = dc.methods.get("counts")
    plain = dc.Tank(np.asarray(tank.concentration) + 0.1)
    assert m.meta(plain, prop, [0, 2], {})["split"] == "per-axis"
    assert m.meta(tank, prop, [0, 2], {})["split"] == "joint"
    assert m.signature(plain, prop.weights, {}) and not m.signature(tank, prop.weights, {})
    assert m.prepare(plain, prop, (), {}).factors is not None
    prepared = m.prepare(tank, prop, (), {})
    assert prepared.factors is None and prepared.jump_factors.shape == (prop.weights.size,) + tank.shape


def test_particles_skip_ahead_needs_a_free_walk():
    m = np.ones((8, 8))
    m[2, 3] = 0.5
    tank = dc.Tank(np.ones((8, 8)), boundary="periodic", mobility=m)
    with pytest.raises(InputError, match="mobility map"):
        dc.simulate(
            tank, dc.Propagator.box(3), 4, method="particles", n_particles=10, key=jax.random.key(0), skip_ahead=True
        )
    res = dc.simulate(tank, dc.Propagator.box(3), 600, method="particles", n_particles=10, key=jax.random.key(0))
    assert res.meta["skip_ahead"] is False


# -- the sampler with per-cell probabilities --------------------------------------------------------------------
def test_multinomial_with_one_set_of_weights_per_entry():
    rng = np.random.default_rng(0)
    n = jnp.asarray(rng.integers(0, 5000, (6, 5)), jnp.int64)
    w = rng.random(7)
    w /= w.sum()
    key = jax.random.key(3)
    same = multinomial(key, n, jnp.broadcast_to(jnp.asarray(w)[:, None, None], (7, 6, 5)))
    np.testing.assert_array_equal(np.asarray(same), np.asarray(multinomial(key, n, jnp.asarray(w))))
    per = rng.random((7, 6, 5))
    per /= per.sum(axis=0)
    per[2, 0, 0], per[:, 0, 1] = 0.0, np.eye(7)[4]  # an empty category; all of a cell in one
    per[:, 0, 0] /= per[:, 0, 0].sum()
    reps = jnp.broadcast_to(n, (400, 6, 5))  # 400 entries per cell: each its own global index, its own draw
    draws = np.moveaxis(
        np.asarray(multinomial(key, reps, jnp.broadcast_to(jnp.asarray(per)[:, None], (7, 400, 6, 5)))), 1, 0
    )
    np.testing.assert_array_equal(draws.sum(axis=1), np.broadcast_to(np.asarray(n), (400, 6, 5)))
    assert np.all(draws[:, 2, 0, 0] == 0) and np.all(draws[:, 4, 0, 1] == n[0, 1])
    mean, var = np.asarray(n) * per, np.asarray(n) * per * (1 - per)
    live = var > 0
    z = (draws.mean(axis=0) - mean)[live] / np.sqrt(var[live] / 400)
    assert np.max(np.abs(z)) < 5


def test_particles_take_a_jump_with_its_factor():
    """Where every jump has the same factor a, a particle moves with probability (1 - w0) a per step."""
    a = 0.3
    m = np.full((1, 64), a)  # every jump crosses cells of mobility a only: the harmonic mean is a
    tank = dc.Tank(np.ones((1, 64)), boundary="periodic", mobility=m)
    prop = dc.Propagator.from_kernel(np.array([[0.25, 0.5, 0.25]]), normalize="sum")
    n = 20000
    key = jax.random.key(8)
    st = particles_method.ParticlesMethod._instance().init(tank, prop, key=key, n_particles=n)
    before = np.asarray(st.coords)
    after = np.asarray(particles_method.ParticlesMethod._instance().advance(st, 1).coords)
    moved = np.mean(np.any(before != after, axis=0))
    p = 0.5 * a
    assert abs(moved - p) < 5 * np.sqrt(p * (1 - p) / n)


# -- many devices ------------------------------------------------------------------------------------------------
SPLIT = """
    import json, jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np, diffusion_conv as dc
    assert len(jax.devices()) == 8
    rng = np.random.default_rng(0)
    m = rng.uniform(0.05, 1.0, (16, 12))
    m[7, :] = 0.1  # a porous board across the slabs' border
    m[7, 3] = 0.0
    c = np.where(m > 0, rng.uniform(0.2, 1.0, (16, 12)), 0.0)
    prop = dc.Propagator.from_logits(np.random.default_rng(2).normal(size=(3, 3)))
    out = {}
    for boundary in ["reflect", "periodic", ("absorb", "periodic")]:
        tank = dc.Tank(c, boundary=boundary, mobility=m)
        for method, devices in [("particles", 8), ("counts", "all"), ("counts", 2)]:
            kw = dict(n_particles=20001, key=jax.random.key(3), save_every=4)
            one = dc.simulate(tank, prop, 12, method=method, **kw)
            many = dc.simulate(tank, prop, 12, method=method, devices=devices, **kw)
            out[f"{boundary}|{method}|{devices}"] = bool(
                np.array_equal(one.frames, many.frames) and np.array_equal(one.absorbed, many.absorbed)
            )
    tanks = dc.Tank.stack([dc.Tank(c, mobility=np.clip(np.roll(m, s, axis=1), 0.05, 1)) for s in range(8)])
    for method in ["particles", "counts"]:
        kw = dict(n_particles=5000, key=jax.random.key(5), save_every=4)
        one = dc.simulate(tanks, prop, 8, method=method, **kw)
        many = dc.simulate(tanks, prop, 8, method=method, devices="all", **kw)
        out[f"batch|{method}"] = bool(np.array_equal(one.frames, many.frames))
    print(json.dumps(out))
"""


@pytest.mark.slow
def test_the_split_grid_and_a_sharded_batch_give_the_one_device_integers():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SPLIT)], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out) == 11
    assert all(out.values()), out

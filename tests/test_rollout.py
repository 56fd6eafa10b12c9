"""The pure core: every JAX method through ``dc.rollout`` under jit, vmap and grad, equal to ``simulate``."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import RTOL, compiles

import diffusion_conv as dc
from diffusion_conv.methods import base

JAX_METHODS = [m for m in dc.METHODS if dc.methods.get(m).traceable]
DETERMINISTIC = [m for m in JAX_METHODS if not dc.methods.get(m).stochastic]
STOCHASTIC = [m for m in JAX_METHODS if dc.methods.get(m).stochastic]
DIFFERENTIABLE = [m for m in JAX_METHODS if dc.methods.get(m).differentiable]


def problem(seed=0, boundary="reflect"):
    rng = np.random.default_rng(seed)
    tank = dc.Tank(rng.uniform(0.1, 1.0, (9, 8)), boundary=boundary)
    return tank, dc.Propagator.gaussian(0.8, ndim=2, radius=1)


def kwargs(method, key=None):
    if dc.methods.get(method).stochastic:
        return dict(key=jax.random.key(3) if key is None else key, n_particles=5000)
    return {}


def test_every_method_is_registered_through_the_one_interface():
    assert set(dc.METHODS) == {"propagator", "spectral", "particles", "counts", "image", "heat"}
    for name in dc.METHODS:
        m = dc.methods.get(name)
        assert isinstance(m, base.Method) and m.name == name and m.kind in base.KINDS
        order = m.order(*problem())
        assert isinstance(order, base.Order) and order.variable in ("steps", "n_particles")
        assert order.exponent <= 0


def test_the_registry_refuses_an_incomplete_method():
    with pytest.raises(TypeError, match="does not implement"):  # refused as it is defined

        class Half(base.Method):
            name, kind = "half", "deterministic"

            def validate(self, tank, prop, **kw):
                return {}

    with pytest.raises(TypeError, match="not a subclass"):
        base.register(dict)
    with pytest.raises(ValueError, match="method 'half' is unknown"):
        dc.methods.get("half")

    class Shared(base.Method):  # no name of its own: a base for methods, not one
        def validate(self, tank, prop, **kw):
            return {}

    assert "Shared" not in {type(m).__name__ for m in map(dc.methods.get, dc.methods.names())}


@pytest.mark.parametrize("method", JAX_METHODS)
def test_rollout_equals_simulate(method):
    tank, prop = problem(boundary=("absorb", "periodic"))
    res = dc.simulate(tank, prop, 12, method=method, save_every=5, **kwargs(method))
    frames, absorbed = dc.rollout(tank, prop, 12, method=method, save_every=5, **kwargs(method))
    assert frames.shape == res.frames.shape and absorbed.shape == res.absorbed.shape
    if dc.methods.get(method).stochastic:
        np.testing.assert_array_equal(np.asarray(frames), res.frames)  # bit for bit, same key
        np.testing.assert_array_equal(np.asarray(absorbed), res.absorbed)
    else:
        np.testing.assert_allclose(np.asarray(frames), res.frames, rtol=0, atol=RTOL[res.frames.dtype])
        np.testing.assert_allclose(np.asarray(absorbed), res.absorbed, rtol=0, atol=RTOL[res.frames.dtype])


@pytest.mark.parametrize("method", JAX_METHODS)
def test_rollout_under_jit_is_the_same(method):
    tank, prop = problem(1)
    eager = dc.rollout(tank, prop, 7, method=method, save_every=3, **kwargs(method))
    if dc.methods.get(method).stochastic:
        # the key traced; the tank and kernel concrete (closed over), as the same numbers need
        run = jax.jit(lambda k: dc.rollout(tank, prop, 7, method=method, save_every=3, key=k, n_particles=5000))
        np.testing.assert_array_equal(np.asarray(run(jax.random.key(3))[0]), np.asarray(eager[0]))
        return
    jitted = jax.jit(lambda t, p: dc.rollout(t, p, 7, method=method, save_every=3))(tank, prop)
    np.testing.assert_allclose(np.asarray(jitted[0]), np.asarray(eager[0]), rtol=0, atol=1e-13)


@pytest.mark.parametrize("method", DETERMINISTIC)
def test_vmap_over_fields(method):
    tank, prop = problem(2)
    fields = jnp.stack([tank.concentration, 2 * tank.concentration, tank.concentration[::-1]])
    run = jax.vmap(lambda c: dc.rollout(dc.Tank(c), prop, 6, method=method)[0][-1])
    out = np.asarray(run(fields))
    for i, c in enumerate(fields):
        single = dc.simulate(dc.Tank(np.asarray(c)), prop, 6, method=method).final
        np.testing.assert_allclose(out[i], single, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", DIFFERENTIABLE)
def test_vmap_over_logits(method):
    tank, _ = problem(3)
    z = jnp.asarray(np.random.default_rng(4).normal(size=(4, 3, 3)))
    z = (z + z[:, ::-1] + z[:, :, ::-1] + z[:, ::-1, ::-1]) / 4  # symmetric: spectral is exact at reflect
    run = jax.vmap(lambda zi: dc.rollout(tank, dc.Propagator.from_logits(zi), 5, method=method)[0][-1])
    out = np.asarray(run(z))
    for i in range(4):
        single = dc.simulate(tank, dc.Propagator.from_logits(np.asarray(z[i])), 5, method=method).final
        np.testing.assert_allclose(out[i], single, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", STOCHASTIC)
def test_vmap_over_keys_is_an_ensemble(method):
    tank, prop = problem(5)
    keys = jax.random.split(jax.random.key(9), 3)
    out = jax.vmap(lambda k: dc.rollout(tank, prop, 4, method=method, key=k, n_particles=2000)[0])(keys)
    for i, k in enumerate(keys):
        single = dc.simulate(tank, prop, 4, method=method, key=k, n_particles=2000)
        np.testing.assert_array_equal(np.asarray(out[i]), single.frames)
    assert not np.array_equal(np.asarray(out[0]), np.asarray(out[1]))  # different keys, different draws


@pytest.mark.parametrize("method", DIFFERENTIABLE)
def test_grad_matches_central_differences(method):
    rng = np.random.default_rng(6)
    target = jnp.asarray(rng.random((9, 8)))
    c0 = jnp.asarray(rng.random((9, 8)))
    z0 = jnp.asarray(rng.normal(size=(3, 3)))
    z0 = (z0 + z0[::-1] + z0[:, ::-1] + z0[::-1, ::-1]) / 4

    def loss(z, c):
        frames, _ = dc.rollout(dc.Tank(c, boundary="reflect"), dc.Propagator.from_logits(z), 6, method=method)
        return jnp.sum((frames[-1] - target) ** 2)

    gz, gc = jax.grad(loss, argnums=(0, 1))(z0, c0)
    h = 1e-6
    for idx in [(0, 0), (1, 1), (0, 1)]:
        e = jnp.zeros((3, 3)).at[idx].set(h).at[tuple(2 - i for i in idx)].set(h)
        e = e.at[idx[0], 2 - idx[1]].set(h).at[2 - idx[0], idx[1]].set(h)  # a symmetric perturbation
        fd = (loss(z0 + e, c0) - loss(z0 - e, c0)) / (2 * h)
        assert float(jnp.sum(gz * e / h)) == pytest.approx(float(fd), rel=1e-6)
    for idx in [(0, 0), (4, 3)]:
        e = jnp.zeros((9, 8)).at[idx].set(h)
        fd = (loss(z0, c0 + e) - loss(z0, c0 - e)) / (2 * h)
        assert float(gc[idx]) == pytest.approx(float(fd), rel=1e-6)


def test_image_has_no_rollout():
    tank, prop = problem()
    with pytest.raises(ValueError, match="image.*simulate"):
        dc.rollout(tank, prop, 3, method="image")


def test_propagate_is_one_contract_for_both_differentiable_methods():
    tank, prop = problem(7)
    a = dc.propagate(tank.concentration, prop, 9)
    b = dc.propagate(tank.concentration, prop, 9, method="spectral")
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-13)
    ints = dc.propagate(np.array([1, 2, 3, 4]), dc.Propagator([0.25, 0.5, 0.25]), 1)
    np.testing.assert_allclose(np.asarray(ints), [1.25, 2.0, 3.0, 3.75])
    with pytest.raises(TypeError, match="prop must be a diffusion_conv.Propagator"):
        dc.propagate(np.ones(4), np.ones(3) / 3, 1)
    with pytest.raises(ValueError, match="method 'counts' is not a differentiable method"):
        dc.propagate(np.ones(4), dc.Propagator([0.25, 0.5, 0.25]), 1, method="counts")
    with pytest.raises(TypeError, match="walls must be a boolean mask"):
        dc.propagate(np.ones(4), dc.Propagator([0.25, 0.5, 0.25]), 1, walls=np.full(4, 0.5))


def test_spectral_device_path_equals_the_host_path():
    rng = np.random.default_rng(8)
    for boundary in ["reflect", ("periodic", "absorb"), "periodic"]:
        tank = dc.Tank(rng.random((10, 12)), boundary=boundary)
        prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
        host = dc.simulate(tank, prop, 300, method="spectral", save_every=100, transforms="host")
        device = dc.simulate(tank, prop, 300, method="spectral", save_every=100, transforms="jax")
        np.testing.assert_allclose(device.frames, host.frames, rtol=0, atol=1e-13)
        np.testing.assert_allclose(device.absorbed, host.absorbed, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["propagator", "counts"])
def test_new_step_counts_compile_nothing_new(method):
    tank = dc.Tank(np.random.default_rng(10).random((17, 19)))
    prop = dc.Propagator.from_logits(np.random.default_rng(11).normal(size=(3, 3)))
    kw = kwargs(method)
    first = compiles(lambda: dc.simulate(tank, prop, 1000, method=method, save_every=25, **kw))
    assert first > 0
    again = compiles(lambda: dc.simulate(tank, prop, 1050, method=method, save_every=25, **kw))
    again += compiles(lambda: dc.simulate(tank, prop, 2000, method=method, save_every=25, **kw))
    assert again <= 1, again
    assert compiles(lambda: dc.simulate(tank, prop, 1000, method=method, save_every=25, progress=True, **kw)) == 0


def _built_afresh(kernel, walls):
    """A problem built from scratch each call: new arrays, a new wall mask, a new kernel (equal values)."""
    c = np.random.default_rng(20).uniform(0.1, 1.0, (40, 48))
    tank = dc.Tank(c, boundary=("reflect", "absorb"))
    if walls:  # a board whose patch is a seventh of the tank
        tank = tank.with_board(axis=1, index=24, gap=(10, 18))
    if kernel == "gaussian":
        return tank, dc.Propagator.gaussian(0.8, ndim=2, radius=1)
    return tank, dc.Propagator.from_logits(np.random.default_rng(21).normal(size=(3, 3)))


@pytest.mark.parametrize(
    "method, kernel, walls",
    [
        ("propagator", "gaussian", True),  # the halo path and its wall patch
        ("propagator", "logits", True),  # the direct path and its wall patch
        pytest.param("particles", "logits", True, marks=pytest.mark.slow),  # compiling: 3 s
        pytest.param("counts", "gaussian", False, marks=pytest.mark.slow),
        ("spectral", "gaussian", False),
        ("heat", "gaussian", False),
    ],
)
def test_equal_static_data_share_one_compiled_program(method, kernel, walls):
    """A state's static data are named fields compared by value: a problem built again with equal values (new
    objects) runs the programs compiled for the first one."""
    options = {"transforms": "jax"} if method == "spectral" else {}

    def run():
        tank, prop = _built_afresh(kernel, walls)
        return dc.simulate(tank, prop, 30, method=method, save_every=10, **kwargs(method), **options)

    first = compiles(run)
    assert first > 0
    assert compiles(run) == 0
    tank, prop = _built_afresh(kernel, walls)
    m = dc.methods.get(method)
    one, two = (m.init(tank, prop, **kwargs(method)).static for _ in range(2))
    assert dataclasses.is_dataclass(one) and one == two and hash(one) == hash(two) and one is not two
    if method == "propagator":
        assert one.path == ("halo" if kernel == "gaussian" else "direct") and one.patch is not None


@pytest.mark.parametrize("save_every", [None, 7])
def test_other_frame_counts_reuse_the_programs_of_their_capacity(save_every):
    # a run of two frames records one frame per call (capacity 1), not sixteen; other step counts
    # with the same frames per call compile nothing new
    tank = dc.Tank(np.random.default_rng(13).random((12, 10)))
    prop = dc.Propagator.from_logits(np.random.default_rng(14).normal(size=(3, 3)))
    assert compiles(lambda: dc.simulate(tank, prop, 300, save_every=save_every)) > 0
    again = compiles(lambda: dc.simulate(tank, prop, 400, save_every=save_every))
    assert again == 0, again


def test_frame_capacity_is_the_power_of_two_that_holds_the_run():
    from diffusion_conv.driver import capacity

    big = capacity(8, 1)
    assert big == 32  # a small frame: the most frames a call records
    for frames in range(0, 70):
        cap = capacity(8, 1, frames)
        assert 1 <= cap <= big and cap & (cap - 1) == 0  # a power of two, at most the default
        assert cap >= min(frames, big)  # holds the run's frames, or as many as a call may
        assert cap == 1 or cap < 2 * frames  # and no more than twice them
    assert capacity(2**22, 1, 100) == 2  # 8 MB of frames per call at most: two 4 MB frames


def test_float32_without_x64_in_process():
    with jax.enable_x64(False):
        tank = dc.Tank(np.random.default_rng(12).random((16, 16)))
        assert tank.dtype == np.float32
        prop = dc.Propagator.gaussian(0.7)
        res = dc.simulate(tank, prop, 50, save_every=25)
        assert res.frames.dtype == np.float32
        spec = dc.simulate(tank, prop, 50, save_every=25, method="spectral")
        np.testing.assert_allclose(spec.frames, res.frames, rtol=0, atol=RTOL[np.dtype(np.float32)])
        frames, _ = dc.rollout(tank, prop, 50, save_every=25)
        np.testing.assert_allclose(np.asarray(frames), res.frames, rtol=0, atol=RTOL[np.dtype(np.float32)])

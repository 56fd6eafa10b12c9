"""The spectral method equals the propagator method where it claims exactness, and refuses elsewhere."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import RTOL, run_at

import diffusion_conv as dc
from diffusion_conv.methods import spectral

STEPS = np.array([0, 1, 10, 1000, 10000])


def dyadic(w):
    """Weights on a 2^-20 grid summing to exactly 1, so the propagator's own rounding does not
    compound a defect of the weight sum over 10,000 steps (it would reach ~n ulp)."""
    w = np.asarray(w, dtype=np.float64)
    w = np.round(w / w.sum() * 2**20) / 2**20
    w[tuple(s // 2 for s in w.shape)] += 1 - w.sum()
    return w


def _sym(w, axes):
    w = np.asarray(w, dtype=np.float64)
    for a in axes:
        w = w + np.flip(w, a)
    return w


_r = np.random.default_rng(7)
CASES = [
    # shape, boundary, weights: each claims exactness
    ((40,), "periodic", dyadic([0.1, 0.2, 0.3, 0.25, 0.15])),  # skewed, radius 2
    ((5,), "reflect", dyadic(np.exp(-(np.arange(-7, 8) ** 2) / 10.0))),  # radius 7 > tank: deep folds
    ((12,), "absorb", dyadic([0.25, 0.5, 0.25])),
    ((10, 12), ("periodic", "reflect"), dyadic(_sym(_r.random((3, 5)), [1]))),  # skewed along the periodic axis
    ((11, 10), ("absorb", "periodic"), dyadic(_sym(_r.random((3, 5)), [0]))),
    ((8, 10, 6), ("reflect", "absorb", "periodic"), dyadic(_sym(_r.random((3, 3, 3)), [0, 1]))),
    ((9, 9), "reflect", dyadic(np.ones((3, 3)))),  # box blur: zero and negative eigenvalues
    # separable kernels (powers as outer products of per-axis powers): drifting on a periodic tank,
    # and mixed edges with a radius-2 axis
    ((12, 10), "periodic", np.outer([1 / 8, 1 / 4, 3 / 8, 1 / 8, 1 / 8], [1 / 4, 5 / 8, 1 / 8])),
    ((11, 9), ("absorb", "reflect"), np.outer([1 / 4, 1 / 2, 1 / 4], [1 / 8, 1 / 4, 1 / 4, 1 / 4, 1 / 8])),
    ((9, 10), "reflect", np.outer([3 / 8, 1 / 4, 3 / 8], [1 / 4, 1 / 2, 1 / 4])),  # negative eigenvalues
]
SEPARABLE = {7, 8, 9}  # indices into CASES


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("shape,boundary,w", CASES, ids=lambda v: str(v) if isinstance(v, (tuple, str)) else "")
def test_equals_propagator_to_rounding(shape, boundary, w):
    rng = np.random.default_rng(0)
    tank = dc.Tank(rng.random(shape), boundary=boundary)
    prop = dc.Propagator(w)
    ref = run_at("propagator", tank, prop, STEPS)
    out = run_at("spectral", tank, prop, STEPS)
    for k, s in enumerate(STEPS):
        assert _rel(out.frames[k], ref.frames[k]) <= 1e-12, f"step {s}"
    scale = float(np.asarray(tank.mass))
    np.testing.assert_allclose(out.absorbed, ref.absorbed, rtol=0, atol=1e-12 * scale)
    if "absorb" in tank.boundary:
        assert out.absorbed[-1] > 0.5 * scale  # the check above compares real losses, not zeros


def test_separable_kernels_take_the_outer_product_path():
    for i, (shape, boundary, w) in enumerate(CASES):
        bnd = dc.Tank(np.ones(shape), boundary=boundary).boundary
        parts = spectral.host_parts(w, shape, bnd)
        assert (len(parts) == len(shape) and len(shape) > 1) == (i in SEPARABLE), i


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "absorb"])
def test_softmax_kernels_match(boundary):
    """A Gaussian softmax kernel (weights summing to 1 only to rounding), 2-D, up to 1000 steps."""
    prop = dc.Propagator.gaussian(0.6, ndim=2, radius=1)
    tank = dc.Tank(np.random.default_rng(1).random((14, 11)), boundary=boundary)
    steps = np.array([0, 3, 1000])
    ref = run_at("propagator", tank, prop, steps).frames
    out = run_at("spectral", tank, prop, steps).frames
    for a, b in zip(out, ref):
        assert _rel(a, b) <= 1e-12


def test_float32():
    prop = dc.Propagator(dyadic([0.2, 0.5, 0.3]))
    field = np.random.default_rng(2).random((16, 3)).astype(np.float32).T.copy()
    w2 = np.zeros((1, 3))
    w2[0] = np.asarray(prop.weights)
    prop2 = dc.Propagator(w2)
    tank32 = dc.Tank(field, boundary="periodic")
    tank64 = dc.Tank(field.astype(np.float64), boundary="periodic")
    steps = np.array([0, 10, 100])
    out = run_at("spectral", tank32, prop2, steps)
    assert out.frames.dtype == np.float32
    ref = run_at("propagator", tank64, prop2, steps).frames
    assert _rel(out.frames[-1], ref[-1]) <= 4 * RTOL[np.dtype(np.float32)]


def test_frames_at_any_step_and_auto():
    tank = dc.Tank.two_compartment((30,), boundary="reflect")
    prop = dc.Propagator([0.25, 0.5, 0.25])
    res = dc.simulate(tank, prop, 25, method="auto", save_every=7)
    assert res.method == "spectral"
    ref = dc.simulate(tank, prop, 25, method="propagator", save_every=7)
    np.testing.assert_array_equal(res.steps, [0, 7, 14, 21, 25])
    assert _rel(res.frames, ref.frames) <= 1e-12
    skewed = dc.Propagator([0.2, 0.5, 0.3])
    assert dc.simulate(tank, skewed, 5, method="auto").method == "propagator"
    assert dc.simulate(tank.with_board(0, 10), prop, 5, method="auto").method == "propagator"


REFUSED = [
    ((9,), "reflect", [0.2, 0.5, 0.3], "not symmetric"),
    ((9,), "absorb", [0.2, 0.5, 0.3], "not symmetric"),
    ((9,), "absorb", [0.1, 0.2, 0.4, 0.2, 0.1], "at most one cell"),
    ((6, 7), ("periodic", "reflect"), [[0.1, 0.1, 0.1], [0.1, 0.2, 0.1], [0.05, 0.2, 0.05]], None),
]


@pytest.mark.parametrize("shape,boundary,w,why", REFUSED)
def test_refuses_where_not_exact(shape, boundary, w, why):
    w = np.asarray(w, dtype=np.float64)
    tank = dc.Tank(np.ones(shape), boundary=boundary)
    prop = dc.Propagator(w / w.sum())
    if why is None:  # asymmetric only along the periodic axis: exact
        dc.simulate(tank, prop, 3, method="spectral")
        return
    with pytest.raises(ValueError, match=why) as err:
        dc.simulate(tank, prop, 3, method="spectral")
    assert 'method="propagator"' in str(err.value)


def test_refuses_walls_and_bad_arguments():
    tank = dc.Tank.two_compartment((12, 12), boundary="periodic").with_board(1, 6)
    prop = dc.Propagator.box(3, ndim=2)
    with pytest.raises(ValueError, match="walls"):
        dc.simulate(tank, prop, 2, method="spectral")
    with pytest.raises(TypeError, match="options"):
        dc.simulate(dc.Tank(np.ones(5)), dc.Propagator([0.25, 0.5, 0.25]), 2, method="spectral", bogus=1)


def test_gradient_matches_propagate():
    """jax.grad flows through the transforms into the logits and agrees with the step-by-step path."""
    c0 = jnp.asarray(np.random.default_rng(3).random(12))

    def loss(fn, z):
        p = dc.Propagator.from_logits(jnp.stack([z[0], z[1], z[0]]))
        return jnp.sum(fn(c0, p, 15, boundary="reflect") ** 3)

    z = jnp.array([0.1, 0.7])
    g_spec = jax.grad(lambda z: loss(lambda *a, **k: dc.propagate(*a, method="spectral", **k), z))(z)
    g_ref = jax.grad(lambda z: loss(dc.propagate, z))(z)
    np.testing.assert_allclose(np.asarray(g_spec), np.asarray(g_ref), rtol=1e-10)
    assert np.all(np.abs(np.asarray(g_ref)) > 1e-6)


def test_what_a_run_derives_from_its_kernel_is_kept_with_the_kernel(monkeypatch):
    """The symbol on the grid, the exactness and the declared order are made once per propagator object (and
    boundaries): a second run of the same kernel makes none of them again, a new kernel (equal values) does."""
    from diffusion_conv.methods import spectral

    calls = []
    real = spectral.host_parts
    monkeypatch.setattr(spectral, "host_parts", lambda *a: calls.append(1) or real(*a))
    tank = dc.Tank(np.random.default_rng(3).random((24, 20)))
    prop = dc.Propagator.gaussian(0.8, ndim=2, radius=1)
    first = dc.simulate(tank, prop, 50, method="spectral", save_every=25, transforms="host")
    again = dc.simulate(tank, prop, 50, method="spectral", save_every=25, transforms="host")
    assert len(calls) == 1
    np.testing.assert_array_equal(first.frames, again.frames)
    other = dc.simulate(
        tank, dc.Propagator.gaussian(0.8, ndim=2, radius=1), 50, method="spectral", save_every=25, transforms="host"
    )
    assert len(calls) == 2
    np.testing.assert_array_equal(other.frames, first.frames)

"""Traced inputs: every JAX method under jit and vmap with traced kernels and fields, in float32 and float64,
gives the eager numbers; what cannot be checked on traced values is poisoned (NaN) and reported by checkify;
indexing and stacking banks of kernels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import diffusion_conv as dc
from diffusion_conv.methods import particles as pm

JAX_METHODS = [m for m in dc.METHODS if dc.methods.get(m).traceable]
# the counts sampler takes seconds to compile: its cases run in the slow tier
METHOD_CASES = [pytest.param(m, marks=pytest.mark.slow) if m == "counts" else m for m in JAX_METHODS]
MODES = {"float32": False, "float64": True}
BOUNDARY = ("periodic", "absorb")
N = 3000


def eps(dtype):
    return float(np.finfo(dtype).eps)


def problem(seed=0):
    """An uneven field on a tank periodic along axis 0 and absorbing along axis 1, and a kernel with no symmetry
    along axis 0 and a mirror along axis 1 (what spectral needs there), not separable, so every method takes its
    general path whether the kernel is traced or not."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(3, 3))
    z = (z + z[:, ::-1]) / 2
    return dc.Tank(rng.uniform(0.05, 1.0, (8, 9)), boundary=BOUNDARY), dc.Propagator.from_logits(z)


def run_of(method, steps=5, save_every=2):
    kw = dict(key=jax.random.key(7), n_particles=N) if dc.methods.get(method).stochastic else {}
    return lambda tank, prop: dc.rollout(tank, prop, steps, method=method, save_every=save_every, **kw)


def assert_same(method, got, want):
    """Stochastic methods: the same draws (the frames are counts times one unit) and the same numbers; the others:
    equal to the rounding of their dtype."""
    got, want = [np.asarray(a) for a in got], [np.asarray(a) for a in want]
    assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
    e = eps(want[0].dtype)
    if method == "particles":  # the mass per particle and the thresholds are computed alike: every bit
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    elif dc.methods.get(method).stochastic:  # the same counts; the mass per particle to its rounding
        unit = want[0][0].sum(dtype=np.float64) / N  # frame 0 holds all N particles (cells of volume 1)
        np.testing.assert_array_equal(np.rint(got[0] / unit), np.rint(want[0] / unit))
        np.testing.assert_allclose(got[0], want[0], rtol=4 * e, atol=0)
        np.testing.assert_allclose(got[1], want[1], rtol=4 * e, atol=0)
    else:
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=0, atol=16 * e * max(np.abs(w).max(), 1e-300))


# -- item: the JAX path with traced kernels and fields, in both precisions ---------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHOD_CASES)
def test_traced_kernel_and_field_under_jit_give_the_eager_numbers(method, mode):
    with jax.enable_x64(MODES[mode]):
        tank, prop = problem()
        dtype = np.dtype(np.float64 if MODES[mode] else np.float32)
        assert tank.dtype == dtype and prop.weights.dtype == dtype
        run = run_of(method)
        eager = run(tank, prop)
        assert np.asarray(eager[1])[-1] > 0  # mass left through the open edges: absorbed is compared too
        assert_same(method, jax.jit(lambda p: run(tank, p))(prop), eager)  # traced kernel
        assert_same(method, jax.jit(lambda t: run(t, prop))(tank), eager)  # traced field


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHOD_CASES)
def test_vmap_over_traced_fields_and_kernels_gives_each_members_eager_numbers(method, mode):
    with jax.enable_x64(MODES[mode]):
        tank, prop = problem(seed=1)
        c = np.asarray(tank.concentration)
        fields = jnp.stack([c, 2 * c, c[::-1]])
        z = np.random.default_rng(2).normal(size=(3, 3, 3))
        z = (z + z[:, :, ::-1]) / 2
        props = [dc.Propagator.from_logits(zi) for zi in z]
        bank = dc.Propagator.stack(props)
        run = run_of(method, steps=4, save_every=None)
        out = jax.jit(jax.vmap(lambda ci: run(dc.Tank(ci, boundary=BOUNDARY), prop)))(fields)
        for i in range(3):
            want = run(dc.Tank(np.asarray(fields[i]), boundary=BOUNDARY), prop)
            assert_same(method, (out[0][i], out[1][i]), want)
        out = jax.jit(jax.vmap(lambda p: run(tank, p)))(bank)
        for i in range(3):
            assert_same(method, (out[0][i], out[1][i]), run(tank, props[i]))


@pytest.mark.parametrize("mode", MODES)
def test_particle_thresholds_of_traced_weights_are_the_host_ones(mode):
    """The draws need the thresholds to the last bit: the same numbers from numpy and from any JAX program."""
    with jax.enable_x64(MODES[mode]):
        dtype = np.float64 if MODES[mode] else np.float32
        rng = np.random.default_rng(3)
        cases = [
            rng.random((4, 25)),
            np.array([0.0, 0.5, 0.0, 0.0, 0.5, 0.0, 0.0]),
            np.r_[rng.random(40) * 1e-6, 1.0, rng.random(40) * 1e-6, 1e-12, 0.0],  # tiny weights past a large one
            rng.random((2, 3, 1000)) ** 8 * 1e30,
        ]  # long rows (summed in blocks), large values
        for w in cases:
            w = w.astype(dtype)
            host = pm.thresholds(w)
            assert host.dtype == np.uint32 and host.shape == w.shape[:-1] + (w.shape[-1] - 1,)
            flat = w.reshape(-1, w.shape[-1])
            if w.ndim == 1:
                traced = jax.jit(pm.thresholds)(jnp.asarray(w))
            else:  # one row at a time, as the methods trace a kernel bank or a stack of fields
                traced = jax.jit(jax.vmap(pm.thresholds))(jnp.asarray(flat))
            np.testing.assert_array_equal(np.asarray(traced).reshape(host.shape), host)
            # independent: each category's share of the 2**31 words against its probability from float64 sums;
            # one rounding of each weight (relative) and of the floor (a unit) apart, the largest taking the rest
            width = np.diff(
                np.concatenate(
                    [
                        np.zeros((flat.shape[0], 1)),
                        host.reshape(flat.shape[0], -1),
                        np.full((flat.shape[0], 1), 2.0**31),
                    ],
                    axis=-1,
                ),
                axis=-1,
            )
            p = flat.astype(np.float64) / flat.astype(np.float64).sum(axis=-1, keepdims=True) * 2.0**31
            largest = np.arange(flat.shape[-1]) == np.argmax(flat, axis=-1)[:, None]
            err = np.abs(width - p)
            assert np.all(err[~largest] <= 2 + 2 * eps(dtype) * p[~largest]), err[~largest].max()
            assert np.all(err[largest] <= 2 + 2.0**31 * 4 * eps(dtype))
            # zero weights are never drawn: an empty category, and nothing lies past the last positive one
            assert np.all(width[flat == 0] == 0)


# -- item: checks kept under a transform ---------------------------------------------------------------------
def test_unnormalised_traced_weights_are_not_a_silently_wrong_number():
    tank = dc.Tank(np.full((4, 8), 1.0), boundary="reflect")  # mass 32
    run = jax.jit(lambda w: dc.rollout(tank, dc.Propagator(w), 3)[0])
    out = np.asarray(run(jnp.ones((3, 3))))
    assert np.all(np.isnan(out[-1])), out.sum(axis=(1, 2))  # not 32 * 9**3 = 23328
    err, _ = checkify.checkify(run)(jnp.ones((3, 3)))
    with pytest.raises(ValueError, match=r"weights must sum to 1.*they sum to 9\.0"):
        err.throw()


def test_traced_weights_within_the_rounding_are_normalised_as_concrete_ones_are():
    w = np.asarray(dc.Propagator.gaussian(0.8, radius=1).weights) * (1 + 6e-15)  # within 4 K eps = 8e-15
    tank = dc.Tank(np.random.default_rng(0).random((6, 7)), boundary="reflect")
    traced = jax.jit(lambda v: dc.rollout(tank, dc.Propagator(v), 200)[0])(jnp.asarray(w))
    eager = dc.rollout(tank, dc.Propagator(w), 200)[0]
    np.testing.assert_allclose(np.asarray(traced), np.asarray(eager), rtol=1e-13, atol=0)
    assert abs(float(traced[-1].sum()) / float(tank.concentration.sum()) - 1) < 1e-13
    prop = jax.jit(lambda v: dc.Propagator(v).weights)(jnp.asarray(w))
    assert abs(float(prop.sum()) - 1) < 4 * eps(np.float64)


@pytest.mark.parametrize(
    "build, bad, message",
    [
        (
            lambda v: dc.Propagator(v),
            np.array([[0, 0.2, 0], [0.3, 0.8, -0.3], [0, 0, 0]]),
            "weights must be non-negative",
        ),
        (lambda v: dc.Propagator(v), np.array([[0, 0.2, 0], [0.3, np.nan, 0.2], [0, 0, 0]]), "weights must be finite"),
        (
            lambda v: dc.Propagator.from_kernel(v, normalize="sum"),
            np.array([[1.0, 2, 3], [0, -1, 0], [1, 1, 1]]),
            "kernel must be non-negative",
        ),
        (lambda v: dc.Propagator.from_kernel(v, normalize="sum"), np.zeros((3, 3)), "kernel must have a positive sum"),
        (lambda v: dc.Propagator.from_logits(v), np.array([[0.0, -np.inf, 1.0]] * 3), "logits must be finite"),
    ],
)
def test_invalid_traced_kernels_poison_the_run_and_say_why_under_checkify(build, bad, message):
    tank = dc.Tank(np.random.default_rng(0).random((5, 6)), boundary="periodic")
    for method in JAX_METHODS:
        if method in ("counts", "heat"):
            continue  # counts: see test_counts_with_an_invalid_traced_kernel_gives_nan; heat: a host callback
        run = run_of(method, steps=3)
        f = jax.jit(lambda v, run=run: run(tank, build(v)))
        frames, absorbed = f(jnp.asarray(bad))
        assert np.all(np.isnan(np.asarray(frames[-1]))), method
    err, _ = checkify.checkify(jax.jit(lambda v: build(v).weights))(jnp.asarray(bad))
    with pytest.raises(ValueError, match=message):
        err.throw()
    # and the same kernel, concrete, is refused with the same words
    with pytest.raises(ValueError, match=message):
        build(bad)


@pytest.mark.slow
def test_counts_with_an_invalid_traced_kernel_gives_nan():
    tank = dc.Tank(np.random.default_rng(0).random((5, 6)), boundary="periodic")
    bad = jnp.asarray([[0, 0.2, 0], [0.3, 0.8, -0.3], [0, 0, 0]])
    frames, _ = jax.jit(lambda v: run_of("counts", steps=3)(tank, dc.Propagator(v)))(bad)
    assert np.all(np.isnan(np.asarray(frames[-1])))


@pytest.mark.parametrize(
    "field, message",
    [
        (np.where(np.eye(5, 6) > 0, np.nan, 1.0), "must be finite"),
        (np.where(np.eye(5, 6) > 0, -0.5, 1.0), "non-negative concentration"),
        (np.zeros((5, 6)), "holds no mass"),
    ],
)
def test_a_traced_field_the_stochastic_methods_cannot_place_poisons_the_particles(field, message):
    prop = dc.Propagator.gaussian(0.7, radius=1)
    run = run_of("particles", steps=3)
    frames, absorbed = jax.jit(lambda c: run(dc.Tank(c, boundary="absorb"), prop))(jnp.asarray(field))
    assert np.all(np.isnan(np.asarray(frames))) and np.all(np.isnan(np.asarray(absorbed)))
    err, _ = checkify.checkify(jax.jit(lambda c: run(dc.Tank(c, boundary="absorb"), prop)))(jnp.asarray(field))
    with pytest.raises(ValueError, match=message):
        err.throw()


def test_a_valid_traced_problem_passes_checkify_without_an_error():
    tank, prop = problem()
    for method in ("propagator", "particles"):  # the kernel's checks, and the field's of the stochastic methods
        run = run_of(method, steps=3)
        f = jax.jit(lambda c, w, run=run: run(dc.Tank(c, boundary=BOUNDARY), dc.Propagator(w)))
        err, out = checkify.checkify(f)(tank.concentration, prop.weights)
        err.throw()  # nothing to report
        np.testing.assert_allclose(np.asarray(out[0]), np.asarray(run(tank, prop)[0]), rtol=1e-12, atol=0)


# -- item: indexing a bank of kernels --------------------------------------------------------------------------
def bank3():
    props = [dc.Propagator.gaussian(s, radius=1) for s in (0.5, 0.7, 0.9)]
    return props, dc.Propagator.stack(props)


def test_an_index_out_of_range_is_an_index_error():
    props, bank = bank3()
    for i in (3, 7, -4, np.int64(3)):
        with pytest.raises(IndexError, match=rf"index {int(i)} is out of range for a bank of 3 kernels"):
            bank[i]
    with pytest.raises(IndexError, match="too many indices"):
        bank[0, 1]  # a bank of one batch axis: a second index would pick kernel rows
    for i, want in [(0, 0), (2, 2), (-1, 2), (-3, 0), (np.int32(1), 1)]:
        np.testing.assert_array_equal(np.asarray(bank[i].weights), np.asarray(props[want].weights))
        assert bank[i].batch_shape == ()
    sub = bank[1:]
    assert sub.batch_shape == (2,)
    np.testing.assert_array_equal(np.asarray(sub.weights), np.asarray(bank.weights)[1:])
    assert bank[::-2].batch_shape == (2,) and bank[[2, 0]].batch_shape == (2,)
    grid = bank.reshape_batch((3, 1))
    assert grid[2, 0].batch_shape == () and grid[:, 0].batch_shape == (3,)
    with pytest.raises(IndexError):
        grid[0, 1]


def test_an_empty_selection_of_a_bank_is_refused_up_front():
    _, bank = bank3()
    for index in (slice(0, 0), slice(5, None), []):
        with pytest.raises(ValueError, match="selects no kernels"):
            bank[index]


def test_a_traced_index_picks_the_member_and_poisons_one_out_of_range():
    props, bank = bank3()
    pick = jax.jit(lambda i: bank[i].weights)
    for i in (0, 2, -1):
        np.testing.assert_array_equal(np.asarray(pick(i)), np.asarray(props[i].weights))
    for i in (3, -4):
        assert np.all(np.isnan(np.asarray(pick(i))))


# -- item: stacking many kernels costs a copy, not a compilation per length -------------------------------------
def test_stacking_concrete_kernels_compiles_nothing():
    compiles = []

    def listen(event, duration, **kw):
        if event.startswith("/jax/core/compile") or event.startswith("/jax/compilation_cache"):
            compiles.append(event)

    props = [dc.Propagator.gaussian(0.5 + 0.01 * i, radius=1) for i in range(37)]
    jax.block_until_ready([p.weights for p in props])
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        bank = dc.Propagator.stack(props)  # a length no test stacks elsewhere
        jax.block_until_ready(bank.weights)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert compiles == []
    assert bank.batch_shape == (37,)
    np.testing.assert_array_equal(np.asarray(bank.weights), np.stack([np.asarray(p.weights) for p in props]))
    # inside a trace the stack is a traced one
    traced = jax.jit(lambda w: dc.Propagator.stack([dc.Propagator(w), props[1]]).weights)(props[0].weights)
    np.testing.assert_array_equal(np.asarray(traced), np.asarray(bank.weights)[:2])

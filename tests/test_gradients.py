"""Gradients of the differentiable methods against central differences of the exact process.

Every differentiable method (``propagator``, ``spectral``) on every boundary
(periodic, reflect, absorb, per-axis mixes) into the logits and into the field,
in random directions (asymmetric ones: the derivative of a symmetric kernel
leaves the set of symmetric kernels), at ``z = 0`` and at random logits. The
reference is always the ``propagator`` method's value, differenced centrally in
float64. The ``spectral`` primal is exact only for kernels that are mirror
symmetric along reflecting and absorbing axes, so its random points are
symmetrised along those axes only (the directions never are).
"""

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffusion_conv as dc

DIFFERENTIABLE = [m for m in dc.METHODS if dc.methods.get(m).differentiable]
BOUNDARIES = ["periodic", "reflect", "absorb", ("periodic", "reflect"), ("reflect", "absorb")]
SHAPE = (8, 7)
STEPS, SAVE_EVERY = 5, 2  # frames at steps 0, 2, 4, 5: gaps of two lengths
H = 1e-5
RTOL_FD = 1e-7  # central differences in float64: truncation ~ H^2, rounding ~ eps / H


def _weights_of_frames(seed):
    """Random weights for every frame and every absorbed total: the loss reads all of them."""
    rng = np.random.default_rng(seed)
    n_frames = len(dc.rollout(dc.Tank(np.ones(SHAPE)), dc.Propagator.box(3, ndim=2), STEPS, save_every=SAVE_EVERY)[1])
    return jnp.asarray(rng.normal(size=(n_frames,) + SHAPE)), jnp.asarray(rng.normal(size=n_frames))


def _loss(method, boundary, seed=0):
    wf, wa = _weights_of_frames(seed)

    def loss(z, c):
        tank = dc.Tank(c, boundary=boundary)
        frames, absorbed = dc.rollout(tank, dc.Propagator.from_logits(z), STEPS, method=method, save_every=SAVE_EVERY)
        return jnp.sum(wf * frames) + jnp.sum(frames[-1] ** 2) + jnp.sum(wa * absorbed)

    return loss


def _symmetrised(z, boundary):
    """``z`` averaged with its mirror along every non-periodic axis (where the spectral primal needs it)."""
    bnd = (boundary,) * z.ndim if isinstance(boundary, str) else boundary
    for a, b in enumerate(bnd):
        if b != "periodic":
            z = (z + jnp.flip(z, a)) / 2
    return z


def _point(kind, boundary, method, rng):
    if kind == "zero":
        return jnp.zeros((3, 3))
    z = jnp.asarray(rng.normal(size=(3, 3)))
    return _symmetrised(z, boundary) if method == "spectral" else z


def _central(f, x, v):
    return (f(x + H * v) - f(x - H * v)) / (2 * H)


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=str)
@pytest.mark.parametrize("method", DIFFERENTIABLE)
@pytest.mark.parametrize("kind", ["zero", "random"])
def test_directional_derivatives_match_central_differences_of_the_propagator(method, boundary, kind):
    rng = np.random.default_rng(zlib.crc32(f"{method} {boundary} {kind}".encode()))
    z0 = _point(kind, boundary, method, rng)
    c0 = jnp.asarray(rng.uniform(0.1, 1.0, SHAPE))
    loss = _loss(method, boundary)
    ref = _loss("propagator", boundary)
    assert float(loss(z0, c0)) == pytest.approx(float(ref(z0, c0)), rel=1e-12)

    gz, gc = jax.jit(jax.grad(loss, argnums=(0, 1)))(z0, c0)
    for _ in range(2):
        vz = jnp.asarray(rng.normal(size=(3, 3)))  # asymmetric along every axis
        vc = jnp.asarray(rng.normal(size=SHAPE))
        fd_z = _central(lambda z: ref(z, c0), z0, vz)
        fd_c = _central(lambda c: ref(z0, c), c0, vc)
        assert abs(float(fd_z)) > 1e-3 and abs(float(fd_c)) > 1e-3  # the check has something to check
        assert float(jnp.vdot(gz, vz)) == pytest.approx(float(fd_z), rel=RTOL_FD, abs=1e-9)
        assert float(jnp.vdot(gc, vc)) == pytest.approx(float(fd_c), rel=RTOL_FD, abs=1e-9)
        # forward mode: one jvp along both directions at once
        _, tangent = jax.jvp(loss, (z0, c0), (vz, vc))
        assert float(tangent) == pytest.approx(float(fd_z + fd_c), rel=RTOL_FD, abs=1e-9)


@pytest.mark.parametrize("boundary", ["reflect", ("periodic", "absorb")], ids=str)
def test_second_derivatives_are_exact_or_refused(boundary):
    """Forward over forward into the kernel: exact; reverse-mode second derivatives into the field: exact; a
    reverse-mode derivative differentiated again into the kernel (jax.hessian): ValueError naming propagator."""
    rng = np.random.default_rng(zlib.crc32(f"second {boundary}".encode()))
    z0 = _symmetrised(jnp.asarray(rng.normal(size=(3, 3))), boundary)
    c0 = jnp.asarray(rng.uniform(0.1, 1.0, SHAPE))
    vz, vc = jnp.asarray(rng.normal(size=(3, 3))), jnp.asarray(rng.normal(size=SHAPE))
    spectral, ref = _loss("spectral", boundary), _loss("propagator", boundary)

    def forward_slope(loss):  # d/dt of the loss along (vz, vc), by forward mode
        return lambda t: jax.jvp(loss, (z0 + t * vz, c0 + t * vc), (vz, vc))[1]

    second = float(jax.jvp(forward_slope(spectral), (0.0,), (1.0,))[1])
    fd = float(_central(jax.jit(forward_slope(ref)), 0.0, 1.0))
    assert abs(fd) > 1e-3
    assert second == pytest.approx(fd, rel=RTOL_FD)

    def field_slope(loss):  # reverse mode, field only
        return lambda t: jnp.vdot(jax.grad(loss, argnums=1)(z0, c0 + t * vc), vc)

    second = float(jax.jvp(field_slope(spectral), (0.0,), (1.0,))[1])
    assert second == pytest.approx(float(_central(jax.jit(field_slope(ref)), 0.0, 1.0)), rel=RTOL_FD)

    with pytest.raises(ValueError, match="propagator") as info:
        jax.hessian(lambda z: spectral(z, c0))(z0)
    assert "'spectral'" in str(info.value) and "jax.hessian" in str(info.value)


@pytest.mark.parametrize("method", DIFFERENTIABLE)
def test_the_reported_two_compartment_gradient(method):
    """The figure of the report: row 1 of the gradient at z = 0 on a reflecting two-compartment tank."""
    t = dc.Tank.two_compartment((8, 8))

    def loss(m):
        return lambda z: (dc.rollout(t, dc.Propagator.from_logits(z), 3, method=m)[0][-1] ** 2).sum()

    g = np.asarray(jax.grad(loss(method))(jnp.zeros((3, 3))))
    fd = np.array(
        [
            [
                float(_central(loss("propagator"), jnp.zeros((3, 3)), jnp.zeros((3, 3)).at[i, j].set(1.0)))
                for j in range(3)
            ]
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(g[1], [2.40695, 0.37311, -2.78006], atol=1e-5)


@pytest.mark.parametrize("boundary", ["reflect", ("periodic", "absorb")], ids=str)
def test_spectral_gradients_under_vmap_match_each_member(boundary):
    rng = np.random.default_rng(11)
    zs = jnp.stack([_symmetrised(jnp.asarray(rng.normal(size=(3, 3))), boundary) for _ in range(2)])
    c0 = jnp.asarray(rng.uniform(0.1, 1.0, SHAPE))
    batched = jax.jit(jax.vmap(jax.grad(_loss("spectral", boundary)), in_axes=(0, None)))(zs, c0)
    ref = jax.jit(jax.grad(_loss("propagator", boundary)))
    for z, g in zip(zs, batched):
        np.testing.assert_allclose(np.asarray(g), np.asarray(ref(z, c0)), rtol=1e-10, atol=1e-12)


def test_spectral_gradient_of_a_bank_matches_each_member():
    """A bank of kernels (a batch axis of the weights) differentiated in one call."""
    rng = np.random.default_rng(12)
    zs = jnp.stack([_symmetrised(jnp.asarray(rng.normal(size=(3, 3))), "reflect") for _ in range(2)])
    c0 = jnp.asarray(rng.uniform(0.1, 1.0, SHAPE))
    target = jnp.asarray(rng.normal(size=(2,) + SHAPE))

    def loss(method):
        def f(z):
            bank = dc.Propagator.stack([dc.Propagator.from_logits(z[i]) for i in range(len(z))])
            assert bank.batch_shape == (2,)
            return jnp.sum(target * dc.rollout(dc.Tank(c0), bank, 4, method=method)[0][-1])

        return f

    np.testing.assert_allclose(
        np.asarray(jax.grad(loss("spectral"))(zs)), np.asarray(jax.grad(loss("propagator"))(zs)), rtol=1e-10, atol=1e-12
    )


def test_spectral_gradient_in_float32():
    """float32: the derivative into asymmetric directions is the propagator's (to float32 rounding)."""
    with jax.enable_x64(False):
        rng = np.random.default_rng(13)
        c0 = jnp.asarray(rng.uniform(0.1, 1.0, SHAPE), jnp.float32)
        z0 = _symmetrised(jnp.asarray(rng.normal(size=(3, 3)), jnp.float32), "reflect")
        target = jnp.asarray(rng.normal(size=SHAPE), jnp.float32)

        def loss(method):
            return lambda z: jnp.sum(
                target * dc.rollout(dc.Tank(c0), dc.Propagator.from_logits(z), 6, method=method)[0][-1]
            )

        g = jax.grad(loss("spectral"))(z0)
        ref = jax.grad(loss("propagator"))(z0)
        assert g.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(g), np.asarray(ref), rtol=1e-4, atol=1e-5 * float(jnp.abs(ref).max()))
        assert float(jnp.abs(ref - jnp.flip(ref, 1)).max()) > 1e-3  # an asymmetric gradient, not symmetrised


def test_propagate_spectral_gradient_into_the_kernel():
    """``dc.propagate``, the documented differentiable function, gives the true derivative too."""
    rng = np.random.default_rng(14)
    c0 = jnp.asarray(rng.random(12))
    target = jnp.asarray(rng.normal(size=12))

    def loss(method):
        return lambda z: jnp.sum(
            target * dc.propagate(c0, dc.Propagator.from_logits(z), 7, boundary="reflect", method=method)
        )

    z0 = jnp.asarray([0.3, -0.2, 0.3])
    v = jnp.asarray([1.0, 0.0, -1.0])  # the antisymmetric direction: drift
    fd = float(_central(loss("propagator"), z0, v))
    assert abs(fd) > 1e-3
    assert float(jnp.vdot(jax.grad(loss("spectral"))(z0), v)) == pytest.approx(fd, rel=RTOL_FD)


# -- heat ------------------------------------------------------------------------------------------
def _heat_loss(z, c=None):
    tank = dc.Tank.two_compartment((8, 8)) if c is None else dc.Tank(c)
    return jnp.sum(dc.rollout(tank, dc.Propagator.from_logits(z), 3, method="heat")[0][-1] ** 2)


@pytest.mark.parametrize("transform", ["grad", "jit-grad", "jvp", "vmap-grad"])
def test_heat_refuses_derivatives_into_the_kernel_in_its_own_words(transform):
    z = jnp.zeros((3, 3))
    run = {
        "grad": lambda: jax.grad(_heat_loss)(z),
        "jit-grad": lambda: jax.jit(jax.grad(_heat_loss))(z),
        "jvp": lambda: jax.jvp(_heat_loss, (z,), (jnp.ones((3, 3)),)),
        "vmap-grad": lambda: jax.vmap(jax.grad(_heat_loss))(jnp.stack([z, z])),
    }[transform]
    with pytest.raises(ValueError) as info:
        run()
    msg = str(info.value)
    assert "'heat'" in msg and "not differentiable" in msg and "propagator" in msg and "spectral" in msg
    assert "Pure callbacks" not in msg


def test_heat_stays_differentiable_in_the_field():
    """The field enters heat linearly: its derivative is heat's own map (central differences of heat)."""
    rng = np.random.default_rng(15)
    c0 = jnp.asarray(rng.uniform(0.1, 1.0, (8, 8)))
    v = jnp.asarray(rng.normal(size=(8, 8)))
    z0 = jnp.asarray(rng.normal(size=(3, 3)) * 0.1)
    z0 = (z0 + z0[::-1] + z0[:, ::-1] + z0[::-1, ::-1]) / 4  # heat at reflecting walls: no drift
    g = jax.grad(lambda c: _heat_loss(z0, c))(c0)
    fd = float(_central(lambda c: _heat_loss(z0, c), c0, v))
    assert float(jnp.vdot(g, v)) == pytest.approx(fd, rel=RTOL_FD)


@pytest.mark.parametrize("boundary", ["reflect", "absorb", ("periodic", "reflect")])
def test_spectral_under_jit_with_a_kernel_it_cannot_carry_gives_nan_not_a_wrong_number(boundary):
    tank = dc.Tank(np.random.default_rng(3).random((8, 8)), boundary=boundary)
    run = jax.jit(lambda z: dc.rollout(tank, dc.Propagator.from_logits(z), 3, method="spectral")[0][-1])
    symmetric = jnp.asarray([[0.1, 0.4, 0.1], [0.4, 0.9, 0.4], [0.1, 0.4, 0.1]])
    exact = dc.rollout(tank, dc.Propagator.from_logits(symmetric), 3, method="propagator")[0][-1]
    np.testing.assert_allclose(run(symmetric), exact, rtol=1e-12, atol=1e-14)
    skewed = symmetric.at[1, 2].add(0.5)  # more weight on +axis 1: no longer mirror-symmetric there
    assert bool(jnp.all(jnp.isnan(run(skewed))))


def test_spectral_under_jit_on_a_periodic_tank_carries_any_kernel():
    tank = dc.Tank(np.random.default_rng(4).random((8, 8)), boundary="periodic")
    z = jnp.asarray(np.random.default_rng(5).normal(size=(3, 3)))
    got = jax.jit(lambda z: dc.rollout(tank, dc.Propagator.from_logits(z), 3, method="spectral")[0][-1])(z)
    want = dc.rollout(tank, dc.Propagator.from_logits(z), 3, method="propagator")[0][-1]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_spectral_under_jit_refuses_long_jumps_across_an_absorbing_edge_as_nan():
    tank = dc.Tank(np.random.default_rng(6).random((10, 10)), boundary="absorb")
    w = jnp.asarray(np.outer([1.0, 2.0, 4.0, 2.0, 1.0], [1.0, 2.0, 4.0, 2.0, 1.0]))
    got = jax.jit(lambda w: dc.rollout(tank, dc.Propagator(w / w.sum()), 2, method="spectral")[0][-1])(w)
    assert bool(jnp.all(jnp.isnan(got)))

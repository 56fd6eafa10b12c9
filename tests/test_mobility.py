"""The mobility rule of the shared process (lattice.mobility) and the finite-volume continuum reference."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import mobility_transition_matrix

import diffusion_conv as dc
from diffusion_conv.analytic import finite_volume
from diffusion_conv.lattice import blocked_masks, offsets
from diffusion_conv.lattice.mobility import check_mobility, jump_factors, step

BOUNDARIES = ("reflect", "periodic", "absorb")


def _kernel(shape, seed):
    w = np.random.default_rng(seed).random(shape) + 0.1
    return w / w.sum()


def _matrix_of_step(shape, weights, boundary, mobility):
    """P[y, x] of one step of lattice.mobility.step, column x the image of a unit mass in cell x."""
    radius = [s // 2 for s in weights.shape]
    bnd = (boundary,) * len(shape) if isinstance(boundary, str) else boundary
    a = jump_factors(mobility, radius, bnd)
    cols = []
    for x in range(int(np.prod(shape))):
        e = np.zeros(int(np.prod(shape)))
        e[x] = 1.0
        field, _ = step(jnp.asarray(e.reshape(shape)), weights.ravel(), jnp.asarray(a), radius, bnd)
        cols.append(np.asarray(field).ravel())
    return np.stack(cols, axis=1)


@pytest.mark.parametrize(
    "shape, kshape, boundary",
    [
        ((7,), (5,), "reflect"),
        ((6,), (7,), "absorb"),
        ((5, 4), (3, 3), "periodic"),
        ((4, 5), (3, 5), ("reflect", "absorb")),
    ],
)
def test_step_equals_the_naive_statement_of_the_rule(shape, kshape, boundary):
    rng = np.random.default_rng(3)
    mobility = rng.uniform(0.05, 1.0, shape)
    mobility.flat[rng.choice(mobility.size, 2, replace=False)] = [0.0, 1.0]
    weights = _kernel(kshape, 4)
    bnd = (boundary,) * len(shape) if isinstance(boundary, str) else boundary
    want = mobility_transition_matrix(shape, weights, bnd, mobility)
    got = _matrix_of_step(shape, weights, boundary, mobility)
    np.testing.assert_allclose(got, want, atol=1e-13)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_mobility_zero_or_one_is_the_wall_rule(ndim, boundary):
    rng = np.random.default_rng(ndim)
    shape = (9, 7, 5)[:ndim]
    radius = (2, 1, 1)[:ndim]
    walls = rng.random(shape) < 0.2
    a = jump_factors(np.where(walls, 0.0, 1.0), radius, (boundary,) * ndim)
    blocked = blocked_masks(walls, radius, (boundary,) * ndim)
    assert a.shape == (len(offsets(radius)),) + shape
    np.testing.assert_array_equal(a, np.where(blocked, 0.0, 1.0))


@pytest.mark.parametrize("boundary", ["reflect", "periodic"])
def test_symmetric_kernel_keeps_a_uniform_field_and_the_mass(boundary):
    rng = np.random.default_rng(5)
    mobility = rng.uniform(0.01, 1.0, (12, 10))
    prop = dc.Propagator.gaussian(1.0, ndim=2)  # 5x5, symmetric
    a = jump_factors(mobility, prop.radius, (boundary, boundary))
    # a(x, y) == a(y, x): the jump back by -d from the target has the same factor
    offs = offsets(prop.radius)
    for k, d in enumerate(offs):
        back = next(j for j, e in enumerate(offs) if tuple(e) == tuple(-np.asarray(d)))
        for x in itertools.product(range(12), range(10)):
            if boundary == "periodic":
                y = tuple((xa + da) % n for xa, da, n in zip(x, d, (12, 10)))
            else:
                z = [xa + da for xa, da in zip(x, d)]
                if not all(0 <= za < n for za, n in zip(z, (12, 10))):
                    continue
                y = tuple(z)
            assert a[k][x] == pytest.approx(a[back][y], rel=1e-12)
    ones = jnp.ones((12, 10))
    field, absorbed = step(ones, prop.weights.ravel(), jnp.asarray(a), prop.radius, (boundary, boundary))
    np.testing.assert_allclose(np.asarray(field), 1.0, atol=1e-12)
    c0 = rng.random((12, 10))
    c = jnp.asarray(c0)
    for _ in range(20):
        c, absorbed = step(c, prop.weights.ravel(), jnp.asarray(a), prop.radius, (boundary, boundary))
        assert float(absorbed) == 0.0
    assert abs(float(jnp.sum(c)) - c0.sum()) <= 1e-12 * c0.sum()
    assert not np.allclose(np.asarray(c), c0)  # it moved


def test_jump_factors_are_differentiable_in_the_mobility():
    radius, bnd = (1, 1), ("reflect", "reflect")
    m0 = np.random.default_rng(7).uniform(0.2, 1.0, (5, 6))
    v = np.random.default_rng(8).normal(size=(5, 6))

    def f(m):
        return jnp.sum(jump_factors(m, radius, bnd) ** 2)

    grad = jax.grad(f)(jnp.asarray(m0))
    h = 1e-6
    central = (f(jnp.asarray(m0 + h * v)) - f(jnp.asarray(m0 - h * v))) / (2 * h)
    assert float(jnp.sum(grad * v)) == pytest.approx(float(central), rel=1e-6)
    np.testing.assert_allclose(jump_factors(jnp.asarray(m0), radius, bnd), jump_factors(m0, radius, bnd), rtol=1e-13)


@pytest.mark.parametrize(
    "value, error",
    [
        (np.full((4, 4), 1.5), "in \\[0, 1\\]"),
        (np.full((4, 4), np.nan), "finite"),
        (np.ones((3, 4)), "shape"),
        (np.full((4, 4), -0.1), "in \\[0, 1\\]"),
    ],
)
def test_bad_mobility_is_refused_with_its_reason(value, error):
    with pytest.raises(dc.InputError, match=error):
        check_mobility(value, (4, 4))


def test_mobility_one_everywhere_is_no_mobility():
    assert check_mobility(np.ones((4, 4)), (4, 4)) is None
    assert check_mobility(None, (4, 4)) is None


def _evolve(c0, weights, factors, radius, bnd, steps):
    @jax.jit
    def run(c, a):
        return jax.lax.fori_loop(0, steps, lambda _, c: step(c, weights, a, radius, bnd)[0], c)

    return np.asarray(run(jnp.asarray(c0), jnp.asarray(factors)))


def _coarsen(fine, n):
    return fine.reshape(n, -1).mean(axis=1)


def test_finite_volume_converges_to_the_closed_form_at_second_order():
    # constant D: the Fourier mode's cell averages are the exact solution
    errs = []
    for n in (16, 32, 64):
        dx = 1.0 / n
        c0 = dc.analytic.fourier_mode((n,), 0.0, 1.0, (1,), dx=dx)
        want = dc.analytic.fourier_mode((n,), 0.01, 1.0, (1,), dx=dx)
        errs.append(np.max(np.abs(finite_volume(c0, 1.0, 0.01, dx=dx, boundary="periodic") - want)))
    order = -np.polyfit(np.log([16, 32, 64]), np.log(errs), 1)[0]
    assert 1.9 < order < 2.1, (order, errs)
    # no flux at reflecting edges: the mass stays
    c0 = np.random.default_rng(0).random((6, 5))
    D = np.random.default_rng(1).uniform(0.1, 2.0, (6, 5))
    assert finite_volume(c0, D, 3.0).sum() == pytest.approx(c0.sum(), rel=1e-12)


def test_the_rule_converges_to_div_mobility_grad_c_at_second_order_in_dx():
    """A smooth mobility map: the lattice walk (nearest neighbours) against a fine finite-volume solution."""
    # jump probability to each neighbour; D0 = 1 on the tank [0, 1), so dt = p dx^2 and the end time is a whole
    # number of steps at every size (80 steps at 32 cells)
    p = 0.25
    T = 80 * p / 32**2

    def mobility(n):
        x = (np.arange(n) + 0.5) / n
        return 0.55 + 0.4 * np.sin(2 * np.pi * x)

    def initial(n):
        return dc.analytic.fourier_mode((n,), 0.0, 1.0, (1,), offset=1.0, dx=1.0 / n)

    fine = 2048
    reference = finite_volume(initial(fine), mobility(fine), T, dx=1.0 / fine, boundary="periodic")
    errs, sizes = [], (32, 64, 128)
    weights = jnp.asarray([p, 1 - 2 * p, p])
    for n in sizes:
        steps = 80 * (n // 32) ** 2
        a = jump_factors(mobility(n), (1,), ("periodic",))
        got = _evolve(initial(n), weights, a, (1,), ("periodic",), steps)
        errs.append(np.max(np.abs(got - _coarsen(reference, n))))
    order = -np.polyfit(np.log(sizes), np.log(errs), 1)[0]
    assert 1.9 < order < 2.1, (order, errs)
    # the mobility matters: the same walk in open water is much further off
    open_water = _evolve(initial(64), weights, np.ones((3, 64)), (1,), ("periodic",), 320)
    assert np.max(np.abs(open_water - _coarsen(reference, 64))) > 20 * errs[1]


@pytest.mark.parametrize("m_b", [0.0005, 0.002])
def test_two_compartments_joined_by_a_porous_board_relax_at_the_rate_of_its_conductance(m_b):
    """Closed form for a nearest-neighbour kernel and well-mixed sides (docs/theory.md):
    the difference of the two sides' means falls by the factor 1 - p a / N per step, where p is the jump
    probability to each neighbour, N the cells of a side and a = 2 m_b / (1 + m_b) the factor of the jump
    between water and a board cell of mobility m_b. The sides mix in about N^2 / (p pi^2) steps, some
    hundred times faster than the board lets the difference fall: the closed form holds to a few percent."""
    N, p = 20, 0.25
    field = np.concatenate([np.ones(N), [0.5], np.zeros(N)])
    mobility = np.concatenate([np.ones(N), [m_b], np.ones(N)])
    a = jump_factors(mobility, (1,), ("reflect",))
    weights = jnp.asarray([p, 1 - 2 * p, p])
    gaps = []
    for steps in (4000, 12000):
        c = _evolve(field, weights, a, (1,), ("reflect",), steps)
        gaps.append(c[:N].mean() - c[N + 1 :].mean())
    measured = 1 - (gaps[1] / gaps[0]) ** (1 / 8000)
    predicted = p * (2 * m_b / (1 + m_b)) / N
    assert measured == pytest.approx(predicted, rel=0.03), (measured, predicted)

"""The shared process against an independent, naive statement of it (tests/reference.py)."""

import numpy as np
import pytest
from reference import fold, transition_matrix

import diffusion_conv as dc
from diffusion_conv import lattice

CASES = [
    # shape, kernel shape, boundary, walls?
    ((7,), (3,), "reflect", False),
    ((5,), (13,), "reflect", False),  # radius 6 > tank: folds several times
    ((4,), (11,), "periodic", False),
    ((6,), (5,), "absorb", False),
    ((5, 6), (3, 5), ("reflect", "periodic"), True),
    ((6, 5), (5, 3), ("absorb", "reflect"), True),
    ((4, 3, 5), (3, 3, 3), ("periodic", "absorb", "reflect"), True),
    ((3, 4), (9, 7), "reflect", True),  # radius larger than the tank, with walls
]


@pytest.mark.parametrize("shape, kshape, boundary, with_walls", CASES)
def test_one_step_matches_naive_transition_matrix(shape, kshape, boundary, with_walls):
    """Kernels that do not factor: the direct path (``2 r <= n``) and the general one (wider kernels, dense walls)."""
    rng = np.random.default_rng(len(shape) * 100 + kshape[0])
    weights = rng.random(kshape) ** 3  # asymmetric
    weights /= weights.sum()
    walls = None
    field = rng.random(shape)
    if with_walls:
        walls = rng.random(shape) < 0.25
        field[walls] = 0.0
    bnd = lattice.normalize_boundary(boundary, len(shape))
    P = transition_matrix(shape, weights, bnd, walls)
    expected = (P @ field.ravel()).reshape(shape)
    tank = dc.Tank(field, boundary=boundary, walls=walls)
    res = dc.simulate(tank, dc.Propagator(weights), 1)
    np.testing.assert_allclose(res.final, expected, rtol=1e-13, atol=1e-14)
    absorbed = field.sum() - expected.sum()
    np.testing.assert_allclose(res.absorbed[-1], absorbed, atol=1e-13)


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "absorb"])
def test_fold_index_matches_naive_fold(boundary):
    n = 5
    z = np.arange(-23, 29)
    got = lattice.fold_index(z, n, boundary)
    want = [fold(int(v), n, boundary) for v in z]
    want = np.array([-1 if v is None else v for v in want])
    np.testing.assert_array_equal(got, want)


def test_reflect_mirror_convention():
    # the half-cell mirror of DESIGN.md: -1 -> 0, -2 -> 1, n -> n - 1
    got = lattice.fold_index(np.array([-1, -2, 10, 11]), 10, "reflect")
    np.testing.assert_array_equal(got, [0, 1, 9, 8])


def test_wall_rule_is_symmetric():
    rng = np.random.default_rng(3)
    shape = (6, 7)
    walls = rng.random(shape) < 0.2
    w = rng.random((5, 5))
    w /= w.sum()
    for bnd in [("reflect", "reflect"), ("periodic", "reflect"), ("periodic", "periodic")]:
        P = transition_matrix(shape, np.ones((5, 5)) / 25, bnd, walls)
        # with a symmetric kernel the transition matrix of the folded walk is symmetric:
        # x -> y refused exactly when y -> x is
        np.testing.assert_allclose(P, P.T, atol=1e-15)
        blocked = lattice.blocked_masks(walls, (2, 2), bnd)
        assert blocked.shape == (25,) + shape
        assert blocked.any() and not blocked.all()


def test_blocked_masks_none_without_walls():
    assert lattice.blocked_masks(None, (1, 1), ("reflect", "reflect")) is None
    assert lattice.blocked_masks(np.zeros((3, 3), bool), (1, 1), ("reflect", "reflect")) is None


def test_normalize_boundary_errors():
    with pytest.raises(ValueError, match="boundary 'wall' is unknown"):
        lattice.normalize_boundary("wall", 2)
    with pytest.raises(ValueError, match="2 axes"):
        lattice.normalize_boundary(("reflect",) * 3, 2)
    with pytest.raises(TypeError, match="boundary"):
        lattice.normalize_boundary(3, 2)
    assert lattice.normalize_boundary(["absorb", "periodic"], 2) == ("absorb", "periodic")


def test_offsets_order_matches_weights_ravel():
    offs = lattice.offsets((1, 2))
    assert offs.shape == (15, 2)
    np.testing.assert_array_equal(offs[0], [-1, -2])
    np.testing.assert_array_equal(offs[7], [0, 0])
    np.testing.assert_array_equal(offs[8], [0, 1])


PATCH_CASES = [
    # shape, kernel radius, boundary, walls: a board with a gap (it meets two edges), a board near an edge
    # (open at one end), a block; the patch path needs the walls' patch to be a small part of the tank
    ((32, 12), 1, ("reflect", "absorb"), "board"),
    ((56, 10), 2, ("periodic", "periodic"), "board"),
    ((32, 14), 1, ("absorb", "reflect"), "edge"),
    ((16, 14, 12), 1, ("reflect", "periodic", "absorb"), "block"),
    ((64,), 2, ("periodic",), "block"),
]


@pytest.mark.parametrize("separable", [True, False], ids=["separable", "any-kernel"])
@pytest.mark.parametrize("shape, r, boundary, kind", PATCH_CASES)
def test_walls_take_the_patch_path_and_match_the_naive_process(shape, r, boundary, kind, separable):
    rng = np.random.default_rng(sum(shape) + r)
    walls = np.zeros(shape, bool)
    if kind == "board":
        walls[shape[0] // 2] = True
        walls[shape[0] // 2, 4:6] = False
    elif kind == "edge":
        walls[4, :-3] = True
    else:
        walls[tuple(slice(n // 2 - 1, n // 2 + 1) for n in shape)] = True
    factors = [rng.random(2 * r + 1) + 0.1 for _ in shape]
    weights = factors[0]
    for f in factors[1:]:
        weights = np.multiply.outer(weights, f)
    if not separable:
        weights = weights * (1 + rng.random(weights.shape))  # asymmetric, does not factor
    weights /= weights.sum()
    field = rng.random(shape)
    field[walls] = 0.0
    tank = dc.Tank(field, boundary=boundary, walls=walls)
    res = dc.simulate(tank, dc.Propagator(weights), 6, save_every=3)
    separable = separable or len(shape) == 1  # a 1-D kernel always factors
    assert res.meta["path"] == ("halo" if separable else "direct") and res.meta["walls"] == "patch"
    P = transition_matrix(shape, weights, lattice.normalize_boundary(boundary, len(shape)), walls)
    expected = field.ravel()
    for _ in range(6):
        expected = P @ expected
    np.testing.assert_allclose(res.final, expected.reshape(shape), rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(res.final[walls], 0.0)
    np.testing.assert_allclose(res.absorbed[-1], field.sum() - expected.sum(), atol=1e-13 * field.sum())

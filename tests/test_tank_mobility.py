"""Tank(mobility=...): the map as a checked pytree leaf, its zeros as walls, batches of maps, porous boards."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv.errors import InputError, InputTypeError


def _gel(shape=(8, 8), low=0.2):
    m = np.ones(shape)
    m[2:5, 3:6] = low
    return m


def test_default_and_all_ones_are_todays_tank():
    c = np.random.default_rng(0).random((6, 5))
    plain, ones = dc.Tank(c), dc.Tank(c, mobility=np.ones((6, 5)))
    assert plain.mobility is None and ones.mobility is None and ones.walls is None
    a, b = jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(ones)
    assert len(a) == len(b) == 1


def test_zeros_and_ones_are_walls_alone():
    m = np.ones((6, 6))
    m[:, 3] = 0
    m[2, 3] = 1
    c = np.where(m == 0, 0.0, 1.0)
    t = dc.Tank(c, mobility=m)
    assert t.mobility is None
    np.testing.assert_array_equal(t.walls, m == 0)
    assert t.wall_mask == dc.Tank(c, walls=m == 0).wall_mask


def test_map_is_a_leaf_with_zeros_joining_the_walls():
    m = _gel()
    m[0, 0] = 0.0
    c = np.ones((8, 8))
    c[0, 0] = 0.0
    t = dc.Tank(c, mobility=m)
    assert t.walls[0, 0] and t.walls.sum() == 1
    np.testing.assert_array_equal(np.asarray(t.mobility), m)
    leaves = jax.tree_util.tree_leaves(t)
    assert len(leaves) == 2
    back = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(t), leaves)
    np.testing.assert_array_equal(back.mobility, m)
    assert "mobility=9 cells below 1" in repr(t) and "min 0.2" in repr(t)
    with pytest.raises(InputError, match="inside walls must be 0"):
        dc.Tank(np.ones((8, 8)), mobility=m)


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (np.full((4, 4), 1.5), InputError, r"\[0, 1\]"),
        (np.full((4, 4), -0.1), InputError, r"\[0, 1\]"),
        (np.full((4, 4), np.nan), InputError, "NaN"),
        (np.ones((4, 5)), InputError, "shape"),
        (np.full((4, 4), "a"), InputTypeError, "numeric"),
    ],
)
def test_bad_maps_are_refused(bad, err, match):
    with pytest.raises(err, match=match):
        dc.Tank(np.ones((4, 4)), mobility=bad)


def test_like_replace_and_stack_keep_the_maps():
    m1, m2 = _gel(), _gel(low=0.5)
    t1, t2 = dc.Tank(np.ones((8, 8)), mobility=m1), dc.Tank(np.full((8, 8), 2.0), mobility=m2)
    assert t1.like(np.zeros((8, 8))).mobility is t1.mobility
    assert t1.like(np.zeros((8, 8)), mobility=None).mobility is None
    np.testing.assert_array_equal(t1.replace(concentration=np.zeros((8, 8))).mobility, m1)
    s = dc.Tank.stack([t1, t2, dc.Tank(np.ones((8, 8)))])
    assert s.mobility.shape == (3, 8, 8)
    np.testing.assert_array_equal(s[1].mobility, m2)
    np.testing.assert_array_equal(s[2].mobility, np.ones((8, 8)))
    np.testing.assert_array_equal(s[1:].mobility, np.stack([m2, np.ones((8, 8))]))
    r = s.reshape_batch((3, 1))
    assert r.mobility.shape == (3, 1, 8, 8)
    np.testing.assert_array_equal(r[1, 0].mobility, m2)
    assert dc.Tank.stack([dc.Tank(np.ones((8, 8)))] * 2).mobility is None


def test_gradient_flows_into_the_map():
    c = jnp.zeros((8, 8)).at[4, 4].set(1.0)

    def f(m):
        t = dc.Tank(c, mobility=m)
        return jnp.sum(jax.tree_util.tree_leaves(t)[1] ** 2)

    g = jax.grad(f)(jnp.asarray(_gel()))
    np.testing.assert_allclose(g, 2 * _gel())


def test_with_board_solid_is_unchanged_and_porous_keeps_its_water():
    t = dc.Tank(np.ones((8, 8)))
    solid = t.with_board(1, 4, gap=(2, 4))
    assert solid.mobility is None and solid.walls[:, 4].sum() == 6
    np.testing.assert_array_equal(np.asarray(solid.concentration)[:, 4], np.where(solid.walls[:, 4], 0.0, 1.0))
    porous = t.with_board(1, 4, mobility=0.05)
    assert porous.walls is None
    np.testing.assert_array_equal(np.asarray(porous.concentration), np.ones((8, 8)))
    want = np.ones((8, 8))
    want[:, 4] = 0.05
    np.testing.assert_array_equal(porous.mobility, want)
    assert "cells below 1" in repr(porous)
    both = solid.with_board(0, 1, mobility=0.5)
    assert both.walls.sum() == 6 and both.mobility[1, 4] == 0 and both.mobility[1, 0] == 0.5
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(InputError, match="mobility"):
            t.with_board(1, 4, mobility=bad)
    with pytest.raises(InputTypeError, match="mobility"):
        t.with_board(1, 4, mobility="soft")

"""The split-grid forms of the methods (Method.slab) on a mesh of this process's one device: the numbers of
the plain run, and the checks made before a split run (the many-device runs are in test_devices.py)."""

import jax
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv.methods import Slab


def _tank():
    c = np.random.default_rng(5).uniform(0.1, 1.0, (24, 20))
    return dc.Tank(c, boundary=("absorb", "periodic")).with_board(axis=1, index=10, gap=(8, 14))


@pytest.mark.parametrize(
    "method, kw",
    [
        ("propagator", {}),
        ("particles", dict(n_particles=3001, key=jax.random.key(2))),
        pytest.param("counts", dict(n_particles=4000, key=jax.random.key(2)), marks=pytest.mark.slow),
    ],
)
def test_a_split_grid_of_one_device_gives_the_plain_run_s_numbers(method, kw):
    tank, prop = _tank(), dc.Propagator.gaussian(0.9, ndim=2, radius=2)
    assert isinstance(dc.methods.get(method).slab(), Slab)
    plain = dc.simulate(tank, prop, 12, method=method, save_every=5, **kw)
    split = dc.simulate(tank, prop, 12, method=method, save_every=5, devices=1, **kw)
    if method == "propagator":  # the slab form takes the lattice's general step: equal to rounding
        np.testing.assert_allclose(split.frames, plain.frames, rtol=0, atol=1e-13)
        np.testing.assert_allclose(split.absorbed, plain.absorbed, rtol=0, atol=1e-12)
    else:  # the same key gives the same integers
        np.testing.assert_array_equal(split.frames, plain.frames)
        np.testing.assert_array_equal(split.absorbed, plain.absorbed)
        assert split.meta["particles_remaining"] == plain.meta["particles_remaining"]


def test_the_split_checks_are_the_forms_own():
    tank, prop = _tank(), dc.Propagator.gaussian(0.9, ndim=2, radius=2)
    kw = dict(n_particles=100, key=jax.random.key(0))
    with pytest.raises(ValueError, match="track is not available on a split grid"):
        dc.simulate(tank, prop, 2, method="particles", track=3, devices=1, **kw)
    tall = dc.Propagator.from_kernel(np.ones((51, 3)), normalize="sum")  # a radius of 25 rows
    with pytest.raises(ValueError, match=r"slab \(24 rows\) must be at least the kernel's radius"):
        dc.simulate(dc.Tank(np.ones((24, 20))), tall, 2, devices=1)
    for name in ("spectral", "heat"):
        assert dc.methods.get(name).slab() is None
        with pytest.raises(ValueError, match=f"'{name}' cannot split one grid"):
            dc.simulate(dc.Tank(np.ones((24, 20))), prop, 2, method=name, devices=1)

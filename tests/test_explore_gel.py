"""The explorer's gel disc: what it shows is simulate on a tank with the scenarios' gel map; bad values refused."""

import jax
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import scenarios
from diffusion_conv.errors import InputError, InputTypeError
from diffusion_conv.explorer import Explorer

SHAPE, STEPS = (24, 24), 12


def test_the_gel_disc_is_simulate_with_a_mobility_map():
    ex = Explorer(SHAPE, STEPS, n_particles=2000, seed=3)
    view = ex.update(gel=True, gel_mobility=0.1, step=STEPS)
    m = scenarios.gel_disc(SHAPE, 0.1)
    np.testing.assert_array_equal(view.mobility, m)
    tank = dc.Tank.two_compartment(SHAPE, left=1.0, right=0.0, boundary="reflect").replace(mobility=m)
    prop = ex.propagator()
    want = dc.simulate(tank, prop, STEPS, method="propagator", save_every=1)
    np.testing.assert_array_equal(view.propagator, np.asarray(want.frames[STEPS]))
    walk = dc.simulate(tank, prop, STEPS, method="particles", save_every=1, n_particles=2000, key=jax.random.key(3))
    np.testing.assert_array_equal(view.particles, np.asarray(walk.frames[STEPS]))
    # the gel changes the field (against open water), and the heat equation says why it has no panel
    free = dc.simulate(tank.replace(mobility=None), prop, STEPS, method="propagator")
    assert np.max(np.abs(view.propagator - np.asarray(free.final))) > 1e-3
    assert view.heat is None and "mobility" in view.heat_note
    assert "gel disc, mobility 0.1" in ex.describe()
    assert ex.update(gel=False).mobility is None
    assert ex.png()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "values, error, words",
    [
        (dict(gel="yes"), InputTypeError, "gel must be True or False"),
        (dict(gel_mobility=0.0), InputError, "gel_mobility must be between 0.01 and 1"),
        (dict(gel_mobility=1.5), InputError, "gel_mobility must be between 0.01 and 1"),
    ],
)
def test_bad_gel_settings_are_refused(values, error, words):
    ex = Explorer(SHAPE, STEPS)
    with pytest.raises(error, match=words):
        ex.update(**values)
    assert ex.settings["gel"] is False

"""The explorer: what it shows is what simulate computes, value changes compile nothing, the extra is optional."""

from __future__ import annotations

import base64
import sys

import jax
import numpy as np
import pytest
from helpers import compiles
from scipy import ndimage

import diffusion_conv as dc
from diffusion_conv.errors import InputError, InputTypeError, MissingExtraError
from diffusion_conv.explorer import Explorer

SHAPE = (16, 20)
STEPS = 12
EDGE = np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]])
SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _kernel(family, sigma, temperature, radius):
    """The propagator of a family, built here from its definition (not through the explorer)."""
    if family == "gaussian":
        d = np.arange(-radius, radius + 1)
        r2 = d[:, None] ** 2 + d[None, :] ** 2
        return dc.Propagator.from_logits(-r2 / (2 * sigma**2), temperature=temperature)
    if family == "box":
        return dc.Propagator.from_kernel(np.ones((2 * radius + 1,) * 2), normalize="sum")
    return dc.Propagator.from_kernel(EDGE if family == "edge" else SOBEL, temperature=temperature)


@pytest.mark.parametrize("family", ["gaussian", "box", "edge", "sobel"])
def test_update_shows_what_simulate_computes(family):
    settings = dict(family=family, sigma=0.8, temperature=1.7, radius=2, boundary="reflect", board=True, gap=4)
    ex = Explorer(SHAPE, STEPS, n_particles=3000, seed=5, **settings)
    view = ex.update(step=7)
    # the same problem written out by hand: salt left of the middle, a board across column 10 open at rows 6..9
    tank = dc.Tank.two_compartment(SHAPE, left=1.0, right=0.0).with_board(axis=1, index=10, gap=(6, 10))
    prop = _kernel(family, 0.8, 1.7, 2)
    np.testing.assert_allclose(view.kernel, prop.weights, rtol=1e-12, atol=1e-15)
    exact = dc.simulate(tank, prop, STEPS, save_every=1).frames[7]
    walk = dc.simulate(
        tank, prop, STEPS, method="particles", save_every=1, n_particles=3000, key=jax.random.key(5)
    ).frames[7]
    np.testing.assert_array_equal(view.propagator, exact)
    np.testing.assert_array_equal(view.particles, walk)
    assert view.heat is None and "walls" in view.heat_note  # no transform diagonalises a tank with walls
    np.testing.assert_array_equal(view.walls, tank.walls)
    np.testing.assert_array_equal(view.differences["particles - propagator"], walk - exact)


def test_heat_and_the_first_step_against_independent_references():
    field = np.random.default_rng(3).random(SHAPE)
    ex = Explorer(SHAPE, STEPS, board=False, boundary="periodic", field=field, sigma=0.9, radius=2, n_particles=500)
    one = ex.update(step=1)
    # one step of a symmetric kernel on a periodic grid is scipy's wrapped convolution
    ref = ndimage.convolve(field, np.asarray(one.kernel), mode="wrap")
    np.testing.assert_allclose(one.propagator, ref, rtol=1e-12, atol=1e-14)
    view = ex.update(step=STEPS)
    heat = dc.simulate(dc.Tank(field, boundary="periodic"), _kernel("gaussian", 0.9, 1.0, 2), STEPS, method="heat")
    np.testing.assert_array_equal(view.heat, heat.final)
    assert view.heat_note == ""
    # the heat equation is the propagator's limit: close, not equal (its error falls like 1/n)
    gap = np.max(np.abs(view.differences["heat - propagator"]))
    assert 1e-8 < gap < 0.05 * np.ptp(field)


def test_particles_scatter_by_the_predicted_noise():
    ex = Explorer((24, 24), 20, board=False, n_particles=20_000, sigma=1.2, step=20)
    # binomial counts: each cell's standard deviation is sqrt(c (M - c) / N). The ratio of the rms difference to
    # the predicted rms scatters by 0.05 from key to key (measured over 20 keys); pooled over 8 keys, by 0.017
    squares = []
    for seed in range(8):
        view = ex.update(seed=seed)
        squares.append(np.mean(view.differences["particles - propagator"] ** 2) / np.mean(view.noise**2))
    ratio = np.sqrt(np.mean(squares))
    assert 0.94 < ratio < 1.06, ratio
    assert abs(view.particles.sum() - view.propagator.sum()) < 1e-9 * view.propagator.sum()  # both keep the mass


def test_value_changes_compile_nothing_new():
    ex = Explorer(SHAPE, STEPS, n_particles=2000, gap=6)
    assert compiles(lambda: ex.png()) > 0  # the first view compiles its programs
    field = np.random.default_rng(0).random(SHAPE)

    def move_values():
        ex.update(sigma=1.3)
        ex.update(temperature=0.4)
        ex.update(step=3)
        ex.update(seed=9)
        ex.update(field=field)
        ex.update(initial="point", sigma=0.6, step=STEPS)
        ex.png()

    assert compiles(move_values) == 0
    # a new shape does compile (the counter sees it), once; coming back to it compiles nothing
    assert compiles(lambda: ex.update(radius=3)) > 0
    assert compiles(lambda: (ex.update(radius=2), ex.update(radius=3, sigma=2.0))) == 0


def test_bad_settings_are_refused_before_anything_changes():
    ex = Explorer(SHAPE, STEPS, n_particles=1000)
    before = ex.settings
    cases = [
        (dict(sigma=-1.0), InputError, "sigma"),
        (dict(sigma="wide"), InputTypeError, "sigma"),
        (dict(family="laplace"), InputError, "family"),
        (dict(boundary="open"), InputError, "boundary"),
        (dict(step=STEPS + 1), InputError, "step"),
        (dict(gap=SHAPE[0] + 1), InputError, "gap"),
        (dict(radius=9), InputError, "radius"),
        (dict(board="yes"), InputTypeError, "board"),
        (dict(n_particles=0), InputError, "n_particles"),
        (dict(speed=2), InputError, "speed"),
        (dict(field=np.ones((4, 4))), InputError, "shape"),
        (dict(field=-np.ones(SHAPE)), InputError, "field"),
        (dict(initial="custom"), InputError, "field"),
        (dict(sigma=1.1, temperature=0.0), InputError, "temperature"),  # one bad value: nothing is applied
    ]
    for values, error, word in cases:
        with pytest.raises(error, match=word):
            ex.update(**values)
    assert ex.settings == before
    with pytest.raises(InputError, match="shape"):
        Explorer((4, 64))


def test_the_widget_drives_update():
    ex = dc.explore(SHAPE, STEPS, n_particles=1000)
    controls = ex.controls
    first = bytes(ex.widget().children[1].value)
    assert first.startswith(b"\x89PNG")
    controls["sigma"].value = 1.6
    controls["step"].value = 4
    assert ex.settings["sigma"] == 1.6 and ex.settings["step"] == 4
    assert bytes(ex.widget().children[1].value) != first
    np.testing.assert_array_equal(ex.view().propagator, ex.results["propagator"].frames[4])
    controls["family"].value = "box"
    assert controls["sigma"].disabled and controls["temperature"].disabled and not controls["radius"].disabled
    assert controls["gap"].disabled and ex.view().walls is None  # no board in the first view
    controls["board"].value = True
    assert not controls["gap"].disabled and ex.view().walls is not None
    controls["board"].value = False
    assert controls["gap"].disabled and ex.view().walls is None


def test_display_in_a_notebook_and_without_a_kernel():
    ex = dc.explore(SHAPE, STEPS, n_particles=1000)
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert "live Jupyter kernel" in page
    png = base64.b64decode(page.split("data:image/png;base64,")[1].split('"')[0])
    assert png.startswith(b"\x89PNG")
    fig = ex.figure()
    assert len([a for a in fig.axes if a.get_images()]) == 6
    titles = " ".join(a.get_title() for a in fig.axes)
    assert "sampling noise" in titles and "heat equation" in titles


def test_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets now raises ImportError
    refused = []
    compiled = compiles(lambda: refused.append(pytest.raises(MissingExtraError, dc.explore, SHAPE, STEPS)))
    assert "notebook" in str(refused[0].value) and compiled == 0  # refused before any work
    with pytest.raises(ImportError, match=r"diffusion-conv\[notebook\]"):
        Explorer(SHAPE, STEPS, n_particles=100).widget()
    # without the widgets the explorer still computes, and displays as its picture
    bundle = Explorer(SHAPE, STEPS, n_particles=100)._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}

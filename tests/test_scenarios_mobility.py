"""The heterogeneous scenarios: a gel disc slows the front, a porous board relaxes at its closed-form rate."""

import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import scenarios


def test_gel_is_a_centred_disc_covering_a_tenth_of_the_tank():
    sc = scenarios.get("gel", size=64)
    m = np.asarray(sc.tank.mobility)
    assert set(np.unique(m)) == {scenarios.GEL_MOBILITY, 1.0}
    assert np.mean(m < 1) == pytest.approx(0.1, abs=0.005)
    gel = np.argwhere(m < 1)
    np.testing.assert_allclose(gel.mean(axis=0), [31.5, 31.5], atol=1e-9)  # centred
    c = np.asarray(sc.tank.concentration)
    assert np.all(c[:, :16] == 1) and np.all(c[:, 16:] == 0)
    assert set(sc.methods) == {n for n in dc.METHODS if getattr(dc.methods.get(n), "mobility", False)}
    for name in ("spectral", "image", "heat"):
        assert name not in sc.methods


def test_membrane_is_a_porous_board_with_no_gap():
    sc = scenarios.get("membrane", size=32)
    m = np.asarray(sc.tank.mobility)
    assert sc.tank.shape == (16, 32)
    assert np.all(m[:, 16] == scenarios.MEMBRANE_MOBILITY)
    assert np.all(np.delete(m, 16, axis=1) == 1)
    assert sc.tank.walls is None or not np.any(np.asarray(sc.tank.walls.array))
    assert sc.steps == round(1 / scenarios.membrane_rate(32))


@pytest.mark.slow
def test_membrane_relaxes_at_the_closed_form_rate():
    """The difference of the sides' means falls by exp(-kappa t) with kappa of docs/theory.md (a few percent:
    the sides mix in finite time, about N^2 / (p pi^2) steps)."""
    sc = scenarios.get("membrane", size=16)
    steps = 2 * sc.steps
    res = dc.simulate(sc.tank, sc.propagator, steps, method="propagator", save_every=sc.steps // 4)
    frames = np.asarray(res.frames)
    gap = frames[:, :, :8].mean(axis=(1, 2)) - frames[:, :, 9:].mean(axis=(1, 2))
    late = np.asarray(res.steps) >= sc.steps // 2  # after the sides have mixed
    rate = -np.polyfit(np.asarray(res.steps)[late], np.log(gap[late]), 1)[0]
    assert rate == pytest.approx(scenarios.membrane_rate(16), rel=0.02)  # measured: -0.8%

"""What a newcomer reads off the pictures and tables: relative columns, colour scales that follow the
physics, agreement drawn as agreement, colour pictures in colour, boards in sight."""
import json

import jax
import numpy as np
import pytest

import diffusion_conv as dc


# -- the comparison table -----------------------------------------------------------------------
def _tank():
    return dc.Tank.two_compartment((6, 12), left=1.0, right=0.25, boundary="reflect")


@pytest.fixture(scope="module")
def comparison():
    return dc.compare(_tank(), dc.Propagator.gaussian(1.0, ndim=2), 6,
                      methods=("propagator", "spectral", "image", "heat", "particles"), n_particles=2000,
                      key=jax.random.key(0))


def test_table_columns_are_relative_to_the_reference_and_the_initial_mass(comparison):
    cmp = comparison
    ref = np.asarray(cmp.results["propagator"].final, dtype=np.float64)
    initial = float(np.sum(np.asarray(cmp.results["propagator"].frames[0], dtype=np.float64)))
    assert cmp.initial_mass == pytest.approx(initial, rel=1e-12)
    rows = {r["method"]: r for r in cmp.table}
    for name, row in rows.items():
        final = np.asarray(cmp.results[name].final, dtype=np.float64)
        assert row["rel_max_error"] == pytest.approx(np.max(np.abs(final - ref)) / np.max(np.abs(ref)), rel=1e-9)
        mass = float(np.sum(final))
        assert row["mass"] == pytest.approx(mass, rel=1e-12)
        assert row["mass_balance_rel"] == pytest.approx(abs(mass + row["absorbed"] - initial) / initial, rel=1e-6,
                                                        abs=1e-300)
    assert rows["heat"]["rel_max_error"] > 1e-6  # the continuum is not the lattice walk: a visible difference
    assert rows["spectral"]["rel_max_error"] < 1e-12
    md = cmp.to_markdown()
    lines = md.splitlines()
    assert "rel_max_error" in lines[2] and "mass_balance_rel" in lines[2] and "noise_rel_l2" in lines[2]
    assert "max_abs_error" not in lines[2] and "mass_balance_error" not in lines[2]
    assert lines[1] == "" and "relative" in lines[0] and "initial" in lines[0]  # the one-line legend
    # the mass with enough digits to tell float rounding from nothing: at least 9 significant digits
    mass_cells = [line.split("|")[6].strip() for line in lines[4:]]
    assert all(len(c.replace(".", "").lstrip("0")) >= 9 for c in mass_cells if c.replace(".", "").isdigit())
    payload = json.loads(cmp.to_json())
    assert payload["columns"] == list(dc.Comparison.COLUMNS) and payload["legend"] == lines[0]
    assert {r["method"] for r in payload["table"]} == set(rows)


def test_expected_noise_matches_the_scatter_of_many_keys(comparison):
    # the column beside the particles' error: what sampling alone gives, checked against 24 independent runs
    cmp = comparison
    expected = {r["method"]: r for r in cmp.table}["particles"]["noise_rel_l2"]
    assert {r["method"]: r for r in cmp.table}["spectral"]["noise_rel_l2"] is None
    tank, prop = _tank(), dc.Propagator.gaussian(1.0, ndim=2)
    ref = np.asarray(cmp.results["propagator"].final, dtype=np.float64)
    res = dc.simulate(tank, prop, 6, method="particles", n_particles=2000, key=jax.random.split(jax.random.key(7), 24))
    finals = np.asarray(res.final, dtype=np.float64)  # (24, 6, 12)
    measured = np.sqrt(np.mean(np.sum((finals - ref) ** 2, axis=(1, 2)))) / np.linalg.norm(ref)
    # 24 draws of a sum over 72 cells: the mean square is within ~10% of its expectation
    assert measured == pytest.approx(expected, rel=0.15)

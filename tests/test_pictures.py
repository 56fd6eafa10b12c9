"""What a newcomer reads off the pictures and tables: relative columns, colour scales that follow the
physics, agreement drawn as agreement, colour pictures in colour, boards in sight."""

import json

import jax
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import render


# -- the comparison table -----------------------------------------------------------------------
def _tank():
    return dc.Tank.two_compartment((6, 12), left=1.0, right=0.25, boundary="reflect")


@pytest.fixture(scope="module")
def comparison():
    return dc.compare(
        _tank(),
        dc.Propagator.gaussian(1.0, ndim=2),
        6,
        methods=("propagator", "spectral", "image", "heat", "particles"),
        n_particles=2000,
        key=jax.random.key(0),
    )


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
        assert row["mass_balance_rel"] == pytest.approx(
            abs(mass + row["absorbed"] - initial) / initial, rel=1e-6, abs=1e-300
        )
    assert rows["heat"]["rel_max_error"] > 1e-6  # the continuum is not the lattice walk: a visible difference
    assert rows["spectral"]["rel_max_error"] < 1e-12
    md = cmp.to_markdown()
    lines = md.splitlines()
    # each header says what its error or balance is divided by
    assert lines[2] == "| " + " | ".join(dc.Comparison.HEADERS[c] for c in dc.Comparison.COLUMNS) + " |"
    assert (
        "max error / max ref" in lines[2] and "mass balance / initial" in lines[2] and "noise L2 / L2 ref" in lines[2]
    )
    assert lines[1] == "" and "relative" in lines[0] and "initial" in lines[0]  # the one-line legend
    # the mass with enough digits to tell float rounding from nothing: at least 9 significant digits
    mass_cells = [line.split("|")[6].strip() for line in lines[4:]]
    assert all(len(c.replace(".", "").lstrip("0")) >= 9 for c in mass_cells if c.replace(".", "").isdigit())
    payload = json.loads(cmp.to_json())
    assert payload["columns"] == list(dc.Comparison.COLUMNS) and payload["legend"] == lines[0]
    assert payload["headers"] == dc.Comparison.HEADERS
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


# -- the pictures ----------------------------------------------------------------------------------
def _panel_pixels(panels, ax, frame):
    """The pixels of axes ``ax`` of a figure drawn by ``panels`` in an image ``frame`` of the same size."""
    panels.rgb(0)  # draws the figure: the axes boxes are final
    box = ax.get_window_extent()
    h = frame.shape[0]
    y0, y1, x0, x1 = int(np.ceil(h - box.y1)), int(np.floor(h - box.y0)), int(np.ceil(box.x0)), int(np.floor(box.x1))
    return frame[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]


def _panels(source, **kw):
    from diffusion_conv.render.panels import Panels
    from diffusion_conv.render.sources import columns

    cols, _ = columns(source, labels=kw.pop("labels", None), channels=kw.pop("channels", None))
    return Panels(cols, kw.pop("cmap", "viridis"), kw.pop("dpi", 80), kw.pop("diff", True), **kw)


def _cells(pixels, shape, inner=0.5):
    """The mean colour of the middle (``inner`` of its width) of each cell of a grid ``shape`` in ``pixels``."""
    h, w = pixels.shape[:2]
    out = np.zeros(tuple(shape) + (pixels.shape[-1],))
    for a in range(shape[0]):
        for b in range(shape[1]):
            y0, y1 = (a + 0.5 - inner / 2) * h / shape[0], (a + 0.5 + inner / 2) * h / shape[0]
            x0, x1 = (b + 0.5 - inner / 2) * w / shape[1], (b + 0.5 + inner / 2) * w / shape[1]
            block = pixels[int(np.ceil(y0)) : int(np.floor(y1)) + 1, int(np.ceil(x0)) : int(np.floor(x1)) + 1]
            out[a, b] = block.reshape(-1, pixels.shape[-1]).mean(axis=0)
    return out


def _luminance(rgb):
    return np.asarray(rgb, dtype=np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114]) / 255.0


def test_the_point_source_animation_shows_the_gaussian_in_its_last_frame(tmp_path):
    import imageio.v3 as iio

    field = np.zeros((48, 48))
    field[24, 24] = 1.0
    tank = dc.Tank(field, boundary="periodic")
    res = dc.simulate(tank, dc.Propagator.gaussian(1.0, ndim=2), 64, save_every=8)
    assert float(np.max(res.final)) < 0.01  # the peak fell a hundredfold: on the initial 0..1 scale a flat dark panel
    path = tmp_path / "point.gif"
    render.animate(res, path)
    last = iio.imread(path, index=None)[-1]
    panels = _panels(res)
    panel = _luminance(_panel_pixels(panels, panels.axes[0, 0], last))
    lo, hi = np.percentile(panel, [1, 99])
    assert hi - lo > 0.45, (lo, hi)  # contrast: the Gaussian fills the colour scale (viridis spans 0.2 .. 0.9)
    # and it is the Gaussian: brightest in the middle, falling off outward
    n = panel.shape[0]
    centre = panel[n // 2 - 2 : n // 2 + 3, n // 2 - 2 : n // 2 + 3].mean()
    ring = panel[n // 2 - 2 : n // 2 + 3, n // 2 + n // 4 - 2 : n // 2 + n // 4 + 3].mean()
    corner = panel[:5, :5].mean()
    assert centre > ring > corner
    assert panels.scale.kind == "log" and panels.scale.per_frame  # a peak that fell by decades: a log scale


def test_a_float64_difference_of_two_exact_methods_reads_as_agreement(tmp_path):
    import imageio.v3 as iio

    assert jax.config.jax_enable_x64
    tank = dc.Tank.two_compartment((12, 16), left=1.0, right=0.0, boundary="reflect")
    cmp = dc.compare(tank, dc.Propagator.gaussian(1.0, ndim=2), 40, methods=("propagator", "spectral"), save_every=10)
    diff = np.abs(cmp.results["spectral"].frames - cmp.results["propagator"].frames)
    assert 0 < diff.max() < 1e-13  # rounding, and some of it: drawn at full contrast it would look like an error
    panels = _panels(cmp)
    ((j, art),) = panels.bottom
    path = tmp_path / "agree.gif"
    render.animate(cmp, path)
    frames = iio.imread(path, index=None)
    for i in range(1, len(frames)):
        panels.draw(i)
        assert np.all(art.get_array() == 0)
        assert panels.notes[0][1].get_text().startswith("agrees to rounding")
        pixels = _panel_pixels(panels, panels.axes[1, j], frames[i]).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) == 1  # one flat colour
    # a real difference still shows: the gather of a drifting kernel at closed walls loses mass
    drift = dc.Propagator.from_kernel(np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
    cmp = dc.compare(tank, drift, 20, methods=("propagator", "image"), save_every=10)
    panels = _panels(cmp)
    panels.draw(2)
    assert panels.notes[0][1].get_text().startswith("differs")
    assert np.any(panels.bottom[0][1].get_array() != 0)


def test_a_colour_image_comes_back_as_colour(tmp_path):
    import imageio.v3 as iio

    rgb = dc.Tank.from_image(dc.scenarios.TEST_IMAGE_RGB, size=16, channels=True)
    res = dc.simulate(rgb, dc.Propagator.box(3, ndim=2), 2, save_every=1)
    path = tmp_path / "colour.gif"
    render.animate(res, path, channels=0)
    first = iio.imread(path, index=0)
    panels = _panels(res, channels=0)
    assert len(panels.cols) == 1 and panels.cols[0].channels is not None and not panels.diff
    pixels = _panel_pixels(panels, panels.axes[0, 0], first).astype(np.float64)
    seen = _cells(pixels, (16, 16))  # averaged over the middle of each cell: dithering gives back its colour
    lo, hi = panels.colour.limits(0)
    expected = np.clip((np.moveaxis(np.asarray(res.frames[0], dtype=np.float64), 0, -1) - lo) / (hi - lo), 0, 1)
    assert np.max(np.abs(seen / 255 - expected)) < 0.08
    assert np.mean(np.ptp(expected, axis=-1)) > 0.1  # the picture has colour to show
    # with a reference, like members are compared: red with red
    cmp = dc.compare(rgb, dc.Propagator.box(3, ndim=2), 2, methods=("propagator", "image"), save_every=1)
    panels = _panels(cmp, channels=0)
    assert [(c.name, c.ref) for c in panels.cols] == [("propagator, colour", None), ("image, colour", 0)]
    members = _panels(cmp, labels=[["red", "green", "blue"]])
    pairs = [(c.name, None if c.ref is None else members.cols[c.ref].name) for c in members.cols]
    assert pairs[3:] == [
        ("image, red", "propagator, red"),
        ("image, green", "propagator, green"),
        ("image, blue", "propagator, blue"),
    ]


def test_boards_are_drawn_in_every_panel_from_the_first_frame(tmp_path):
    from diffusion_conv.render.panels import WALL_GREY

    sc = dc.scenarios.get("slit", size=16)
    cmp = dc.compare(
        sc.tank,
        sc.propagator,
        8,
        methods=("propagator", "particles"),
        save_every=4,
        n_particles=2000,
        key=jax.random.key(1),
    )
    walls = np.asarray(sc.tank.walls)
    for res in cmp.results.values():
        mask = np.zeros(walls.size, dtype=bool)
        mask[res.meta["wall_cells"]] = True
        np.testing.assert_array_equal(mask.reshape(walls.shape), walls)
    path = tmp_path / "slit.png"
    render.plot_frame(cmp, 0, path=path, dpi=80)
    import imageio.v3 as iio

    image = iio.imread(path)[..., :3]
    panels = _panels(cmp, dpi=80)
    grey = round(WALL_GREY * 255)
    for ax in (panels.axes[0, 0], panels.axes[0, 1], panels.axes[1, 1]):
        cells = _cells(_panel_pixels(panels, ax, image).astype(float), walls.shape)
        assert np.all(np.abs(cells[walls] - grey) <= 2)  # solid grey where the board is
        assert np.all(np.abs(cells[~walls] - grey).max(axis=-1) > 10)  # and nowhere else


def test_gif_gradients_keep_their_steps():
    # a smooth ramp of 128 values across a panel: a palette per frame banded it into ~25 colours
    import imageio.v3 as iio

    ramp = np.tile(np.linspace(0.0, 1.0, 128), (16, 1))
    res = dc.Result("propagator", [0, 1], [0.0, 1.0], np.stack([ramp, ramp]), np.zeros(2), 0.0, {"dx": 1.0})
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/ramp.gif"
        render.animate(res, path, dpi=100)
        frame = iio.imread(path, index=0)
    panels = _panels(res, dpi=100)
    pixels = _panel_pixels(panels, panels.axes[0, 0], frame)
    row = pixels[pixels.shape[0] // 2]
    assert len(np.unique(row, axis=0)) >= 100


def test_the_story_is_one_1280_by_720_picture_whose_particles_stay_in_their_noise_band(tmp_path):
    import imageio.v3 as iio

    from diffusion_conv.render.story import Story

    sc = dc.scenarios.get("partitions", size=32, seed=2)
    cmp = dc.compare(
        sc.tank,
        sc.propagator,
        12,
        methods=("propagator", "spectral", "particles", "heat"),
        save_every=4,
        n_particles=20000,
        key=jax.random.key(3),
    )
    png = render.plot_story(cmp, tmp_path / "story.png", index=1, title="sixteen compartments")
    assert [ax.get_title() for ax in png.axes[:3]] == ["propagator", "particles", "heat"]
    assert iio.imread(tmp_path / "story.png").shape[:2] == (720, 1280)
    path = render.animate_story(cmp, tmp_path / "story.gif", fps=4)
    frames = iio.imread(path, index=None)
    assert frames.shape == (4, 720, 1280, 3)
    # the band around the expectation holds about 95 % of the particles' profile (two standard deviations)
    from diffusion_conv.render.sources import columns

    cols = [c for c in columns(cmp)[0] if c.name in ("propagator", "particles", "heat")]
    story = Story(cols)
    inside = []
    for i in range(1, 4):
        story.draw(i)
        verts = story.band.get_paths()[0].vertices
        n = len(story.x)
        low, high = verts[:n, 1], verts[n : 2 * n, 1][::-1]
        dots = story.lines[1].get_ydata()
        inside.append(np.mean((dots >= low) & (dots <= high)))
    assert 0.85 <= np.mean(inside) <= 1.0, inside
    with pytest.raises(ValueError, match="counts"):
        render.plot_story(cmp, methods=("propagator", "counts"))
    with pytest.raises(ValueError, match="rows"):
        render.plot_story(cmp, rows=(10, 40))


def test_a_mobility_map_is_outlined_where_it_slows_the_walk():
    from matplotlib.contour import ContourSet

    m = np.ones((12, 12))
    m[3:7, 4:9] = 0.2
    m[9, :] = 0.0  # a solid row: walls, not slow cells
    c = np.where(m > 0, 1.0, 0.0)
    res = dc.simulate(dc.Tank(c, mobility=m), dc.Propagator.gaussian(0.7), 4)
    assert sorted(res.meta["slow_cells"]) == np.flatnonzero((m > 0) & (m < 1)).tolist()
    fig = render.plot_frame(res, diff=False)
    ax = fig.axes[0]
    assert sum(isinstance(a, ContourSet) for a in ax.get_children()) == 1 and "mobility < 1" in ax.get_title()
    plain = dc.simulate(dc.Tank(c), dc.Propagator.gaussian(0.7), 4)
    assert plain.meta["slow_cells"] is None

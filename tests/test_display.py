"""The objects show themselves in a notebook: HTML with a PNG (read back and checked), plain reprs that say what
they hold, an inline animation that is the file's GIF, nothing compiled to show them, clean namespaces, and a
notebook executed headlessly."""

from __future__ import annotations

import base64
import html.parser
import io
import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

import diffusion_conv as dc
from diffusion_conv.render import display


def _grey(image):
    """How many pixels are the walls' grey."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    return int(np.all(np.abs(rgb - display.WALL_GREY * 255) <= 1, axis=-1).sum())


class _Parsed(html.parser.HTMLParser):
    """The images (their data and size attributes) and the text of table cells of a piece of HTML."""

    def __init__(self, text):
        super().__init__()
        self.images, self.rows, self._row, self._cell = [], [], None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            kind, data = re.match(r"data:image/(\w+);base64,(.*)", a["src"]).groups()
            self.images.append((kind, base64.b64decode(data), int(a["width"]), int(a["height"])))
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _picture(text):
    parsed = _Parsed(text)
    assert len(parsed.images) >= 1
    kind, data, w, h = parsed.images[0]
    image = Image.open(io.BytesIO(data))
    assert image.size == (w, h)  # the size the page is told is the picture's own
    return parsed, image, len(data)


def _facts(parsed):
    return {r[0]: r[1] for r in parsed.rows if len(r) == 2}


@pytest.fixture(scope="module")
def objects():
    walled = dc.Tank.two_compartment((16, 24)).with_board(axis=1, index=12, gap=(6, 10))
    prop = dc.Propagator.from_logits(np.array([[0.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 0.0]]), temperature=0.5)
    res = dc.simulate(walled, prop, 12, save_every=4)
    cmp = dc.compare(
        dc.Tank.two_compartment((16, 16)),
        dc.Propagator.box(3),
        12,
        methods=("propagator", "spectral", "particles"),
        save_every=4,
        n_particles=5000,
        key=jax.random.key(0),
    )
    return walled, prop, res, cmp


def test_showing_the_objects_compiles_no_program(objects):
    compiled = []

    def listen(name, *args, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            compiled.append(name)

    for obj in objects:  # the first display imports matplotlib: outside the count
        obj._repr_html_()
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        fresh = dc.Tank.two_compartment((8, 12))  # jnp arrays made before the count: reading them compiles nothing
        bank = dc.Propagator.stack([dc.Propagator.box(3), dc.Propagator.gaussian(0.5, radius=1)])
        compiled.clear()
        for obj in list(objects) + [fresh, bank]:
            repr(obj)
            obj._repr_html_()
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert compiled == []


def test_a_tank_shows_its_field_with_the_walls_in_grey(objects):
    walled = objects[0]
    parsed, image, size = _picture(walled._repr_html_())
    facts = _facts(parsed)
    assert (
        facts["shape"] == "16 x 24 cells" and facts["walls"] == "12 cells" and facts["boundary"] == "reflect, reflect"
    )
    mass = float(np.sum(np.asarray(walled.concentration), dtype=np.float64))
    assert float(facts["mass"]) == pytest.approx(mass, rel=1e-6)
    grey = _grey(image)
    assert grey > 100  # the board, drawn solid grey
    plain = dc.Tank.two_compartment((16, 24))
    _, image, _ = _picture(plain._repr_html_())
    assert _grey(image) < grey / 10
    assert size < 60_000
    text = repr(walled)
    assert "shape=(16, 24)" in text and "walls=12 cells" in text and f"mass={mass:.10g}" in text


def test_a_propagator_shows_its_kernel_moments_and_temperature(objects):
    prop = objects[1]
    parsed, image, size = _picture(prop._repr_html_())
    facts = _facts(parsed)
    mean, cov = prop.host_moments()
    assert facts["temperature"].startswith("0.5 ")
    assert facts["kernel shape"] == "3 x 3" and facts["radius"] == "1, 1 cells"
    shown = np.array(json.loads(facts["covariance"].split(" cells")[0]))
    np.testing.assert_allclose(shown, cov, rtol=1e-3, atol=1e-12)  # four significant digits shown
    np.testing.assert_allclose(json.loads(facts["mean jump"].split(" cells")[0]), mean, atol=1e-12)
    assert image.size[0] > 200 and size < 60_000
    text = repr(prop)
    assert "temperature=0.5" in text and f"covariance={np.round(cov, 6).tolist()}" in text
    assert "temperature=not recorded" in repr(dc.Propagator(np.full(3, 1 / 3)))
    assert _facts(_Parsed(dc.Propagator.box(3)._repr_html_()))["temperature"].startswith("not recorded")
    one = dc.Propagator.gaussian(0.8, ndim=1)
    _picture(one._repr_html_())
    _picture(dc.Propagator.gaussian(0.6, ndim=3, radius=1)._repr_html_())


def test_under_jit_the_objects_say_they_are_traced():
    seen = {}

    @jax.jit
    def f(c, w):
        tank, prop = dc.Tank(c), dc.Propagator(w)
        seen["tank"], seen["prop"] = repr(tank), repr(prop)
        seen["html"] = (tank._repr_html_(), prop._repr_html_())
        return c

    f(np.ones((4, 4)), np.full((3, 3), 1 / 9))
    assert "mass=traced" in seen["tank"] and "traced weights" in seen["prop"]
    assert seen["html"] == (None, None)  # the notebook falls back to the text


def test_a_result_shows_its_last_frame_and_key_figures(objects):
    res = objects[2]
    parsed, image, size = _picture(res._repr_html_())
    facts = _facts(parsed)
    assert facts["method"] == "propagator" and facts["steps"].startswith("12 ")
    assert facts["frames"] == "4, at steps 0, 4, 8, 12" and facts["grid"] == "16 x 24 cells, dx = 1"
    assert size < 60_000
    text = repr(res)
    assert "steps=12" in text and "frames=4" in text and "grid=(16, 24)" in text and "elapsed=" in text


def test_a_batched_result_shows_its_first_member_and_says_so():
    bank = dc.Propagator.stack([dc.Propagator.box(3), dc.Propagator.gaussian(0.6, radius=1)])
    res = dc.simulate(dc.Tank.two_compartment((8, 8)), bank, 3)
    parsed, _, _ = _picture(res._repr_html_())
    assert "the picture: member (0,)" in _facts(parsed)["batch"]
    assert "batch_shape=(2,)" in repr(res)
    parsed, _, _ = _picture(bank._repr_html_())
    assert "the first" in _facts(parsed)["bank"]


def test_a_comparison_shows_its_table_and_the_final_frames(objects):
    cmp = objects[3]
    text = cmp._repr_html_()
    parsed, image, size = _picture(text)
    header = next(r for r in parsed.rows if r and r[0] == "method")
    assert header == [cmp.HEADERS[c] for c in cmp.COLUMNS]
    body = {r[0]: r for r in parsed.rows if r and r[0] in cmp.results}
    for row in cmp.table:  # the numbers of the table, read back from the page
        cells = body[row["method"]]
        for k, c in enumerate(cmp.COLUMNS[1:], start=1):
            if row[c] is None:
                assert cells[k] == ""
            else:
                shown = 5e-4 if c == "elapsed_s" else 1e-300  # seconds are shown to the millisecond
                assert float(cells[k]) == pytest.approx(row[c], rel=1e-2, abs=shown)
    assert cmp.legend() in html.unescape(text)
    assert image.size[0] <= display.WIDTH + 16 and size < 60_000
    lines = repr(cmp).splitlines()
    assert "against 'propagator'" in lines[0] and len(lines) == 2 + len(cmp.table)
    assert lines[1].split()[:3] == ["method", "elapsed", "(s)"]


def test_the_inline_animation_is_the_gif_the_file_holds(objects, tmp_path, monkeypatch):
    cmp = objects[3]
    monkeypatch.chdir(tmp_path)
    anim = dc.render.animate(cmp, dpi=40)
    assert os.listdir(tmp_path) == []  # nothing written
    assert isinstance(anim, dc.render.InlineAnimation)
    path = dc.render.animate(cmp, tmp_path / "file.gif", dpi=40)
    assert anim.data == open(path, "rb").read()
    parsed = _Parsed(anim._repr_html_())
    kind, data, w, h = parsed.images[0]
    assert kind == "gif" and data == anim.data
    gif = Image.open(io.BytesIO(data))
    assert gif.n_frames == len(cmp.results["propagator"].steps) == anim.frames and gif.size == (w, h) == anim.size
    assert re.match(r"InlineAnimation\(GIF, 4 frames of \d+ x \d+ pixels at 10 fps, [\d,]+ bytes\)", repr(anim))
    anim.save(tmp_path / "again.gif")
    assert (tmp_path / "again.gif").read_bytes() == anim.data
    with pytest.raises(ValueError, match=r"\.gif"):
        anim.save(tmp_path / "again.mp4")
    # the default fits a notebook's column
    assert dc.render.animate(cmp).size[0] <= dc.render.animation.INLINE_WIDTH + 16


def test_the_story_plays_inline_as_the_gif_its_file_holds(objects, tmp_path, monkeypatch):
    cmp = objects[3]
    monkeypatch.chdir(tmp_path)
    anim = dc.render.animate_story(cmp, fps=4)
    assert os.listdir(tmp_path) == []  # nothing written
    assert isinstance(anim, dc.render.InlineAnimation)
    assert anim.size == (dc.render.animation.INLINE_WIDTH, 562) and anim.frames == len(cmp.results["propagator"].steps)
    path = dc.render.animate_story(cmp, tmp_path / "story.gif", fps=4, dpi=1000 / 12.8)
    assert anim.data == open(path, "rb").read()
    assert Image.open(io.BytesIO(anim.data)).n_frames == anim.frames
    with pytest.raises(ValueError, match="fps"):
        dc.render.animate_story(cmp, fps=0)


def test_animate_checks_its_input_before_drawing_without_a_path_too(objects):
    with pytest.raises(ValueError, match="fps"):
        dc.render.animate(objects[3], fps=0)
    with pytest.raises(TypeError, match="source"):
        dc.render.animate(object())


def test_plot_frame_still_returns_a_figure(objects):
    fig = dc.render.plot_frame(objects[3], -1, dpi=30)
    assert type(fig).__name__ == "Figure"


def test_display_refuses_what_it_does_not_draw():
    with pytest.raises(TypeError, match="Tank, Propagator, Result or Comparison"):
        display.html(3)


def test_the_namespaces_hold_the_public_names_only():
    import diffusion_conv.render.display  # noqa: F401  (a loaded private module is not listed)

    for module in (dc, dc.render):
        names = dir(module)
        for private in ("np", "os", "PackageNotFoundError", "importlib", "annotations", "display", "animation"):
            assert private not in names, (module.__name__, private)
        assert all(not n.startswith("_") or n == "__version__" for n in names), names
        for name in names:
            assert getattr(module, name) is not None
    assert dir(dc.render) == sorted(dc.render.__all__)
    assert not [n for n in dir(dc.render) if type(getattr(dc.render, n)).__name__ == "module"]
    assert "InlineAnimation" in dir(dc.render)


@pytest.mark.slow
def test_importing_and_building_a_tank_import_no_matplotlib():
    code = (
        "import sys, diffusion_conv as dc\n"
        "t = dc.Tank.two_compartment((8, 8)); p = dc.Propagator.box(3)\n"
        "repr(t); repr(p)\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


NOTEBOOK = [
    "import jax, numpy as np, diffusion_conv as dc",
    "tank = dc.Tank.two_compartment((12, 16)).with_board(axis=1, index=8, gap=(4, 8))\ntank",
    "prop = dc.Propagator.gaussian(0.7)\nprop",
    "res = dc.simulate(tank, prop, 6, save_every=3)\nres",
    "cmp = dc.compare(tank, prop, 6, methods=('propagator', 'particles'), n_particles=2000, save_every=3)\ncmp",
    "dc.render.animate(cmp, dpi=30)",
]


def run_notebook(cells, timeout=300):
    """Execute a notebook of ``cells`` in a fresh kernel (nbclient); return its code cells' outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3").execute()
    return [cell.outputs for cell in nb.cells]


@pytest.mark.slow
def test_a_notebook_shows_each_object_and_plays_the_animation():
    outputs = run_notebook(NOTEBOOK)
    assert outputs[0] == []
    for k, (cell, what) in enumerate(zip(outputs[1:], ["Tank", "Propagator", "Result", "Comparison", "gif"]), 1):
        assert len(cell) == 1 and cell[0]["output_type"] == "execute_result", (k, cell)
        data = cell[0]["data"]
        assert '<img src="data:image/' in data["text/html"] and what in data["text/html"], k
        assert data["text/plain"].startswith(("Tank(", "Propagator(", "Result(", "Comparison", "InlineAnimation("))
    kind, gif, w, h = _Parsed(outputs[5][0]["data"]["text/html"]).images[0]
    assert kind == "gif" and Image.open(io.BytesIO(gif)).n_frames == 3

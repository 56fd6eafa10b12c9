"""Animations and plots: frame counts and sizes read back with imageio, colours, safe writing."""

import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import render


def _result(frames, method="propagator", every=2):
    frames = np.asarray(frames, dtype=np.float64)
    steps = np.arange(len(frames)) * every
    return dc.Result(method, steps, steps * 1.0, frames, np.zeros(len(frames)), 0.0, {"dx": 1.0})


def _ramp(shape, n=6):
    """Frames whose values move from 0 to 1 over the run, uniform in space."""
    return np.stack([np.full(shape, k / (n - 1)) for k in range(n)])


def _files(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("shape", [(20,), (12, 16), (6, 8, 10)], ids=["1d", "2d", "3d"])
def test_gif_has_one_frame_per_saved_step(tmp_path, shape):
    a = _result(_ramp(shape), "propagator")
    b = _result(_ramp(shape) * 0.5, "image")
    path = tmp_path / "out.gif"
    assert render.animate([a, b], path, dpi=40) == str(path)
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 6
    assert frames.shape[-1] == 3
    # sizes are multiples of 16 pixels (video codecs need even sizes) and grow with the panels
    h, w = frames.shape[1:3]
    assert h % 16 == 0 and w % 16 == 0
    single = tmp_path / "one.gif"
    render.animate(a, single, dpi=40)
    h1, w1 = iio.imread(single, index=None).shape[1:3]
    assert w > w1 and h > h1  # two columns and a row of differences against one panel
    assert _files(tmp_path) == ["one.gif", "out.gif"]  # no temporary files left behind


def test_panel_colours_follow_one_shared_scale(tmp_path):
    # one run, frames uniform at 0 .. 1: the middle of the panel shows viridis(0) first, viridis(1) last
    import matplotlib

    res = _result(_ramp((40, 40), n=3))
    path = tmp_path / "c.gif"
    render.animate(res, path, dpi=60, cmap="viridis")
    frames = iio.imread(path, index=None).astype(float)
    cmap = matplotlib.colormaps["viridis"]
    # the panel is the largest uniform region; sample its centre: left of the colour bar, below the title
    h, w = frames.shape[1:3]
    y, x = int(h * 0.5), int(w * 0.4)
    for k, value in ((0, 0.0), (2, 1.0)):
        expected = np.array(cmap(value)[:3]) * 255
        assert np.max(np.abs(frames[k, y, x] - expected)) < 12, (k, frames[k, y, x], expected)


def test_animate_accepts_a_comparison(tmp_path):
    tank = dc.Tank.two_compartment((10, 12))
    cmp = dc.compare(tank, dc.Propagator.box(3, ndim=2), 6, methods=("propagator", "image"), save_every=2)
    path = tmp_path / "cmp.gif"
    render.animate(cmp, path, dpi=40)
    assert iio.imread(path, index=None).shape[0] == 4


def test_failing_render_leaves_no_file(tmp_path, monkeypatch):
    res = _result(_ramp((8, 8), n=8))
    calls = {"n": 0}
    original = render.panels.Panels.rgb

    def failing(self, i):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # as if interrupted halfway
        return original(self, i)

    monkeypatch.setattr(render.panels.Panels, "rgb", failing)
    old = tmp_path / "keep.gif"
    old.write_bytes(b"old contents")
    with pytest.raises(KeyboardInterrupt):
        render.animate(res, old, dpi=30)
    assert old.read_bytes() == b"old contents"  # the previous file is untouched
    with pytest.raises(KeyboardInterrupt):
        calls["n"] = 0
        render.animate(res, tmp_path / "new.gif", dpi=30)
    assert _files(tmp_path) == ["keep.gif"]


def test_bad_input_writes_nothing(tmp_path):
    a = _result(_ramp((8, 8)))
    b = _result(_ramp((8, 8), n=4))  # other steps
    with pytest.raises(ValueError, match="same saved steps"):
        render.animate([a, b], tmp_path / "x.gif")
    with pytest.raises(ValueError, match=r"\.gif"):
        render.animate(a, tmp_path / "x.avi")
    with pytest.raises(ValueError, match="does not exist"):
        render.animate(a, tmp_path / "missing" / "x.gif")
    with pytest.raises(ValueError, match="cmap"):
        render.animate(a, tmp_path / "x.gif", cmap="no-such-map")
    with pytest.raises(ValueError, match="fps"):
        render.animate(a, tmp_path / "x.gif", fps=0)
    with pytest.raises(ValueError, match="reference"):
        render.animate([a], tmp_path / "x.gif", reference="heat")
    with pytest.raises(TypeError, match="source"):
        render.animate("frames", tmp_path / "x.gif")
    assert _files(tmp_path) == []


def test_mp4_without_ffmpeg_names_the_video_extra(tmp_path):
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("imageio-ffmpeg is installed")
    with pytest.raises(ImportError, match=r"diffusion-conv\[video\]"):
        render.animate(_result(_ramp((8, 8))), tmp_path / "x.mp4")
    assert _files(tmp_path) == []


def test_profile_reductions():
    f = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(render.profile(f, axis=-1, reduce="mean"), [10, 11, 12, 13])
    np.testing.assert_array_equal(render.profile(f, axis=1, reduce="middle"), f[1, :, 2])
    with pytest.raises(ValueError, match="reduce"):
        render.profile(f, reduce="max")


def test_plots_write_pngs(tmp_path):
    tank = dc.Tank.two_compartment(16)
    res = dc.simulate(tank, dc.Propagator.gaussian(1.0, ndim=1), 8, save_every=4)
    seen = []

    def exact(t):
        seen.append(t)
        return np.full(16, 0.5)

    render.plot_profiles(res, tmp_path / "p.png", exact=exact)
    assert seen == [0.0, 4.0, 8.0]
    fig = render.plot_convergence({"1/n": ([10, 20, 40, 80], [0.1, 0.05, 0.025, 0.0125])}, tmp_path / "c.png")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["1/n: slope -1.000"]
    render.plot_kernel_temperatures(np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]), path=tmp_path / "k.png")
    render.plot_frame(res, 1, path=tmp_path / "f.png")
    for name in ("p.png", "c.png", "k.png", "f.png"):
        assert iio.imread(tmp_path / name).ndim == 3
    assert _files(tmp_path) == ["c.png", "f.png", "k.png", "p.png"]


def test_matplotlib_is_not_imported_with_the_package():
    code = (
        "import sys, diffusion_conv, diffusion_conv.render, diffusion_conv.scenarios, diffusion_conv.cli; "
        "print('matplotlib' in sys.modules, 'imageio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_save_text_writes_whole_files_or_nothing(tmp_path):
    path = tmp_path / "table.md"
    render.save_text(path, "| a |\n")
    assert path.read_text() == "| a |\n"
    with pytest.raises(ValueError, match=r"\.md"):
        render.save_text(tmp_path / "table.exe", "x")
    with pytest.raises(ValueError, match="does not exist"):
        render.save_text(tmp_path / "missing" / "table.md", "x")
    with pytest.raises(TypeError):
        render.save_text(tmp_path / "broken.md", None)  # fails while writing: nothing is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.md"]


def _shrinking_pair(shape):
    base = _ramp(shape)
    scale = np.array([0.0, 1.0, 1e-2, 1e-4, 1e-6, 1e-8])[:, None, None]  # the error shrinks frame by frame
    a = _result(base, "propagator")
    b = _result(base + scale * np.sin(np.arange(float(np.prod(shape)))).reshape(shape), "image")
    return a, b


def _panels(results, dpi=40, **kw):
    from diffusion_conv.render.panels import Panels
    from diffusion_conv.render.sources import columns

    cols, _ = columns(results)
    return Panels(cols, "viridis", dpi, True, **kw)


def test_the_difference_scale_is_held_over_the_run_unless_each_frame_is_asked_for():
    a, b = _shrinking_pair((12, 10))
    errors = [float(np.max(np.abs(b.frames[i] - a.frames[i]))) for i in range(6)]
    held = _panels([a, b])
    own = _panels([a, b], diff_scale="frame")
    ((_, art),) = held.bottom
    ((_, art_own),) = own.bottom
    for i in range(1, 6):
        held.draw(i)
        own.draw(i)
        assert art.get_clim() == pytest.approx((-max(errors), max(errors)), rel=1e-9)  # steady: the run's largest
        assert art_own.get_clim() == pytest.approx((-errors[i], errors[i]), rel=1e-6)
        assert f"{errors[i]:.1e}" in held.notes[0][1].get_text()
    with pytest.raises(ValueError, match="diff_scale"):
        render.animate([a, b], "never.gif", diff_scale="frames")


def test_a_per_frame_difference_scale_bar_is_drawn_with_each_frame(tmp_path):
    # frames whose difference shrinks 100x a frame: with diff_scale='frame' the bar's labels change with it
    a, b = _shrinking_pair((24, 20))
    path = tmp_path / "d.gif"
    render.animate([a, b], path, dpi=60, diff_scale="frame")
    frames = iio.imread(path, index=None).astype(int)
    panels = _panels([a, b], dpi=60, diff_scale="frame")
    box = panels.scales[0].get_tightbbox(panels.fig.canvas.get_renderer())
    h = frames.shape[1]
    x0, x1, y0, y1 = int(box.x0), int(box.x1) + 8, int(h - box.y1), int(h - box.y0)  # the bar and its labels
    assert np.abs(frames[2, y0:y1, x0:x1] - frames[3, y0:y1, x0:x1]).sum() > 0


def test_png_frames_are_numbered_and_an_interrupted_run_leaves_none(tmp_path, monkeypatch):
    res = _result(_ramp((8, 8), n=5))
    pattern = render.animate(res, tmp_path / "frame.png", dpi=30)
    assert pattern == str(tmp_path / "frame_%04d.png")
    assert _files(tmp_path) == [f"frame_{i:04d}.png" for i in range(5)]
    first = iio.imread(tmp_path / "frame_0000.png")
    assert first.ndim == 3 and first.shape[0] % 16 == 0
    calls = {"n": 0}
    original = render.panels.Panels.rgb

    def failing(self, i):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, i)

    monkeypatch.setattr(render.panels.Panels, "rgb", failing)
    with pytest.raises(KeyboardInterrupt):
        render.animate(res, tmp_path / "other.png", dpi=30)
    assert _files(tmp_path) == [f"frame_{i:04d}.png" for i in range(5)]  # none of the interrupted frames


def test_colour_scale_options_are_checked_and_honoured():
    from diffusion_conv.render.panels import Panels
    from diffusion_conv.render.sources import columns

    res = _result(_ramp((8, 8), n=4) * 2.0)
    cols, _ = columns(res)
    panels = Panels(cols, "viridis", 30, True, limits=(0.5, 1.5))
    panels.draw(3)
    assert panels.top[0].get_clim() == (0.5, 1.5)
    panels = Panels(cols, "viridis", 30, True, limits="frame")
    panels.draw(2)
    assert panels.top[0].get_clim() == pytest.approx((2 / 3, 2.0))  # a uniform frame at 4/3: widened by half
    assert "concentration" in panels.scale.label and "mass / area" in panels.scale.label
    for bad, err in (
        (dict(scale="loglog"), ValueError),
        (dict(limits=(1, 0)), ValueError),
        (dict(limits="sometimes"), ValueError),
        (dict(limits=(0, "1")), TypeError),
        (dict(scale="log", limits=(0.0, 1.0)), ValueError),
    ):
        with pytest.raises(err):
            render.plot_frame(res, **bad)


def test_profile_over_a_band_and_the_noise_band_of_particles():
    f = np.arange(48.0).reshape(6, 8)
    np.testing.assert_array_equal(render.profile(f, axis=1, span=(2, 4)), f[2:4].mean(axis=0))
    with pytest.raises(ValueError, match="span"):
        render.profile(f, axis=1, span=(4, 9))
    tank = dc.Tank.two_compartment((8, 16), left=1.0, right=0.2)
    import jax

    cmp = dc.compare(
        tank,
        dc.Propagator.gaussian(1.0, ndim=2),
        4,
        methods=("propagator", "particles"),
        n_particles=3000,
        key=jax.random.key(0),
    )
    fig = render.plot_profiles(cmp, span=(2, 6), times=[1])
    ax = fig.axes[0]
    (band,) = [c for c in ax.collections if len(c.get_paths()) and len(c.get_paths()[0].vertices) > 4]
    dots = [line for line in ax.lines if line.get_marker() == "." and len(line.get_xdata())]
    assert len(dots) == 1
    # the band is two standard deviations of the mean of rows 2..5 around the propagator's profile
    from diffusion_conv.comparison import sampling_variance

    expected = np.asarray(cmp.results["propagator"].final, dtype=np.float64)
    var = sampling_variance(expected, float(cmp.results["particles"].mass()[0]), 3000)
    sd = np.sqrt(var[2:6].sum(axis=0)) / 4
    top = band.get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(np.max(expected[2:6].mean(axis=0) + 2 * sd), rel=1e-9)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "particles: expected noise (2 sd)" in labels


def test_convergence_axis_labels_the_sizes_measured_over_a_short_range():
    fig = render.plot_convergence({"1/n": ([16, 32, 64, 128], [0.1, 0.05, 0.025, 0.0125])})
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert labels == ["16", "32", "64", "128"]


def test_feature_maps_name_the_colour_channels():
    rgb = dc.Tank.from_image(dc.scenarios.TEST_IMAGE_RGB, size=16, channels=True)
    res = dc.simulate(rgb, dc.Propagator.box(3, ndim=2), 2)
    fig = render.plot_feature_maps(res, rgb=True)
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == ["red", "green", "blue", "RGB"]

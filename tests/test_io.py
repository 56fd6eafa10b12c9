"""Files: writability checked before the work, one atomic writer, the umask, damaged result files."""

import json
import os
import zipfile

import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import _interrupt, _io, render
from diffusion_conv.render import figures as _figures


def _result(n=4, shape=(8, 8)):
    frames = np.stack([np.full(shape, k / max(1, n - 1)) for k in range(n)])
    steps = np.arange(n) * 2
    return dc.Result("propagator", steps, steps * 1.0, frames, np.zeros(n), 0.0, {"dx": 1.0})


def _files(folder):
    return sorted(os.listdir(folder))


# -- writability, before any work ---------------------------------------------------------------
def _writers(target):
    res = _result()
    return {
        "save": lambda: res.save(target("run.npz")),
        "animate": lambda: render.animate(res, target("run.gif"), dpi=30),
        "save_text": lambda: render.save_text(target("table.md"), "x"),
        "plot_frame": lambda: render.plot_frame(res, path=target("frame.png"), dpi=30),
    }


@pytest.mark.parametrize("writer", ["save", "animate", "save_text", "plot_frame"])
@pytest.mark.parametrize(
    "case, match",
    [
        ("proc", "cannot write in folder '/proc'"),
        ("under-a-file", "is a file, not a folder"),
        ("missing-folder", "does not exist"),
        ("a-folder", "is a folder"),
        ("long-name", "at most 255"),
    ],
)
def test_unwritable_targets_are_refused_before_any_work_and_leave_nothing(tmp_path, monkeypatch, writer, case, match):
    (tmp_path / "plain").write_text("x")
    (tmp_path / "dir").mkdir()

    def target(name):
        stem, suffix = os.path.splitext(name)
        return {
            "proc": f"/proc/{name}",
            "under-a-file": str(tmp_path / "plain" / name),
            "missing-folder": str(tmp_path / "no" / "such" / name),
            "a-folder": str(tmp_path / "dir" / "sub") + suffix,
            "long-name": str(tmp_path / ("n" * 300 + suffix)),
        }[case]

    if case == "a-folder":
        os.mkdir(target("x.npz")[:-4] + ".npz")
        for suffix in (".gif", ".md", ".png"):
            os.mkdir(str(tmp_path / "dir" / "sub") + suffix)

    def no_drawing(*args, **kwargs):
        raise AssertionError("work started before the target was checked")

    monkeypatch.setattr(render.panels.Panels, "__init__", no_drawing)
    monkeypatch.setattr(np, "savez", no_drawing)
    with pytest.raises(ValueError, match=match):
        _writers(target)[writer]()
    assert _files(tmp_path) == ["dir", "plain"]
    assert not [f for f in _files(tmp_path / "dir") if f.startswith(".tmp-")]
    assert _interrupt.pending() == []


def test_a_folder_where_creating_files_fails_is_refused(tmp_path, monkeypatch):
    # running as root, a read-only folder is still writable: make the creation itself fail
    real_open = os.open

    def read_only(path, flags, *args):
        if os.path.dirname(os.fspath(path)) == str(tmp_path) and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(ValueError, match=r"cannot write in folder .*Permission denied"):
        _result().save(tmp_path / "run.npz")
    with pytest.raises(ValueError, match="Permission denied"):
        _io.check_folder(tmp_path / "demo", "--out")
    assert _files(tmp_path) == []


def test_check_target_names_the_argument():
    with pytest.raises(ValueError, match="^--out '/proc/x.npz': cannot write"):
        _io.check_target("/proc/x.npz", (".npz",), "--out")
    with pytest.raises(ValueError, match=r"--animate 'x.avi' must end in \.gif or \.mp4"):
        _io.check_target("x.avi", (".gif", ".mp4"), "--animate")
    with pytest.raises(TypeError, match="path must be a path"):
        _io.check_target(3)


# -- one atomic writer ---------------------------------------------------------------------------
def test_atomic_path_registers_its_temporary_file_and_renames_it(tmp_path):
    final = tmp_path / "out.txt"
    with _io.atomic_path(final) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and os.path.basename(tmp).startswith(".tmp-")
        assert tmp.endswith(".txt") and os.path.exists(tmp)
        assert _interrupt.pending() == [tmp]
        with open(tmp, "w") as fh:
            fh.write("done")
    assert final.read_text() == "done" and _interrupt.pending() == [] and _files(tmp_path) == ["out.txt"]
    with pytest.raises(KeyboardInterrupt):
        with _io.atomic_path(tmp_path / "other.txt") as tmp:
            raise KeyboardInterrupt
    assert _files(tmp_path) == ["out.txt"] and _interrupt.pending() == []


def test_the_writers_share_one_atomic_writer():
    import inspect

    from diffusion_conv import result
    from diffusion_conv.render import animation, plots

    for module in (animation, plots, result, _figures):
        source = inspect.getsource(module)
        assert "mkstemp" not in source and "os.replace" not in source, module.__name__
    assert not hasattr(render, "_Writing")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002])
def test_every_output_honours_the_umask(tmp_path, umask):
    res = _result()
    old = os.umask(umask)
    try:
        res.save(tmp_path / "run.npz")
        render.animate(res, tmp_path / "run.gif", dpi=30)
        render.save_text(tmp_path / "table.md", "x")
        render.plot_frame(res, path=tmp_path / "frame.png", dpi=30)
    finally:
        os.umask(old)
    for name in ("run.npz", "run.gif", "table.md", "frame.png"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o666 & ~umask, name


# -- resolution and figure size -------------------------------------------------------------------
@pytest.mark.parametrize(
    "dpi, error, match",
    [
        (0, ValueError, "dpi must be between 10 and 1200 dots per inch, got 0"),
        (-5, ValueError, "dpi must be between"),
        (10**6, ValueError, "got 1000000"),
        ("high", TypeError, "dpi must be a number"),
        (True, TypeError, "dpi must be a number"),
    ],
)
def test_bad_dpi_is_refused_before_drawing(tmp_path, dpi, error, match):
    res = _result()
    for call in (
        lambda: render.animate(res, tmp_path / "a.gif", dpi=dpi),
        lambda: render.plot_frame(res, dpi=dpi),
        lambda: render.plot_profiles(res, tmp_path / "p.png", dpi=dpi),
    ):
        with pytest.raises(error, match=match):
            call()
    assert _files(tmp_path) == []


def test_absurd_figure_sizes_are_refused(tmp_path):
    many = [_result() for _ in range(8)]  # 8 columns, over 20 inches: over 24000 pixels wide at 1200 dpi
    with pytest.raises(ValueError, match=r"[2-9]\d\d\d\d x \d+ pixels.*at most 16384 pixels a side"):
        render.animate(many, tmp_path / "a.gif", dpi=1200)
    from matplotlib.figure import Figure

    with pytest.raises(ValueError, match="pixels"):
        render.save_figure(Figure(figsize=(100, 100)), tmp_path / "f.png", dpi=300)
    assert _files(tmp_path) == []


# -- reading result files --------------------------------------------------------------------------
def _write_npz(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _header(**over):
    h = {"method": "propagator", "elapsed": 0.5, "meta": {"dx": 1.0}}
    h.update(over)
    return np.array(json.dumps(h))


def _damaged(tmp_path, kind):
    good = tmp_path / "good.npz"
    _result().save(good)
    path = tmp_path / f"{kind}.npz"
    data = good.read_bytes()
    n = 4
    ok = dict(steps=np.arange(n), times=np.arange(n) * 1.0, frames=np.zeros((n, 3, 3)), absorbed=np.zeros(n))
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated-end":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt-member":
        with zipfile.ZipFile(good) as z:
            member = z.read("frames.npy")
        with zipfile.ZipFile(path, "w") as z:
            for name in ("header", "steps", "times", "absorbed"):
                z.writestr(f"{name}.npy", zipfile.ZipFile(good).read(f"{name}.npy"))
            z.writestr("frames.npy", member[: len(member) // 2])
    elif kind == "random-bytes":
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    elif kind == "gif":
        render.animate(_result(), tmp_path / "run.gif", dpi=30)
        os.replace(tmp_path / "run.gif", path)
    elif kind == "npy":
        with open(path, "wb") as fh:
            np.save(fh, np.ones(3))
    elif kind == "foreign":
        _write_npz(path, a=np.ones(3))
    elif kind == "no-frames":
        _write_npz(path, header=_header(), steps=ok["steps"], times=ok["times"], absorbed=ok["absorbed"])
    elif kind == "bad-header":
        _write_npz(path, header=np.array("{not json"), **ok)
    elif kind == "header-fields":
        _write_npz(path, header=np.array(json.dumps({"method": 3})), **ok)
    elif kind == "lengths":
        _write_npz(path, header=_header(), **dict(ok, steps=np.arange(3)))
    elif kind == "absorbed-length":
        _write_npz(path, header=_header(), **dict(ok, absorbed=np.zeros(7)))
    elif kind == "steps-order":
        _write_npz(path, header=_header(), **dict(ok, steps=np.array([0, 2, 1, 3])))
    elif kind == "frames-dtype":
        _write_npz(path, header=_header(), **dict(ok, frames=np.full((n, 3), "a")))
    return path


@pytest.mark.parametrize(
    "kind, match",
    [
        ("empty", "is empty"),
        ("truncated-end", "not an .npz archive|damaged"),
        ("corrupt-member", "damaged"),
        ("random-bytes", "not an .npz archive"),
        ("gif", r"not an .npz archive \(it starts with b'GIF8'\)"),
        ("npy", "not an .npz archive"),
        ("foreign", "no header .*its arrays: a"),
        ("no-frames", "arrays frames are missing"),
        ("bad-header", "not valid JSON"),
        ("header-fields", "header without the method"),
        ("lengths", "4 frames but 3 steps, 4 times, 4 absorbed"),
        ("absorbed-length", "4 frames but 4 steps, 4 times, 7 absorbed"),
        ("steps-order", "increasing"),
        ("frames-dtype", "frames must hold"),
    ],
)
def test_load_names_the_file_and_what_is_wrong(tmp_path, kind, match):
    path = _damaged(tmp_path, kind)
    with pytest.raises(ValueError, match=match) as info:
        dc.Result.load(path)
    assert repr(str(path)) in str(info.value)
    assert "pickle" not in str(info.value)


def test_load_of_a_missing_file_and_a_good_one(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        dc.Result.load(tmp_path / "missing.npz")
    res = _result()
    res.save(tmp_path / "r.npz")
    back = dc.Result.load(tmp_path / "r.npz")
    np.testing.assert_array_equal(back.frames, res.frames)


def test_result_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError, match=r"one entry per frame \(3 frames\).*steps of shape \(2,\)"):
        dc.Result("propagator", [0, 1], [0.0, 1.0, 2.0], np.zeros((3, 4)), np.zeros(3), 0.0, {})
    with pytest.raises(ValueError, match="absorbed of shape"):
        dc.Result("propagator", [0, 1, 2], [0.0, 1.0, 2.0], np.zeros((3, 4)), np.zeros(5), 0.0, {})


def test_a_rename_that_fails_at_the_end_removes_the_temporary_file(tmp_path):
    # the target became a folder after the checks: the rename fails, nothing is left behind
    (tmp_path / "out.txt").mkdir()
    with pytest.raises(OSError):
        with _io.atomic_path(tmp_path / "out.txt") as tmp:
            with open(tmp, "w") as fh:
                fh.write("x")
    assert _files(tmp_path) == ["out.txt"] and _interrupt.pending() == []

"""The persistent compilation cache: where it lives, that a second process reads it, that a bad folder never fails."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import diffusion_conv as dc
from diffusion_conv import cache

RUN = (
    "import sys, jax, jax.monitoring, diffusion_conv as dc\n"
    "hits = []\n"
    "jax.monitoring.register_event_listener(lambda event, **kw: hits.append(event.endswith('/cache_hits')))\n"
    "print(dc.enable_compile_cache(sys.argv[1]))\n"
    "res = dc.simulate(dc.Tank.two_compartment((16, 16)), dc.Propagator.gaussian(0.7, ndim=2), 5)\n"
    "print(float(res.mass()[-1]))\n"
    "print('cache hits', sum(hits))\n"
)


def _python(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT"))}
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300, env=env)


def _entries(folder):
    return sorted(f for f in os.listdir(folder) if not f.startswith("."))


def test_the_folder_follows_the_xdg_rules(monkeypatch, tmp_path):
    monkeypatch.delenv("DIFFUSION_CONV_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == str(tmp_path / "xdg" / "diffusion-conv" / "jax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == str(tmp_path / "home" / ".cache" / "diffusion-conv" / "jax")
    monkeypatch.setenv("DIFFUSION_CONV_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == str(tmp_path / "mine")


def test_the_environment_variable_turns_the_command_cache_off(monkeypatch):
    for value, off in (("", False), ("0", False), ("1", True), ("yes", True)):
        monkeypatch.setenv(cache.OFF_VARIABLE, value)
        assert cache.disabled_by_environment() is off


def test_a_path_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="path must be a folder"):
        dc.enable_compile_cache(3)


@pytest.mark.slow
def test_a_second_process_reads_what_the_first_compiled_and_damage_is_compiled_again(tmp_path):
    folder = tmp_path / "cache"
    first = _python(str(folder))
    assert first.returncode == 0, first.stderr
    written = _entries(folder)
    assert written and first.stdout.splitlines()[-1] == "cache hits 0"  # the programs were stored
    second = _python(str(folder))
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[:2] == first.stdout.splitlines()[:2]  # the same folder, the same numbers
    assert int(second.stdout.splitlines()[-1].split()[-1]) >= 1  # read back instead of compiled
    for name in written:  # damaged entries: compiled again, same numbers
        (folder / name).write_bytes(b"not a program")
    third = _python(str(folder))
    assert third.returncode == 0, third.stderr
    assert third.stdout.splitlines()[:2] == first.stdout.splitlines()[:2]


@pytest.mark.slow
def test_an_unwritable_folder_is_a_one_line_warning_not_a_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    out = _python(str(blocker / "jax"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "None" and out.stdout.splitlines()[-1] == "cache hits 0"
    warnings = [line for line in out.stderr.splitlines() if "compilation cache folder" in line]
    assert len(warnings) == 1 and "compiling without a cache" in warnings[0]

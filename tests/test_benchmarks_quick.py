"""The path benchmarks run at their quick size and find what they time (a moved module once broke one unseen)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _quick(name):
    out = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.mark.slow
def test_bench_mobility_times_the_patch_and_the_general_path():
    res = _quick("bench_mobility")
    assert "patch" in res["gel_path"] and "general" in res["general_path"]
    assert res["max_abs_difference_vs_general"] < 1e-12
    assert set(res["times_s"]) == {"open", "mobility 1 everywhere", "gel disc", "gel disc, general path"}


@pytest.mark.slow
def test_bench_walls_times_the_board_on_both_paths():
    res = _quick("bench_walls")
    for row in res["cases"].values():
        assert "general" in row["walls_general_path"] and row["max_abs_difference_vs_general"] < 1e-12

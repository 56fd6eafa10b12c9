"""Every script in ``simulations/`` runs at its smoke size; a failure or a time-out fails the test."""

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(
    p for p in glob.glob(os.path.join(ROOT, "simulations", "*.py")) if not os.path.basename(p).startswith("_")
)  # _script.py is their shared helper
TIMEOUT_S = 900  # guards against a hang only


def test_the_story_scripts_are_all_present():
    names = {os.path.basename(p) for p in SCRIPTS}
    assert {"two_compartment.py", "partitions.py", "kernels.py", "fourier.py", "board_gap.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=[os.path.basename(p) for p in SCRIPTS])
def test_script_runs_at_smoke_size(script, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    env["MPLBACKEND"] = "Agg"
    try:
        proc = subprocess.run(
            [sys.executable, script, "--smoke", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            cwd=str(tmp_path),
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{os.path.basename(script)} --smoke did not finish within {TIMEOUT_S} s")
    assert proc.returncode == 0, f"{os.path.basename(script)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    written = os.listdir(out) if out.is_dir() else []
    assert written, f"{os.path.basename(script)} wrote nothing into --out"
    assert not [f for f in written if f.startswith(".tmp-")], "temporary files left behind"

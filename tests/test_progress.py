"""Progress bars: the compile is its own phase, so the first rate and time left are the computation's."""

from __future__ import annotations

import time

import diffusion_conv as dc
from diffusion_conv import _progress


def test_the_clock_starts_after_the_compile():
    with _progress.bar(100, True, desc="counts", compiles=True) as bar:
        assert "(compiling)" in bar.tqdm.desc
        time.sleep(0.3)  # a compilation
        bar.update(2)
        assert bar.tqdm.n == 2 and "compiling" not in bar.tqdm.desc
        assert bar.tqdm.format_dict["elapsed"] < 0.3  # the sleep is not booked to the first two steps
        bar.update(3)
        assert bar.tqdm.n == 5


def test_a_bar_without_a_compile_counts_from_its_start():
    with _progress.bar(10, True, desc="render", unit="image") as bar:
        time.sleep(0.05)
        bar.update(1)
        assert bar.tqdm.format_dict["elapsed"] >= 0.05 and bar.tqdm.desc == "render"


def test_a_run_shows_the_compile_phase_then_its_steps(capsys):
    tank = dc.Tank.two_compartment((8, 8))
    dc.simulate(tank, dc.Propagator.gaussian(0.6, ndim=2), 50, save_every=10, progress=True)
    err = capsys.readouterr().err
    compiling, computing = err.find("propagator (compiling):"), err.find("propagator:")
    assert 0 <= compiling < computing

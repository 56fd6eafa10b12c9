"""A gel in the tank beside open water, in one run: what a mobility map costs the propagator.

256x256, float64, reflecting, 1000 steps, a 3x3 Gaussian. Timed side by side
(interleaved): the open tank; the same tank with a mobility map of 1 everywhere
(it must cost nothing: the map is dropped); a disc of gel (mobility 0.1)
covering a tenth of the tank (the fast step with the patch around the disc);
and that disc on the general path (the factors applied to every jump of every
cell), checked against the patch result.
"""

from __future__ import annotations

import sys

import numpy as np

from ._common import run_tank_benchmark, tank_header


def _disc(n, fraction=0.1, mobility=0.1):
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    radius = np.sqrt(fraction * n * n / np.pi)
    m = np.ones((n, n))
    m[x**2 + y**2 <= radius**2] = mobility
    return m


def run(size=256, steps=1000, repeats=5):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffusion_conv as dc
    from diffusion_conv.methods import _stencils

    from ._common import general_path, interleaved_medians, machine

    field = np.zeros((size, size))
    field[: size // 2] = 1.0  # salt in the upper half: a front that crosses the gel
    gel = _disc(size)
    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    tanks = {
        "open": dc.Tank(field),
        "mobility 1 everywhere": dc.Tank(field, mobility=np.ones((size, size))),
        "gel disc": dc.Tank(field, mobility=gel),
    }

    def runner(tank):
        return lambda: dc.simulate(tank, prop, steps, save_every=steps).final

    times = dict(zip(tanks, interleaved_medians([runner(t) for t in tanks.values()], repeats)))
    res = dc.simulate(tanks["gel disc"], prop, steps, save_every=steps)
    with general_path():
        general = dc.simulate(tanks["gel disc"], prop, steps, save_every=steps)
        times["gel disc, general path"] = interleaved_medians([runner(tanks["gel disc"])], repeats)[0]
    return {
        "machine": machine(),
        "size": size,
        "steps": steps,
        "dtype": "float64",
        "gel_fraction": float(np.mean(gel < 1)),
        "gel_path": f"{res.meta['path']} ({res.meta['mobility_path']})",
        "general_path": f"{general.meta['path']} ({general.meta['mobility_path']})",
        "patch_fraction": _stencils.PATCH_FRACTION,
        "times_s": times,
        "ratio_ones_over_open": times["mobility 1 everywhere"] / times["open"],
        "ratio_gel_over_open": times["gel disc"] / times["open"],
        "ratio_general_over_open": times["gel disc, general path"] / times["open"],
        "max_abs_difference_vs_general": float(np.max(np.abs(res.final - general.final))),
    }


def main(argv=None) -> dict:
    res, printed = run_tank_benchmark(__doc__, run, argv)
    if printed:
        return res
    print(tank_header(res, f"3x3 Gaussian, a gel disc (mobility 0.1) over {res['gel_fraction']:.1%} of the tank"))
    for name, t in res["times_s"].items():
        print(f"  {name:24s} {t * 1e3:9.1f} ms   {t / res['times_s']['open']:.2f}x the open tank")
    print(
        f"  gel: {res['gel_path']}; general: {res['general_path']}; "
        f"max|patch - general| {res['max_abs_difference_vs_general']:.1e}"
    )
    print(
        f"  ratio gel / open: {res['ratio_gel_over_open']:.2f} (mobility 1 everywhere: {res['ratio_ones_over_open']:.2f})"
    )
    return res


if __name__ == "__main__":
    main(sys.argv[1:])

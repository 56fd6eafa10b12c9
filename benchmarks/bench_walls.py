"""Walls and non-separable kernels beside the fast path, in one run.

256x256, float64, reflecting, 1000 steps, a board with a 16-cell gap across the
middle. Each case is timed with and without the board; the walls cases are also
timed on the general path (the wall masks applied to every jump of every cell,
the path every wall took before the patch correction) so the gain shows in the
same run. Every walls result is checked against the general path.
"""

from __future__ import annotations

import sys

import numpy as np

from ._common import run_tank_benchmark, tank_header


def _board(n, gap=16):
    walls = np.zeros((n, n), bool)
    walls[n // 2] = True
    walls[n // 2, (n - gap) // 2 : (n + gap) // 2] = False
    return walls


def run(size=256, steps=1000, repeats=5):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffusion_conv as dc

    from ._common import general_path, machine, median_time

    walls = _board(size)
    field = np.zeros((size, size))
    field[: size // 2] = 1.0  # salt above the board
    free = dc.Tank(field, boundary="reflect")
    board = dc.Tank(field, boundary="reflect", walls=walls)
    logits = np.random.default_rng(3).normal(size=(3, 3))
    kernels = {
        "gaussian 3x3": dc.Propagator.gaussian(0.7, ndim=2, radius=1),
        "gaussian 7x7": dc.Propagator.gaussian(1.2, ndim=2, radius=3),
        "non-separable 3x3": dc.Propagator.from_logits(logits + logits[::-1, ::-1]),
    }

    def timed(tank, prop):
        return median_time(lambda: dc.simulate(tank, prop, steps, save_every=steps).final, repeats)

    out = {"machine": machine(), "size": size, "steps": steps, "dtype": "float64", "cases": {}}
    base = None
    for name, prop in kernels.items():
        row = {"no_walls_s": timed(free, prop), "walls_s": timed(board, prop)}
        res = dc.simulate(board, prop, steps, save_every=steps)
        row["walls_path"] = f"{res.meta['path']} ({res.meta['walls']})"
        with general_path():
            row["walls_general_s"] = timed(board, prop)
            ref = dc.simulate(board, prop, steps, save_every=steps)
            row["walls_general_path"] = ref.meta["path"]
        row["max_abs_difference_vs_general"] = float(np.max(np.abs(res.final - ref.final)))
        row["ratio_walls_over_no_walls"] = row["walls_s"] / row["no_walls_s"]
        row["ratio_general_walls_over_no_walls"] = row["walls_general_s"] / row["no_walls_s"]
        base = base or row["no_walls_s"]
        row["ratio_no_walls_over_gaussian_3x3"] = row["no_walls_s"] / base
        row["ratio_walls_over_gaussian_3x3"] = row["walls_s"] / base
        out["cases"][name] = row
    return out


def main(argv=None) -> dict:
    res, printed = run_tank_benchmark(__doc__, run, argv)
    if printed:
        return res
    print(tank_header(res, "a board with a 16-cell gap"))
    for name, r in res["cases"].items():
        print(
            f"  {name:18s} no walls {r['no_walls_s'] * 1e3:8.1f} ms   board {r['walls_s'] * 1e3:8.1f} ms "
            f"({r['ratio_walls_over_no_walls']:.2f}x, {r['walls_path']})   general path with the board "
            f"{r['walls_general_s'] * 1e3:8.1f} ms ({r['ratio_general_walls_over_no_walls']:.1f}x)   "
            f"vs gaussian 3x3 {r['ratio_no_walls_over_gaussian_3x3']:.2f}x   max|diff| "
            f"{r['max_abs_difference_vs_general']:.1e}"
        )
    return res


if __name__ == "__main__":
    main(sys.argv[1:])

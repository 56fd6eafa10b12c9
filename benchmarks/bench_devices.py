"""The sharded paths on one device against the plain path, timed in turn (goal: within 10%).

On forced host devices only correctness is meaningful (they share the cores), so
this measures what sharding itself costs: a batch of 16 tanks of 64^2 run with
``devices=1`` (the members spread over a one-device mesh) against the plain
batched run, and one 256^2 grid with a board split over one device against the
same step on one device. A split grid takes the general path on its slabs (every
jump masked by the walls, then the fold and the exchange), so its overhead is
measured against the plain general path; the plain run's own path for walls (the
separable step and the patch) and the plain run without walls are timed beside them.
"""

from __future__ import annotations

import sys

import numpy as np

from ._common import run_from_command_line


def run(quick=False, repeats=15):
    import diffusion_conv as dc

    from ._common import general_path, interleaved_medians, machine, median_time

    out = {"machine": machine()}
    rng = np.random.default_rng(0)
    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)
    members, size, steps = (4, 32, 50) if quick else (16, 64, 200)
    stack = dc.Tank.stack([dc.Tank(rng.random((size, size), dtype=np.float32)) for _ in range(members)])
    plain, sharded = interleaved_medians(
        [lambda: dc.simulate(stack, prop, steps).final, lambda: dc.simulate(stack, prop, steps, devices=1).final],
        repeats,
    )
    out["batch"] = {
        "members": members,
        "size": size,
        "steps": steps,
        "plain_s": plain,
        "sharded_s": sharded,
        "overhead": sharded / plain - 1,
    }

    size, steps = (64, 50) if quick else (256, 200)
    tank = dc.Tank.two_compartment((size, size), axis=1).with_board(
        axis=1, index=size // 2, gap=(size // 2 - 8, size // 2 + 8)
    )
    tank = dc.Tank(np.asarray(tank.concentration, np.float32), walls=tank.walls)
    patch = median_time(lambda: dc.simulate(tank, prop, steps).final, repeats)
    with general_path():  # the plain run on the general path, the split grid's own step
        general = dc.simulate(tank, prop, steps)
        plain, split = interleaved_medians(
            [lambda: dc.simulate(tank, prop, steps).final, lambda: dc.simulate(tank, prop, steps, devices=1).final],
            repeats,
        )
    diff = float(np.max(np.abs(general.final - dc.simulate(tank, prop, steps, devices=1).final)))
    free = dc.Tank(np.asarray(tank.concentration, np.float32))
    halo = median_time(lambda: dc.simulate(free, prop, steps).final, repeats)
    out["split"] = {
        "size": size,
        "steps": steps,
        "plain_walls_s": plain,
        "plain_path": general.meta["path"],
        "split_walls_s": split,
        "overhead": split / plain - 1,
        "max_abs_difference": diff,
        "plain_walls_patch_s": patch,
        "plain_no_walls_halo_s": halo,
    }
    return out


def main(argv=None) -> dict:
    res, printed = run_from_command_line(__doc__, lambda quick: run(quick=quick), argv)
    if printed:
        return res
    b, s = res["batch"], res["split"]
    print(f"sharded paths on one device ({res['machine']['cpu']}, load {res['machine']['load_average']})")
    print(
        f"  batch of {b['members']} x {b['size']}^2, {b['steps']} steps: plain {b['plain_s'] * 1e3:.1f} ms, on a "
        f"one-device mesh {b['sharded_s'] * 1e3:.1f} ms: overhead {b['overhead']:+.1%} (goal within 10%)"
    )
    print(
        f"  one {s['size']}^2 grid with a board, {s['steps']} steps: plain ({s['plain_path']} path) "
        f"{s['plain_walls_s'] * 1e3:.1f} ms, split over one device {s['split_walls_s'] * 1e3:.1f} ms: overhead "
        f"{s['overhead']:+.1%} (goal within 10%); max|diff| {s['max_abs_difference']:.1e}; plain with the patch "
        f"{s['plain_walls_patch_s'] * 1e3:.1f} ms, plain without walls {s['plain_no_walls_halo_s'] * 1e3:.1f} ms"
    )
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)

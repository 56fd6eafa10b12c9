"""Batches against loops: one batched run of many members against a Python loop of single runs.

Three cases, each timed side by side in one run (warm-up first, medians) with the
members compared: 64 tanks of 48^2, 200 steps of a 3x3 Gaussian (a stack of
tanks, goal at least 5x the loop); an ensemble of 64 particle runs of 10^5
particles on a 48^2 tank, 50 steps (a batch of keys, goal at least 5x); and 8
tanks of 256^2, 200 steps (goal: per member at least as fast as one run).
"""

from __future__ import annotations

import sys

import numpy as np

from ._common import run_from_command_line


def run(quick=False, repeats=3):
    import jax

    import diffusion_conv as dc

    from ._common import machine, median_time

    out = {"machine": machine()}
    rng = np.random.default_rng(0)
    prop = dc.Propagator.gaussian(0.7, ndim=2, radius=1)

    # 1. a stack of small tanks
    members, size, steps = (16, 48, 50) if quick else (64, 48, 200)
    tanks = [dc.Tank(rng.random((size, size), dtype=np.float32)) for _ in range(members)]
    stack = dc.Tank.stack(tanks)
    batched = lambda: dc.simulate(stack, prop, steps).final  # noqa: E731
    loop = lambda: [dc.simulate(t, prop, steps).final for t in tanks]  # noqa: E731
    t_b, t_l = median_time(batched, repeats), median_time(loop, repeats)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(batched(), loop()))
    out["tanks"] = {
        "members": members,
        "size": size,
        "steps": steps,
        "batched_s": t_b,
        "loop_s": t_l,
        "ratio": t_l / t_b,
        "max_abs_difference": diff,
    }

    # 2. an ensemble of particle runs
    members, n, steps = (16, 10**4, 20) if quick else (64, 10**5, 50)
    tank = dc.Tank(rng.random((48, 48), dtype=np.float32))
    keys = jax.random.split(jax.random.key(1), members)
    ens = lambda: dc.simulate(tank, prop, steps, method="particles", n_particles=n, key=keys).final  # noqa: E731

    def loop():
        return [
            dc.simulate(tank, prop, steps, method="particles", n_particles=n, key=k).final  # noqa: E731
            for k in keys
        ]

    t_b, t_l = median_time(ens, repeats), median_time(loop, repeats)
    same = all(np.array_equal(a, b) for a, b in zip(ens(), loop()))
    out["ensemble"] = {
        "members": members,
        "n_particles": n,
        "steps": steps,
        "batched_s": t_b,
        "loop_s": t_l,
        "ratio": t_l / t_b,
        "bit_identical": same,
    }

    # 3. a batch of large tanks, per member against one run
    members, size, steps = (4, 128, 50) if quick else (8, 256, 200)
    big = [dc.Tank(rng.random((size, size), dtype=np.float32)) for _ in range(members)]
    stack = dc.Tank.stack(big)
    t_b = median_time(lambda: dc.simulate(stack, prop, steps).final, repeats)
    t_1 = median_time(lambda: dc.simulate(big[0], prop, steps).final, repeats)
    out["large"] = {
        "members": members,
        "size": size,
        "steps": steps,
        "batched_s": t_b,
        "one_s": t_1,
        "per_member_s": t_b / members,
        "one_over_per_member": t_1 / (t_b / members),
    }
    return out


def main(argv=None) -> dict:
    res, printed = run_from_command_line(__doc__, lambda quick: run(quick=quick), argv)
    if printed:
        return res
    t, e, g = res["tanks"], res["ensemble"], res["large"]
    print(
        f"batches against loops ({res['machine']['cpu']}, {res['machine']['cores']} cores, load "
        f"{res['machine']['load_average']})"
    )
    print(
        f"  {t['members']} tanks of {t['size']}^2, {t['steps']} steps: batched {t['batched_s'] * 1e3:.1f} ms, loop "
        f"{t['loop_s'] * 1e3:.1f} ms: {t['ratio']:.1f}x (goal 5x), max|diff| {t['max_abs_difference']:.1e}"
    )
    print(
        f"  {e['members']} particle runs of {e['n_particles']}, {e['steps']} steps: batched {e['batched_s']:.2f} s, "
        f"loop {e['loop_s']:.2f} s: {e['ratio']:.1f}x (goal 5x), bit identical: {e['bit_identical']}"
    )
    print(
        f"  {g['members']} tanks of {g['size']}^2, {g['steps']} steps: {g['per_member_s'] * 1e3:.1f} ms per member, "
        f"one run {g['one_s'] * 1e3:.1f} ms: {g['one_over_per_member']:.2f}x (goal >= 1)"
    )
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)

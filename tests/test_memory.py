"""The memory estimate is each method's own: it bounds what the method's compiled program allocates, it counts
the frames and extras a run returns exactly, and ``simulate`` and the command refuse the same oversized run."""

import jax
import numpy as np
import pytest

import diffusion_conv as dc
from diffusion_conv import cli
from diffusion_conv.methods.base import MEMORY_PARTS, Sizes
from diffusion_conv.simulation import Plan

N = 96
FACTOR = 3
"""The estimate of the device's working arrays is at least what the method's program allocates (its
arguments, outputs and temporaries, from XLA's own memory analysis) and at most this many times it
(one estimate per method covers every boundary and path: the transforms of a reflecting axis take
twice the memory of a periodic one's)."""


def _problem(walls, kernel, boundary="reflect"):
    c = np.random.default_rng(0).random((N, N))
    tank = dc.Tank(c, boundary=boundary)
    if walls:
        tank = tank.with_board(axis=1, index=N // 2, gap=(N // 2 - 4, N // 2 + 4))
    if kernel == "gaussian":
        prop = dc.Propagator.gaussian(0.8, ndim=2, radius=1)
    else:
        prop = dc.Propagator.from_logits(np.random.default_rng(1).normal(size=(5, 5)))
    return tank, prop


CASES = [
    ("propagator", {}, False, "gaussian"),
    ("propagator", {}, False, "logits"),
    ("propagator", {}, True, "gaussian"),
    ("propagator", {}, True, "logits"),
    pytest.param("counts", dict(n_particles=10**5), False, "gaussian", marks=pytest.mark.slow),  # compiling: 3 s
    pytest.param("counts", dict(n_particles=10**5), True, "logits", marks=pytest.mark.slow),
    ("particles", dict(n_particles=4 * N * N), False, "gaussian"),
    ("particles", dict(n_particles=4 * N * N, track=100), True, "logits"),
    ("spectral", dict(transforms="jax"), False, "gaussian"),
    ("spectral", dict(transforms="jax", boundary="periodic"), False, "gaussian"),
    ("heat", {}, False, "gaussian"),
    ("heat", dict(boundary="periodic"), False, "gaussian"),
]


def _allocated(plan):
    """Bytes XLA allocates for the method's own program: init, ten steps, a frame and its extras."""
    m, g, tank = plan.method, plan.groups[0], plan.tank

    def run(conc, weights, key, prepared):
        one = jax.tree_util.tree_map(lambda x: x[0], prepared)
        st = m.init(
            tank.like(conc[0]),
            dc.Propagator._trusted(weights[0]),
            key=key,
            n_particles=plan.n_particles,
            prepared=one,
            **plan.options,
        )
        st = m.advance(st, 10)
        return st, m.observe(st), m.extras(st)

    key = plan.key
    stats = jax.jit(run).lower(g.conc, g.weights, key, g.prepared).compile().memory_analysis()
    return (
        stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes - stats.alias_size_in_bytes
    )


@pytest.mark.parametrize("method, kw, walls, kernel", CASES, ids=lambda c: str(c))
def test_each_method_s_estimate_bounds_what_its_program_allocates(method, kw, walls, kernel):
    kw = dict(kw)
    tank, prop = _problem(walls, kernel, kw.pop("boundary", "reflect"))
    if kw.get("n_particles"):
        kw = dict(kw, key=jax.random.key(0))
    options = {k: v for k, v in kw.items() if k not in ("n_particles", "key")}
    plan = Plan(tank, prop, 40, method, 10, None, 1.0, kw.get("n_particles"), kw.get("key"), options)
    parts = plan.memory_parts
    assert set(parts) == set(MEMORY_PARTS) and plan.memory == sum(parts.values())
    device = _allocated(plan)
    estimate = parts["working"] + parts["particles"]
    assert device <= estimate <= FACTOR * device, (estimate / device, estimate, device)


@pytest.mark.parametrize(
    "method, kw",
    [
        ("propagator", {}),
        ("particles", dict(n_particles=500, track=7)),
        pytest.param("counts", dict(n_particles=500), marks=pytest.mark.slow),
        ("image", {}),
    ],
)
def test_the_frames_and_extras_parts_are_what_a_run_returns(method, kw):
    tank, prop = dc.Tank(np.random.default_rng(0).random((12, 10))), dc.Propagator.box(3, ndim=2)
    if kw.get("n_particles"):
        kw = dict(kw, key=jax.random.split(jax.random.key(0), 3))
    res = dc.simulate(tank, prop, 9, method=method, save_every=2, **kw)
    options = {k: v for k, v in kw.items() if k not in ("n_particles", "key")}
    parts = dc.methods.get(method).memory(
        Sizes.of(tank, prop),
        {"track": 0, **options},
        kw.get("n_particles"),
        len(res.steps),
        int(np.prod(res.batch_shape)),
        res.frames.itemsize,
    )
    assert parts["frames"] == res.frames.nbytes
    assert parts["extras"] == sum(v.nbytes for v in res.extras.values())


@pytest.mark.parametrize("steps, save_every, refused", [(400, 1, True), (400, 100, False)])
def test_simulate_and_the_command_refuse_the_same_oversized_run(monkeypatch, capsys, steps, save_every, refused):
    """The same limit (DIFFUSION_CONV_MEMORY_LIMIT), the same estimate: both refuse, or both run."""
    monkeypatch.setenv("DIFFUSION_CONV_MEMORY_LIMIT", str(48 * 2**20))
    sc = dc.scenarios.get("point", size=128)
    argv = [
        "run",
        "point",
        "--size",
        "128",
        "--steps",
        str(steps),
        "--save-every",
        str(save_every),
        "--method",
        "propagator",
        "--json",
    ]
    code = cli.main(argv)
    err = capsys.readouterr().err
    if refused:
        assert code == 2 and "--save-every 1: the run needs about" in err and "GiB" not in err, err
        with pytest.raises(ValueError, match=r"would hold about [\d.]+ MiB"):
            dc.simulate(sc.tank, sc.propagator, steps, save_every=save_every)
    else:
        assert code == 0, err
        dc.simulate(sc.tank, sc.propagator, steps, save_every=save_every)

"""The binomial sampler on its hard inputs: every loop ends, every draw is a count in [0, n].

The float32 CDF walk used to spin forever where rounding left the float CDF at or below the
uniform and the next term underflowed (the body stopped moving while the condition still held):
``diffusion-conv compare slit`` hung with one key. These checks run the sampler where that can
happen, and the hanging case itself in a subprocess, so that a hang fails instead of stalling.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from diffusion_conv.methods import _sampling as smp
from diffusion_conv.random import _binomial

SLIT = """
import json
import jax
import numpy as np
import diffusion_conv as dc
assert not jax.config.jax_enable_x64
sc = dc.scenarios.get("slit")
key = jax.random.split(jax.random.key(0), 2)[1]
res = dc.simulate(sc.tank, sc.propagator, sc.steps, method="counts", save_every=sc.save_every,
                  n_particles=sc.n_particles, key=key)
counts = np.asarray(res.extras["counts"])
print(json.dumps({"dtype": str(counts.dtype), "last_step": int(res.steps[-1]), "steps": sc.steps,
                  "n_particles": sc.n_particles,
                  "totals": sorted(set(counts.sum(axis=(1, 2), dtype=np.int64).tolist())),
                  "min": int(counts.min()), "absorbed": res.meta["particles_absorbed"]}))
"""


@pytest.mark.slow
def test_slit_counts_with_the_key_that_hung_finish_and_conserve_particles():
    """The reported case: float32 (x64 off, as the CLI runs), the slit scenario, the second split key.

    Its step 980 or so holds a cell whose float32 CDF of Binomial(25, 0.0132) stops at
    1 - 2**-23, equal to its uniform; the old walk never ended there.
    """
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env["JAX_ENABLE_X64"] = "0"
    try:
        proc = subprocess.run([sys.executable, "-c", SLIT], capture_output=True, text=True, timeout=600, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("the counts run of the slit scenario did not finish within 600 s (the sampler hangs)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["dtype"] == "int32"
    assert out["last_step"] == out["steps"]
    assert out["min"] >= 0 and out["absorbed"] == 0
    assert out["totals"] == [out["n_particles"]]  # every frame holds every particle: closed tank, exact counts


# -- the loops on their own ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cdf_walk_ends_when_rounding_leaves_the_cdf_below_the_largest_uniform(dtype):
    """u at its largest value, where the float CDF can end at or below it: every walk ends in [0, n].

    Binomial(25, 0.013171265) is the cell that hung in float32: its float CDF sums to 1 - 2**-23.
    """
    u_max = np.asarray(1 - np.finfo(dtype).eps / 2 if dtype == np.float64 else 1 - 2.0**-23, dtype)
    n = np.array([25, 25, 1, 3, 19, 40, 700, 1000, 2**20, 2**24, 0, 9], dtype)
    q = np.array([0.013171265, 0.2, 0.5, 0.4, 0.5, 0.24, 0.0142, 0.00999, 9e-6, 5.9e-7, 0.3, 0.0], dtype)
    n = np.tile(n, 40)
    q = np.tile(q, 40) * np.repeat(np.linspace(1, 0.99, 40), 12).astype(dtype)
    k = np.asarray(jax.jit(_binomial._inversion)(jnp.full(n.shape, u_max), jnp.asarray(n), jnp.asarray(q)))
    assert k.dtype == dtype and np.all(k == np.rint(k)) and np.all((k >= 0) & (k <= n))
    # the largest uniform picks the far tail: at least the 1 - 1e-5 quantile (and n where q = 0 is not)
    tail = stats.binom.ppf(1 - 1e-5, n, q)
    assert np.all(k >= np.minimum(tail, n)), (n[k < tail], q[k < tail], k[k < tail])
    assert np.all(k[q == 0] == 0) and np.all(k[n == 0] == 0)


def test_cdf_walk_at_its_round_bound_returns_the_count_reached(monkeypatch):
    """With the bound lowered to 3 rounds, walks stop there with a count in [0, n] (no garbage)."""
    monkeypatch.setattr(_binomial, "_INVERSION_ROUNDS", 3)
    u = jnp.asarray([0.999, 0.3, 0.01, 0.999])
    n, q = jnp.asarray([50.0, 50.0, 50.0, 2.0]), jnp.asarray([0.05, 0.05, 0.05, 0.5])
    k = np.asarray(_binomial._inversion(u, n, q))
    want = np.minimum(stats.binom.ppf(np.asarray(u), np.asarray(n), np.asarray(q)), 3)
    np.testing.assert_array_equal(k, want)


def test_btrs_at_its_proposal_bound_gives_the_mode_to_draws_still_open(monkeypatch):
    """With one proposal allowed, rejected draws take the mode floor((n + 1) q); the rest are proposals."""
    n = jnp.full((100_003,), 800.0)
    p = jnp.asarray(0.3)
    exact = np.asarray(jax.jit(smp.binomial)(jax.random.key(5), n, p))
    monkeypatch.setattr(_binomial, "_BTRS_PROPOSALS", 1)
    one = np.asarray(jax.jit(lambda k, n, p: smp.binomial(k, n, p))(jax.random.key(5), n, p))  # traced anew
    assert np.all(one == np.rint(one)) and np.all((one >= 0) & (one <= 800))
    mode = np.floor(801 * 0.3)
    first = one != mode
    assert 0.75 < first.mean() < 0.95  # BTRS accepts its first proposal about 86% of the time
    np.testing.assert_array_equal(one[first], exact[first])  # an accepted first proposal is the draw itself


# -- the whole sampler on its hard inputs, over many keys --------------------------------------------
def _hard_inputs(dtype):
    """(n, p) pairs where the sampler is hardest: tiny q, q near 1/2, n q near 10, the largest n, p in {0, 1}."""
    big = 2.0**24 if dtype == np.float32 else 2.0**53
    cases = [
        (25, 0.013171265),
        (1000, 1e-30),
        (1000, 1e-7),
        (2**20, 1e-9),
        (big, 1e-12),
        (big, 5.9e-7 if dtype == np.float32 else 1e-15),
        (19, 0.5),
        (20, 0.5),
        (21, 0.5),
        (1000, 0.4999999),
        (1000, 0.5000001),
        (big, 0.5),
        (big, 0.4999),
        (1000, 0.00999),
        (1000, 0.01001),
        (10_000, 0.000999),
        (10_000, 0.001001),
        (20, 0.4999),
        (21, 0.48),
        (1000, 1 - 0.00999),
        (1000, 1 - 0.01001),
        (big, 1 - 1e-7),
        (big, 0.3),
        (big, 1e-6),
        (big - 1, 0.7),
        (0, 0.0),
        (0, 0.3),
        (0, 1.0),
        (7, 0.0),
        (7, 1.0),
        (big, 0.0),
        (big, 1.0),
        (1, 0.5),
        (1, 1e-9),
    ]
    n, p = (np.array(x, dtype) for x in zip(*cases))
    return n, p


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_draws_over_200_keys_on_hard_inputs_are_counts_in_range(dtype):
    n, p = _hard_inputs(dtype)
    m = 64  # each pair repeated, so that both the compacted and the in-place CDF walk run
    nn, pp = jnp.asarray(np.repeat(n, m)), jnp.asarray(np.repeat(p, m))
    keys = jax.random.split(jax.random.key(2024), 200)
    draw = jax.jit(jax.vmap(lambda k: smp.binomial(k, nn, pp)))
    x = np.asarray(draw(keys)).reshape(200, n.size, m)
    assert x.dtype == dtype
    assert np.all(np.isfinite(x)) and np.all(x == np.rint(x))
    assert np.all(x >= 0) and np.all(x <= n[None, :, None])
    assert np.all(x[:, p == 0] == 0) and np.all(x[:, n == 0] == 0)
    assert np.all(x[:, p == 1] == n[p == 1][None, :, None])
    # the mean of every pair within 6 standard errors (the exact variance n p (1 - p), float rounding aside)
    mean = x.mean(axis=(0, 2))
    se = np.sqrt(n * p * (1 - p) / (200 * m)) + np.abs(n) * np.finfo(dtype).eps * 4
    z = (mean - n * p) / np.where(se > 0, se, 1)
    assert np.all(np.abs(z) < 6), [(float(a), float(b), float(c)) for a, b, c in zip(n, p, z) if abs(c) >= 6]


def _chi2_pvalue(draws, n, p, bins=40):
    """Chi-square p-value of integer draws against Binomial(n, p), binned at the exact quantiles.

    About ``bins`` bins of equal probability, so that a wide distribution (n = 2**24) is binned as
    finely as a narrow one, and cuts at the 2e-4 and 1e-3 tail quantiles, so that the tails are
    seen; adjacent bins are merged until each expects at least 20 draws.
    """
    levels = np.concatenate([np.arange(1, bins) / bins, [2e-4, 1e-3, 1 - 1e-3, 1 - 2e-4]])
    cuts = np.unique(stats.binom.ppf(levels, n, p)).astype(np.int64)
    cuts = cuts[cuts > 0]
    expected = np.diff(np.concatenate([[0.0], stats.binom.cdf(cuts - 1, n, p), [1.0]])) * draws.size
    observed = np.bincount(np.searchsorted(cuts, draws.astype(np.int64), side="right"), minlength=expected.size)
    exp, obs = [0.0], [0]
    for e, o in zip(expected, observed):
        if exp[-1] >= 20:
            exp.append(0.0)
            obs.append(0)
        exp[-1] += e
        obs[-1] += o
    if exp[-1] < 20:  # the last bin joins the one before
        exp[-2:], obs[-2:] = [exp[-2] + exp[-1]], [obs[-2] + obs[-1]]
    assert len(exp) >= 3
    return stats.chisquare(obs, np.array(exp) * sum(obs) / sum(exp)).pvalue


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "n,p",
    [
        (25, 0.013171265),
        (1000, 0.00999),
        (1000, 0.01001),
        (19, 0.5),
        (21, 0.5),
        (2**24, 5.9e-7),
        (2**24, 0.5),
        (2**24, 0.993),
    ],
)
def test_hard_draws_follow_the_binomial_pmf(dtype, n, p):
    x = np.asarray(
        jax.jit(smp.binomial)(jax.random.key(n % 1000 + 7), jnp.full((100_003,), n, dtype), jnp.asarray(p, dtype))
    )
    assert _chi2_pvalue(x, n, p) > 1e-4


def test_a_shifted_sampler_fails_the_pmf_check():
    """The check can fail: draws of Binomial(2**24, 0.5) shifted by a tenth of a standard deviation."""
    x = np.random.default_rng(1).binomial(2**24, 0.5, size=100_003) + 205
    assert _chi2_pvalue(x, 2**24, 0.5) < 1e-4


@pytest.mark.parametrize("dtype,tol", [(np.float32, 3e-3), (np.float64, 1e-6)])
@pytest.mark.parametrize("n,q", [(2**24, 0.5), (2**24 - 1, 0.37), (2**24, 1e-6), (2**20, 0.5), (3000, 0.3), (21, 0.5)])
def test_btrs_acceptance_bound_is_the_log_pmf_ratio_at_large_n(dtype, tol, n, q):
    """BTRS accepts k where log v' <= log(f(k) / f(m)): that log must be right to well below 1 over +-6 sd.

    The sum of Stirling terms of size n used to cancel to a value off by about 1 in float32 at n = 2**24.
    """
    nf, qf = dtype(n), dtype(q)
    m = np.floor((nf + dtype(1)) * qf)
    sd = np.sqrt(n * q * (1 - q))
    k = np.clip(np.round(m + np.linspace(-6, 6, 1001) * sd), 0, n).astype(dtype)  # one shape: one program

    def ratio(k):
        return _binomial._log_pmf_ratio(jnp.full(k.shape, nf), jnp.full(k.shape, qf), jnp.full(k.shape, m), k)

    got = np.asarray(jax.jit(ratio)(jnp.asarray(k)), np.float64)
    nn, qq, mm, kk = float(nf), float(qf), float(m), k.astype(np.float64)
    want = (
        special.gammaln(mm + 1)
        + special.gammaln(nn - mm + 1)
        - special.gammaln(kk + 1)
        - special.gammaln(nn - kk + 1)
        + (kk - mm) * np.log(qq / (1 - qq))
    )
    assert np.abs(got - want).max() < tol + 1e-15 * nn

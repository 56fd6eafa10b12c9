"""What the two stochastic methods share: the checks of their tank, their order, their units, and the exact
sums behind their mass per particle and their sampling thresholds.

Every number the stochastic methods derive from the field or the kernel (the
mass of a particle, the thresholds a random word is compared with) is computed
by one sequence of floating-point operations, written once for numpy and JAX
(``xp``): host-side preparation of concrete inputs and the traced path under
``jax.jit``/``vmap`` then give the same bits, and the same key gives the same
draws whether the tank and the kernel are concrete or traced, in float32 and in
float64. The sums are compensated (each addition's rounding error is carried
along, Neumaier's pairs ``(hi, lo)``) so that they are accurate to about
``eps**2`` of the dtype, as accurate as float64 sums were for float32 input.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from .. import _checks
from ..errors import InputError
from ..lattice.mobility import jump_factors, member_factors
from .base import Order, lead

_BLOCK = 64
"""Entries summed one after another in a row of the prefix sums; longer axes are summed in rows of this many,
then the rows' totals (recursively): ``O(n)`` work in ``O(log n / log 64)`` passes of ``64`` steps."""


def check_stochastic_tank(tank) -> None:
    """Particles need somewhere to start: a finite, non-negative field with a positive mass.

    A concrete field is checked here; a traced one is checked where it is used
    (:func:`field_problem`: its frames become NaN, and ``checkify`` reports why).
    """
    if not _checks.is_concrete(tank.concentration):
        return
    c = np.asarray(tank.concentration)
    _checks.finite("concentration", c)
    if np.any(c < 0):
        raise InputError(
            f"the stochastic methods need a non-negative concentration (particles cannot be negative); "
            f"its minimum is {c.min()!r}. Use a deterministic method for signed fields"
        )
    per_member = c.reshape(c.shape[: c.ndim - tank.ndim] + (-1,)).sum(axis=-1, dtype=np.float64)
    if not np.all(per_member > 0):
        raise InputError("the tank holds no mass: the stochastic methods need a positive initial mass to place")


def field_problem(concentration, weights=None):
    """For traced inputs: whether the field (and the kernel's weights) are ones the stochastic methods can sample.

    Returns a boolean scalar (per vmapped member), False where the field holds a
    non-finite or negative value or no mass, or the weights a non-finite or
    negative value; under ``jax.experimental.checkify`` each failure is reported
    in the words of the concrete checks. The methods make their frames NaN where
    it is False, so a field they cannot place never gives a plausible number.
    """
    c = jnp.asarray(concentration)
    finite = jnp.all(jnp.isfinite(c))
    nonneg = jnp.all(c >= 0)
    positive = jnp.sum(jnp.where(finite & nonneg, c, 0)) > 0
    checkify.debug_check(finite, "concentration must be finite; it holds NaN or infinite values")
    checkify.debug_check(
        nonneg,
        "the stochastic methods need a non-negative concentration (particles cannot be negative); its minimum is {m}",
        m=jnp.min(c),
    )
    checkify.debug_check(
        positive | ~(finite & nonneg),
        "the tank holds no mass: the stochastic methods need a positive initial mass to place",
    )
    ok = finite & nonneg & positive
    if weights is not None:
        w = jnp.asarray(weights)
        w_ok = jnp.all(jnp.isfinite(w)) & jnp.all(w >= 0)
        checkify.debug_check(w_ok, "weights must be finite and non-negative for the stochastic methods")
        ok = ok & w_ok
    return ok


def sampling_order() -> Order:
    """The law of large numbers: the error against the expectation falls like ``N ** -1/2``."""
    return Order(
        -0.5, "n_particles", "propagator", "sampling noise: each cell's count is binomial, its relative spread ~ N^-1/2"
    )


def to_concentration(counts, absorbed_counts, unit, cell):
    """``(frame, absorbed)`` from particle counts: ``counts * unit / cell`` in the unit's dtype and the absorbed mass.

    ``unit`` is the mass of one particle (initial mass / N) and ``cell`` the cell
    volume ``dx**ndim``, so a frame's mass is exactly the surviving share of the
    initial mass.
    """
    per_cell = true_divide(unit, cell)
    return (counts.astype(unit.dtype) * per_cell, absorbed_counts.astype(unit.dtype) * unit)


# -- exact sums, one sequence of operations for numpy and JAX -----------------------------------------------------
def _xp(x):
    return np if _checks.is_concrete(x) else jnp


def _floating(x, xp):
    """``x`` as an array of its own floating dtype, or of the default float dtype when it is not floating."""
    x = xp.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(_checks.float_dtype())
    return x


def _two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``a + b = s + e`` exactly (Knuth's branch-free TwoSum)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _barrier(x, xp=jnp):
    """``x`` as XLA cannot see through: no producer fused into the sums that read it (a multiply-add rounds
    differently from numpy), no division by it turned into a multiplication by its reciprocal, no constant folded."""
    return x if xp is np else jax.lax.optimization_barrier(x)


def true_divide(a, b):
    """``a / b`` rounded once, in every program: XLA turns a division by a constant or by a broadcast scalar (as
    under ``jax.vmap``) into a multiplication by the reciprocal, which rounds twice; a divisor computed from ``a``
    itself, behind a barrier, is neither."""
    a = jnp.asarray(a)
    return a / _barrier(a * 0 + jnp.asarray(b, a.dtype))


def _running(hi, lo, xp):
    """Inclusive compensated prefix sums of pairs ``(hi, lo)`` along the last axis, one entry after another."""
    n = hi.shape[-1]
    if xp is np or n <= 16:
        out_h, out_l = [], []
        sh, sl = hi[..., 0], lo[..., 0]
        out_h.append(sh)
        out_l.append(sl)
        for j in range(1, n):
            sh, e = _two_sum(sh, hi[..., j])
            sl = sl + lo[..., j] + e
            out_h.append(sh)
            out_l.append(sl)
        return xp.stack(out_h, axis=-1), xp.stack(out_l, axis=-1)

    def body(carry, x):
        sh, sl = carry
        sh, e = _two_sum(sh, x[0])
        sl = sl + x[1] + e
        return (sh, sl), (sh, sl)

    xs = (jnp.moveaxis(hi[..., 1:], -1, 0), jnp.moveaxis(lo[..., 1:], -1, 0))
    first = (hi[..., 0], lo[..., 0])
    _, (rh, rl) = jax.lax.scan(body, first, xs)
    rh = jnp.concatenate([first[0][None], rh], axis=0)
    rl = jnp.concatenate([first[1][None], rl], axis=0)
    return jnp.moveaxis(rh, 0, -1), jnp.moveaxis(rl, 0, -1)


def _prefix_pairs(hi, lo, xp):
    n = hi.shape[-1]
    if n <= _BLOCK:
        return _running(hi, lo, xp)
    lead = hi.shape[:-1]
    rows = -(-n // _BLOCK)
    pad = [(0, 0)] * len(lead) + [(0, rows * _BLOCK - n)]
    hr = xp.pad(hi, pad).reshape(lead + (rows, _BLOCK))
    lr = xp.pad(lo, pad).reshape(lead + (rows, _BLOCK))
    rh, rl = _running(hr, lr, xp)  # within each row
    th, tl = _prefix_pairs(rh[..., -1], rl[..., -1], xp)  # the rows' running totals
    zero = xp.zeros(lead + (1,), hi.dtype)
    oh = xp.concatenate([zero, th[..., :-1]], axis=-1)[..., None]  # what comes before each row
    ol = xp.concatenate([zero, tl[..., :-1]], axis=-1)[..., None]
    sh, e = _two_sum(rh, oh)
    sl = rl + ol + e
    return sh.reshape(lead + (-1,))[..., :n], sl.reshape(lead + (-1,))[..., :n]


def prefix_sums(x):
    """Inclusive prefix sums along the last axis as pairs ``(hi, lo)``: ``hi + lo`` is the sum to about ``eps**2``.

    numpy for a concrete ``x``, JAX for a traced one, by the same operations in
    the same order (so the same bits: IEEE additions are exact-rounded in both).
    """
    xp = _xp(x)
    x = _floating(x, xp)
    if x.shape[-1] == 0:
        return x, x
    return _prefix_pairs(x, xp.zeros_like(x), xp)


def exact_total(x):
    """The sum over the last axis, compensated (to about ``eps**2``), rounded once to ``x``'s dtype."""
    xp = _xp(x)
    x = _floating(x, xp)
    if x.shape[-1] == 0:
        return xp.zeros(x.shape[:-1], x.dtype)
    hi, lo = prefix_sums(x)
    return hi[..., -1] + lo[..., -1]


def initial_mass(tank):
    """The initial mass of each member of a tank, ``sum(c) * dx**ndim``, in the tank's dtype.

    The stochastic methods' mass per particle comes from it: the same bits for a
    concrete tank (numpy, before the run) and a traced one (inside the program),
    and whichever program runs them (one run, a batch, a grid split across devices).
    """
    c = tank.concentration
    xp = _xp(c)
    c = _floating(c, xp)
    c = c.reshape(c.shape[: c.ndim - tank.ndim] + (-1,))
    return exact_total(c) * c.dtype.type(tank.dx**tank.ndim)


def host_mass(tank):
    """:func:`initial_mass` of a concrete tank (numpy)."""
    return initial_mass(tank.like(np.asarray(tank.concentration), tank._batch))


def thresholds(weights):
    """uint32 thresholds ``floor(cdf * 2**31)`` of the first ``K - 1`` normalised cumulative weights (last axis).

    A 31-bit random number ``b`` picks category ``#{j : b >= thr[j]}``: category
    ``k`` with probability ``w[k] / sum(w)`` resolved to ``2**-31`` (and to the
    relative rounding of the weights' dtype), exactly 0 where ``w[k] = 0``.

    The weights are scaled by ``1 / sum(w)`` (one rounding per weight, so a tiny
    weight keeps its share), summed with compensation (:func:`prefix_sums`), and
    what the scaled weights miss of 1 is given to the largest weight; a weight
    of 0 gets an empty category, and none lies past the last positive weight.
    numpy for concrete weights, JAX for traced ones, with the same bits: the
    draws of a key do not depend on whether the kernel or the field was traced.
    """
    xp = _xp(weights)
    w = _floating(weights, xp)
    k = w.shape[-1]
    if k <= 1:
        return xp.zeros(w.shape[:-1] + (0,), np.uint32)
    dtype = w.dtype.type
    finite = xp.isfinite(w)
    w = xp.where(finite & (w > 0), w, dtype(0))  # traced input is checked elsewhere: keep the arithmetic defined
    total = exact_total(w)[..., None]
    scale = dtype(1) / xp.where(total > 0, total, dtype(1))
    v = _barrier(w * scale, xp)
    hi, lo = prefix_sums(v)
    # what the scaled weights miss of 1 goes to the largest weight: thresholds from it on move by that much
    miss = (dtype(1) - hi[..., -1:]) - lo[..., -1:]
    largest = xp.argmax(v, axis=-1)[..., None]
    hi, lo = hi[..., :-1], lo[..., :-1] + xp.where(xp.arange(k - 1) >= largest, miss, dtype(0))
    top = dtype(2.0**31)
    h = hi * top  # exact: a power of two
    t = xp.floor(h)
    f = xp.floor((h - t) + lo * top)  # h - t is exact; f is a small integer (a few units)
    # t + f in uint32, clipped to [0, 2**31] only once combined (t may pass 2**31 by what f takes back)
    t = xp.clip(t, dtype(0), dtype(2.0**31 + 2.0**29)).astype(np.uint32)
    f = xp.clip(f, dtype(-(2.0**29)), dtype(2.0**29))
    step = xp.abs(f).astype(np.uint32)
    thr = xp.minimum(xp.where(f < 0, t - xp.minimum(t, step), t + step), np.uint32(2**31))
    # a zero weight: an empty category (the previous threshold); past the last positive weight: never drawn
    positive = w > 0
    later = _cumulative_any_after(positive, xp)
    thr = xp.where(later, xp.where(positive[..., :-1], thr, np.uint32(0)), np.uint32(2**31))
    return _cummax(thr, xp)


def _cumulative_any_after(flags, xp):
    """``out[..., j] = any(flags[..., j + 1:])`` for ``j < K - 1``."""
    f = flags[..., 1:].astype(np.int32)
    if xp is np:
        return np.flip(np.maximum.accumulate(np.flip(f, -1), axis=-1), -1) > 0
    return jax.lax.cummax(f, axis=f.ndim - 1, reverse=True) > 0


def _cummax(x, xp):
    if xp is np:
        return np.maximum.accumulate(x, axis=-1) if x.shape[-1] else x
    return jax.lax.cummax(x, axis=x.ndim - 1) if x.shape[-1] else x


# -- the mobility rule, sampled -----------------------------------------------------------------------------------
def mobility_of(tank):
    """The tank's mobility map (None where it is 1 everywhere: the walk is the wall rule's alone)."""
    return getattr(tank, "mobility", None)


def prepared_factors(tank, prop, batch):
    """The jump factors ``a(x, x + d)`` of a concrete mobility map on the host: ``(*lead, K, *shape)`` in the
    tank's dtype with the map's batch axes re-laid for ``batch``; None without a map or for a traced one
    (:func:`traced_factors` computes it inside the program)."""
    m = mobility_of(tank)
    if m is None or not _checks.is_concrete(m):
        return None
    own = np.shape(m)[: np.ndim(m) - tank.ndim]
    a = member_factors(m, tank.shape, prop.radius, tuple(str(b) for b in tank.boundary))
    return lead(a.astype(np.dtype(tank.dtype)), own, batch)


def prepared_bytes(prepared, name) -> int:
    """The bytes of the prepared array ``name`` over the groups of a plan (0 where none holds one)."""
    return sum(
        int(np.asarray(p.arrays[name]).nbytes)
        for p in prepared or ()
        if p is not None and p.arrays.get(name) is not None
    )


def traced_factors(tank, prop):
    """The jump factors of one member's mobility map inside the program (JAX, differentiable); None without one."""
    m = mobility_of(tank)
    if m is None:
        return None
    bnd = tuple(str(b) for b in tank.boundary)
    return jump_factors(jnp.asarray(m), prop.radius, bnd).astype(tank.dtype)


def cell_weights(weights, factors):
    """Per cell, the probabilities of its categories: jump by offset ``k`` with ``w_k a_k(x)``, and stay.

    Parameters
    ----------
    weights : array ``(K,)``
        The kernel's weights in the order of the offsets (odd sizes: the zero
        offset is the middle one, ``K // 2``, whose factor is 1).
    factors : array ``(K, *shape)``
        :func:`~diffusion_conv.lattice.mobility.jump_factors`.

    Returns
    -------
    array ``(K, *shape)``: ``w_k a_k(x)`` for the jumps, and for the zero offset
    the probability of staying, ``w_0 + sum_k w_k (1 - a_k(x))`` (summed one
    offset after another, each product behind a barrier, so every program that
    computes it gets the same bits).
    """
    k = factors.shape[0]
    w = jnp.asarray(weights, factors.dtype).reshape((k,) + (1,) * (factors.ndim - 1))
    taken = _barrier(w * factors)
    refused = _barrier(w * (1 - factors))
    mid = k // 2
    stay = jnp.broadcast_to(w[mid], factors.shape[1:])
    for j in range(k):
        if j != mid:
            stay = stay + refused[j]
    return taken.at[mid].set(stay)

"""Run several methods on one problem and measure how far each is from a reference."""
from __future__ import annotations

import json

import numpy as np

from . import _checks
from .simulate import METHODS, STOCHASTIC, Result, simulate


def _pair(a, b):
    """``a`` and ``b`` as float64 arrays of one shape; ValueError naming both shapes otherwise."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def max_error(a, b) -> float:
    """``max |a - b|`` of two arrays of the same shape."""
    a, b = _pair(a, b)
    return float(np.max(np.abs(a - b)))


def rel_l2_error(a, b) -> float:
    """``||a - b||_2 / ||b||_2`` of two arrays of the same shape (``b`` is the reference)."""
    a, b = _pair(a, b)
    denom = np.linalg.norm(b.ravel())
    return float(np.linalg.norm((a - b).ravel()) / (denom if denom > 0 else 1.0))


def fit_order(sizes, errors):
    """Least-squares slope and intercept of ``log(errors)`` against ``log(sizes)``.

    The slope is the measured convergence order (e.g. -1 for an error that
    falls like ``1/n``). Returns ``(slope, intercept)``.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if sizes.shape != errors.shape or sizes.ndim != 1 or sizes.size < 2:
        raise ValueError("sizes and errors must be 1-D of the same length, at least 2")
    if not (np.all(np.isfinite(errors)) and np.all(errors > 0)):
        raise ValueError("errors must be positive and finite to fit an order")
    if not (np.all(np.isfinite(sizes)) and np.all(sizes > 0)):
        raise ValueError("sizes must be positive and finite to fit an order")
    x, y = np.log(sizes), np.log(errors)
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


class Comparison:
    """Results of several methods on the same problem, and their errors against a reference.

    Attributes
    ----------
    results : dict of str to Result
    reference : str
    table : list of dict
        One row per method: ``method``, ``elapsed_s``, ``max_abs_error`` and
        ``rel_l2_error`` of the final frame against the reference's, ``mass``
        (final), ``absorbed`` (final) and ``mass_balance_error``
        (``|mass + absorbed - initial mass|``). For a batch the errors are over
        every member, ``mass`` and ``absorbed`` are totals over the members and
        ``mass_balance_error`` is the largest member's.
    """

    COLUMNS = ("method", "elapsed_s", "max_abs_error", "rel_l2_error", "mass", "absorbed", "mass_balance_error")

    def __init__(self, results: dict, reference: str, initial_mass):
        self.results = dict(results)
        self.reference = reference
        initial = np.asarray(initial_mass, dtype=np.float64)
        self.initial_mass = float(initial.sum())
        ref = self.results[reference].final
        self.table = []
        for name, res in self.results.items():
            masses, lost = res.mass()[-1], res.absorbed[-1]
            mass, absorbed = float(np.sum(masses)), float(np.sum(lost))
            balance = float(np.max(np.abs(masses + lost - np.broadcast_to(initial, np.shape(masses)))))
            self.table.append({
                "method": res.method if res.method == name else f"{name} ({res.method})",
                "elapsed_s": res.elapsed,
                "max_abs_error": max_error(res.final, ref),
                "rel_l2_error": rel_l2_error(res.final, ref),
                "mass": mass,
                "absorbed": absorbed,
                "mass_balance_error": balance,
            })

    def to_markdown(self) -> str:
        """The table as GitHub Markdown (errors against ``reference``)."""
        head = "| " + " | ".join(self.COLUMNS) + " |"
        rule = "|" + "|".join(["---"] + ["---:"] * (len(self.COLUMNS) - 1)) + "|"
        rows = []
        for row in self.table:
            cells = [row["method"]] + [f"{row[c]:.3e}" if c != "elapsed_s" else f"{row[c]:.3f}"
                                       for c in self.COLUMNS[1:]]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join([f"Errors of the final frame against `{self.reference}`.", "", head, rule] + rows)

    def to_json(self) -> str:
        """The table and the reference as a JSON string."""
        return json.dumps({"reference": self.reference, "initial_mass": self.initial_mass, "table": self.table},
                          indent=2)


def compare(tank, prop, steps, methods=("propagator", "particles", "image", "heat"), reference="propagator",
            save_every=None, n_particles=None, dt=1.0, seed=0, key=None, progress=False, save_at=None,
            devices=None) -> Comparison:
    """Run several methods on the same tank and propagator and compare them.

    Every method is checked against the problem before any of them runs, so a
    method that cannot take it is refused at once, not after the others' work.

    Parameters
    ----------
    tank, prop, steps, save_every, save_at, dt, progress, devices
        As in :func:`diffusion_conv.simulate` (every method on the same devices).
    methods : sequence of str
        Method names; the reference is added when missing.
    reference : str
        The method the others are measured against.
    n_particles : int, optional
        Particles for the stochastic methods (required when one is listed).
    seed : int, default 0
        Seed of the keys for the stochastic methods when ``key`` is not given;
        recorded in each result's ``meta``.
    key : jax.random key, optional
        Overrides ``seed``; split once per stochastic method.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError, TypeError
        On bad input or a method that cannot take the problem, before any method runs.
    """
    from .simulate import Plan, check_method, run

    if isinstance(methods, str):
        methods = (methods,)
    if not isinstance(methods, (list, tuple)) or not methods:
        raise TypeError(f"methods must be a method name or a non-empty list of them (allowed: {', '.join(METHODS)}), "
                        f"got {methods!r}")
    methods = list(dict.fromkeys(methods))
    if not methods:
        raise ValueError("methods is empty; give at least one method name")
    for m in methods + [reference]:
        check_method(m)
        if m == "auto":
            raise ValueError("compare runs named methods; 'auto' is not one (name the method it should run)")
    if reference not in methods:
        methods.insert(0, reference)
    stochastic = [m for m in methods if m in STOCHASTIC]
    keys = {}
    if stochastic:
        import jax

        from .methods._sampling import check_key

        if n_particles is None:
            raise ValueError(f"n_particles is required for the stochastic methods {stochastic}")
        if key is None:
            seed = _checks.integer("seed", seed, minimum=0)
            if seed >= 2**63:
                raise ValueError(f"seed must be below 2**63, got {seed}")
            key = jax.random.key(seed)
        key = check_key(key)
        for m, k in zip(stochastic, jax.random.split(key, len(stochastic))):
            keys[m] = k
    plans = {}
    for m in methods:  # every check before any work
        kw = dict(n_particles=n_particles, key=keys[m]) if m in STOCHASTIC else dict(n_particles=None, key=None)
        plans[m] = Plan(tank, prop, steps, m, save_every, save_at, dt, options={}, devices=devices, **kw)
    results = {}
    for m, plan in plans.items():
        results[m] = run(plan, progress)
        if m in STOCHASTIC and "seed" not in results[m].meta:
            results[m].meta["seed"] = seed
    batch = results[reference].batch_shape
    return Comparison(results, reference, np.broadcast_to(np.asarray(tank.mass, dtype=np.float64), batch))

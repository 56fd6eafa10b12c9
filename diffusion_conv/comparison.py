"""Run several methods on one problem and measure how far each is from a reference."""

from __future__ import annotations

import json

import numpy as np

from . import _checks
from ._display import html
from .errors import InputError, InputTypeError
from .methods import get as get_method
from .methods import names as method_names
from .methods._sampling import check_key
from .simulation import Plan, check_method, run
from .tank import Tank


def _pair(a, b):
    """``a`` and ``b`` as float64 arrays of one shape; ValueError naming both shapes otherwise."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise InputError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
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
        raise InputError("sizes and errors must be 1-D of the same length, at least 2")
    if not (np.all(np.isfinite(errors)) and np.all(errors > 0)):
        raise InputError("errors must be positive and finite to fit an order")
    if not (np.all(np.isfinite(sizes)) and np.all(sizes > 0)):
        raise InputError("sizes must be positive and finite to fit an order")
    x, y = np.log(sizes), np.log(errors)
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def sampling_variance(expected, initial_mass, n_particles, dx=1.0, ndim=None):
    """Variance of each cell of an ``n_particles`` frame whose expectation is ``expected``.

    A stochastic frame is ``count * initial_mass / N / dx**ndim`` with the count of
    a cell binomial with ``N`` trials and probability ``p = expected * dx**ndim /
    initial_mass``, so its variance is ``expected * (1 - p) * initial_mass / (N *
    dx**ndim)`` (zero where the expectation is zero).

    Parameters
    ----------
    expected : array_like
        The expectation of the frame (the ``propagator`` frame), shape ``(*batch, *grid)``.
    initial_mass : float or array_like
        The initial mass, one per batch member (broadcast against ``expected``'s batch axes).
    n_particles : int
    dx : float
    ndim : int, optional
        Dimensions of the grid (default: every axis of ``expected``).
    """
    c = np.clip(np.asarray(expected, dtype=np.float64), 0.0, None)
    ndim = c.ndim if ndim is None else int(ndim)
    m0 = np.asarray(initial_mass, dtype=np.float64).reshape(np.shape(initial_mass) + (1,) * ndim)
    cell = float(dx) ** ndim
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(m0 > 0, c * cell / np.where(m0 > 0, m0, 1.0), 0.0)
    return c * np.clip(1.0 - p, 0.0, 1.0) * np.abs(m0) / (float(n_particles) * cell)


def _noise_variance(res, expected, m0):
    """Sampling variance of each cell of a stochastic ``res`` (0 for a deterministic one)."""
    n = res.meta.get("n_particles")
    if n is None:
        return 0.0
    ndim = res.frames.ndim - 1 - len(res.batch_shape)
    return sampling_variance(expected, m0, n, res.dx, ndim)


def _stochastic(res) -> bool:
    return res.meta.get("n_particles") is not None


class Comparison:
    """Results of several methods on the same problem, and their errors against a reference.

    Attributes
    ----------
    results : dict of str to Result
    reference : str
    initial_mass : float
        The initial mass (all members of a batch together).
    table : list of dict
        One row per method, measured on the final frame against the reference's:

        ``method``, ``elapsed_s`` (wall-clock seconds, compilation included);
        ``rel_max_error`` (``max |f - ref| / max |ref|``) and ``rel_l2_error``
        (``||f - ref||_2 / ||ref||_2``); ``noise_rel_l2``: the relative L2 error that
        sampling alone gives a stochastic method (or a stochastic reference), from
        the binomial variance of each cell around the deterministic frame (see
        ``sampling_variance``; ``None`` where neither is stochastic);
        ``mass`` and ``absorbed`` at the end (mass units: concentration times
        ``dx**ndim``); ``mass_balance_rel``: ``|mass + absorbed - initial mass| /
        initial mass`` (the largest member's, for a batch).

        The absolute forms stay beside them for scripts: ``max_abs_error``
        (``max |f - ref|``, concentration units) and ``mass_balance_error``
        (``|mass + absorbed - initial mass|``, mass units). For a batch the errors
        are over every member, ``mass`` and ``absorbed`` are totals over the members.
    """

    COLUMNS = (
        "method",
        "elapsed_s",
        "rel_max_error",
        "rel_l2_error",
        "noise_rel_l2",
        "mass",
        "absorbed",
        "mass_balance_rel",
    )
    """The columns of :meth:`to_markdown`, in order (every row holds them, and the absolute forms)."""

    HEADERS = {
        "method": "method",
        "elapsed_s": "elapsed (s)",
        "rel_max_error": "max error / max ref",
        "rel_l2_error": "L2 error / L2 ref",
        "noise_rel_l2": "noise L2 / L2 ref",
        "mass": "mass",
        "absorbed": "absorbed",
        "mass_balance_rel": "mass balance / initial",
    }
    """The header of each column in :meth:`to_markdown` and the notebook display: what it is divided by."""

    def __init__(self, results: dict, reference: str, initial_mass):
        self.results = dict(results)
        self.reference = reference
        initial = np.asarray(initial_mass, dtype=np.float64)
        self.initial_mass = float(initial.sum())
        ref_res = self.results[reference]
        ref = np.asarray(ref_res.final, dtype=np.float64)
        top = float(np.max(np.abs(ref)))
        deterministic = next((r for r in self.results.values() if not _stochastic(r)), None)
        expected = (
            ref
            if deterministic is None or not _stochastic(ref_res)
            else np.asarray(deterministic.final, dtype=np.float64)
        )  # the expectation of the stochastic frames
        norm = float(np.linalg.norm(ref.ravel()))
        self.table = []
        for name, res in self.results.items():
            masses, lost = res.mass()[-1], res.absorbed[-1]
            mass, absorbed = float(np.sum(masses)), float(np.sum(lost))
            start = np.broadcast_to(initial, np.shape(masses))
            balance = np.abs(masses + lost - start)
            with np.errstate(divide="ignore", invalid="ignore"):
                balance_rel = np.where(start != 0, balance / np.abs(np.where(start != 0, start, 1.0)), balance)
            noise = None
            if name != reference and (_stochastic(res) or _stochastic(ref_res)):
                var = _noise_variance(res, expected, start) + _noise_variance(ref_res, expected, start)
                noise = float(np.sqrt(np.sum(var)) / (norm if norm > 0 else 1.0))
            err = max_error(res.final, ref)
            self.table.append(
                {
                    "method": res.method if res.method == name else f"{name} ({res.method})",
                    "elapsed_s": res.elapsed,
                    "rel_max_error": err / top if top > 0 else err,
                    "rel_l2_error": rel_l2_error(res.final, ref),
                    "noise_rel_l2": noise,
                    "mass": mass,
                    "absorbed": absorbed,
                    "mass_balance_rel": float(np.max(balance_rel)),
                    "max_abs_error": err,
                    "mass_balance_error": float(np.max(balance)),
                }
            )

    def legend(self) -> str:
        """One line saying what each column of :meth:`to_markdown` measures and what it is relative to."""
        return (
            f"Final frames against the reference `{self.reference}` (ref); errors are relative to the reference's "
            f"scale: max error / max ref = max|f - ref| / max|ref|, L2 error / L2 ref = ||f - ref||_2 / "
            f"||ref||_2; noise L2 / L2 ref = the L2 error that sampling N particles alone gives (an error near it "
            f"is noise, far above it a fault); mass and absorbed in mass units (concentration x dx^ndim; initial "
            f"mass {self.initial_mass:.10g}); mass balance / initial = |mass + absorbed - initial mass| / initial "
            f"mass; elapsed includes compilation."
        )

    def _cells(self, row) -> list:
        """The texts of one row of the table, in the order of :attr:`COLUMNS`."""
        cells = [row["method"]]
        for c in self.COLUMNS[1:]:
            v = row[c]
            if v is None:
                cells.append("")
            elif c == "elapsed_s":
                cells.append(f"{v:.3f}")
            elif c in ("mass", "absorbed"):
                cells.append(f"{v:#.10g}")  # enough digits to show float32 rounding (1e-7 of the mass)
            else:
                cells.append(f"{v:.2e}")
        return cells

    def to_markdown(self) -> str:
        """The table as GitHub Markdown: a one-line legend, then one row per method.

        The columns are :attr:`COLUMNS` under the headers of :attr:`HEADERS`, which
        say what each error and the mass balance are divided by.
        """
        head = "| " + " | ".join(self.HEADERS[c] for c in self.COLUMNS) + " |"
        rule = "|" + "|".join(["---"] + ["---:"] * (len(self.COLUMNS) - 1)) + "|"
        rows = ["| " + " | ".join(self._cells(row)) + " |" for row in self.table]
        return "\n".join([self.legend(), "", head, rule] + rows)

    def to_json(self) -> str:
        """The table, the legend, the reference and the initial mass as a JSON string.

        ``columns`` lists the keys of :meth:`to_markdown`'s columns and ``headers``
        their headers there; every row of ``table`` holds those keys and the
        absolute ``max_abs_error`` (concentration units) and ``mass_balance_error``
        (mass units).
        """
        return json.dumps(
            {
                "reference": self.reference,
                "initial_mass": self.initial_mass,
                "legend": self.legend(),
                "columns": list(self.COLUMNS),
                "headers": dict(self.HEADERS),
                "table": self.table,
            },
            indent=2,
        )

    def __repr__(self):
        ref = self.results[self.reference]
        batch = f", batch {tuple(ref.batch_shape)}" if ref.batch_shape else ""
        grid = " x ".join(str(n) for n in ref.frames.shape[1 + len(ref.batch_shape) :])
        head = (
            f"Comparison of {len(self.results)} methods ({', '.join(self.results)}) against {self.reference!r}: "
            f"grid {grid}{batch}, {int(ref.steps[-1])} steps, initial mass {self.initial_mass:.10g}"
        )
        rows = [[self.HEADERS[c] for c in self.COLUMNS]] + [self._cells(row) for row in self.table]
        widths = [max(len(r[k]) for r in rows) for k in range(len(self.COLUMNS))]
        lines = [
            "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths))) for r in rows
        ]
        return "\n".join([head] + [line.rstrip() for line in lines])

    def _repr_html_(self):
        return html(self)


_DEFAULT_METHODS = ("propagator", "particles", "image", "heat")


def compare(
    tank,
    prop,
    steps,
    methods=_DEFAULT_METHODS,
    reference="propagator",
    save_every=None,
    n_particles=None,
    dt=1.0,
    seed=0,
    key=None,
    progress=False,
    save_at=None,
    devices=None,
) -> Comparison:
    """Run several methods on the same tank and propagator and compare them.

    Every method is checked against the problem before any of them runs, so a
    method that cannot take it is refused at once, not after the others' work.

    Parameters
    ----------
    tank, prop, steps, save_every, save_at, dt, progress, devices
        As in :func:`diffusion_conv.simulate` (every method on the same devices).
    methods : sequence of str
        Method names; the reference is added when missing. By default
        ``propagator``, ``particles``, ``image`` and ``heat``; on a tank with a
        mobility map, those of them that take one.
    reference : str
        The method the others are measured against. On a tank with a mobility
        map it must take the map: ``propagator`` (the exact expectation) is the
        reference there.
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

    mobility = isinstance(tank, Tank) and tank.mobility is not None
    if mobility and methods is _DEFAULT_METHODS:
        methods = tuple(m for m in methods if get_method(m).mobility)
    if isinstance(methods, str):
        methods = (methods,)
    if not isinstance(methods, (list, tuple)) or not methods:
        raise InputTypeError(
            f"methods must be a method name or a non-empty list of them (allowed: {', '.join(method_names())}), "
            f"got {methods!r}"
        )
    methods = list(dict.fromkeys(methods))
    if not methods:
        raise InputError("methods is empty; give at least one method name")
    for m in methods + [reference]:
        check_method(m)
        if m == "auto":
            raise InputError("compare runs named methods; 'auto' is not one (name the method it should run)")
    if mobility and not get_method(reference).mobility:
        raise InputError(
            f"reference {reference!r} does not take a tank with a mobility map; the reference there is "
            f"'propagator' (the exact expectation of the walk with the map)"
        )
    if reference not in methods:
        methods.insert(0, reference)
    stochastic = [m for m in methods if get_method(m).stochastic]
    keys = {}
    if stochastic:
        import jax

        if n_particles is None:
            raise InputError(f"n_particles is required for the stochastic methods {stochastic}")
        if key is None:
            seed = _checks.integer("seed", seed, minimum=0)
            if seed >= 2**63:
                raise InputError(f"seed must be below 2**63, got {seed}")
            key = jax.random.key(seed)
        key = check_key(key)
        for m, k in zip(stochastic, jax.random.split(key, len(stochastic))):
            keys[m] = k
    plans = {}
    for m in methods:  # every check before any work
        kw = (
            dict(n_particles=n_particles, key=keys[m]) if get_method(m).stochastic else dict(n_particles=None, key=None)
        )
        plans[m] = Plan(tank, prop, steps, m, save_every, save_at, dt, options={}, devices=devices, **kw)
    results = {}
    for m, plan in plans.items():
        results[m] = run(plan, progress)
        if get_method(m).stochastic and "seed" not in results[m].meta:
            results[m].meta["seed"] = seed
    batch = results[reference].batch_shape
    return Comparison(results, reference, np.broadcast_to(np.asarray(tank.mass, dtype=np.float64), batch))

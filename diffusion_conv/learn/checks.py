"""The checks of a fit's input: frames, members, step gaps, radius, the determinable weights, the start."""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..errors import InputError, InputTypeError
from ..propagator import Propagator

ROUNDOFF = 16
"""Negative values of float frames down to ``-ROUNDOFF * eps * peak`` (``eps`` of the frames' dtype, ``peak``
their largest absolute value) are rounding, not concentration: a transform (``spectral``, ``heat``) leaves
values of about one ``eps`` of the field's scale below zero where the field is 0. The fit reads them as 0."""

_BATCH_HINT = (
    "frames of a batch, shape (F, *batch, *grid) (Tank.stack, a bank of kernels), are fitted one member "
    "at a time: member=i, or member=(i, j) for two batch axes"
)


def _check_member(member, shape):
    """``member`` as a tuple of in-range indices into the leading axes of a frame of ``shape``, or None."""
    if member is None:
        return None
    index = tuple(member) if isinstance(member, (tuple, list)) else (member,)
    if not index:
        raise InputError("member must be an index or a tuple of indices into the batch axes, got ()")
    index = tuple(_checks.integer("member" if len(index) == 1 else "member entry", i) for i in index)
    if len(index) >= len(shape):
        raise InputError(
            f"member has {len(index)} entries, but frames of shape {tuple(shape)} would have no "
            f"spatial axis left after {len(index)} batch axes"
        )
    batch = tuple(shape[: len(index)])
    if any(not 0 <= i < n for i, n in zip(index, batch)):
        shown = member if not isinstance(member, list) else tuple(member)
        allowed = "; ".join(f"0 to {n - 1}" for n in batch)
        raise InputError(
            f"member {shown!r} is out of range for the frames' batch shape {batch}; allowed: {allowed}"
            + (" (one range per batch axis)" if len(batch) > 1 else "")
        )
    return index


def check_frames(frames, member=None):
    """The frames stacked ``(F, *shape)`` (the member's, if given), round-off below zero read as 0; and the member."""
    if isinstance(frames, (str, bytes)) or not hasattr(frames, "__len__"):
        raise InputTypeError(
            f"frames must be a sequence of arrays or an array (F, *shape), got {type(frames).__name__}"
        )
    if len(frames) < 2:
        raise InputError(f"frames must hold at least two frames (a before and an after), got {len(frames)}")
    arrays = [np.asarray(f) for f in frames]
    for i, a in enumerate(arrays):
        if a.dtype == object or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise InputTypeError(f"frames[{i}] must be a real numeric array, got dtype {a.dtype}")
        if a.shape != arrays[0].shape:
            raise InputError(
                f"frames must all have one shape: frames[0] is {arrays[0].shape}, frames[{i}] is {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise InputError(f"frames[{i}] must be finite; it holds NaN or infinite values")
    member = _check_member(member, arrays[0].shape)
    data = np.stack(arrays)
    if member is not None:
        data = data[(slice(None),) + member]
    if data.ndim - 1 not in (1, 2, 3) or 0 in data.shape[1:]:
        hint = f"; {_BATCH_HINT}" if data.ndim > 4 and 0 not in data.shape else ""
        raise InputError(f"each frame must be a non-empty 1-D, 2-D or 3-D array, got shape {data.shape[1:]}{hint}")
    tol = _roundoff(data)
    for i, a in enumerate(data):
        if a.min() < -tol:
            rounding = (
                (
                    f", below the rounding of {data.dtype} (values down to {-tol:.3g}, {ROUNDOFF} eps of the "
                    f"frames' largest absolute value, are read as 0)"
                )
                if tol > 0
                else ""
            )
            raise InputError(
                f"frames[{i}] must be non-negative (a concentration); its minimum is {a.min()!r}{rounding}"
            )
    if tol > 0 and data.min() < 0:
        data = np.where(data < 0, np.zeros((), data.dtype), data)
    return data, member


def scaled_frames(data, what: str):
    """The frames in units of their largest value, and the sum of squares of their changes.

    The process is linear, so the scaling (a power of two: exact) changes no fit
    and keeps every sum in range for frames of any magnitude. Frames that do not
    change from one to the next are refused, naming ``what`` cannot be determined.
    """
    peak = float(np.max(np.abs(data)))
    data = data.astype(np.float64) / (2.0 ** np.floor(np.log2(peak)) if peak > 0 else 1.0)
    change = float(np.sum((data[1:] - data[:-1]) ** 2))
    eps = float(np.finfo(_checks.float_dtype()).eps)
    if not change > (100 * eps) ** 2 * float(np.sum(data**2)):
        raise InputError(
            f"frames do not change from one to the next: nothing moves, so no {what} can be "
            f"determined (uniform or stationary fields carry no information about the jumps)"
        )
    return data, change


def lbfgs(fun, x0, maxiter, ftol, gtol):
    """scipy's L-BFGS-B on ``fun(x) -> (value, gradient)`` from ``x0``: its result and the loss at each iterate."""
    from scipy.optimize import minimize

    history = [fun(x0)[0]]
    res = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        callback=lambda intermediate_result: history.append(float(intermediate_result.fun)),
        options=dict(maxiter=maxiter, ftol=ftol, gtol=gtol, maxcor=20),
    )
    return res, history


def _roundoff(data) -> float:
    """The rounding of float frames at their scale (``ROUNDOFF`` eps of their largest absolute value); 0 for ints."""
    if not np.issubdtype(data.dtype, np.floating):
        return 0.0
    return ROUNDOFF * float(np.finfo(data.dtype).eps) * float(np.max(np.abs(data)))


def flat_axes(data, bnd) -> tuple:
    """Axes at a conserving boundary along which every frame is constant (to rounding): jumps along them leave no
    trace. (At an open edge such jumps would drain the field unevenly, so there flatness is itself a measurement.)"""
    tol = _roundoff(data)
    return tuple(a for a in range(data.ndim - 1) if bnd[a].conserves and float(np.max(np.ptp(data, axis=a + 1))) <= tol)


def check_steps(steps_between, npairs) -> tuple:
    """The steps of each of the ``npairs`` pairs of frames, from one count or one per pair."""
    if isinstance(steps_between, (tuple, list, np.ndarray)):
        counts = (
            list(np.asarray(steps_between, dtype=object).ravel())
            if isinstance(steps_between, np.ndarray)
            else list(steps_between)
        )
        if len(counts) != npairs:
            raise InputError(
                f"steps_between has {len(counts)} entries, but the frames make {npairs} pairs; give one "
                f"count for every pair or one per pair"
            )
        return tuple(_checks.integer("steps_between entry", n, minimum=1) for n in counts)
    return (_checks.integer("steps_between", steps_between, minimum=1),) * npairs


def check_sequence_length(name, value, ndim, shape):
    """A per-axis sequence must have one entry per axis of the frames; fewer may mean batch axes."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or len(value) == ndim:
        return
    hint = f"; {_BATCH_HINT}" if len(value) < ndim else ""
    raise InputError(
        f"{name} has {len(value)} entries but each frame has {ndim} axes (shape {tuple(shape)}); give "
        f"one per axis{hint}"
    )


def check_radius(radius, ndim):
    if isinstance(radius, (tuple, list)):
        if len(radius) != ndim:
            raise InputError(f"radius has {len(radius)} entries but the frames have {ndim} axes")
        radius = tuple(_checks.integer("radius entry", r, minimum=0) for r in radius)
    else:
        radius = (_checks.integer("radius", radius, minimum=1),) * ndim
    if not any(radius):
        raise InputError(f"radius must be positive along at least one axis, got {radius}")
    return radius


def check_determinable(data, radius, bnd):
    """Refuse, on the host and before any JAX work, a radius that the frames cannot determine.

    A kernel wider than the frames along an axis, or one with more free weights
    (``prod(2 r + 1) - 1``) than there are informative cells: cells, summed over
    the frame pairs, whose input frame is not constant over the kernel's box
    around them (with the boundaries' own extension: folded at reflecting edges,
    wrapped at periodic ones, zero beyond open ones; walls hold zero).
    Where the box is constant, every kernel predicts the same value, so such
    cells say nothing about the weights.
    """
    from scipy import ndimage

    shape = data.shape[1:]
    for axis, (r, n) in enumerate(zip(radius, shape)):
        if 2 * r + 1 > n:
            fits = tuple(min(q, (m - 1) // 2) for q, m in zip(radius, shape))
            if not any(fits):
                advice = "no kernel fits frames this narrow (a jump needs 3 cells along an axis)"
            else:
                shown = fits[0] if len(set(fits)) == 1 else fits
                advice = f"use a radius of at most {(n - 1) // 2} there: radius={shown}"
            if axis == 0 and len(shape) > 1:
                advice += f"; if axis 0 is a batch axis, {_BATCH_HINT}"
            raise InputError(
                f"radius {radius} is too wide for frames of shape {shape}: along axis {axis} the kernel "
                f"spans {2 * r + 1} cells but the frames have {n}; {advice}"
            )
    free = int(np.prod([2 * r + 1 for r in radius])) - 1
    modes = [{"reflect": "reflect", "periodic": "wrap", "absorb": "constant"}[b] for b in bnd]
    size = tuple(2 * r + 1 for r in radius)
    informative = 0
    for frame in data[:-1]:
        f = frame.astype(np.float64)  # walls hold 0 (checked), so a box reaching into one sees variation
        spread = ndimage.maximum_filter(f, size=size, mode=modes, cval=0.0) - ndimage.minimum_filter(
            f, size=size, mode=modes, cval=0.0
        )
        informative += int(np.count_nonzero(spread > 0))
        if informative >= free:
            return
    raise InputError(
        f"the frames cannot determine a radius-{radius} kernel: it has {free} free weights, but only "
        f"{informative} cells (over the {data.shape[0] - 1} frame pairs) see any variation within the "
        f"kernel's reach; use a smaller radius or frames with more structure"
    )


def check_init(init, radius, temperature):
    size = tuple(2 * r + 1 for r in radius)
    if init is None:
        return np.zeros(size)
    if isinstance(init, Propagator):
        w = np.asarray(init.weights, dtype=float)
        if w.shape != size:
            raise InputError(f"init has kernel shape {w.shape}, but radius {radius} needs {size}")
        return temperature * np.log(np.maximum(w, 1e-12))
    z = np.asarray(init)
    if z.dtype == object or not np.issubdtype(z.dtype, np.number) or np.iscomplexobj(z):
        raise InputTypeError(f"init must be a Propagator or an array of real logits, got dtype {z.dtype}")
    if z.shape != size:
        raise InputError(f"init logits have shape {z.shape}, but radius {radius} needs {size}")
    if not np.all(np.isfinite(z)):
        raise InputError("init logits must be finite; they hold NaN or infinite values")
    return z.astype(float)

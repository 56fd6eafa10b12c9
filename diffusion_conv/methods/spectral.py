"""The exact spectral method: ``n`` steps of the kernel in one transform, ``lambda(theta) ** n``.

One step of the lattice walk (:mod:`diffusion_conv.lattice`) is a linear map
``T``; where a transform diagonalises ``T`` exactly, ``n`` steps are the
transform, a multiplication by the eigenvalues to the ``n``-th power, and the
inverse transform. The cost does not depend on ``n``. Each axis's
:class:`~diffusion_conv.lattice.Boundary` owns its transform and says where it
is exact (:meth:`~diffusion_conv.lattice.Boundary.spectral_reason`):

``periodic``: any kernel.
    ``T`` is a circular convolution; the FFT diagonalises it with eigenvalue
    ``sum_d w[d] exp(-i theta d)``, ``theta = 2 pi q / n`` (any radius: jumps
    longer than the tank wrap).
``reflect``: kernels symmetric under that axis's mirror, any radius.
    The half-cell mirror makes ``T`` act on the even extension of period ``2 n``;
    ``cos(theta (x + 1/2))``, ``theta = pi m / n`` (the DCT-II basis) is mapped to
    itself times ``sum_d w[d] cos(theta d)`` when ``w[d] = w[-d]`` along the axis,
    for every radius (folds of any depth).
``absorb``: kernels symmetric under that axis's mirror whose jumps along the axis
    are at most one cell.
    The walk with removal outside ``[0, n)`` is the Toeplitz matrix truncated to
    the tank; a jump of one cell lands at most on ``-1`` or ``n``, where
    ``sin(theta (x + 1))``, ``theta = pi m / (n + 1)`` (the DST-I basis), vanishes,
    so truncation and the odd extension agree. A jump of two cells would read the
    odd image at ``-2`` (not zero), so longer kernels are not diagonalised.

Walls break translation invariance: a tank with walls is refused. Everything
else raises ``ValueError`` naming ``method="propagator"``, which is exact
everywhere. Where it runs, the result equals the ``propagator`` method to
rounding (1e-12 relative in float64, up to 10,000 steps and beyond).

Precision: the eigenvalues are those of the weights normalised to sum to 1 (a
probability distribution, whatever the rounding of their storage), so
``lambda(0) = 1`` exactly and ``|lambda| <= 1``: a float32 run keeps its mass
at any step count (10^9 steps and more). On the host path they and their powers
are computed in float64. On a CPU backend the transforms are scipy's pocketfft
(several times faster there than XLA's); elsewhere, and under tracing, they are
``jax.numpy``'s (option ``transforms='jax'`` forces them).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, fourier
from ..lattice import separable_factors
from .base import Method, State, register

TRANSFORMS = ("auto", "host", "jax")


def exactness(weights, bnd, walls=None) -> str | None:
    """Why the spectral method is not exact for this problem, or ``None`` where it is.

    Parameters
    ----------
    weights : array_like, concrete
        The propagator's weights (one kernel, or a bank: every member is checked).
    bnd : sequence of str, one per axis
    walls : bool array, Walls or None
    """
    if walls is not None and np.any(getattr(walls, "array", walls)):
        return ("the tank has walls, which break translation invariance: no transform "
                "diagonalises the walk")
    if weights is None:
        return None
    return _kernel_exactness(_checks.array_key(weights), tuple(str(b) for b in bnd))


@functools.lru_cache(maxsize=64)
def _kernel_exactness(wkey, bnd):
    """:func:`exactness` without walls, cached per kernel and boundary (it runs on every call)."""
    from ..lattice import boundary

    w = _checks.from_key(wkey)
    lead = w.ndim - len(bnd)
    for member in w.reshape((-1,) + w.shape[lead:]):
        for a, b in enumerate(bnd):
            why = boundary(b).spectral_reason(member, a)
            if why:
                return why
    return None


def deficit_absorbed(mass0, frame, bnd, dtype=None):
    """Mass absorbed so far (cell units) as the deficit of a frame's mass: for methods that do not step.

    ``dtype``: the frame's sum is taken in it (float64 on the host, without a copy of the frame).
    """
    if all(b.conserves for b in bnd):
        return jnp.zeros((), frame.dtype) if isinstance(frame, jax.Array) else np.zeros((), frame.dtype)
    return mass0 - frame.sum(dtype=dtype)


# -- the eigenvalues -------------------------------------------------------------------------
def _line(mu, axis):
    return mu[tuple(slice(None) if b == axis else 0 for b in range(mu.ndim))]


@functools.lru_cache(maxsize=32)
def _host_parts(wkey, shape, bnd):
    """Float64 log parts of the symbol: one array, or one line per axis for a separable kernel."""
    w = _checks.from_key(wkey)
    factors = separable_factors(w) if len(shape) > 1 else None
    if factors is None:
        return (fourier.log_parts(fourier.symbol_minus_one(w, shape, bnd, np)),)
    parts = []
    for a, f in enumerate(factors):
        wa = f.reshape([-1 if b == a else 1 for b in range(len(shape))])
        mu = _line(fourier.symbol_minus_one(wa, shape, bnd, np), a)
        parts.append(fourier.log_parts(np.ascontiguousarray(mu)))
    return tuple(parts)


def host_parts(weights, shape, bnd):
    """:func:`fourier.log_parts` of a concrete kernel on the host in float64 (cached); see the module docstring."""
    return _host_parts(_checks.array_key(weights, np.float64), tuple(shape), tuple(str(b) for b in bnd))


def scaled(coeffs, parts, s, xp):
    """``coeffs * lambda ** s`` from :func:`host_parts` (per-axis powers broadcast one axis at a time when separable).

    On numpy the product is formed in one new array and scaled in place: no
    array of the powers' full size is made (each fresh array of the field's
    size costs about what a multiply does, in page faults).
    """
    ndim = len(parts)
    dtype = coeffs.dtype
    if ndim == 1 or parts[0][0].ndim > 1:
        return coeffs * fourier.symbol_power(parts[0], s, xp).astype(dtype)
    out = None
    for a, p in enumerate(parts):
        pa = fourier.symbol_power(p, s, xp).astype(dtype).reshape([-1 if b == a else 1 for b in range(ndim)])
        if out is None:
            out = coeffs * pa
        elif xp is np:
            out *= pa
        else:
            out = out * pa
    return out


@register
class SpectralMethod(Method):
    """``method='spectral'``: ``n`` steps in one transform where it is exact (see the module docstring)."""

    name = "spectral"
    kind = "deterministic"
    differentiable = True
    options = {"transforms": "auto"}
    units = "frame"

    def validate(self, tank, prop, *, n_particles=None, key=None, **options):
        options = self.check_arguments(n_particles, key, options)
        if options["transforms"] not in TRANSFORMS:
            raise ValueError(f"transforms {options['transforms']!r} is unknown; allowed: {', '.join(TRANSFORMS)}")
        if tank.walls is not None or _checks.is_concrete(prop.weights):
            why = exactness(prop.weights if _checks.is_concrete(prop.weights) else None, tank.boundary, tank.walls)
        else:
            why = None  # traced weights: the exactness of a kernel is checked where it is concrete
        if why is not None:
            raise ValueError(f"method 'spectral' is not exact here: {why}. Use method=\"propagator\" instead.")
        return options

    def order(self, tank, prop):
        from .heat import declared_order

        return declared_order(tank, prop)

    def init(self, tank, prop, key=None, n_particles=None, prepared=None, transforms="auto"):
        field = tank.concentration
        bnd = tuple(tank.boundary)
        mu = fourier.symbol_minus_one(prop.weights.astype(field.dtype), tank.shape, bnd, jnp)
        return State((bnd, tank.shape, tank.dx ** tank.ndim), coeffs=fourier.forward(field, bnd),
                     parts=(fourier.log_parts(mu, jnp),), s=jnp.zeros((), _checks.step_dtype()),
                     mass0=jnp.sum(field))

    def advance(self, state, n):
        return state.replace(s=state.s + jnp.asarray(n, state.s.dtype))

    def observe(self, state):
        bnd, shape, cell = state.static
        frame = fourier.inverse(scaled(state.coeffs, state.parts, state.s, jnp), bnd, shape).astype(state.mass0.dtype)
        return frame, deficit_absorbed(state.mass0, frame, bnd) * cell

    def host(self, tank, prop, options):
        want = options.get("transforms", "auto")
        if want == "host" or (want == "auto" and jax.default_backend() == "cpu"):
            return _SpectralHost()
        return None

    def meta(self, tank, prop, save_steps, options):
        return {"transforms": [b.transform for b in tank.boundary]}


def _workers(size):
    """Threads for scipy's transforms: every core from 2**18 cells (512 x 512) up; below that,
    starting the threads costs about what they save and makes the time less steady."""
    return -1 if size >= 2**18 else 1


class _SpectralHost:
    """The spectral method with scipy's transforms and numpy powers on the host (the CPU backend's fast path).

    The same interface and numbers as :class:`SpectralMethod` (to rounding), on
    numpy arrays; the driver calls it directly instead of compiling it.
    """

    traceable = False

    def init(self, tank, prop, key=None, n_particles=None, prepared=None, transforms="auto"):
        field = np.asarray(tank.concentration)
        bnd = tuple(tank.boundary)
        workers = _workers(field.size)
        return {"bnd": bnd, "shape": tank.shape, "cell": tank.dx ** tank.ndim, "workers": workers,
                "coeffs": fourier.forward(field, bnd, host=True, workers=workers),
                "parts": host_parts(prop.weights, tank.shape, bnd), "s": 0, "dtype": field.dtype,
                "mass0": None if all(b.conserves for b in bnd) else field.sum(dtype=np.float64), "field0": field}

    def advance(self, state, n):
        return {**state, "s": state["s"] + int(n)}

    def observe(self, state):
        if state["s"] == 0:  # the initial field itself (read-only: the driver copies frames into its own)
            return state["field0"], 0.0
        c = scaled(state["coeffs"], state["parts"], state["s"], np)
        frame = np.asarray(fourier.inverse(c, state["bnd"], state["shape"], host=True, workers=state["workers"],
                                           overwrite=True), dtype=state["dtype"])
        return frame, float(deficit_absorbed(state["mass0"], frame, state["bnd"], np.float64)) * state["cell"]

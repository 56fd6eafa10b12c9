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

Derivatives (``jax.grad``, ``jax.jvp``): the true derivatives of the process,
those of the ``propagator`` method. The field enters linearly, and its
derivative is the spectral map itself (no extra cost) on every boundary, to
any order. With respect to the kernel, periodic axes are exact for any kernel,
and the transform's own derivative is the process's. Reflecting and absorbing
axes are diagonalised only for mirror-symmetric kernels, and a derivative
leaves that set (a change of the weights towards ``+x`` is a drift, which the
cosine and sine bases cannot carry): there the derivative with respect to the
weights is taken along the walk itself, frame gap by frame gap, the derivative
of the propagator's steps from the previous frame (:func:`_frame_after`). It
costs about what the ``propagator`` method's derivative costs, ``O(steps)``; the
value stays one transform per frame. Forward-mode derivatives of such a
derivative are exact too; where JAX would differentiate the transform itself
instead (a reverse-mode derivative differentiated again with respect to the
kernel, e.g. ``jax.hessian``), ``ValueError`` names ``propagator``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..errors import InputError
from ..lattice import boundary, separable_factors
from ..lattice import transforms as per_axis
from ._continuum import declared_order, deficit_absorbed
from ._registry import check_mobility_method
from .base import Method, State

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
        return "the tank has walls, which break translation invariance: no transform diagonalises the walk"
    if weights is None:
        return None
    w = np.asarray(weights)
    for member in w.reshape((-1,) + w.shape[w.ndim - len(bnd) :]):
        for a, b in enumerate(bnd):
            why = boundary(b).spectral_reason(member, a)
            if why:
                return why
    return None


def _inexact_as_nan(weights, bnd):
    """NaN where traced weights leave the kernels the transform diagonalises (:func:`exactness`), else 0.

    Under a transform the kernel's values are unknown while tracing, so the check of :func:`exactness`
    is made on the values: a kernel that is not mirror-symmetric along a reflecting or absorbing axis
    (to the same rounding as ``symmetric_along``), or that jumps more than one cell across an absorbing
    edge, makes every frame NaN instead of a wrong number.
    """
    scale = jnp.max(jnp.abs(weights))
    tol = 8 * float(np.finfo(weights.dtype).eps) * scale
    bad = jnp.zeros((), bool)
    for a, b in enumerate(bnd):
        if b.wraps:
            continue
        bad = bad | (jnp.max(jnp.abs(weights - jnp.flip(weights, axis=a))) > tol)
        r = weights.shape[a] // 2
        if not b.conserves and r >= 2:
            far = jnp.take(weights, np.array([i for i in range(weights.shape[a]) if abs(i - r) >= 2]), axis=a)
            bad = bad | jnp.any(far != 0)
    return jnp.where(bad, jnp.nan, 0.0).astype(weights.dtype)


# -- the eigenvalues -------------------------------------------------------------------------
def _line(mu, axis):
    return mu[tuple(slice(None) if b == axis else 0 for b in range(mu.ndim))]


def host_parts(weights, shape, bnd):
    """:func:`~diffusion_conv.lattice.transforms.log_parts` of a concrete kernel on the host in float64: one
    array, or one line per axis for a separable kernel; see the module docstring."""
    w = np.asarray(weights, np.float64)
    shape, bnd = tuple(shape), tuple(bnd)
    factors = separable_factors(w) if len(shape) > 1 else None
    if factors is None:
        return (per_axis.log_parts(per_axis.symbol_minus_one(w, shape, bnd, np)),)
    parts = []
    for a, f in enumerate(factors):
        wa = f.reshape([-1 if b == a else 1 for b in range(len(shape))])
        # on a grid of one cell along the other axes: the factor does not jump along them (their phases are
        # 0 whatever the angle), so the line is the full grid's line, for the work of one line
        line = tuple(n if b == a else 1 for b, n in enumerate(shape))
        mu = _line(per_axis.symbol_minus_one(wa, line, bnd, np), a)
        parts.append(per_axis.log_parts(np.ascontiguousarray(mu)))
    return tuple(parts)


def scaled(coeffs, parts, s, xp):
    """``coeffs * lambda ** s`` from :func:`host_parts` (per-axis powers broadcast one axis at a time when separable).

    On numpy the product is formed in one new array and scaled in place: no
    array of the powers' full size is made (each fresh array of the field's
    size costs about what a multiply does, in page faults).
    """
    ndim = len(parts)
    dtype = coeffs.dtype
    if ndim == 1 or parts[0][0].ndim > 1:
        return coeffs * per_axis.symbol_power(parts[0], s, xp).astype(dtype)
    out = None
    for a, p in enumerate(parts):
        pa = per_axis.symbol_power(p, s, xp).astype(dtype).reshape([-1 if b == a else 1 for b in range(ndim)])
        if out is None:
            out = coeffs * pa
        elif xp is np:
            out *= pa
        else:
            out = out * pa
    return out


@dataclasses.dataclass(frozen=True)
class Static:
    """The static data of a spectral state: the boundaries, the grid, the cell volume ``dx**ndim``, and whether
    an axis is not periodic (``walk``: derivatives with respect to the kernel are taken along the walk)."""

    boundary: tuple
    shape: tuple
    cell: float
    walk: bool


class SpectralMethod(Method):
    """``method='spectral'``: ``n`` steps in one transform where it is exact (see the module docstring)."""

    name = "spectral"
    kind = "deterministic"
    differentiable = True
    options = {"transforms": "auto"}
    units = "frame"
    listed = 20
    auto = 1  # where it is exact: n steps in one transform

    def picks(self, tank, prop, **kwargs):
        """Only where its exactness is known (concrete weights) and it holds."""
        return _checks.is_concrete(prop.weights) and super().picks(tank, prop, **kwargs)

    def validate(self, tank, prop, *, n_particles=None, key=None, **options):
        options = self.check_arguments(n_particles, key, options)
        check_mobility_method(self, tank)
        if options["transforms"] not in TRANSFORMS:
            raise InputError(f"transforms {options['transforms']!r} is unknown; allowed: {', '.join(TRANSFORMS)}")
        if tank.walls is not None:
            why = exactness(None, tank.boundary, tank.walls)
        elif _checks.is_concrete(prop.weights):  # made once per kernel object and boundaries
            bnd = tuple(map(str, tank.boundary))
            why = prop.derived(("spectral exactness", bnd), lambda: exactness(prop.weights, bnd))
        else:
            why = None  # traced weights: the exactness of a kernel is checked where it is concrete
        if why is not None:
            raise InputError(f"method 'spectral' is not exact here: {why}. Use method=\"propagator\" instead.")
        return options

    def order(self, tank, prop):
        return declared_order(tank, prop)

    def init(self, tank, prop, key=None, n_particles=None, prepared=None, transforms="auto"):
        field = tank.concentration
        bnd = tuple(tank.boundary)
        weights = prop.weights.astype(field.dtype)
        walk = not all(b.wraps for b in bnd)  # a non-periodic axis: derivatives go along the walk
        # On that path the eigenvalues carry no derivative: the kernel's reaches _frame_after's rule
        # through the weights instead.
        mu = per_axis.symbol_minus_one(jax.lax.stop_gradient(weights) if walk else weights, tank.shape, bnd, jnp)
        if walk and not _checks.is_concrete(prop.weights):  # traced: where the transform is not exact, NaN frames
            mu = mu + _inexact_as_nan(jax.lax.stop_gradient(weights), bnd).astype(mu.dtype)
        return State(
            Static(bnd, tank.shape, tank.dx**tank.ndim, walk),
            coeffs=per_axis.forward(field, bnd),
            parts=(per_axis.log_parts(mu, jnp),),
            s=jnp.zeros((), _checks.step_dtype()),
            mass0=jnp.sum(field),
            frame=field,
            weights=weights if walk else None,
        )

    def advance(self, state, n):
        bnd, shape = state.static.boundary, state.static.shape
        s = state.s + jnp.asarray(n, state.s.dtype)
        if state.static.walk:
            frame = _frame_after((bnd, shape), n, state.coeffs, state.parts, s, state.frame, state.weights)
        else:
            frame = _frame(bnd, shape, state.coeffs, state.parts, s, state.frame.dtype)
        return state.replace(s=s, frame=frame)

    def observe(self, state):
        return state.frame, deficit_absorbed(state.mass0, state.frame, state.static.boundary) * state.static.cell

    def host(self, tank, prop, options):
        want = options.get("transforms", "auto")
        if want == "host" or (want == "auto" and jax.default_backend() == "cpu"):
            return _SpectralHost()
        return None

    def meta(self, tank, prop, save_steps, options, prepared=()):
        return {"transforms": [b.transform for b in tank.boundary]}

    def memory(self, sizes, options, n_particles, nframes, members, itemsize, prepared=None):
        """Fourteen fields per member: the transform's coefficients (complex on a periodic axis), their
        product with the symbol's powers, the transforms' work (a cosine or sine transform is an FFT of
        an extended field), the frame and the chunk's buffers."""
        out = super().memory(sizes, options, n_particles, nframes, members, itemsize, prepared)
        out["working"] = 14 * int(members) * sizes.cells * int(itemsize)
        return out


def _frame(bnd, shape, coeffs, parts, s, dtype):
    """The field after ``s`` steps from the initial field's coefficients: one inverse transform."""
    return jnp.asarray(per_axis.inverse(scaled(coeffs, parts, s, jnp), bnd, shape), dtype)


def _frame_after(static, n, coeffs, parts, s, prev, weights):
    """The field at step ``s``, ``n`` steps after the frame ``prev``, with the process's derivative.

    The value is :func:`_frame` (from the initial field's coefficients, as
    without derivatives). The derivative is that of ``n`` steps of the walk from
    ``prev`` (equal to the value wherever the spectral method is exact), for the
    weights normalised to sum to 1 as the eigenvalues are:

    - only the field moves: the walk is linear in it, and the tangent is the
      spectral map of ``prev``'s tangent (one transform);
    - the weights move: the derivative of the ``propagator`` method's steps
      with respect to the field and the weights together, a JAX function whose
      own forward-mode derivatives are the walk's too.

    The tangents of ``coeffs`` and ``parts`` are not read: they come from
    ``prev`` and ``weights``. Where JAX differentiates the transform itself
    instead of this rule (a derivative of a reverse-mode derivative: JAX then
    differentiates the function of a scan's carry as written, not its rule), a
    derivative that reaches the weights raises ``ValueError`` (:func:`_refuse`);
    one that reaches only the field is the transform's own, which is exact.
    """
    if isinstance(n, (int, np.integer)):
        return _frame_after_rule(static + (int(n),), coeffs, parts, s, prev, weights, None)
    return _frame_after_rule(static + (None,), coeffs, parts, s, prev, weights, n)  # a traced gap


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _frame_after_rule(static, coeffs, parts, s, prev, weights, n_traced):
    bnd, shape, _ = static
    return _frame(bnd, shape, coeffs, parts, s, prev.dtype) + _refuse(weights)


def _frame_after_jvp(static, primals, tangents):
    from jax.custom_derivatives import SymbolicZero

    from ._stencils import step

    coeffs, parts, s, prev, weights, n_traced = primals
    dprev, dweights = tangents[3], tangents[4]
    bnd, shape, n = static
    n = n_traced if n is None else n
    out = _frame_after_rule(static, coeffs, parts, s, prev, weights, n_traced)
    if isinstance(dweights, SymbolicZero):
        if isinstance(dprev, SymbolicZero):
            return out, jnp.zeros_like(out)
        # a derivative of this tangent with respect to the weights would be the transform's: refused
        return out, _frame(bnd, shape, per_axis.forward(dprev, bnd), parts, n, out.dtype) + _refuse(weights)
    radius = tuple(k // 2 for k in weights.shape)

    def walk(c, w):
        w = w / jnp.sum(w)
        return jax.lax.fori_loop(0, n, lambda _, x: step(x, w, radius, bnd)[0], c)

    dprev = jnp.zeros_like(prev) if isinstance(dprev, SymbolicZero) else dprev
    return out, jax.jvp(walk, (prev, weights), (dprev, dweights))[1].astype(out.dtype)


_frame_after_rule.defjvp(_frame_after_jvp, symbolic_zeros=True)

NOT_HERE = (
    "method 'spectral' cannot take this derivative with respect to the kernel on reflecting or absorbing "
    "axes: it would be the transform's own, which is symmetrised there (the transform is exact only for "
    "mirror-symmetric kernels). First derivatives in every direction (jax.grad, jax.jvp, jax.jacrev) and "
    "forward-mode derivatives of derivatives taken with respect to the kernel are exact; for the others "
    "(e.g. jax.hessian, which is forward over reverse, or a kernel derivative of a derivative taken with "
    "respect to the field alone) use method='propagator'"
)


def _refuse(weights):
    """A zero scalar of the weights' dtype whose derivative raises ``ValueError`` (:data:`NOT_HERE`).

    A JAX primitive, not a ``custom_jvp``: its rule is consulted wherever JAX
    differentiates it, including where it differentiates an enclosing custom
    function as written.
    """
    return _refuse_primitive().bind(weights)


@functools.cache
def _refuse_primitive():
    """The primitive behind :func:`_refuse`, registered with JAX on first use (nothing happens at import)."""
    try:
        from jax.extend.core import Primitive
    except ImportError:  # older JAX
        from jax.core import Primitive  # pyright: ignore[reportAttributeAccessIssue]
    from jax.core import ShapedArray
    from jax.interpreters import ad, batching, mlir

    def zero(w):
        return jnp.zeros((), w.dtype)

    def jvp(primals, tangents):
        raise InputError(NOT_HERE)

    prim = Primitive("diffusion_conv_spectral_no_derivative")
    prim.def_impl(zero)
    prim.def_abstract_eval(lambda w: ShapedArray((), w.dtype))
    mlir.register_lowering(prim, mlir.lower_fun(zero, multiple_results=False))
    ad.primitive_jvps[prim] = jvp
    batching.primitive_batchers[prim] = lambda args, dims: (prim.bind(*args), None)  # a scalar zero: not batched
    return prim


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
        return {
            "bnd": bnd,
            "shape": tank.shape,
            "cell": tank.dx**tank.ndim,
            "workers": workers,
            "coeffs": per_axis.forward(field, bnd, host=True, workers=workers),
            "parts": prop.derived(
                ("spectral host parts", tank.shape, tuple(map(str, bnd))),
                lambda: host_parts(prop.weights, tank.shape, bnd),
            ),
            "s": 0,
            "dtype": field.dtype,
            "mass0": None if all(b.conserves for b in bnd) else field.sum(dtype=np.float64),
            "field0": field,
        }

    def advance(self, state, n):
        return {**state, "s": state["s"] + int(n)}

    def observe(self, state):
        if state["s"] == 0:  # the initial field itself (read-only: the driver copies frames into its own)
            return state["field0"], 0.0
        c = scaled(state["coeffs"], state["parts"], state["s"], np)
        frame = np.asarray(
            per_axis.inverse(c, state["bnd"], state["shape"], host=True, workers=state["workers"], overwrite=True),
            dtype=state["dtype"],
        )
        return frame, float(deficit_absorbed(state["mass0"], frame, state["bnd"], np.float64)) * state["cell"]

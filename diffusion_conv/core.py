"""``rollout``: every JAX method as one traceable function of the tank, the kernel and the key.

``dc.rollout(tank, prop, steps, method=...)`` returns ``(frames, absorbed)`` as
JAX arrays. It composes a method's ``init``, ``advance`` and ``observe``
(:mod:`diffusion_conv.methods`) with ``lax.scan`` over the saved frames,
so it runs under ``jax.jit``, ``jax.vmap`` (over fields, logits and keys) and,
for the deterministic methods, ``jax.grad``. It gives the same numbers as
:func:`diffusion_conv.simulate`: bit for bit for the stochastic methods with the
same key, to rounding for the others. Batches (a stack of tanks, a bank of
kernels, a batch of keys) broadcast by NumPy's rules.
"""

from __future__ import annotations

import functools
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._keys import batch_keys, take
from .errors import InputError, InputTypeError
from .methods import check_mobility_method, resolve_auto
from .methods import get as get_method
from .methods import names as _method_names
from .propagator import Propagator
from .tank import Tank


def frame_steps(steps: int, save_every: int | None = None, save_at=None) -> np.ndarray:
    """Step indices of the saved frames.

    ``save_every=k``: ``0, k, 2k, ...`` and always the last step; ``save_at``: the
    given steps (sorted, unique, each in ``[0, steps]``) plus 0 and the last step;
    neither: steps 0 and ``steps``.
    """
    if save_at is not None:
        s = np.unique(np.concatenate([[0, steps], np.asarray(save_at, dtype=np.int64)]))
        return s
    if save_every is None or steps == 0:
        return np.unique(np.array([0, steps], dtype=np.int64))
    s = np.arange(0, steps + 1, save_every, dtype=np.int64)
    if s[-1] != steps:
        s = np.append(s, steps)
    return s


def intervals(save_steps) -> list[tuple[int, int]]:
    """Group the gaps between saved steps into runs ``(gap, count)`` of equal gaps."""
    gaps = np.diff(np.asarray(save_steps, dtype=np.int64))
    runs: list[tuple[int, int]] = []
    for g in gaps.tolist():
        if runs and runs[-1][0] == g:
            runs[-1] = (g, runs[-1][1] + 1)
        else:
            runs.append((g, 1))
    return runs


def check_schedule(steps, save_every=None, save_at=None):
    """``(steps, save_every, save_at)`` checked: integers in range, ``save_at`` sorted within ``[0, steps]``."""
    steps = _checks.integer("steps", steps, minimum=0)
    limit = _checks.max_steps()
    if steps > limit:
        hint = " (turn on JAX's x64 mode, or the CLI's --x64, for up to 2**53)" if limit < 2**53 else ""
        raise InputError(f"steps must be at most {limit}, got {steps}{hint}")
    if save_every is not None and save_at is not None:
        raise InputError("give save_every or save_at, not both")
    if save_every is not None:
        save_every = _checks.integer("save_every", save_every, minimum=1)
    if save_at is not None:
        if isinstance(save_at, (str, bytes)) or not hasattr(save_at, "__len__"):
            raise InputTypeError(f"save_at must be a sequence of step indices, got {type(save_at).__name__}")
        save_at = [_checks.integer("save_at entry", s, minimum=0) for s in save_at]
        if any(s > steps for s in save_at):
            raise InputError(f"save_at entries must be at most steps={steps}, got {max(save_at)}")
        if any(b <= a for a, b in zip(save_at, save_at[1:])):
            raise InputError("save_at must be strictly increasing")
    return steps, save_every, save_at


def check_problem(tank, prop):
    """Raise unless ``tank`` is a Tank and ``prop`` a Propagator of the same number of dimensions."""
    if not isinstance(tank, Tank):
        raise InputTypeError(f"tank must be a diffusion_conv.Tank, got {type(tank).__name__}")
    if not isinstance(prop, Propagator):
        raise InputTypeError(f"prop must be a diffusion_conv.Propagator, got {type(prop).__name__}")
    if prop.ndim != tank.ndim:
        raise InputError(f"prop is {prop.ndim}-D but the tank is {tank.ndim}-D; they must match")
    if 0 in tank.batch_shape:
        raise InputError(f"tank is an empty batch (batch_shape {tank.batch_shape}); a batch holds at least one tank")
    if 0 in prop.batch_shape:
        raise InputError(f"prop is an empty bank (batch_shape {prop.batch_shape}); a bank holds at least one kernel")


def key_batch_shape(key) -> tuple[int, ...]:
    """The batch shape of a key argument: ``()`` for one key, the leading axes for a batch of keys."""
    if key is None:
        return ()
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return tuple(key.shape)
    if dtype == np.uint32 and hasattr(key, "shape"):
        raw = jax.random.key_data(jax.random.key(0)).shape
        if tuple(key.shape[-len(raw) :]) == raw:
            return tuple(key.shape[: key.ndim - len(raw)])
    return ()


def first_key(key):
    """One key of a batch of keys (for the checks made once per run); ``key`` itself when it is one key.

    Raises ValueError for an empty batch of keys (``jax.random.split(key, 0)``).
    """
    batch = key_batch_shape(key)
    if not batch:
        return key
    if 0 in batch:
        raise InputError(
            f"key is an empty batch of keys (batch shape {batch}); give one key or a batch of at "
            f"least one (jax.random.split(key, n) with n >= 1)"
        )
    return key[(0,) * len(batch)]


def batch_shapes(tank, prop, key, method):
    """The broadcast batch shape of the tank, the kernel bank and the keys; refuses what does not broadcast."""
    shapes = {"tank": tank.batch_shape, "prop": prop.batch_shape, "key": key_batch_shape(key)}
    if shapes["key"] and not method.stochastic:
        raise InputError(
            f"a batch of keys of shape {shapes['key']} applies to the stochastic methods only, not to "
            f"method={method.name!r}"
        )
    if not any(shapes.values()):
        return ()
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        raise InputError(
            f"the batch shapes do not broadcast (NumPy's rules): tank {shapes['tank']}, "
            f"prop {shapes['prop']}, key {shapes['key']}"
        ) from None


def resolve(method, tank, prop, **kwargs):
    """The method object for ``method``; ``'auto'`` is the first method that picks the problem (the methods'
    ``auto`` attribute and ``picks`` hook: ``spectral`` where it is exact, else ``propagator``)."""
    if method == "auto":
        return resolve_auto(tank, prop, **kwargs)
    return get_method(method)


class Group:
    """Members of a flattened batch that take one path: their flat indices and their inputs (leading axis)."""

    def __init__(self, index, conc, weights, keys, prepared, mobility=None):
        self.index, self.conc, self.weights, self.keys, self.prepared = index, conc, weights, keys, prepared
        self.mobility = mobility  # the members' mobility maps (leading axis), or None without a map

    @property
    def size(self) -> int:
        return len(self.index)


def flatten_batch(m, tank, prop, key, batch, options) -> list[Group]:
    """The broadcast batch flattened to one leading axis, in groups of members that take one path.

    Members whose kernels need different paths (:meth:`Method.signature`: a
    separable kernel beside a non-separable one) run in separate groups, so each
    member computes exactly what its own run computes. Each group carries the
    method's host-side preparation (:meth:`Method.prepare`) of its concrete
    inputs (None where nothing is prepared).
    """
    size = math.prod(batch)

    def flat(x, lead):
        xp = np if _checks.is_concrete(x) else jnp  # concrete inputs stay concrete under an outer jit
        x = xp.asarray(x)
        if x.shape[:lead] != batch:  # a batch shorter than the run's: broadcast it first
            x = xp.broadcast_to(x, batch + x.shape[lead:])
        return x.reshape((size,) + x.shape[len(batch) :])

    conc = flat(tank.concentration, tank._batch)
    weights = flat(prop.weights, prop._batch)
    mob = None if tank.mobility is None else flat(tank.mobility, np.ndim(tank.mobility) - tank.ndim)
    keys = None if key is None else batch_keys(key, batch, size)
    concrete = (
        _checks.is_concrete(prop.weights)
        and _checks.is_concrete(tank.concentration)
        and (mob is None or _checks.is_concrete(mob))
    )
    if not concrete:
        return [Group(np.arange(size), conc, weights, take(keys, None), None, mob)]
    w_members = np.asarray(prop.weights).reshape((-1,) + prop.kernel_shape)
    one = tank[(0,) * tank._batch] if tank._batch else tank
    sig_of_member = [m.signature(one, w, options) for w in w_members]
    if len(w_members) == 1:  # one kernel for every member
        sigs = sig_of_member * size
    else:
        which = np.broadcast_to(np.arange(len(w_members)).reshape(prop.batch_shape), batch).ravel()
        sigs = [sig_of_member[i] for i in which]
    groups = []
    paths = dict.fromkeys(sigs)
    for sig in paths:
        if len(paths) == 1:  # every member: the arrays as they are, no copy
            index, c, w, k, mb = np.arange(size), conc, weights, take(keys, None), mob
        else:
            index = np.array([i for i, s_ in enumerate(sigs) if s_ == sig], dtype=np.int64)
            c, w, k = conc[index], weights[index], None if keys is None else take(keys, index)
            mb = None if mob is None else mob[index]
        member_tank = tank.like(np.asarray(c), 1, mobility=None if mb is None else np.asarray(mb))
        prepared = m.prepare(member_tank, Propagator._trusted(np.asarray(w), 1), (len(index),), options)
        groups.append(Group(index, c, w, k, prepared, mb))
    return groups


def each(fn, *args, in_axes=0):
    """``jax.vmap(fn, in_axes)(*args)`` over a leading axis of members, or, for one member, ``fn`` on it directly.

    One member is the common case (a single run, a slab on each device); calling
    ``fn`` without ``vmap`` spares tracing the batching rules of every loop of
    the method (half the time it takes to compile a stochastic method).
    """
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    sizes = {x.shape[0] for a, ax in zip(args, axes) if ax == 0 for x in jax.tree_util.tree_leaves(a)}
    if sizes == {1}:
        squeezed = [jax.tree_util.tree_map(lambda x: x[0], a) if ax == 0 else a for a, ax in zip(args, axes)]
        return jax.tree_util.tree_map(lambda x: x[None], fn(*squeezed))
    return jax.vmap(fn, in_axes=axes)(*args)


def init_members(m, tank, conc, weights, keys, prepared, n_particles, options, mobility=None):
    """``vmap`` of the method's ``init`` over the members of a flattened batch (``mobility``: their maps)."""

    def one(c, w, k, p, mb):
        t = tank.like(c, mobility=mb)
        return m.init(t, Propagator._trusted(w), key=k, n_particles=n_particles, prepared=p, **options)

    axes = (0, 0, None if keys is None else 0, None if prepared is None else 0, None if mobility is None else 0)
    return each(one, conc, weights, keys, prepared, mobility, in_axes=axes)


def trajectory(method, tank, prop, save_steps, key=None, n_particles=None, collect=None, prepared=None, **options):
    """Frames, absorbed, extras and collected values at ``save_steps`` for one (unbatched) problem.

    The pure composition of ``init``, ``advance`` and ``observe`` that
    :func:`rollout` and the stochastic methods' ``sample`` functions share,
    compiled once per method, frame schedule and problem structure (it may be
    traced further: ``jit``, ``vmap`` and ``grad`` see through it).
    ``collect(method, state)``, a module-level function when given, is recorded
    at every frame too.
    """
    m = get_method(method) if isinstance(method, str) else method
    steps = tuple(int(s) for s in save_steps)
    frozen = tuple(sorted(options.items()))
    if prepared is None:  # host work on concrete inputs, before the compiled part (which sees tracers)
        prepared = m.prepare(tank, prop, (), options)
    return _trajectory(
        tank, prop, key, prepared, m=m, save_steps=steps, n_particles=n_particles, collect=collect, options=frozen
    )


@functools.partial(jax.jit, static_argnames=("m", "save_steps", "n_particles", "collect", "options"))
def _trajectory(tank, prop, key, prepared, m, save_steps, n_particles, collect, options):
    state = m.init(tank, prop, key=key, n_particles=n_particles, prepared=prepared, **dict(options))

    def record(st):
        frame, absorbed = m.observe(st)
        return frame, absorbed, m.extras(st), None if collect is None else collect(m, st)

    parts = [jax.tree_util.tree_map(lambda x: x[None], record(state))]
    for gap, count in intervals(save_steps):

        def body(st, _, gap=gap):
            st = m.advance(st, gap)
            return st, record(st)

        state, rec = jax.lax.scan(body, state, None, length=count)
        parts.append(rec)
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *parts)


def rollout(
    tank, prop, steps, method="propagator", save_every=None, key=None, n_particles=None, save_at=None, **options
):
    """Run a JAX method as one traceable function: ``(frames, absorbed)`` as JAX arrays.

    Parameters
    ----------
    tank : Tank
        Its field may be traced (``jax.grad`` flows into it); a stack of tanks
        (:meth:`Tank.stack`) is a batch.
    prop : Propagator
        Its weights may be traced (e.g. ``Propagator.from_logits(z)`` with traced
        ``z``); a bank (:meth:`Propagator.stack`) is a batch.
    steps : int
        Number of steps (static).
    method : str
        Any method but ``'image'`` (scipy, host only: use :func:`simulate`), or
        ``'auto'``.
    save_every, save_at
        The frame schedule, as in :func:`simulate` (static).
    key : JAX key, or a batch of keys
        For the stochastic methods (required by them); a batch of keys is an ensemble.
    n_particles : int
        For the stochastic methods.
    **options
        Method options (e.g. ``track``, ``initial``).

    Returns
    -------
    frames : jax array, shape ``(F, *batch_shape, *tank.shape)``
        Concentration at the saved steps, in the tank's dtype.
    absorbed : jax array, shape ``(F, *batch_shape)``
        Running total of absorbed mass.

    Raises
    ------
    ValueError, TypeError
        Bad input, or ``method='image'``.

    Notes
    -----
    Bit for bit equal to :func:`simulate` for the stochastic methods when the
    tank and the kernel are concrete (closed over by a jitted function, or
    passed as they are): host-side preparation (the per-axis split of a separable
    kernel, thresholds accumulated in float64) needs concrete values. With a
    traced kernel the draws follow the same distribution by the JAX path.
    ``jax.grad`` works for ``propagator`` and ``spectral``; the stochastic
    methods are differentiable in nothing (their samples are integers);
    ``heat`` computes its multipliers on the host (a callback). Under
    ``jax.jit`` pass ``steps``, ``save_every``, ``method`` and ``n_particles``
    as static values (closures or ``static_argnames``).
    """
    check_problem(tank, prop)
    steps, save_every, save_at = check_schedule(steps, save_every, save_at)
    if method != "auto":
        m = get_method(method)
    else:
        m = resolve("auto", tank, prop, **options)
    if not m.traceable:
        raise InputError(
            f"method {m.name!r} runs on the host (scipy) and has no JAX rollout; use "
            f"diffusion_conv.simulate(..., method={m.name!r})"
        )
    check_mobility_method(m, tank)
    batch = batch_shapes(tank, prop, key, m)
    options = m.validate(tank, prop, n_particles=n_particles, key=first_key(key), **options)
    save_steps = frame_steps(steps, save_every, save_at)
    if not batch:
        frames, absorbed, _, _ = trajectory(m, tank, prop, save_steps, key=key, n_particles=n_particles, **options)
        return frames, absorbed
    groups = flatten_batch(m, tank, prop, key, batch, options)

    def one(c, w, k, p, mb):
        t = tank.like(c, mobility=mb)
        f, a, _, _ = trajectory(
            m, t, Propagator._trusted(w), save_steps, key=k, n_particles=n_particles, prepared=p, **options
        )
        return f, a

    size = math.prod(batch)
    frames = absorbed = None
    for g in groups:
        axes = (
            0,
            0,
            None if g.keys is None else 0,
            None if g.prepared is None else 0,
            None if g.mobility is None else 0,
        )
        f, a = jax.vmap(one, in_axes=axes, out_axes=1)(g.conc, g.weights, g.keys, g.prepared, g.mobility)
        if len(groups) == 1:
            frames, absorbed = f, a
            break
        if frames is None:
            frames = jnp.zeros(f.shape[:1] + (size,) + f.shape[2:], f.dtype)
            absorbed = jnp.zeros(a.shape[:1] + (size,), a.dtype)
        frames, absorbed = frames.at[:, g.index].set(f), absorbed.at[:, g.index].set(a)
    return frames.reshape(frames.shape[:1] + batch + frames.shape[2:]), absorbed.reshape(absorbed.shape[:1] + batch)


def propagate(field, prop, steps, boundary="reflect", walls=None, method="propagator", mobility=None):
    """Push a field through ``steps`` steps of a propagator: a pure, differentiable function.

    Parameters
    ----------
    field : array, 1-D to 3-D
        Concentration per cell (integers and booleans are read as floats); may be
        a JAX tracer (``jax.grad`` flows into it).
    prop : Propagator
        May be built inside the differentiated function, e.g.
        ``Propagator.from_logits(logits)`` (gradients flow into the logits).
    steps : int
        Number of steps (static).
    boundary : str or sequence of str
        One boundary for all axes or one per axis.
    walls : array_like of bool, optional
        Solid cells (static, concrete).
    method : {'propagator', 'spectral'}
        Step by step (exact everywhere), or in one transform (exact where the
        spectral method is; refused elsewhere, with concrete weights).
    mobility : array, optional
        A mobility map (values in ``[0, 1]``, see :class:`~diffusion_conv.Tank`); may
        be a JAX tracer (``jax.grad`` flows into it). ``propagator`` only.

    Returns
    -------
    array of the field's shape
        The field after ``steps`` steps. Mass absorbed at open edges is gone.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, diffusion_conv as dc
    >>> c0 = jnp.zeros(9).at[4].set(1.0)
    >>> loss = lambda z: dc.propagate(c0, dc.Propagator.from_logits(z), 3)[6]
    >>> g = jax.grad(loss)(jnp.zeros(3))
    """
    if not isinstance(prop, Propagator):
        raise InputTypeError(
            f"prop must be a diffusion_conv.Propagator (e.g. Propagator.from_logits(z)), got {type(prop).__name__}"
        )
    allowed = [n for n in _method_names() if get_method(n).differentiable]
    if method not in allowed:
        raise InputError(f"method {method!r} is not a differentiable method; allowed: {', '.join(allowed)}")
    if isinstance(steps, bool) or not isinstance(steps, (numbers.Integral, np.integer)):
        raise InputTypeError(f"steps must be an integer, got {steps!r} ({type(steps).__name__})")
    if _checks.is_concrete(field):
        arr = np.asarray(field)
        if arr.dtype != np.float32 and arr.dtype != np.float64:
            field = jnp.asarray(arr, dtype=_checks.float_dtype())
    field = jnp.asarray(field)
    if field.ndim != prop.ndim:
        raise InputError(f"prop is {prop.ndim}-D but field is {field.ndim}-D; they must match")
    tank = Tank(field, boundary=boundary, walls=walls, mobility=mobility)
    frames, _ = rollout(tank, prop, steps, method=method)
    return frames[-1]

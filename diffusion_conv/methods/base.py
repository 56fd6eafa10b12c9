"""The one interface every method implements, the state it carries, and the registry.

A method is a small object (a subclass of :class:`Method`, registered with
:func:`register`) made of pure functions:

``validate(tank, prop, n_particles=None, key=None, **options) -> options``
    Host-side checks of a concrete problem; raises ``ValueError``/``TypeError``
    naming the argument, before any work. Returns the options with defaults.
``order(tank, prop) -> Order``
    The declared convergence order (a signed exponent) and what it is measured against.
``prepare(tank, prop, batch, options) -> State or None``
    Optional host-side work on concrete inputs (separable factors, thresholds
    computed in float64): leaves with the leading axes of the run's ``batch``.
``init(tank, prop, key=None, n_particles=None, prepared=None, **options) -> State``
    The state at step 0 (pure JAX: works on traced fields, weights and keys;
    uses ``prepared`` where given, else computes the same in JAX).
``advance(state, n) -> State``
    The state ``n`` steps later; ``n`` a Python int or a traced integer scalar.
``observe(state) -> (frame, absorbed)``
    The concentration field (the tank's dtype) and the running total of absorbed
    mass (in units of mass, ``dx**ndim`` times cell units).

:func:`diffusion_conv.rollout` composes them under ``jax.jit``/``vmap``/``grad``;
:func:`diffusion_conv.simulate` is the one host driver on top (validation, frame
chunks, progress, the move to the host, :class:`~diffusion_conv.Result`).
A new method is one new module in this package with one registered class.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from typing import ClassVar

import jax
import numpy as np

from ..errors import InputError, InputTypeError

KINDS = ("deterministic", "stochastic", "reference")

_MODULES = ("propagator", "spectral", "particles", "counts", "image", "heat")
"""The method modules, in the order the methods are listed (the only list of them)."""

_REGISTRY: dict[str, Method] = {}


@dataclasses.dataclass(frozen=True)
class Order:
    """A declared convergence order: the error falls like ``variable ** exponent``.

    Attributes
    ----------
    exponent : float
        Signed: ``-1.0`` for an error ~ ``1/n``, ``-0.5`` for ``n^-1/2``.
    variable : str
        ``'steps'`` (the lattice walk against the continuum) or ``'n_particles'``
        (sampling noise against the expectation).
    reference : str
        The method the error is measured against (``'heat'`` or ``'propagator'``).
    why : str
        One line saying where the exponent comes from.
    """

    exponent: float
    variable: str
    reference: str
    why: str = ""


@jax.tree_util.register_pytree_node_class
class State:
    """A method's state: named JAX arrays (the pytree's leaves) and hashable static data.

    Parameters
    ----------
    static : hashable
        What the compiled program depends on (shapes, boundaries, the path taken).
    **arrays
        The leaves; ``None`` entries are allowed and stay ``None``.
    """

    __slots__ = ("static", "arrays")

    def __init__(self, static, **arrays):
        object.__setattr__(self, "static", static)
        object.__setattr__(self, "arrays", arrays)

    def __getattr__(self, name):
        try:
            return object.__getattribute__(self, "arrays")[name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **changes) -> State:
        """A copy with some arrays replaced."""
        return State(self.static, **{**self.arrays, **changes})

    def tree_flatten(self):
        names = tuple(sorted(self.arrays))
        return tuple(self.arrays[n] for n in names), (self.static, names)

    @classmethod
    def tree_unflatten(cls, aux, children):
        static, names = aux
        return cls(static, **dict(zip(names, children)))

    def __repr__(self):
        return f"State({', '.join(self.arrays)})"


class Method(abc.ABC):
    """The interface of a method; subclasses set the class attributes and the five functions.

    Attributes
    ----------
    name : str
        The name :func:`diffusion_conv.simulate` takes.
    kind : str
        ``'deterministic'``, ``'stochastic'`` or ``'reference'``.
    traceable : bool
        Whether ``init``/``advance``/``observe`` are JAX functions (``False`` for
        ``image``, which calls scipy: :func:`diffusion_conv.rollout` refuses it).
    stochastic : bool
        Whether the method needs ``key`` and ``n_particles``.
    differentiable : bool
        Whether ``jax.grad`` flows through the method (into fields and logits).
    options : dict
        Method-specific options and their defaults.
    units : str
        What the driver's progress bar counts for this method (``'step'`` or ``'frame'``).
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    traceable: ClassVar[bool] = True
    stochastic: ClassVar[bool] = False
    differentiable: ClassVar[bool] = False
    options: ClassVar[dict] = {}
    units: ClassVar[str] = "step"

    @abc.abstractmethod
    def validate(self, tank, prop, *, n_particles=None, key=None, **options) -> dict:
        """Check a concrete problem before any work; return the options with defaults."""

    @abc.abstractmethod
    def order(self, tank, prop) -> Order:
        """The declared convergence order for this problem."""

    @abc.abstractmethod
    def init(self, tank, prop, key=None, n_particles=None, prepared=None, **options) -> State:
        """The state at step 0."""

    @abc.abstractmethod
    def advance(self, state: State, n) -> State:
        """The state ``n`` steps later."""

    @abc.abstractmethod
    def observe(self, state: State):
        """``(frame, absorbed)`` of a state."""

    # -- optional hooks with defaults -------------------------------------------------------
    def signature(self, tank, weights, options):
        """A hashable summary of the path one kernel takes (members of a batch that differ run apart)."""
        return None

    def prepare(self, tank, prop, batch, options):
        """Host-side preparation from concrete inputs (None: nothing to prepare, or inputs are traced)."""
        return None

    def check_steps(self, tank, prop, save_steps, options) -> None:  # noqa: B027 (optional hook: no check)
        """Refuse a frame schedule the method cannot compute (before any work)."""

    def extras(self, state: State) -> dict:
        """Further per-frame arrays the driver saves in ``Result.extras`` (e.g. tracks)."""
        return {}

    def summary(self, state: State) -> dict:
        """Scalars (per batch member) of the final state for ``Result.meta``, e.g. particles remaining."""
        return {}

    def meta(self, tank, prop, save_steps, options) -> dict:
        """JSON-serialisable details of a run, for ``Result.meta``."""
        return {}

    def stepwise(self, state: State) -> bool:
        """Whether ``advance(s, a + b) == advance(advance(s, a), b)`` exactly, so the driver may split a gap."""
        return True

    def host(self, tank, prop, options):
        """A host implementation of the same interface (numpy, scipy) to use instead on a CPU backend, or None."""
        return None

    def check_arguments(self, n_particles, key, options):
        """Refuse stochastic arguments for a deterministic method and unknown options."""
        if not self.stochastic:
            if n_particles is not None:
                raise InputError(f"n_particles applies to the stochastic methods only, not to method={self.name!r}")
            if key is not None:
                raise InputError(f"key applies to the stochastic methods only, not to method={self.name!r}")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = f"the options {', '.join(sorted(self.options))}" if self.options else "no options"
            raise InputTypeError(f"method {self.name!r} takes {allowed}, got {unknown}")
        return {**self.options, **options}

    def __repr__(self):
        return f"<method {self.name!r} ({self.kind})>"


def register(cls):
    """Class decorator: check ``cls`` implements :class:`Method` and add one instance to the registry."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise InputTypeError(f"{cls!r} is not a subclass of Method")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise InputTypeError(f"method class {cls.__name__} does not implement {', '.join(missing)}")
    for attr in ("name", "kind"):
        if not isinstance(getattr(cls, attr, None), str):
            raise InputTypeError(f"method class {cls.__name__} must set the class attribute {attr!r} (a string)")
    if cls.kind not in KINDS:
        raise InputTypeError(f"method class {cls.__name__} has kind {cls.kind!r}; allowed: {', '.join(KINDS)}")
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise InputTypeError(f"a method named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls()
    return cls


def _load():
    if len(_REGISTRY) < len(_MODULES):
        for m in _MODULES:
            importlib.import_module(f"diffusion_conv.methods.{m}")


def names() -> tuple[str, ...]:
    """Every registered method name, in the order they are listed."""
    _load()
    return tuple(n for n in _MODULES if n in _REGISTRY) + tuple(n for n in _REGISTRY if n not in _MODULES)


def get(name) -> Method:
    """The registered method called ``name``; ValueError listing the names otherwise."""
    _load()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InputError(f"method {name!r} is unknown; allowed: {', '.join(names() + ('auto',))}")
    return _REGISTRY[name]


def lead(x, own, batch):
    """``x`` with leading axes ``own`` (a batch shape) re-laid to ``len(batch)`` leading axes, ready to broadcast."""
    x = np.asarray(x)
    return x.reshape((1,) * (len(batch) - len(own)) + x.shape)


def members(x, own):
    """The members of an array with leading batch axes ``own``, flattened: shape ``(prod(own), *rest)``."""
    x = np.asarray(x)
    return x.reshape((-1,) + x.shape[len(own) :])

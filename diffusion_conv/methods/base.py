"""The one interface every method implements, the state it carries, and the registry.

A method is a small object (a subclass of :class:`Method`; a concrete subclass
that sets its ``name`` registers itself when it is defined) made of pure functions:

``validate(tank, prop, n_particles=None, key=None, **options) -> options``
    Host-side checks of a concrete problem; raises ``ValueError``/``TypeError``
    naming the argument, before any work. Returns the options with defaults.
``order(tank, prop) -> Order``
    The declared convergence order (a signed exponent) and what it is measured against.
``prepare(tank, prop, batch, options) -> State or None``
    Optional host-side work on concrete inputs (separable factors, thresholds
    computed in float64): leaves with the leading axes of the run's ``batch``.
    :func:`diffusion_conv.simulate` prepares once per run (per group of members
    that take one path) and carries the result: ``init``, ``meta`` and
    ``memory`` read it.
``init(tank, prop, key=None, n_particles=None, prepared=None, **options) -> State``
    The state at step 0 (pure JAX: works on traced fields, weights and keys;
    uses ``prepared`` where given, else computes the same in JAX).
``advance(state, n) -> State``
    The state ``n`` steps later; ``n`` a Python int or a traced integer scalar.
``observe(state) -> (frame, absorbed)``
    The concentration field (the tank's dtype) and the running total of absorbed
    mass (in units of mass, ``dx**ndim`` times cell units).
``memory(sizes, options, n_particles, nframes, members, itemsize, prepared=None) -> dict``
    The bytes a run holds, in parts (a default for grid methods; see :meth:`Method.memory`).
``slab() -> Slab or None``
    The method's form on one grid split along axis 0 across devices, or None: it cannot split.

A state's static data (what the compiled program depends on) are the named
fields of a frozen dataclass: hashable and compared by value, so two runs with
equal static data share one compiled program.

:func:`diffusion_conv.rollout` composes them under ``jax.jit``/``vmap``/``grad``;
:func:`diffusion_conv.simulate` is the one host driver on top (validation, frame
chunks, progress, the move to the host, :class:`~diffusion_conv.Result`).
A new method is one new module in this package with one class: the modules of
the package are found by :func:`names` (``pkgutil``), and the class registers
itself.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import math
import os
import pkgutil
from typing import ClassVar

import jax
import numpy as np

from ..errors import InputError, InputTypeError

KINDS = ("deterministic", "stochastic", "reference")

_REGISTRY: dict[str, Method] = {}
"""Every registered method by name (filled by the classes themselves, :meth:`Method.__init_subclass__`)."""

_LOADED = False
"""Whether the method modules of this package have been imported (:func:`_load`)."""


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


@dataclasses.dataclass(frozen=True)
class Sizes:
    """The sizes a memory estimate reads (no arrays: the command estimates a run before it builds one).

    Attributes
    ----------
    shape : tuple of int
        The grid (cells per axis).
    kernel_shape : tuple of int
        The kernel's shape (odd sizes).
    walls : bool
        Whether the tank has walls.
    """

    shape: tuple[int, ...]
    kernel_shape: tuple[int, ...]
    walls: bool = False

    @classmethod
    def of(cls, tank, prop) -> Sizes:
        """The sizes of a tank and a kernel."""
        return cls(tuple(tank.shape), tuple(prop.kernel_shape), tank.walls is not None)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def cells(self) -> int:
        return math.prod(self.shape)

    @property
    def taps(self) -> int:
        """The kernel's entries: the jumps of one step."""
        return math.prod(self.kernel_shape)


MEMORY_PARTS = ("working", "frames", "extras", "particles")
"""The parts of a memory estimate, in bytes (:meth:`Method.memory`)."""


class Method(abc.ABC):
    """The interface of a method; subclasses set the class attributes and the five functions.

    A subclass that sets its own ``name`` and implements the abstract functions
    registers itself when it is defined (one instance in the registry that
    :func:`get` and :func:`names` read); one that sets no ``name`` of its own is
    a base for others and is not registered.

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
    listed : int
        Where the method comes in :func:`names` (lower first; methods of equal
        ``listed`` in the order they were defined).
    auto : int or None
        Where ``method='auto'`` tries the method (lower first, the first that
        :meth:`picks` the problem runs it); None: ``'auto'`` never runs it.
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    traceable: ClassVar[bool] = True
    stochastic: ClassVar[bool] = False
    differentiable: ClassVar[bool] = False
    options: ClassVar[dict] = {}
    units: ClassVar[str] = "step"
    listed: ClassVar[int] = 1000
    auto: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls):
            _add(cls)

    # one instance per class: equal (and of one hash) as static arguments of compiled programs
    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

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

    def meta(self, tank, prop, save_steps, options, prepared=()) -> dict:
        """JSON-serialisable details of a run, for ``Result.meta``.

        ``prepared``: what :meth:`prepare` gave for each group of members of the
        run (read instead of preparing again).
        """
        return {}

    def stepwise(self, state: State) -> bool:
        """Whether ``advance(s, a + b) == advance(advance(s, a), b)`` exactly, so the driver may split a gap."""
        return True

    def host(self, tank, prop, options):
        """A host implementation of the same interface (numpy, scipy) to use instead on a CPU backend, or None."""
        return None

    def picks(self, tank, prop, **kwargs) -> bool:
        """Whether ``method='auto'`` runs this method on this problem: by default, where it validates it."""
        try:
            self.validate(tank, prop, **kwargs)
        except ValueError:
            return False
        return True

    def slab(self) -> Slab | None:
        """The method's form on one grid split along axis 0 across devices; None: it cannot split a grid."""
        return None

    def memory(self, sizes: Sizes, options, n_particles, nframes, members, itemsize, prepared=None) -> dict:
        """The bytes a run holds, in the parts of :data:`MEMORY_PARTS` (all members together).

        Parameters
        ----------
        sizes : Sizes
            The grid, the kernel and whether there are walls.
        options : dict
            The method's options (as :meth:`validate` returns them).
        n_particles : int or None
            Particles of a stochastic method.
        nframes, members, itemsize : int
            Saved frames, batch members, bytes of a cell of the field.
        prepared : sequence, optional
            What :meth:`prepare` gave for each group of members (None before it ran).

        Returns
        -------
        dict
            ``working``: the arrays of the running state and of one step (six
            fields per member for a grid method: state, step, the chunk's frame
            buffers); ``frames``: the saved frames on the host; ``extras``:
            further per-frame arrays; ``particles``: arrays of one entry per particle.
        """
        return {
            "working": 6 * members * sizes.cells * itemsize,
            "frames": frames_bytes(sizes, nframes, members, itemsize),
            "extras": 0,
            "particles": 0,
        }

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


def frames_bytes(sizes: Sizes, nframes, members, itemsize) -> int:
    """Bytes of the saved frames of a run: ``nframes`` fields per member."""
    return int(nframes) * int(members) * sizes.cells * int(itemsize)


# -- the split grid ------------------------------------------------------------------------------
class Slab(abc.ABC):
    """A method's form on one grid split along axis 0 across devices: each device holds ``n0 / D`` rows.

    The same interface as :class:`Method` (``init``, ``advance``, ``observe``,
    ``extras``, ``summary``, ``stepwise``) on one device's slab, run inside
    ``shard_map`` over the mesh axis :data:`diffusion_conv.lattice.halo.AXIS`, and
    :meth:`inputs`, which cuts a checked plan into per-device arrays. A method
    declares its form with :meth:`Method.slab`. One instance per class: equal
    (and of one hash) as static arguments of compiled programs.
    """

    method: ClassVar[str]
    """The name of the method this is the split form of."""
    units: ClassVar[str] = "step"

    @property
    def name(self) -> str:
        return self.method

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def check(self, tank, prop, devices, options) -> None:
        """Refuse what this form cannot split (before any work): equal slabs of at least the kernel's radius."""
        n0, r0 = tank.shape[0], prop.radius[0]
        if n0 % devices:
            raise InputError(
                f"axis 0 of the tank ({n0} cells) must be a multiple of the number of devices ({devices}) "
                f"to split the grid into equal slabs"
            )
        if r0 > n0 // devices:
            raise InputError(
                f"each device's slab ({n0 // devices} rows) must be at least the kernel's radius along "
                f"axis 0 ({r0}); use fewer devices"
            )

    @abc.abstractmethod
    def inputs(self, plan, devices) -> tuple:
        """``(static, arrays)``: the static data and the per-device arrays (leading axis ``devices``) of a plan."""

    @abc.abstractmethod
    def init(self, static, **arrays) -> State:
        """A device's state at step 0 from its share of :meth:`inputs`' arrays."""

    @abc.abstractmethod
    def advance(self, state: State, n) -> State:
        """The slab's state ``n`` steps later (exchanging halos with the neighbouring devices)."""

    @abc.abstractmethod
    def observe(self, state: State):
        """``(slab of the frame, absorbed total)`` (the total summed over the devices)."""

    def extras(self, state: State) -> dict:
        return {}

    def summary(self, state: State) -> dict:
        return {}

    def stepwise(self, state: State) -> bool:
        return True

    def __repr__(self):
        return f"<slab form of {self.method!r}>"

    # helpers of inputs()
    @staticmethod
    def cut(x, devices):
        """``(D, s, ...)``: an array of the tank's shape cut along axis 0 into ``devices`` slabs."""
        x = np.asarray(x)
        return x.reshape((devices, x.shape[0] // devices) + x.shape[1:])

    @staticmethod
    def cut_masks(blocked, devices):
        """Wall masks ``(K, n0, ...)`` cut along the grid's axis 0: ``(D, K, s, ...)`` (None stays None)."""
        if blocked is None:
            return None
        return np.moveaxis(Slab.cut(np.moveaxis(blocked, 0, -1), devices), -1, 1)

    @staticmethod
    def replicate(x, devices):
        """``(D, ...)``: one read-only copy of ``x`` per device (a broadcast view)."""
        x = np.asarray(x)
        return np.broadcast_to(x, (devices,) + x.shape)


# -- the registry ----------------------------------------------------------------------------------
def _add(cls):
    """Check a method class and add one instance of it to the registry (under its name)."""
    missing = sorted(
        n for n in dir(cls) if getattr(getattr(cls, n, None), "__isabstractmethod__", False)
    )  # (the class is not complete yet: __abstractmethods__ is set after __init_subclass__)
    if missing:
        raise InputTypeError(f"method class {cls.__name__} does not implement {', '.join(missing)}")
    for attr in ("name", "kind"):
        if not isinstance(getattr(cls, attr, None), str):
            raise InputTypeError(f"method class {cls.__name__} must set the class attribute {attr!r} (a string)")
    if cls.kind not in KINDS:
        raise InputTypeError(f"method class {cls.__name__} has kind {cls.kind!r}; allowed: {', '.join(KINDS)}")
    old = _REGISTRY.get(cls.name)
    if old is not None and type(old) is not cls:
        if (type(old).__module__, type(old).__qualname__) != (cls.__module__, cls.__qualname__):
            raise InputTypeError(f"a method named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls()


def register(cls):
    """Add ``cls`` to the registry again if it was taken out, and return it.

    A concrete subclass of :class:`Method` registers itself when it is defined;
    this decorator is kept for code written before that (and to put back a
    method a test took out of the registry).
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise InputTypeError(f"{cls!r} is not a subclass of Method")
    if type(_REGISTRY.get(getattr(cls, "name", None))) is not cls:
        _add(cls)
    return cls


def _load():
    """Import every method module of this package once (each class registers itself)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True  # first: a module that asks for the names while it loads does not load them again
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        for info in pkgutil.iter_modules([here]):
            if not info.name.startswith("_") and info.name != "base":
                importlib.import_module(f"{__package__}.{info.name}")
    except BaseException:
        _LOADED = False
        raise


def names() -> tuple[str, ...]:
    """Every registered method name, in the order they are listed (:attr:`Method.listed`, then definition)."""
    _load()
    order = {name: i for i, name in enumerate(_REGISTRY)}
    return tuple(sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].listed, order[n])))


def auto_names() -> tuple[str, ...]:
    """The methods ``method='auto'`` tries, in the order it tries them (:attr:`Method.auto`)."""
    _load()
    tried = [n for n in names() if _REGISTRY[n].auto is not None]
    return tuple(sorted(tried, key=lambda n: _REGISTRY[n].auto))


def resolve_auto(tank, prop, **kwargs) -> Method:
    """The method ``method='auto'`` runs: the first of :func:`auto_names` that :meth:`~Method.picks` the
    problem (the last one where none does: its own checks then say why)."""
    tried = [get(n) for n in auto_names()]
    if not tried:
        raise InputError("method 'auto' has no method to choose from (no registered method sets 'auto')")
    return next((m for m in tried if m.picks(tank, prop, **kwargs)), tried[-1])


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

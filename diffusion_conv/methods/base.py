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
import math
from typing import ClassVar

import numpy as np

from ..errors import InputError, InputTypeError
from ._registry import KINDS, add, auto_names, check_mobility_method, get, names, registered, resolve_auto
from ._slab import Slab
from ._state import State

__all__ = [
    "KINDS",
    "MEMORY_PARTS",
    "Method",
    "Order",
    "Sizes",
    "Slab",
    "State",
    "auto_names",
    "check_mobility_method",
    "frames_bytes",
    "get",
    "lead",
    "members",
    "names",
    "register",
    "resolve_auto",
]


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
    mobility : bool
        Whether the method takes a tank with a mobility map (``Tank(mobility=...)``);
        the others refuse one, naming the methods that take it.
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
    mobility: ClassVar[bool] = False
    options: ClassVar[dict] = {}
    units: ClassVar[str] = "step"
    listed: ClassVar[int] = 1000
    auto: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls):
            add(cls)

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
        """The bytes a run holds, in the parts of ``MEMORY_PARTS`` (all members together).

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


def register(cls):
    """Add ``cls`` to the registry again if it was taken out, and return it.

    A concrete subclass of :class:`Method` registers itself when it is defined;
    this decorator is kept for code written before that (and to put back a
    method a test took out of the registry).
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise InputTypeError(f"{cls!r} is not a subclass of Method")
    if type(registered(getattr(cls, "name", None))) is not cls:
        add(cls)
    return cls


def lead(x, own, batch):
    """``x`` with leading axes ``own`` (a batch shape) re-laid to ``len(batch)`` leading axes, ready to broadcast."""
    x = np.asarray(x)
    return x.reshape((1,) * (len(batch) - len(own)) + x.shape)


def members(x, own):
    """The members of an array with leading batch axes ``own``, flattened: shape ``(prod(own), *rest)``."""
    x = np.asarray(x)
    return x.reshape((-1,) + x.shape[len(own) :])

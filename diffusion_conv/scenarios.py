"""Named scenarios: a tank, a propagator and good defaults, ready to run.

Each scenario is built on demand by :func:`get` (so that nothing is computed at
import time and JAX's x64 switch can still be set first):

===================  ==========================================================
``two-compartment``  salt water beside fresh water in a closed tank
``partitions``       the tank split by boards into 16 x 16 compartments of random concentration, boards pulled
``noise``            every cell its own random concentration (white noise) evening out
``image``            a picture as the tank (a small generated test image)
``slit``             a board with a gap between salt and fresh water
``drift``            a softmax of a Sobel kernel: diffusion with drift, closed tank
``point``            a point source spreading into a Gaussian (periodic tank)
``gel``              salt spreading past a disc of gel (mobility 0.2) that slows it
``membrane``         two compartments joined by a porous board (mobility 0.002), no gap
===================  ==========================================================

:func:`details` gives each one's default size, steps and the method ``auto``
runs, without building anything; :func:`temperature_bank` makes a bank of
kernels from a scenario's kernel at several softmax temperatures;
:func:`named_kernel` builds the named image kernels (:data:`KERNELS`: a Gaussian,
the box blur, the edge detector :data:`EDGE`, :data:`SOBEL`) as propagators
(both re-exported here).

Examples
--------
>>> import diffusion_conv as dc
>>> from diffusion_conv import scenarios
>>> sc = scenarios.get("two-compartment", size=32)
>>> res = dc.simulate(sc.tank, sc.propagator, sc.steps, save_every=sc.save_every)
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from . import _checks, _media
from . import _kernels as kernels
from ._kernels import named_kernel, temperature_bank  # noqa: F401 (re-exported)
from ._media import gel_disc, membrane_rate  # noqa: F401 (re-exported)
from .errors import InputError
from .methods import names as method_names
from .propagator import Propagator
from .tank import Tank

TEST_IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "test_image.png")
"""Path of the generated test picture used by the ``image`` scenario."""
TEST_IMAGE_RGB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "test_image_rgb.png")
"""Path of its colour version (a different picture in each channel): ``run image --channels``."""


# Re-exported with their documentation: the named kernels (diffusion_conv.kernels) and the constants of the
# mobility scenarios (diffusion_conv._media).
EDGE = kernels.EDGE  #: The 3x3 edge detector: 8 at the centre, -1 around (a discrete Laplacian, sign flipped).
SOBEL = kernels.SOBEL  #: The Sobel kernel of the derivative along axis 1 (weight on +axis 1).
KERNELS = kernels.KERNELS  #: The named kernels of :func:`named_kernel` (``--kernel NAME[:PARAM]``), one line each.
GEL_MOBILITY = _media.GEL_MOBILITY  #: Mobility of the ``gel`` scenario's disc (five times slower than water).
MEMBRANE_MOBILITY = _media.MEMBRANE_MOBILITY  #: Mobility of the ``membrane`` scenario's porous board.
MEMBRANE_P = _media.MEMBRANE_P  #: The ``membrane`` kernel's jump probability to each nearest neighbour.


def _all():
    return method_names()


def _mobile():
    """The methods that take a mobility map (their ``mobility`` attribute), in the registry's order."""
    from .methods import get as method

    return tuple(name for name in method_names() if getattr(method(name), "mobility", False))


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One named problem with its defaults.

    Attributes
    ----------
    name : str
        The registry name (as on the command line).
    description : str
        One line.
    tank : Tank
        Initial field, boundaries and walls.
    propagator : Propagator
        The jump distribution.
    steps : int
        Default number of steps.
    save_every : int
        Default frame spacing (about 40 frames per run).
    methods : tuple of str
        The methods that apply (run and are meaningful) to this problem.
    n_particles : int
        Default number of particles for the stochastic methods.
    reference : str
        The method the others are compared with.
    notes : str
        What to look for; shown by ``diffusion-conv scenarios --long``.
    """

    name: str
    description: str
    tank: Tank
    propagator: Propagator
    steps: int
    save_every: int
    methods: tuple
    n_particles: int
    reference: str = "propagator"
    notes: str = ""


COMPARTMENTS = 16
"""Compartments per side of the ``partitions`` tank (the demo's tank)."""


def _side_steps(n):
    return max(4, (n * n) // 8)


def _two_compartment(n, seed):
    tank = Tank.two_compartment((n // 2, n), left=1.0, right=0.0, axis=1, boundary="reflect")
    return dict(
        tank=tank,
        propagator=Propagator.gaussian(1.0, ndim=2),
        methods=_all(),
        notes="the profile along axis 1 follows the closed-tank cosine series",
    )


def partitioned_tank(n, seed=0, compartments=COMPARTMENTS):
    """The ``partitions`` tank: ``n x n`` cells in ``compartments`` x ``compartments`` blocks of random concentration.

    Each block holds one concentration drawn uniformly from [0, 1) (NumPy's
    ``default_rng(seed)``); blocks are ``n / compartments`` cells wide (as even as
    the grid allows). The boards between them are pulled at step 0: a closed tank,
    no walls.
    """
    n = _checks.integer("n", n, minimum=1)
    k = min(_checks.integer("compartments", compartments, minimum=1), n)
    values = np.random.default_rng(seed).random((k, k))
    block = (np.arange(n) * k) // n  # the compartment of each row (and column)
    return Tank(values[block[:, None], block[None, :]], boundary="reflect")


def _partitions(n, seed):
    return dict(
        tank=partitioned_tank(n, seed),
        propagator=Propagator.box(3, ndim=2),
        methods=_all(),
        notes=f"{COMPARTMENTS} x {COMPARTMENTS} compartments, each its own concentration; the box blur "
        f"(m = 9) dissolves the boards' pattern once the spread sqrt(2 D t) passes a compartment's "
        f"width",
    )


def _partition_steps(n):
    width = max(1, n // COMPARTMENTS)
    return max(4, 4 * width * width)


def _noise(n, seed):
    values = np.random.default_rng(seed).random((n, n))
    return dict(
        tank=Tank.partitioned(values, cell=1),
        propagator=Propagator.box(3, ndim=2),
        methods=_all(),
        notes="every cell starts at its own concentration (white noise); the box blur (m = 9) evens it out",
    )


def _image(n, seed):
    tank = Tank.from_image(TEST_IMAGE, size=None if n == 128 else n)
    return dict(
        tank=tank,
        propagator=Propagator.box(3, ndim=2),
        methods=_all(),
        notes="repeated box blur of a picture is diffusion of its brightness",
    )


def _slit(n, seed):
    half = n // 2
    tank = Tank.two_compartment((n, n), left=1.0, right=0.0, axis=1, boundary="reflect")
    gap = (max(0, half - max(1, n // 16)), min(n, half + max(1, n // 16)))
    tank = tank.with_board(axis=1, index=half, gap=gap)
    return dict(
        tank=tank,
        propagator=Propagator.gaussian(1.0, ndim=2),
        methods=("propagator", "particles", "counts"),
        notes="salt leaks through the gap only; walls rule out spectral, image and heat",
    )


def _drift(n, seed):
    field = np.zeros((n, n))
    q = max(1, n // 8)
    field[n // 2 - q : n // 2 + q, n // 4 - q : n // 4 + q] = 1.0
    prop = Propagator.from_kernel(SOBEL, normalize="softmax", temperature=1.0)
    return dict(
        tank=Tank(field, boundary="reflect"),
        propagator=prop,
        methods=("propagator", "particles", "counts", "image"),
        notes="the softmax of a Sobel kernel drifts toward +axis 1 and piles salt against the wall; "
        "'image' (a gather) loses mass there, spectral and heat refuse drift at closed walls",
    )


def _point(n, seed):
    field = np.zeros((n, n))
    field[n // 2, n // 2] = 1.0
    return dict(
        tank=Tank(field, boundary="periodic"),
        propagator=Propagator.gaussian(1.0, ndim=2),
        methods=_all(),
        notes="a unit mass spreads into a Gaussian of variance 2 D t per axis",
    )


def _gel(n, seed):
    field = np.zeros((n, n))
    field[:, : max(1, n // 4)] = 1.0
    return dict(
        tank=Tank(field, boundary="reflect", mobility=gel_disc((n, n))),
        propagator=Propagator.gaussian(1.0, ndim=2),
        methods=_mobile(),
        notes=f"salt enters from the left; a centred disc of gel (mobility {GEL_MOBILITY}, a tenth of the tank) "
        f"holds the front back; spectral, image and heat refuse a mobility map",
    )


def _membrane(n, seed):
    tank = Tank.two_compartment((n // 2, n), left=1.0, right=0.0, axis=1, boundary="reflect")
    tank = tank.with_board(axis=1, index=n // 2, mobility=MEMBRANE_MOBILITY)
    p = MEMBRANE_P
    kernel = np.array([[0.0, p, 0.0], [p, 1 - 4 * p, p], [0.0, p, 0.0]])
    return dict(
        tank=tank,
        propagator=Propagator.from_kernel(kernel, normalize="sum"),
        methods=_mobile(),
        notes=f"a porous board (mobility {MEMBRANE_MOBILITY}) with no gap; the sides' difference falls by "
        f"exp(-kappa t), kappa = {membrane_rate(n):.3g} per step "
        f"(the closed form of docs/theory.md, scenarios.membrane_rate)",
    )


@dataclasses.dataclass(frozen=True)
class _Spec:
    description: str
    size: int
    build: object
    steps: object  # steps(n): the default number of steps at grid side n
    method: str  # what method='auto' runs on this problem
    shape: object = None  # shape(n), when the tank is not n x n


_REGISTRY = {
    "two-compartment": _Spec(
        "salt water beside fresh water in a closed tank",
        128,
        _two_compartment,
        _side_steps,
        "spectral",
        lambda n: (n // 2, n),
    ),
    "partitions": _Spec(
        f"the tank split into {COMPARTMENTS} x {COMPARTMENTS} compartments of random concentration, boards pulled",
        256,
        _partitions,
        _partition_steps,
        "spectral",
    ),
    "noise": _Spec(
        "every cell its own random concentration (white noise) evening out",
        256,
        _noise,
        lambda n: max(4, n // 2),
        "spectral",
    ),
    "image": _Spec(
        "a picture as the tank: its brightness diffuses under the box blur",
        128,
        _image,
        lambda n: max(4, n // 4),
        "spectral",
    ),
    "slit": _Spec("a board with a gap between salt and fresh water (walls)", 96, _slit, _side_steps, "propagator"),
    "drift": _Spec(
        "an asymmetric softmax-of-Sobel kernel: drift in a closed tank", 64, _drift, lambda n: max(4, n), "propagator"
    ),
    "point": _Spec(
        "a point source spreading into a Gaussian in a periodic tank",
        128,
        _point,
        lambda n: max(4, (n * n) // 64),
        "spectral",
    ),
    "gel": _Spec(
        "salt spreading past a disc of gel (mobility 0.2) that slows it", 128, _gel, _side_steps, "propagator"
    ),
    "membrane": _Spec(
        "two compartments joined by a porous board (mobility 0.002), no gap",
        64,
        _membrane,
        lambda n: max(4, int(round(1 / membrane_rate(n)))),  # one relaxation time
        "propagator",
        lambda n: (n // 2, n),
    ),
}


def names() -> tuple[str, ...]:
    """The scenario names, in the order they are listed."""
    return tuple(_REGISTRY)


def describe() -> dict[str, str]:
    """``{name: one-line description}`` without building anything."""
    return {name: spec.description for name, spec in _REGISTRY.items()}


def details(size: int | None = None) -> dict[str, dict]:
    """What each scenario runs by default, without building anything.

    Parameters
    ----------
    size : int, optional
        The grid side to describe (as ``get(name, size)``); default each scenario's own.

    Returns
    -------
    dict of str to dict
        ``{name: {"description", "size", "shape", "steps", "save_every", "frames", "method"}}``:
        the grid side and shape in cells, the default steps, the frame spacing and
        number of saved frames, and the method ``method='auto'`` (the ``run``
        command's default) runs on it (``spectral`` where it is exact, otherwise
        ``propagator``).
    """
    out = {}
    for name, spec in _REGISTRY.items():
        n = spec.size if size is None else _checks.integer("size", size, minimum=8)
        steps = int(spec.steps(n))
        every = max(1, steps // 40)
        out[name] = {
            "description": spec.description,
            "size": n,
            "shape": list(spec.shape(n) if spec.shape else (n, n)),
            "steps": steps,
            "save_every": every,
            "frames": steps // every + 1 + (steps % every != 0),
            "method": spec.method,
        }
    return out


def default_size(name: str) -> int:
    """The default grid side of scenario ``name`` (cells)."""
    return _spec(name).size


def _spec(name):
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InputError(f"scenario {name!r} is unknown; valid scenarios: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def get(name: str, size: int | None = None, seed: int = 0) -> Scenario:
    """Build scenario ``name``.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    size : int, optional
        Grid side in cells (the tanks are square, except ``two-compartment``
        which is ``size // 2`` by ``size``); at least 8. The default steps
        scale with it. Defaults to the scenario's own size.
    seed : int, default 0
        Seed of the random concentrations of ``partitions`` and ``noise``.

    Returns
    -------
    Scenario

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones) or a size below 8.
    """
    spec = _spec(name)
    size = spec.size if size is None else _checks.integer("size", size, minimum=8)
    seed = _checks.integer("seed", seed, minimum=0)
    kw = spec.build(size, seed)
    steps = int(spec.steps(size))
    return Scenario(
        name=name,
        description=spec.description,
        steps=steps,
        save_every=max(1, steps // 40),
        n_particles=10 * int(np.prod(kw["tank"].shape)),
        **kw,
    )

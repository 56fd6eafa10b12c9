"""Named scenarios: a tank, a propagator and good defaults, ready to run.

Each scenario is built on demand by :func:`get` (so that nothing is computed at
import time and JAX's x64 switch can still be set first):

===================  ==========================================================
``two-compartment``  salt water beside fresh water in a closed tank
``partitions``       the 256x256 tank, every cell its own random concentration
``image``            a picture as the tank (a small generated test image)
``slit``             a board with a gap between salt and fresh water
``drift``            a softmax of a Sobel kernel: diffusion with drift, closed tank
``point``            a point source spreading into a Gaussian (periodic tank)
===================  ==========================================================

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

from . import _checks
from .propagator import Propagator
from .tank import Tank

TEST_IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "test_image.png")
"""Path of the generated test picture used by the ``image`` scenario."""
TEST_IMAGE_RGB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "test_image_rgb.png")
"""Path of its colour version (a different picture in each channel): ``run image --channels``."""

def _all():
    from .methods import names

    return names()


SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
"""The Sobel kernel of the derivative along axis 1 (weight on +axis 1)."""


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


def _two_compartment(n):
    tank = Tank.two_compartment((n // 2, n), left=1.0, right=0.0, axis=1, boundary="reflect")
    steps = max(4, (n * n) // 8)
    return dict(tank=tank, propagator=Propagator.gaussian(1.0, ndim=2), steps=steps, methods=_all(),
                notes="the profile along axis 1 follows the closed-tank cosine series")


def _partitions(n, seed):
    values = np.random.default_rng(seed).random((n, n))
    return dict(tank=Tank.partitioned(values, cell=1), propagator=Propagator.box(3, ndim=2),
                steps=max(4, n // 2), methods=_all(),
                notes="every cell starts at its own concentration; the box blur (m = 9) evens it out")


def _image(n):
    tank = Tank.from_image(TEST_IMAGE, size=None if n == 128 else n)
    return dict(tank=tank, propagator=Propagator.box(3, ndim=2), steps=max(4, n // 4), methods=_all(),
                notes="repeated box blur of a picture is diffusion of its brightness")


def _slit(n):
    half = n // 2
    tank = Tank.two_compartment((n, n), left=1.0, right=0.0, axis=1, boundary="reflect")
    gap = (max(0, half - max(1, n // 16)), min(n, half + max(1, n // 16)))
    tank = tank.with_board(axis=1, index=half, gap=gap)
    return dict(tank=tank, propagator=Propagator.gaussian(1.0, ndim=2), steps=max(4, (n * n) // 8),
                methods=("propagator", "particles", "counts"),
                notes="salt leaks through the gap only; walls rule out spectral, image and heat")


def _drift(n):
    field = np.zeros((n, n))
    q = max(1, n // 8)
    field[n // 2 - q:n // 2 + q, n // 4 - q:n // 4 + q] = 1.0
    prop = Propagator.from_kernel(SOBEL, normalize="softmax", temperature=1.0)
    return dict(tank=Tank(field, boundary="reflect"), propagator=prop, steps=max(4, n), methods=(
        "propagator", "particles", "counts", "image"),
        notes="the softmax of a Sobel kernel drifts toward +axis 1 and piles salt against the wall; "
              "'image' (a gather) loses mass there, spectral and heat refuse drift at closed walls")


def _point(n):
    field = np.zeros((n, n))
    field[n // 2, n // 2] = 1.0
    return dict(tank=Tank(field, boundary="periodic"), propagator=Propagator.gaussian(1.0, ndim=2),
                steps=max(4, (n * n) // 64), methods=_all(),
                notes="a unit mass spreads into a Gaussian of variance 2 D t per axis")


_REGISTRY = {
    "two-compartment": ("salt water beside fresh water in a closed tank", 128, _two_compartment),
    "partitions": ("the 256x256 tank, every cell its own random concentration", 256, _partitions),
    "image": ("a picture as the tank: its brightness diffuses under the box blur", 128, _image),
    "slit": ("a board with a gap between salt and fresh water (walls)", 96, _slit),
    "drift": ("an asymmetric softmax-of-Sobel kernel: drift in a closed tank", 64, _drift),
    "point": ("a point source spreading into a Gaussian in a periodic tank", 128, _point),
}


def names() -> tuple[str, ...]:
    """The scenario names, in the order they are listed."""
    return tuple(_REGISTRY)


def describe() -> dict[str, str]:
    """``{name: one-line description}`` without building anything."""
    return {name: spec[0] for name, spec in _REGISTRY.items()}


def default_size(name: str) -> int:
    """The default grid side of scenario ``name`` (cells)."""
    return _spec(name)[1]


def _spec(name):
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"scenario {name!r} is unknown; valid scenarios: {', '.join(_REGISTRY)}")
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
        Seed of the random concentrations of ``partitions``.

    Returns
    -------
    Scenario

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones) or a size below 8.
    """
    description, default, build = _spec(name)
    size = default if size is None else _checks.integer("size", size, minimum=8)
    seed = _checks.integer("seed", seed, minimum=0)
    kw = build(size, seed) if name == "partitions" else build(size)
    steps = int(kw.pop("steps"))
    return Scenario(name=name, description=description, steps=steps, save_every=max(1, steps // 40),
                    n_particles=10 * int(np.prod(kw["tank"].shape)), **kw)

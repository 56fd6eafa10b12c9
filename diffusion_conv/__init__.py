"""diffusion_conv: diffusion as convolution.

A tank of salt water split into compartments, one per grid cell; pull the
boards and the salt diffuses. One step of diffusion is one convolution of the
field with a kernel normalised into a particle's jump distribution (the
propagator); many particles jumping at random give that convolution on
average; many steps give the heat equation. See ``docs/`` for the theory.
"""
from importlib.metadata import PackageNotFoundError, version as _version

from . import _interrupt

_interrupt.start_early()  # only in the diffusion-conv process: Ctrl-C works before JAX is imported

from .cache import enable_compile_cache
from .fourier import convolve_direct, convolve_fft
from .compare import Comparison, compare, fit_order, max_error, rel_l2_error
from .learn import Fit, fit_file, fit_propagator
from .propagator import Propagator
from .rollout import propagate, rollout
from .simulate import METHODS, Result, simulate
from .tank import Tank

_SUBMODULES = ("analytic", "fourier", "lattice", "learn", "methods", "render", "scenarios")


def __getattr__(name):
    """Import the heavier submodules (``dc.render``, ``dc.analytic``, ...) on first use."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


try:
    __version__ = _version("diffusion-conv")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Comparison",
    "Fit",
    "METHODS",
    "Propagator",
    "Result",
    "Tank",
    "__version__",
    "compare",
    "convolve_direct",
    "convolve_fft",
    "enable_compile_cache",
    "fit_file",
    "fit_order",
    "fit_propagator",
    "max_error",
    "propagate",
    "rel_l2_error",
    "rollout",
    "simulate",
]

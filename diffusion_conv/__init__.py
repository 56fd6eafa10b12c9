"""diffusion_conv: diffusion as convolution.

A tank of salt water split into compartments, one per grid cell; pull the
boards and the salt diffuses. One step of diffusion is one convolution of the
field with a kernel normalised into a particle's jump distribution (the
propagator); many particles jumping at random give that convolution on
average; many steps give the heat equation. See ``docs/`` for the theory.

Nothing happens at import: the names below are imported on first use (so
``import diffusion_conv`` is quick, and the ``diffusion-conv`` command can
install its signal guard before JAX is imported); no signal handler, thread or
global JAX setting is touched.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

_NAMES = {
    "Comparison": "comparison",
    "compare": "comparison",
    "fit_order": "comparison",
    "max_error": "comparison",
    "rel_l2_error": "comparison",
    "convolve_direct": "fourier",
    "convolve_fft": "fourier",
    "enable_compile_cache": "cache",
    "explore": "explorer",
    "InputError": "errors",
    "Fit": "learn",
    "fit_file": "learn",
    "fit_mobility": "learn",
    "fit_propagator": "learn",
    "Propagator": "propagator",
    "propagate": "core",
    "rollout": "core",
    "METHODS": "simulation",
    "Result": "simulation",
    "simulate": "simulation",
    "Tank": "tank",
}
"""Each public name and the module it lives in."""

_SUBMODULES = ("analytic", "fourier", "lattice", "learn", "methods", "render", "scenarios")

try:
    __version__ = _version("diffusion-conv")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "METHODS",
    "Comparison",
    "Fit",
    "InputError",
    "Propagator",
    "Result",
    "Tank",
    "__version__",
    "compare",
    "convolve_direct",
    "convolve_fft",
    "enable_compile_cache",
    "explore",
    "fit_file",
    "fit_mobility",
    "fit_order",
    "fit_propagator",
    "max_error",
    "propagate",
    "rel_l2_error",
    "rollout",
    "simulate",
]

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from .cache import enable_compile_cache
    from .comparison import Comparison, compare, fit_order, max_error, rel_l2_error
    from .core import propagate, rollout
    from .errors import InputError
    from .explorer import explore
    from .fourier import convolve_direct, convolve_fft
    from .learn import Fit, fit_file, fit_mobility, fit_propagator
    from .propagator import Propagator
    from .simulation import METHODS, Result, simulate
    from .tank import Tank


def __getattr__(name):
    """Import a public name's module (or a submodule: ``dc.render``, ``dc.analytic``, ...) on first use."""
    if name in _NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | set(_SUBMODULES))

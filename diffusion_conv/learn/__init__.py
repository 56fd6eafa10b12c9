"""The propagator learned from snapshots, the way a network learns a kernel.

The parameters are the logits of a softmax propagator (so every iterate is a
valid jump distribution); the loss is the squared error between each observed
frame pushed ``steps_between`` steps forward by :func:`diffusion_conv.propagate`
and the next frame; ``jax.grad`` through the propagator method gives the
gradient and scipy's L-BFGS-B does the descent. Standard errors come from the
curvature of the loss (``jax.hessian`` in logit space) and the spread of the
gradient over spatial blocks, mapped to the weights and moments.

:func:`fit_mobility` learns the other way round: the kernel known, the mobility
map of the cells (a gel, a porous board) from frames of the salt, through the
expectation of the shared process with mobility.
"""

from __future__ import annotations

from .checks import ROUNDOFF
from .files import fit_file
from .fitting import fit_propagator
from .mobility import MobilityFit, fit_mobility
from .model import METHODS
from .outcome import Fit

__all__ = ["METHODS", "ROUNDOFF", "Fit", "MobilityFit", "fit_file", "fit_mobility", "fit_propagator"]

"""The reference method of image processing: repeated ``scipy.ndimage.convolve``.

Each step convolves the field with the propagator's weights, with the scipy
mode of each axis's boundary (:attr:`diffusion_conv.lattice.Boundary.scipy_mode`):
``'reflect'`` (scipy's half-sample mirror ``d c b a | a b c d``), ``'wrap'`` for
periodic, ``'constant'`` (zeros) for absorbing edges. With mixed boundaries the
field is padded per axis with the matching numpy modes and cropped after each step.

This is a *gather*: each cell collects ``sum_d w[d] c(x - d)`` from mirrored
neighbours. For kernels symmetric along each axis it equals the ``propagator``
method (a *scatter* with folding) on every boundary. For an asymmetric kernel
at a reflecting wall the two differ, and the gather does not conserve mass:
mass that should have been folded back is replaced by mirrored neighbours. The
tests show it. Walls are not supported (scipy has no notion of them).

``image`` runs on the host (scipy): :func:`diffusion_conv.simulate` takes it
(a batch is a loop over its members), :func:`diffusion_conv.rollout` refuses it.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._continuum import declared_order
from ._registry import check_mobility_method
from .base import Method


def convolve_step(field: np.ndarray, weights: np.ndarray, bnd) -> np.ndarray:
    """One step of image convolution ``c'(x) = sum_d w[d] c(x - d)`` with scipy's boundary modes."""
    from scipy import ndimage

    modes = {b.scipy_mode for b in bnd}
    if len(modes) == 1:
        return ndimage.convolve(field, weights, mode=modes.pop(), cval=0.0)
    radius = [s // 2 for s in weights.shape]
    padded = field
    for axis, (r, b) in enumerate(zip(radius, bnd)):
        width = [(0, 0)] * field.ndim
        width[axis] = (r, r)
        padded = np.pad(padded, width, mode=b.numpy_pad)
    out = ndimage.convolve(padded, weights, mode="constant", cval=0.0)
    return out[tuple(slice(r, r + n) for r, n in zip(radius, field.shape))]


class ImageMethod(Method):
    """``method='image'``: repeated ``scipy.ndimage.convolve`` (see the module docstring)."""

    name = "image"
    kind = "reference"
    traceable = False
    listed = 50

    def validate(self, tank, prop, *, n_particles=None, key=None, **options):
        options = self.check_arguments(n_particles, key, options)
        check_mobility_method(self, tank)
        if tank.walls is not None:
            raise InputError(
                "method 'image' does not support walls (scipy.ndimage.convolve has no notion of them); "
                "use 'propagator', 'particles' or 'counts'"
            )
        return options

    def order(self, tank, prop):
        return declared_order(tank, prop)

    def init(self, tank, prop, key=None, n_particles=None, prepared=None):
        field = np.array(tank.concentration)
        return {
            "field": field,
            "weights": np.asarray(prop.weights, dtype=field.dtype),
            "bnd": tuple(tank.boundary),
            "absorbed": 0.0,
            "cell": tank.dx**tank.ndim,
        }

    def advance(self, state, n):
        field, lost = state["field"], state["absorbed"]
        absorbing = not all(b.conserves for b in state["bnd"])
        for _ in range(int(n)):
            new = convolve_step(field, state["weights"], state["bnd"])
            if absorbing:
                lost += float(field.sum(dtype=np.float64) - new.sum(dtype=np.float64))
            field = new
        return {**state, "field": field, "absorbed": lost}  # pyright: ignore[reportGeneralTypeIssues]

    def observe(self, state):
        return state["field"], state["absorbed"] * state["cell"]

    def meta(self, tank, prop, save_steps, options, prepared=()):
        return {"scipy_modes": [b.scipy_mode for b in tank.boundary]}

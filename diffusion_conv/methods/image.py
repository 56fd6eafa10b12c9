"""The reference method of image processing: repeated ``scipy.ndimage.convolve``.

Each step convolves the field with the propagator's weights, with the scipy
mode that matches the boundary: ``'reflect'`` (scipy's half-sample mirror
``d c b a | a b c d``), ``'wrap'`` for periodic, ``'constant'`` (zeros) for
absorbing edges. With mixed boundaries the field is padded per axis with the
same rules and cropped after each step.

This is a *gather*: each cell collects ``sum_d w[d] c(x - d)`` from mirrored
neighbours. For kernels symmetric along each axis it equals the ``propagator``
method (a *scatter* with folding) on every boundary. For an asymmetric kernel
at a reflecting wall the two differ, and the gather does not conserve mass:
mass that should have been folded back is replaced by mirrored neighbours. The
tests show it. Walls are not supported (scipy has no notion of them).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .. import _progress
from . import MethodOutput, no_stochastic_arguments

NAME = "image"
KIND = "reference"

SCIPY_MODE = {"reflect": "reflect", "periodic": "wrap", "absorb": "constant"}
NUMPY_PAD = {"reflect": "symmetric", "periodic": "wrap", "absorb": "constant"}


def validate(tank, prop, *, n_particles=None, key=None, **options):
    no_stochastic_arguments(NAME, n_particles, key)
    if options:
        raise TypeError(f"method {NAME!r} takes no options, got {sorted(options)}")
    if tank.walls is not None:
        raise ValueError(
            "method 'image' does not support walls (scipy.ndimage.convolve has no notion of them); "
            "use 'propagator', 'particles' or 'counts'"
        )


def convolve_step(field: np.ndarray, weights: np.ndarray, boundary) -> np.ndarray:
    """One step of image convolution ``c'(x) = sum_d w[d] c(x - d)`` with scipy's boundary modes."""
    modes = {SCIPY_MODE[b] for b in boundary}
    if len(modes) == 1:
        return ndimage.convolve(field, weights, mode=modes.pop(), cval=0.0)
    radius = [s // 2 for s in weights.shape]
    padded = field
    for axis, (r, b) in enumerate(zip(radius, boundary)):
        width = [(0, 0)] * field.ndim
        width[axis] = (r, r)
        padded = np.pad(padded, width, mode=NUMPY_PAD[b])
    out = ndimage.convolve(padded, weights, mode="constant", cval=0.0)
    return out[tuple(slice(r, r + n) for r, n in zip(radius, field.shape))]


def run(tank, prop, save_steps, *, dt=1.0, n_particles=None, key=None, progress=False, **options):
    """Frames of repeated image convolution at ``save_steps``; see :func:`diffusion_conv.simulate`."""
    validate(tank, prop, n_particles=n_particles, key=key, **options)
    field = np.array(tank.concentration)
    weights = np.asarray(prop.weights, dtype=field.dtype)
    absorbing = "absorb" in tank.boundary
    frames = np.empty((len(save_steps),) + field.shape, dtype=field.dtype)
    absorbed = np.zeros(len(save_steps), dtype=np.float64)
    frames[0] = field
    lost = 0.0
    step = 0
    with _progress.bar(int(save_steps[-1]), progress, desc=NAME) as pbar:
        for i, target in enumerate(save_steps[1:], start=1):
            while step < target:
                new = convolve_step(field, weights, tank.boundary)
                if absorbing:
                    lost += float(field.sum(dtype=np.float64) - new.sum(dtype=np.float64))
                field = new
                step += 1
                pbar.update(1)
            frames[i] = field
            absorbed[i] = lost
    meta = {"scipy_modes": [SCIPY_MODE[b] for b in tank.boundary]}
    return MethodOutput(frames, absorbed * tank.dx**tank.ndim, meta)

"""Named image kernels as propagators, and banks of one kernel at several softmax temperatures.

:func:`named_kernel` builds the kernels of :data:`KERNELS` (a Gaussian, the box blur, the edge
detector :data:`EDGE`, the Sobel kernel :data:`SOBEL`) as propagators, the command's
``--kernel NAME[:PARAM]``; :func:`temperature_bank` reads a kernel's weights as logits and makes a
bank of softmaxes at several temperatures. :mod:`diffusion_conv.scenarios` re-exports all of them.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _checks
from .errors import InputError, InputTypeError
from .propagator import Propagator

SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
"""The Sobel kernel of the derivative along axis 1 (weight on +axis 1)."""

EDGE = np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]])
"""The 3x3 edge detector of image processing: 8 at the centre, -1 around (a discrete Laplacian, sign flipped).

Its entries sum to 0: convolved with a picture it is 0 on flat regions and large on edges. As a softmax it
keeps a particle in place with weight ``1 / (1 + 8 exp(-9 / T))``: a slow, isotropic diffusion that comes to a
stop as the temperature falls."""

KERNELS = {
    "gaussian": "gaussian[:SIGMA]: the sampled Gaussian exp(-|d|^2 / (2 SIGMA^2)) (default SIGMA 1)",
    "box": "box[:SIZE]: uniform over SIZE cells per axis, the box blur (default SIZE 3, odd)",
    "edge": "edge: the 3x3 edge detector, 8 at the centre and -1 around (2-D)",
    "sobel": "sobel: the 3x3 Sobel kernel of the derivative along axis 1 (2-D)",
}
"""The named kernels of :func:`named_kernel` (and of the command's ``--kernel NAME[:PARAM]``), one line each."""


def named_kernel(name, param=None, ndim=2, normalize="softmax", temperature=1.0) -> Propagator:
    """One of the named image kernels (:data:`KERNELS`) as a propagator.

    Parameters
    ----------
    name : str
        ``'gaussian'`` (``param``: sigma in cells, default 1; radius ``max(1, ceil(3 sigma))``),
        ``'box'`` (``param``: the odd size per axis, default 3), ``'edge'`` (:data:`EDGE`) or
        ``'sobel'`` (:data:`SOBEL`); the last two take no parameter.
    param : float or int, optional
        The kernel's parameter.
    ndim : int, default 2
        1, 2 or 3 for ``gaussian`` and ``box``; ``edge`` and ``sobel`` are 2-D.
    normalize : {'softmax', 'sum'}
        ``'softmax'``: a blur (``gaussian``, ``box``: a non-negative kernel ``K``) becomes
        ``softmax(log(K) / temperature)``, which is the blur itself at temperature 1 (a Gaussian's
        variance scales with the temperature, a box stays uniform), as
        :func:`temperature_bank` reads a kernel; a signed kernel (``edge``, ``sobel``) becomes
        ``softmax(K / temperature)``, as :meth:`diffusion_conv.Propagator.from_kernel` reads it. ``'sum'``:
        ``K / sum(K)``, for the blurs only (a signed kernel is refused); temperature must be 1.
    temperature : float, default 1.0
        Positive.

    Returns
    -------
    Propagator
        At temperature 1 ``named_kernel('gaussian', s)`` is ``Propagator.gaussian(s, ndim)`` and
        ``named_kernel('box', n)`` is ``Propagator.box(n, ndim)``, bit for bit, with either
        normalisation; ``named_kernel('sobel')`` is the kernel of the ``drift`` scenario.

    Raises
    ------
    ValueError
        An unknown name, a bad parameter (a sigma that is not positive, an even or non-positive
        size, a parameter for ``edge`` or ``sobel``), a dimension the kernel does not have, or
        ``normalize='sum'`` with a signed kernel or a temperature other than 1.
    """
    if not isinstance(name, str) or name not in KERNELS:
        raise InputError(f"kernel name {name!r} is unknown; allowed: {', '.join(KERNELS)}")
    ndim = _checks.integer("ndim", ndim, minimum=1)
    if ndim > 3:
        raise InputError(f"ndim must be 1, 2 or 3, got {ndim}")
    if name == "gaussian":
        sigma = 1.0 if param is None else _checks.positive_float("sigma", param)
        radius = max(1, int(np.ceil(3 * sigma)))
        if radius > 64:
            raise InputError(f"sigma must be at most 21.33 cells (a radius ceil(3 sigma) of at most 64), got {sigma!r}")
        d = np.arange(-radius, radius + 1)
        grids = np.meshgrid(*([d] * ndim), indexing="ij")
        logits = -sum(g.astype(float) ** 2 for g in grids) / (2 * sigma**2)
    elif name == "box":
        size = 3 if param is None else _checks.integer("size", param, minimum=1)
        if size % 2 == 0:
            raise InputError(f"size must be odd (a centre cell), got {size}")
        logits = np.zeros((size,) * ndim)
    else:
        if param is not None:
            raise InputError(f"kernel {name!r} takes no parameter, got {param!r}")
        if ndim != 2:
            raise InputError(f"kernel {name!r} is 2-D; it does not apply to a {ndim}-D field")
        kernel = EDGE if name == "edge" else SOBEL
        if normalize == "sum":
            raise InputError(
                f"kernel {name!r} has negative entries; normalize='sum' needs a kernel with none (softmax takes any)"
            )
        return Propagator.from_kernel(kernel, normalize=normalize, temperature=temperature)
    if normalize == "sum":
        return Propagator.from_kernel(np.exp(logits), normalize="sum", temperature=temperature)
    if normalize != "softmax":
        raise InputError(f"normalize {normalize!r} is unknown; allowed: softmax, sum")
    return Propagator.from_logits(logits, temperature=temperature)


def temperature_bank(propagator, temperatures):
    """A bank of kernels: ``propagator``'s weights as logits, a softmax at each temperature.

    ``softmax(log(w) / T)`` is ``propagator`` itself at ``T = 1``, sharper below
    and flatter above. A kernel whose weights are all equal (the box blur) is
    uniform at every temperature: the bank's members are then identical, and a
    ``UserWarning`` says so (a run of the bank repeats one run).

    Parameters
    ----------
    propagator : Propagator
        One kernel (no batch) with no zero weights.
    temperatures : sequence of float
        Positive temperatures, at least one.

    Returns
    -------
    (Propagator, list of str)
        The bank (``batch_shape == (len(temperatures),)``) and one label per
        member, ``"T = 0.5"``.

    Raises
    ------
    ValueError, TypeError
        A batched propagator, a kernel with zero weights, or temperatures that are
        not positive numbers.
    """
    if not isinstance(propagator, Propagator):
        raise InputTypeError(f"propagator must be a Propagator, got {type(propagator).__name__}")
    if propagator.batch_shape:
        raise InputError(f"propagator must be one kernel, got a bank of batch shape {propagator.batch_shape}")
    if isinstance(temperatures, (str, bytes)) or not hasattr(temperatures, "__len__") or not len(temperatures):
        raise InputTypeError(f"temperatures must be a non-empty sequence of positive numbers, got {temperatures!r}")
    temps = [_checks.positive_float("temperatures", t) for t in temperatures]
    w = np.asarray(propagator.weights, dtype=np.float64)
    if np.any(w <= 0):
        raise InputError(
            "a temperature bank needs a kernel with no zero weights (a softmax of its logs); this "
            f"kernel has {int(np.sum(w <= 0))} zero weights"
        )
    bank = Propagator.stack([Propagator.from_logits(np.log(w), temperature=t) for t in temps])
    labels = [f"T = {t:g}" for t in temps]
    if len(temps) > 1:
        weights = np.asarray(bank.weights, dtype=np.float64).reshape(len(temps), -1)
        if np.allclose(weights, weights[0], rtol=1e-6, atol=0.0):
            warnings.warn(
                f"the kernel bank's {len(temps)} members are identical: the kernel's weights are all "
                f"equal (a uniform kernel is uniform at every temperature), so temperatures "
                f"{', '.join(f'{t:g}' for t in temps)} give one run {len(temps)} times",
                UserWarning,
                stacklevel=2,
            )
    return bank, labels

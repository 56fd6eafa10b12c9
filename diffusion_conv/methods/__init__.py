"""One module per method, all with the same interface.

Each module defines

``NAME``
    the method's name in :func:`diffusion_conv.simulate`.
``KIND``
    ``'deterministic'``, ``'stochastic'`` or ``'reference'``.
``validate(tank, prop, *, n_particles=None, key=None, **options)``
    raise ``ValueError``/``TypeError`` (naming the argument) when the method
    cannot run this problem; called before any work is done.
``run(tank, prop, save_steps, *, dt=1.0, n_particles=None, key=None, progress=False, **options)``
    compute the frames at the step indices ``save_steps`` (sorted, starting at
    0) and return a :class:`MethodOutput`.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class MethodOutput:
    """What a method returns to :func:`diffusion_conv.simulate`.

    Attributes
    ----------
    frames : ndarray, shape ``(F, *tank.shape)``
        Concentration at each saved step.
    absorbed : ndarray, shape ``(F,)``
        Running total of mass absorbed at open edges by each frame (0 at step 0).
    meta : dict
        JSON-serialisable details of the run (method options, estimates).
    extras : dict of str to ndarray
        Further arrays (e.g. tracked trajectories), saved with the result.
    method : str or None
        The method that actually ran, when it differs from the module's name.
    """

    frames: np.ndarray
    absorbed: np.ndarray
    meta: dict = dataclasses.field(default_factory=dict)
    extras: dict = dataclasses.field(default_factory=dict)
    method: str | None = None


def no_stochastic_arguments(name: str, n_particles, key) -> None:
    """Deterministic methods refuse ``n_particles`` and ``key`` instead of ignoring them."""
    if n_particles is not None:
        raise ValueError(f"n_particles applies to the stochastic methods only, not to method={name!r}")
    if key is not None:
        raise ValueError(f"key applies to the stochastic methods only, not to method={name!r}")


def intervals(save_steps) -> list[tuple[int, int]]:
    """Group the gaps between saved steps into runs ``(gap, count)`` of equal gaps."""
    gaps = np.diff(np.asarray(save_steps, dtype=np.int64))
    runs: list[tuple[int, int]] = []
    for g in gaps.tolist():
        if runs and runs[-1][0] == g:
            runs[-1] = (g, runs[-1][1] + 1)
        else:
            runs.append((g, 1))
    return runs

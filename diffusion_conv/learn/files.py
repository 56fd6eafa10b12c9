"""fit_file: a fit of the frames a run saved (``run --out``), the gaps and boundary read from the file."""

from __future__ import annotations

import os

import numpy as np

from .. import _checks
from ..errors import InputError
from ..lattice import normalize_boundary
from ..result import Result
from .checks import check_frames, check_sequence_length, check_steps, flat_axes
from .fitting import fit_propagator
from .outcome import Fit


def fit_file(path, radius=1, steps_between=None, boundary=None, member=None) -> Fit:
    """Fit the propagator to the frames of a saved :class:`diffusion_conv.Result`.

    Parameters
    ----------
    path : str or path-like
        An ``.npz`` file written by ``Result.save``.
    radius : int or tuple of int
        Kernel radius to fit (cells). An int is that radius along every axis
        the frames vary along, and 0 along an axis where every frame is constant
        at a reflecting or periodic boundary (the two-compartment tank along its
        boards): the jumps along it leave no trace, so the fit is the kernel's
        marginal over it and its moments there are unknown
        (``Fit.unobserved_axes``). A tuple is taken as given.
    steps_between : int or sequence of int, optional
        Steps between frames; read from the saved step indices when None (each
        pair of frames with its own count when they are unevenly spaced, as the
        last frame of a run whose steps are not a multiple of ``save_every``).
        When given it must agree with them.
    boundary : str or sequence of str, optional
        The boundaries; read from the file (``meta['boundary']``) when None.
    member : int or tuple of int, optional
        Which member of a batch result (``Tank.stack``, a bank of kernels, the
        command's ``--temperatures`` or ``--channels``) to fit: one index per
        batch axis. Required for a batch, refused otherwise.

    Returns
    -------
    Fit
        With ``dx`` and ``dt`` from the file, so the drift and diffusion tensor
        are in the run's units.

    Raises
    ------
    ValueError
        When the file is missing or not a result, the spacing disagrees with
        ``steps_between``, the file holds a batch and no ``member`` is given,
        or the run had walls (a saved result holds their count, not their
        positions).
    """

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"path {path!r} does not exist or is not a file")
    res = Result.load(path)
    if len(res.steps) < 2:
        raise InputError(f"{path!r} holds only {len(res.steps)} frame; fitting needs at least two")
    batch = tuple(res.batch_shape)
    if batch and member is None:
        n = int(np.prod(batch))
        pick, flag = (
            ("member=i", "--member I")
            if len(batch) == 1
            else ("member=(" + ", ".join("ijk"[: len(batch)]) + ")", "--member " + ",".join("IJK"[: len(batch)]))
        )
        raise InputError(
            f"{path!r} holds a batch of {n} members (batch shape {batch}), each with its own frames; "
            f"fit one at a time: fit_file(path, {pick}), indices from 0 (on the command line "
            f"{flag})"
        )
    if member is not None:
        if not batch:
            raise InputError(f"member={member!r} was given, but the run in {path!r} is not a batch")
        index = tuple(member) if isinstance(member, (tuple, list)) else (member,)
        if len(index) != len(batch):
            raise InputError(
                f"member needs {len(batch)} indices for the batch shape {batch} of {path!r}, got {member!r}"
            )
    gaps = tuple(int(g) for g in np.diff(res.steps))
    if steps_between is not None:
        given = check_steps(steps_between, len(gaps))
        if given != gaps:
            shown = (
                f"{gaps[0]} steps apart"
                if len(set(gaps)) == 1
                else f"unevenly spaced, steps between them {_short_list(gaps)}; leave steps_between out to use them"
            )
            raise InputError(f"steps_between={steps_between!r} disagrees with the file, whose frames are {shown}")
    if res.meta.get("walls"):
        raise InputError(
            f"the run in {path!r} had {res.meta['walls']} wall cells, whose positions a saved result "
            f"does not hold; use fit_propagator(frames, walls=...) with the tank's walls"
        )
    if boundary is None:
        boundary = res.meta.get("boundary", "reflect")
    if not isinstance(radius, (tuple, list)):
        data, _ = check_frames(res.frames, member)
        ndim = data.ndim - 1
        check_sequence_length("boundary", boundary, ndim, data.shape[1:])
        flat = flat_axes(data, normalize_boundary(boundary, ndim))
        if flat and len(flat) < ndim:
            radius = tuple(0 if a in flat else _checks.integer("radius", radius, minimum=1) for a in range(ndim))
    return fit_propagator(
        res.frames,
        steps_between=gaps,
        radius=radius,
        boundary=boundary,
        dx=float(res.meta.get("dx", 1.0)),
        dt=float(res.meta.get("dt", 1.0)),
        member=member,
    )


def _short_list(values, most=12):
    """A list as text, its middle elided when long."""
    values = list(values)
    if len(values) <= most:
        return str(values)
    return "[" + ", ".join(map(str, values[:6])) + ", ..., " + ", ".join(map(str, values[-3:])) + "]"

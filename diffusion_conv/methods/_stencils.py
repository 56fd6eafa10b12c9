"""The propagator method's steps: the halo path (separable kernels), the lattice's step (any kernel), the wall patch.

Every path moves the same mass by the same jumps as
:func:`diffusion_conv.lattice.transport` (the general path), folded by the same
:meth:`~diffusion_conv.lattice.Boundary.fold_chunk`; they differ in how few
passes over memory a step takes. See :mod:`diffusion_conv.methods.propagator`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..lattice import axis_slice, fold_axis, spread, transport


def step(field, weights, radius, bnd, blocked=None, factors=None):
    """One step of the propagator on a field: returns ``(new_field, absorbed_mass_in_cells)``.

    With ``factors`` (see :func:`diffusion_conv.lattice.separable_factors`; no walls)
    the step is taken one axis at a time: the same jumps, boundaries and absorption.
    """
    if factors is not None and blocked is None:
        absorbed = jnp.zeros((), field.dtype)
        for axis, f in enumerate(factors):
            rad = tuple(r if a == axis else 0 for a, r in enumerate(radius))
            field, da = transport(field, rad, bnd, weights=f.astype(field.dtype))
            absorbed = absorbed + da
        return field, absorbed
    w = jnp.ravel(weights).astype(field.dtype)
    return transport(field, radius, bnd, blocked, weights=w)


def unit_sum(weights, dtype):
    """The kernel ``weights`` stored in ``dtype`` with entries whose exact sum is 1.

    A kernel normalised in ``dtype`` sums to 1 only as closely as its centre
    weight's last place allows (up to 1.5e-8 in float32); summed as products
    every step, that remainder is a mass drift linear in the steps. Here the
    remainder goes to the largest entry that it moves (by at least half a unit
    in that entry's last place), rounded to ``dtype``, and again with what is
    left, until the sum (``math.fsum`` of the entries, exact to float64) is 1 or
    what is left moves no entry. An entry moves by at most the first remainder
    plus a unit in the last place of the largest entry. Entries that mirror each
    other along an axis the kernel is symmetric in move together, so every
    symmetry is kept; zero entries stay zero. Host-side (concrete weights).
    """
    dtype = np.dtype(dtype)
    w = np.asarray(weights).astype(dtype)
    group = np.zeros(w.shape, np.int64)  # each entry's group: the flat index of its image in the lower half
    size = np.ones(w.shape, np.int64)  # how many entries the group has
    stride = 1
    for a in reversed(range(w.ndim)):
        i = np.arange(w.shape[a])
        here = [1] * w.ndim
        here[a] = -1
        if np.array_equal(w, np.flip(w, a)):
            size = size * np.where(i != i[::-1], 2, 1).reshape(here)
            i = np.minimum(i, i[::-1])
        group = group + (i * stride).reshape(here)
        stride *= w.shape[a]
    vals, group, size = w.ravel().copy(), group.ravel(), size.ravel()
    order = np.argsort(-vals, kind="stable")  # largest first
    half_ulp = np.spacing(vals[order]) / 2
    weight = size[order]
    live = vals[order] > 0
    residual = 1.0 - math.fsum(vals.astype(np.float64))
    for _ in range(64):
        movable = live & (abs(residual) >= half_ulp * weight)
        if residual == 0.0 or not movable.any():
            break
        j = int(np.argmax(movable))
        k = order[j]
        moved = dtype.type(float(vals[k]) + residual / int(size[k]))
        if moved == vals[k] or moved <= 0:
            live[j] = False
            continue
        same = group == group[k]
        vals[same] = moved
        half_ulp[j] = np.spacing(moved) / 2
        residual = 1.0 - math.fsum(vals.astype(np.float64))
    return vals.reshape(w.shape)


# -- the halo path -------------------------------------------------------------------------
PATCH_FRACTION = 0.25  # walls whose patch covers more of the tank take the general path


def halo_applies(shape, radius, factors, walls) -> bool:
    """Whether the halo path applies: separable weights, ``2 r <= n`` on every axis, walls on a small patch."""
    return (
        factors is not None
        and direct_applies(shape, radius)
        and (walls is None or wall_patch(walls, radius) is not None)
    )


def wall_patch(tank, radius):
    """The box the walls' correction reads, as ``((lo, hi, full), ...)`` per axis, or None.

    The cells whose jumps a wall refuses lie in a box ``S``; the cells whose value
    differs from a step without walls lie within the kernel's radius of it, and
    their sources within twice the radius. Along an axis where that reach stays
    inside the tank the box is ``S`` widened by ``2 r``; where it meets an edge the
    box spans the whole axis (``full``) and the boundary folds it. None when the
    tank has no walls or the box covers more than ``PATCH_FRACTION`` of the tank.
    Made once per wall mask, radius and boundaries (kept with the mask: a run asks several times).
    """
    walls = tank.wall_mask
    if walls is None:
        return None
    radius, bnd = tuple(int(r) for r in radius), tuple(str(b) for b in tank.boundary)
    return walls.derived(
        ("patch", radius, bnd, PATCH_FRACTION), lambda: _wall_patch(walls, radius, bnd, PATCH_FRACTION)
    )


def _wall_patch(walls, radius, bnd, fraction):
    blocked = walls.blocked(radius, bnd)
    if blocked is None:
        return None
    return box_of(np.any(blocked, axis=0), radius, fraction)


def box_of(support, radius, fraction):
    """The patch's box around the cells of ``support`` (cells within ``2 r`` of it; the whole axis where that meets an edge), or None over ``fraction``."""
    if not support.any():
        return None
    box = []
    for axis, (n, r) in enumerate(zip(support.shape, radius)):
        hit = np.flatnonzero(np.any(support, axis=tuple(a for a in range(support.ndim) if a != axis)))
        lo, hi = int(hit[0]) - 2 * r, int(hit[-1]) + 1 + 2 * r
        box.append((0, n, True) if lo < 0 or hi > n else (lo, hi, False))
    if np.prod([hi - lo for lo, hi, _ in box]) > fraction * support.size:
        return None
    return tuple(box)


def _patch_state(tank, weights, radius, patch):
    """The wall masks on the patch's box, and (where an absorbing edge meets it) the refused weights."""
    box = tuple(slice(lo, hi) for lo, hi, _ in patch)
    blocked = tank.blocked(radius)[(slice(None),) + box]
    out = {"blocked": jnp.asarray(blocked), "weights": jnp.ravel(weights)}
    if any(full and b.name == "absorb" for (_, _, full), b in zip(patch, tank.boundary)):
        w = out["weights"].reshape((-1,) + (1,) * tank.ndim)
        out["refused"] = jnp.where(out["blocked"], w, jnp.zeros((), w.dtype))
    return out


def _patch_source(buf, patch, at):
    """The field on the patch's box, from a buffer holding the field from index ``at`` on."""
    return buf[tuple(slice(a + lo, a + hi) for (lo, hi, _), a in zip(patch, at))]


def _patch_correct(src, after, fix, radius, bnd, patch, at):
    """``after`` (a step that ignored the walls) with the cells near the walls stepped again.

    ``src`` is the field before the step on the patch's box (:func:`_patch_source`).
    The cells within the kernel's radius of a refused jump are recomputed from
    their sources by the general path's own sums (so their values are its
    values: walls stay dry, nothing turns negative) and written over ``after``,
    which holds the field from index ``at`` on (a halo buffer).
    Returns ``(after, absorbed)``: ``absorbed`` is what the step without walls had
    let out through an absorbing edge by jumps the walls refuse.
    """
    ext, stay = spread(src, radius, fix["blocked"], fix["weights"])
    return patch_write(ext, stay, src, after, fix, radius, bnd, patch, at)


def patch_write(ext, stay, src, after, fix, radius, bnd, patch, at):
    """The patch's box stepped again, from its moved mass ``ext`` (unfolded) and what its cells keep (``stay``),
    written over ``after``: ``(after, absorbed)``, with what refused jumps had let out through an absorbing edge
    (``fix['refused']``) taken back. Shared by the wall patch and the mobility patch."""
    absorbed = jnp.zeros((), src.dtype)
    for axis, ((lo, hi, full), r) in enumerate(zip(patch, radius)):
        if full:
            ext, _ = fold_axis(ext, axis, r, bnd[axis], hi - lo)
    inner = tuple(slice(0, hi - lo) if full else slice(2 * r, hi - lo) for (lo, hi, full), r in zip(patch, radius))
    region = (
        ext[inner]
        + stay[tuple(slice(0, hi - lo) if full else slice(r, hi - lo - r) for (lo, hi, full), r in zip(patch, radius))]
    )
    if "refused" in fix:
        back, _ = spread(fix["refused"] * src, radius)
        for axis, ((lo, hi, full), r) in enumerate(zip(patch, radius)):
            if full:
                back, da = fold_axis(back, axis, r, bnd[axis], hi - lo)
                absorbed = absorbed + da
    starts = tuple(a + (lo if full else lo + r) for (lo, _, full), r, a in zip(patch, radius, at))
    return jax.lax.dynamic_update_slice(after, region, starts), absorbed


def _window(buf, axis, r, lo, hi):
    """The field at coordinates ``[lo, hi)`` along ``axis`` from a buffer holding ``[-r, n + r)``."""
    a, b = lo + r, hi + r
    size = buf.shape[axis]
    piece = axis_slice(buf, axis, max(a, 0), min(b, size))
    if a >= 0 and b <= size:
        return piece
    width = [(0, 0)] * buf.ndim
    width[axis] = (max(0, -a), max(0, b - size))
    return jnp.pad(piece, width)


def _taps(win, f, axis, r, length):
    """``out[i] = sum_k f[k] win[i + 2 r - k]``: mass arriving from the window (a convolution)."""
    out = f[0] * axis_slice(win, axis, 2 * r, 2 * r + length)
    for k in range(1, 2 * r + 1):
        out = out + f[k] * axis_slice(win, axis, 2 * r - k, 2 * r - k + length)
    return out


def _centred_taps(win, f, axis, r, length, mirrored=False):
    """:func:`_taps` for cells whose own value ``c = win[i + r]`` is in the window, exact on a constant window.

    Computed as ``c + sum_{k != r} f[k] (win[i + 2 r - k] - c)``: the centre's share
    is one minus the others' (the factors sum to 1), and a window that is constant
    gives back ``c`` to the last bit. The plain sum of products rounds ``c`` off by
    a fraction of a unit in the last place, the same way in every cell of a smooth
    field and in every step: in float32 a one-sided mass drift linear in the steps
    (1.6e-4 of the mass after 10^4 steps of the box blur on a 128x256 closed
    tank, against 5e-6 this way). With ``mirrored`` factors (``f[r - j] == f[r + j]``) the
    pairs share one product, ``f[r + j] ((win[i + r - j] + win[i + r + j]) - 2 c)``:
    as many operations as the plain sum.
    """
    centre = axis_slice(win, axis, r, r + length)
    if r == 0:
        return centre
    change = None
    if mirrored:
        twice = centre + centre
        for j in range(1, r + 1):
            pair = axis_slice(win, axis, r - j, r - j + length) + axis_slice(win, axis, r + j, r + j + length)
            term = f[r + j] * (pair - twice)
            change = term if change is None else change + term
    else:
        for k in range(2 * r + 1):
            if k != r:
                term = f[k] * (axis_slice(win, axis, 2 * r - k, 2 * r - k + length) - centre)
                change = term if change is None else change + term
    return centre + change


def _add_at(buf, values, starts):
    region = jax.lax.dynamic_slice(buf, starts, values.shape)
    return jax.lax.dynamic_update_slice(buf, region + values, starts)


def _axis_pass(src, dst, f, axis, r, bnd, dst_axis, dst_r, mirrored=False):
    """One axis of a separable step: ``src`` (halo along ``axis``) into the interior of ``dst``.

    The tank's cells take :func:`_centred_taps`. The strips beyond its edges
    start empty, so they have no value of their own to keep, and take the plain
    sum (the centred form there made a 7x7 kernel's step at reflecting edges
    about 15 % slower on the CPU).
    """
    n = src.shape[axis] - 2 * r
    absorbed = jnp.zeros((), src.dtype)
    starts = [0] * src.ndim
    starts[dst_axis] = dst_r
    dst = jax.lax.dynamic_update_slice(dst, _centred_taps(src, f, axis, r, n, mirrored), starts)
    if r == 0:
        return dst, absorbed
    strips = {
        -1: _taps(_window(src, axis, r, -2 * r, r), f, axis, r, r),  # mass landing on [-r, 0)
        1: _taps(_window(src, axis, r, n - r, n + 2 * r), f, axis, r, r),
    }  # ... on [n, n + r)
    for k, values in strips.items():
        where = bnd.fold_chunk(k, n)
        if where is None:
            absorbed = absorbed + jnp.sum(values)
            continue
        flip, shift = where
        z0 = -r if k < 0 else n
        if flip:
            values, start = jnp.flip(values, axis), (k + 1) * n - (z0 + r)
        else:
            start = z0 - shift
        s = list(starts)
        s[axis] += start
        dst = _add_at(dst, values, s)
    return dst, absorbed


def _halo_buffers(field, radius):
    """One buffer per axis, zero halo of that axis's radius; the first holds the field."""
    bufs = []
    for a, r in enumerate(radius):
        width = [(0, 0)] * field.ndim
        width[a] = (r, r)
        padded = jnp.pad(field, width)
        bufs.append(padded if a == 0 else jnp.zeros(padded.shape, field.dtype))
    return tuple(bufs)


def _halo_step(bufs, factors, radius, bnd, mirrored=None):
    """One step on the halo buffers: returns ``(bufs, absorbed)``; ``mirrored[a]``: factor ``a`` is mirror-symmetric."""
    ndim = len(bufs)
    mirrored = (False,) * ndim if mirrored is None else mirrored
    bufs = list(bufs)
    absorbed = jnp.zeros((), bufs[0].dtype)
    for a in range(ndim):
        b = (a + 1) % ndim
        bufs[b], da = _axis_pass(bufs[a], bufs[b], factors[a], a, radius[a], bnd[a], b, radius[b], mirrored[a])
        absorbed = absorbed + da
    return tuple(bufs), absorbed


# -- the direct path: any kernel, the lattice's step without masks ---------------------------
def direct_applies(shape, radius) -> bool:
    """Whether a kernel of ``radius`` can take a direct (or halo) step: ``2 r <= n`` on every axis."""
    return all(2 * r <= n for n, r in zip(shape, radius))


def takes_direct(tank, radius) -> bool:
    """Whether a kernel that does not factor takes the direct path (no masks; else the general one)."""
    return direct_applies(tank.shape, radius) and (tank.walls is None or wall_patch(tank, radius) is not None)

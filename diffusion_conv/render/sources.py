"""What the pictures draw: the runs of a source (a Comparison, Results, a batch's members) and the view of a frame."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..comparison import Comparison
from ..errors import InputError, InputTypeError
from ..result import Result

CHANNELS = ("red", "green", "blue")
"""The names of the colour channels of ``Tank.from_image(..., channels=True)``, in their batch order."""


@dataclasses.dataclass
class Column:
    """One column of a picture: a run (or one member of a batched run), what it is compared with.

    Attributes
    ----------
    name : str
        The title: the run's name, and the member's label for a batch (``"particles, T = 0.5"``).
    result : Result
        An unbatched run (for a colour column: its red channel).
    channels : list of Result or None
        The three channels of a colour column (drawn as one RGB picture), else None.
    run : str
        The name of the run the column comes from.
    member : str
        The member's label (``""`` for an unbatched run).
    ref : int or None
        The index of the column it is compared with: the same member of the reference run.
    """

    name: str
    result: Result
    channels: list | None
    run: str
    member: str
    ref: int | None = None


def _items(source, reference):
    if isinstance(source, Comparison):
        items, reference = list(source.results.items()), reference or source.reference
    elif isinstance(source, Result):
        items = [(source.method, source)]
    elif isinstance(source, dict):
        items = list(source.items())
    elif isinstance(source, (list, tuple)):
        items, seen = [], {}
        for res in source:
            name = getattr(res, "method", "?")
            seen[name] = seen.get(name, 0) + 1
            items.append((name if seen[name] == 1 else f"{name} #{seen[name]}", res))
    else:
        raise InputTypeError(
            f"source must be a Comparison, a Result, a dict or a list of Results, got {type(source).__name__}"
        )
    if not items or not all(isinstance(r, Result) for _, r in items):
        raise InputTypeError("source must hold at least one diffusion_conv.Result and nothing else")
    items = [(str(n), r) for n, r in items]
    names = [n for n, _ in items]
    if reference is None:
        reference = names[0]
    if reference not in names:
        raise InputError(f"reference {reference!r} is not among the results {names}")
    first = items[0][1]
    for name, res in items:
        if res.frames.shape != first.frames.shape or not np.array_equal(res.steps, first.steps):
            raise InputError(
                f"result {name!r} has frames {res.frames.shape} at other steps than "
                f"{names[0]!r} {first.frames.shape}; animate needs the same saved steps"
            )
    return items, reference


def member_labels(batch, labels=None, channels=None):
    """Per-axis labels of a batch: ``labels`` checked, the colour axis named, the others numbered.

    Parameters
    ----------
    batch : tuple of int
        The batch shape.
    labels : sequence, optional
        One entry per batch axis: a sequence of that axis's length of str, or None
        (numbered). A batch of one axis also takes a flat list of str.
    channels : int, optional
        The axis holding the colour channels (three members): labelled red, green, blue.

    Returns
    -------
    list of list of str
        One list per axis.
    """
    batch = tuple(int(b) for b in batch)
    if channels is not None:
        if (
            isinstance(channels, bool)
            or not isinstance(channels, (int, np.integer))
            or not -len(batch) <= channels < len(batch)
        ):
            raise InputError(
                f"channels must be the index of a batch axis in [{-len(batch)}, {len(batch)}) of the "
                f"batch shape {batch}, got {channels!r}"
            )
        channels = int(channels) % len(batch)
        if batch[channels] != 3:
            raise InputError(
                f"channels={channels} names a batch axis of {batch[channels]} members; colour "
                f"channels are three (red, green, blue)"
            )
    if labels is not None:
        if isinstance(labels, str) or not hasattr(labels, "__len__"):
            raise InputTypeError(f"labels must be a sequence with one entry per batch axis, got {labels!r}")
        if len(batch) == 1 and len(labels) == batch[0] and all(isinstance(x, str) for x in labels):
            labels = [labels]
        if len(labels) != len(batch):
            raise InputError(
                f"labels must have one entry per batch axis ({len(batch)} for batch shape {batch}), got {len(labels)}"
            )
    out = []
    for axis, size in enumerate(batch):
        given = None if labels is None else labels[axis]
        if given is None:
            given = list(CHANNELS) if axis == channels else [str(i) for i in range(size)]
            if axis != channels and len(batch) == 1:
                given = [f"member {i}" for i in range(size)]
        given = [str(x) for x in given]
        if len(given) != size:
            raise InputError(f"labels of batch axis {axis} must have {size} entries, got {len(given)}")
        out.append(given)
    return out


def columns(source, reference=None, labels=None, channels=None, limit=48):
    """The columns of a picture of ``source`` (see :class:`Column`) and the reference's name.

    A batched run gives one column per member (each compared with the same member
    of the reference run), or, with ``channels``, one colour column per member of
    the other axes.
    """
    items, reference = _items(source, reference)
    cols, keys = [], []
    for name, res in items:
        batch = res.batch_shape
        if not batch:
            if channels is not None:
                raise InputError(
                    f"channels={channels!r} needs a batched run whose batch axis holds the colour "
                    f"channels; {name!r} has no batch"
                )
            cols.append(Column(name, res, None, name, ""))
            keys.append((name, ()))
            continue
        per_axis = member_labels(batch, labels, channels)
        parts = members(res, limit=limit)
        flat = {idx: m for idx, (_, m) in zip(np.ndindex(*batch), parts)}
        axis = None if channels is None else int(channels) % len(batch)
        others = [i for i in range(len(batch)) if i != axis]
        for rest in np.ndindex(*[batch[i] for i in others]):
            words = [per_axis[a][k] for a, k in zip(others, rest)]
            member = ", ".join(words)
            if axis is None:
                cols.append(Column(f"{name}, {member}", flat[rest], None, name, member))
            else:
                three = []
                for c in range(3):
                    idx = list(rest)
                    idx.insert(axis, c)
                    three.append(flat[tuple(idx)])
                title = f"{name}, {member}" if member else f"{name}, colour"
                cols.append(Column(title, three[0], three, name, member or "colour"))
            keys.append((name, rest))
    index = {key: j for j, key in enumerate(keys)}
    for j, (name, rest) in enumerate(keys):
        if name != reference:
            cols[j].ref = index.get((reference, rest))
    return cols, reference


def collect(source, reference=None):
    """``(names, results, reference)`` from a Comparison, a dict, a list of Results or one Result.

    A batched run gives one entry per member; ``reference`` is then the name of the
    reference run's first member.
    """
    cols, reference = columns(source, reference)
    names = [c.name for c in cols]
    first = next(c.name for c in cols if c.run == reference)
    return names, [c.result for c in cols], first


def members(result, labels=None, limit=48):
    """``[(label, Result), ...]``: one unbatched Result per member of a batched one (the result itself if unbatched).

    Parameters
    ----------
    result : Result
    labels : sequence of str, optional
        One per member (C order); default ``"method[i, j]"``.
    limit : int
        Refuse batches with more members than this (a picture of thousands of panels helps no one).
    """
    batch = tuple(result.meta.get("batch_shape", ()))
    if not batch:
        return [(result.method, result)]
    size = int(np.prod(batch))
    if size > limit:
        raise InputError(
            f"the batch has {size} members, more than the {limit} panels drawn at most; select "
            f"members first (Result frames are (F, *batch_shape, *grid))"
        )
    if labels is not None and len(labels) != size:
        raise InputError(f"labels must have one entry per member ({size}), got {len(labels)}")
    out = []
    for k, idx in enumerate(np.ndindex(*batch)):
        meta = dict(result.meta, batch_shape=[])
        for name in ("particles_remaining", "particles_absorbed"):
            if name in meta and isinstance(meta[name], list):
                meta[name] = np.asarray(meta[name])[idx].item()
        sel = (slice(None),) + idx
        member = Result(
            result.method,
            result.steps,
            result.times,
            result.frames[sel],
            result.absorbed[sel],
            result.elapsed,
            meta,
            {k2: v[sel] for k2, v in result.extras.items()},
        )
        label = labels[k] if labels is not None else f"{result.method}[{', '.join(map(str, idx))}]"
        out.append((label, member))
    return out


def view(frame):
    """What is drawn of a frame: 1-D and 2-D as they are, 3-D as the middle slice along axis 0."""
    frame = np.asarray(frame)
    return frame[frame.shape[0] // 2] if frame.ndim == 3 else frame

"""What the pictures draw: the runs of a source (a Comparison, Results, a batch's members) and the view of a frame."""
from __future__ import annotations

import numpy as np

from ..compare import Comparison
from ..result import Result


def collect(source, reference=None):
    """``(names, results, reference)`` from a Comparison, a dict, a list of Results or one Result."""
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
        raise TypeError(f"source must be a Comparison, a Result, a dict or a list of Results, "
                        f"got {type(source).__name__}")
    if not items or not all(isinstance(r, Result) for _, r in items):
        raise TypeError("source must hold at least one diffusion_conv.Result and nothing else")
    if any(r.batch_shape for _, r in items):  # a batch: one panel per member
        expanded, first_member = [], {}
        for name, r in items:
            parts = [(name if not r.batch_shape else f"{name}{label[len(r.method):]}", member)
                     for label, member in members(r)]
            first_member[str(name)] = parts[0][0]
            expanded += parts
        if reference is not None:
            reference = first_member.get(str(reference), reference)
        items = expanded
    names = [str(n) for n, _ in items]
    results = [r for _, r in items]
    if reference is None:
        reference = names[0]
    if reference not in names:
        raise ValueError(f"reference {reference!r} is not among the results {names}")
    first = results[0]
    for name, res in zip(names, results):
        if res.frames.shape != first.frames.shape or not np.array_equal(res.steps, first.steps):
            raise ValueError(f"result {name!r} has frames {res.frames.shape} at other steps than "
                             f"{names[0]!r} {first.frames.shape}; animate needs the same saved steps")
    return names, results, reference


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
        raise ValueError(f"the batch has {size} members, more than the {limit} panels drawn at most; select "
                         f"members first (Result frames are (F, *batch_shape, *grid))")
    if labels is not None and len(labels) != size:
        raise ValueError(f"labels must have one entry per member ({size}), got {len(labels)}")
    out = []
    for k, idx in enumerate(np.ndindex(*batch)):
        meta = dict(result.meta, batch_shape=[])
        for name in ("particles_remaining", "particles_absorbed"):
            if name in meta and isinstance(meta[name], list):
                meta[name] = np.asarray(meta[name])[idx].item()
        sel = (slice(None),) + idx
        member = Result(result.method, result.steps, result.times, result.frames[sel], result.absorbed[sel],
                        result.elapsed, meta, {k2: v[sel] for k2, v in result.extras.items()})
        label = labels[k] if labels is not None else f"{result.method}[{', '.join(map(str, idx))}]"
        out.append((label, member))
    return out


def view(frame):
    """What is drawn of a frame: 1-D and 2-D as they are, 3-D as the middle slice along axis 0."""
    frame = np.asarray(frame)
    return frame[frame.shape[0] // 2] if frame.ndim == 3 else frame

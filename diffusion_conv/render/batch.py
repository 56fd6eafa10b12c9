"""Pictures of batched runs: the members of a batch as panels, and RGB composites of colour channels.

A batched :class:`~diffusion_conv.Result` has frames ``(F, *batch_shape, *grid)``;
:func:`members` splits it into one Result per member (for :func:`diffusion_conv.render.animate`
and the plots, which draw a panel per run), and :func:`plot_feature_maps` draws a
whole batch at one frame as a grid: the first batch axis down, the second across
(channels by kernels), with a row of RGB composites when the first axis holds
three colour channels.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .figures import new_figure, save_figure
from .sources import CHANNELS


def composite_scaled(channels, low, high):
    """An RGB picture ``(H, W, 3)`` in [0, 1] from three fields ``(3, H, W)`` on the scale ``[low, high]``."""
    c = np.asarray(channels, dtype=np.float64)
    span = float(high) - float(low)
    return np.clip((np.moveaxis(c, 0, -1) - float(low)) / (span if span > 0 else 1.0), 0.0, 1.0)


def composite(channels, percentile=98):
    """An RGB picture ``(H, W, 3)`` in [0, 1] from three fields ``(3, H, W)``, on one shared scale.

    The scale is the ``percentile`` of all three channels together (100: their
    maximum), so a few piled-up cells do not darken the rest; the channels keep
    their proportions (the colours stay true).
    """
    c = np.asarray(channels, dtype=np.float64)
    if c.ndim != 3 or c.shape[0] != 3:
        raise InputError(f"an RGB composite needs three 2-D channels (3, H, W), got shape {c.shape}")
    top = float(np.percentile(c, percentile)) or float(np.max(c)) or 1.0
    return np.clip(np.moveaxis(c, 0, -1) / top, 0.0, 1.0)


def plot_feature_maps(
    result, path=None, index=-1, row_labels=None, col_labels=None, rgb=False, cmap="viridis", dpi=100
):
    """A batched run at one frame as a grid of panels: rows the first batch axis, columns the second.

    Parameters
    ----------
    result : Result
        With ``batch_shape`` of one or two axes and a 2-D grid (a 3-D grid shows its middle slice).
    path : str, optional
        Write the figure there (``.png``, ``.pdf``, ``.svg``).
    index : int
        Which saved frame.
    row_labels, col_labels : sequence of str, optional
        Labels of the rows (the first batch axis) and columns (the second); with
        ``rgb`` the rows are called red, green and blue unless given.
    rgb : bool
        The first batch axis holds three colour channels: add a row of RGB composites.
    cmap : str
        Colour map of the panels (each on its own scale, to its 98th percentile).
    dpi : int
        Resolution.

    Returns
    -------
    matplotlib.figure.Figure
    """

    batch = tuple(result.meta.get("batch_shape", ()))
    if len(batch) not in (1, 2):
        raise InputError(f"plot_feature_maps draws a batch of one or two axes, got batch_shape {batch}")
    n = len(result.steps)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
        raise InputError(f"index must be an integer in [{-n}, {n}), got {index!r}")
    frames = np.asarray(result.frames[index], dtype=np.float64)
    if len(batch) == 1:
        frames = frames[:, None]
    rows, cols = frames.shape[:2]
    if frames.ndim == 5:
        frames = frames[:, :, frames.shape[2] // 2]
    if frames.ndim != 4:
        raise InputError("plot_feature_maps draws 2-D (or 3-D) grids")
    if rgb and rows != 3:
        raise InputError(f"rgb=True needs three channels on the first batch axis, got {rows}")
    if rgb and row_labels is None:
        row_labels = list(CHANNELS)
    for name, labels, size in (("row_labels", row_labels, rows), ("col_labels", col_labels, cols)):
        if labels is not None and len(labels) != size:
            raise InputError(f"{name} must have {size} entries, got {len(labels)}")
    nrow = rows + (1 if rgb else 0)
    side = 1.9
    fig = new_figure(side * cols + 0.6, side * nrow + 0.6, dpi)
    axes = np.array(fig.subplots(nrow, cols, squeeze=False))
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            lo, hi = float(frames[r, c].min()), float(np.percentile(frames[r, c], 98))
            ax.imshow(frames[r, c], cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and col_labels is not None:
                ax.set_title(col_labels[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(row_labels[r] if row_labels is not None else f"[{r}]", fontsize=8)
    if rgb:
        for c in range(cols):
            ax = axes[rows, c]
            ax.imshow(composite(frames[:, c]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel("RGB", fontsize=8)
    fig.suptitle(f"{result.method}: step {int(result.steps[index])}, batch {batch}", fontsize=9)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig

"""Static plots of :mod:`diffusion_conv.render`: profiles, convergence, kernels and temperatures.

matplotlib is imported only inside the functions. Each function returns a
``matplotlib.figure.Figure`` and writes it to ``path`` when one is given
(temporary name, then rename).
"""

from __future__ import annotations

import numpy as np

from .. import _io
from ..comparison import fit_order, sampling_variance
from ..errors import InputError, InputTypeError
from ..propagator import Propagator
from .figures import FIGURE_SUFFIXES, check_dpi, save_figure
from .figures import new_figure as _figure
from .scales import stochastic
from .sources import collect


def _target(path, dpi):
    """Check the output path (when given) and the resolution before anything is drawn."""
    check_dpi(dpi)
    return None if path is None else _io.check_target(path, FIGURE_SUFFIXES)


def _save(fig, path, dpi):
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def profile(frame, axis=-1, reduce="mean", span=None):
    """A 1-D profile of a frame along ``axis``: the mean over the other axes, or the line through the middle.

    Parameters
    ----------
    frame : array, 1-D to 3-D
    axis : int
        The axis the profile runs along.
    reduce : {'mean', 'middle'}
        Average over the other axes, or take the cells at their middle index.
    span : (int, int), optional
        With ``reduce='mean'``: average over the cells ``start <= i < stop`` of the
        other axes only (a band through the tank) instead of all of them.

    Returns
    -------
    ndarray, shape ``(frame.shape[axis],)``
    """
    frame = np.asarray(frame, dtype=np.float64)
    if reduce not in ("mean", "middle"):
        raise InputError(f"reduce must be 'mean' or 'middle', got {reduce!r}")
    if not -frame.ndim <= axis < frame.ndim:
        raise InputError(f"axis must be in [{-frame.ndim}, {frame.ndim}) for a {frame.ndim}-D frame, got {axis}")
    moved = np.moveaxis(frame, axis, -1)
    if moved.ndim == 1:
        return moved
    if reduce == "mean":
        if span is not None:
            start, stop = _span(span, moved.shape[:-1])
            moved = moved[(slice(start, stop),) * (moved.ndim - 1)]
        return moved.reshape(-1, moved.shape[-1]).mean(axis=0)
    return moved[tuple(s // 2 for s in moved.shape[:-1])]


def _span(span, shape):
    try:
        start, stop = (int(v) for v in span)
    except (TypeError, ValueError):
        raise InputTypeError(f"span must be a pair (start, stop) of cell indices, got {span!r}") from None
    if not 0 <= start < stop <= min(shape):
        raise InputError(f"span must be a pair (start, stop) with 0 <= start < stop <= {min(shape)}, got {span!r}")
    return start, stop


def plot_profiles(
    source, path=None, axis=-1, times=None, exact=None, reduce="mean", dpi=100, panels=False, title=None, span=None
):
    """Profiles through the tank at several times for every method, and a closed form.

    Parameters
    ----------
    source : Comparison, Result, dict of str to Result, or list of Result
        Runs with the same saved steps.
    path : str, optional
        Write the figure there.
    axis : int
        The axis the profiles run along.
    times : sequence of int, optional
        Indices of the saved frames to draw; default up to five spread over the run.
    exact : callable, optional
        ``exact(t)`` returns the closed-form profile (length ``shape[axis]``, at
        cell centres) at time ``t``; drawn as a dashed black line.
    reduce : {'mean', 'middle'}
        How the other axes are reduced (see :func:`profile`).
    span : (int, int), optional
        With ``reduce='mean'``, the band of the other axes averaged over (see :func:`profile`).
    dpi : int
        Resolution.
    panels : bool
        One panel per method (on one shared scale) instead of every method on one
        axis told apart by line style. On one axis a stochastic run (particles,
        counts) is drawn as dots with, around the first deterministic run, a band
        of its expected sampling noise (two standard deviations each side, from the
        binomial variance of each cell): the dots should stay in the band.
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names, results, _ = collect(source)
    path = _target(path, dpi)
    n = len(results[0].steps)
    if times is None:
        times = sorted(set(np.linspace(0, n - 1, min(n, 5)).round().astype(int).tolist()))
    times = [int(i) for i in times]
    if any(not -n <= i < n for i in times):
        raise InputError(f"times must be frame indices in [{-n}, {n}), got {times}")
    if span is not None:
        grid = results[0].frames.shape[1:]
        span = _span(span, [g for a, g in enumerate(grid) if a != axis % len(grid)] or [0])
    if exact is not None and not callable(exact):
        raise InputTypeError(f"exact must be a callable exact(t) -> profile, got {type(exact).__name__}")
    import matplotlib

    groups = [[j] for j in range(len(names))] if panels else [list(range(len(names)))]
    smooth = next((r for r in results if not stochastic(r)), None)
    fig = _figure(3.2 * len(groups) + 1.8 if panels else 7.5, 3.4 if panels else 4.2, dpi)
    axes = np.atleast_1d(fig.subplots(1, len(groups), sharey=True, squeeze=False)[0])
    colours = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, len(times)))
    styles = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1))] if not panels else ["-"]
    dx = results[0].dx
    for ax, group in zip(axes, groups):
        for k, i in enumerate(times):
            t = float(results[0].times[i])
            for j in group:
                p = profile(results[j].frames[i], axis, reduce, span)
                x = (np.arange(p.size) + 0.5) * dx
                if stochastic(results[j]) and not panels and smooth is not None:
                    # dots, and the band of the noise N particles give by chance around the expectation
                    sd = _noise_profile(results[j], smooth.frames[i], axis, reduce, span)
                    mid = profile(smooth.frames[i], axis, reduce, span)
                    ax.fill_between(x, mid - 2 * sd, mid + 2 * sd, color=colours[k], alpha=0.18, lw=0)
                    ax.plot(x, p, ".", color=colours[k], ms=2.5, alpha=0.8)
                    continue
                noisy = stochastic(results[j])  # a stochastic run in its own panel: drawn light
                ax.plot(
                    x,
                    p,
                    color=colours[k],
                    ls=styles[j % len(styles)],
                    lw=0.7 if noisy else 1.1,
                    alpha=0.45 if noisy else 1.0,
                )
            if exact is not None:
                e = np.asarray(exact(t), dtype=np.float64)
                ax.plot((np.arange(e.size) + 0.5) * dx, e, color="k", ls=(0, (2, 2)), lw=0.9)
        ax.set_xlabel(f"position along axis {axis % results[0].frames[0].ndim}", fontsize=8)
        ax.tick_params(labelsize=7)
        if panels:
            ax.set_title(names[group[0]], fontsize=9)
    where = ""
    if reduce == "mean" and results[0].frames.ndim > 2:
        where = (
            " (mean over the other axes)"
            if span is None
            else f" (mean over cells {span[0]}-{span[1] - 1} of the other axes)"
        )
    axes[0].set_ylabel("concentration" + where, fontsize=8)
    legend_ax = axes[-1]
    if not panels:  # line style = method
        for j, name in enumerate(names):
            if stochastic(results[j]) and smooth is not None:
                legend_ax.plot([], [], ".", color="0.3", label=f"{name} (dots)")
                legend_ax.fill_between(
                    [], [], [], color="0.3", alpha=0.18, lw=0, label=f"{name}: expected noise (2 sd)"
                )
            else:
                legend_ax.plot([], [], color="0.3", ls=styles[j % len(styles)], label=name)
    if exact is not None:
        legend_ax.plot([], [], color="k", ls=(0, (2, 2)), lw=0.9, label="closed form")
    for k, i in enumerate(times):  # colour = time
        legend_ax.plot([], [], color=colours[k], lw=4, label=f"t = {float(results[0].times[i]):.4g}")
    legend_ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path, dpi)


def _noise_profile(res, expected, axis, reduce, span=None):
    """The standard deviation of a stochastic run's profile (:func:`profile`) around ``expected``."""
    frame = np.asarray(expected, dtype=np.float64)
    var = sampling_variance(frame, float(np.asarray(res.mass()[0])), int(res.meta["n_particles"]), res.dx, frame.ndim)
    moved = np.moveaxis(var, axis, -1)
    if moved.ndim == 1:
        return np.sqrt(moved)
    if reduce == "mean":
        if span is not None:
            moved = moved[(slice(*_span(span, moved.shape[:-1])),) * (moved.ndim - 1)]
        flat = moved.reshape(-1, moved.shape[-1])
        return np.sqrt(flat.sum(axis=0)) / flat.shape[0]
    return np.sqrt(moved[tuple(s // 2 for s in moved.shape[:-1])])


def plot_convergence(series, path=None, xlabel="steps", ylabel="error", title=None, dpi=100):
    """Errors against resolution on log-log axes, each with its fitted slope.

    Parameters
    ----------
    series : dict of str to (sizes, errors)
        One curve per entry; the slope of ``log(error)`` against ``log(size)`` is
        fitted with :func:`diffusion_conv.fit_order` and shown in the legend.
    path : str, optional
        Write the figure there.
    xlabel, ylabel, title : str
        Axis labels and title.
    dpi : int
        Resolution.

    Returns
    -------
    matplotlib.figure.Figure
    """

    if not isinstance(series, dict) or not series:
        raise InputTypeError("series must be a non-empty dict {label: (sizes, errors)}")
    path = _target(path, dpi)
    fig = _figure(6.0, 4.2, dpi)
    ax = fig.subplots()
    measured = set()
    for j, (label, (sizes, errors)) in enumerate(series.items()):
        sizes = np.asarray(sizes, dtype=np.float64)
        errors = np.asarray(errors, dtype=np.float64)
        slope, intercept = fit_order(sizes, errors)
        measured.update(sizes.tolist())
        ax.loglog(sizes, errors, "o", color=f"C{j}", ms=5)
        xs = np.geomspace(sizes.min(), sizes.max(), 50)
        ax.loglog(xs, np.exp(intercept) * xs**slope, "-", color=f"C{j}", lw=1, label=f"{label}: slope {slope:.3f}")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax.xaxis.set_minor_formatter(NullFormatter())
    if max(measured) / min(measured) < 1e3:  # under three decades a log axis labels one or two powers of ten:
        ticks = sorted(measured)
        ticks = ticks[:: -(-len(ticks) // 10)]  # at most ten labels
        ax.xaxis.set_major_locator(FixedLocator(ticks))  # label the sizes measured instead
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_kernel_temperatures(kernel, temperatures=(0.25, 1.0, 4.0), path=None, title=None, dpi=100):
    """A kernel beside its softmax propagator at several temperatures.

    Low temperature concentrates the jump on the kernel's largest entry; high
    temperature tends to the uniform box. Each panel shows the weights and the
    mean jump.

    Parameters
    ----------
    kernel : array_like, odd-sized, 1-D or 2-D
        The raw kernel (any real numbers).
    temperatures : sequence of float
        Softmax temperatures (> 0).
    path : str, optional
        Write the figure there.
    title : str, optional
        Figure title.
    dpi : int
        Resolution.

    Returns
    -------
    matplotlib.figure.Figure
    """

    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim not in (1, 2):
        raise InputError(f"kernel must be 1-D or 2-D to be drawn, got shape {kernel.shape}")
    temperatures = [float(t) for t in temperatures]
    path = _target(path, dpi)
    props = [Propagator.from_kernel(kernel, normalize="softmax", temperature=t) for t in temperatures]
    panels = [("kernel", kernel, "RdBu_r")] + [
        (
            f"softmax, T = {t:g}\nmean {np.round(np.asarray(p.mean, dtype=float), 3).tolist()}",
            np.asarray(p.weights, dtype=np.float64),
            "viridis",
        )
        for t, p in zip(temperatures, props)
    ]
    fig = _figure(2.4 * len(panels), 2.9, dpi)
    axes = fig.subplots(1, len(panels))
    for ax, (label, w, cmap) in zip(np.atleast_1d(axes), panels):
        w2 = w[None, :] if w.ndim == 1 else w
        lim = float(np.max(np.abs(w2))) or 1.0
        im = ax.imshow(w2, cmap=cmap, vmin=-lim if cmap == "RdBu_r" else 0.0, vmax=lim)
        if w2.size <= 49:
            for (a, b), v in np.ndenumerate(w2):
                ax.text(
                    b,
                    a,
                    f"{v:.2g}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="w" if im.norm(v) < 0.5 or cmap == "RdBu_r" and abs(v) > 0.6 * lim else "k",
                )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path, dpi)

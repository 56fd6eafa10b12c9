"""Static plots of :mod:`diffusion_conv.render`: profiles, convergence, kernels and temperatures.

matplotlib is imported only inside the functions. Each function returns a
``matplotlib.figure.Figure`` and writes it to ``path`` when one is given
(temporary name, then rename).
"""
from __future__ import annotations

import numpy as np

from .. import _io
from ..compare import fit_order
from ..propagator import Propagator
from .figures import FIGURE_SUFFIXES, check_dpi, save_figure
from .figures import new_figure as _figure
from .sources import collect


def _target(path, dpi):
    """Check the output path (when given) and the resolution before anything is drawn."""
    check_dpi(dpi)
    return None if path is None else _io.check_target(path, FIGURE_SUFFIXES)


def _save(fig, path, dpi):
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def profile(frame, axis=-1, reduce="mean"):
    """A 1-D profile of a frame along ``axis``: the mean over the other axes, or the line through the middle.

    Parameters
    ----------
    frame : array, 1-D to 3-D
    axis : int
        The axis the profile runs along.
    reduce : {'mean', 'middle'}
        Average over the other axes, or take the cells at their middle index.

    Returns
    -------
    ndarray, shape ``(frame.shape[axis],)``
    """
    frame = np.asarray(frame, dtype=np.float64)
    if reduce not in ("mean", "middle"):
        raise ValueError(f"reduce must be 'mean' or 'middle', got {reduce!r}")
    if not -frame.ndim <= axis < frame.ndim:
        raise ValueError(f"axis must be in [{-frame.ndim}, {frame.ndim}) for a {frame.ndim}-D frame, got {axis}")
    moved = np.moveaxis(frame, axis, -1)
    if moved.ndim == 1:
        return moved
    if reduce == "mean":
        return moved.reshape(-1, moved.shape[-1]).mean(axis=0)
    return moved[tuple(s // 2 for s in moved.shape[:-1])]


def plot_profiles(source, path=None, axis=-1, times=None, exact=None, reduce="mean", dpi=100, panels=False,
                  title=None):
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
    dpi : int
        Resolution.
    panels : bool
        One panel per method (on one shared scale) instead of every method on one
        axis told apart by line style; the stochastic methods are then readable
        beside the smooth ones.
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
        raise ValueError(f"times must be frame indices in [{-n}, {n}), got {times}")
    if exact is not None and not callable(exact):
        raise TypeError(f"exact must be a callable exact(t) -> profile, got {type(exact).__name__}")
    import matplotlib

    groups = [[j] for j in range(len(names))] if panels else [list(range(len(names)))]
    fig = _figure(3.2 * len(groups) + 1.8 if panels else 7.5, 3.4 if panels else 4.2, dpi)
    axes = np.atleast_1d(fig.subplots(1, len(groups), sharey=True, squeeze=False)[0])
    colours = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, len(times)))
    styles = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1))] if not panels else ["-"]
    dx = results[0].dx
    for ax, group in zip(axes, groups):
        for k, i in enumerate(times):
            t = float(results[0].times[i])
            for j in group:
                p = profile(results[j].frames[i], axis, reduce)
                noisy = "n_particles" in results[j].meta  # a stochastic run: drawn light, the smooth ones read through
                ax.plot((np.arange(p.size) + 0.5) * dx, p, color=colours[k], ls=styles[j % len(styles)],
                        lw=0.7 if noisy else 1.1, alpha=0.45 if noisy else 1.0)
            if exact is not None:
                e = np.asarray(exact(t), dtype=np.float64)
                ax.plot((np.arange(e.size) + 0.5) * dx, e, color="k", ls=(0, (2, 2)), lw=0.9)
        ax.set_xlabel(f"position along axis {axis % results[0].frames[0].ndim}", fontsize=8)
        ax.tick_params(labelsize=7)
        if panels:
            ax.set_title(names[group[0]], fontsize=9)
    axes[0].set_ylabel("concentration" + (" (mean over the other axes)" if reduce == "mean" and
                                          results[0].frames.ndim > 2 else ""), fontsize=8)
    legend_ax = axes[-1]
    if not panels:  # line style = method
        for j, name in enumerate(names):
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
        raise TypeError("series must be a non-empty dict {label: (sizes, errors)}")
    path = _target(path, dpi)
    fig = _figure(6.0, 4.2, dpi)
    ax = fig.subplots()
    for j, (label, (sizes, errors)) in enumerate(series.items()):
        sizes = np.asarray(sizes, dtype=np.float64)
        errors = np.asarray(errors, dtype=np.float64)
        slope, intercept = fit_order(sizes, errors)
        ax.loglog(sizes, errors, "o", color=f"C{j}", ms=5)
        xs = np.geomspace(sizes.min(), sizes.max(), 50)
        ax.loglog(xs, np.exp(intercept) * xs**slope, "-", color=f"C{j}", lw=1,
                  label=f"{label}: slope {slope:.3f}")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
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
        raise ValueError(f"kernel must be 1-D or 2-D to be drawn, got shape {kernel.shape}")
    temperatures = [float(t) for t in temperatures]
    path = _target(path, dpi)
    props = [Propagator.from_kernel(kernel, normalize="softmax", temperature=t) for t in temperatures]
    panels = [("kernel", kernel, "RdBu_r")] + [
        (f"softmax, T = {t:g}\nmean {np.round(np.asarray(p.mean, dtype=float), 3).tolist()}",
         np.asarray(p.weights, dtype=np.float64), "viridis") for t, p in zip(temperatures, props)]
    fig = _figure(2.4 * len(panels), 2.9, dpi)
    axes = fig.subplots(1, len(panels))
    for ax, (label, w, cmap) in zip(np.atleast_1d(axes), panels):
        w2 = w[None, :] if w.ndim == 1 else w
        lim = float(np.max(np.abs(w2))) or 1.0
        im = ax.imshow(w2, cmap=cmap, vmin=-lim if cmap == "RdBu_r" else 0.0, vmax=lim)
        if w2.size <= 49:
            for (a, b), v in np.ndenumerate(w2):
                ax.text(b, a, f"{v:.2g}", ha="center", va="center", fontsize=7,
                        color="w" if im.norm(v) < 0.5 or cmap == "RdBu_r" and abs(v) > 0.6 * lim else "k")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path, dpi)

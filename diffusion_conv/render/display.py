"""How the package's objects show themselves in a notebook: HTML with a small embedded PNG.

``Tank``, ``Propagator``, ``Result`` and ``Comparison`` return :func:`html` of
themselves from ``_repr_html_`` (reached through :mod:`diffusion_conv._display`,
so that the classes import nothing above them). Each picture is drawn on
matplotlib's Agg canvas (a ``Figure`` of its own: no pyplot state, nothing left
open), encoded as a PNG on a palette of at most 256 colours and embedded as
base64; the figure is cleared after. Nothing here runs a JAX computation: arrays
are copied to the host once and everything else is NumPy, so showing an object
compiles no program.

What each shows
---------------
Tank
    The field (a batch's first member, a 3-D tank's middle slice) with the walls in
    grey; shape, boundaries, ``dx``, walls and mass.
Propagator
    The kernel as an image (1-D: bars) with its mean jump (a cross) and the
    ellipse of its covariance (one standard deviation); shape, radius, softmax
    temperature (where it was built from logits), mean, covariance, diffusivity.
Result
    The last frame in the panel of :func:`diffusion_conv.render.plot_frame` (a
    batch's first member, said so) and its key figures: method, steps, frames,
    time, mass at the start and end, absorbed, the balance, elapsed time.
Comparison
    The error table (:attr:`diffusion_conv.Comparison.HEADERS` and its legend)
    and the final frames of every method side by side (the panels of
    ``methods.png``, without the row of differences that the table already
    measures).
"""

from __future__ import annotations

import base64
import html as _html
import io

import numpy as np

from .._checks import is_concrete
from ..comparison import Comparison
from ..errors import InputTypeError
from ..propagator import Propagator
from ..result import Result
from ..tank import Tank
from .animation import fit_dpi, plot_frame
from .figures import new_figure
from .panels import WALL_GREY
from .scales import units
from .sources import members, view

DPI = 90
"""Resolution of the pictures of a tank and a propagator (dots per inch)."""

RUN_DPI = 72
"""Resolution of the panels of a result and a comparison: a panel of 3.6 inches is about 260 pixels wide."""

WIDTH = 1000
"""Widest picture of a comparison, in pixels (more panels are drawn at a lower dpi): a notebook scales wider
pictures down to its column anyway."""

_STYLE = "font-family: sans-serif; font-size: 13px"
_CELL = "text-align: left; padding: 1px 10px 1px 0; vertical-align: top"


def html(obj) -> str | None:
    """The HTML that shows a Tank, Propagator, Result or Comparison in a notebook.

    Returns None for a tank or propagator whose arrays are being traced by JAX
    (inside ``jax.jit``): the notebook then shows the text ``repr``.

    Raises
    ------
    TypeError
        For any other object.
    """
    if isinstance(obj, Comparison):
        return comparison_html(obj)
    if isinstance(obj, Result):
        return result_html(obj)
    if isinstance(obj, Tank):
        return tank_html(obj) if is_concrete(obj.concentration) else None
    if isinstance(obj, Propagator):
        return propagator_html(obj) if is_concrete(obj.weights) else None
    raise InputTypeError(
        f"obj must be a Tank, Propagator, Result or Comparison to be displayed, got {type(obj).__name__}"
    )


# -- pieces ---------------------------------------------------------------------------------------
def png(fig) -> tuple[str, int, int]:
    """``(base64 text, width, height)`` of ``fig`` as a PNG on a palette of at most 256 colours; the figure is
    cleared after (its memory is freed with it)."""
    from PIL import Image

    try:
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    finally:
        fig.clear()
    h, w = rgb.shape[:2]
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    colours, index = np.unique(codes, return_inverse=True)
    if len(colours) <= 256:  # every colour kept exactly
        picture = Image.fromarray(index.reshape(h, w).astype(np.uint8), "P")
        table = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=-1).astype(np.uint8)
        picture.putpalette(table.ravel().tolist())
    else:  # the 256 colours that serve the picture best, no dithering (it would add noise to smooth fields)
        picture = Image.fromarray(np.ascontiguousarray(rgb), "RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    buf = io.BytesIO()
    picture.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii"), w, h


def _img(fig, alt: str) -> str:
    data, w, h = png(fig)
    return (
        f'<img src="data:image/png;base64,{data}" width="{w}" height="{h}" alt="{_html.escape(alt)}" '
        f'style="max-width: 100%; height: auto">'
    )


def _facts(title: str, rows, note: str = "") -> str:
    """A small table of facts under a bold title, and a note below."""
    body = "".join(
        f'<tr><th style="{_CELL}">{_html.escape(k)}</th><td style="{_CELL}">{_html.escape(v)}</td></tr>'
        for k, v in rows
    )
    note = f'<div style="color: #666; max-width: 32em">{_html.escape(note)}</div>' if note else ""
    return (
        f"<div><b>{_html.escape(title)}</b>"
        f'<table style="border-collapse: collapse; margin: 4px 0">{body}</table>{note}</div>'
    )


def _box(*parts) -> str:
    return (
        f'<div class="diffusion-conv" style="display: flex; flex-wrap: wrap; gap: 16px; '
        f'align-items: flex-start; {_STYLE}">{"".join(parts)}</div>'
    )


def _num(x) -> str:
    return f"{float(x):.6g}"


def _array(a) -> str:
    """A vector or matrix as nested lists of numbers to four significant digits (tiny ones as 0)."""
    a = np.asarray(a, dtype=np.float64)
    top = float(np.max(np.abs(a))) if a.size else 0.0
    a = np.where(np.abs(a) <= 1e-9 * max(top, 1.0), 0.0, a)

    def text(x):
        return f"{x:.4g}" if np.ndim(x) == 0 else "[" + ", ".join(text(y) for y in x) + "]"

    return text(a)


def _grid(shape) -> str:
    return " x ".join(str(int(n)) for n in shape)


def _walls(mask, ax, oned):
    """Draw wall cells solid grey (the grey of the animation's panels)."""
    if mask is None or not np.any(mask):
        return
    if oned:
        for k in np.flatnonzero(mask):
            ax.axvspan(k - 0.5, k + 0.5, color=str(WALL_GREY), lw=0)
        return
    rgba = np.zeros(mask.shape + (4,))
    rgba[mask] = (WALL_GREY, WALL_GREY, WALL_GREY, 1.0)
    ax.imshow(rgba, interpolation="nearest", origin="upper")


# -- Tank -----------------------------------------------------------------------------------------
def tank_html(tank) -> str:
    """The tank's field with its walls, and what it holds."""
    field = np.asarray(tank.concentration)  # to the host once: nothing is compiled
    batch = tuple(tank.batch_shape)
    first = field[(0,) * len(batch)] if batch else field
    walls = None if tank.walls is None else np.asarray(tank.walls)
    ndim = first.ndim
    masses = field.sum(axis=tuple(range(len(batch), field.ndim)), dtype=np.float64) * tank.dx**ndim
    fig = new_figure(3.9, 3.0, DPI)
    ax = fig.subplots()
    what = "the tank" if not batch else f"member {(0,) * len(batch)} of the batch"
    if ndim == 1:
        ax.plot(np.arange(first.size), first, lw=1.2, color="C0")
        _walls(walls, ax, True)
        ax.set_xlabel("cell", fontsize=8)
        ax.set_ylabel(f"concentration ({units(1)})", fontsize=8)
        fig.subplots_adjust(left=0.2, right=0.95, bottom=0.16, top=0.88)
    else:
        art = ax.imshow(view(first), cmap="viridis", interpolation="nearest", origin="upper")
        _walls(None if walls is None else view(walls), ax, False)
        cb = fig.colorbar(art, ax=ax, fraction=0.046, pad=0.04)
        cb.set_label(f"concentration ({units(ndim)})", fontsize=8)
        cb.ax.tick_params(labelsize=7)
        ax.set_xlabel(f"axis {ndim - 1} (cells)", fontsize=8)
        ax.set_ylabel(f"axis {ndim - 2} (cells)", fontsize=8)
        if ndim == 3:
            what += f", middle slice of axis 0 (index {first.shape[0] // 2})"
        fig.subplots_adjust(left=0.14, right=0.88, bottom=0.14, top=0.9)
    ax.tick_params(labelsize=7)
    ax.set_title(what + (" (walls grey)" if walls is not None else ""), fontsize=8)
    rows = [("shape", _grid(tank.shape) + " cells")]
    if batch:
        rows.append(("batch", f"{_grid(batch)} members (the picture: the first)"))
    rows += [
        ("boundary", ", ".join(str(b) for b in tank.boundary)),
        ("dx", _num(tank.dx)),
        ("walls", "none" if walls is None else f"{int(walls.sum())} cells"),
        ("mass", _num(masses) if not batch else _array(masses.ravel()[:6]) + (" ..." if masses.size > 6 else "")),
        ("concentration", f"{_num(first.min())} to {_num(first.max())}"),
        ("dtype", str(field.dtype)),
    ]
    return _box(_img(fig, "the tank's field"), _facts("Tank", rows, "mass = sum of concentration x dx^ndim"))


# -- Propagator -----------------------------------------------------------------------------------
def _ellipse(ax, mean, cov):
    """The one-standard-deviation ellipse of a 2-D jump (axis 1 across, axis 0 down)."""
    from matplotlib.patches import Ellipse

    c = np.array([[cov[1, 1], cov[1, 0]], [cov[0, 1], cov[0, 0]]])  # (across, down)
    vals, vecs = np.linalg.eigh(c)
    vals = np.clip(vals, 0.0, None)
    angle = float(np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1])))
    ax.add_patch(
        Ellipse(
            (mean[1], mean[0]),
            2 * np.sqrt(vals[1]),
            2 * np.sqrt(vals[0]),
            angle=angle,
            fill=False,
            color="white",
            lw=1.2,
            ls="--",
        )
    )


def propagator_html(prop) -> str:
    """The kernel as an image with its mean and covariance, and what it is."""
    w = np.asarray(prop.weights, dtype=np.float64)  # to the host once: nothing is compiled
    batch = tuple(prop.batch_shape)
    first = w[(0,) * len(batch)] if batch else w
    mean, cov = prop.host_moments()
    if batch:
        mean, cov = mean[(0,) * len(batch)], cov[(0,) * len(batch)]
    radius = prop.radius
    ndim = first.ndim
    fig = new_figure(3.9, 3.0, DPI)
    ax = fig.subplots()
    what = "the kernel" if not batch else f"member {(0,) * len(batch)} of the bank"
    if ndim == 1:
        d = np.arange(-radius[0], radius[0] + 1)
        ax.bar(d, first, width=0.8, color="C0")
        ax.axvline(mean[0], color="C3", lw=1.2, label=f"mean {mean[0]:.3g}")
        sd = float(np.sqrt(max(cov[0, 0], 0.0)))
        ax.axvspan(mean[0] - sd, mean[0] + sd, color="C3", alpha=0.12, lw=0, label=f"± sd {sd:.3g}")
        ax.legend(fontsize=7, loc="upper right")
        ax.set_xlabel("jump (cells)", fontsize=8)
        ax.set_ylabel("probability", fontsize=8)
        fig.subplots_adjust(left=0.2, right=0.95, bottom=0.16, top=0.88)
    else:
        picture, m, c = first, mean, cov
        if ndim == 3:
            picture = first[radius[0]]
            m, c = mean[1:], cov[1:, 1:]
            what += ", jumps with offset 0 along axis 0"
        r0, r1 = picture.shape[0] // 2, picture.shape[1] // 2
        art = ax.imshow(
            picture,
            cmap="magma",
            interpolation="nearest",
            origin="upper",
            extent=(-r1 - 0.5, r1 + 0.5, r0 + 0.5, -r0 - 0.5),
            vmin=0.0,
        )
        if picture.size <= 25:  # small kernels: the weights written in their cells
            top = float(picture.max()) if picture.size else 0.0
            for (i, j), v in np.ndenumerate(picture):
                ax.text(
                    j - r1,
                    i - r0 + 0.3,  # below the centre, where the mean's cross does not cover it
                    f"{v:.2g}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if v > 0.6 * top else "white",
                )
        ax.plot([m[1]], [m[0]], marker="+", color="cyan", ms=10, mew=1.5)
        _ellipse(ax, m, c)
        cb = fig.colorbar(art, ax=ax, fraction=0.046, pad=0.04)
        cb.set_label("probability of the jump", fontsize=8)
        cb.ax.tick_params(labelsize=7)
        ax.set_xlabel(f"jump along axis {ndim - 1} (cells)", fontsize=8)
        ax.set_ylabel(f"jump along axis {ndim - 2} (cells)", fontsize=8)
        fig.subplots_adjust(left=0.16, right=0.86, bottom=0.15, top=0.9)
    ax.tick_params(labelsize=7)
    ax.set_title(what, fontsize=8)
    temperature = getattr(prop, "_temperature", None)
    rows = [("kernel shape", _grid(prop.kernel_shape)), ("radius", ", ".join(map(str, radius)) + " cells")]
    if batch:
        rows.append(("bank", f"{_grid(batch)} kernels (the picture: the first)"))
    rows += [
        (
            "temperature",
            "not recorded (weights given directly)"
            if temperature is None
            else f"{temperature:g} (softmax of logits / T)",
        ),
        ("mean jump", _array(mean) + " cells"),
        ("covariance", _array(cov) + " cells²"),
        ("diffusivity", _array(cov / 2) + " cells² / step"),
        ("symmetric", "yes" if prop.is_symmetric else "no"),
    ]
    note = "" if ndim == 1 else "Cross: the mean jump; dashed: one standard deviation of the jump."
    return _box(_img(fig, "the propagator's kernel"), _facts("Propagator", rows, note))


# -- Result ---------------------------------------------------------------------------------------
def result_html(res) -> str:
    """The last frame and the run's key figures."""
    batch = tuple(res.batch_shape)
    member = members(res, limit=int(np.prod(batch)) if batch else 48)[0][1] if batch else res
    fig = plot_frame(member, -1, dpi=RUN_DPI)
    mass = np.asarray(res.mass(), dtype=np.float64)
    absorbed = np.asarray(res.absorbed, dtype=np.float64)
    start, end, lost = mass[0].sum(), mass[-1].sum(), absorbed[-1].sum()
    balance = abs(end + lost - start) / abs(start) if start != 0 else abs(end + lost)
    dt = float(res.meta.get("dt", 1.0))
    grid = res.frames.shape[1 + len(batch) :]
    rows = [
        ("method", res.method),
        ("steps", f"{int(res.steps[-1])} (dt = {dt:g}: time {_num(res.times[-1])})"),
        ("frames", f"{len(res.steps)}, at steps {_steps(res.steps)}"),
        ("grid", f"{_grid(grid)} cells, dx = {res.dx:g}"),
    ]
    if batch:
        rows.append(("batch", f"{_grid(batch)} members (the picture: member {(0,) * len(batch)})"))
    if res.meta.get("boundary"):
        rows.append(("boundary", ", ".join(map(str, res.meta["boundary"]))))
    if res.meta.get("n_particles") is not None:
        rows.append(("particles", f"{res.meta['n_particles']:,}" + (" per member" if batch else "")))
    rows += [
        ("mass", f"{_num(start)} at the start, {_num(end)} at the end" + (" (all members)" if batch else "")),
        ("absorbed", _num(lost)),
        ("mass balance", f"{balance:.2e} of the initial mass"),
        ("elapsed", f"{res.elapsed:.3g} s (compilation included)"),
    ]
    return _box(_img(fig, f"the last frame of the {res.method} run"), _facts("Result", rows))


def _steps(steps) -> str:
    steps = [int(s) for s in steps]
    return ", ".join(map(str, steps)) if len(steps) <= 6 else f"{steps[0]}, {steps[1]}, ..., {steps[-1]}"


# -- Comparison -----------------------------------------------------------------------------------
def comparison_html(cmp) -> str:
    """The error table and the final frames of every method."""
    ref = cmp.results[cmp.reference]
    batch = tuple(ref.batch_shape)
    if batch:
        source = {name: members(r, limit=int(np.prod(batch)))[0][1] for name, r in cmp.results.items()}
    else:
        source = cmp.results
    results = list(source.values())
    fig = plot_frame(source, -1, reference=cmp.reference, diff=False, dpi=fit_dpi(results, False, WIDTH, RUN_DPI))
    head = "".join(
        f'<th style="text-align: {"left" if k == 0 else "right"}; padding: 2px 8px; border-bottom: 1px solid #999">'
        f"{_html.escape(cmp.HEADERS[c])}</th>"
        for k, c in enumerate(cmp.COLUMNS)
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td style="text-align: {"left" if k == 0 else "right"}; padding: 1px 8px">{_html.escape(v)}</td>'
            for k, v in enumerate(cmp._cells(row))
        )
        + "</tr>"
        for row in cmp.table
    )
    grid = ref.frames.shape[1 + len(batch) :]
    title = (
        f"Comparison: {len(cmp.results)} methods against {cmp.reference}, {_grid(grid)} cells, "
        f"{int(ref.steps[-1])} steps" + (f", batch {_grid(batch)} (the pictures: the first member)" if batch else "")
    )
    table = (
        f'<div style="{_STYLE}"><b>{_html.escape(title)}</b>'
        f'<table style="border-collapse: collapse; margin: 4px 0"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        f'<div style="color: #666; max-width: 60em">{_html.escape(cmp.legend())}</div></div>'
    )
    return f'<div class="diffusion-conv">{table}{_img(fig, "the final frames of every method")}</div>'

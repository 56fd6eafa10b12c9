"""The explorer's state and computation: settings in, the arrays shown and a figure out."""

from __future__ import annotations

import base64
import html
import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import scenarios
from ..errors import InputError, MissingExtraError
from ..propagator import Propagator
from ..simulation import simulate
from ..tank import Tank
from .panels import Panels
from .settings import DEFAULTS, check, integer_in, shape_of
from .widget import Widget, ipywidgets


@dataclass(frozen=True)
class View:
    """What the explorer shows at one setting: every array is ``(n0, n1)`` except ``kernel``.

    Attributes
    ----------
    step, time : int, float
        The step shown and its time ``step * dt`` (``dt = 1``).
    kernel : numpy.ndarray
        The propagator's weights, ``(2 r + 1, 2 r + 1)``.
    propagator, particles : numpy.ndarray
        The field after ``step`` steps of each method.
    heat : numpy.ndarray or None
        The heat equation's cell averages, or None where it has no exact
        solution for this setting (``heat_note`` says why: walls, or a drift at
        a reflecting wall).
    noise : numpy.ndarray
        The standard deviation of the particles' field in each cell, from the
        binomial law: ``sqrt(c (M - c) / N)`` with ``c`` the propagator's field,
        ``M`` the initial mass and ``N`` the particles.
    walls : numpy.ndarray of bool or None
    mobility : numpy.ndarray or None
        The tank's mobility map (the gel disc), None where it is 1 everywhere.
    settings : dict
        Every setting of this view.
    """

    step: int
    time: float
    kernel: np.ndarray
    propagator: np.ndarray
    particles: np.ndarray
    heat: np.ndarray | None
    heat_note: str
    noise: np.ndarray
    walls: np.ndarray | None
    settings: dict
    mobility: np.ndarray | None = None

    @property
    def differences(self) -> dict:
        """``'particles - propagator'`` and ``'heat - propagator'`` (None where heat is None)."""
        heat = None if self.heat is None else self.heat - self.propagator
        return {"particles - propagator": self.particles - self.propagator, "heat - propagator": heat}


class Explorer:
    """The explorer's state and computation: settings in, a :class:`~diffusion_conv.explorer.View` and a figure out.

    Parameters
    ----------
    shape : int or (int, int), default ``(64, 64)``
        The grid, 8 to 512 cells per axis.
    steps : int, default 100
        The last step of the time slider (1 to 2000); every run saves every step.
    **settings
        Initial values of the controls (see :meth:`update`).

    Notes
    -----
    ``Explorer`` displays itself in Jupyter as the widget of :meth:`widget`
    (where ipywidgets is installed), with a static picture and the controls'
    values as HTML for viewers without a live kernel.
    """

    def __init__(self, shape=(64, 64), steps=100, **settings):
        self.shape = shape_of(shape)
        self.steps = integer_in("steps", steps, 1, 2000)
        self._settings: dict[str, Any] = dict(DEFAULTS, step=min(DEFAULTS["step"], self.steps))
        self._settings["gap"] = min(self._settings["gap"], self.shape[0])
        self._field = None
        self._runs = None
        self._fig = None
        self._widget = None
        self._timing = {}
        self._apply(settings)

    # -- settings ----------------------------------------------------------------------------
    @property
    def settings(self) -> dict:
        """The current value of every control."""
        return dict(self._settings)

    def _apply(self, values) -> bool:
        """Check every value, then set them all; True where a run must be recomputed."""
        checked = check(values, self.shape, self.steps, self._field is not None)
        field = checked.pop("field", None)
        changed = field is not None or any(self._settings[k] != v for k, v in checked.items() if k != "step")
        if field is not None:
            self._field = field
        self._settings.update(checked)
        if changed:
            self._runs = None
        return self._runs is None

    # -- the problem ---------------------------------------------------------------------------
    def propagator(self):
        """The :class:`~diffusion_conv.Propagator` of the current kernel settings."""

        s = self._settings
        r = s["radius"]
        if s["family"] == "gaussian":
            d = np.arange(-r, r + 1, dtype=np.float64)
            logits = -(d[:, None] ** 2 + d[None, :] ** 2) / (2 * s["sigma"] ** 2)
            return Propagator.from_logits(logits, temperature=s["temperature"])
        if s["family"] == "box":
            return Propagator.box(2 * r + 1, ndim=2)
        kernel = scenarios.EDGE if s["family"] == "edge" else scenarios.SOBEL
        return Propagator.from_kernel(kernel, normalize="softmax", temperature=s["temperature"])

    def tank(self):
        """The :class:`~diffusion_conv.Tank` of the current field, boundary, gel and board."""

        s = self._settings
        n0, n1 = self.shape
        if s["initial"] == "two compartments":
            tank = Tank.two_compartment(self.shape, left=1.0, right=0.0, boundary=s["boundary"])
        elif s["initial"] == "point":
            field = np.zeros(self.shape)
            field[n0 // 2, n1 // 4] = 1.0
            tank = Tank(field, boundary=s["boundary"])
        elif s["initial"] == "picture":
            tank = Tank.from_image(scenarios.TEST_IMAGE, size=self.shape, boundary=s["boundary"])
        else:
            tank = Tank(self._field, boundary=s["boundary"])
        if s["gel"]:
            tank = tank.replace(mobility=scenarios.gel_disc(self.shape, s["gel_mobility"]))
        if s["board"]:
            start = n0 // 2 - s["gap"] // 2
            gap = None if s["gap"] == 0 else (start, start + s["gap"])
            tank = tank.with_board(axis=1, index=n1 // 2, gap=gap)
        return tank

    def _run(self):
        import jax

        s = self._settings
        tank, prop = self.tank(), self.propagator()
        start = time.perf_counter()
        runs: dict[str, Any] = {
            "propagator": simulate(tank, prop, self.steps, method="propagator", save_every=1),
            "particles": simulate(
                tank,
                prop,
                self.steps,
                method="particles",
                save_every=1,
                n_particles=s["n_particles"],
                key=jax.random.key(s["seed"]),
            ),
        }
        try:
            runs["heat"] = simulate(tank, prop, self.steps, method="heat", save_every=1)
        except InputError as e:  # no exact continuum solution here: the heat panel says why
            runs["heat"] = str(e)
        self._timing["run"] = time.perf_counter() - start
        self._runs = (tank, prop, runs)

    @property
    def results(self) -> dict:
        """The :class:`~diffusion_conv.Result` of each method at the current settings (``'heat'``: the
        reason as text where the heat equation was refused)."""
        if self._runs is None:
            self._run()
        assert self._runs is not None
        return dict(self._runs[2])

    def update(self, **values) -> View:
        """Change some settings and return what the explorer shows: the function every control calls.

        Parameters
        ----------
        family : {'gaussian', 'box', 'edge', 'sobel'}
            The kernel: a Gaussian (softmax of ``-|d|^2 / (2 sigma^2)``), the box
            blur over the whole ``(2 radius + 1)^2`` box, the 3x3 edge detector
            (:data:`diffusion_conv.scenarios.EDGE`) or the Sobel kernel
            (:data:`diffusion_conv.scenarios.SOBEL`), the last two through a softmax.
        sigma : float
            The Gaussian's width in cells (0.05 to 20).
        temperature : float
            The softmax temperature of the Gaussian, the edge detector and Sobel
            (the box has none).
        radius : int
            The kernel's radius for the Gaussian and the box (1 to 8); the edge
            detector and Sobel are 3x3.
        boundary : {'reflect', 'periodic', 'absorb'}
        board : bool
            A board across the middle column (axis 1).
        gel : bool
            A centred disc of gel over a tenth of the tank
            (:func:`diffusion_conv.scenarios.gel_disc`): cells that slow the walk.
            The heat equation has no solution with one (its panel says so).
        gel_mobility : float
            The gel's mobility (0.01 to 1; 1 is open water).
        gap : int
            The width of the opening in the board, centred along axis 0 (0: shut).
        initial : {'two compartments', 'point', 'picture', 'custom'}
            Salt (1) left of the middle and fresh water (0) right of it; a unit
            mass left of the middle; the shipped test picture; or the ``field`` given.
        field : array_like, ``(n0, n1)``
            A non-negative initial field of the grid's shape (sets ``initial='custom'``).
        n_particles : int
            The particles of the random walk (1 to 10**7).
        seed : int
            The random walk's key, ``jax.random.key(seed)``.
        step : int
            The step shown, 0 to ``steps``.

        Returns
        -------
        View

        Raises
        ------
        InputError, InputTypeError
            An unknown setting or a value not allowed, before anything changes.
        """
        self._apply(values)
        return self.view()

    def view(self) -> View:
        """What the explorer shows at the current settings (runs them first where needed)."""
        runs = self.results
        tank, prop = self._runs[0], self._runs[1]  # type: ignore[index]
        k = self._settings["step"]
        exact = np.asarray(runs["propagator"].frames[k])
        heat = runs["heat"]
        mass = float(np.sum(np.asarray(tank.concentration, dtype=np.float64)))
        c = np.clip(exact.astype(np.float64), 0.0, mass)
        noise = np.sqrt(c * (mass - c) / self._settings["n_particles"])
        return View(
            step=k,
            time=float(k),
            kernel=np.asarray(prop.weights),
            propagator=exact,
            particles=np.asarray(runs["particles"].frames[k]),
            heat=None if isinstance(heat, str) else np.asarray(heat.frames[k]),
            heat_note=heat if isinstance(heat, str) else "",
            noise=noise,
            walls=tank.walls,
            settings=self.settings,
            mobility=None if tank.mobility is None else np.asarray(tank.mobility),
        )

    # -- pictures ------------------------------------------------------------------------------
    def describe(self) -> str:
        """One line: the kernel, the boundary, the board and the particles."""
        s = self._settings
        if s["family"] == "gaussian":
            kernel = f"Gaussian sigma = {s['sigma']:.3g}, T = {s['temperature']:.3g}, radius {s['radius']}"
        elif s["family"] == "box":
            kernel = f"box {2 * s['radius'] + 1}x{2 * s['radius'] + 1}"
        else:
            kernel = f"softmax({'edge detector' if s['family'] == 'edge' else 'Sobel'} / {s['temperature']:.3g})"
        board = "no board" if not s["board"] else ("board shut" if s["gap"] == 0 else f"board, gap {s['gap']}")
        if s["gel"]:
            board += f" | gel disc, mobility {s['gel_mobility']:.2g}"
        return f"{kernel} | {s['boundary']} | {board} | {s['n_particles']:,} particles, seed {s['seed']}"

    def figure(self, view=None):
        """The panels of ``view`` (default: the current one) as a matplotlib figure.

        Top row: the propagator, the particles and the heat equation on one
        colour scale (walls grey). Bottom row: the kernel, and the particles'
        and the heat equation's differences to the propagator, each with its
        root mean square beside what is expected of it (the particles' sampling
        noise). The explorer keeps one figure and redraws it.
        """
        view = self.view() if view is None else view
        if self._fig is None:
            self._fig = Panels()
        self._fig.draw(view, self.steps, self.describe())
        return self._fig.fig

    def png(self, view=None) -> bytes:
        """The figure of ``view`` as PNG bytes."""
        start = time.perf_counter()
        fig = self.figure(view)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=fig.dpi)
        self._timing["draw"] = time.perf_counter() - start
        return buf.getvalue()

    # -- the widget ------------------------------------------------------------------------------
    def widget(self):
        """The controls and the picture as an ipywidgets box (made once; needs the ``notebook`` extra).

        Raises
        ------
        MissingExtraError
            Where ipywidgets is not installed.
        """
        if self._widget is None:
            self._widget = Widget(self, ipywidgets())
        return self._widget.box

    @property
    def controls(self) -> dict:
        """The widget's controls by setting name (made with the widget)."""
        self.widget()
        assert self._widget is not None
        return dict(self._widget.controls)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": repr(self), "text/html": self._snapshot_html()}
        try:
            box = self.widget()
        except MissingExtraError:
            return bundle
        live = box._repr_mimebundle_(include=include, exclude=exclude)
        bundle.update({k: v for k, v in (live or {}).items() if k != "text/plain"})
        return bundle

    def _snapshot_html(self) -> str:
        """The picture and the controls' values, for a page without a live kernel."""
        png = base64.b64encode(self.png()).decode("ascii")
        values = " &middot; ".join(
            f"<code>{html.escape(k)}={html.escape(repr(v))}</code>" for k, v in self._settings.items()
        )
        return (
            '<div class="dc-explorer"><p><b>diffusion_conv explorer</b> (a static picture: the controls '
            "run in a live Jupyter kernel)<br>"
            f"{values}</p>"
            f'<img src="data:image/png;base64,{png}" alt="{html.escape(self.describe())}" '
            'style="max-width: 100%"></div>'
        )

    def __repr__(self):
        return f"Explorer(shape={self.shape}, steps={self.steps}, {self.describe()}, step {self._settings['step']})"

"""The explorer's controls: ipywidgets wired to :meth:`Explorer.update <diffusion_conv.explorer.Explorer.update>`."""

from __future__ import annotations

import html

from ..errors import InputError, MissingExtraError
from .settings import BOUNDARIES, FAMILIES, INITIAL, MAX_RADIUS, PARTICLES

NOTEBOOK_HINT = (
    "the explorer's controls need ipywidgets: install the notebook extra, pip install 'diffusion-conv[notebook]'"
)


def ipywidgets():
    """The ipywidgets module, or MissingExtraError naming the extra that installs it."""
    try:
        import ipywidgets
    except ImportError:
        raise MissingExtraError(NOTEBOOK_HINT) from None
    return ipywidgets


class Widget:
    """The ipywidgets controls wired to :meth:`Explorer.update`, and the picture they redraw."""

    def __init__(self, explorer, w):
        self.explorer = explorer
        s = explorer.settings
        slider = {"continuous_update": False, "style": {"description_width": "80px"}}
        c = {
            "family": w.Dropdown(options=FAMILIES, value=s["family"], description="kernel"),
            "sigma": w.FloatSlider(value=s["sigma"], min=0.2, max=4.0, step=0.05, description="sigma", **slider),
            "temperature": w.FloatLogSlider(
                value=s["temperature"], base=10, min=-1, max=1.5, step=0.05, description="temperature", **slider
            ),
            "radius": w.IntSlider(value=s["radius"], min=1, max=MAX_RADIUS, description="radius", **slider),
            "boundary": w.Dropdown(options=BOUNDARIES, value=s["boundary"], description="boundary"),
            "board": w.Checkbox(value=s["board"], description="board with a gap"),
            "gap": w.IntSlider(value=s["gap"], min=0, max=explorer.shape[0], description="gap", **slider),
            "gel": w.Checkbox(value=s["gel"], description="gel disc"),
            "gel_mobility": w.FloatSlider(
                value=s["gel_mobility"], min=0.02, max=1.0, step=0.02, description="gel mobility", **slider
            ),
            "initial": w.Dropdown(
                options=[i for i in INITIAL if i != "custom" or s["initial"] == "custom"],
                value=s["initial"],
                description="initial",
            ),
            "n_particles": w.SelectionSlider(
                options=sorted(set(PARTICLES) | {s["n_particles"]}),
                value=s["n_particles"],
                description="particles",
                **slider,
            ),
            "seed": w.BoundedIntText(value=s["seed"], min=0, max=2**31 - 1, description="seed"),
            "step": w.IntSlider(value=s["step"], min=0, max=explorer.steps, description="step", **slider),
        }
        c["step"].continuous_update = True  # picking a frame computes nothing: follow the slider
        self.controls = c
        self.play = w.Play(value=s["step"], min=0, max=explorer.steps, interval=150, description="play")
        w.jslink((self.play, "value"), (c["step"], "value"))
        self.image = w.Image(format="png", value=explorer.png())
        self.status = w.HTML()
        for name, control in c.items():
            control.observe(self._on_change(name), names="value")
        self._enable()
        self._say()
        self.box = w.VBox(
            [
                w.HBox(
                    [
                        w.VBox([c["family"], c["sigma"], c["temperature"], c["radius"]]),
                        w.VBox([c["boundary"], c["board"], c["gap"], c["initial"]]),
                        w.VBox([c["gel"], c["gel_mobility"]]),
                        w.VBox([c["n_particles"], c["seed"], w.HBox([self.play, c["step"]])]),
                    ]
                ),
                self.image,
                self.status,
            ]
        )

    def _on_change(self, name):
        def handler(change):
            try:
                self.explorer.update(**{name: change["new"]})
            except InputError as e:  # a value the controls allow is always accepted; say so if not
                self.status.value = f"<span style='color: #b00'>{html.escape(str(e))}</span>"
                return
            self._enable()
            self.image.value = self.explorer.png()
            self._say()

        return handler

    def _enable(self):
        s = self.explorer.settings
        self.controls["sigma"].disabled = s["family"] != "gaussian"
        self.controls["temperature"].disabled = s["family"] == "box"
        self.controls["radius"].disabled = s["family"] in ("edge", "sobel")
        self.controls["gap"].disabled = not s["board"]
        self.controls["gel_mobility"].disabled = not s["gel"]

    def _say(self):
        t = self.explorer._timing
        self.status.value = (
            f"<small>{html.escape(self.explorer.describe())}; runs {t.get('run', 0.0) * 1e3:.0f} ms, "
            f"picture {t.get('draw', 0.0) * 1e3:.0f} ms</small>"
        )

"""Pictures of runs: animations (GIF, MP4) and plots.

matplotlib is imported only inside the functions that draw, so importing the
package stays light. Figures are built on ``matplotlib.figure.Figure`` with the
Agg canvas (no pyplot state); every file is written under a temporary name in
the target folder and renamed when complete.

Functions
---------
animate
    Side-by-side panels, one per method, with its difference to the reference: a file, or
    without a path an :class:`InlineAnimation` that plays in a notebook.
plot_frame
    The same panels at one saved frame, as a figure.
plot_story, animate_story
    One clear picture for a class: the tank through the propagator, the particles and
    the heat equation side by side, their profiles in one panel (1280 x 720).
plot_profiles
    Profiles through the tank at several times for every method, and a closed form.
plot_convergence
    Error against resolution on log-log axes, with the fitted slope.
plot_kernel_temperatures
    A kernel beside its softmax propagator at several temperatures.
plot_feature_maps
    A whole batch at one frame: channels down, kernels across, RGB composites.
members, composite, CHANNELS
    The members of a batched Result; an RGB picture from three channels; the channels' names.
save_figure, save_text
    Write a figure or a text file safely (temporary name, then rename).
"""

from __future__ import annotations

from .animation import VIDEO_HINT, InlineAnimation, animate, plot_frame
from .batch import composite, plot_feature_maps
from .figures import save_figure, save_text
from .plots import plot_convergence, plot_kernel_temperatures, plot_profiles, profile
from .sources import CHANNELS, members
from .story import animate_story, plot_story

__all__ = [
    "CHANNELS",
    "VIDEO_HINT",
    "InlineAnimation",
    "animate",
    "animate_story",
    "composite",
    "members",
    "plot_convergence",
    "plot_feature_maps",
    "plot_frame",
    "plot_kernel_temperatures",
    "plot_profiles",
    "plot_story",
    "profile",
    "save_figure",
    "save_text",
]


def __dir__():
    return list(__all__)

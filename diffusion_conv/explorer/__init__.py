"""An interactive explorer: a kernel, its random walk and the heat equation side by side, live.

``dc.explore()`` in a Jupyter notebook shows controls for the kernel (its
family, ``sigma``, the softmax temperature, the radius), the boundary, a board
with a gap, the number of particles and the step, and beside them the field
after that many steps of the propagator, of the particles and of the heat
equation, with the particles' and the heat equation's differences to the
propagator. The controls need ipywidgets (the ``notebook`` extra); the
computation does not: :class:`Explorer` runs and draws without them, and
:meth:`Explorer.update` is the function every control calls.

Recomputing compiles nothing new when only values change (``sigma``,
``temperature``, ``seed``, the step or the field of the same shape): each run
goes through :func:`diffusion_conv.simulate`, whose compiled programs take the
field, the kernel's weights and the key as traced arguments of a fixed shape.
What changes a shape or a static setting (the family's kernel size, the radius,
the boundary, the board and its gap, the number of particles) compiles its
programs once; JAX keeps them, so returning to a setting seen before compiles
nothing either. The step only picks a frame: every run saves all of them.
"""

from __future__ import annotations

from .state import Explorer, View
from .widget import ipywidgets

__all__ = ["Explorer", "View", "explore"]


def explore(shape=(64, 64), steps=100, **settings) -> Explorer:
    """Explore a kernel, its random walk and the heat equation side by side in a Jupyter notebook.

    Shows controls for the kernel (family, ``sigma``, temperature, radius), the
    boundary, a board with a gap, the initial field, the number of particles,
    the random seed and the step (with a play button), and the propagator, the
    particles and the heat equation at that step with their differences to the
    propagator. Moving a value (``sigma``, the temperature, the seed, the step)
    recomputes without compiling anything new (see the notes).

    Parameters
    ----------
    shape : int or (int, int), default ``(64, 64)``
        The grid.
    steps : int, default 100
        The last step of the time slider.
    **settings
        Initial values of the controls, as in
        :meth:`Explorer.update <diffusion_conv.explorer.Explorer.update>`.

    Returns
    -------
    Explorer
        It displays itself as the widget when it is the last value of a cell;
        :meth:`Explorer.update <diffusion_conv.explorer.Explorer.update>` changes
        settings from code and returns the arrays shown (a
        :class:`~diffusion_conv.explorer.View`),
        :meth:`Explorer.figure <diffusion_conv.explorer.Explorer.figure>` draws them.

    Raises
    ------
    MissingExtraError
        Where ipywidgets (the ``notebook`` extra) is not installed, before any work.
    InputError, InputTypeError
        A setting not allowed.

    Notes
    -----
    Each setting recomputes the runs of every step with
    :func:`diffusion_conv.simulate`, whose compiled programs take the field, the
    kernel's weights and the key as traced arguments of a fixed shape: a new
    ``sigma``, temperature, seed or field of the same shape compiles nothing. A
    setting that changes a shape or a static part of the problem (the kernel's
    size, the boundary, the board, the number of particles) compiles its programs
    once, and JAX keeps them. The step only picks one of the saved frames. Without
    a live kernel (a page, a viewer) the explorer shows its picture and the values
    of its controls as HTML.

    Examples
    --------
    >>> ex = dc.explore(family="sobel", temperature=0.5)   # doctest: +SKIP
    >>> ex                                                 # the widget  # doctest: +SKIP
    >>> view = ex.update(step=50)                          # doctest: +SKIP
    """
    ipywidgets()
    explorer = Explorer(shape, steps, **settings)
    explorer.widget()
    return explorer

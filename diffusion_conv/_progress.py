"""Progress bars for long runs (tqdm on stderr; ``disable`` when they are off).

A compiled run spends its first seconds compiling: its bar says ``(compiling)``
until the first piece of work is done and then starts its clock again, so the
rate and the time left it shows are those of the computation alone.
"""

from __future__ import annotations

from tqdm.auto import tqdm


class Bar:
    """A tqdm bar whose clock starts after the compilation (``compiles=True``) or at once."""

    def __init__(self, total: int, enabled: bool, desc: str = "", unit: str = "step", compiles: bool = False):
        self.desc, self.compiling = desc, compiles
        label = f"{desc} (compiling)" if compiles and desc else desc
        self.tqdm = tqdm(total=total, desc=label, unit=unit, leave=False, dynamic_ncols=True, disable=not enabled)

    def update(self, n: int = 1) -> None:
        """Count ``n`` units of finished work (the first call of a compiled run ends its compiling phase)."""
        if self.compiling:
            self.compiling = False
            done = self.tqdm.n
            self.tqdm.set_description(self.desc, refresh=False)
            self.tqdm.reset()  # the clock starts now: the compile is not booked to the first steps
            n += done
        self.tqdm.update(n)

    def close(self) -> None:
        self.tqdm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def bar(total: int, enabled: bool, desc: str = "", unit: str = "step", compiles: bool = False) -> Bar:
    """A context manager with ``update(n)``: a tqdm bar on stderr when ``enabled``.

    ``unit`` names what is counted (``'step'``, ``'frame'``, ``'image'``); callers
    update it only with work that is finished. ``compiles``: the work starts with a
    compilation, shown as its own phase.
    """
    return Bar(total, enabled, desc, unit, compiles)

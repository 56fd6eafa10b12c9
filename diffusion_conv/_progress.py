"""Progress bars for long runs (tqdm), and a silent stand-in when they are off."""
from __future__ import annotations


class _Silent:
    def update(self, n=1):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def bar(total: int, enabled: bool, desc: str = "", unit: str = "step"):
    """A context manager with ``update(n)``: a tqdm bar on stderr when ``enabled``.

    ``unit`` names what is counted (``'step'``, ``'frame'``, ``'image'``); callers
    update it only with work that is finished.
    """
    if not enabled:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)

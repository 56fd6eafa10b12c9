"""Test configuration: float64 on, strict dtype promotion, numpy errors raise, Agg backend."""
import os
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# one persistent compilation cache for this test session, its pytest-xdist workers (one run id) and
# the processes they start (the CLI, the scripts, the device checks): a program compiled once is read
# back, not compiled again
_run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_cache = os.path.join(tempfile.gettempdir(), f"diffusion-conv-jax-cache-{_run}") if _run else \
    tempfile.mkdtemp(prefix="diffusion-conv-jax-cache-")
os.makedirs(_cache, exist_ok=True)
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")

# tolerances of the agreement between two exact methods, per dtype
RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


@pytest.fixture(autouse=True)
def _numpy_errors_raise():
    with np.errstate(all="raise", under="ignore"):
        yield


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if "matplotlib.pyplot" in __import__("sys").modules:
        import matplotlib.pyplot as plt

        plt.close("all")

"""Test configuration: float64 on, strict dtype promotion, numpy errors raise, Agg backend."""

import os
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# one persistent compilation cache for this test session, its pytest-xdist workers (one run id) and
# the processes they start (the CLI, the scripts, the device checks): a program compiled once is read
# back, not compiled again
_run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_cache = (
    os.path.join(tempfile.gettempdir(), f"diffusion-conv-jax-cache-{_run}")
    if _run
    else tempfile.mkdtemp(prefix="diffusion-conv-jax-cache-")
)
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


# The slow tier, besides the tests marked where they are defined: the checks measured at 10 s or more on two
# cores in a full run, and those of 3.5 s or more in the fast tier's own run (compiling the stochastic
# samplers, several devices or processes, fits with many iterations, every script). `pytest -m "not slow"`
# leaves them out; the README's test command runs them.
SLOW = (
    "test_devices.py::",
    "test_simulations.py::",
    "test_counts.py::test_ensemble_mean_is_the_propagator",
    "test_counts.py::test_error_falls_like",
    "test_batch.py::test_every_member_equals_its_own_run[counts]",
    "test_batch.py::test_every_member_equals_its_own_run[particles]",
    "test_batch.py::test_a_batch_of_keys_is_an_ensemble_bit_for_bit[counts]",
    "test_rollout.py::test_rollout_under_jit_is_the_same[counts]",
    "test_rollout.py::test_rollout_equals_simulate[counts]",
    "test_rollout.py::test_vmap_over_keys_is_an_ensemble[counts]",
    "test_fit_reliability.py::test_fit_reads_the_default_output",
    "test_fit_reliability.py::test_fit_propagator_on_batch_frames",
    "test_fit_reliability.py::test_fit_recovers_each_temperature",
    "test_fit_reliability.py::test_unevenly_spaced_frames",
    "test_learn.py::test_larger_radius_puts_no_weight",
    "test_learn.py::test_several_steps_between_frames",
    "test_learn.py::test_clean_asymmetric_kernel_is_recovered",
    "test_properties.py::test_mass_accounted_nonnegative",
    "test_properties.py::test_propagator_equals_image_for_axis_symmetric",
    "test_cli.py::test_fit_prints_standard_errors",
    "test_gradients.py::test_second_derivatives_are_exact_or_refused",
    "test_pictures.py::test_the_story_is_one_1280_by_720_picture",
    "test_cli.py::test_demo_smoke_writes_its_outputs",
    "test_cli.py::test_fit_recovers_the_kernel_of_a_run",
    "test_rollout.py::test_new_step_counts_compile_nothing_new[counts]",
    "test_fit_reliability.py::test_the_fit_is_relative_to_the_frames_scale",
    "test_fit_reliability.py::test_roundoff_below_zero_is_read_as_zero",
    "test_fit_reliability.py::test_fit_file_and_the_command_on_a_saved_batch",
    "test_fit_reliability.py::test_fit_reads_a_spectral_run_of_the_command",
    "test_particles.py::test_error_falls_like_n_to_the_minus_half",
    "test_particles.py::test_skip_ahead_is_unbiased",
    "test_counts.py::test_a_wrong_process_fails_the_check",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(pattern in item.nodeid for pattern in SLOW):
            item.add_marker(pytest.mark.slow)

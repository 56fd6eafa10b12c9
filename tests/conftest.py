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
# cores in a full run, and those of 2 to 3.5 s or more in the fast tier's own run (compiling the stochastic
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
    # 2 s or more in the fast tier's run after the notebook, display, input and mobility work
    "test_batch.py::test_a_batch_of_keys_is_an_ensemble_bit_for_bit[particles]",
    "test_batch.py::test_compare_runs_a_batch",
    "test_cli.py::test_compare_json_measures_the_gather_losing_mass",
    "test_cli.py::test_run_saves_a_result_and_an_animation_in_float64",
    "test_counts.py::test_absorbed_plus_remaining_is_exactly_n",
    "test_counts.py::test_exact_integer_conservation[boundary1]",
    "test_counts.py::test_exact_integer_conservation[reflect]",
    "test_counts.py::test_float32_tank_stays_float32",
    "test_counts.py::test_placement_is_multinomial",
    "test_counts.py::test_same_key_same_result_and_raw_keys",
    "test_counts.py::test_the_compiled_program_does_not_grow_with_the_tank",
    "test_display.py::test_showing_the_objects_compiles_no_program",
    "test_explore.py::test_heat_and_the_first_step_against_independent_references",
    "test_explore.py::test_particles_scatter_by_the_predicted_noise",
    "test_explore.py::test_the_widget_drives_update",
    "test_explore.py::test_value_changes_compile_nothing_new",
    "test_explore_gel.py::test_the_gel_disc_is_simulate_with_a_mobility_map",
    "test_fit_mobility.py::test_the_true_map_explains_noise_free_frames",
    "test_fit_mobility.py::test_walls_stay_solid",
    "test_fit_reliability.py::test_a_fit_that_starts_at_the_answer_says_it_converged",
    "test_fourier.py::test_transforms_match_scipy_and_invert",
    "test_gradients.py::test_directional_derivatives_match_central_differences_of_the_propagator[zero-propagator-('periodic',",
    "test_gradients.py::test_directional_derivatives_match_central_differences_of_the_propagator[zero-propagator-periodic]",
    "test_gradients.py::test_directional_derivatives_match_central_differences_of_the_propagator[zero-propagator-reflect]",
    "test_gradients.py::test_directional_derivatives_match_central_differences_of_the_propagator[zero-spectral-('periodic',",
    "test_gradients.py::test_directional_derivatives_match_central_differences_of_the_propagator[zero-spectral-('reflect',",
    "test_gradients.py::test_directional_derivatives_match_central_differences_of_the_propagator[zero-spectral-absorb]",
    "test_gradients.py::test_directional_derivatives_match_central_differences_of_the_propagator[zero-spectral-reflect]",
    "test_gradients.py::test_spectral_gradient_in_float32",
    "test_gradients.py::test_spectral_gradient_of_a_bank_matches_each_member",
    "test_gradients.py::test_spectral_gradients_under_vmap_match_each_member[('periodic',",
    "test_gradients.py::test_spectral_gradients_under_vmap_match_each_member[reflect]",
    "test_gradients.py::test_the_reported_two_compartment_gradient[propagator]",
    "test_interrupt.py::test_the_watchdog_ends_a_process_stuck_in_a_computation[15]",
    "test_interrupt.py::test_the_watchdog_ends_a_process_stuck_in_a_computation[2]",
    "test_layers.py::test_a_method_defined_outside_the_package_runs_everywhere_a_method_runs",
    "test_learn.py::test_particle_data_recovers_the_moments_within_their_errors",
    "test_learn.py::test_the_fit_sees_the_direction_of_the_jump",
    "test_mobility.py::test_the_rule_converges_to_div_mobility_grad_c_at_second_order_in_dx",
    "test_mobility_methods.py::test_a_batch_of_two_maps_equals_the_two_runs",
    "test_mobility_methods.py::test_gradient_into_the_map_against_central_differences",
    "test_mobility_stochastic.py::test_a_batch_of_maps_draws_what_each_map_draws_alone[particles]",
    "test_mobility_stochastic.py::test_a_map_of_zero_and_one_is_the_walls_bit_for_bit[boundary1-counts]",
    "test_mobility_stochastic.py::test_a_map_of_zero_and_one_is_the_walls_bit_for_bit[boundary1-particles]",
    "test_mobility_stochastic.py::test_a_map_of_zero_and_one_is_the_walls_bit_for_bit[reflect-counts]",
    "test_mobility_stochastic.py::test_integers_are_conserved_exactly[gel-periodic-asymmetric-counts]",
    "test_mobility_stochastic.py::test_mean_equals_the_expectation_of_the_rule[board-absorb-reflect-counts]",
    "test_mobility_stochastic.py::test_multinomial_with_one_set_of_weights_per_entry",
    "test_mobility_stochastic.py::test_simulate_samples_the_map[particles]",
    "test_particles.py::test_categories_of_a_slab_with_its_offset_are_the_slab_of_the_whole_and_follow_the_weights",
    "test_particles.py::test_ensemble_mean_is_the_propagator[walls-3d-periodic]",
    "test_propagator_method.py::test_gradient_through_the_wall_patch_matches_finite_differences",
    "test_propagator_method.py::test_gradients_match_finite_differences",
    "test_reliability.py::test_softmax_of_huge_logits_is_well_defined[logits0]",
    "test_rollout.py::test_equal_static_data_share_one_compiled_program[spectral-gaussian-False]",
    "test_sampling.py::test_binomial_of_a_slab_with_its_offset_is_the_slab_of_the_whole[float32]",
    "test_sampling.py::test_binomial_of_a_slab_with_its_offset_is_the_slab_of_the_whole[float64]",
    "test_sampling.py::test_the_compiled_sampler_is_one_small_program_for_any_number_of_draws[float64]",
    "test_sampling_hard.py::test_draws_over_200_keys_on_hard_inputs_are_counts_in_range[float64]",
    "test_split.py::test_a_split_grid_of_one_device_gives_the_plain_run_s_numbers[particles-kw1]",
    "test_traced.py::test_a_traced_field_the_stochastic_methods_cannot_place_poisons_the_particles[field0-must",
    "test_traced.py::test_a_traced_field_the_stochastic_methods_cannot_place_poisons_the_particles[field2-holds",
    "test_traced.py::test_a_valid_traced_problem_passes_checkify_without_an_error",
    "test_traced.py::test_particle_thresholds_of_traced_weights_are_the_host_ones[float32]",
    "test_traced.py::test_particle_thresholds_of_traced_weights_are_the_host_ones[float64]",
    "test_traced.py::test_traced_kernel_and_field_under_jit_give_the_eager_numbers[particles-float32]",
    "test_traced.py::test_traced_kernel_and_field_under_jit_give_the_eager_numbers[particles-float64]",
    "test_traced.py::test_vmap_over_traced_fields_and_kernels_gives_each_members_eager_numbers[particles-float32]",
    "test_traced.py::test_vmap_over_traced_fields_and_kernels_gives_each_members_eager_numbers[particles-float64]",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(pattern in item.nodeid for pattern in SLOW):
            item.add_marker(pytest.mark.slow)

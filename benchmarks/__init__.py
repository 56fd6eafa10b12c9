"""Side-by-side benchmarks of diffusion_conv against the tools people use instead.

Each module has ``main(argv=None) -> dict`` and runs as ``python -m benchmarks.<name> [--quick]``;
``python -m benchmarks`` runs them all.
"""

# every benchmark, in the order ``python -m benchmarks`` and ``diffusion-conv bench`` run them
MODULES = (
    "bench_propagator",
    "bench_walls",
    "bench_mobility",
    "bench_spectral",
    "bench_stochastic",
    "bench_batch",
    "bench_devices",
    "bench_render",
    "bench_learn",
    "bench_suite",
    "bench_scaling",
    "bench_limits",
    "bench_latency",
)

"""Side-by-side benchmarks of diffusion_conv against the tools people use instead.

Each module has ``main(argv=None) -> dict`` and runs as ``python -m benchmarks.<name> [--quick]``;
``python -m benchmarks`` runs them all.
"""

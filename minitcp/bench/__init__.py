"""Benchmarks: `python -m minitcp.bench.hotpath` times the C hot paths against their pure-Python twins."""

"""Benchmarks of training and inference across devices, runtimes and sizes; stands on linreg and export."""

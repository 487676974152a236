"""Benchmarks that print ours vs a baseline measured in the same run."""

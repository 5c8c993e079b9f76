"""Benchmarks: accuracy (``python -m benchmarks.accuracy``) and load; a shared labeled corpus."""

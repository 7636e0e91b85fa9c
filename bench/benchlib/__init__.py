"""Helpers of the ddbx benchmark harness (bench/run.py, bench/memory.py)."""

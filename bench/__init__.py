"""Benchmarks: figures printed as ratios against a baseline measured in the same run.

The machines are shared and noisy, so absolute times mean little; see bench/README.md.
"""

"""Helpers for tests and benchmarks: real servers started on demand, a settable clock."""

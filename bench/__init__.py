"""Benchmarks: `python -m bench` (see bench/__main__.py); figures are measured, never asserted."""

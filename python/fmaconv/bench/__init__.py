"""Benchmark suite for fmaconv: ``python -m fmaconv.bench --help``.

Modules:
  cases     the fixed suite (shared with the pytest-benchmark tests in benchmarks/)
  baseline  the pure-NumPy baseline implementations
  peers     fmaconv / torch / onnxruntime / numpy / copy runners behind one interface
  timing    interleaved median timing
  run       per-case orchestration (verification, timing, derived metrics)
  report    text table, JSON and plot output
  machine   machine and version information

Nothing here requires torch, onnxruntime or matplotlib; missing peers show "-".
"""
from .cases import SUITE, Case, select

__all__ = ["SUITE", "Case", "select"]

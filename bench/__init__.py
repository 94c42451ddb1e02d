"""Benchmarks of the hub: throughput, latency, memory and quality-suite time, against limits.

``run_bench`` runs every stage once on a temporary embedded stack and returns a
:class:`BenchReport`; ``render`` turns it into text tables. See ``bench/README.md``.

The names are imported on first use: the bench's child processes (``python -m
bench.faust_counter``, ``python -m bench.raw_producer``) import this package too, and must not
pay for the whole run's imports before they start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.report import BenchReport, render
    from bench.run import run_bench
    from bench.stack import BenchError

_EXPORTS = {
    "BenchError": "bench.stack",
    "BenchReport": "bench.report",
    "render": "bench.report",
    "run_bench": "bench.run",
}

__all__ = ["BenchError", "BenchReport", "render", "run_bench"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bench' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)

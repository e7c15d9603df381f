"""Timing helpers and the result record every benchmark returns."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One row of the report: a measured figure, its floor, and how many floors it costs.

    ``ratio`` is always "how many times the floor's cost", so bigger is worse for every row,
    whether the unit is milliseconds (page / floor) or rows per second (floor / measured).
    """

    name: str
    value: float
    floor: float
    unit: str
    ratio: float
    detail: str = ""


def median_ms(fn: Callable[[], object], *, repeat: int, warmup: int) -> float:
    """Median wall time of ``fn`` in milliseconds after ``warmup`` untimed calls.

    The median, not the mean, so one garbage collection or reconnect does not move the figure.
    """
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)

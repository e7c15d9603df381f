"""Timing helpers and the result record every benchmark returns."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
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


def interleaved_medians_ms(
    calls: Mapping[str, Callable[[], object]], *, repeat: int, warmup: int
) -> dict[str, float]:
    """Median wall time in milliseconds of each call, timed in round-robin rounds.

    Round-robin, not one call after another, so a burst of load from elsewhere on the machine
    slows the floor and the pages alike and the ratios stay put. The median, not the mean, so
    one garbage collection or reconnect does not move the figure.
    """
    for _ in range(warmup):
        for call in calls.values():
            call()
    samples: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(repeat):
        for key, call in calls.items():
            started = time.perf_counter()
            call()
            samples[key].append((time.perf_counter() - started) * 1000)
    return {key: statistics.median(values) for key, values in samples.items()}

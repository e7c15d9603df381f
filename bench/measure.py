"""Timing helpers and the result record every benchmark returns."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One row of the report: a measured figure, its floor, and how many floors it costs.

    ``ratio`` is always "how many times the floor's cost", so bigger is worse for every row,
    whether the unit is milliseconds (page / floor) or a rate (floor / measured). Latency rows
    also carry the 95th percentile of the same samples (``p95``) and of the floor's samples
    (``floor_p95``); their ratio is ``p95_ratio``.
    """

    name: str
    value: float
    floor: float
    unit: str
    ratio: float
    detail: str = ""
    p95: float | None = None
    floor_p95: float | None = None

    @property
    def p95_ratio(self) -> float | None:
        if self.p95 is None or not self.floor_p95:
            return None
        return self.p95 / self.floor_p95


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    """95th percentile (linear interpolation between the closest ranks, like numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = 0.95 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_result(
    name: str, samples: Sequence[float], floor_samples: Sequence[float], detail: str = ""
) -> Result:
    """A latency row: p50 and p95 of ``samples`` (ms) against the same percentiles of the floor."""
    value, floor = p50(samples), p50(floor_samples)
    return Result(name, value, floor, "ms", value / floor, detail, p95(samples), p95(floor_samples))


def interleaved_samples_ms(
    calls: Mapping[str, Callable[[], object]],
    *,
    repeat: int,
    warmup: int,
    sparse: Collection[str] = (),
    sparse_repeat: int = 3,
    prepare: Mapping[str, Callable[[], object]] | None = None,
) -> dict[str, list[float]]:
    """Wall time in milliseconds of each call, ``repeat`` times, timed in round-robin rounds.

    Round-robin, not one call after another, so a burst of load from elsewhere on the machine
    slows the floor and the pages alike and the ratios stay put. Callers report the median
    (p50), which one garbage collection or reconnect does not move, and the p95, which shows
    the slow tail. Calls named in ``sparse`` (pages that take seconds, where ``repeat`` rounds
    would take the bench hours) get no warm-up and are timed in the first ``sparse_repeat``
    rounds only. ``prepare`` maps a call to a step run, untimed, before each of its timed runs.
    """
    prepare = prepare or {}
    for _ in range(warmup):
        for key, call in calls.items():
            if key not in sparse:
                call()
    samples: dict[str, list[float]] = {key: [] for key in calls}
    for round_ in range(repeat):
        for key, call in calls.items():
            if key in sparse and round_ >= sparse_repeat:
                continue
            if key in prepare:
                prepare[key]()
            started = time.perf_counter()
            call()
            samples[key].append((time.perf_counter() - started) * 1000)
    return samples


def interleaved_medians_ms(
    calls: Mapping[str, Callable[[], object]], *, repeat: int, warmup: int
) -> dict[str, float]:
    """Median wall time in milliseconds of each call (see ``interleaved_samples_ms``)."""
    samples = interleaved_samples_ms(calls, repeat=repeat, warmup=warmup)
    return {key: p50(values) for key, values in samples.items()}

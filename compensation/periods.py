"""Which measured periods of a component a commission run pays.

A run covers one fiscal month or quarter. A component measured by month pays every month in
it; by quarter, the quarters that end in it; by year, the year if it ends in it. A yearly
component with quarterly advances pays at every quarter end in the run, on the year to date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from compensation.documents import Component
from salesops.fiscal import FiscalCalendar, FiscalPeriod, PeriodKind


@dataclass(frozen=True)
class Checkpoint:
    """A measured period paid up to ``cutoff`` (its end, or a quarter end for advances)."""

    measured: FiscalPeriod
    cutoff: dt.date
    final: bool

    @property
    def label(self) -> str:
        if self.final:
            return self.measured.label
        return f"{self.measured.label} to {self.cutoff:%d %b}"


def _periods_ending_in(
    calendar: FiscalCalendar, start: dt.date, end: dt.date, kind: PeriodKind
) -> list[FiscalPeriod]:
    found, day = [], start
    while day <= end:
        period = calendar.period(day, kind)
        if start <= period.end <= end:
            found.append(period)
        day = period.end + dt.timedelta(days=1)
    return found


def checkpoints(
    calendar: FiscalCalendar, component: Component, start: dt.date, end: dt.date
) -> list[Checkpoint]:
    """The checkpoints of ``component`` a run over ``[start, end]`` pays."""
    if component.advances:
        return [
            Checkpoint(calendar.period(q.end, PeriodKind.YEAR), q.end, q.index == 4)
            for q in _periods_ending_in(calendar, start, end, PeriodKind.QUARTER)
        ]
    kind = PeriodKind(component.period)
    return [Checkpoint(p, p.end, True) for p in _periods_ending_in(calendar, start, end, kind)]

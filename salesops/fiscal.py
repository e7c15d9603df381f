"""The fiscal calendar: which fiscal month, quarter and year a date falls in.

Quotas, commission periods, forecasts and KPIs all ask this module, so a company whose fiscal
year starts in February gets February-to-January years everywhere. Periods are whole calendar
months (no 4-4-5 weeks); a period's ``end`` is its last day, inclusive.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from dateutil.relativedelta import relativedelta
from django.db import models


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


MONTHS_IN = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}


class YearNaming(models.TextChoices):
    """Which calendar year names a fiscal year that straddles two."""

    END = "end", "Year it ends in (Feb 2026 – Jan 2027 is FY2027)"
    START = "start", "Year it starts in (Feb 2026 – Jan 2027 is FY2026)"


@dataclass(frozen=True, order=True)
class FiscalPeriod:
    """One fiscal month, quarter or year: ``index`` counts from 1 within the fiscal year."""

    start: dt.date
    end: dt.date
    kind: PeriodKind
    fiscal_year: int
    index: int

    @property
    def label(self) -> str:
        if self.kind is PeriodKind.YEAR:
            return f"FY{self.fiscal_year}"
        prefix = "Q" if self.kind is PeriodKind.QUARTER else "M"
        return f"FY{self.fiscal_year} {prefix}{self.index}"

    @property
    def key(self) -> str:
        """A stable identifier for URLs and stored snapshots, e.g. ``2027-Q1``."""
        if self.kind is PeriodKind.YEAR:
            return str(self.fiscal_year)
        return (
            f"{self.fiscal_year}-{'Q' if self.kind is PeriodKind.QUARTER else 'M'}{self.index:02d}"
        )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class FiscalCalendar:
    """Fiscal years of twelve calendar months starting in ``start_month``."""

    start_month: int = 1
    naming: YearNaming = YearNaming.END

    def __post_init__(self) -> None:
        if not 1 <= self.start_month <= 12:
            raise ValueError(f"Fiscal year start month must be 1 to 12, not {self.start_month}.")

    def year_start(self, fiscal_year: int) -> dt.date:
        """First day of the named fiscal year."""
        calendar_year = fiscal_year
        if self.naming == YearNaming.END and self.start_month != 1:
            calendar_year -= 1
        return dt.date(calendar_year, self.start_month, 1)

    def fiscal_year_of(self, day: dt.date) -> int:
        starts_year = day.year if day.month >= self.start_month else day.year - 1
        if self.naming == YearNaming.END and self.start_month != 1:
            return starts_year + 1
        return starts_year

    def period(self, day: dt.date, kind: PeriodKind | str) -> FiscalPeriod:
        """The fiscal period of ``kind`` that contains ``day``."""
        kind = PeriodKind(kind)
        fiscal_year = self.fiscal_year_of(day)
        months_in = (
            (day.year - self.year_start(fiscal_year).year) * 12 + day.month - self.start_month
        )
        index = months_in // MONTHS_IN[kind] + 1
        return self._period(fiscal_year, kind, index)

    def periods(self, fiscal_year: int, kind: PeriodKind | str) -> list[FiscalPeriod]:
        """Every period of ``kind`` in the fiscal year, in order."""
        kind = PeriodKind(kind)
        return [self._period(fiscal_year, kind, i + 1) for i in range(12 // MONTHS_IN[kind])]

    def shift(self, period: FiscalPeriod, count: int) -> FiscalPeriod:
        """The period ``count`` steps after (or before, if negative) ``period``."""
        return self.period(
            period.start + relativedelta(months=count * MONTHS_IN[period.kind]), period.kind
        )

    def parse(self, key: str) -> FiscalPeriod:
        """Inverse of ``FiscalPeriod.key`` (``2027``, ``2027-Q1``, ``2027-M03``)."""
        try:
            if "-" not in key:
                return self._period(int(key), PeriodKind.YEAR, 1)
            year, part = key.split("-", 1)
            kind = {"Q": PeriodKind.QUARTER, "M": PeriodKind.MONTH}[part[0].upper()]
            index = int(part[1:])
            if not 1 <= index <= 12 // MONTHS_IN[kind]:
                raise ValueError
            return self._period(int(year), kind, index)
        except (ValueError, KeyError, IndexError):
            raise ValueError(
                f"'{key}' is not a fiscal period; use 2027, 2027-Q1 or 2027-M03."
            ) from None

    def _period(self, fiscal_year: int, kind: PeriodKind, index: int) -> FiscalPeriod:
        start = self.year_start(fiscal_year) + relativedelta(months=(index - 1) * MONTHS_IN[kind])
        end = start + relativedelta(months=MONTHS_IN[kind]) - dt.timedelta(days=1)
        return FiscalPeriod(start=start, end=end, kind=kind, fiscal_year=fiscal_year, index=index)

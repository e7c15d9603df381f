"""Commission expense amortisation (ASC 340-40 / IFRS 15): which commissions are an expense now
and which are a contract cost asset spread over the contract.

The rules, as finance applies them:

Incurred
    A payout line is incurred when its run is settled (approved or paid), in the fiscal month in
    which the run's period ends. Lines of draft or calculated runs are not incurred yet.

Which deals a line is for
    A line's amount is allocated to its deals pro rata by what each deal gave the line's measure
    (``LineCredit.measure``), with ``salesops.money.allocate``, so the parts add up to the line
    exactly. A line with no deal behind it (draws, recoveries, manual adjustments, a correction
    whose deals no longer count) or whose deal measures are negative or add up to zero is
    expensed when incurred.

Capitalised or expensed
    The part for a deal whose contract term is longer than 12 months is capitalised; the part
    for a deal of 12 months or less is expensed when incurred (the practical expedient). The term
    and close date are the deal's as the run credited it (its Credit row), so later edits to the
    deal never restate a settled period.

Amortisation
    A capitalised part is amortised straight-line over the contract term, month by month from
    the deal's close month: the monthly amounts are ``allocate(part, [1] × term)``, so they add
    up to the part exactly (the earliest months take the leftover cents). Months that fall before
    the month the part is incurred are caught up in that month, so the asset is never amortised
    before it exists.

So every period reconciles: incurred = expensed + capitalised, and the capitalised balance
moves by capitalised − amortisation.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db import connection

from compensation.models import SETTLED
from compensation.run_selectors import can_view_runs
from salesops.errors import DomainError, NotAllowed
from salesops.fiscal import FiscalCalendar, FiscalPeriod, PeriodKind
from salesops.money import allocate
from salesops.org.models import User
from salesops.org.selectors import fiscal_calendar, org_settings

ZERO = Decimal(0)
# Contracts longer than this many months are capitalised; shorter ones are expensed.
EXPENSE_TERM_MONTHS = 12
HEADERS = [
    "Period",
    "From",
    "To",
    "Opening balance",
    "Incurred",
    "Expensed immediately",
    "Capitalised",
    "Amortisation expense",
    "Closing balance",
    "Total commission expense",
    "Currency",
]


@dataclass
class Movement:
    """What happened in one month (or period): all amounts in the corporate currency."""

    incurred: Decimal = ZERO
    expensed: Decimal = ZERO
    capitalised: Decimal = ZERO
    amortisation: Decimal = ZERO

    def add(self, other: Movement) -> None:
        self.incurred += other.incurred
        self.expensed += other.expensed
        self.capitalised += other.capitalised
        self.amortisation += other.amortisation


@dataclass(frozen=True)
class AmortisationRow:
    """One fiscal period of the schedule."""

    period: FiscalPeriod
    opening: Decimal
    incurred: Decimal
    expensed: Decimal
    capitalised: Decimal
    amortisation: Decimal
    closing: Decimal

    @property
    def expense(self) -> Decimal:
        """Commission expense in the P&L: what was expensed at once plus amortisation."""
        return self.expensed + self.amortisation

    @property
    def reconciles(self) -> bool:
        return (
            self.incurred == self.expensed + self.capitalised
            and self.closing == self.opening + self.capitalised - self.amortisation
        )


@dataclass(frozen=True)
class AmortisationSchedule:
    """The schedule from ``start`` to ``end`` (fiscal periods of one kind)."""

    start: FiscalPeriod
    end: FiscalPeriod
    currency: str
    rows: list[AmortisationRow] = field(default_factory=list)

    @property
    def opening(self) -> Decimal:
        return self.rows[0].opening if self.rows else ZERO

    @property
    def closing(self) -> Decimal:
        return self.rows[-1].closing if self.rows else ZERO

    def total(self, name: str) -> Decimal:
        return sum((getattr(row, name) for row in self.rows), ZERO)

    @property
    def totals(self) -> dict[str, Decimal]:
        names = ("incurred", "expensed", "capitalised", "amortisation", "expense")
        return {name: self.total(name) for name in names}

    @property
    def reconciles(self) -> bool:
        return all(row.reconciles for row in self.rows)


# --- Reading the keys ---------------------------------------------------------------------------


def parse_range(
    start_key: str, end_key: str, calendar: FiscalCalendar | None = None
) -> tuple[FiscalPeriod, FiscalPeriod]:
    """The fiscal months or quarters ``2027-Q1`` .. ``2027-Q4``, both of the same kind."""
    calendar = calendar or fiscal_calendar()
    periods = []
    for name, key in (("from", start_key), ("to", end_key)):
        try:
            period = calendar.parse((key or "").strip())
        except ValueError as error:
            raise DomainError(str(error), field=name) from None
        if period.kind == PeriodKind.YEAR:
            raise DomainError(
                f"Pick a fiscal month or quarter (e.g. {key}-Q1), not a whole year.", field=name
            )
        periods.append(period)
    start, end = periods
    if start.kind != end.kind:
        raise DomainError("From and to must both be months or both be quarters.", field="to")
    if end.start < start.start:
        raise DomainError(f"{end.label} is before {start.label}.", field="to")
    return start, end


# --- The schedule -------------------------------------------------------------------------------


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


# One row per (settled line, deal): the line's amount and month incurred, and what the deal gave
# its measure, with the deal's term and close date as credited. Lines without credits come with
# a null deal. Only runs that end by ``end`` can touch the schedule up to ``end``.
LINES_SQL = """
SELECT l.id, r.period_end, l.amount, c.deal_id, max(c.term_months), min(c.close_date),
       sum(lc.measure)
FROM compensation_payoutline l
JOIN compensation_commissionrun r ON r.id = l.run_id
LEFT JOIN compensation_linecredit lc ON lc.line_id = l.id
LEFT JOIN compensation_credit c ON c.id = lc.credit_id
WHERE r.status = ANY(%(settled)s) AND r.period_end <= %(end)s AND l.amount <> 0
GROUP BY l.id, r.period_end, l.amount, c.deal_id
ORDER BY l.id, c.deal_id
"""


def monthly_movements(end: dt.date, currency: str) -> dict[dt.date, Movement]:
    """Incurred, expensed, capitalised and amortisation by month (first day), up to ``end``."""
    with connection.cursor() as cursor:
        cursor.execute(LINES_SQL, {"settled": [str(s) for s in SETTLED], "end": end})
        rows = cursor.fetchall()
    lines: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        lines[row[0]].append(row)
    months: dict[dt.date, Movement] = defaultdict(Movement)
    last_month = _month(end)
    for parts in lines.values():
        _, period_end, amount, *_rest = parts[0]
        incurred_in = _month(period_end)
        months[incurred_in].incurred += amount
        deals = [(deal, term, close, measure) for _, _, _, deal, term, close, measure in parts]
        weights = [measure for deal, _, _, measure in deals if deal is not None]
        if len(weights) != len(deals) or any(w < 0 for w in weights) or sum(weights) <= 0:
            months[incurred_in].expensed += amount
            continue
        for (_deal, term, close, _measure), part in zip(
            deals, allocate(amount, weights, currency), strict=True
        ):
            if term <= EXPENSE_TERM_MONTHS:
                months[incurred_in].expensed += part
                continue
            months[incurred_in].capitalised += part
            first = _month(close)
            for index, monthly in enumerate(allocate(part, [Decimal(1)] * term, currency)):
                month = max(first + relativedelta(months=index), incurred_in)
                if month > last_month:
                    break
                months[month].amortisation += monthly
    return months


def amortisation_schedule(*, start: FiscalPeriod, end: FiscalPeriod) -> AmortisationSchedule:
    """The schedule by fiscal period from ``start`` to ``end`` (months or quarters)."""
    calendar = fiscal_calendar()
    currency = org_settings().corporate_currency
    months = monthly_movements(end.end, currency)
    opening = sum(
        (m.capitalised - m.amortisation for day, m in months.items() if day < start.start), ZERO
    )
    rows = []
    period = start
    while period.start <= end.start:
        moved = Movement()
        for day, movement in months.items():
            if period.start <= day <= period.end:
                moved.add(movement)
        closing = opening + moved.capitalised - moved.amortisation
        rows.append(
            AmortisationRow(
                period=period,
                opening=opening,
                incurred=moved.incurred,
                expensed=moved.expensed,
                capitalised=moved.capitalised,
                amortisation=moved.amortisation,
                closing=closing,
            )
        )
        opening = closing
        period = calendar.shift(period, 1)
    return AmortisationSchedule(start=start, end=end, currency=currency, rows=rows)


def amortisation_for(viewer: User, *, start_key: str, end_key: str) -> AmortisationSchedule:
    """The schedule for the page and the API: finance, sales ops and admins only."""
    if not can_view_runs(viewer):
        raise NotAllowed("Only finance, sales ops and admins can read commission amortisation.")
    start, end = parse_range(start_key, end_key)
    return amortisation_schedule(start=start, end=end)


def export_rows(schedule: AmortisationSchedule) -> list[list]:
    """The schedule as spreadsheet rows (``HEADERS``), with a total row."""
    rows: list[list] = [
        [
            row.period.label,
            row.period.start,
            row.period.end,
            row.opening,
            row.incurred,
            row.expensed,
            row.capitalised,
            row.amortisation,
            row.closing,
            row.expense,
            schedule.currency,
        ]
        for row in schedule.rows
    ]
    totals = schedule.totals
    rows.append(
        [
            "Total",
            schedule.start.start,
            schedule.end.end,
            schedule.opening,
            totals["incurred"],
            totals["expensed"],
            totals["capitalised"],
            totals["amortisation"],
            schedule.closing,
            totals["expense"],
            schedule.currency,
        ]
    )
    return rows

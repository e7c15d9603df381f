"""The arithmetic of quota planning: splits, seasonality, ramp, roll-up and capacity.

Pure Python on ``Decimal``: no models, no database, so services, imports and reports can all call
it and tests can check it by hand.

Rounding and remainders (the rule of ``salesops.money``, used here and nowhere else):
    Amounts are computed at full Decimal precision and rounded once, at the end, to the currency's
    minor unit with ROUND_HALF_UP (``money.round_money``). Every split of an amount into parts goes
    through ``money.allocate`` (largest remainder), so the parts always add up to the whole to the
    cent: each part is first rounded toward zero, then the leftover cents go to the largest
    remainders, ties to the earliest part in the order given; callers give parts in a stable
    order, e.g. by name. Each part is therefore within one minor unit of its exact share.

Months are calendar months (the fiscal calendar uses whole calendar months); a "month" argument
may be any day in it. Seasonal weights are indexed by fiscal month 1-12, so quarter 1 is fiscal
months 1-3 whatever month the fiscal year starts in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from salesops.fiscal import MONTHS_IN, FiscalCalendar, PeriodKind
from salesops.money import allocate, round_money

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MONTHS_PER_YEAR = MONTHS_IN[PeriodKind.YEAR]
MONTHS_PER_QUARTER = MONTHS_IN[PeriodKind.QUARTER]
HEADS_DISPLAY = Decimal(
    "0.0001"
)  # heads are shown to 4 places; the arithmetic keeps full precision
RATIO_PLACES = Decimal("0.0001")  # coverage ratios are reported to 4 places (0.9500 = 95 %)

# Calendar months do not depend on where the fiscal year starts; any calendar will do.
_CALENDAR = FiscalCalendar()


def _month_start(day: dt.date) -> dt.date:
    return _CALENDAR.period(day, PeriodKind.MONTH).start


def _add_months(day: dt.date, count: int) -> dt.date:
    """First day of the month ``count`` months after the month containing ``day``."""
    return _CALENDAR.shift(_CALENDAR.period(day, PeriodKind.MONTH), count).start


# --- Top-down allocation -------------------------------------------------------------------------


def equal_weights(keys: Iterable[str]) -> dict[str, Decimal]:
    """Weight 1 for every key: the "equal" basis for ``allocate_top_down``."""
    return {key: Decimal(1) for key in keys}


def allocate_top_down(
    amount: Decimal, weights: Mapping[str, Decimal], currency: str
) -> dict[str, Decimal]:
    """Split a parent's target among its children in proportion to ``weights``.

    The caller chooses the basis (territory potential, last year's bookings, equal). If every
    weight is zero (e.g. new territories with no history), the amount is split equally rather than
    refused, so a plan can always be drafted. The result keeps the keys in the input order, which
    is also the tie-break order for leftover cents. ``amount`` is rounded to the currency first.
    """
    if not weights:
        raise ValueError("There is nothing to split the target among: give at least one child.")
    for key, weight in weights.items():
        if weight < 0:
            raise ValueError(f"Weight for '{key}' is {weight}; weights must be zero or more.")
    return dict(zip(weights, _split(amount, list(weights.values()), currency), strict=True))


def _split(amount: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """``money.allocate``, with an equal split when every weight is zero."""
    if all(weight == 0 for weight in weights):
        weights = [Decimal(1)] * len(weights)
    return allocate(amount, weights, currency)


# --- Seasonality ---------------------------------------------------------------------------------


def seasonal_split(
    annual: Decimal, month_weights: Sequence[Decimal], currency: str
) -> tuple[list[Decimal], list[Decimal]]:
    """Split an annual target into 4 quarters and 12 months by seasonal monthly weights.

    ``month_weights`` are for fiscal months 1-12 (percentages or any relative numbers). The year
    is split into quarters by each quarter's share of the weights, then each quarter into its three
    months, so months add up exactly to their quarter and quarters exactly to the year (a direct
    year-to-month split could not promise the first). A quarter whose weights are all zero gets 0.
    Returns ``(quarters, months)``.
    """
    if len(month_weights) != MONTHS_PER_YEAR:
        raise ValueError(
            f"Seasonality needs 12 monthly weights (fiscal months 1-12); got {len(month_weights)}."
        )
    for month, weight in enumerate(month_weights, start=1):
        if weight < 0:
            raise ValueError(
                f"Weight for fiscal month {month} is {weight}; weights must be zero or more."
            )
    if sum(month_weights, ZERO) <= 0:
        raise ValueError("Monthly weights add up to zero; give at least one month a weight.")
    by_quarter = [
        list(month_weights[start : start + MONTHS_PER_QUARTER])
        for start in range(0, MONTHS_PER_YEAR, MONTHS_PER_QUARTER)
    ]
    quarters = allocate(annual, [sum(weights, ZERO) for weights in by_quarter], currency)
    months = [
        part
        for quarter, weights in zip(quarters, by_quarter, strict=True)
        for part in _split(quarter, weights, currency)
    ]
    return quarters, months


# --- Ramp ----------------------------------------------------------------------------------------


def tenure_month(hire_date: dt.date, month_start: dt.date) -> int:
    """Which month of tenure ``month_start``'s month is: 1 for the hire month, 2 for the next.

    Zero or less for months before the hire month (0 the month before, -1 the one before that).
    A rep hired on the 28th still counts that month as month 1; the ramp profile absorbs it.
    """
    hired, month = _month_start(hire_date), _month_start(month_start)
    return (month.year - hired.year) * MONTHS_PER_YEAR + month.month - hired.month + 1


def _check_profile(profile: Sequence[Decimal]) -> None:
    for month, percent in enumerate(profile, start=1):
        if not 0 <= percent <= HUNDRED:
            raise ValueError(
                f"Ramp profile values are percentages from 0 to 100; tenure month {month} is "
                f"{percent}."
            )


def ramp_factor(hire_date: dt.date, month_start: dt.date, profile: Sequence[Decimal]) -> Decimal:
    """The fraction (0 to 1) of full quota or productivity a rep carries in a month.

    ``profile[i]`` is the percent of full quota in tenure month ``i + 1``; after the profile ends
    the rep is fully ramped (1), and before the hire month the factor is 0. An empty profile means
    no ramp. The factor is exact (percent / 100); rounding happens on the money it multiplies.
    """
    _check_profile(profile)
    tenure = tenure_month(hire_date, month_start)
    if tenure <= 0:
        return ZERO
    if tenure > len(profile):
        return Decimal(1)
    return Decimal(profile[tenure - 1]) / HUNDRED


def ramped_quota(full: Decimal, factor: Decimal, currency: str) -> Decimal:
    """A month's full quota times the ramp factor, rounded once to the currency."""
    if not 0 <= factor <= 1:
        raise ValueError(f"A ramp factor is a fraction from 0 to 1; got {factor}.")
    return round_money(full * factor, currency)


# --- Roll-up -------------------------------------------------------------------------------------


def roll_up(parent_of: Mapping[str, str | None], own: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Bottom-up totals: each node's own amount plus the totals of everything below it.

    ``parent_of`` maps a node to its parent (``None`` or absent for a root); a node that appears
    only as a parent or only in ``own`` is a root. Works for a tree of any depth and for a forest.
    Sums are exact (amounts are already rounded money), so nothing is rounded here. The result
    lists nodes in the order they first appear in ``parent_of`` (keys, then parents), then ``own``.
    """
    nodes: dict[str, None] = {}
    for node, parent in parent_of.items():
        nodes[node] = None
        if parent is not None:
            nodes[parent] = None
    for node in own:
        nodes[node] = None
    totals = dict.fromkeys(nodes, ZERO)
    for node in nodes:
        amount = own.get(node, ZERO)
        chain = [node]
        current: str | None = node
        while current is not None:
            totals[current] += amount
            current = parent_of.get(current)
            if current in chain:
                cycle = chain[chain.index(current) :] + [current]
                raise ValueError(f"The hierarchy has a cycle: {' → '.join(cycle)}.")
            if current is not None:
                chain.append(current)
    return totals


def gap(top_down: Mapping[str, Decimal], bottom_up: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Top-down target minus bottom-up figure per key (a missing key counts as 0).

    Positive means the bottom-up plan falls short of the target; negative means it exceeds it.
    """
    keys = dict.fromkeys([*top_down, *bottom_up])
    return {key: top_down.get(key, ZERO) - bottom_up.get(key, ZERO) for key in keys}


# --- Capacity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityInputs:
    """What the capacity model needs; validated on creation so a bad plan fails early."""

    months: Sequence[dt.date]  # first day of each month to model, in order, consecutive
    hire_dates: Sequence[dt.date]  # current quota-carrying reps (headcount)
    ramp_profile: Sequence[Decimal]  # percent of full productivity by tenure month
    productivity: Decimal  # bookings per fully ramped rep per month
    annual_attrition: Decimal  # e.g. Decimal("0.15") = 15 % of reps leave per year
    backfill_months: int  # months from a departure until the replacement starts
    planned_hires: Mapping[dt.date, int] = field(default_factory=dict)  # extra hires by month

    def __post_init__(self) -> None:
        for month in self.months:
            if month.day != 1:
                raise ValueError(f"Capacity months must be first days of months; got {month}.")
        for previous, month in zip(self.months, self.months[1:], strict=False):
            if month != _add_months(previous, 1):
                raise ValueError(
                    f"Capacity months must be consecutive; {month} does not follow {previous}."
                )
        _check_profile(self.ramp_profile)
        if self.productivity < 0:
            raise ValueError(f"Productivity must be zero or more; got {self.productivity}.")
        if not 0 <= self.annual_attrition <= 1:
            raise ValueError(
                f"Annual attrition is a fraction from 0 to 1 (0.15 = 15 %); "
                f"got {self.annual_attrition}."
            )
        if self.backfill_months < 1:
            raise ValueError(
                "Backfill takes at least one month (a replacement starts the month after the "
                f"departure at the earliest); got {self.backfill_months}."
            )
        for month, count in self.planned_hires.items():
            if count < 0:
                raise ValueError(f"Planned hires must be zero or more; got {count} for {month}.")


@dataclass(frozen=True)
class CapacityMonth:
    """One modelled month. ``heads`` and ``ramped_heads`` are expected values at full precision."""

    month: dt.date
    heads: Decimal
    ramped_heads: Decimal
    capacity: Decimal

    @property
    def heads_display(self) -> Decimal:
        return self.heads.quantize(HEADS_DISPLAY, rounding=ROUND_HALF_UP)

    @property
    def ramped_heads_display(self) -> Decimal:
        return self.ramped_heads.quantize(HEADS_DISPLAY, rounding=ROUND_HALF_UP)


def capacity_plan(inputs: CapacityInputs, currency: str) -> list[CapacityMonth]:
    """Expected bookings capacity per month from headcount, ramp, attrition and backfill.

    A deterministic expected-value cohort model. A cohort is the reps sharing a start month
    (current reps by hire month, planned hires, backfills); it joins the model in its start month
    (current reps hired before the first modelled month are there from the first month). Each
    month, in order:

    1. ``heads`` = the heads of every cohort that has joined;
       ``ramped_heads`` = the sum of each cohort's heads x ``ramp_factor(its start, month)``;
       ``capacity`` = ramped heads x productivity, rounded to the cent (the only rounding).
    2. Every cohort then loses ``annual_attrition / 12`` of its heads (departures leave at the end
       of the month, so they still count in it).
    3. That month's expected departures start as a new cohort (tenure 1, ramping from the start)
       ``backfill_months`` later; backfills falling after the last modelled month are dropped.

    Heads are fractional expected values (9.9 reps) and stay at full Decimal precision through
    the months; quantize them (``heads_display``) only to show them. With ``backfill_months=1``
    heads stay level and only ramp costs capacity; longer backfills show a dip.
    """
    if not inputs.months:
        return []
    monthly_attrition = Decimal(inputs.annual_attrition) / MONTHS_PER_YEAR
    joining: dict[dt.date, Decimal] = {}
    for hire_date in inputs.hire_dates:
        start = _month_start(hire_date)
        joining[start] = joining.get(start, ZERO) + 1
    for month, count in inputs.planned_hires.items():
        start = _month_start(month)
        joining[start] = joining.get(start, ZERO) + count

    cohorts: dict[dt.date, Decimal] = {}  # start month -> expected heads still here
    plan = []
    for month in inputs.months:
        for start in sorted(joining):
            if start <= month:
                cohorts[start] = cohorts.get(start, ZERO) + joining.pop(start)
        heads = sum(cohorts.values(), ZERO)
        ramped_heads = sum(
            (
                cohort_heads * ramp_factor(start, month, inputs.ramp_profile)
                for start, cohort_heads in sorted(cohorts.items())
            ),
            ZERO,
        )
        capacity = round_money(ramped_heads * inputs.productivity, currency)
        plan.append(CapacityMonth(month, heads, ramped_heads, capacity))

        departures = ZERO
        for start in sorted(cohorts):
            leaving = cohorts[start] * monthly_attrition
            cohorts[start] -= leaving
            departures += leaving
        if departures:
            backfill = _add_months(month, inputs.backfill_months)
            joining[backfill] = joining.get(backfill, ZERO) + departures
    return plan


class CoverageRow(NamedTuple):
    """Capacity against target for one month (``month`` is None on the total row).

    ``gap`` = target - capacity (positive: short of target, same sign as ``gap()``);
    ``coverage_ratio`` = capacity / target to 4 places, None when the target is 0.
    """

    month: dt.date | None
    capacity: Decimal
    target: Decimal
    gap: Decimal
    coverage_ratio: Decimal | None


def _coverage_row(month: dt.date | None, capacity: Decimal, target: Decimal) -> CoverageRow:
    ratio = None if target == 0 else (capacity / target).quantize(RATIO_PLACES, ROUND_HALF_UP)
    return CoverageRow(month, capacity, target, target - capacity, ratio)


def capacity_vs_target(plan: list[CapacityMonth], targets: Sequence[Decimal]) -> list[CoverageRow]:
    """Month by month: can the modelled team carry the targets? ``targets`` align with ``plan``."""
    if len(targets) != len(plan):
        raise ValueError(
            f"Expected {len(plan)} targets (one per modelled month); got {len(targets)}."
        )
    return [
        _coverage_row(row.month, row.capacity, Decimal(target))
        for row, target in zip(plan, targets, strict=True)
    ]


def coverage_total(rows: Sequence[CoverageRow]) -> CoverageRow:
    """The whole period: summed capacity and target, their gap and ratio (``month`` is None)."""
    return _coverage_row(
        None, sum((r.capacity for r in rows), ZERO), sum((r.target for r in rows), ZERO)
    )

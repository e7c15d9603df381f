"""Payout arithmetic of one plan component over one measured period: pure Decimal functions.

Everything here is exact (Decimal at full precision); the engine rounds once per measured period
by the rule in ``salesops.money``. Each function also returns the steps of its formula with the
numbers filled in, which become the payout line's trace.

Attainment is a percentage of quota. Tiers pay a rate on the measure:
- marginal: each slice of the measure between two tier floors is paid at that tier's rate;
- retroactive: the whole measure is paid at the rate of the highest tier reached.
A threshold pays nothing below it (and everything from zero once reached); an attainment cap
stops counting the measure above it; an amount cap limits the payout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from compensation.documents import Component, Tier

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def fmt_number(value: Decimal, places: int = 2) -> str:
    """``1234.5`` → ``1,234.50`` (the trace's number format)."""
    return f"{value:,.{places}f}"


def fmt_rate(rate: Decimal, money: bool) -> str:
    """A rate as people read it: 8 % of bookings, or 500.00 per logo/unit."""
    if money:
        return f"{(rate * HUNDRED).normalize():f} %"
    return f"{fmt_number(rate)} each"


def fmt_percent(value: Decimal | None) -> str:
    return "–" if value is None else f"{value:,.2f} %"


@dataclass(frozen=True)
class Slice:
    """The part of the measure one tier paid."""

    tier: str
    floor: Decimal
    ceiling: Decimal | None
    measure: Decimal
    rate: Decimal
    pay: Decimal


@dataclass(frozen=True)
class Payout:
    """What a component pays for a measure, before rounding, and why."""

    exact: Decimal
    attainment: Decimal | None = None
    tier: str = ""
    rate: Decimal | None = None
    slices: tuple[Slice, ...] = ()
    steps: tuple[str, ...] = field(default_factory=tuple)
    capped: bool = False


def attainment(measure: Decimal, quota: Decimal | None) -> Decimal | None:
    """Measure as a percentage of quota (None without a positive quota)."""
    if not quota or quota <= 0:
        return None
    return measure / quota * HUNDRED


def tier_name(tiers: list[Tier], index: int) -> str:
    tier = tiers[index]
    if tier.label:
        return tier.label
    if index + 1 < len(tiers):
        return f"Tier {index + 1} ({tier.floor.normalize():f}–{tiers[index + 1].floor.normalize():f} %)"
    return f"Tier {index + 1} ({tier.floor.normalize():f} %+)"


def _tier_reached(tiers: list[Tier], percent: Decimal) -> int:
    return max(i for i, tier in enumerate(tiers) if tier.floor <= percent)


def commission(
    component: Component,
    *,
    measure: Decimal,
    quota: Decimal | None,
    cap_amount: Decimal | None = None,
) -> Payout:
    """The payout of a commission component for ``measure`` against ``quota``.

    ``quota`` and ``cap_amount`` come already prorated from the caller.
    """
    money = component.is_money
    unit = "" if money else " units"
    steps: list[str] = []
    uses_quota = component.quota is not None
    percent = attainment(measure, quota) if uses_quota else None
    if uses_quota:
        if percent is None:
            steps.append("No quota for this period, so nothing is paid; ask sales ops to set one.")
            return Payout(ZERO, None, "No quota", None, (), tuple(steps))
        steps.append(
            f"Attainment = {fmt_number(measure)}{unit} / {fmt_number(quota)} quota = "
            f"{fmt_percent(percent)}"
        )
    if component.threshold is not None and percent is not None and percent < component.threshold:
        steps.append(
            f"{fmt_percent(percent)} is below the {fmt_percent(component.threshold)} threshold, "
            "so nothing is paid."
        )
        return Payout(ZERO, percent, "Below threshold", ZERO, (), tuple(steps))
    counted = measure
    counted_percent = percent
    if component.cap_attainment is not None and percent is not None:
        if percent > component.cap_attainment:
            counted = quota * component.cap_attainment / HUNDRED
            counted_percent = component.cap_attainment
            steps.append(
                f"Attainment above the {fmt_percent(component.cap_attainment)} cap is not paid: "
                f"counted measure = {fmt_number(counted)}{unit}"
            )
    slices: list[Slice] = []
    if component.rate is not None:
        exact = counted * component.rate
        tier, rate = "Flat rate", component.rate
        steps.append(
            f"{fmt_number(counted)}{unit} × {fmt_rate(rate, money)} = {fmt_number(exact, 4)}"
        )
    elif component.tier_mode == "marginal":
        tiers = component.tiers
        exact = ZERO
        for i, tier_row in enumerate(tiers):
            low = quota * tier_row.floor / HUNDRED
            high = quota * tiers[i + 1].floor / HUNDRED if i + 1 < len(tiers) else None
            top = counted if high is None else min(counted, high)
            part = top - low
            if part <= 0:
                continue
            pay = part * tier_row.rate
            exact += pay
            slices.append(Slice(tier_name(tiers, i), low, high, part, tier_row.rate, pay))
            steps.append(
                f"{tier_name(tiers, i)}: {fmt_number(part)}{unit} × "
                f"{fmt_rate(tier_row.rate, money)} = {fmt_number(pay, 4)}"
            )
        reached = _tier_reached(tiers, counted_percent)
        tier, rate = tier_name(tiers, reached), tiers[reached].rate
        if len(slices) > 1:
            steps.append(
                "Marginal tiers: "
                + " + ".join(fmt_number(s.pay, 4) for s in slices)
                + f" = {fmt_number(exact, 4)}"
            )
    else:
        tiers = component.tiers
        reached = _tier_reached(tiers, counted_percent)
        tier, rate = tier_name(tiers, reached), tiers[reached].rate
        exact = counted * rate
        slices.append(Slice(tier, tiers[reached].floor, None, counted, rate, exact))
        steps.append(
            f"Retroactive tiers: {fmt_percent(counted_percent)} reaches {tier}, so the whole "
            f"{fmt_number(counted)}{unit} is paid at {fmt_rate(rate, money)} = "
            f"{fmt_number(exact, 4)}"
        )
    capped = False
    if cap_amount is not None and exact > cap_amount:
        steps.append(f"Capped at {fmt_number(cap_amount)} (was {fmt_number(exact, 4)})")
        exact, capped = cap_amount, True
    return Payout(exact, percent, tier, rate, tuple(slices), tuple(steps), capped)


def bonus_per_deal(component: Component, *, shares: Decimal, deals: int) -> Payout:
    """A fixed amount per qualifying deal, times the payee's share of each (1 for 100 %)."""
    exact = component.per_deal * shares
    steps = (
        f"{deals} qualifying deal{'s' if deals != 1 else ''} with credit shares adding to "
        f"{fmt_number(shares, 4)} × {fmt_number(component.per_deal)} = {fmt_number(exact, 4)}",
    )
    return Payout(exact, None, "Per deal", component.per_deal, (), steps)


def bonus_on_target(component: Component, *, measure: Decimal, quota: Decimal | None) -> Payout:
    """The bonus amount once the measure (or attainment) reaches the target, else nothing."""
    money = component.is_money
    percent = attainment(measure, quota) if component.quota is not None else None
    if component.target is not None:
        reached = measure >= component.target
        goal = f"target {fmt_number(component.target)}"
        got = fmt_number(measure)
    else:
        reached = percent is not None and percent >= component.target_attainment
        goal = f"target {fmt_percent(component.target_attainment)} of quota"
        got = fmt_percent(percent)
    exact = component.bonus_amount if reached else ZERO
    verdict = "reached" if reached else "not reached"
    steps = (
        f"{'Measure' if money else 'Count'} {got} against {goal}: {verdict}, "
        f"pays {fmt_number(exact)}",
    )
    return Payout(
        exact, percent, "Target reached" if reached else "Target not reached", None, (), steps
    )


def advance(payout: Payout, *, percent: Decimal, final: bool) -> tuple[Decimal, str]:
    """What an annual component pays so far: the advance share of the year-to-date payout,
    or all of it at the year's last quarter (the true-up)."""
    if final:
        return payout.exact, "Year end: the full annual payout is due (true-up)."
    exact = payout.exact * percent / HUNDRED
    return exact, (
        f"Quarterly advance: {fmt_percent(percent)} of the year-to-date payout "
        f"{fmt_number(payout.exact, 4)} = {fmt_number(exact, 4)}"
    )


def proration(
    covered_start: dt.date, covered_end: dt.date, period_start: dt.date, period_end: dt.date
) -> Decimal:
    """Share of the period's days the assignment covers (1 when it covers all of them)."""
    start, end = max(covered_start, period_start), min(covered_end, period_end)
    if end < start:
        return ZERO
    days = Decimal((end - start).days + 1)
    return days / Decimal((period_end - period_start).days + 1)


@dataclass(frozen=True)
class DrawSettlement:
    """What the draw adds (top-up) and what it takes back (recovery, negative) this period."""

    top_up: Decimal
    recovery: Decimal
    balance_after: Decimal
    steps: tuple[str, ...]


def settle_draw(
    *, earnings: Decimal, draw_due: Decimal, balance: Decimal, recoverable: bool
) -> DrawSettlement:
    """Top earnings up to the draw; a recoverable draw takes the top-ups back from later
    earnings above the draw, until nothing is owed.

    ``balance`` is what earlier top-ups still owe (recoverable draws only).
    """
    steps: list[str] = []
    top_up = recovery = ZERO
    if draw_due > 0 and earnings < draw_due:
        top_up = draw_due - earnings
        steps.append(
            f"Earnings {fmt_number(earnings)} are below the draw {fmt_number(draw_due)}: "
            f"top-up {fmt_number(top_up)}"
            + (
                " (recoverable from later earnings)"
                if recoverable
                else " (guaranteed, not recovered)"
            )
        )
    elif recoverable and balance > 0 and earnings > draw_due:
        recovery = -min(balance, earnings - draw_due)
        steps.append(
            f"Draw balance {fmt_number(balance)} recovered from earnings above "
            f"{fmt_number(draw_due)}: {fmt_number(recovery)}"
        )
    balance_after = balance + (top_up if recoverable else ZERO) + recovery
    if recoverable:
        steps.append(f"Draw balance still owed: {fmt_number(balance_after)}")
    return DrawSettlement(top_up, recovery, balance_after, tuple(steps))


def curve(
    component: Component, *, quota: Decimal, cap_amount: Decimal | None = None, points: int = 41
) -> list[tuple[Decimal, Decimal]]:
    """(attainment %, payout) pairs from 0 % to twice the highest tier floor, for the chart."""
    top = max([t.floor for t in component.tiers] + [Decimal(100), component.cap_attainment or 0])
    last = max(top * 2, Decimal(150))
    pairs = []
    for i in range(points):
        percent = last * i / (points - 1)
        measure = quota * percent / HUNDRED
        pairs.append(
            (
                percent,
                commission(component, measure=measure, quota=quota, cap_amount=cap_amount).exact,
            )
        )
    return pairs

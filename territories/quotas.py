"""Writes of quota planning: ramp profiles, quota plans, top-down allocation, ops edits, the
review chain and publishing. Reads live in ``territories.quota_selectors``; the arithmetic in
``territories.quota_math``.

Who: sales ops (and admins) plan quotas; each team's manager reviews them, top level first; once
published, a plan is locked and every write to it is refused. One transaction each, audited with
the acting user (pghistory records every row changed, with the reason given here).

Allocation (``quota_plan_allocate``), in money of the plan's currency (the corporate one):

* The company target is split seasonally (``seasonal_split``) into quarters and months.
* Top down, every holder's amount is shared among its children by weight: the company's among
  the root teams, a team's among its child teams and its own active reps (child teams first, by
  name, then reps by name: the tie-break order for leftover cents). Territories the same way,
  from the company target through the live plan's tree to the leaves.
* Weights (``plan.basis``), each holder's weight covering everything below it: *potential* =
  annual revenue of the accounts owned by the subtree's reps (for territories: of the accounts
  in the subtree); *history* = their won bookings over ``quota_selectors.history_window``;
  *equal* = one per rep (for territories: one per leaf territory), so every rep gets the same.
  When every sibling weighs zero they share equally, by that same head count. Teams without an
  active rep below them get nothing (and so, zero quotas), so every cent reaches a rep.
* Periods: a child's year is its share of the parent's year (``allocate_top_down``, within a
  cent of the exact share). Its quarters and months are rounded so that they add up to its year
  *and*, across siblings, to the parent's quarter and month (``split_by_margins``): every split
  is exact at every level and in every period, each part within a cent of its exact share.
* Ramp: a rep's ``full_amount`` is the allocated amount; ``amount`` carries the ramp: each
  month ``ramped_quota(full, ramp_factor(hire date, month, profile))`` (profile: the plan's, else
  the rep's linear ramp, ``quota_selectors.linear_ramp``); quarters and year are the sums of the
  months, both for ``amount`` and ``full_amount``. Teams and territories carry the top-down
  amount (``amount = full_amount``); the difference to their reps' ramped sum is the gap
  ``quota_selectors.top_down_vs_bottom_up`` shows.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from salesops.audit import audit_context
from salesops.bulk import copy_rows, foreign_keys_checked_now
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.fiscal import FiscalPeriod, PeriodKind
from salesops.money import allocate, minor_unit, round_money
from salesops.org.models import RepProfile, Team, User
from salesops.org.selectors import fiscal_calendar, org_settings
from territories import quota_selectors as selectors
from territories.models import (
    AllocationBasis,
    Quota,
    QuotaPlan,
    QuotaPlanStatus,
    QuotaReview,
    QuotaSource,
    RampProfile,
    ReviewStatus,
    Territory,
)
from territories.quota_math import (
    MONTHS_PER_QUARTER,
    allocate_top_down,
    ramp_factor,
    ramped_quota,
    seasonal_split,
    tenure_month,
)
from territories.services import live_plan

ZERO = Decimal(0)
HUNDRED = Decimal(100)
WEIGHT_PLACES = Decimal("0.0001")  # QuotaPlan.month_weights: NUMERIC(7, 4)
WEIGHT_LIMIT = Decimal(1000)
PERCENT_PLACES = Decimal("0.01")  # RampProfile.percents: NUMERIC(5, 2)
MAX_RAMP_MONTHS = 36  # as RepProfile.ramp_months


# --- Checks --------------------------------------------------------------------------------------


def _require(user: User, perm: str, what: str) -> None:
    if not user.has_perm(perm):
        raise NotAllowed(f"Only sales ops can {what}.")


def plan_locked_for_write(plan: QuotaPlan) -> QuotaPlan:
    """The plan re-read under a row lock, so two writes to one plan take turns."""
    return (
        QuotaPlan.objects.select_for_update(of=("self",))
        .select_related("ramp_profile")
        .get(pk=plan.pk)
    )


def require_unlocked(plan: QuotaPlan) -> None:
    if plan.is_locked:
        raise DomainError(
            f"FY{plan.fiscal_year} quotas are published and locked; a published plan cannot be "
            "changed.",
            field="plan",
        )


def _money(value, currency: str, what: str, field_name: str) -> Decimal:
    """``value`` as an amount of ``currency``: a number, not negative, in whole minor units."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(f"{what} must be a number; got '{value}'.", field=field_name) from None
    if not amount.is_finite():
        raise DomainError(f"{what} must be a number; got '{value}'.", field=field_name)
    if amount < 0:
        raise DomainError(f"{what} cannot be negative; got {amount}.", field=field_name)
    if round_money(amount, currency) != amount:
        unit = minor_unit(currency)
        raise DomainError(
            f"{what} is in whole {currency} {'cents' if unit < 1 else 'units'}; {amount} has "
            "more decimals.",
            field=field_name,
        )
    return round_money(amount, currency)


# --- Ramp profiles -------------------------------------------------------------------------------


def ramp_profile_save(
    *,
    name: str,
    percents: Sequence[Decimal | int | str],
    acting_user: User,
    profile: RampProfile | None = None,
) -> RampProfile:
    """Create a ramp profile, or change ``profile``: percent of full quota per tenure month.

    A profile used by a published quota plan keeps its percents (those quotas are locked on
    them); create a new profile instead.
    """
    _require(
        acting_user,
        "territories.change_rampprofile" if profile else "territories.add_rampprofile",
        "edit ramp profiles",
    )
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the ramp profile a name.", field="name")
    if len(percents) > MAX_RAMP_MONTHS:
        raise DomainError(
            f"A ramp lasts at most {MAX_RAMP_MONTHS} months; got {len(percents)}.", field="percents"
        )
    cleaned = []
    for month, value in enumerate(percents, start=1):
        try:
            percent = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            percent = None
        if percent is None or not percent.is_finite() or not ZERO <= percent <= HUNDRED:
            raise DomainError(
                f"Tenure month {month}: '{value}' is not a percentage from 0 to 100.",
                field="percents",
            )
        if percent.quantize(PERCENT_PLACES) != percent:
            raise DomainError(
                f"Tenure month {month}: {percent} has more than 2 decimals.", field="percents"
            )
        cleaned.append(percent.quantize(PERCENT_PLACES))
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="ramp_profile_save"):
        if (
            RampProfile.objects.filter(name__iexact=name)
            .exclude(pk=profile.pk if profile else None)
            .exists()
        ):
            raise DomainError(f"A ramp profile named '{name}' already exists.", field="name")
        if profile is None:
            return RampProfile.objects.create(name=name, percents=cleaned)
        profile = RampProfile.objects.select_for_update().get(pk=profile.pk)
        if [Decimal(p) for p in profile.percents] != cleaned:
            published = (
                QuotaPlan.objects.filter(ramp_profile=profile, status=QuotaPlanStatus.PUBLISHED)
                .order_by("fiscal_year")
                .first()
            )
            if published is not None:
                raise DomainError(
                    f"{profile.name} ramps the published FY{published.fiscal_year} quotas, so its "
                    "percents cannot change; create a new profile instead.",
                    field="percents",
                )
        profile.name, profile.percents = name, cleaned
        profile.save()
        return profile


# --- Quota plans ---------------------------------------------------------------------------------


def quota_plan_create(
    *,
    fiscal_year: int,
    target: Decimal,
    currency: str,
    basis: str,
    month_weights: Sequence[Decimal] | None = None,
    ramp_profile: RampProfile | None = None,
    acting_user: User,
) -> QuotaPlan:
    """A draft quota plan for a fiscal year: the company target, its basis and seasonality.

    ``month_weights`` are relative weights of fiscal months 1-12 (percents of the year, or any
    numbers); by default the twelve months weigh the same. The currency is the corporate one,
    so that bookings (which reporting converts to it) compare with the quotas.
    """
    _require(acting_user, "territories.add_quotaplan", "create quota plans")
    corporate = org_settings().corporate_currency
    if currency != corporate:
        raise DomainError(
            f"Quotas are set in the corporate currency, {corporate}; give the target in "
            f"{corporate}, not {currency}.",
            field="currency",
        )
    amount = _money(target, currency, "The target", "target")
    if basis not in AllocationBasis.values:
        raise DomainError(
            f"'{basis}' is not an allocation basis ({', '.join(AllocationBasis.values)}).",
            field="basis",
        )
    weights = _month_weights(month_weights)
    try:
        seasonal_split(amount, weights, currency)
    except ValueError as error:
        raise DomainError(str(error), field="month_weights") from None
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="quota_plan_create"):
        if QuotaPlan.objects.filter(fiscal_year=fiscal_year).exists():
            raise DomainError(
                f"There is already a quota plan for FY{fiscal_year}; change that one instead.",
                field="fiscal_year",
            )
        return QuotaPlan.objects.create(
            fiscal_year=fiscal_year,
            target=amount,
            currency=currency,
            basis=basis,
            month_weights=weights,
            ramp_profile=ramp_profile,
            created_by=acting_user,
        )


def _month_weights(month_weights: Sequence[Decimal] | None) -> list[Decimal]:
    if month_weights is None:
        return [Decimal(1)] * 12
    weights = []
    for month, value in enumerate(month_weights, start=1):
        try:
            weight = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            weight = None
        if weight is None or not weight.is_finite():
            raise DomainError(
                f"Fiscal month {month}: '{value}' is not a number.", field="month_weights"
            )
        if weight.quantize(WEIGHT_PLACES) != weight or abs(weight) >= WEIGHT_LIMIT:
            raise DomainError(
                f"Fiscal month {month}: {weight} does not fit; month weights are below 1000 with "
                "at most 4 decimals (percents of the year fit).",
                field="month_weights",
            )
        weights.append(weight)
    return weights


# --- Allocation ----------------------------------------------------------------------------------


@dataclass
class _Split:
    """One holder's amounts: the year, its 4 quarters and 12 months (fiscal order)."""

    year: Decimal
    quarters: list[Decimal]
    months: list[Decimal]

    @classmethod
    def zero(cls) -> _Split:
        return cls(ZERO, [ZERO] * 4, [ZERO] * 12)


@dataclass
class _Holder:
    """A node of an allocation tree. ``weight`` and ``heads`` cover the holder's whole subtree;
    ``heads`` (reps, or leaf territories) is the equal basis and the all-zero fallback."""

    kind: str  # "team", "user" or "territory"
    pk: int
    weight: Decimal = ZERO
    heads: int = 0
    children: list[_Holder] = field(default_factory=list)


def quota_plan_allocate(
    *, plan: QuotaPlan, acting_user: User, as_of: dt.date | None = None
) -> QuotaPlan:
    """Allocate the plan's target top down to every team, rep and territory (see the module
    docstring), replacing every quota of the plan. Draft plans only.

    ``as_of`` (default today) is the day the figures are read: potential converts account
    revenue at its rates, and the history window ends there when it is before the fiscal year.
    A few aggregate queries read every weight; the quotas are written with COPY.
    """
    _require(acting_user, "territories.change_quotaplan", "allocate quotas")
    as_of = as_of or timezone.localdate()
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="quota_plan_allocate"):
        plan = plan_locked_for_write(plan)
        require_unlocked(plan)
        if plan.status != QuotaPlanStatus.DRAFT:
            raise DomainError(
                f"FY{plan.fiscal_year} quotas are {plan.get_status_display().lower()}; "
                "allocation rewrites every quota, so it runs on a draft plan only.",
                field="plan",
            )
        currency = plan.currency
        calendar = fiscal_calendar()
        periods = {
            kind: calendar.periods(plan.fiscal_year, kind)
            for kind in (PeriodKind.YEAR, PeriodKind.QUARTER, PeriodKind.MONTH)
        }
        quarters, months = seasonal_split(
            plan.target, [Decimal(w) for w in plan.month_weights], currency
        )
        company = _Split(plan.target, quarters, months)
        reps = list(
            RepProfile.objects.filter(active=True)
            .select_related("user")
            .order_by("user__last_name", "user__first_name", "user__username", "user_id")
        )
        if not reps:
            raise DomainError(
                f"There are no active reps to carry FY{plan.fiscal_year} quotas; add rep "
                "profiles to the teams first."
            )
        rows: list[tuple] = []
        now = timezone.now()
        team_roots = _team_holders(plan, reps, as_of)
        splits = _allocate_tree(team_roots, company, currency)
        for (kind, pk), split in splits.items():
            if kind == "team":
                rows += _rows(plan, periods, "team", pk, split, split, now)
        first_month = periods[PeriodKind.MONTH][0].start
        for rep in reps:
            full = splits[("user", rep.user_id)]
            profile = selectors.ramp_percents(plan, rep.ramp_months)
            if tenure_month(rep.hire_date, first_month) > len(profile):
                ramped_months = list(full.months)  # ramped before the year: factor 1 throughout
            else:
                ramped_months = [
                    ramped_quota(
                        amount, ramp_factor(rep.hire_date, period.start, profile), currency
                    )
                    for amount, period in zip(full.months, periods[PeriodKind.MONTH], strict=True)
                ]
            carried = _Split(
                sum(ramped_months, ZERO),
                [
                    sum(ramped_months[q * MONTHS_PER_QUARTER : (q + 1) * MONTHS_PER_QUARTER], ZERO)
                    for q in range(4)
                ],
                ramped_months,
            )
            rows += _rows(plan, periods, "user", rep.user_id, carried, full, now)
        territory_roots = _territory_holders(plan, as_of)
        for (_kind, pk), split in _allocate_tree(territory_roots, company, currency).items():
            rows += _rows(plan, periods, "territory", pk, split, split, now)
        with foreign_keys_checked_now():  # audited bulk writes: see salesops.bulk
            Quota.objects.filter(plan=plan).delete()
            copy_rows(Quota._meta.db_table, _QUOTA_COLUMNS, rows)
    return plan


_QUOTA_COLUMNS = (
    "plan_id", "period_kind", "period_key", "period_start", "period_end", "user_id", "team_id",
    "territory_id", "amount", "full_amount", "source", "updated_at",
)  # fmt: skip


def _rows(
    plan: QuotaPlan,
    periods: dict[PeriodKind, list[FiscalPeriod]],
    holder: str,
    pk: int,
    carried: _Split,
    full: _Split,
    now: dt.datetime,
) -> list[tuple]:
    """The 17 quota rows (year, quarters, months) of one holder, in ``_QUOTA_COLUMNS`` order."""
    ids = (
        pk if holder == "user" else None,
        pk if holder == "team" else None,
        pk if holder == "territory" else None,
    )
    pairs = [
        (periods[PeriodKind.YEAR][0], carried.year, full.year),
        *zip(periods[PeriodKind.QUARTER], carried.quarters, full.quarters, strict=True),
        *zip(periods[PeriodKind.MONTH], carried.months, full.months, strict=True),
    ]
    return [
        (
            plan.pk,
            str(period.kind),
            period.key,
            period.start,
            period.end,
            *ids,
            amount,
            full_amount,
            QuotaSource.TOP_DOWN.value,
            now,
        )  # fmt: skip
        for period, amount, full_amount in pairs
    ]


def _team_holders(plan: QuotaPlan, reps: list[RepProfile], as_of: dt.date) -> list[_Holder]:
    """The team tree with the active reps as leaves, weighted by the plan's basis."""
    if plan.basis == AllocationBasis.POTENTIAL:
        measure = selectors.potential_by_owner(as_of)
    elif plan.basis == AllocationBasis.HISTORY:
        measure = selectors.bookings_by_owner(*selectors.history_window(plan, as_of))
    else:
        measure = {}
    teams = list(Team.objects.order_by("name", "pk").values_list("pk", "parent_id"))
    holders = {pk: _Holder("team", pk) for pk, _parent in teams}
    roots = []
    for pk, parent in teams:
        (holders[parent].children if parent is not None else roots).append(holders[pk])
    for rep in reps:  # reps after child teams, in name order
        weight = (
            Decimal(1) if plan.basis == AllocationBasis.EQUAL else measure.get(rep.user_id, ZERO)
        )
        holders[rep.team_id].children.append(_Holder("user", rep.user_id, weight, 1))
    for root in roots:
        _sum_subtree(root)
    return roots


def _territory_holders(plan: QuotaPlan, as_of: dt.date) -> list[_Holder]:
    """The live territory plan's tree, weighted by the basis on the accounts in each territory;
    empty when there is no live plan."""
    territory_plan = live_plan()
    if territory_plan is None:
        return []
    territories = list(
        Territory.objects.filter(plan=territory_plan)
        .order_by("name", "pk")
        .values_list("pk", "parent_id")
    )
    if plan.basis == AllocationBasis.POTENTIAL:
        measure = selectors.potential_by_territory(as_of)
    elif plan.basis == AllocationBasis.HISTORY:
        measure = selectors.bookings_by_territory(*selectors.history_window(plan, as_of))
    else:
        measure = {}
    holders = {pk: _Holder("territory", pk, measure.get(pk, ZERO)) for pk, _parent in territories}
    roots = []
    for pk, parent in territories:
        (holders[parent].children if parent in holders else roots).append(holders[pk])
    for holder in holders.values():
        if not holder.children:
            holder.heads = 1
            if plan.basis == AllocationBasis.EQUAL:
                holder.weight = Decimal(1)
    for root in roots:
        _sum_subtree(root)
    return roots


def _sum_subtree(root: _Holder) -> None:
    """Add every holder's children's weights and heads to its own (post-order, no recursion)."""
    order, stack = [], [root]
    while stack:
        holder = stack.pop()
        order.append(holder)
        stack.extend(holder.children)
    for holder in reversed(order):
        for child in holder.children:
            holder.weight += child.weight
            holder.heads += child.heads


def _allocate_tree(
    roots: list[_Holder], top: _Split, currency: str
) -> dict[tuple[str, int], _Split]:
    """Every holder's split, top down from ``top`` (the company)."""
    if not roots:
        return {}
    splits: dict[tuple[str, int], _Split] = {}
    stack = [(roots, top)]
    while stack:
        holders, parent = stack.pop()
        for holder, split in zip(holders, _share(holders, parent, currency), strict=True):
            splits[(holder.kind, holder.pk)] = split
            if holder.children:
                stack.append((holder.children, split))
    return splits


def _share(holders: list[_Holder], parent: _Split, currency: str) -> list[_Split]:
    """``parent`` shared among ``holders`` by weight (by heads when all weigh zero); holders
    with no heads get nothing."""
    eligible = [i for i, holder in enumerate(holders) if holder.heads > 0]
    if not eligible:
        if parent.year:  # cannot happen: a holder with heads has a child with heads
            raise DomainError("There is no one below to carry the quota.")
        return [_Split.zero() for _ in holders]
    weights = {str(i): holders[i].weight for i in eligible}
    if all(weight == 0 for weight in weights.values()):
        weights = {str(i): Decimal(holders[i].heads) for i in eligible}
    shares = allocate_top_down(parent.year, weights, currency)
    years = [shares.get(str(i), ZERO) for i in range(len(holders))]
    quarters = split_by_margins(years, parent.quarters, currency)
    months: list[list[Decimal]] = [[] for _ in holders]
    for q in range(4):
        block = split_by_margins(
            [row[q] for row in quarters],
            parent.months[q * MONTHS_PER_QUARTER : (q + 1) * MONTHS_PER_QUARTER],
            currency,
        )
        for i, part in enumerate(block):
            months[i].extend(part)
    return [_Split(years[i], quarters[i], months[i]) for i in range(len(holders))]


def split_by_margins(
    row_totals: Sequence[Decimal], column_totals: Sequence[Decimal], currency: str
) -> list[list[Decimal]]:
    """Split each row total over the columns in proportion to the column totals, so that every
    row adds up to its total *and* every column to its total, to the minor unit.

    Used to split children's years into periods: rows are the children, columns the parent's
    periods. Cell (i, j) is row_i x column_j / grand total, rounded down, plus one minor unit for
    as many cells as each row and column are short. Those units go first to the largest
    remainders (ties to the earlier row, then column), and then, if rows are still short, along
    augmenting paths that move a unit from one cell to another; only cells whose exact share has
    a remainder ever get one, so every cell is within one minor unit of its exact share and an
    exact share stays exact. Such a rounding always exists (the rounded-down remainders are a
    fractional solution of a transportation problem, whose vertices are whole numbers).
    """
    unit = minor_unit(currency)
    rows = [_units(total, unit, currency) for total in row_totals]
    columns = [_units(total, unit, currency) for total in column_totals]
    grand = sum(rows)
    if grand != sum(columns):
        raise ValueError(
            f"Rows add up to {grand * unit} but columns to {sum(columns) * unit}; they must match."
        )
    if grand == 0:
        return [[ZERO * unit for _ in columns] for _ in rows]
    floor = [[row * column // grand for column in columns] for row in rows]
    remainder = [[row * column % grand for column in columns] for row in rows]
    row_short = [row - sum(cells) for row, cells in zip(rows, floor, strict=True)]
    column_short = [column - sum(cells[j] for cells in floor) for j, column in enumerate(columns)]
    up = [[False] * len(columns) for _ in rows]
    by_remainder = sorted(
        (-remainder[i][j], i, j)
        for i in range(len(rows))
        for j in range(len(columns))
        if remainder[i][j]
    )
    for _, i, j in by_remainder:
        if row_short[i] and column_short[j]:
            up[i][j] = True
            row_short[i] -= 1
            column_short[j] -= 1
    while any(row_short):
        _augment(up, remainder, row_short, column_short)
    return [
        [Decimal(floor[i][j] + up[i][j]) * unit for j in range(len(columns))]
        for i in range(len(rows))
    ]


def _units(amount: Decimal, unit: Decimal, currency: str) -> int:
    if amount < 0 or round_money(amount, currency) != amount:
        raise ValueError(f"{amount} is not a non-negative amount of {currency}.")
    return int(amount / unit)


def _augment(
    up: list[list[bool]],
    remainder: list[list[int]],
    row_short: list[int],
    column_short: list[int],
) -> None:
    """Give one more unit to a short row and a short column: breadth-first search for a path
    short row → cell not up → column → cell up → row → … → short column, then flip it."""
    came_to_row: dict[int, int | None] = {i: None for i, short in enumerate(row_short) if short}
    came_to_column: dict[int, int] = {}
    queue = deque(came_to_row)
    while queue:
        i = queue.popleft()
        for j in range(len(column_short)):
            if j in came_to_column or up[i][j] or not remainder[i][j]:
                continue
            came_to_column[j] = i
            if column_short[j]:
                column = j
                while True:
                    row = came_to_column[column]
                    up[row][column] = True
                    previous = came_to_row[row]
                    if previous is None:
                        break
                    up[row][previous] = False
                    column = previous
                row_short[row] -= 1
                column_short[j] -= 1
                return
            for k in range(len(row_short)):
                if up[k][j] and k not in came_to_row:
                    came_to_row[k] = j
                    queue.append(k)
    raise ValueError("No rounding adds up to both the row and the column totals.")


# --- Ops edits -----------------------------------------------------------------------------------


def quota_set(*, quota: Quota, amount: Decimal, acting_user: User, reason: str) -> Quota:
    """Ops set one quota's ``amount`` (source: manual), with a reason kept in its history.

    The holder's other periods follow so its year, quarters and months still add up: a month's
    change moves its quarter and year by the same amount; a new quarter (or year) is spread over
    its months (quarters, then months) in proportion to what they carried. Those rows become
    manual too. Teams and territories carry their full amount, so it follows ``amount``; a rep's
    ``full_amount`` (before ramp) stays. Refused once the plan is published.
    """
    _require(acting_user, "territories.change_quota", "change quotas")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            "Say why the quota changes: a reason is required and kept in its history.",
            field="reason",
        )
    with (
        transaction.atomic(),
        audit_context(acting_user=acting_user, reason=reason, action="quota_set"),
    ):
        plan = plan_locked_for_write(quota.plan)
        require_unlocked(plan)
        new = _money(amount, plan.currency, "A quota", "amount")
        rows = list(
            Quota.objects.select_for_update().filter(
                plan=plan,
                user_id=quota.user_id,
                team_id=quota.team_id,
                territory_id=quota.territory_id,
            )
        )
        current = next((row for row in rows if row.pk == quota.pk), None)
        if current is None:
            raise NotFound("This quota no longer exists; reload the plan.")
        changed = edit_holder_periods(current, rows, new, plan.currency)
        now = timezone.now()
        for row in changed:
            if row.user_id is None:
                row.full_amount = row.amount
            row.source = QuotaSource.MANUAL
            row.updated_at = now
        Quota.objects.bulk_update(changed, ["amount", "full_amount", "source", "updated_at"])
    return current


def edit_holder_periods(
    current: Quota, rows: list[Quota], new: Decimal, currency: str
) -> list[Quota]:
    """Set ``current.amount`` to ``new`` and keep the holder's periods adding up; the rows
    changed."""

    def inside(kind: str, outer: Quota) -> list[Quota]:
        return sorted(
            (
                row
                for row in rows
                if row.period_kind == kind
                and outer.period_start <= row.period_start
                and row.period_end <= outer.period_end
            ),
            key=lambda row: row.period_start,
        )

    def around(inner: Quota) -> list[Quota]:
        return [
            row
            for row in rows
            if row.period_kind != inner.period_kind
            and row.period_start <= inner.period_start
            and inner.period_end <= row.period_end
        ]

    changed = [current]
    delta = new - current.amount
    current.amount = new
    if current.period_kind in (PeriodKind.MONTH, PeriodKind.QUARTER):
        for outer in around(current):
            outer.amount += delta
            changed.append(outer)
    parts = {PeriodKind.YEAR: PeriodKind.QUARTER, PeriodKind.QUARTER: PeriodKind.MONTH}
    spread = [current]
    while spread:
        outer = spread.pop()
        kind = parts.get(PeriodKind(outer.period_kind))
        if kind is None:
            continue
        inner = inside(kind, outer)
        if not inner:
            continue
        weights = [row.amount for row in inner]
        if not any(weights):
            weights = [row.full_amount for row in inner]
        if not any(weights):
            weights = [Decimal(1)] * len(inner)
        for row, amount in zip(inner, allocate(outer.amount, weights, currency), strict=True):
            row.amount = amount
        changed += inner
        spread += inner
    return changed


# --- Review chain --------------------------------------------------------------------------------


def quota_plan_propose(*, plan: QuotaPlan, acting_user: User) -> QuotaPlan:
    """Send a draft plan to the managers: one pending review per managed team, level = the
    team's depth (0 at the top), reviewer = its manager. Proposing again resets every review.

    With no managed team there is no one to ask and the plan is approved at once.
    """
    _require(acting_user, "territories.change_quotaplan", "propose quotas for review")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="quota_plan_propose"):
        plan = plan_locked_for_write(plan)
        require_unlocked(plan)
        if plan.status != QuotaPlanStatus.DRAFT:
            raise DomainError(
                f"FY{plan.fiscal_year} quotas are {plan.get_status_display().lower()}; only a "
                "draft plan can be proposed.",
                field="plan",
            )
        if not plan.quotas.exists():
            raise DomainError(f"Allocate FY{plan.fiscal_year} quotas before proposing them.")
        managed = [(team, depth) for team, depth in selectors.team_tree() if team.manager_id]
        plan.reviews.exclude(team_id__in=[team.pk for team, _depth in managed]).delete()
        existing = {review.team_id: review for review in plan.reviews.select_for_update()}
        for team, depth in managed:
            review = existing.get(team.pk) or QuotaReview(plan=plan, team=team)
            review.level, review.reviewer_id = depth, team.manager_id
            review.status, review.comment, review.decided_at = ReviewStatus.PENDING, "", None
            review.save()
        plan.status = QuotaPlanStatus.IN_REVIEW if managed else QuotaPlanStatus.APPROVED
        plan.save(update_fields=["status"])
    return plan


def quota_review_decide(
    *, review: QuotaReview, accept: bool, comment: str = "", acting_user: User
) -> QuotaReview:
    """The reviewer accepts their team's quotas or sends the plan back to ops with a comment.

    Levels decide top down: every review at a lower level number must be accepted first.
    Sending back returns the plan to draft. The last acceptance approves the plan.
    """
    comment = (comment or "").strip()
    action = "quota_review_accept" if accept else "quota_review_send_back"
    with transaction.atomic(), audit_context(acting_user=acting_user, reason=action):
        plan = plan_locked_for_write(review.plan)
        review = (
            QuotaReview.objects.select_for_update(of=("self",))
            .select_related("team", "reviewer")
            .get(pk=review.pk)
        )
        if review.reviewer_id != acting_user.pk:
            raise NotAllowed(
                f"Only {review.reviewer} reviews the FY{plan.fiscal_year} quotas of {review.team}."
            )
        require_unlocked(plan)
        if plan.status != QuotaPlanStatus.IN_REVIEW:
            raise DomainError(
                f"FY{plan.fiscal_year} quotas are {plan.get_status_display().lower()}, not in "
                "review; there is nothing to decide.",
                field="plan",
            )
        if review.status != ReviewStatus.PENDING:
            raise DomainError(
                f"You have already decided on the FY{plan.fiscal_year} quotas of {review.team} "
                f"({review.get_status_display().lower()}).",
            )
        blocking = (
            plan.reviews.filter(level__lt=review.level)
            .exclude(status=ReviewStatus.ACCEPTED)
            .select_related("team", "reviewer")
            .order_by("level", "team__name", "pk")
            .first()
        )
        if blocking is not None:
            raise DomainError(f"Waiting for {blocking.team} ({blocking.reviewer}) to accept first.")
        if not accept and not comment:
            raise DomainError(
                "Say what should change: sending the quotas back needs a comment.",
                field="comment",
            )
        review.status = ReviewStatus.ACCEPTED if accept else ReviewStatus.SENT_BACK
        review.comment = comment
        review.decided_at = timezone.now()
        review.save(update_fields=["status", "comment", "decided_at"])
        if not accept:
            plan.status = QuotaPlanStatus.DRAFT
            plan.save(update_fields=["status"])
        elif not plan.reviews.exclude(status=ReviewStatus.ACCEPTED).exists():
            plan.status = QuotaPlanStatus.APPROVED
            plan.save(update_fields=["status"])
    return review


def quota_plan_publish(*, plan: QuotaPlan, acting_user: User) -> QuotaPlan:
    """Publish an approved plan: its quotas are then final and locked against every write."""
    _require(acting_user, "territories.change_quotaplan", "publish quotas")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="quota_plan_publish"):
        plan = plan_locked_for_write(plan)
        require_unlocked(plan)
        if plan.status != QuotaPlanStatus.APPROVED:
            raise DomainError(
                f"FY{plan.fiscal_year} quotas can be published once every manager has accepted "
                f"them; they are {plan.get_status_display().lower()}.",
                field="plan",
            )
        plan.status = QuotaPlanStatus.PUBLISHED
        plan.published_at = timezone.now()
        plan.published_by = acting_user
        plan.save(update_fields=["status", "published_at", "published_by"])
    return plan

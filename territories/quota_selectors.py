"""Reads of quota planning: allocation weights, roll-ups and gaps, the quota grid, the reviews
waiting for someone, capacity against the plan, and attainment.

Money here is in the corporate currency (org settings), which is also every quota plan's
currency. Deal amounts are converted at the rate in force on the deal's close date and rounded
to the cent per deal (``salesops.org.selectors.exchange_rate_on``'s rate-date rule, done in SQL
so a year of deals is one query); account revenue is converted at the rate of the day asked for.
A foreign amount without a rate that early is refused with the same message as
``exchange_rate_on``, never silently dropped: a quota weighted on half the bookings would be wrong.

Bookings are the amounts of won deals by close date, as the "Bookings" KPI counts them, so
attainment and the dashboards agree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Round

from crm.models import Account, Deal, Stage
from salesops.errors import DomainError
from salesops.fiscal import FiscalPeriod, PeriodKind
from salesops.money import minor_unit, round_money
from salesops.org.models import ExchangeRate, RepProfile, Team, User
from salesops.org.roles import ORG_WIDE_ROLES
from salesops.org.selectors import fiscal_calendar, org_settings, team_subtree_ids
from salesops.permissions import restrict
from territories.models import (
    Quota,
    QuotaPlan,
    QuotaPlanStatus,
    QuotaReview,
    ReviewStatus,
    Territory,
)
from territories.quota_math import (
    CapacityInputs,
    CapacityMonth,
    CoverageRow,
    capacity_plan,
    capacity_vs_target,
    coverage_total,
    gap,
    ramp_factor,
    roll_up,
    seasonal_split,
)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
RATIO_PLACES = Decimal("0.0001")  # attainment is reported to 4 places (1.0250 = 102.5 %)
_WIDE = DecimalField(max_digits=40, decimal_places=10)


# --- Ramp ----------------------------------------------------------------------------------------


def linear_ramp(ramp_months: int) -> list[Decimal]:
    """The default ramp of a rep with ``ramp_months``: even steps up to full quota.

    Tenure month k of n carries k / (n + 1) of full quota: 3 months give 25, 50, 75 %, then 100 %.
    The percents are exact (2 months give 33.33… and 66.66… %); rounding happens once, on the
    money they multiply. No ramp months means no ramp.
    """
    return [HUNDRED * month / (ramp_months + 1) for month in range(1, ramp_months + 1)]


def ramp_percents(plan: QuotaPlan, ramp_months: int) -> list[Decimal]:
    """The ramp a rep carries under ``plan``: the plan's profile, else the rep's linear ramp."""
    if plan.ramp_profile_id is not None:
        return [Decimal(p) for p in plan.ramp_profile.percents]
    return linear_ramp(ramp_months)


# --- Periods -------------------------------------------------------------------------------------


def plan_period(plan: QuotaPlan, period_key: str) -> FiscalPeriod:
    """The fiscal period ``period_key`` names, refused unless it lies in the plan's year."""
    try:
        period = fiscal_calendar().parse(period_key)
    except ValueError as error:
        raise DomainError(str(error), field="period") from None
    if period.fiscal_year != plan.fiscal_year:
        raise DomainError(
            f"{period.label} is not in FY{plan.fiscal_year}; pick a period of the plan's year.",
            field="period",
        )
    return period


def history_window(plan: QuotaPlan, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The bookings the history basis weighs: ``[start, end)``, twelve months.

    The twelve months before the fiscal year starts; when allocating before then, the twelve
    months up to and including ``as_of`` (the bookings known so far), so the window is always a
    full year.
    """
    year_start = fiscal_calendar().year_start(plan.fiscal_year)
    end = min(year_start, as_of + dt.timedelta(days=1))
    return end - relativedelta(months=12), end


# --- Corporate amounts ---------------------------------------------------------------------------


def _rate_on(currency, day) -> Subquery:
    """The exchange rate of ``currency`` in force on ``day`` (the latest on or before it)."""
    return Subquery(
        ExchangeRate.objects.filter(currency=currency, valid_from__lte=day)
        .order_by("-valid_from")
        .values("rate")[:1]
    )


def _require_rates(rows: QuerySet, currency_field: str, day_field: str | None, day=None) -> None:
    """Refuse when a row of ``rows`` (annotated with ``rate``) has no rate: name the first one."""
    missing = rows.filter(rate__isnull=True).order_by(*([day_field] if day_field else []))
    first = missing.values(currency_field, *([day_field] if day_field else [])).first()
    if first is not None:
        on = first[day_field] if day_field else day
        raise DomainError(
            f"No exchange rate for {first[currency_field]} on or before {on.isoformat()}: "
            "add one under Settings › Exchange rates.",
            field="currency",
        )


def won_deals(start: dt.date, end: dt.date, **filters) -> QuerySet:
    """Won deals with an amount closed in ``[start, end)`` (and matching ``filters``), annotated
    with ``rate`` (None when missing) and ``corporate``: the amount in the corporate currency at
    its close date's rate, rounded to the cent. Aggregate with ``_summed``, which refuses a
    missing rate."""
    corporate = org_settings().corporate_currency
    places = -minor_unit(corporate).as_tuple().exponent
    # The won stages' ids rather than a join (see crm.home: the planner combines indexes).
    won_stages = list(Stage.objects.filter(is_won=True).values_list("pk", flat=True))
    return (
        Deal.objects.filter(
            stage__in=won_stages,
            amount__isnull=False,
            close_date__gte=start,
            close_date__lt=end,
            **filters,
        )
        .order_by()
        .annotate(
            rate=Case(
                When(currency=corporate, then=Value(Decimal(1))),
                default=_rate_on(OuterRef("currency"), OuterRef("close_date")),
                output_field=_WIDE,
            )
        )
        .annotate(corporate=Round(F("amount") * F("rate"), places, output_field=_WIDE))
    )


def _summed(rows: QuerySet, by: str | None, amount, *, missing_rate) -> dict:
    """``amount`` summed per ``by`` (or in all under the key None) in one pass that also counts
    the rows without a rate; if there are any, ``missing_rate(rows)`` names one and refuses."""
    aggregates = {
        "total": Sum(amount, output_field=_WIDE),
        "missing": Count("pk", filter=Q(rate__isnull=True)),
    }
    if by is None:
        result = rows.aggregate(**aggregates)
        grouped = [(None, result["total"], result["missing"])]
    else:
        grouped = rows.values(by).annotate(**aggregates).values_list(by, "total", "missing")
    totals = {}
    for key, total, missing in grouped:
        if missing:
            missing_rate(rows)
        totals[key] = total if total is not None else ZERO
    return totals


def _deal_without_rate(rows: QuerySet) -> None:
    _require_rates(rows, "currency", "close_date")


def _won_bookings(start: dt.date, end: dt.date, by: str, **filters) -> dict[int, Decimal]:
    totals = _summed(
        won_deals(start, end, **filters), by, "corporate", missing_rate=_deal_without_rate
    )
    return {key: total for key, total in totals.items() if key is not None}


def _won_total(start: dt.date, end: dt.date, **filters) -> Decimal:
    return _summed(
        won_deals(start, end, **filters), None, "corporate", missing_rate=_deal_without_rate
    )[None]


def bookings_by_owner(start: dt.date, end: dt.date) -> dict[int, Decimal]:
    """Corporate won bookings closed in ``[start, end)`` per deal owner (one query)."""
    return _won_bookings(start, end, "owner_id")


def bookings_by_territory(start: dt.date, end: dt.date) -> dict[int, Decimal]:
    """Corporate won bookings closed in ``[start, end)`` per account territory (one query)."""
    return _won_bookings(start, end, "account__territory_id", account__territory_id__isnull=False)


def _potential(as_of: dt.date, by: str, **filters) -> dict[int, Decimal]:
    corporate = org_settings().corporate_currency
    accounts = (
        Account.objects.filter(annual_revenue__isnull=False, **filters)
        .order_by()
        .annotate(
            rate=Case(
                When(revenue_currency=corporate, then=Value(Decimal(1))),
                default=_rate_on(OuterRef("revenue_currency"), Value(as_of)),
                output_field=_WIDE,
            )
        )
    )
    totals = _summed(
        accounts,
        by,
        F("annual_revenue") * F("rate"),
        missing_rate=lambda rows: _require_rates(rows, "revenue_currency", None, as_of),
    )
    return {key: total for key, total in totals.items() if key is not None}


def potential_by_owner(as_of: dt.date) -> dict[int, Decimal]:
    """Accounts' annual revenue per owner, in the corporate currency at ``as_of``'s rates."""
    return _potential(as_of, "owner_id")


def potential_by_territory(as_of: dt.date) -> dict[int, Decimal]:
    """Accounts' annual revenue per territory, in the corporate currency at ``as_of``'s rates."""
    return _potential(as_of, "territory_id", territory_id__isnull=False)


# --- Team tree -----------------------------------------------------------------------------------


def team_tree() -> list[tuple[Team, int]]:
    """Every team depth first, children by name, with its depth (a root is 0). One query."""
    teams = list(Team.objects.select_related("manager").order_by("name", "pk"))
    children: dict[int | None, list[Team]] = defaultdict(list)
    for team in teams:
        children[team.parent_id].append(team)
    ordered: list[tuple[Team, int]] = []
    stack = [(team, 0) for team in reversed(children[None])]
    while stack:
        team, depth = stack.pop()
        ordered.append((team, depth))
        stack.extend((child, depth + 1) for child in reversed(children[team.pk]))
    return ordered


# --- Roll-up and gap -----------------------------------------------------------------------------


def bottom_up(plan: QuotaPlan, period_key: str) -> dict[int, Decimal]:
    """Per team id: the sum of the rep quotas (``amount``, ramped) in its subtree for the period.

    Reps count in their current team (their rep profile's). Teams without reps get 0.
    """
    plan_period(plan, period_key)
    own = (
        Quota.objects.filter(plan=plan, period_key=period_key, user__isnull=False)
        .order_by()
        .values("user__rep_profile__team_id")
        .annotate(total=Sum("amount"))
        .values_list("user__rep_profile__team_id", "total")
    )
    parent_of = {str(pk): (str(parent) if parent else None) for pk, parent in _team_parents()}
    totals = roll_up(parent_of, {str(team): total for team, total in own if team is not None})
    return {int(team): total for team, total in totals.items()}


def _team_parents() -> list[tuple[int, int | None]]:
    return list(Team.objects.order_by().values_list("pk", "parent_id"))


@dataclass(frozen=True)
class TeamGap:
    """A team's top-down quota against the sum of its reps' quotas (``gap`` as in quota_math:
    positive when the reps carry less than the team's target)."""

    team: Team
    depth: int
    top_down: Decimal
    bottom_up: Decimal
    gap: Decimal


def top_down_vs_bottom_up(
    plan: QuotaPlan, period_key: str, *, user: User | None = None
) -> list[TeamGap]:
    """Every team in tree order with its top-down quota, bottom-up sum and gap for the period;
    with ``user``, only the teams they may see."""
    plan_period(plan, period_key)
    up = bottom_up(plan, period_key)
    down = dict(
        Quota.objects.filter(plan=plan, period_key=period_key, team__isnull=False).values_list(
            "team_id", "amount"
        )
    )
    gaps = gap({str(k): v for k, v in down.items()}, {str(k): v for k, v in up.items()})
    visible = None
    if user is not None:
        visible = set(restrict(Team.objects.all(), user).values_list("pk", flat=True))
    return [
        TeamGap(
            team,
            depth,
            down.get(team.pk, ZERO),
            up.get(team.pk, ZERO),
            gaps.get(str(team.pk), ZERO),
        )
        for team, depth in team_tree()
        if visible is None or team.pk in visible
    ]


# --- The quota grid ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridRow:
    """A team or rep line of the grid: ``cells`` align with the grid's periods (None: no quota)."""

    kind: str  # "team" or "rep"
    holder: Team | User
    depth: int
    cells: list[Decimal | None]

    @property
    def total(self) -> Decimal:
        return sum((cell for cell in self.cells if cell is not None), ZERO)


@dataclass(frozen=True)
class QuotaGrid:
    """Quotas by period. ``totals`` add the rep rows shown (what the people on the page carry),
    so a team's own figure is never counted twice."""

    plan: QuotaPlan
    periods: list[FiscalPeriod]
    rows: list[GridRow]
    totals: list[Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.totals, ZERO)


def quota_grid(plan: QuotaPlan, *, kind: str = "month", user: User) -> QuotaGrid:
    """Team and rep quotas (``amount``) of the plan by month or quarter, as far as ``user`` sees.

    Rows: teams depth first (children by name), each followed by its reps (by name); the depth
    counts only visible teams above, so a manager's own team is at depth 0. Scoped with
    ``restrict``: a rep sees their own quotas (and their team's), a manager their subtree's.
    """
    if kind not in (PeriodKind.MONTH, PeriodKind.QUARTER):
        raise DomainError(f"The grid shows months or quarters, not '{kind}'.", field="kind")
    periods = fiscal_calendar().periods(plan.fiscal_year, kind)
    column = {period.key: index for index, period in enumerate(periods)}
    quotas = restrict(
        Quota.objects.filter(plan=plan, period_kind=kind, territory__isnull=True), user
    ).values_list("user_id", "team_id", "period_key", "amount")
    team_cells: dict[int, list[Decimal | None]] = {}
    rep_cells: dict[int, list[Decimal | None]] = {}
    for user_id, team_id, key, amount in quotas:
        cells = (
            rep_cells.setdefault(user_id, [None] * len(periods))
            if user_id is not None
            else team_cells.setdefault(team_id, [None] * len(periods))
        )
        if key in column:
            cells[column[key]] = amount
    profiles = (
        RepProfile.objects.filter(user_id__in=rep_cells)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username", "user_id")
    )
    reps_of: dict[int | None, list[User]] = defaultdict(list)
    for profile in profiles:
        reps_of[profile.team_id].append(profile.user)
    placed = {rep.pk for reps in reps_of.values() for rep in reps}
    rows: list[GridRow] = []
    visible_depth: dict[int, int] = {}  # team -> visible teams above it and itself
    for team, _depth in team_tree():
        above = visible_depth.get(team.parent_id, 0)
        if team.pk in team_cells:
            rows.append(GridRow("team", team, above, team_cells[team.pk]))
            visible_depth[team.pk] = above + 1
        else:
            visible_depth[team.pk] = above
        rows.extend(
            GridRow("rep", rep, visible_depth[team.pk], rep_cells[rep.pk])
            for rep in reps_of[team.pk]
        )
    strays = User.objects.filter(pk__in=set(rep_cells) - placed).order_by("last_name", "pk")
    rows.extend(GridRow("rep", rep, 0, rep_cells[rep.pk]) for rep in strays)
    totals = [
        sum((row.cells[i] or ZERO for row in rows if row.kind == "rep"), ZERO)
        for i in range(len(periods))
    ]
    return QuotaGrid(plan, periods, rows, totals)


# --- History of one quota ------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaChange:
    """One recorded change of a quota: when, by whom, why, and the amounts before and after."""

    at: dt.datetime
    action: str  # "insert", "update" or "delete"
    user: User | None
    reason: str
    amount_before: Decimal | None
    amount_after: Decimal
    full_amount_before: Decimal | None
    full_amount_after: Decimal
    source: str


def quota_changes(quota: Quota) -> list[QuotaChange]:
    """The quota's audit trail (pghistory events), oldest first, with who and why."""
    events = list(quota.events.select_related("pgh_context").order_by("pgh_created_at", "pgh_id"))
    user_ids = {
        event.pgh_context.metadata.get("user") for event in events if event.pgh_context is not None
    }
    users = User.objects.in_bulk([pk for pk in user_ids if pk is not None])
    changes: list[QuotaChange] = []
    previous = None
    for event in events:
        context = event.pgh_context.metadata if event.pgh_context is not None else {}
        changes.append(
            QuotaChange(
                at=event.pgh_created_at,
                action=event.pgh_label,
                user=users.get(context.get("user")),
                reason=context.get("reason", ""),
                amount_before=previous.amount if previous else None,
                amount_after=event.amount,
                full_amount_before=previous.full_amount if previous else None,
                full_amount_after=event.full_amount,
                source=event.source,
            )
        )
        previous = event
    return changes


# --- Reviews -------------------------------------------------------------------------------------


def reviews_waiting_for(user: User) -> QuerySet:
    """The quota reviews ``user`` can decide now: theirs, pending, on a plan in review, with
    every level above already accepted."""
    blocking = QuotaReview.objects.filter(
        plan_id=OuterRef("plan_id"), level__lt=OuterRef("level")
    ).exclude(status=ReviewStatus.ACCEPTED)
    return (
        QuotaReview.objects.filter(
            reviewer=user, status=ReviewStatus.PENDING, plan__status=QuotaPlanStatus.IN_REVIEW
        )
        .filter(~Exists(blocking))
        .select_related("plan", "team")
        .order_by("plan__fiscal_year", "level", "team__name")
    )


# --- Capacity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityResult:
    """Capacity against the company's monthly targets: month rows, the year, and whether the
    modelled team can carry the year's target (total capacity at least the total target)."""

    months: list[CapacityMonth]
    rows: list[CoverageRow]
    total: CoverageRow
    reachable: bool


def capacity_for_plan(
    *,
    plan: QuotaPlan,
    productivity: Decimal,
    annual_attrition: Decimal,
    backfill_months: int,
    planned_hires: Mapping[dt.date, int] | None = None,
) -> CapacityResult:
    """Model the fiscal year's capacity from today's reps and compare it with the plan's target.

    Headcount: every active rep (allocation gives each a quota), from their hire dates. Ramp as in
    allocation: the plan's profile, or each rep's linear ramp from their ramp months; planned
    hires and backfills then ramp like a rep with the default ramp months. With per-rep ramps the
    reps are modelled in groups of equal ramp (the model is linear in heads) and each month's
    capacity is rounded once, from the summed ramped heads. Targets: the seasonal split of the
    plan's target by its month weights.
    """
    calendar = fiscal_calendar()
    months = [period.start for period in calendar.periods(plan.fiscal_year, PeriodKind.MONTH)]
    reps = list(RepProfile.objects.filter(active=True).values_list("hire_date", "ramp_months"))
    default_months = RepProfile._meta.get_field("ramp_months").default
    groups: dict[tuple[Decimal, ...], list[dt.date]] = defaultdict(list)
    for hire_date, ramp_months in reps:
        groups[tuple(ramp_percents(plan, ramp_months))].append(hire_date)
    new_hire_ramp = tuple(ramp_percents(plan, default_months))
    groups.setdefault(new_hire_ramp, [])
    currency = plan.currency
    try:
        parts = [
            capacity_plan(
                CapacityInputs(
                    months=months,
                    hire_dates=hire_dates,
                    ramp_profile=list(profile),
                    productivity=Decimal(productivity),
                    annual_attrition=Decimal(annual_attrition),
                    backfill_months=backfill_months,
                    planned_hires=dict(planned_hires or {}) if profile == new_hire_ramp else {},
                ),
                currency,
            )
            for profile, hire_dates in groups.items()
        ]
    except ValueError as error:
        raise DomainError(str(error)) from None
    combined = []
    for i, month in enumerate(months):
        ramped_heads = sum((part[i].ramped_heads for part in parts), ZERO)
        combined.append(
            CapacityMonth(
                month=month,
                heads=sum((part[i].heads for part in parts), ZERO),
                ramped_heads=ramped_heads,
                capacity=round_money(ramped_heads * Decimal(productivity), currency),
            )
        )
    _quarters, targets = seasonal_split(
        plan.target, [Decimal(w) for w in plan.month_weights], currency
    )
    rows = capacity_vs_target(combined, targets)
    total = coverage_total(rows)
    return CapacityResult(combined, rows, total, total.capacity >= total.target)


def productivity_from_history(
    as_of: dt.date, *, ramp_profile: Sequence[Decimal] | None = None
) -> Decimal | None:
    """Bookings per fully ramped rep per month, from the twelve whole months before ``as_of``'s.

    = corporate won bookings of today's active reps in those months ÷ their average ramped heads
    (each rep counts ``ramp_factor`` of a head each month: 0 before hire, partly while ramping)
    ÷ 12, rounded to the cent. Active reps only, in both parts, so reps who left (whose leaving
    date is not kept) neither add bookings nor heads. Ramp: ``ramp_profile``, else each rep's
    linear ramp. None when no rep was selling in the window (nothing to learn from).
    """
    calendar = fiscal_calendar()
    this_month = calendar.period(as_of, PeriodKind.MONTH)
    months = [calendar.shift(this_month, -offset).start for offset in range(12, 0, -1)]
    end = this_month.start
    reps = list(
        RepProfile.objects.filter(active=True).values_list("user_id", "hire_date", "ramp_months")
    )
    ramped_heads = ZERO
    for _user, hire_date, ramp_months in reps:
        profile = list(ramp_profile) if ramp_profile is not None else linear_ramp(ramp_months)
        ramped_heads += sum((ramp_factor(hire_date, month, profile) for month in months), ZERO)
    if ramped_heads == 0:
        return None
    active = [user for user, _hire, _months in reps]
    bookings = _won_total(months[0], end, owner_id__in=active)
    # ramped_heads is summed over 12 months: ÷ 12 for the average, ÷ 12 again for per month.
    return round_money(bookings / (ramped_heads / 12) / 12, org_settings().corporate_currency)


# --- Attainment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attainment:
    """Quota against credited bookings for one rep or team and period."""

    period: FiscalPeriod
    quota: Decimal | None
    bookings: Decimal
    attainment: Decimal | None  # bookings ÷ quota to 4 places; None without a (non-zero) quota


def attainment(
    *,
    user: User | None = None,
    team: Team | None = None,
    territory: Territory | None = None,
    period_key: str,
    plan: QuotaPlan,
) -> Attainment:
    """A rep's (``user``), a team's or a territory's quota and bookings in a period of the
    plan's year.

    Credited bookings = closed-won deal amounts until compensation crediting exists: won deals
    owned by the rep, or by any rep of the team's subtree, or of accounts in the territory or
    below it, with a close date in the period, in the corporate currency. The quota is the
    holder's ``amount`` (ramped for reps); a territory's is found by its key, so a plan that went
    live after the quotas were allocated keeps its territories' quotas.
    """
    if sum(holder is not None for holder in (user, team, territory)) != 1:
        raise DomainError("Ask for the attainment of one rep, one team or one territory.")
    period = plan_period(plan, period_key)
    if user is not None:
        holder, owners = {"user": user}, {"owner_id": user.pk}
    elif team is not None:
        holder = {"team": team}
        owners = {"owner__rep_profile__team__in": team_subtree_ids([team.pk])}
    else:
        holder = {"territory__key": territory.key}
        owners = {"account__territory_id__in": _territory_subtree_ids(territory)}
    quota = (
        Quota.objects.filter(plan=plan, period_key=period.key, **holder)
        .values_list("amount", flat=True)
        .first()
    )
    bookings = _won_total(period.start, period.end + dt.timedelta(days=1), **owners)
    ratio = None
    if quota:
        ratio = (bookings / quota).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)
    return Attainment(period, quota, bookings, ratio)


def _territory_subtree_ids(territory: Territory) -> list[int]:
    children: dict[int | None, list[int]] = {}
    for pk, parent in Territory.objects.filter(plan_id=territory.plan_id).values_list(
        "pk", "parent_id"
    ):
        children.setdefault(parent, []).append(pk)
    found, stack = [], [territory.pk]
    while stack:
        node = stack.pop()
        found.append(node)
        stack += children.get(node, [])
    return found


# --- Pages and API -------------------------------------------------------------------------------


def visible_plans(user: User) -> QuerySet:
    """The quota plans ``user`` may open: every plan for the org-wide roles (admins, sales ops,
    finance); for managers and reps, the plans holding a quota they see (``restrict``) or a
    review they are asked for. (A plan's own visibility field is its creator, which would hide
    every plan from the people it sets quotas for.)"""
    plans = QuotaPlan.objects.all()
    role = getattr(user, "role", None) if user is not None and user.is_authenticated else None
    if role in ORG_WIDE_ROLES:
        return restrict(plans, user)
    if role is None:
        return plans.none()
    own_quota = restrict(Quota.objects.filter(plan_id=OuterRef("pk")), user)
    own_review = QuotaReview.objects.filter(plan_id=OuterRef("pk"), reviewer=user)
    return plans.filter(Exists(own_quota) | Exists(own_review))


def plan_list(user: User) -> QuerySet:
    """``visible_plans`` newest year first, with how many reviews each has and how many are
    accepted (``review_count``, ``accepted_count``): one query."""
    return (
        visible_plans(user)
        .select_related("ramp_profile")
        .annotate(
            review_count=Count("reviews", distinct=True),
            accepted_count=Count(
                "reviews", filter=Q(reviews__status=ReviewStatus.ACCEPTED), distinct=True
            ),
        )
        .order_by("-fiscal_year")
    )


def quota_cell_ids(plan: QuotaPlan, *, kind: str, user: User) -> dict[tuple[str, int, str], int]:
    """The ids of the quotas ``quota_grid`` shows, by ``(row kind, holder id, period key)``
    (row kind "team" or "rep"), so a page can link each cell to its quota. One query."""
    rows = restrict(
        Quota.objects.filter(plan=plan, period_kind=kind, territory__isnull=True), user
    ).values_list("pk", "user_id", "team_id", "period_key")
    return {
        ("rep", user_id, key) if user_id is not None else ("team", team_id, key): pk
        for pk, user_id, team_id, key in rows
    }


def rep_quotas(start: dt.date, end: dt.date) -> dict[int, Decimal]:
    """Each rep's quota for the months starting in ``[start, end]``, from published quota plans,
    in the corporate currency (a plan in another currency converted at the rate in force on each
    month's first day). Commission plans measure attainment against these.
    """
    corporate = org_settings().corporate_currency
    rows = Quota.objects.filter(
        plan__status=QuotaPlanStatus.PUBLISHED,
        period_kind="month",
        user__isnull=False,
        period_start__gte=start,
        period_start__lte=end,
    ).annotate(
        rate=Case(
            When(plan__currency=corporate, then=Value(Decimal(1))),
            default=_rate_on(OuterRef("plan__currency"), OuterRef("period_start")),
            output_field=_WIDE,
        )
    )
    _require_rates(rows, "plan__currency", "period_start")
    totals = rows.values("user_id").annotate(total=Sum(F("amount") * F("rate"), output_field=_WIDE))
    return {row["user_id"]: row["total"] for row in totals}

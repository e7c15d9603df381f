"""What-if modelling: what a plan version (typically a draft, before it is published) would cost,
against the live plan with the same key.

Two modes:

Actual period
    The credits of a past fiscal month, quarter or year, as a commission run would write them
    now (``crediting.write_credits`` into a throwaway run that is rolled back), priced by
    ``engine.simulate`` under the draft and under the live plan: the same items, windows,
    proration, quotas, caps, tiers and bonuses as a run. The people are those assigned to any
    version of the plan during the period (on their assignment dates), or the reps chosen (for
    the whole period). Each component pays the measured periods that end inside the chosen
    period, in full: quarterly advances of a yearly component are not modelled, so pick the
    fiscal year to include a yearly component.

Simulated attainment
    ``reps`` people whose attainment is drawn from a normal distribution (mean and standard
    deviation in % of quota, seeded, so the same inputs give the same answer; below 0 counts as
    0). Each rep's quota is the given amount, else the plan's fixed quota; every component is
    paid once, for one measured period, at that attainment (a component with its own fixed
    quota uses it). Per-deal bonuses need deals, so they are left out of this mode.

Both report the total cost, cost as a percentage of bookings (the people's owner and split
credits in the period, or quota × attainment when simulated), payout by attainment band, and
the difference from the live plan. Each payout is rounded once, as a run rounds its lines.
Nothing is saved: the throwaway run and its credits are rolled back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from compensation import crediting, engine, payout_math
from compensation.documents import Component, PlanDocument
from compensation.models import CompPlan, PlanAssignment, PlanStatus
from compensation.periods import Checkpoint
from compensation.plan_selectors import plan_document, plans_visible_to
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.fiscal import FiscalCalendar, FiscalPeriod, PeriodKind
from salesops.money import round_money
from salesops.org.models import User
from salesops.org.selectors import fiscal_calendar, org_settings

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PERIOD, SIMULATED = "period", "simulated"
MODES = (PERIOD, SIMULATED)
# Attainment bands (% of quota): lower bound inclusive, upper bound exclusive.
BANDS: list[tuple[str, Decimal | None, Decimal | None]] = [
    ("<50 %", None, Decimal(50)),
    ("50–80 %", Decimal(50), Decimal(80)),
    ("80–100 %", Decimal(80), Decimal(100)),
    ("100–120 %", Decimal(100), Decimal(120)),
    ("120–150 %", Decimal(120), Decimal(150)),
    ("150+ %", Decimal(150), None),
]
NO_QUOTA = "No quota"
MAX_SIMULATED_REPS = 10_000
PLANNER_PERMISSION = "compensation.change_compplan"


@dataclass(frozen=True)
class RepOutcome:
    """One person's (or simulated rep's) payout under the plan and under the live plan."""

    name: str
    attainment: Decimal | None
    band: str
    bookings: Decimal
    cost: Decimal
    live_cost: Decimal | None
    user_id: int | None = None

    @property
    def difference(self) -> Decimal | None:
        return None if self.live_cost is None else self.cost - self.live_cost


@dataclass(frozen=True)
class BandOutcome:
    """The reps of one attainment band and what they cost."""

    band: str
    reps: int
    cost: Decimal
    live_cost: Decimal | None

    @property
    def difference(self) -> Decimal | None:
        return None if self.live_cost is None else self.cost - self.live_cost


@dataclass(frozen=True)
class WhatIf:
    """The outcome of modelling ``plan`` against ``live`` (None when no version is live)."""

    plan: CompPlan
    live: CompPlan | None
    mode: str
    description: str
    currency: str
    reps: list[RepOutcome]
    bands: list[BandOutcome]
    notes: list[str] = field(default_factory=list)

    @property
    def bookings(self) -> Decimal:
        return sum((r.bookings for r in self.reps), ZERO)

    @property
    def cost(self) -> Decimal:
        return sum((r.cost for r in self.reps), ZERO)

    @property
    def live_cost(self) -> Decimal | None:
        if self.live is None:
            return None
        return sum((r.live_cost or ZERO for r in self.reps), ZERO)

    @property
    def difference(self) -> Decimal | None:
        live = self.live_cost
        return None if live is None else self.cost - live

    @property
    def cost_percent(self) -> Decimal | None:
        return _percent_of(self.cost, self.bookings)

    @property
    def live_cost_percent(self) -> Decimal | None:
        live = self.live_cost
        return None if live is None else _percent_of(live, self.bookings)


def _percent_of(cost: Decimal, bookings: Decimal) -> Decimal | None:
    if bookings <= 0:
        return None
    return (cost / bookings * HUNDRED).quantize(Decimal("0.01"))


def band_of(attainment: Decimal | None) -> str:
    """The attainment band of ``attainment`` (% of quota); "No quota" without one."""
    if attainment is None:
        return NO_QUOTA
    for name, low, high in BANDS:
        if (low is None or attainment >= low) and (high is None or attainment < high):
            return name
    raise AssertionError("the bands cover every attainment")


def _bands(reps: list[RepOutcome], with_live: bool) -> list[BandOutcome]:
    names = [name for name, _, _ in BANDS]
    if any(r.band == NO_QUOTA for r in reps):
        names.append(NO_QUOTA)
    return [
        BandOutcome(
            band=name,
            reps=sum(1 for r in reps if r.band == name),
            cost=sum((r.cost for r in reps if r.band == name), ZERO),
            live_cost=sum((r.live_cost or ZERO for r in reps if r.band == name), ZERO)
            if with_live
            else None,
        )
        for name in names
    ]


# --- Plans --------------------------------------------------------------------------------------


def live_plan_for(plan: CompPlan) -> CompPlan | None:
    """The published version of the plan's key (the plan itself when it is the one)."""
    return (
        CompPlan.objects.filter(key=plan.key, status=PlanStatus.PUBLISHED)
        .order_by("-version")
        .first()
    )


def whatif_plan_for(viewer: User, plan_id: int) -> CompPlan:
    """The plan version to model, for sales ops and admins (who build plans) only."""
    if not viewer.has_perm(PLANNER_PERMISSION):
        raise NotAllowed("Only sales ops can model comp plans.")
    plan = plans_visible_to(viewer).filter(pk=plan_id).first()
    if plan is None:
        raise NotFound("This comp plan does not exist or is not yours to see.")
    return plan


def _document(plan: CompPlan, currency: str) -> PlanDocument:
    document = plan_document(plan)
    if document.currency != currency:
        raise DomainError(
            f"Plan '{plan}' pays in {document.currency}, but commissions are paid in {currency} "
            "(the corporate currency); change the plan's currency to model it."
        )
    return document


# --- Mode (a): an actual period -----------------------------------------------------------------


def _measured_in(
    calendar: FiscalCalendar, kind: PeriodKind, start: dt.date, end: dt.date
) -> list[FiscalPeriod]:
    """Periods of ``kind`` that end inside ``start``..``end``."""
    found, day = [], start
    while day <= end:
        period = calendar.period(day, kind)
        if period.end <= end:
            found.append(period)
        day = period.end + dt.timedelta(days=1)
    return found


def _primary(document: PlanDocument) -> Component | None:
    """The component whose attainment places a rep in a band: the first commission with a quota."""
    return next(
        (c for c in document.components if c.kind == "commission" and c.quota is not None), None
    )


def whatif_period(*, plan: CompPlan, period_key: str, users: list[User] | None = None) -> WhatIf:
    """``plan`` and the live plan priced on the credits of a past fiscal period."""
    calendar = fiscal_calendar()
    currency = org_settings().corporate_currency
    try:
        period = calendar.parse((period_key or "").strip())
    except ValueError as error:
        raise DomainError(str(error), field="period") from None
    if period.start > timezone.localdate():
        raise DomainError(
            f"{period.label} has not started, so it has no credits yet: pick a past period.",
            field="period",
        )
    live = live_plan_for(plan)
    documents = {plan.pk: _document(plan, currency)}
    if live is not None:
        documents[live.pk] = _document(live, currency)
    windows = _people(plan, period, users)
    if not windows:
        raise DomainError(
            f"Nobody was on plan '{plan.key}' in {period.label}: choose the reps to model.",
            field="users",
        )

    def checkpoints_for(component: Component) -> list[Checkpoint]:
        measured = _measured_in(calendar, PeriodKind(component.period), period.start, period.end)
        return [Checkpoint(p, p.end, True) for p in measured]

    starts = [
        m.start
        for document in documents.values()
        for component in document.components
        for m in _measured_in(calendar, PeriodKind(component.period), period.start, period.end)
    ]
    credit_start = min(starts, default=period.start)
    notes = _period_notes(documents.values(), period, calendar)
    assignees = [
        engine.Assignee(
            id=index,
            user_id=user.pk,
            plan_id=plan_id,
            start=start,
            end=end,
            hire_date=None,
            document=document,
        )
        for plan_id, document in documents.items()
        for index, (user, start, end) in enumerate(windows, start=1)
    ]
    with engine.sandbox_run(start=credit_start, end=period.end, currency=currency) as run:
        crediting.write_credits(run_id=run.pk, start=credit_start, end=period.end)
        simulated = engine.simulate(run=run, assignees=assignees, checkpoints_for=checkpoints_for)
        bookings = _bookings(run.pk, [u.pk for u, _, _ in windows], period)
    primary_plan = plan.pk if _primary(documents[plan.pk]) else (live.pk if live else None)
    primary = _primary(documents[primary_plan]) if primary_plan is not None else None
    people: dict[int, User] = {user.pk: user for user, _, _ in windows}
    by_user: dict[int, list[engine.Simulated]] = {pk: [] for pk in people}
    for sim in simulated:
        by_user[sim.item.assignee.user_id].append(sim)
    reps = []
    for user_id, mine in by_user.items():
        cost = sum((s.amount for s in mine if s.item.assignee.plan_id == plan.pk), ZERO)
        live_cost = None
        if live is not None:
            live_cost = sum((s.amount for s in mine if s.item.assignee.plan_id == live.pk), ZERO)
        attainment = _attainment(mine, primary_plan, primary)
        reps.append(
            RepOutcome(
                name=str(people[user_id]),
                attainment=attainment,
                band=band_of(attainment),
                bookings=bookings.get(user_id, ZERO),
                cost=cost,
                live_cost=live_cost,
                user_id=user_id,
            )
        )
    who = "the chosen reps" if users else f"everyone on plan '{plan.key}'"
    return WhatIf(
        plan=plan,
        live=live,
        mode=PERIOD,
        description=f"Credits of {period.label} for {who}",
        currency=currency,
        reps=reps,
        bands=_bands(reps, live is not None),
        notes=notes,
    )


def _attainment(
    mine: list[engine.Simulated], plan_id: int | None, primary: Component | None
) -> Decimal | None:
    """A rep's attainment on the primary component: its measures over its quotas."""
    if primary is None:
        return None
    items = [
        s
        for s in mine
        if s.item.assignee.plan_id == plan_id and s.item.component.key == primary.key and s.quota
    ]
    quota = sum((s.quota for s in items), ZERO)
    if quota <= 0:
        return None
    measure = sum((s.measure for s in items), ZERO)
    return (measure / quota * HUNDRED).quantize(Decimal("0.01"))


def _people(
    plan: CompPlan, period: FiscalPeriod, users: list[User] | None
) -> list[tuple[User, dt.date, dt.date]]:
    """(person, from, to) to model: the chosen users for the whole period, or the assignments to
    any version of the plan that overlap the period, on their own dates."""
    if users:
        return [(user, dt.date.min, engine.FAR_FUTURE) for user in users]
    rows = (
        PlanAssignment.objects.filter(plan__key=plan.key, start_date__lte=period.end)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=period.start))
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username", "start_date")
    )
    return [(a.user, a.start_date, a.end_date or engine.FAR_FUTURE) for a in rows]


def _bookings(run_id: int, user_ids: list[int], period: FiscalPeriod) -> dict[int, Decimal]:
    """Owner and split bookings credited to each person, closed within ``period``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT user_id, sum(amount) FROM compensation_credit
            WHERE run_id = %s AND user_id = ANY(%s) AND credit_type IN ('owner', 'split')
              AND close_date BETWEEN %s AND %s
            GROUP BY user_id
            """,
            [run_id, user_ids, period.start, period.end],
        )
        return dict(cursor.fetchall())


def _period_notes(documents, period: FiscalPeriod, calendar: FiscalCalendar) -> list[str]:
    notes = []
    for document in documents:
        for component in document.components:
            kind = PeriodKind(component.period)
            if not _measured_in(calendar, kind, period.start, period.end):
                notes.append(
                    f"{document.name}: '{component.name}' is measured by {component.period} and "
                    f"no {component.period} ends in {period.label}, so it pays nothing here."
                )
            elif component.advances:
                notes.append(
                    f"{document.name}: '{component.name}' is paid in full for the year; "
                    "quarterly advances are not modelled."
                )
    return notes


# --- Mode (b): a simulated attainment distribution ----------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """Attainment drawn from N(mean, sd) in % of quota for ``reps`` reps, seeded."""

    reps: int
    mean: Decimal
    sd: Decimal
    seed: int
    quota: Decimal | None = None

    def attainments(self) -> list[Decimal]:
        """The drawn attainments, to 0.01 %, never below 0 (same seed, same draws)."""
        if not 1 <= self.reps <= MAX_SIMULATED_REPS:
            raise DomainError(f"Simulate between 1 and {MAX_SIMULATED_REPS:,} reps.", field="reps")
        if self.sd < 0:
            raise DomainError("A standard deviation cannot be negative.", field="sd")
        draws = np.random.default_rng(self.seed).normal(float(self.mean), float(self.sd), self.reps)
        return [max(ZERO, Decimal(f"{draw:.2f}")) for draw in draws]


def _rep_quota(document: PlanDocument, given: Decimal | None) -> Decimal | None:
    if given is not None:
        return given
    primary = _primary(document)
    if primary is not None and primary.quota.source == "fixed":
        return primary.quota.amount
    return None


def _simulated_cost(
    document: PlanDocument, attainment: Decimal, rep_quota: Decimal, currency: str
) -> Decimal:
    """One rep's payout at ``attainment``: every component once, each rounded."""
    total = ZERO
    for component in document.components:
        if component.kind == "bonus" and component.per_deal is not None:
            continue
        quota = rep_quota
        if component.quota is not None and component.quota.source == "fixed":
            quota = component.quota.amount
        measure = quota * attainment / HUNDRED
        payout = engine.component_payout(
            component,
            measure=measure,
            credits=0,
            shares=ZERO,
            quota=quota if component.quota is not None else None,
            cap=component.cap_amount,
        )
        total += round_money(payout.exact, currency)
    return total


def whatif_simulated(*, plan: CompPlan, distribution: Distribution) -> WhatIf:
    """``plan`` and the live plan priced on a simulated attainment distribution."""
    currency = org_settings().corporate_currency
    live = live_plan_for(plan)
    document = _document(plan, currency)
    live_document = _document(live, currency) if live is not None else None
    rep_quota = _rep_quota(document, distribution.quota)
    if rep_quota is None and live_document is not None:
        rep_quota = _rep_quota(live_document, None)
    if rep_quota is None or rep_quota <= 0:
        raise DomainError(
            "The plan takes quotas from the quota plan: enter the quota per rep to simulate.",
            field="quota",
        )
    notes = [
        f"{d.name}: '{c.name}' pays per deal, which a simulation has no deals for; left out."
        for d in filter(None, (document, live_document))
        for c in d.components
        if c.kind == "bonus" and c.per_deal is not None
    ]
    notes.append("Each component is paid once, for one measured period, at the drawn attainment.")
    reps = []
    for number, attainment in enumerate(distribution.attainments(), start=1):
        reps.append(
            RepOutcome(
                name=f"Rep {number}",
                attainment=attainment,
                band=band_of(attainment),
                bookings=round_money(rep_quota * attainment / HUNDRED, currency),
                cost=_simulated_cost(document, attainment, rep_quota, currency),
                live_cost=_simulated_cost(live_document, attainment, rep_quota, currency)
                if live_document is not None
                else None,
            )
        )
    description = (
        f"{distribution.reps:,} simulated reps, attainment N({payout_math.fmt_percent(distribution.mean)}, "
        f"sd {payout_math.fmt_percent(distribution.sd)}), quota {payout_math.fmt_number(rep_quota)}, "
        f"seed {distribution.seed}"
    )
    return WhatIf(
        plan=plan,
        live=live,
        mode=SIMULATED,
        description=description,
        currency=currency,
        reps=reps,
        bands=_bands(reps, live is not None),
        notes=notes,
    )


def whatif_run(
    *,
    viewer: User,
    plan_id: int,
    mode: str,
    period_key: str = "",
    user_ids: list[int] | None = None,
    distribution: Distribution | None = None,
) -> WhatIf:
    """The what-if for the page and the API: checks the caller, then runs the chosen mode."""
    plan = whatif_plan_for(viewer, plan_id)
    if mode == PERIOD:
        users = None
        if user_ids:
            users = list(User.objects.visible_to(viewer).filter(pk__in=user_ids))
            if len(users) != len(set(user_ids)):
                raise DomainError("Some of the chosen reps do not exist.", field="users")
        return whatif_period(plan=plan, period_key=period_key, users=users)
    if mode == SIMULATED:
        if distribution is None:
            raise DomainError("Give the attainment distribution to simulate.", field="mode")
        return whatif_simulated(plan=plan, distribution=distribution)
    raise DomainError(f"Mode must be one of {', '.join(MODES)}, not '{mode}'.", field="mode")

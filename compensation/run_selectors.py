"""Reads of commission runs for sales ops, finance and admins: the run list, a run's overview
(totals by team, sales role, component and line kind against the previous run), its payees, its
lines (filterable) and one line with the trace, credits and deals behind it.

Visibility: commission runs are an org-wide matter. Only org-wide roles holding
``compensation.view_commissionrun`` see runs (every run); anyone else sees none, so pages and the
API answer 403 or 404. Sellers read their own lines through ``compensation.statements``, never
through these selectors. Money is summed in SQL on exact Decimals and never re-rounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from celery.result import AsyncResult
from django.db.models import Count, Q, QuerySet, Sum

from compensation.documents import MEASURE_LABELS, MONEY_MEASURES
from compensation.models import (
    CommissionRun,
    Credit,
    CreditType,
    Dispute,
    DisputeStatus,
    LineKind,
    ManualAdjustment,
    PayoutLine,
    RunStatus,
)
from compensation.payout_math import fmt_rate
from compensation.statements import Cause, CreditRow, correction_causes, line_credit_rows
from salesops.celery import app as celery_app
from salesops.errors import DomainError, NotFound
from salesops.org.models import RepProfile, Team, User
from salesops.org.roles import ORG_WIDE_ROLES

ZERO = Decimal(0)
KIND_ORDER = {kind.value: index for index, kind in enumerate(LineKind)}
NO_TEAM, NO_ROLE = "No team", "No sales role"
# What a draw line's trace holds, as the line page words it.
DRAW_FACTS = {
    "draw_due": "Draw due this run",
    "earnings": "Earnings this run",
    "balance_before": "Draw balance before",
    "balance_after": "Draw balance after",
}

# --- Scope ---------------------------------------------------------------------------------------


def can_view_runs(user: User | None) -> bool:
    """Whether ``user`` may read commission runs at all (org-wide roles with the permission)."""
    return (
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.role in ORG_WIDE_ROLES
        and user.has_perm("compensation.view_commissionrun")
    )


def runs_visible_to(user: User | None) -> QuerySet[CommissionRun]:
    """Every run for those who may read runs; none for anyone else."""
    if not can_view_runs(user):
        return CommissionRun.objects.none()
    return CommissionRun.objects.all()


def run_list(user: User) -> QuerySet[CommissionRun]:
    """Runs newest period first, with who created, approved and paid them."""
    return runs_visible_to(user).select_related("created_by", "approved_by", "paid_by")


def run_for(user: User, pk: int) -> CommissionRun:
    """The run ``pk`` if ``user`` may read it; NotFound otherwise (the two look alike)."""
    run = run_list(user).select_related("calculated_by").filter(pk=pk).first()
    if run is None:
        raise NotFound("This commission run does not exist or is not yours to see.")
    return run


def previous_run(run: CommissionRun) -> CommissionRun | None:
    """The latest earlier run of the same kind (month or quarter): what the overview compares
    against, so a quarter is never compared with a month."""
    return (
        CommissionRun.objects.filter(period_kind=run.period_kind, period_end__lt=run.period_start)
        .order_by("-period_start")
        .first()
    )


# --- Progress ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunProgress:
    """Where a calculation stands. While it runs, the worker's task state is read live: the run
    row only changes when the calculation's one transaction commits."""

    percent: int
    step: str
    active: bool  # calculating: the page keeps polling


def run_progress(run: CommissionRun) -> RunProgress:
    """The run's progress, from the Celery task state while calculating (best effort)."""
    percent, step = run.progress, run.step
    active = run.status == RunStatus.CALCULATING
    if active and run.task_id:
        try:
            result = AsyncResult(run.task_id, app=celery_app)
            state, meta = result.state, result.info
        except Exception:  # a broker hiccup shows the row's values
            state, meta = None, None
        if state == "PROGRESS" and isinstance(meta, dict):
            percent = int(meta.get("percent", percent))
            step = str(meta.get("step", step))
    if active and step in ("", "Queued"):
        step = "Waiting for the worker"
    return RunProgress(percent=percent, step=step, active=active)


# --- Payees: team, role, employee id -------------------------------------------------------------


@dataclass(frozen=True)
class PayeeOrg:
    """Where a payee sits: the rep's team (or, for a manager without a rep profile, the first
    team they manage), their sales role and employee id (blank when they have none)."""

    team: Team | None
    role_key: str
    role_label: str
    employee_id: str

    @property
    def team_name(self) -> str:
        return self.team.name if self.team else NO_TEAM

    @property
    def cost_centre(self) -> str:
        return self.team.cost_centre if self.team else ""


def payee_orgs(user_ids: Iterable[int]) -> dict[int, PayeeOrg]:
    """Team, sales role and employee id of each person, in two queries whatever their number."""
    wanted = set(user_ids)
    found: dict[int, PayeeOrg] = {}
    for profile in RepProfile.objects.filter(user_id__in=wanted).select_related("team"):
        found[profile.user_id] = PayeeOrg(
            profile.team, profile.sales_role, profile.get_sales_role_display(), profile.employee_id
        )
    managers = Team.objects.filter(manager_id__in=wanted - set(found)).order_by("pk")
    for team in managers:
        found.setdefault(team.manager_id, PayeeOrg(team, "manager", "Manager", ""))
    for user_id in wanted - set(found):
        found[user_id] = PayeeOrg(None, "", NO_ROLE, "")
    return found


# --- Overview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row of a breakdown: this run's amount and lines, and the previous run's amount."""

    key: str
    label: str
    amount: Decimal
    lines: int
    previous: Decimal | None

    @property
    def change(self) -> Decimal | None:
        return None if self.previous is None else self.amount - self.previous


@dataclass(frozen=True)
class PayeeRow:
    user: User
    org: PayeeOrg
    total: Decimal
    lines: int
    open_disputes: int


@dataclass(frozen=True)
class RunOverview:
    run: CommissionRun
    previous: CommissionRun | None
    total: Decimal
    previous_total: Decimal | None
    lines_count: int
    by_team: list[Figure]
    by_role: list[Figure]
    by_component: list[Figure]
    by_kind: list[Figure]
    payees: list[PayeeRow]
    open_disputes: int

    @property
    def change(self) -> Decimal | None:
        return None if self.previous_total is None else self.total - self.previous_total


# A breakdown before comparing: key -> (label, amount, lines).
_Groups = dict[str, tuple[str, Decimal, int]]


@dataclass
class _RunSums:
    per_user: dict[int, tuple[Decimal, int]]
    by_component: _Groups
    by_kind: _Groups


def _add(groups: _Groups, key: str, label: str, amount: Decimal, lines: int) -> None:
    old_label, old_amount, old_lines = groups.get(key, (label, ZERO, 0))
    groups[key] = (old_label, old_amount + amount, old_lines + lines)


def _run_sums(run: CommissionRun) -> _RunSums:
    """Three aggregate queries: per payee, per component (or kind when none), per kind."""
    lines = PayoutLine.objects.filter(run=run)
    per_user = {
        row["user_id"]: (row["total"], row["lines"])
        for row in lines.values("user_id").annotate(total=Sum("amount"), lines=Count("id"))
    }
    by_component: _Groups = {}
    rows = lines.values("component_key", "component_name", "kind").annotate(
        total=Sum("amount"), lines=Count("id")
    )
    for row in rows.order_by("component_key", "kind", "component_name"):
        kind = LineKind(row["kind"])
        key = row["component_key"] or f"({kind.value})"
        label = row["component_name"] or kind.label
        _add(by_component, key, label, row["total"], row["lines"])
    by_kind: _Groups = {}
    for row in lines.values("kind").annotate(total=Sum("amount"), lines=Count("id")):
        kind = LineKind(row["kind"])
        _add(by_kind, kind.value, kind.label, row["total"], row["lines"])
    return _RunSums(per_user, by_component, by_kind)


def _by_org(sums: _RunSums, orgs: dict[int, PayeeOrg], field: str) -> _Groups:
    groups: _Groups = {}
    for user_id, (total, lines) in sums.per_user.items():
        org = orgs[user_id]
        if field == "team":
            key, label = (str(org.team.pk), org.team.name) if org.team else ("", NO_TEAM)
        else:
            key, label = org.role_key, org.role_label
        _add(groups, key, label, total, lines)
    return groups


def _compare(current: _Groups, previous: _Groups | None, order=None) -> list[Figure]:
    """Rows of this run and of the previous one (a row only there shows 0 now)."""
    keys = set(current) | set(previous or {})
    figures = []
    for key in keys:
        label, amount, lines = current.get(key) or (previous[key][0], ZERO, 0)
        before = None if previous is None else previous.get(key, ("", ZERO, 0))[1]
        figures.append(Figure(key, label, amount, lines, before))
    return sorted(figures, key=order or (lambda f: (f.label.lower(), f.key)))


def run_overview(run: CommissionRun, viewer: User) -> RunOverview:
    """The run's totals by team, sales role, component and kind, each against the previous run
    of the same kind; its payees with their totals and open disputes."""
    run = run_for(viewer, run.pk)
    before = previous_run(run)
    sums = _run_sums(run)
    old = _run_sums(before) if before is not None else None
    orgs = payee_orgs(set(sums.per_user) | set(old.per_user if old else ()))
    disputes = dict(
        Dispute.objects.filter(line__run=run, status=DisputeStatus.OPEN)
        .values("line__user_id")
        .annotate(count=Count("id"))
        .values_list("line__user_id", "count")
    )
    people = User.objects.filter(pk__in=sums.per_user).order_by(
        "last_name", "first_name", "username"
    )
    payees = [
        PayeeRow(person, orgs[person.pk], *sums.per_user[person.pk], disputes.get(person.pk, 0))
        for person in people
    ]
    total = sum((amount for amount, _lines in sums.per_user.values()), ZERO)
    previous_total = (
        sum((amount for amount, _lines in old.per_user.values()), ZERO) if old else None
    )
    return RunOverview(
        run=run,
        previous=before,
        total=total,
        previous_total=previous_total,
        lines_count=sum(lines for _amount, lines in sums.per_user.values()),
        by_team=_compare(_by_org(sums, orgs, "team"), old and _by_org(old, orgs, "team")),
        by_role=_compare(_by_org(sums, orgs, "role"), old and _by_org(old, orgs, "role")),
        by_component=_compare(sums.by_component, old and old.by_component),
        by_kind=_compare(
            sums.by_kind, old and old.by_kind, order=lambda f: KIND_ORDER.get(f.key, 99)
        ),
        payees=payees,
        open_disputes=sum(disputes.values()),
    )


# --- Lines ---------------------------------------------------------------------------------------


def run_lines(
    run: CommissionRun,
    viewer: User,
    *,
    person: int | None = None,
    component: str | None = None,
    kind: str | None = None,
) -> QuerySet[PayoutLine]:
    """The run's lines by person, kind and component, optionally of one person, one component
    key and one kind (an unknown kind is refused with the kinds there are)."""
    run = run_for(viewer, run.pk)
    lines = PayoutLine.objects.filter(run=run)
    if person:
        lines = lines.filter(user_id=person)
    if component:
        lines = lines.filter(component_key=component)
    if kind:
        if kind not in LineKind.values:
            raise DomainError(
                f"'{kind}' is not a line kind; use one of {', '.join(LineKind.values)}.",
                field="kind",
            )
        lines = lines.filter(kind=kind)
    return lines.select_related("user").order_by(
        "user__last_name", "user__first_name", "user__username", "kind", "component_key",
        "measured_start", "id",
    )  # fmt: skip


def run_credits(
    run: CommissionRun,
    viewer: User,
    *,
    person: int | None = None,
    deal: int | None = None,
    credit_type: str | None = None,
) -> QuerySet[Credit]:
    """The credits the run wrote (who was credited how much of which deal, and why), optionally
    of one person, one deal or one credit type (an unknown type is refused with the types)."""
    run = run_for(viewer, run.pk)
    credits = Credit.objects.filter(run=run)
    if person:
        credits = credits.filter(user_id=person)
    if deal:
        credits = credits.filter(deal_id=deal)
    if credit_type:
        if credit_type not in CreditType.values:
            raise DomainError(
                f"'{credit_type}' is not a credit type; use one of {', '.join(CreditType.values)}.",
                field="credit_type",
            )
        credits = credits.filter(credit_type=credit_type)
    return credits.order_by("user_id", "deal_id", "credit_type", "id")


def run_components(run: CommissionRun) -> list[tuple[str, str]]:
    """(key, name) of the plan components the run's lines pay, for a filter."""
    rows = (
        PayoutLine.objects.filter(run=run)
        .exclude(component_key="")
        .values_list("component_key", "component_name")
        .distinct()
        .order_by("component_key", "component_name")
    )
    return list({key: name for key, name in rows}.items())


def run_payees(run: CommissionRun) -> QuerySet[User]:
    """Everyone with a line in the run, by name, for a filter."""
    ids = PayoutLine.objects.filter(run=run).values("user_id")
    return User.objects.filter(pk__in=ids).order_by("last_name", "first_name", "username")


# --- One line with its trace ---------------------------------------------------------------------


@dataclass(frozen=True)
class SliceRow:
    tier: str
    floor: Decimal
    ceiling: Decimal | None
    measure: Decimal
    rate: Decimal
    rate_text: str  # "8 %" of a money measure, "500.00 each" of units or logos
    pay: Decimal


@dataclass(frozen=True)
class LineDetail:
    """A line and its trace in parts a page can word."""

    line: PayoutLine
    org: PayeeOrg
    steps: list[str]
    formula: str
    rounding: str
    measured: str
    credited_from: str
    credited_to: str
    measure_label: str
    measure: Decimal | None
    credits_count: int | None
    quota: Decimal | None
    proration: Decimal | None
    exact: Decimal | None
    rounded: Decimal | None
    already_paid: Decimal | None
    slices: list[SliceRow]
    causes: list[Cause]
    credits: list[CreditRow]
    disputes: list[Dispute]
    reason: str
    entered_by: str
    draw: dict[str, Decimal | None]

    @property
    def prorated(self) -> bool:
        return self.proration is not None and self.proration != 1

    @property
    def credits_measure(self) -> Decimal:
        return sum((row.measure for row in self.credits), ZERO)


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def line_detail(run: CommissionRun, pk: int, viewer: User) -> LineDetail:
    """Line ``pk`` of ``run`` with its trace, credits, deals and disputes; NotFound when the
    run is not the viewer's to read or the line is not in it."""
    run = run_for(viewer, run.pk)
    line = PayoutLine.objects.filter(run=run, pk=pk).select_related("user", "plan").first()
    if line is None:
        raise NotFound("This payout line is not in this commission run.")
    line.run = run
    trace = line.trace or {}
    money = trace.get("measure_name") in MONEY_MEASURES
    return LineDetail(
        line=line,
        org=payee_orgs([line.user_id])[line.user_id],
        steps=list(trace.get("steps") or []),
        formula=trace.get("formula", ""),
        rounding=trace.get("rounding", ""),
        measured=trace.get("measured", line.measured_label),
        credited_from=trace.get("credited_from", ""),
        credited_to=trace.get("credited_to", ""),
        measure_label=MEASURE_LABELS.get(trace.get("measure_name", ""), ""),
        measure=_decimal(trace.get("measure")),
        credits_count=trace.get("credits"),
        quota=_decimal(trace.get("quota")),
        proration=_decimal(trace.get("proration")),
        exact=_decimal(trace.get("exact")),
        rounded=_decimal(trace.get("rounded")),
        already_paid=_decimal(trace.get("already_paid")),
        slices=[
            SliceRow(
                tier=row["tier"],
                floor=Decimal(row["from"]),
                ceiling=_decimal(row.get("to")),
                measure=Decimal(row["measure"]),
                rate=Decimal(row["rate"]),
                rate_text=fmt_rate(Decimal(row["rate"]), money),
                pay=Decimal(row["pay"]),
            )
            for row in trace.get("slices") or []
        ],
        causes=correction_causes(trace),
        credits=line_credit_rows(line),
        disputes=list(Dispute.objects.filter(line=line).select_related("raised_by", "resolved_by")),
        reason=trace.get("reason", ""),
        entered_by=trace.get("by", ""),
        draw={label: _decimal(trace[key]) for key, label in DRAW_FACTS.items() if key in trace},
    )


# --- Manual adjustments --------------------------------------------------------------------------


def adjustments_visible_to(user: User) -> QuerySet[ManualAdjustment]:
    """Manual adjustments of every run, for those who may read runs; none for anyone else."""
    if not can_view_runs(user) or not user.has_perm("compensation.view_manualadjustment"):
        return ManualAdjustment.objects.none()
    return ManualAdjustment.objects.select_related("run", "user", "created_by", "dispute")


def run_adjustments(run: CommissionRun, viewer: User) -> QuerySet[ManualAdjustment]:
    """The run's manual adjustments, oldest first."""
    return adjustments_visible_to(viewer).filter(run=run).order_by("created_at", "pk")


def adjustment_people(run: CommissionRun) -> QuerySet[User]:
    """Who an adjustment can be for: people on a plan during the run's period, or active
    sellers."""
    on_plan = Q(plan_assignments__start_date__lte=run.period_end) & (
        Q(plan_assignments__end_date__isnull=True)
        | Q(plan_assignments__end_date__gte=run.period_start)
    )
    return (
        User.objects.filter(is_active=True)
        .filter(on_plan | Q(rep_profile__active=True))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )

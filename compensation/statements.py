"""Reads of commission statements, payout-line traces and disputes, shared by the pages, the
XLSX export and the API.

Visibility: a statement is the payout lines of one person in one run. Reps see their own lines
and managers those of their team subtree (``PayoutLine.objects.visible_to``), and only of
settled runs (approved or paid): a draft or calculated run may still change, so it stays with
sales ops and finance. Org-wide roles (ops, finance, admins) see every run. Everything outside
the viewer's scope raises ``NotFound``, so pages and the API answer 404 and never reveal that it
exists. Totals are exact Decimal sums of the lines, never re-rounded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Case, Count, IntegerField, Prefetch, QuerySet, Sum, Value, When

from compensation import payout_math
from compensation.documents import MEASURE_LABELS, MONEY_MEASURES, Component, validate
from compensation.models import (
    SETTLED,
    CommissionRun,
    CompPlan,
    Dispute,
    DisputeStatus,
    LineCredit,
    LineKind,
    PayoutLine,
)
from crm.models import Deal
from salesops.errors import DomainError, NotFound
from salesops.money import round_money
from salesops.org.models import User
from salesops.org.roles import ORG_WIDE_ROLES

ZERO = Decimal(0)
# Lines without a plan component (manual, draw, recovery) are grouped by kind.
KIND_GROUP_NAMES = {
    LineKind.MANUAL: "Manual adjustments",
    LineKind.DRAW: "Draw",
    LineKind.RECOVERY: "Draw recovery",
}
# Where groups of lines without a plan component come in a statement (plan components first).
GROUP_RANK = {LineKind.MANUAL: 1, LineKind.DRAW: 2, LineKind.RECOVERY: 3}
# What a draw or recovery line's trace records, in words.
DRAW_FACTS = {
    "draw_due": "Draw due this run",
    "earnings": "Earnings this run",
    "balance_before": "Draw balance owed before",
    "balance_after": "Draw balance owed after",
}
# Lines that carry a component's attainment for the period (not corrections of earlier ones).
CURRENT_KINDS = (LineKind.COMMISSION, LineKind.BONUS)

# --- Scope -----------------------------------------------------------------------------------


def _active(viewer: User | None) -> bool:
    return viewer is not None and viewer.is_authenticated and viewer.is_active


def sees_unsettled(viewer: User) -> bool:
    """Whether ``viewer`` may read runs that are not approved yet (ops, finance, admins)."""
    return _active(viewer) and viewer.role in ORG_WIDE_ROLES


def lines_visible_to(viewer: User) -> QuerySet[PayoutLine]:
    """Payout lines ``viewer`` may read: own or team subtree's of settled runs, or all."""
    if not _active(viewer) or not viewer.has_perm("compensation.view_payoutline"):
        return PayoutLine.objects.none()
    lines = PayoutLine.objects.visible_to(viewer)
    if not sees_unsettled(viewer):
        lines = lines.filter(run__status__in=SETTLED)
    return lines


def runs_visible_to(viewer: User) -> QuerySet[CommissionRun]:
    """Runs whose statements ``viewer`` may open: settled ones, or all for org-wide roles."""
    if not _active(viewer) or not viewer.has_perm("compensation.view_payoutline"):
        return CommissionRun.objects.none()
    if sees_unsettled(viewer):
        return CommissionRun.objects.all()
    return CommissionRun.objects.filter(status__in=SETTLED)


def payees_visible_to(viewer: User) -> QuerySet[User]:
    """People whose statements ``viewer`` may open: themselves, their team subtree, or all."""
    if not _active(viewer) or not viewer.has_perm("compensation.view_payoutline"):
        return User.objects.none()
    return User.objects.visible_to(viewer)


def statement_run(viewer: User, run_id: int) -> CommissionRun:
    """The run ``run_id`` if ``viewer`` may read statements of it, else NotFound."""
    run = runs_visible_to(viewer).filter(pk=run_id).first()
    if run is None:
        raise NotFound("This commission statement does not exist or is not yours to see.")
    return run


def statement_user(viewer: User, user_id: int) -> User:
    """The person ``user_id`` if ``viewer`` may read their statements, else NotFound."""
    user = payees_visible_to(viewer).filter(pk=user_id).first()
    if user is None:
        raise NotFound("This commission statement does not exist or is not yours to see.")
    return user


def _require_scope(user: User, run: CommissionRun, viewer: User) -> None:
    statement_run(viewer, run.pk)
    statement_user(viewer, user.pk)


# --- Statements ------------------------------------------------------------------------------


@dataclass
class ComponentGroup:
    """The lines of one plan component (or one kind of non-plan line) in a statement."""

    key: str
    name: str
    kind: str
    lines: list[PayoutLine] = field(default_factory=list)
    total: Decimal = ZERO
    # The latest line that measured the component this run: its attainment and tier.
    current: PayoutLine | None = None

    @property
    def attainment(self) -> Decimal | None:
        return self.current.attainment_after if self.current else None

    @property
    def tier(self) -> str:
        return self.current.tier if self.current else ""

    @property
    def quota(self) -> Decimal | None:
        return self.current.quota if self.current else None


@dataclass(frozen=True)
class PayoutCurve:
    """What a tiered commission component pays along attainment, and where the person stands."""

    component_key: str
    component_name: str
    measured_label: str
    quota: Decimal
    currency: str
    points: list[tuple[Decimal, Decimal]]
    attainment: Decimal
    payout: Decimal
    tier: str


@dataclass
class Statement:
    """One person's payout lines of one run, grouped by component, with their exact total."""

    user: User
    run: CommissionRun
    currency: str
    lines: list[PayoutLine]
    components: list[ComponentGroup]
    total: Decimal
    curves: list[PayoutCurve]
    disputes: list[Dispute]

    @property
    def settled(self) -> bool:
        return self.run.is_settled


def group_key(line: PayoutLine) -> str:
    """The component a line belongs to: its plan component, else its kind (manual, draw…)."""
    return line.component_key or line.kind


def _group_name(line: PayoutLine) -> str:
    return KIND_GROUP_NAMES.get(line.kind) or line.component_name or line.get_kind_display()


def group_lines(
    lines: list[PayoutLine], cache: dict[int, dict[str, Component]] | None = None
) -> list[ComponentGroup]:
    """Lines by component, each group with its exact total and the latest current line (for
    attainment and tier); plan components first in the plan's order, then manual adjustments,
    draw and recovery, as a statement reads."""
    cache = {} if cache is None else cache
    groups: dict[str, ComponentGroup] = {}
    for line in lines:
        key = group_key(line)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ComponentGroup(key, _group_name(line), line.kind)
        group.lines.append(line)
        group.total += line.amount
        if line.kind in CURRENT_KINDS and (
            group.current is None or _order(line) > _order(group.current)
        ):
            group.current = line

    return sorted(groups.values(), key=lambda g: _position(g.lines[0], g.name, cache))


def _position(line: PayoutLine, name: str, cache: dict) -> tuple:
    """Where the group of ``line`` comes: its rank (plan components first), then its place in
    the plan document, then its name."""
    keys = list(_components_of(line.plan, cache))
    key = group_key(line)
    return (GROUP_RANK.get(line.kind, 0), keys.index(key) if key in keys else len(keys), name)


def _order(line: PayoutLine) -> tuple:
    return (line.measured_end, line.pk)


def _statement_lines(user: User, run: CommissionRun) -> list[PayoutLine]:
    return list(
        PayoutLine.objects.filter(run=run, user=user)
        .select_related("plan")
        .prefetch_related(Prefetch("disputes", queryset=Dispute.objects.order_by("-raised_at")))
        .order_by("kind", "component_key", "measured_start", "id")
    )


def _components_of(plan: CompPlan | None, cache: dict[int, dict[str, Component]]):
    if plan is None:
        return {}
    if plan.pk not in cache:
        try:
            cache[plan.pk] = {c.key: c for c in validate(plan.document).components}
        except DomainError:  # an invalid stored document: no chart rather than no statement
            cache[plan.pk] = {}
    return cache[plan.pk]


def payout_curve(line: PayoutLine, component: Component) -> PayoutCurve | None:
    """The payout curve of ``component`` on ``line``'s quota, and the line's point on it:
    (attainment after the line, the period's exact payout for the line's measure)."""
    if component.kind != "commission" or not component.tiers:
        return None
    if not line.quota or line.quota <= 0 or line.attainment_after is None:
        return None
    cap = None
    if component.cap_amount is not None:
        proration = Decimal(str(line.trace.get("proration", "1")))
        cap = round_money(component.cap_amount * proration, line.currency)
    points = payout_math.curve(component, quota=line.quota, cap_amount=cap)
    # The same arithmetic as the engine: for a plain component this is the line's exact amount;
    # for an annual component paid in advances it is the full year-to-date payout.
    payout = payout_math.commission(
        component, measure=line.measure or ZERO, quota=line.quota, cap_amount=cap
    ).exact
    return PayoutCurve(
        component_key=component.key,
        component_name=line.component_name or component.name,
        measured_label=line.measured_label,
        quota=line.quota,
        currency=line.currency,
        points=points,
        attainment=line.attainment_after,
        payout=payout,
        tier=line.tier,
    )


def _curves(
    groups: list[ComponentGroup], cache: dict[int, dict[str, Component]]
) -> list[PayoutCurve]:
    curves = []
    for group in groups:
        line = group.current
        if line is None or line.kind != LineKind.COMMISSION:
            continue
        component = _components_of(line.plan, cache).get(line.component_key)
        curve = payout_curve(line, component) if component else None
        if curve is not None:
            curves.append(curve)
    return curves


def statement(user: User, run: CommissionRun, viewer: User) -> Statement:
    """``user``'s statement of ``run`` as ``viewer`` may see it (NotFound outside their scope,
    and for reps and managers before the run is approved)."""
    _require_scope(user, run, viewer)
    lines = _statement_lines(user, run)
    cache: dict[int, dict[str, Component]] = {}
    groups = group_lines(lines, cache)
    lines = [line for group in groups for line in group.lines]  # in the statement's order
    disputes = [dispute for line in lines for dispute in line.disputes.all()]
    disputes.sort(key=lambda dispute: dispute.raised_at, reverse=True)
    return Statement(
        user=user,
        run=run,
        currency=run.currency,
        lines=lines,
        components=groups,
        total=sum((line.amount for line in lines), ZERO),
        curves=_curves(groups, cache),
        disputes=disputes,
    )


@dataclass(frozen=True)
class Period:
    """One run of a person's statements, with its total and number of lines."""

    run: CommissionRun
    total: Decimal
    lines: int


def statement_periods(user: User, viewer: User) -> list[Period]:
    """The runs with lines for ``user`` that ``viewer`` may read, newest first, with totals."""
    statement_user(viewer, user.pk)
    rows = (
        lines_visible_to(viewer)
        .filter(user=user)
        .values("run_id")
        .annotate(total=Sum("amount"), lines=Count("id"))
    )
    totals = {row["run_id"]: row for row in rows}
    runs = CommissionRun.objects.filter(pk__in=totals).order_by("-period_start")
    return [Period(run, totals[run.pk]["total"], totals[run.pk]["lines"]) for run in runs]


@dataclass(frozen=True)
class Payee:
    """A person's total in one run, for a manager's or sales ops' list of statements."""

    user: User
    total: Decimal
    lines: int


def run_payees(run: CommissionRun, viewer: User) -> list[Payee]:
    """Everyone in ``viewer``'s scope with lines in ``run``, by name, with their totals."""
    statement_run(viewer, run.pk)
    rows = (
        lines_visible_to(viewer)
        .filter(run=run)
        .values("user_id")
        .annotate(total=Sum("amount"), lines=Count("id"))
    )
    totals = {row["user_id"]: row for row in rows}
    people = User.objects.filter(pk__in=totals).order_by("last_name", "first_name", "username")
    return [Payee(user, totals[user.pk]["total"], totals[user.pk]["lines"]) for user in people]


# --- Year to date ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentEarnings:
    key: str
    name: str
    total: Decimal


@dataclass(frozen=True)
class ComponentAttainment:
    """A component's latest measured attainment in the year (from the latest run's line)."""

    key: str
    name: str
    measured_label: str
    attainment: Decimal | None
    tier: str
    quota: Decimal | None
    run: CommissionRun


@dataclass(frozen=True)
class YearToDate:
    user: User
    fiscal_year: int
    currency: str | None
    total: Decimal
    by_component: list[ComponentEarnings]
    by_run: list[Period]
    attainment: list[ComponentAttainment]


def _year_order(line: PayoutLine) -> tuple:
    return (line.run.period_start, line.measured_end, line.pk)


def year_to_date(user: User, fiscal_year: int, viewer: User) -> YearToDate:
    """``user``'s earnings in ``fiscal_year`` by component and by run (runs ``viewer`` may
    read), and each component's latest attainment."""
    statement_user(viewer, user.pk)
    lines = list(
        lines_visible_to(viewer)
        .filter(user=user, run__fiscal_year=fiscal_year)
        .select_related("run", "plan")
        .order_by("run__period_start", "kind", "component_key", "measured_start", "id")
    )
    first: dict[str, PayoutLine] = {}
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    runs: dict[int, list[PayoutLine]] = defaultdict(list)
    latest: dict[str, PayoutLine] = {}
    for line in lines:
        key = group_key(line)
        first.setdefault(key, line)
        totals[key] += line.amount
        runs[line.run_id].append(line)
        if line.kind in CURRENT_KINDS and line.attainment_after is not None:
            best = latest.get(key)
            if best is None or _year_order(line) > _year_order(best):
                latest[key] = line
    cache: dict[int, dict[str, Component]] = {}
    keys = sorted(first, key=lambda k: _position(first[k], _group_name(first[k]), cache))
    by_component = [ComponentEarnings(k, _group_name(first[k]), totals[k]) for k in keys]
    by_run = [
        Period(group[0].run, sum((line.amount for line in group), ZERO), len(group))
        for group in runs.values()
    ]
    attainment = [
        ComponentAttainment(
            key,
            line.component_name or key,
            line.measured_label,
            line.attainment_after,
            line.tier,
            line.quota,
            line.run,
        )
        for key, line in latest.items()
    ]
    return YearToDate(
        user=user,
        fiscal_year=fiscal_year,
        currency=lines[0].currency if lines else None,
        total=sum((line.amount for line in lines), ZERO),
        by_component=by_component,
        by_run=by_run,
        attainment=attainment,
    )


# --- One line and its trace ------------------------------------------------------------------


def line_for(viewer: User, pk: int) -> PayoutLine:
    """The payout line ``pk`` if ``viewer`` may read it, else NotFound."""
    line = (
        lines_visible_to(viewer)
        .select_related("run", "user", "plan", "assignment")
        .filter(pk=pk)
        .first()
    )
    if line is None:
        raise NotFound("This payout line does not exist or is not yours to see.")
    return line


@dataclass(frozen=True)
class CreditRow:
    """One credit a line counted: the deal, the kind and share of credit, what it gave."""

    credit_id: int
    deal_id: int
    deal_name: str
    deal_exists: bool
    credit_type: str
    credit_type_label: str
    percent: Decimal
    close_date: object
    amount: Decimal
    measure: Decimal
    source_user: User | None


@dataclass(frozen=True)
class Slice:
    tier: str
    floor: Decimal
    ceiling: Decimal | None
    measure: Decimal
    rate: Decimal
    pay: Decimal
    rate_label: str  # as people read it: "8 %" of money, "500.00 each" per unit or logo


@dataclass(frozen=True)
class Cause:
    """A deal behind a correction: what it counted when paid and what it counts now."""

    deal_id: int
    name: str
    was: Decimal
    now: Decimal
    why: str
    deal_exists: bool


@dataclass
class LineTrace:
    """How a line was computed, in parts a page can word: the trace plus credits and deals."""

    line: PayoutLine
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
    slices: list[Slice]
    causes: list[Cause]
    credits: list[CreditRow]
    disputes: list[Dispute]
    reason: str = ""
    adjusted_by: str = ""
    dispute_id: int | None = None
    draw: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def prorated(self) -> bool:
        return self.proration is not None and self.proration != 1

    @property
    def credits_measure(self) -> Decimal:
        return sum((row.measure for row in self.credits), ZERO)


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def line_credit_rows(line: PayoutLine) -> list[CreditRow]:
    """The credits ``line`` counted, oldest close first, with their deals' names."""
    links = list(
        LineCredit.objects.filter(line=line)
        .select_related("credit", "credit__source_user")
        .order_by("credit__close_date", "credit__deal_id", "credit_id")
    )
    deal_ids = {link.credit.deal_id for link in links}
    names = dict(Deal.objects.filter(pk__in=deal_ids).values_list("id", "name"))
    return [
        CreditRow(
            credit_id=link.credit_id,
            deal_id=link.credit.deal_id,
            deal_name=names.get(link.credit.deal_id, "(deleted deal)"),
            deal_exists=link.credit.deal_id in names,
            credit_type=link.credit.credit_type,
            credit_type_label=link.credit.get_credit_type_display(),
            percent=link.credit.percent,
            close_date=link.credit.close_date,
            amount=link.credit.amount,
            measure=link.measure,
            source_user=link.credit.source_user,
        )
        for link in links
    ]


def correction_causes(trace: dict) -> list[Cause]:
    """The deals behind a correction line's trace, and whether each still exists."""
    rows = trace.get("cause") or []
    existing = set(
        Deal.objects.filter(pk__in=[row["deal"] for row in rows]).values_list("id", flat=True)
    )
    return [
        Cause(
            deal_id=row["deal"],
            name=row.get("name", ""),
            was=Decimal(str(row.get("was", "0"))),
            now=Decimal(str(row.get("now", "0"))),
            why=row.get("why", ""),
            deal_exists=row["deal"] in existing,
        )
        for row in rows
    ]


def line_trace(line: PayoutLine, viewer: User) -> LineTrace:
    """``line``'s trace as parts to show, with the credits and deals it counted and its
    disputes (those ``viewer`` may read); NotFound outside ``viewer``'s scope."""
    line = line_for(viewer, line.pk)
    trace = line.trace or {}
    money = trace.get("measure_name", "bookings") in MONEY_MEASURES
    return LineTrace(
        line=line,
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
            Slice(
                tier=row["tier"],
                floor=Decimal(row["from"]),
                ceiling=_decimal(row.get("to")),
                measure=Decimal(row["measure"]),
                rate=Decimal(row["rate"]),
                pay=Decimal(row["pay"]),
                rate_label=payout_math.fmt_rate(Decimal(row["rate"]), money),
            )
            for row in trace.get("slices") or []
        ],
        causes=correction_causes(trace),
        credits=line_credit_rows(line),
        disputes=list(
            disputes_visible_to(viewer)
            .filter(line=line)
            .select_related("line", "raised_by", "resolved_by")
        ),
        reason=trace.get("reason", ""),
        adjusted_by=trace.get("by", ""),
        dispute_id=trace.get("dispute"),
        draw=[(label, Decimal(trace[key])) for key, label in DRAW_FACTS.items() if key in trace],
    )


# --- Disputes --------------------------------------------------------------------------------


def disputes_visible_to(viewer: User) -> QuerySet[Dispute]:
    """Disputes ``viewer`` may read: their own, their team subtree's, or all; open ones first,
    then newest first."""
    if not _active(viewer) or not viewer.has_perm("compensation.view_dispute"):
        return Dispute.objects.none()
    open_first = Case(
        When(status=DisputeStatus.OPEN, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return (
        Dispute.objects.visible_to(viewer)
        .filter(line__in=lines_visible_to(viewer))
        .order_by(open_first, "-raised_at", "-id")
    )


def dispute_queue(viewer: User, status: str | None = None) -> QuerySet[Dispute]:
    """The disputes list: in ``viewer``'s scope, of one status when given, open first."""
    disputes = disputes_visible_to(viewer).select_related(
        "line", "line__run", "line__user", "raised_by", "resolved_by"
    )
    if status:
        disputes = disputes.filter(status=status)
    return disputes


def dispute_for(viewer: User, pk: int) -> Dispute:
    """The dispute ``pk`` if ``viewer`` may read it, else NotFound."""
    dispute = dispute_queue(viewer).filter(pk=pk).first()
    if dispute is None:
        raise NotFound("This dispute does not exist or is not yours to see.")
    return dispute

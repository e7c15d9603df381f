"""Reads of comp plans and assignments, shared by the pages, the API and the engine; and the
plan in words (how each component pays), for people who do not read plan documents.

Visibility: admins, sales ops and finance see every plan; reps and managers only the plan
versions they are (or were) assigned to: a plan is not scoped by team, so a seller never sees
a plan meant for someone else. Assignments are scoped as everything else is
(``PlanAssignment.objects.visible_to``): own rows, a manager's team subtree, or all.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from compensation import documents
from compensation.documents import MEASURE_LABELS, Component, PlanDocument, RoleTarget
from compensation.models import CompPlan, PlanAssignment, PlanStatus
from crm.models import DealType, Segment
from salesops.errors import NotFound
from salesops.org.models import Team, User
from salesops.org.roles import ORG_WIDE_ROLES

# --- Plans ---------------------------------------------------------------------------------------


def plans_visible_to(user: User) -> QuerySet[CompPlan]:
    """Plan versions ``user`` may read: all for org-wide roles, else those assigned to them."""
    if user is None or not user.is_authenticated or not user.is_active:
        return CompPlan.objects.none()
    if not user.has_perm("compensation.view_compplan"):
        return CompPlan.objects.none()
    if user.role in ORG_WIDE_ROLES:
        return CompPlan.objects.all()
    return CompPlan.objects.filter(
        pk__in=PlanAssignment.objects.filter(user=user).values("plan_id")
    )


def plan_for(user: User, pk: int) -> CompPlan:
    """The plan version ``pk`` if ``user`` may read it; NotFound otherwise (the two look alike)."""
    plan = (
        plans_visible_to(user)
        .select_related("created_by", "updated_by", "published_by")
        .filter(pk=pk)
        .first()
    )
    if plan is None:
        raise NotFound("This comp plan does not exist or is not yours to see.")
    return plan


def _running_on(on: dt.date | None, prefix: str = "") -> Q:
    """Assignments not ended before ``on`` (default today)."""
    on = on or timezone.localdate()
    return Q(**{f"{prefix}end_date__isnull": True}) | Q(**{f"{prefix}end_date__gte": on})


def plan_list(user: User, *, on: dt.date | None = None) -> QuerySet[CompPlan]:
    """Visible plan versions, each with ``assigned_count`` (people on it) and
    ``unaccepted_count`` (assignments to it, running on ``on`` (default today) or later, not
    accepted yet; only a published version can be accepted)."""
    return plans_visible_to(user).annotate(
        assigned_count=Count("assignments__user", distinct=True),
        unaccepted_count=Count(
            "assignments",
            filter=Q(assignments__accepted_at__isnull=True, status=PlanStatus.PUBLISHED)
            & _running_on(on, "assignments__"),
        ),
    )


def plan_versions(plan: CompPlan, user: User) -> QuerySet[CompPlan]:
    """Every version of ``plan`` that ``user`` may read, newest first."""
    return (
        plans_visible_to(user)
        .filter(key=plan.key)
        .select_related("published_by")
        .order_by("-version")
    )


def plan_document(plan: CompPlan) -> PlanDocument:
    """The plan's validated document (cached on the plan object)."""
    cached = getattr(plan, "_document", None)
    if cached is None:
        cached = documents.validate(plan.document)
        plan._document = cached
    return cached


# --- Assignments ---------------------------------------------------------------------------------


def assignments_visible_to(user: User) -> QuerySet[PlanAssignment]:
    """Assignments in ``user``'s scope, with plan, person and rep profile loaded."""
    return PlanAssignment.objects.visible_to(user).select_related(
        "plan", "user", "user__rep_profile"
    )


def plan_assignments(plan: CompPlan, user: User) -> QuerySet[PlanAssignment]:
    """The plan version's assignments in ``user``'s scope, by person then start; each has
    ``accepted_at`` (None: not accepted yet)."""
    return (
        assignments_visible_to(user)
        .filter(plan=plan)
        .order_by("user__last_name", "user__first_name", "user__username", "start_date")
    )


def unaccepted_assignments(
    plan: CompPlan | None = None, *, user: User | None = None, on: dt.date | None = None
) -> QuerySet[PlanAssignment]:
    """Assignments to published plans, running on ``on`` (default today) or later, that their
    person has not accepted; of one plan version, or all; in ``user``'s scope when given."""
    rows = PlanAssignment.objects.all() if user is None else PlanAssignment.objects.visible_to(user)
    rows = rows.filter(accepted_at__isnull=True, plan__status=PlanStatus.PUBLISHED).filter(
        _running_on(on)
    )
    if plan is not None:
        rows = rows.filter(plan=plan)
    return rows.select_related("plan", "user").order_by(
        "plan__name", "plan__version", "user__last_name", "user__first_name", "start_date"
    )


def current_assignment(user: User, on: dt.date | None = None) -> PlanAssignment | None:
    """The assignment ``user`` is on on the day ``on`` (default today), if any."""
    on = on or timezone.localdate()
    return (
        PlanAssignment.objects.filter(user=user, start_date__lte=on)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=on))
        .select_related("plan", "user")
        .order_by("-start_date")
        .first()
    )


def next_assignment(user: User, after: dt.date | None = None) -> PlanAssignment | None:
    """The first assignment of ``user`` starting after ``after`` (default today)."""
    after = after or timezone.localdate()
    return (
        PlanAssignment.objects.filter(user=user, start_date__gt=after)
        .select_related("plan", "user")
        .order_by("start_date")
        .first()
    )


def role_of(assignment: PlanAssignment, *, manages_team: bool | None = None) -> str | None:
    """The plan role the person holds: their sales role if the plan has a target for it, else
    ``manager`` if they manage a team (a player-coach on a manager plan), else their sales
    role (which the plan does not price) or None. ``manages_team`` saves the query when the
    caller knows."""
    user = assignment.user
    profile = getattr(user, "rep_profile", None)
    document = plan_document(assignment.plan)
    if profile is not None and document.role_target(profile.sales_role) is not None:
        return profile.sales_role
    if manages_team is None:
        manages_team = Team.objects.filter(manager=user).exists()
    if manages_team:
        return "manager"
    return profile.sales_role if profile is not None else None


def role_target_row(
    assignment: PlanAssignment, *, manages_team: bool | None = None
) -> RoleTarget | None:
    """The plan document's role target (incentive, base, OTE) for the assigned person."""
    role = role_of(assignment, manages_team=manages_team)
    return None if role is None else plan_document(assignment.plan).role_target(role)


def role_target_for(
    assignment: PlanAssignment, *, manages_team: bool | None = None
) -> Decimal | None:
    """The assignment's target incentive: its own override, else the plan's target for the
    person's role (None if the plan prices neither)."""
    if assignment.target_incentive is not None:
        return assignment.target_incentive
    target = role_target_row(assignment, manages_team=manages_team)
    return None if target is None else target.target_incentive


def assignment_rows(assignments: list[PlanAssignment]) -> list[dict]:
    """Assignments for a table: each with its person's ``role`` and ``target_incentive`` (the
    override or the plan's), whether it ``is_override``, and ``accepted``; one query for all."""
    manager_ids = set(
        Team.objects.filter(manager__in={a.user_id for a in assignments}).values_list(
            "manager_id", flat=True
        )
    )
    rows = []
    for assignment in assignments:
        manages = assignment.user_id in manager_ids
        rows.append(
            {
                "assignment": assignment,
                "role": role_of(assignment, manages_team=manages),
                "target_incentive": role_target_for(assignment, manages_team=manages),
                "is_override": assignment.target_incentive is not None,
                "accepted": assignment.accepted_at is not None,
            }
        )
    return rows


# --- The plan in words ---------------------------------------------------------------------------

PERIOD_WORDS = {"month": "monthly", "quarter": "quarterly", "year": "yearly"}
PER_UNIT = {"units": "unit", "new_logos": "new logo"}
CREDIT_WORDS = {
    "owner": "owner",
    "split": "split",
    "overlay": "overlay",
    "rollup": "manager roll-up",
    "territory": "territory",
}
FILTER_WORDS = {
    "pipelines": "pipelines",
    "deal_types": "deal types",
    "product_families": "product families",
    "segments": "segments",
}


def percent(value: Decimal | int) -> str:
    """``Decimal("12.50")`` → ``"12.5 %"``."""
    text = format(Decimal(value).normalize(), "f")
    return f"{text} %"


def money(value: Decimal, currency: str) -> str:
    return f"{currency} {Decimal(value):,.2f}"


def _listed(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _rate(component: Component, rate: Decimal, currency: str) -> str:
    """A rate as people say it: "8 %" of a money measure, "USD 500.00 per new logo"."""
    if component.is_money:
        return percent(rate * 100)
    return f"{money(rate, currency)} per {PER_UNIT[component.measure]}"


def _tiers(component: Component, currency: str) -> str:
    parts = []
    for index, tier in enumerate(component.tiers):
        label = f" ({tier.label})" if tier.label else ""
        rate = _rate(component, tier.rate, currency)
        if index + 1 < len(component.tiers):
            upper = component.tiers[index + 1].floor
            span = f"{format(tier.floor.normalize(), 'f')}–{percent(upper)}"
            parts.append(f"{span} at {rate}{label}")
        else:
            parts.append(f"above {percent(tier.floor)} at {rate}{label}")
    return f"Tiers ({component.tier_mode}): {', '.join(parts)}"


_FILTER_LABELS = {
    "deal_types": dict(DealType.choices),
    "segments": dict(Segment.choices),
}


def describe_component(component: Component, currency: str) -> list[str]:
    """How one component pays, as a few sentences, e.g. "Tiers (marginal): 0–50 % at 4 %,
    50–100 % at 8 %, above 100 % at 12 %; cap 200 % of quota"."""
    measure = MEASURE_LABELS[component.measure]
    period = PERIOD_WORDS[component.period]
    kind = "Commission" if component.kind == "commission" else "Bonus"
    lines = [f"{kind} on {measure.lower()}, measured {period}."]
    if component.advances:
        lines.append(
            f"Advances paid each quarter: {percent(component.advance_percent)} of the year-to-date "
            "payout, trued up at year end."
        )
    credits = _listed([CREDIT_WORDS[c] for c in component.credit_types])
    lines.append(f"Counts {credits} credits.")
    filters = [
        f"{FILTER_WORDS[name]} {', '.join(_FILTER_LABELS.get(name, {}).get(v, v) for v in values)}"
        for name, values in component.filters.model_dump().items()
        if values
    ]
    if filters:
        lines.append(f"Only deals in {'; '.join(filters)}.")
    if component.weight != 100:
        lines.append(f"Carries {percent(component.weight)} of the target incentive.")
    if component.quota is not None:
        if component.quota.source == "fixed":
            lines.append(
                f"Quota: {money(component.quota.amount, currency)} per {component.period}."
            )
        else:
            lines.append("Quota: the rep's published quota.")
    if component.kind == "commission":
        if component.tiers:
            pay = _tiers(component, currency)
        else:
            pay = f"Rate: {_rate(component, component.rate, currency)}"
            if component.is_money:
                pay += f" of {measure.lower()}"
        extras = []
        if component.threshold is not None:
            extras.append(f"nothing below {percent(component.threshold)} of quota")
        if component.cap_attainment is not None:
            extras.append(f"cap {percent(component.cap_attainment)} of quota")
        if component.cap_amount is not None:
            extras.append(f"cap {money(component.cap_amount, currency)} per {component.period}")
        lines.append(pay + ("; " + "; ".join(extras) if extras else "") + ".")
    else:
        if component.per_deal is not None:
            lines.append(f"Pays {money(component.per_deal, currency)} per deal.")
        else:
            if component.target is not None:
                goal = (
                    money(component.target, currency)
                    if component.is_money
                    else f"{format(component.target.normalize(), 'f')} "
                    f"{MEASURE_LABELS[component.measure].lower()}"
                )
            else:
                goal = f"{percent(component.target_attainment)} of quota"
            lines.append(f"Pays {money(component.bonus_amount, currency)} on reaching {goal}.")
    if component.window_start or component.window_end:
        start = component.window_start.isoformat() if component.window_start else "the start"
        end = component.window_end.isoformat() if component.window_end else "the end"
        lines.append(f"Counts deals credited from {start} to {end}.")
    return lines


def describe_draw(document: PlanDocument) -> str | None:
    draw = document.draw
    if draw is None:
        return None
    kind = "Recoverable" if draw.kind == "recoverable" else "Non-recoverable (guaranteed)"
    return (
        f"{kind} draw of {money(draw.monthly_amount, document.currency)} a month for the first "
        f"{draw.months} month{'s' if draw.months != 1 else ''} of an assignment."
    )


def plan_in_words(plan: CompPlan) -> dict:
    """The plan for the detail and My plan pages: components in words, roles with OTE, draw."""
    document = plan_document(plan)
    return {
        "document": document,
        "components": [
            {"component": c, "lines": describe_component(c, document.currency)}
            for c in document.components
        ],
        "roles": [
            {
                "role": role.role,
                "target_incentive": money(role.target_incentive, document.currency),
                "base_salary": money(role.base_salary, document.currency),
                "ote": money(role.on_target_earnings, document.currency),
            }
            for role in document.roles
        ],
        "draw": describe_draw(document),
        "credit_date": "invoice date" if document.credit_date == "invoice_date" else "close date",
    }

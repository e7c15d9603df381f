"""Dashboard and KPI reference pages: thin, the work is in reporting.dashboards."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from crm.models import DealType, Pipeline, Segment
from reporting import dashboards, selectors
from reporting.engine import Filters
from reporting.kpis import KPIS
from reporting.models import ScopeKind
from salesops.errors import DomainError, NotAllowed
from salesops.fiscal import PeriodKind
from salesops.org.models import Team
from salesops.org.roles import ORG_WIDE_ROLES, Role
from salesops.org.selectors import fiscal_calendar, managed_team_ids


@login_required
def dashboard(request):
    """The signed-in person's dashboard: own figures, their team, or the company."""
    try:
        scope = selectors.parse_scope(request.user, request.GET.get("scope"))
    except NotAllowed as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        raise Http404(error.message) from error
    calendar = fiscal_calendar()
    try:
        period = calendar.parse(request.GET["period"])
    except (KeyError, ValueError):
        period = calendar.period(timezone.localdate(), PeriodKind.QUARTER)
    filters = Filters(
        pipeline_id=_int(request.GET.get("pipeline")),
        segment=_choice(request.GET.get("segment"), Segment.values),
        deal_type=_choice(request.GET.get("type"), DealType.values),
    )
    data = dashboards.build(request.user, dashboards.DashboardQuery(scope, period, filters))
    return render(
        request,
        "reporting/dashboard.html",
        {
            **data,
            "scope_choices": _scope_choices(request.user),
            "period_choices": dashboards.period_choices(),
            "pipelines": Pipeline.objects.filter(active=True).order_by("position", "name"),
            "segments": Segment.choices,
            "deal_types": DealType.choices,
        },
    )


@login_required
def quality(request):
    """Sales ops: open deals with data-quality issues, by region, each bar opening the deals."""
    if request.user.role not in (Role.OPS, Role.ADMIN):
        raise PermissionDenied
    return render(request, "reporting/quality.html", dashboards.quality(request.user))


@login_required
def kpi_reference(request):
    """What every KPI means, in words: the same definitions the engine computes."""
    return render(request, "reporting/kpi_reference.html", {"kpis": KPIS})


def _scope_choices(user) -> list[tuple[str, str]]:
    """The scopes a person can switch the dashboard to."""
    if user.role in ORG_WIDE_ROLES:
        teams = Team.objects.order_by("name")
        return [("company:0", "Company")] + [(f"team:{t.pk}", t.name) for t in teams]
    if user.role == Role.MANAGER:
        teams = Team.objects.filter(pk__in=managed_team_ids(user)).order_by("name")
        return [(f"team:{t.pk}", t.name) for t in teams] + [(f"rep:{user.pk}", "My own deals")]
    return [(f"{ScopeKind.REP}:{user.pk}", "My figures")]


def _choice(text: str | None, allowed: list[str]) -> str | None:
    return text if text in allowed else None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None

"""Dashboard and KPI reference pages: thin, the work is in reporting.dashboards."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from crm.models import DealType, Pipeline, Segment
from reporting import dashboards
from reporting.kpis import KPIS
from reporting.models import ScopeKind
from salesops.errors import DomainError, NotAllowed
from salesops.exports import EXPORT_FORMATS, export_response
from salesops.org.models import Team
from salesops.org.roles import ORG_WIDE_ROLES, Role
from salesops.org.selectors import managed_team_ids


@login_required
def dashboard(request):
    """The signed-in person's dashboard: own figures, their team, or the company."""
    data = dashboards.build(request.user, _query(request))
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
            "query": request.GET.urlencode(),
        },
    )


@login_required
def dashboard_export(request, fmt: str):
    """The dashboard's figures (tiles, chart series, top deals) as CSV or XLSX."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    data = dashboards.build(request.user, _query(request))
    return export_response(
        headers=["Section", "Item", "Period", "Measure", "Value"],
        rows=dashboards.export_rows(data),
        filename=f"dashboard-{data['period'].key}",
        fmt=fmt,
    )


def _query(request) -> dashboards.DashboardQuery:
    try:
        return dashboards.query_from(request.user, request.GET)
    except NotAllowed as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        raise Http404(error.message) from error


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

"""Kernel pages: the home page per role, the team tree, exchange rates and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.module_loading import import_string
from pghistory.models import Events

from salesops.errors import DomainError
from salesops.fiscal import PeriodKind
from salesops.org import selectors, services
from salesops.org.forms import ExchangeRateForm, OrgSettingsForm
from salesops.org.models import ExchangeRate, RepProfile, Team, User
from salesops.org.roles import Role


@login_required
def home(request):
    user = request.user
    role = user.role
    today = timezone.localdate()
    org = selectors.org_settings()
    calendar = org.fiscal_calendar
    periods = [calendar.period(today, kind) for kind in PeriodKind]
    context = {
        "role": role,
        "today": today,
        "periods": [{"period": p, "days_left": (p.end - today).days} for p in periods],
        "org": org,
    }
    if role == Role.REP:
        profile = RepProfile.objects.select_related("team__manager").filter(user=user).first()
        context["profile"] = profile
        context["ramp_end"] = selectors.rep_ramp_end(profile) if profile else None
        template = "home/rep.html"
    elif role == Role.MANAGER:
        context["teams"] = selectors.team_tree_visible_to(user)
        reps = list(selectors.reps_visible_to(user))
        for rep in reps:
            rep.ramp_end = selectors.rep_ramp_end(rep)
        context["reps"] = reps
        template = "home/manager.html"
    elif role in (Role.OPS, Role.ADMIN):
        # Four queries for six figures: the team counts in one, the rep total from its breakdown.
        reps_by_role = _count_by(RepProfile.objects.filter(active=True), "sales_role")
        teams = Team.objects.aggregate(
            teams=Count("pk"), teams_without_manager=Count("pk", filter=Q(manager__isnull=True))
        )
        context["counts"] = {
            "teams": teams["teams"],
            "reps": sum(row["n"] for row in reps_by_role),
            "users": User.objects.filter(is_active=True).count(),
            "teams_without_manager": teams["teams_without_manager"],
        }
        context["reps_by_role"] = reps_by_role
        context["users_by_role"] = _users_by_role()
        template = "home/admin.html" if role == Role.ADMIN else "home/ops.html"
    elif role == Role.FINANCE:
        context["rates"] = selectors.exchange_rates_current()
        context["quarters"] = calendar.periods(calendar.fiscal_year_of(today), PeriodKind.QUARTER)
        template = "home/finance.html"
    else:
        template = "home/no_role.html"
    # Apps to the right of the kernel add their sections through settings, not imports.
    context["home_sections"] = [
        section
        for path in settings.SALESOPS_HOME_SECTIONS
        if (section := import_string(path)(request)) is not None
    ]
    return render(request, template, context)


def _count_by(queryset, field: str) -> list[dict]:
    return list(queryset.values(field).annotate(n=Count("pk")).order_by(field))


def _users_by_role() -> list[dict]:
    return list(
        Group.objects.filter(name__in=[r.value for r in Role])
        .annotate(n=Count("user"))
        .values("name", "n")
        .order_by("name")
    )


@login_required
@permission_required("org.view_team", raise_exception=True)
def team_list(request):
    rows = selectors.team_tree_visible_to(request.user)
    return render(request, "org/team_list.html", {"rows": rows})


@login_required
@permission_required("org.view_exchangerate", raise_exception=True)
def rate_list(request):
    """Rates in force and their history; finance and admins enter new ones here."""
    can_add = request.user.has_perm("org.add_exchangerate")
    form = ExchangeRateForm(request.POST or None) if can_add else None
    if request.method == "POST":
        if not can_add:
            raise PermissionDenied
        if form.is_valid():
            try:
                rate = services.exchange_rate_set(**form.cleaned_data, acting_user=request.user)
            except DomainError as error:
                form.add_error(error.field, error.message)
            else:
                messages.success(request, f"Saved: {rate}.")
                return redirect("org:rate_list")
    return render(
        request,
        "org/rate_list.html",
        {
            "org": selectors.org_settings(),
            "current": selectors.exchange_rates_current(),
            "history": ExchangeRate.objects.all()[:200],
            "form": form,
        },
    )


@login_required
@permission_required("org.change_orgsettings", raise_exception=True)
def org_settings_edit(request):
    """Company name, corporate currency and the fiscal calendar."""
    current = selectors.org_settings()
    initial = {
        "company_name": current.company_name,
        "corporate_currency": current.corporate_currency,
        "fiscal_year_start_month": current.fiscal_year_start_month,
        "fiscal_year_naming": current.fiscal_year_naming,
    }
    form = OrgSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.org_settings_update(**form.cleaned_data, acting_user=request.user)
        except DomainError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(request, "Settings saved.")
            return redirect("org:settings")
    calendar = current.fiscal_calendar
    today = timezone.localdate()
    return render(
        request,
        "org/settings.html",
        {
            "form": form,
            "quarters": calendar.periods(calendar.fiscal_year_of(today), PeriodKind.QUARTER),
        },
    )


@login_required
def api_token(request):
    """Show, create or replace the signed-in user's API token."""
    from rest_framework.authtoken.models import Token

    token = Token.objects.filter(user=request.user).first()
    if request.method == "POST":
        if token:
            token.delete()
        token = Token.objects.create(user=request.user)
        messages.success(request, "A new API token was created; the old one no longer works.")
        return redirect("org:api_token")
    return render(request, "org/api_token.html", {"token": token})


@login_required
def audit_list(request):
    """Every recorded change, newest first, filterable by model; org-wide roles only."""
    if request.user.role not in (Role.OPS, Role.FINANCE, Role.ADMIN):
        raise PermissionDenied
    events = Events.objects.order_by("-pgh_created_at", "-pgh_id")
    model = request.GET.get("model", "")
    if model:
        events = events.filter(pgh_model=model)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    users = User.objects.in_bulk({(e.pgh_context or {}).get("user") for e in page} - {None})
    for event in page:
        metadata = event.pgh_context or {}
        event.actor = users.get(metadata.get("user"))
        event.request_id = metadata.get("request_id")
        event.reason = metadata.get("reason")
    return render(request, "org/audit_list.html", {"page": page, "model": model})

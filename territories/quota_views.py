"""Quota planning pages: the plans, the planning grid (inline edits), reviews, a rep's quota and
attainment, the capacity model, ramp profiles, and the quotas CSV.

Thin: every write is a ``territories.quotas`` service (whose refusals are shown as they are
worded), every read a ``territories.quota_selectors`` selector scoped by the caller
(``restrict``). With htmx, a view answers with the fragment it was asked for (the grid, a cell's
form or history, the reviews); without, with the whole page, so everything also works with
plain links and forms.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import reswap, retarget

from salesops.errors import DomainError, NotAllowed
from salesops.fiscal import PeriodKind
from salesops.org.roles import ORG_WIDE_ROLES, Role
from salesops.org.selectors import fiscal_calendar, org_settings
from salesops.permissions import restrict
from territories import quota_csv, quotas
from territories import quota_selectors as selectors
from territories.models import (
    Quota,
    QuotaPlan,
    QuotaPlanStatus,
    QuotaReview,
    RampProfile,
)
from territories.quota_forms import (
    CapacityForm,
    QuotaCellForm,
    QuotaImportForm,
    QuotaPlanForm,
    RampProfileForm,
    ReviewDecisionForm,
)

GRID_KINDS = (PeriodKind.MONTH, PeriodKind.QUARTER)
HUNDRED = Decimal(100)
# Plotly traces, as on the dashboards (reporting.charts' palette).
BLUE, ORANGE, GREEN = "#2563eb", "#ea580c", "#059669"
CHART_LAYOUT = {
    "margin": {"l": 56, "r": 16, "t": 8, "b": 60},
    "height": 300,
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "hovermode": "x unified",
    "showlegend": True,
    "legend": {"orientation": "h", "y": -0.2},
}


# --- Shared lookups ------------------------------------------------------------------------------


def _plan(request, fiscal_year: int) -> QuotaPlan:
    """The plan of ``fiscal_year`` if the caller may open it, else 404 (403 without the right
    to read quota plans at all)."""
    if not request.user.has_perm("territories.view_quotaplan"):
        raise PermissionDenied
    plan = (
        selectors.visible_plans(request.user)
        .select_related("ramp_profile", "created_by", "published_by")
        .filter(fiscal_year=fiscal_year)
        .first()
    )
    if plan is None:
        raise Http404("No quota plan for that year in your scope.")
    return plan


def _quota(request, plan: QuotaPlan, pk: int) -> Quota:
    """One quota of ``plan`` inside the caller's scope, else 404."""
    quota = (
        restrict(Quota.objects.filter(plan=plan, pk=pk), request.user)
        .select_related("user", "team", "territory")
        .first()
    )
    if quota is None:
        raise Http404("No such quota in your scope.")
    return quota


def _money(value: Decimal | None, currency: str) -> str:
    return "—" if value is None else f"{currency} {value:,.2f}"


def _percent(ratio: Decimal | None) -> str:
    return "—" if ratio is None else f"{ratio * HUNDRED:.1f} %"


def _figure(traces: list[dict], **layout) -> dict:
    return {"data": traces, "layout": {**CHART_LAYOUT, **layout}}


def _numbers(values) -> list[float | None]:
    return [None if value is None else float(value) for value in values]


# --- Home ----------------------------------------------------------------------------------------


@login_required
def home(request):
    """The quotas landing page: the plans (ops, finance, admins), the reviews waiting and the
    team's quotas (managers), or "My quota" with attainment (reps)."""
    user = request.user
    role = user.role
    context: dict = {"section": "none"}
    if role in ORG_WIDE_ROLES:
        context["section"] = "plans"
        context["plans"] = list(selectors.plan_list(user))
        context["can_create"] = user.has_perm("territories.add_quotaplan")
        context["can_see_profiles"] = user.has_perm("territories.view_rampprofile")
    elif role == Role.MANAGER:
        waiting = list(selectors.reviews_waiting_for(user))
        context.update(_reviews_context(user, waiting=waiting), section="manager")
        plan = waiting[0].plan if waiting else _current_plan(user)
        if plan is not None:
            kind = request.GET.get("kind")
            kind = kind if kind in GRID_KINDS else PeriodKind.QUARTER
            context.update(_grid_context(plan, kind, user))
    elif role == Role.REP:
        context.update(_my_quota(request), section="rep")
    return render(request, "territories/quotas/home.html", context)


def _current_plan(user) -> QuotaPlan | None:
    """The plan of the current fiscal year if the user sees it, else the newest they see."""
    this_year = fiscal_calendar().fiscal_year_of(timezone.localdate())
    plans = selectors.visible_plans(user)
    return plans.filter(fiscal_year=this_year).first() or plans.order_by("-fiscal_year").first()


def _my_quota(request) -> dict:
    """A rep's quota and attainment for each month, quarter and the year of the current fiscal
    year (or ``?year=``), and a chart of bookings against quota by month."""
    user = request.user
    calendar = fiscal_calendar()
    years = list(
        selectors.visible_plans(user).order_by("-fiscal_year").values_list("fiscal_year", flat=True)
    )
    year = calendar.fiscal_year_of(timezone.localdate())
    if request.GET.get("year", "").isdigit():
        year = int(request.GET["year"])
    plan = selectors.visible_plans(user).filter(fiscal_year=year).first()
    context: dict = {"year": year, "years": years, "plan": plan}
    if plan is None:
        return context
    periods = [
        *calendar.periods(year, PeriodKind.YEAR),
        *calendar.periods(year, PeriodKind.QUARTER),
        *calendar.periods(year, PeriodKind.MONTH),
    ]
    rows = [
        {"figures": figures, "percent": _percent(figures.attainment)}
        for figures in (
            selectors.attainment(user=user, period_key=period.key, plan=plan) for period in periods
        )
    ]
    months = rows[5:]
    labels = [f"{row['figures'].period.start:%b %Y}" for row in months]
    context.update(
        {
            "year_row": rows[0],
            "quarter_rows": rows[1:5],
            "month_rows": months,
            "chart": _figure(
                [
                    {
                        "type": "bar",
                        "name": "Quota",
                        "x": labels,
                        "marker": {"color": BLUE},
                        "y": _numbers(row["figures"].quota for row in months),
                    },
                    {
                        "type": "bar",
                        "name": "Bookings",
                        "x": labels,
                        "marker": {"color": GREEN},
                        "y": _numbers(row["figures"].bookings for row in months),
                    },
                ],  # fmt: skip
                barmode="group",
                yaxis={"title": plan.currency, "rangemode": "tozero"},
            ),
        }
    )
    return context


# --- Reviews -------------------------------------------------------------------------------------


def _reviews_context(user, *, waiting=None, **extra) -> dict:
    if waiting is None:
        waiting = list(selectors.reviews_waiting_for(user))
    return {"waiting": waiting, **extra}


@login_required
@require_POST
def review_decide(request, pk: int):
    """A reviewer accepts their team's quotas or sends the plan back with a comment."""
    review = get_object_or_404(
        QuotaReview.objects.select_related("plan", "team"), pk=pk, reviewer=request.user
    )
    form = ReviewDecisionForm(request.POST)
    notice = error = None
    if not form.is_valid():
        error = "Choose to accept or to send back."
    else:
        try:
            quotas.quota_review_decide(
                review=review, accept=form.accept, comment=form.cleaned_data["comment"],
                acting_user=request.user,
            )  # fmt: skip
        except DomainError as failure:
            error = failure.message
        else:
            verb = "accepted" if form.accept else "sent back to sales ops"
            notice = f"FY{review.plan.fiscal_year} quotas of {review.team} {verb}."
    if request.htmx:
        context = _reviews_context(
            request.user,
            notice=notice,
            error=error,
            error_review=review.pk if error else None,
            comment=request.POST.get("comment", ""),
        )
        return render(request, "territories/quotas/partials/reviews.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("quotas:home")


# --- Plans ---------------------------------------------------------------------------------------


@login_required
def plan_create(request):
    """Sales ops: a new draft plan for a fiscal year."""
    if not request.user.has_perm("territories.add_quotaplan"):
        raise PermissionDenied
    currency = org_settings().corporate_currency
    next_year = fiscal_calendar().fiscal_year_of(timezone.localdate()) + 1
    form = QuotaPlanForm(request.POST or None, initial={"fiscal_year": next_year})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            plan = quotas.quota_plan_create(
                fiscal_year=data["fiscal_year"], target=data["target"], currency=currency,
                basis=data["basis"], month_weights=form.weights(),
                ramp_profile=data["ramp_profile"], acting_user=request.user,
            )  # fmt: skip
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(
                request, f"FY{plan.fiscal_year} plan created: allocate it to fill the grid."
            )
            return redirect("quotas:plan", fiscal_year=plan.fiscal_year)
    return render(
        request, "territories/quotas/plan_form.html", {"form": form, "currency": currency}
    )


def _kind(request) -> str:
    kind = request.GET.get("kind") or request.POST.get("kind") or PeriodKind.MONTH
    return kind if kind in GRID_KINDS else PeriodKind.MONTH


def _grid_context(plan: QuotaPlan, kind: str, user, **extra) -> dict:
    """The grid's rows with each cell's quota id, the totals, and each team's bottom-up sum and
    gap for the year (a rep sees only their own row)."""
    grid = selectors.quota_grid(plan, kind=kind, user=user)
    ids = selectors.quota_cell_ids(plan, kind=kind, user=user)
    rows = grid.rows
    totals = grid.totals
    gaps = {}
    if user.role == Role.REP:
        rows = [row for row in rows if row.kind == "rep" and row.holder.pk == user.pk]
    else:
        gaps = {
            gap.team.pk: gap
            for gap in selectors.top_down_vs_bottom_up(plan, str(plan.fiscal_year), user=user)
        }
    lines = [
        {
            "kind": row.kind,
            "holder": row.holder,
            "depth": row.depth,
            "total": row.total,
            "cells": [
                {"amount": amount, "id": ids.get((row.kind, row.holder.pk, period.key))}
                for amount, period in zip(row.cells, grid.periods, strict=True)
            ],
            "gap": gaps.get(row.holder.pk) if row.kind == "team" else None,
        }
        for row in rows
    ]
    return {
        "plan": plan,
        "kind": kind,
        "periods": grid.periods,
        "lines": lines,
        "totals": totals,
        "total": sum(totals, Decimal(0)),
        "can_edit": user.has_perm("territories.change_quota") and not plan.is_locked,
        "show_gap": user.role != Role.REP,
        **extra,
    }


@login_required
def plan_grid(request, fiscal_year: int):
    """The planning grid: teams (as a tree) and reps by month or quarter, in the caller's scope,
    with the review chain, the plan's actions and the CSV. With htmx: the grid alone."""
    plan = _plan(request, fiscal_year)
    user = request.user
    try:
        context = _grid_context(plan, _kind(request), user)
    except DomainError as error:
        raise Http404(error.message) from error
    if request.htmx:
        return render(request, "territories/quotas/partials/grid.html", context)
    can_plan = user.has_perm("territories.change_quotaplan")
    context.update(
        {
            "reviews": restrict(plan.reviews.all(), user)
            .select_related("team", "reviewer")
            .order_by("level", "team__name", "pk"),
            "can_plan": can_plan,
            "can_import": user.has_perm("territories.change_quota") and not plan.is_locked,
            "can_see_capacity": user.role in ORG_WIDE_ROLES,
            "import_form": QuotaImportForm(),
            "statuses": QuotaPlanStatus,
        }
    )
    return render(request, "territories/quotas/grid.html", context)


def _plan_action(request, fiscal_year: int, service, done: str):
    plan = _plan(request, fiscal_year)
    try:
        plan = service(plan=plan, acting_user=request.user)
    except NotAllowed as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done.format(plan=plan))
    return redirect("quotas:plan", fiscal_year=plan.fiscal_year)


@login_required
@require_POST
def plan_allocate(request, fiscal_year: int):
    return _plan_action(
        request,
        fiscal_year,
        quotas.quota_plan_allocate,
        "FY{plan.fiscal_year} target allocated to every team, rep and territory.",
    )


@login_required
@require_POST
def plan_propose(request, fiscal_year: int):
    return _plan_action(
        request,
        fiscal_year,
        quotas.quota_plan_propose,
        "FY{plan.fiscal_year} quotas sent to the managers for review.",
    )


@login_required
@require_POST
def plan_publish(request, fiscal_year: int):
    return _plan_action(
        request,
        fiscal_year,
        quotas.quota_plan_publish,
        "FY{plan.fiscal_year} quotas published: they are now locked.",
    )


# --- Cells ---------------------------------------------------------------------------------------


def _holder(quota: Quota):
    return quota.user or quota.team or quota.territory


@login_required
def cell_edit(request, fiscal_year: int, pk: int):
    """One cell of the grid. GET: the small form (htmx) or a page with the form and history.
    POST: ``quota_set`` with the amount and reason; then the whole grid (its row and column
    totals follow), or the form again with the service's refusal."""
    plan = _plan(request, fiscal_year)
    quota = _quota(request, plan, pk)
    kind = _kind(request)
    can_edit = request.user.has_perm("territories.change_quota") and not plan.is_locked
    if request.method == "POST":
        if not request.user.has_perm("territories.change_quota"):
            raise PermissionDenied
        form = QuotaCellForm(request.POST)
        if form.is_valid():
            try:
                quotas.quota_set(
                    quota=quota, amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"], acting_user=request.user,
                )  # fmt: skip
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                quota.refresh_from_db()
                notice = (
                    f"{_holder(quota)} {quota.period_key} set to "
                    f"{_money(quota.amount, plan.currency)}."
                )
                if not request.htmx:
                    messages.success(request, notice)
                    return redirect(f"{reverse('quotas:plan', args=[fiscal_year])}?kind={kind}")
                response = render(
                    request,
                    "territories/quotas/partials/grid.html",
                    _grid_context(plan, kind, request.user, notice=notice),
                )
                return reswap(retarget(response, "#quota-grid"), "outerHTML")
    else:
        form = QuotaCellForm(initial={"amount": quota.amount})
    context = {
        "plan": plan, "quota": quota, "holder": _holder(quota), "form": form, "kind": kind,
        "can_edit": can_edit or request.method == "POST",
    }  # fmt: skip
    if request.htmx:
        template = "cell_form" if context["can_edit"] else "cell_history"
        if template == "cell_history":
            context["changes"] = selectors.quota_changes(quota)
        return render(request, f"territories/quotas/partials/{template}.html", context)
    context["changes"] = selectors.quota_changes(quota)
    return render(request, "territories/quotas/cell.html", context)


@login_required
def cell_history(request, fiscal_year: int, pk: int):
    """A quota's change history (who, when, why, before and after)."""
    plan = _plan(request, fiscal_year)
    quota = _quota(request, plan, pk)
    context = {
        "plan": plan, "quota": quota, "holder": _holder(quota), "kind": _kind(request),
        "changes": selectors.quota_changes(quota), "can_edit": False,
    }  # fmt: skip
    template = "partials/cell_history" if request.htmx else "cell"
    return render(request, f"territories/quotas/{template}.html", context)


# --- CSV -----------------------------------------------------------------------------------------


@login_required
def plan_export(request, fiscal_year: int):
    """The plan's quotas in the caller's scope as CSV (the file the import reads back)."""
    plan = _plan(request, fiscal_year)
    if not request.user.has_perm("territories.view_quota"):
        raise PermissionDenied
    response = HttpResponse(
        quota_csv.quotas_csv(plan, request.user), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{quota_csv.quotas_csv_filename(plan)}"'
    )
    return response


@login_required
@require_POST
def plan_import(request, fiscal_year: int):
    """Sales ops: set quotas from an edited export, all or nothing (or only check the file)."""
    plan = _plan(request, fiscal_year)
    if not request.user.has_perm("territories.change_quota"):
        raise PermissionDenied
    form = QuotaImportForm(request.POST, request.FILES)
    back = reverse("quotas:plan", args=[fiscal_year])
    if not form.is_valid():
        messages.error(request, "Choose the CSV file to import.")
        return redirect(back)
    upload = form.cleaned_data["file"]
    dry_run = form.cleaned_data["dry_run"]
    try:
        result = quota_csv.quota_plan_import(
            plan=plan, content=upload.read(), file_name=upload.name, acting_user=request.user,
            commit=not dry_run,
        )  # fmt: skip
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(back)
    if result.ok and not dry_run:
        messages.success(
            request,
            f"Imported {upload.name}: {result.changed} of {result.rows} rows changed a quota "
            f"({result.written} quotas written, their quarters and years included).",
        )
        return redirect(back)
    return render(
        request,
        "territories/quotas/import_result.html",
        {"plan": plan, "result": result, "file_name": upload.name, "dry_run": dry_run},
    )


# --- Capacity ------------------------------------------------------------------------------------


@login_required
def capacity(request, fiscal_year: int):
    """Can today's reps, with attrition, backfills and planned hires, carry the plan's target?
    Month by month heads, ramped heads, capacity against target, and the year's verdict."""
    plan = _plan(request, fiscal_year)
    if request.user.role not in ORG_WIDE_ROLES:
        raise PermissionDenied
    months = fiscal_calendar().periods(plan.fiscal_year, PeriodKind.MONTH)
    form = CapacityForm(request.GET or None, months=months)
    context: dict = {"plan": plan, "form": form}
    if form.is_bound and not form.is_valid():
        return render(request, "territories/quotas/capacity.html", context)
    data = form.cleaned_data if form.is_bound else {}
    productivity = data.get("productivity")
    history = None
    try:
        history = selectors.productivity_from_history(
            timezone.localdate(),
            ramp_profile=plan.ramp_profile.percents if plan.ramp_profile_id else None,
        )
    except DomainError as error:
        context["history_error"] = error.message
    context["history"] = history
    if productivity is None:
        productivity = history
    if productivity is None:
        context["problem"] = (
            "No rep sold in the last twelve months, so there is no productivity to learn from: "
            "enter the bookings a ramped rep brings in a month."
        )
        return render(request, "territories/quotas/capacity.html", context)
    attrition = data.get("attrition_percent", form.fields["attrition_percent"].initial)
    backfill = data.get("backfill_months", form.fields["backfill_months"].initial)
    try:
        result = selectors.capacity_for_plan(
            plan=plan, productivity=productivity, annual_attrition=attrition / HUNDRED,
            backfill_months=backfill, planned_hires=form.planned_hires() if form.is_bound else {},
        )  # fmt: skip
    except DomainError as error:
        context["problem"] = error.message
        return render(request, "territories/quotas/capacity.html", context)
    total, currency = result.total, plan.currency
    if result.reachable:
        verdict = (
            f"Reachable: a capacity of {_money(total.capacity, currency)} covers the "
            f"{_money(total.target, currency)} target ({_percent(total.coverage_ratio)})."
        )
    else:
        verdict = (
            f"Short by {_money(total.gap, currency)}: a capacity of "
            f"{_money(total.capacity, currency)} covers {_percent(total.coverage_ratio)} of the "
            f"{_money(total.target, currency)} target."
        )
    labels = [f"{month.month:%b %Y}" for month in result.months]
    context.update(
        {
            "productivity": productivity,
            "attrition": attrition,
            "backfill": backfill,
            "result": result,
            "rows": [
                {"month": month, "coverage": row, "ratio": _percent(row.coverage_ratio)}
                for month, row in zip(result.months, result.rows, strict=True)
            ],
            "total_ratio": _percent(total.coverage_ratio),
            "verdict": verdict,
            "chart": _figure(
                [
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "name": "Capacity",
                        "x": labels,
                        "y": _numbers(row.capacity for row in result.rows),
                        "line": {"color": BLUE},
                    },
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "name": "Target",
                        "x": labels,
                        "y": _numbers(row.target for row in result.rows),
                        "line": {"color": ORANGE},
                    },
                ],  # fmt: skip
                yaxis={"title": currency, "rangemode": "tozero"},
            ),
        }
    )
    return render(request, "territories/quotas/capacity.html", context)


# --- Ramp profiles -------------------------------------------------------------------------------


@login_required
def ramp_profile_list(request):
    """Ramp profiles (percent of full quota per month of tenure) and the form for a new one."""
    if not request.user.has_perm("territories.view_rampprofile"):
        raise PermissionDenied
    can_edit = request.user.has_perm("territories.add_rampprofile")
    form = RampProfileForm(request.POST or None)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            try:
                profile = quotas.ramp_profile_save(
                    name=form.cleaned_data["name"], percents=form.percent_list(),
                    acting_user=request.user,
                )  # fmt: skip
            except DomainError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, f"Ramp profile {profile.name} saved.")
                return redirect("quotas:ramp_profiles")
    used_by: dict[int, list[int]] = {}
    for profile_id, year in (
        QuotaPlan.objects.filter(ramp_profile__isnull=False)
        .order_by("fiscal_year")
        .values_list("ramp_profile_id", "fiscal_year")
    ):
        used_by.setdefault(profile_id, []).append(year)
    profiles = [
        {"profile": profile, "used_by": used_by.get(profile.pk, [])}
        for profile in RampProfile.objects.order_by("name")
    ]
    return render(
        request,
        "territories/quotas/ramp_profiles.html",
        {"profiles": profiles, "form": form, "can_edit": can_edit},
    )


@login_required
def ramp_profile_edit(request, pk: int):
    """Rename a ramp profile or change its percents (refused while it ramps published quotas)."""
    if not request.user.has_perm("territories.change_rampprofile"):
        raise PermissionDenied
    profile = get_object_or_404(RampProfile, pk=pk)
    initial = {
        "name": profile.name,
        "percents": " ".join(format(Decimal(p).normalize(), "f") for p in profile.percents),
    }
    form = RampProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            quotas.ramp_profile_save(
                name=form.cleaned_data["name"], percents=form.percent_list(),
                acting_user=request.user, profile=profile,
            )  # fmt: skip
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Ramp profile {form.cleaned_data['name']} saved.")
            return redirect("quotas:ramp_profiles")
    return render(
        request, "territories/quotas/ramp_profile_form.html", {"form": form, "profile": profile}
    )

"""Commission run pages for sales ops, finance and admins: the runs with "New run", a run's
overview (totals against the previous run, by team, role and component, payees, progress while
it calculates), its actions by status and role (calculate, approve and lock, mark paid, payroll
files), manual adjustments, its lines and one line's trace in words.

Thin: reads are ``compensation.run_selectors`` selectors, writes ``compensation.runs`` services
whose refusals are shown as messages (or on the form that asked). Reps and managers hold no
right to read runs: 403 on every page, and a run or line out of reach answers 404. While a run
calculates, htmx polls its status section; once done, the page reloads to show the totals.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from compensation import run_selectors as selectors
from compensation import runs
from compensation.models import CommissionRun, RunStatus
from compensation.payroll import can_export_payroll, payroll_export
from compensation.run_forms import AdjustmentForm, LineFilterForm, RunCreateForm
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.org.models import User
from salesops.org.roles import Role

RUN_OPS = "compensation.add_commissionrun"
RUN_APPROVE = "compensation.change_commissionrun"
LINES_PER_PAGE = 100


def _require_viewer(request: HttpRequest) -> None:
    if not selectors.can_view_runs(request.user):
        raise PermissionDenied


def _run(request: HttpRequest, pk: int) -> CommissionRun:
    """The run if the caller may read runs (else 403) and it exists (else 404)."""
    _require_viewer(request)
    try:
        return selectors.run_for(request.user, pk)
    except NotFound as error:
        raise Http404(error.message) from error


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _to_run(run: CommissionRun) -> HttpResponse:
    return redirect("compensation:run_detail", pk=run.pk)


def run_actions(run: CommissionRun, user: User) -> dict:
    """Which buttons the run page shows the user, and why approving is refused to them."""
    ops = user.has_perm(RUN_OPS)
    approver = user.role in (Role.FINANCE, Role.ADMIN) and user.has_perm(RUN_APPROVE)
    show_approve = approver and run.status == RunStatus.CALCULATED
    return {
        "can_calculate": ops and run.status in runs.EDITABLE,
        "can_adjust": ops and run.status in runs.EDITABLE,
        "show_approve": show_approve,
        "approval_conflicts": runs.approval_conflicts(run, user) if show_approve else [],
        "can_pay": user.role == Role.FINANCE and run.status == RunStatus.APPROVED,
        "can_export": can_export_payroll(user) and run.is_settled,
    }


# --- List and create -----------------------------------------------------------------------------


def _list_page(request: HttpRequest, form: RunCreateForm, status: int = 200) -> HttpResponse:
    page = Paginator(selectors.run_list(request.user), 25).get_page(request.GET.get("page"))
    context = {"page": page, "form": form, "can_create": request.user.has_perm(RUN_OPS)}
    return render(request, "compensation/runs/list.html", context, status=status)


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    """Every run, newest period first, with status, totals and "New run" for sales ops."""
    _require_viewer(request)
    return _list_page(request, RunCreateForm())


@login_required
@require_POST
def run_create(request: HttpRequest) -> HttpResponse:
    """A draft run for a fiscal quarter or month (sales ops)."""
    _require_viewer(request)
    _require(request, RUN_OPS)
    form = RunCreateForm(request.POST)
    if form.is_valid():
        try:
            run = runs.run_create(
                period_key=form.cleaned_data["period_key"].strip(), acting_user=request.user
            )
        except DomainError as error:
            form.add_error("period_key", error.message)
        else:
            messages.success(request, f"Run for {run.label} created: calculate it when ready.")
            return _to_run(run)
    return _list_page(request, form, status=400)


# --- A run ---------------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, run: CommissionRun, **extra) -> dict:
    user = request.user
    actions = run_actions(run, user)
    context = {
        "run": run,
        "progress": selectors.run_progress(run),
        "overview": selectors.run_overview(run, user),
        "adjustments": list(selectors.run_adjustments(run, user)),
        **actions,
        **extra,
    }
    if actions["can_adjust"] and "adjustment_form" not in context:
        context["adjustment_form"] = AdjustmentForm(run=run)
    return context


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's overview and actions; htmx polls the status section while it calculates."""
    run = _run(request, pk)
    if request.htmx and request.GET.get("part") == "status":
        if run.status != RunStatus.CALCULATING:
            return HttpResponseClientRefresh()  # done or failed: show the whole page again
        context = {"run": run, "progress": selectors.run_progress(run)}
        return render(request, "compensation/runs/partials/status.html", context)
    return render(request, "compensation/runs/detail.html", _detail_context(request, run))


@login_required
@require_POST
def run_calculate(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a (re)calculation on the worker (sales ops)."""
    run = _run(request, pk)
    _require(request, RUN_OPS)
    try:
        runs.run_calculate_request(run=run, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Calculating the {run.label} run: this page follows it.")
    return _to_run(run)


@login_required
@require_POST
def run_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve and lock a calculated run (finance, not someone who shaped it)."""
    run = _run(request, pk)
    _require(request, RUN_APPROVE)
    try:
        runs.run_approve(run=run, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The {run.label} run is approved and locked.")
    return _to_run(run)


@login_required
@require_POST
def run_pay(request: HttpRequest, pk: int) -> HttpResponse:
    """Record that payroll paid an approved run (finance)."""
    run = _run(request, pk)
    _require(request, RUN_APPROVE)
    try:
        runs.run_mark_paid(run=run, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The {run.label} run is marked paid.")
    return _to_run(run)


@login_required
def run_payroll(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The payroll file of an approved or paid run (finance and admins)."""
    run = _run(request, pk)
    try:
        return payroll_export(run=run, acting_user=request.user, fmt=fmt)
    except NotAllowed as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        messages.error(request, error.message)
        return _to_run(run)


# --- Manual adjustments --------------------------------------------------------------------------


@login_required
@require_POST
def run_adjustment_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a manual adjustment to an open run (sales ops); it pays after the next calculation."""
    run = _run(request, pk)
    _require(request, RUN_OPS)
    form = AdjustmentForm(request.POST, run=run)
    if form.is_valid():
        data = form.cleaned_data
        try:
            runs.adjustment_add(
                run=run, user=data["user"], amount=data["amount"], reason=data["reason"],
                acting_user=request.user,
            )  # fmt: skip
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(
                request,
                f"Adjustment of {data['amount']} for {data['user']} added: calculate again "
                "to include it.",
            )
            return _to_run(run)
    run.refresh_from_db()
    context = _detail_context(request, run, adjustment_form=form)
    return render(request, "compensation/runs/detail.html", context, status=400)


@login_required
@require_POST
def run_adjustment_delete(request: HttpRequest, pk: int, adjustment_pk: int) -> HttpResponse:
    """Delete a manual adjustment while its run is open (sales ops)."""
    run = _run(request, pk)
    _require(request, RUN_OPS)
    adjustment = selectors.run_adjustments(run, request.user).filter(pk=adjustment_pk).first()
    if adjustment is None:
        raise Http404("No such manual adjustment in this run.")
    try:
        runs.adjustment_delete(adjustment=adjustment, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Adjustment for {adjustment.user} deleted.")
    return _to_run(run)


# --- Lines ---------------------------------------------------------------------------------------


@login_required
def run_lines(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's lines, filterable by person, component and kind, 100 a page."""
    run = _run(request, pk)
    form = LineFilterForm(request.GET or None, run=run)
    lines = selectors.run_lines(run, request.user, **form.filters())
    page = Paginator(lines, LINES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"run": run, "form": form, "page": page, "query": query.urlencode()}
    return render(request, "compensation/runs/lines.html", context)


@login_required
def run_line_detail(request: HttpRequest, pk: int, line_pk: int) -> HttpResponse:
    """One line: the trace in words (formula, steps, tiers, proration, quota, attainment,
    rounding, already paid, causes) and the credits and deals it counted."""
    run = _run(request, pk)
    try:
        detail = selectors.line_detail(run, line_pk, request.user)
    except NotFound as error:
        raise Http404(error.message) from error
    return render(request, "compensation/runs/line_detail.html", {"run": run, "detail": detail})

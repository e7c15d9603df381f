"""Statement and dispute pages: "My commissions" (settled periods, the year to date, and for
managers and sales ops the statements of their people), one statement (by component, with the
payout curve of each tiered component and where the person stands on it), its print-ready page
and XLSX download, one line's trace in words with the dispute form, and the dispute queue.

Thin: reads are ``compensation.statements`` selectors scoped by the caller (outside the scope,
and for reps and managers before a run is approved, the answer is 404); writes are
``compensation.disputes`` services whose refusals are shown as worded.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from compensation import disputes, runs
from compensation import statements as selectors
from compensation.models import DisputeStatus, ManualAdjustment, PayoutLine
from compensation.statement_export import CONTENT_TYPE, statement_filename, statement_xlsx
from compensation.statement_forms import (
    DisputeAdjustForm,
    DisputeAnswerForm,
    DisputeFilterForm,
    DisputeOpenForm,
)
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.org.models import User
from salesops.org.roles import Role
from salesops.org.selectors import fiscal_calendar

# The look of the other plotly charts (territories.scenario_charts, reporting.charts).
BLUE, ORANGE, GREY = "#2563eb", "#ea580c", "#94a3b8"
LAYOUT = {
    "margin": {"l": 64, "r": 16, "t": 40, "b": 48},
    "height": 320,
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "hovermode": "closest",
    "showlegend": False,
}


def _found(read, *args):
    """``read(*args)``, with NotFound (outside the caller's scope) as a 404."""
    try:
        return read(*args)
    except NotFound as error:
        raise Http404(error.message) from error


def _statement(request: HttpRequest, run_id: int, user_id: int | None) -> selectors.Statement:
    viewer = request.user
    run = _found(selectors.statement_run, viewer, run_id)
    person = _found(selectors.statement_user, viewer, user_id or viewer.pk)
    return _found(selectors.statement, person, run, viewer)


def curve_chart(curve: selectors.PayoutCurve, who: str) -> dict:
    """The plotly figure (as JSON) of a payout curve with a marker where ``who`` stands."""
    figure = go.Figure(layout=LAYOUT)
    figure.add_scatter(
        x=[float(percent) for percent, _ in curve.points],
        y=[float(payout) for _, payout in curve.points],
        mode="lines",
        name="Payout",
        line={"color": BLUE, "width": 2},
        hovertemplate="%{x:.0f} % of quota pays %{y:,.2f}<extra></extra>",
    )
    figure.add_scatter(
        x=[float(curve.attainment)],
        y=[float(curve.payout)],
        mode="markers+text",
        name=who,
        text=[who],
        textposition="top center",
        marker={"color": ORANGE, "size": 13, "line": {"color": "#fff", "width": 2}},
        hovertemplate=f"{who}: %{{x:.2f}} % of quota, %{{y:,.2f}}<extra></extra>",
    )
    figure.add_vline(x=100, line_dash="dot", line_color=GREY)
    figure.update_layout(
        title={"text": f"{curve.component_name} · {curve.measured_label}", "x": 0},
        xaxis={"title": {"text": "Attainment (% of quota)"}, "ticksuffix": " %"},
        yaxis={"title": {"text": f"Payout ({curve.currency})"}, "tickformat": ",.0f"},
    )
    return json.loads(figure.to_json())


def _charts(statement: selectors.Statement, viewer: User) -> list[dict]:
    who = "You" if statement.user.pk == viewer.pk else str(statement.user)
    return [
        {"id": f"curve-{curve.component_key}", "curve": curve, "figure": curve_chart(curve, who)}
        for curve in statement.curves
    ]


# --- My commissions and statements ---------------------------------------------------------------


@login_required
def my_commissions(request: HttpRequest) -> HttpResponse:
    """The signed-in person's periods with totals and their year to date; managers and sales
    ops also pick a run and open the statement of anyone in their scope."""
    viewer = request.user
    periods = _found(selectors.statement_periods, viewer, viewer)
    years = sorted({period.run.fiscal_year for period in periods}, reverse=True)
    try:
        fiscal_year = int(request.GET.get("fiscal_year", ""))
    except ValueError:
        fiscal_year = years[0] if years else fiscal_calendar().fiscal_year_of(timezone.localdate())
    context = {
        "periods": periods,
        "years": years,
        "ytd": selectors.year_to_date(viewer, fiscal_year, viewer),
        "team": None,
    }
    if viewer.role != Role.REP:
        visible_runs = list(selectors.runs_visible_to(viewer).order_by("-period_start")[:24])
        chosen = next((r for r in visible_runs if str(r.pk) == request.GET.get("run")), None)
        chosen = chosen or (visible_runs[0] if visible_runs else None)
        context["team"] = {
            "runs": visible_runs,
            "run": chosen,
            "payees": selectors.run_payees(chosen, viewer) if chosen else [],
        }
    return render(request, "compensation/statements/my_commissions.html", context)


@login_required
def statement_page(request: HttpRequest, run_id: int, user_id: int | None = None) -> HttpResponse:
    """One person's statement of one run: earnings by component, attainment and tier, a payout
    curve per tiered component with their point on it, and every line (each links its trace)."""
    statement = _statement(request, run_id, user_id)
    context = {
        "statement": statement,
        "charts": _charts(statement, request.user),
        "is_own": statement.user.pk == request.user.pk,
    }
    return render(request, "compensation/statements/statement.html", context)


@login_required
def statement_print(request: HttpRequest, run_id: int, user_id: int) -> HttpResponse:
    """The statement on a clean page for printing or saving as PDF (no navigation)."""
    statement = _statement(request, run_id, user_id)
    context = {"statement": statement, "printed_at": timezone.localtime()}
    return render(request, "compensation/statements/print.html", context)


@login_required
def statement_download(request: HttpRequest, run_id: int, user_id: int) -> HttpResponse:
    """The statement as an XLSX file (amounts as numbers, a total row)."""
    statement = _statement(request, run_id, user_id)
    response = HttpResponse(statement_xlsx(statement), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{statement_filename(statement)}"'
    return response


# --- A line's trace and opening a dispute --------------------------------------------------------


def _can_dispute(line: PayoutLine, viewer: User, trace: selectors.LineTrace) -> bool:
    return (
        line.user_id == viewer.pk
        and line.run.is_settled
        and viewer.has_perm("compensation.add_dispute")
        and not any(d.status == DisputeStatus.OPEN for d in trace.disputes)
    )


def _trace_page(request: HttpRequest, line: PayoutLine, form: DisputeOpenForm | None = None):
    trace = selectors.line_trace(line, request.user)
    can_dispute = _can_dispute(trace.line, request.user, trace)
    context = {
        "trace": trace,
        "line": trace.line,
        "can_dispute": can_dispute,
        "form": form or (DisputeOpenForm() if can_dispute else None),
        "is_own": trace.line.user_id == request.user.pk,
    }
    return render(request, "compensation/statements/line_trace.html", context)


@login_required
def line_trace_page(request: HttpRequest, pk: int) -> HttpResponse:
    """How one line was computed, in words: what was measured, quota and proration, tier
    slices, the formula, rounding, what was already paid, the deals behind a correction and
    the credits counted; the line's own rep may dispute it here."""
    line = _found(selectors.line_for, request.user, pk)
    return _trace_page(request, line)


@login_required
@require_POST
def dispute_open(request: HttpRequest, pk: int) -> HttpResponse:
    """The line's own rep opens a dispute with a message."""
    line = _found(selectors.line_for, request.user, pk)
    form = DisputeOpenForm(request.POST)
    if form.is_valid():
        try:
            disputes.dispute_open(
                line=line, message=form.cleaned_data["message"], acting_user=request.user
            )
        except NotAllowed as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            form.add_error("message" if error.field == "message" else None, error.message)
        else:
            messages.success(request, "Dispute sent: sales ops will answer it here.")
            return redirect("compensation:line_trace", pk=line.pk)
    return _trace_page(request, line, form)


# --- Disputes ------------------------------------------------------------------------------------


@login_required
def dispute_list(request: HttpRequest) -> HttpResponse:
    """Disputes in the caller's scope (sales ops: all), open first, filtered by status."""
    viewer = request.user
    if not viewer.has_perm("compensation.view_dispute"):
        raise PermissionDenied
    form = DisputeFilterForm(request.GET or None)
    status = form.cleaned_data["status"] if form.is_valid() else ""
    context = {
        "form": form,
        "disputes": list(selectors.dispute_queue(viewer, status or None)[:500]),
        "status": status,
        "open_count": selectors.disputes_visible_to(viewer)
        .filter(status=DisputeStatus.OPEN)
        .count(),
    }
    return render(request, "compensation/disputes/list.html", context)


def _dispute_page(request: HttpRequest, dispute, answer_form=None, adjust_form=None):
    viewer = request.user
    can_resolve = (
        viewer.has_perm("compensation.change_dispute") and dispute.status == DisputeStatus.OPEN
    )
    adjustment = (
        ManualAdjustment.objects.filter(dispute=dispute).select_related("run", "created_by").first()
    )
    context = {
        "dispute": dispute,
        "line": dispute.line,
        "can_resolve": can_resolve,
        "answer_form": answer_form or DisputeAnswerForm(),
        "adjust_form": adjust_form or DisputeAdjustForm(),
        "open_run": runs.open_run_for_adjustments() if can_resolve else None,
        "adjustment": adjustment,
        "manual_line": _manual_line(adjustment, viewer),
    }
    return render(request, "compensation/disputes/detail.html", context)


def _manual_line(adjustment: ManualAdjustment | None, viewer: User) -> PayoutLine | None:
    """The line the adjustment became, once its run is calculated (and visible to ``viewer``)."""
    if adjustment is None:
        return None
    return (
        selectors.lines_visible_to(viewer)
        .filter(run=adjustment.run, kind="manual", trace__adjustment=adjustment.pk)
        .first()
    )


@login_required
def dispute_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A dispute: the line, the rep's message, the answer; sales ops answer or adjust here."""
    dispute = _found(selectors.dispute_for, request.user, pk)
    return _dispute_page(request, dispute)


@login_required
@require_POST
def dispute_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """Sales ops answer an open dispute in writing."""
    dispute = _found(selectors.dispute_for, request.user, pk)
    form = DisputeAnswerForm(request.POST)
    if form.is_valid():
        try:
            disputes.dispute_answer(
                dispute=dispute, answer=form.cleaned_data["answer"], acting_user=request.user
            )
        except NotAllowed as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            form.add_error("answer" if error.field == "answer" else None, error.message)
        else:
            messages.success(request, f"Dispute #{dispute.pk} answered.")
            return redirect("compensation:dispute_detail", pk=dispute.pk)
    return _dispute_page(request, dispute, answer_form=form)


@login_required
@require_POST
def dispute_adjust(request: HttpRequest, pk: int) -> HttpResponse:
    """Sales ops answer an open dispute and add a manual adjustment in the next open run."""
    dispute = _found(selectors.dispute_for, request.user, pk)
    form = DisputeAdjustForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            disputes.dispute_adjust(
                dispute=dispute,
                amount=data["amount"],
                answer=data["answer"],
                acting_user=request.user,
            )
        except NotAllowed as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            fields = {"amount", "answer"}
            form.add_error(error.field if error.field in fields else None, error.message)
        else:
            messages.success(
                request, f"Dispute #{dispute.pk} adjusted: the amount is paid in the next run."
            )
            return redirect("compensation:dispute_detail", pk=dispute.pk)
    return _dispute_page(request, dispute, adjust_form=form)

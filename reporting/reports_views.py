"""Saved report pages: the list (mine and shared), the builder, the report with its downloads,
and its schedules. Thin: the work is in reporting.reports and reporting.delivery."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from reporting import delivery, reports
from reporting.forms import ReportScheduleForm, SavedReportForm
from reporting.models import ReportSchedule, SavedReport
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.exports import EXPORT_FORMATS, export_response


def _visible(request, pk: int) -> SavedReport:
    try:
        return reports.saved_report_for(request.user, pk)
    except NotFound as error:
        raise Http404(error.message) from error


def _own(request, pk: int) -> SavedReport:
    report = _visible(request, pk)
    if report.owner_id != request.user.pk:
        raise PermissionDenied("Only its owner may change this report: copy it to make your own.")
    return report


@login_required
def saved_report_list(request):
    """My reports and the ones others share."""
    visible = reports.saved_reports_for(request.user).annotate(schedule_count=Count("schedules"))
    mine = list(visible.filter(owner=request.user))
    shared = list(visible.exclude(owner=request.user).order_by("name", "owner__last_name"))
    for report in mine + shared:
        measure = reports.MEASURES.get(report.measure)
        report.measure_label = measure.label if measure else report.measure
    return render(request, "reporting/reports/list.html", {"mine": mine, "shared": shared})


@login_required
def saved_report_edit(request, pk: int | None = None):
    """The builder: new (or a copy's edit) and edit; "Preview" runs it without saving."""
    report = _own(request, pk) if pk else None
    form = SavedReportForm(request.POST or None, user=request.user, report=report)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            try:
                preview = reports.run(form.definition(), viewer=request.user)
            except DomainError as error:
                form.add_problems(error)
        else:
            fields = {name: form.cleaned_data[name] for name in reports.EDITABLE_FIELDS}
            try:
                saved = reports.saved_report_save(acting_user=request.user, report=report, **fields)
            except DomainError as error:
                form.add_problems(error)
            else:
                messages.success(request, f"Saved report {saved.name}.")
                return redirect("reporting:saved_report_detail", pk=saved.pk)
    return render(
        request,
        "reporting/reports/form.html",
        {"form": form, "report": report, "preview": preview, "measures": reports.MEASURES},
    )


@login_required
def saved_report_detail(request, pk: int):
    """The report as the signed-in person may see it, with downloads and (for its owner) the
    schedules and their latest deliveries."""
    report = _visible(request, pk)
    result, problem = None, None
    try:
        result = reports.run(report, viewer=request.user)
    except DomainError as error:
        problem = error.message
    mine = report.owner_id == request.user.pk
    schedules = list(report.schedules.prefetch_related("recipients").order_by("pk")) if mine else []
    for schedule in schedules:
        schedule.description = delivery.describe(schedule)
        schedule.latest = schedule.deliveries.order_by("-due_at").first()
    return render(
        request,
        "reporting/reports/detail.html",
        {"report": report, "result": result, "problem": problem, "mine": mine,
         "schedules": schedules, "formats": EXPORT_FORMATS},
    )  # fmt: skip


@login_required
def saved_report_export(request, pk: int, fmt: str):
    """The report's rows as CSV or XLSX (formula-safe), in the caller's scope."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    report = _visible(request, pk)
    try:
        result = reports.run(report, viewer=request.user)
    except DomainError as error:
        raise Http404(error.message) from error
    return export_response(
        headers=result.headers, rows=result.table(), filename=slugify(report.name) or "report",
        fmt=fmt,
    )  # fmt: skip


@login_required
@require_POST
def saved_report_copy(request, pk: int):
    report = _visible(request, pk)
    copy = reports.saved_report_copy(acting_user=request.user, report=report)
    messages.success(request, f"Copied to {copy.name}: it is yours to change.")
    return redirect("reporting:saved_report_edit", pk=copy.pk)


@login_required
@require_POST
def saved_report_delete(request, pk: int):
    report = _own(request, pk)
    reports.saved_report_delete(acting_user=request.user, report=report)
    messages.success(request, f"Deleted report {report.name}.")
    return redirect("reporting:saved_report_list")


@login_required
def report_schedule_edit(request, pk: int, schedule_pk: int | None = None):
    """Add or change a schedule of one of my reports."""
    report = _own(request, pk)
    schedule = (
        get_object_or_404(ReportSchedule, pk=schedule_pk, report=report) if schedule_pk else None
    )
    form = ReportScheduleForm(request.POST or None, owner=request.user, schedule=schedule)
    if request.method == "POST" and form.is_valid():
        try:
            saved = delivery.report_schedule_save(
                acting_user=request.user, report=report, schedule=schedule, **form.cleaned_data
            )
        except NotAllowed as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            form.add_problem(error)
        else:
            when = saved.next_run_at and timezone.localtime(saved.next_run_at, delivery.org_zone())
            messages.success(
                request,
                f"{delivery.describe(saved)}."
                + (f" Next email: {when:%-d %b %Y, %H:%M}." if when else " Paused."),
            )
            return redirect("reporting:saved_report_detail", pk=report.pk)
    return render(
        request,
        "reporting/reports/schedule_form.html",
        {"form": form, "report": report, "schedule": schedule},
    )


@login_required
@require_POST
def report_schedule_delete(request, pk: int, schedule_pk: int):
    report = _own(request, pk)
    schedule = get_object_or_404(ReportSchedule, pk=schedule_pk, report=report)
    delivery.report_schedule_delete(acting_user=request.user, schedule=schedule)
    messages.success(request, "Schedule removed.")
    return redirect("reporting:saved_report_detail", pk=report.pk)

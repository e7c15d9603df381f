"""KPI snapshots, the runs that compute them, and the marks that say what to recompute; saved
reports, their email schedules and the record of each delivery."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now


class ScopeKind(models.TextChoices):
    REP = "rep", "Rep"
    TEAM = "team", "Team"
    TERRITORY = "territory", "Territory"
    COMPANY = "company", "Company"


class KpiValue(models.Model):
    """One KPI for one scope and fiscal period, as last computed (dashboards read these).

    Ratios keep their numerator and denominator, so a roll-up or a check can recompute them.
    ``breakdown`` is empty or, for per-stage KPIs, the stage id.
    """

    metric = models.CharField(max_length=40)
    period_kind = models.CharField(max_length=7)
    period_key = models.CharField(max_length=10)
    period_start = models.DateField()
    scope_kind = models.CharField(max_length=10, choices=ScopeKind.choices)
    scope_id = models.BigIntegerField(help_text="User, team or territory id; 0 for the company.")
    breakdown = models.CharField(max_length=40, blank=True, default="")
    value = models.DecimalField(max_digits=30, decimal_places=10, null=True)
    numerator = models.DecimalField(max_digits=30, decimal_places=10, null=True)
    denominator = models.DecimalField(max_digits=30, decimal_places=10, null=True)
    computed_at = models.DateTimeField(help_text="When this value was last written (it changed).")

    class Meta:
        # Reads name scopes (and metrics and periods): the unique cell's index serves them.
        constraints = [
            models.UniqueConstraint(
                "scope_kind",
                "scope_id",
                "metric",
                "period_key",
                "breakdown",
                name="kpi_value_unique_cell",
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.period_key} {self.scope_kind}:{self.scope_id} = {self.value}"


class KpiRun(models.Model):
    """One recompute of the KPI snapshots: pages show when figures were last computed."""

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Changed scopes only"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    values_written = models.PositiveIntegerField(
        default=0, help_text="Values inserted, changed or removed (unchanged ones are not written)."
    )
    periods = models.PositiveIntegerField(default=0, help_text="Fiscal periods recomputed.")
    problem = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status", "-finished_at"])]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} KPI run at {self.started_at:%Y-%m-%d %H:%M} ({self.status})"
        )


class KpiDirtyMark(models.Model):
    """Something changed for ``owner`` on ``day``: the periods holding ``day`` need recomputing.

    Written by database triggers on deal history, leads and activities (see migration 0002), so
    every path that changes data — services, imports, bulk loads — marks what it touched.
    """

    owner_id = models.BigIntegerField(null=True)
    day = models.DateField()
    territory_id = models.BigIntegerField(null=True)
    marked_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"{self.owner_id} on {self.day}"


# --- Saved reports and their scheduled delivery (reporting.reports, reporting.delivery) --------


class SavedReportQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view"):
        """Reports ``user`` may open (``"view"``: their own and every shared one) or change
        (``"change"``: their own). What a report shows is limited by the viewer's own scope."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if action == "view":
            return self.filter(models.Q(owner=user) | models.Q(shared=True))
        return self.filter(owner=user)


class ReportGroupBy(models.TextChoices):
    REP = "rep", "Rep"
    TEAM = "team", "Team"
    STAGE = "stage", "Stage"
    MONTH = "month", "Fiscal month"
    QUARTER = "quarter", "Fiscal quarter"
    YEAR = "year", "Fiscal year"
    SEGMENT = "segment", "Segment"


class ReportPeriod(models.TextChoices):
    """Which dates a report covers: relative to the day it runs, a fixed range, or all."""

    THIS_MONTH = "this_month", "This month"
    LAST_MONTH = "last_month", "Last month"
    THIS_QUARTER = "this_quarter", "This quarter"
    LAST_QUARTER = "last_quarter", "Last quarter"
    NEXT_QUARTER = "next_quarter", "Next quarter"
    THIS_YEAR = "this_year", "This fiscal year"
    LAST_YEAR = "last_year", "Last fiscal year"
    CUSTOM = "custom", "Fixed range of fiscal periods"
    ALL = "all", "Any date"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class SavedReport(models.Model):
    """A report a person built: one measure (a KPI, a deal or an activity measure), grouped by
    rep, team, stage, fiscal period or segment, with filters, saved under a name.

    It belongs to its owner; ``shared`` lets everyone open and copy it. Whoever opens it sees the
    figures of their own scope; scheduled emails carry the owner's.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_reports"
    )
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    measure = models.CharField(
        max_length=60, help_text="kpi:<key>, deals:<measure> or activities:<kind or all>."
    )
    group_by = models.CharField(max_length=10, choices=ReportGroupBy.choices)
    period = models.CharField(
        max_length=14, choices=ReportPeriod.choices, default=ReportPeriod.THIS_QUARTER
    )
    period_from = models.CharField(
        max_length=10, blank=True, help_text="First fiscal period of a fixed range (2026-M03)."
    )
    period_to = models.CharField(
        max_length=10, blank=True, help_text="Last fiscal period of a fixed range (2026-Q02)."
    )
    pipeline = models.ForeignKey(
        "crm.Pipeline", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    segment = models.CharField(max_length=3, blank=True)
    deal_type = models.CharField(max_length=10, blank=True)
    team = models.ForeignKey(
        "org.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The team and every team below it.",
    )
    shared = models.BooleanField(
        default=False, help_text="Everyone may open and copy it (and sees their own figures)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    objects = SavedReportQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                "owner",
                "name",
                name="saved_report_unique_name_per_owner",
                violation_error_message="You already have a report with this name.",
            ),
            models.CheckConstraint(
                condition=~models.Q(name=""),
                name="saved_report_has_a_name",
                violation_error_message="A report needs a name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ReportFrequency(models.TextChoices):
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"
    MONTHLY = "monthly", "Every month"


class ReportFormat(models.TextChoices):
    XLSX = "xlsx", "Excel (XLSX)"
    CSV = "csv", "CSV"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ReportSchedule(models.Model):
    """When a saved report is emailed, to whom, in which format (hours in the org time zone).

    ``next_run_at`` is the next due moment; the delivery task sends what is due and moves it on.
    """

    report = models.ForeignKey(SavedReport, on_delete=models.CASCADE, related_name="schedules")
    frequency = models.CharField(max_length=7, choices=ReportFrequency.choices)
    weekday = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Weekly: 0 = Monday … 6 = Sunday."
    )
    day_of_month = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Monthly: 1–31 (the last day in shorter months)."
    )
    hour = models.PositiveSmallIntegerField(help_text="0–23, org time zone.")
    format = models.CharField(max_length=4, choices=ReportFormat.choices, default=ReportFormat.XLSX)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Besides the report's owner, who always receives it.",
    )
    active = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["report", "pk"]
        indexes = [
            models.Index(
                fields=["next_run_at"], condition=models.Q(active=True), name="report_schedule_due"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hour__gte=0, hour__lte=23),
                name="report_schedule_hour_0_23",
                violation_error_message="The hour must be between 0 and 23.",
            ),
            models.CheckConstraint(
                condition=~models.Q(frequency="weekly") | models.Q(weekday__gte=0, weekday__lte=6),
                name="report_schedule_weekly_has_weekday",
                violation_error_message="A weekly schedule needs a weekday (Monday to Sunday).",
            ),
            models.CheckConstraint(
                condition=~models.Q(frequency="monthly")
                | models.Q(day_of_month__gte=1, day_of_month__lte=31),
                name="report_schedule_monthly_has_day",
                violation_error_message="A monthly schedule needs a day of the month (1–31).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report} ({self.get_frequency_display().lower()} at {self.hour:02d}:00)"


class ReportDelivery(models.Model):
    """One send of a scheduled report: which due moment, when, to whom, how many rows, or why
    it failed. One row per schedule and due moment, so nothing is sent twice."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    schedule = models.ForeignKey(
        ReportSchedule, on_delete=models.CASCADE, related_name="deliveries"
    )
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField()
    status = models.CharField(max_length=6, choices=Status.choices)
    recipients = ArrayField(models.EmailField(), default=list, blank=True)
    rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-due_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                "schedule",
                "due_at",
                name="report_delivery_once_per_due_time",
                violation_error_message="This schedule was already sent for that time.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule} due {self.due_at:%Y-%m-%d %H:%M}: {self.status}"

"""KPI snapshots, the runs that compute them, and the marks that say what to recompute."""

from __future__ import annotations

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
    computed_at = models.DateTimeField()

    class Meta:
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
        indexes = [models.Index(fields=["metric", "period_key", "scope_kind"])]

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
    values_written = models.PositiveIntegerField(default=0)
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

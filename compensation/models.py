"""Tables of incentive compensation: plans, assignments, credits, runs, payout lines, disputes.

A plan version is a validated document (``compensation.documents``); a run turns the credits of
its period into payout lines, each carrying the trace of how it was computed. Lines of an
approved or paid run never change: later corrections are new lines in a later run.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from salesops.money import AmountField, CurrencyField
from salesops.org.models import VisibleQuerySet

# Unrounded amounts keep ten decimal places so the trace shows what rounding changed.
EXACT = {"max_digits": 28, "decimal_places": 10}


class PlanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class CompPlan(models.Model):
    """One version of a commission plan. ``key`` is shared by all versions of the same plan.

    Only a draft may be edited; publishing freezes it, and editing a published plan starts the
    next version as a draft. ``document`` is the whole plan as data (validated JSON).
    """

    key = models.SlugField(max_length=60)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=120)
    fiscal_year = models.PositiveIntegerField()
    status = models.CharField(max_length=9, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    currency = CurrencyField()
    document = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fiscal_year", "name", "-version"]
        constraints = [
            models.UniqueConstraint(
                "key",
                "version",
                name="comp_plan_unique_version",
                violation_error_message="This plan already has this version.",
            ),
            models.UniqueConstraint(
                "key",
                condition=Q(status="draft"),
                name="comp_plan_one_draft",
                violation_error_message="This plan already has a draft version being edited.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class PlanAssignment(models.Model):
    """A rep on a plan version from ``start_date`` to ``end_date`` (inclusive; open-ended if null).

    Payouts are prorated by the days of each measured period the assignment covers, so
    mid-period hires, leaves (a gap between two assignments) and transfers come out right.
    """

    plan = models.ForeignKey(CompPlan, on_delete=models.PROTECT, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="plan_assignments"
    )
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    target_incentive = AmountField(
        null=True, blank=True, help_text="Blank = the plan's target incentive for the rep's role."
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "user"

    class Meta:
        ordering = ["user", "start_date"]
        indexes = [models.Index(fields=["start_date", "end_date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="plan_assignment_ends_after_start",
                violation_error_message="An assignment cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.plan} from {self.start_date}"


class RunStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    CALCULATING = "calculating", "Calculating"
    CALCULATED = "calculated", "Calculated"
    APPROVED = "approved", "Approved"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"


# Runs whose lines are final: later changes become adjustments in a later run.
SETTLED = (RunStatus.APPROVED, RunStatus.PAID)


# Exports of the payroll file are recorded too (``compensation.payroll``): who took the pay data
# out, when, in which format.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    pghistory.ManualEvent("payroll_export"),
)
class CommissionRun(models.Model):
    """Commissions of one fiscal month or quarter for everyone on a plan."""

    period_kind = models.CharField(max_length=7)
    period_key = models.CharField(max_length=12, unique=True)
    label = models.CharField(max_length=20)
    period_start = models.DateField()
    period_end = models.DateField()
    fiscal_year = models.PositiveIntegerField()
    status = models.CharField(max_length=11, choices=RunStatus.choices, default=RunStatus.DRAFT)
    currency = CurrencyField()
    total = AmountField(default=0)
    lines_count = models.PositiveIntegerField(default=0)
    payees_count = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=120, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    calculated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    calculated_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="comp_run_period_ordered",
                violation_error_message="A run's period cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"Commission run {self.label}"

    @property
    def is_settled(self) -> bool:
        return self.status in SETTLED


class CreditType(models.TextChoices):
    OWNER = "owner", "Owner"
    SPLIT = "split", "Revenue split"
    OVERLAY = "overlay", "Overlay"
    ROLLUP = "rollup", "Manager roll-up"
    TERRITORY = "territory", "Territory"


class Credit(models.Model):
    """A share of one closed-won deal credited to one person, as a run saw it.

    Money columns are in the run's (corporate) currency, already multiplied by ``percent``.
    Written in bulk by ``compensation.crediting``; never edited.
    """

    # Indexed by (run, user) and (run, deal) below; single-column indexes on run and on the
    # seller would only slow the bulk writes of a run (hundreds of thousands of rows).
    run = models.ForeignKey(
        CommissionRun, on_delete=models.CASCADE, related_name="credits", db_index=False
    )
    deal = models.ForeignKey("crm.Deal", on_delete=models.DO_NOTHING, db_constraint=False)
    deal_version = models.PositiveIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    credit_type = models.CharField(max_length=9, choices=CreditType.choices)
    # Whose credit a roll-up or territory credit comes from (the seller); null for the seller.
    source_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    percent = models.DecimalField(max_digits=5, decimal_places=2)
    close_date = models.DateField()
    invoice_date = models.DateField(null=True)
    amount = AmountField()
    acv = AmountField()
    gross_margin = AmountField()
    units = models.DecimalField(max_digits=14, decimal_places=4)
    new_logo = models.BooleanField()
    pipeline_id = models.BigIntegerField()
    deal_type = models.CharField(max_length=10)
    product_family = models.CharField(max_length=60)
    segment = models.CharField(max_length=3)
    term_months = models.PositiveSmallIntegerField()

    class Meta:
        indexes = [models.Index(fields=["run", "user"]), models.Index(fields=["run", "deal"])]

    def __str__(self) -> str:
        return f"{self.credit_type} {self.percent}% of deal {self.deal_id} to {self.user_id}"


class LineKind(models.TextChoices):
    COMMISSION = "commission", "Commission"
    BONUS = "bonus", "Bonus / SPIF"
    ADJUSTMENT = "adjustment", "Prior-period adjustment"
    MANUAL = "manual", "Manual adjustment"
    DRAW = "draw", "Draw"
    RECOVERY = "recovery", "Draw recovery"


@pghistory.track(pghistory.InsertEvent(), pghistory.DeleteEvent())
class PayoutLine(models.Model):
    """One amount owed to one person in a run, with the trace of how it was computed."""

    run = models.ForeignKey(CommissionRun, on_delete=models.CASCADE, related_name="lines")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assignment = models.ForeignKey(
        PlanAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    plan = models.ForeignKey(
        CompPlan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=LineKind.choices)
    component_key = models.CharField(max_length=60, blank=True)
    component_name = models.CharField(max_length=120, blank=True)
    measured_key = models.CharField(max_length=12, blank=True)
    measured_label = models.CharField(max_length=20, blank=True)
    measured_start = models.DateField(null=True, blank=True)
    measured_end = models.DateField(null=True, blank=True)
    measure = models.DecimalField(null=True, blank=True, max_digits=20, decimal_places=4)
    quota = AmountField(null=True, blank=True)
    attainment_before = models.DecimalField(
        null=True, blank=True, max_digits=12, decimal_places=4, help_text="Percent."
    )
    attainment_after = models.DecimalField(
        null=True, blank=True, max_digits=12, decimal_places=4, help_text="Percent."
    )
    tier = models.CharField(max_length=60, blank=True)
    rate = models.DecimalField(null=True, blank=True, max_digits=18, decimal_places=8)
    exact_amount = models.DecimalField(**EXACT)
    amount = AmountField()
    currency = CurrencyField()
    trace = models.JSONField(default=dict)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "user"

    class Meta:
        ordering = ["run", "user", "kind", "component_key", "measured_start", "id"]
        indexes = [models.Index(fields=["run", "user"]), models.Index(fields=["user", "run"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} to {self.user_id}"


class LineCredit(models.Model):
    """Which credits a line counted, and how much of the component's measure each gave."""

    # No database constraints: the links are written only by ``engine.link_credits``, from lines
    # and credits saved moments before in the same transaction, and removed with them
    # (``runs.run_calculate``; Django cascades a deleted run). Checking each of hundreds of
    # thousands of links row by row made a large run's recalculation 60 s slower (bench).
    line = models.ForeignKey(
        PayoutLine, on_delete=models.CASCADE, related_name="line_credits", db_constraint=False
    )
    credit = models.ForeignKey(
        Credit, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    measure = models.DecimalField(max_digits=20, decimal_places=4)

    def __str__(self) -> str:
        return f"credit {self.credit_id} gave {self.measure} to line {self.line_id}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ManualAdjustment(models.Model):
    """An amount ops add to (or take from) someone's pay in an open run, with the reason."""

    run = models.ForeignKey(
        CommissionRun, on_delete=models.PROTECT, related_name="manual_adjustments"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = AmountField()
    reason = models.TextField()
    dispute = models.ForeignKey(
        "Dispute", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "user"

    class Meta:
        ordering = ["run", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="manual_adjustment_has_reason",
                violation_error_message="A manual adjustment needs a reason.",
            ),
            models.CheckConstraint(
                condition=~Q(amount=0),
                name="manual_adjustment_not_zero",
                violation_error_message="An adjustment of zero changes nothing.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} for {self.user_id} in {self.run_id}: {self.reason[:40]}"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    ADJUSTED = "adjusted", "Adjusted"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Dispute(models.Model):
    """A rep questioning one line of their statement, and how ops resolved it."""

    line = models.ForeignKey(PayoutLine, on_delete=models.PROTECT, related_name="disputes")
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    raised_at = models.DateTimeField(auto_now_add=True)
    message = models.TextField()
    status = models.CharField(
        max_length=8, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    answer = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "raised_by"

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(message=""),
                name="dispute_has_message",
                violation_error_message="Say what looks wrong with this line.",
            ),
        ]

    def __str__(self) -> str:
        return f"Dispute on line {self.line_id} ({self.status})"

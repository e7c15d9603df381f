"""CRM tables: accounts, contacts, pipelines and stages, deals and their history, activities."""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from salesops.money import AmountField, CurrencyField
from salesops.org.models import VisibleQuerySet


class Segment(models.TextChoices):
    SMB = "smb", "Small business"
    MID_MARKET = "mid", "Mid-market"
    ENTERPRISE = "ent", "Enterprise"


# Segment by employee count: < 100 small business, 100–999 mid-market, 1,000+ enterprise.
SEGMENT_MID_MARKET_FROM = 100
SEGMENT_ENTERPRISE_FROM = 1000


def segment_for(employees: int | None) -> str:
    """The segment rule in Python, for records (leads) that have no generated column."""
    if employees is None:
        return ""
    if employees >= SEGMENT_ENTERPRISE_FROM:
        return Segment.ENTERPRISE
    return Segment.MID_MARKET if employees >= SEGMENT_MID_MARKET_FROM else Segment.SMB


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Account(models.Model):
    """A company the organisation sells to; its owner is the account's rep."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=200, blank=True, help_text="e.g. acme.com")
    website = models.URLField(blank=True)
    industry = models.CharField(max_length=100, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = AmountField(null=True, blank=True)
    revenue_currency = CurrencyField(default="USD")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2, e.g. US")
    region = models.CharField(max_length=100, blank=True, help_text="State, province or region")
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    segment = models.GeneratedField(
        expression=models.Case(
            models.When(
                employees__gte=SEGMENT_ENTERPRISE_FROM, then=models.Value(Segment.ENTERPRISE)
            ),
            models.When(
                employees__gte=SEGMENT_MID_MARKET_FROM, then=models.Value(Segment.MID_MARKET)
            ),
            models.When(employees__isnull=False, then=models.Value(Segment.SMB)),
            default=models.Value(""),
        ),
        output_field=models.CharField(max_length=3, choices=Segment.choices),
        db_persist=True,
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accounts"
    )
    # Filled by the territories app (which depends on crm, so it cannot be a foreign key here).
    territory_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "owner"

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["owner", "name"]),
            models.Index(fields=["domain"]),
            # Imports name accounts case-insensitively, by name or by external id.
            models.Index(Lower("name"), name="account_lower_name"),
            models.Index(Lower("external_id"), name="account_lower_external_id"),
        ]

    def __str__(self) -> str:
        return self.name


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Contact(models.Model):
    """A person at an account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=120, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contacts"
    )
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "owner"

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(fields=["email"])]  # imports and duplicate checks match by email

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class DealType(models.TextChoices):
    """The kind of business: a deal's type, and the kind of deals a pipeline is for."""

    NEW = "new", "New business"
    EXPANSION = "expansion", "Expansion"
    RENEWAL = "renewal", "Renewal"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Pipeline(models.Model):
    """An ordered set of stages deals move through; configured by sales ops."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=DealType.choices)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", "Pipeline"
    BEST_CASE = "best_case", "Best case"
    COMMIT = "commit", "Commit"
    CLOSED = "closed", "Closed"
    OMITTED = "omitted", "Omitted"


class RequirableField(models.TextChoices):
    """Deal fields a stage can require before a deal enters it (exit criteria)."""

    AMOUNT = "amount", "Amount"
    CLOSE_DATE = "close_date", "Close date"
    NEXT_STEP = "next_step", "Next step"
    LOST_REASON = "lost_reason", "Lost reason"
    PRIMARY_CONTACT = "primary_contact", "Primary contact"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Stage(models.Model):
    """A step of a pipeline with its defaults and its entry rule (``required_fields``)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField()
    probability = models.DecimalField(max_digits=5, decimal_places=2, help_text="Percent, 0–100.")
    forecast_category = models.CharField(max_length=10, choices=ForecastCategory.choices)
    is_won = models.BooleanField(default=False)
    is_lost = models.BooleanField(default=False)
    required_fields = ArrayField(
        models.CharField(max_length=20, choices=RequirableField.choices),
        default=list,
        blank=True,
        help_text="Fields a deal must have before it may enter this stage.",
    )
    rot_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Flag open deals that stay longer than this many days."
    )

    class Meta:
        ordering = ["pipeline", "position"]
        constraints = [
            models.UniqueConstraint(
                "pipeline",
                "name",
                name="stage_unique_name_per_pipeline",
                violation_error_message="This pipeline already has a stage with that name.",
            ),
            models.CheckConstraint(
                condition=Q(probability__gte=0, probability__lte=100),
                name="stage_probability_0_100",
                violation_error_message="Probability must be between 0 and 100.",
            ),
            models.CheckConstraint(
                condition=~Q(is_won=True, is_lost=True),
                name="stage_not_won_and_lost",
                violation_error_message="A stage cannot be both won and lost.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline} › {self.name}"

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


class DealQuerySet(VisibleQuerySet):
    def open(self):
        # closed_at is set exactly when the stage is won or lost (crm.services keeps it so), and
        # the partial indexes below make "open deals by close date" cheap at a million deals.
        return self.filter(closed_at__isnull=True)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Deal(models.Model):
    """An opportunity to sell to an account, moving through a pipeline's stages.

    ``version`` grows by one on every save through ``crm.services``; a save that names an older
    version is refused (optimistic concurrency), so two people never overwrite each other.
    """

    name = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="deals")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deals"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    amount = AmountField(null=True, blank=True)
    currency = CurrencyField(default="USD")
    close_date = models.DateField(null=True, blank=True)
    probability = models.DecimalField(max_digits=5, decimal_places=2)
    forecast_category = models.CharField(max_length=10, choices=ForecastCategory.choices)
    type = models.CharField(max_length=10, choices=DealType.choices, default=DealType.NEW)
    # What commission plans measure besides the amount (see compensation.crediting).
    product_family = models.CharField(
        max_length=60, blank=True, default="", db_default="", help_text="e.g. Platform"
    )
    units = models.PositiveIntegerField(
        default=1, db_default=1, help_text="Seats, licences or units sold."
    )
    gross_margin = AmountField(
        null=True, blank=True, help_text="Margin in the deal's currency; blank = not known."
    )
    term_months = models.PositiveSmallIntegerField(
        default=12,
        db_default=12,
        help_text="Contract term; ACV is the amount over the term's years.",
    )
    invoice_date = models.DateField(
        null=True, blank=True, help_text="When it was booked/invoiced (plans may credit then)."
    )
    next_step = models.CharField(max_length=255, blank=True)
    lost_reason = models.CharField(max_length=255, blank=True)
    primary_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    source_lead = models.ForeignKey(
        "Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField()
    stage_entered_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    objects = DealQuerySet.as_manager()

    visibility_owner_field = "owner"

    class Meta:
        ordering = ["close_date", "name"]
        indexes = [
            models.Index(fields=["owner", "stage"]),
            models.Index(fields=["pipeline", "stage"]),
            models.Index(fields=["close_date"]),
            models.Index(fields=["closed_at"]),
            models.Index(
                fields=["close_date", "name"],
                condition=Q(closed_at__isnull=True),
                name="deal_open_by_close_date",
            ),
            models.Index(
                fields=["owner", "close_date"],
                condition=Q(closed_at__isnull=True),
                name="deal_open_by_owner",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0) | Q(amount__isnull=True),
                name="deal_amount_not_negative",
                violation_error_message="A deal amount cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(probability__gte=0, probability__lte=100),
                name="deal_probability_0_100",
                violation_error_message="Probability must be between 0 and 100.",
            ),
            models.CheckConstraint(
                condition=Q(term_months__gte=1, term_months__lte=120),
                name="deal_term_1_120_months",
                violation_error_message="A contract term must be 1 to 120 months.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SplitKind(models.TextChoices):
    REVENUE = "revenue", "Revenue split"
    OVERLAY = "overlay", "Overlay"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class DealSplit(models.Model):
    """Who shares credit for a deal: revenue splits (together 100 %) and overlays (on top).

    A deal without revenue splits credits its owner 100 %. Overlays (specialists) are credited
    their percentage without reducing anyone else's. ``crm.splits`` keeps the totals right.
    """

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="splits")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=7, choices=SplitKind.choices)
    percent = models.DecimalField(max_digits=5, decimal_places=2)
    objects = VisibleQuerySet.as_manager()

    # A split is seen by whoever may see the deal it belongs to.
    visibility_owner_field = "deal__owner"

    class Meta:
        ordering = ["deal", "kind", "-percent"]
        constraints = [
            models.UniqueConstraint(
                "deal",
                "user",
                "kind",
                name="deal_split_once_per_kind",
                violation_error_message="This person already has this kind of credit on the deal.",
            ),
            models.CheckConstraint(
                condition=Q(percent__gt=0, percent__lte=100),
                name="deal_split_percent_0_100",
                violation_error_message="A split percentage must be above 0 and at most 100.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.percent}% ({self.kind}) on {self.deal}"


class DealHistory(models.Model):
    """One change to a deal's stage, amount, close date, owner or forecast category.

    Append-only (a database trigger refuses updates and deletes): the source for cycle length,
    conversion, slippage and forecast snapshots. Each row holds the values before (``from_*``)
    and after (``to_*``) the change, and which of them changed.
    """

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="history")
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_fields = ArrayField(models.CharField(max_length=20))
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    from_amount = AmountField(null=True, blank=True)
    to_amount = AmountField(null=True, blank=True)
    currency = CurrencyField()
    from_close_date = models.DateField(null=True, blank=True)
    to_close_date = models.DateField(null=True, blank=True)
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    from_forecast_category = models.CharField(max_length=10, blank=True)
    to_forecast_category = models.CharField(max_length=10)
    # The deal's probability after the change (NULL on rows written before it was recorded).
    to_probability = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # Set on rows imported from another system's stage history, so a re-import adds nothing twice.
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)

    visibility_owner_field = "deal__owner"

    class Meta:
        ordering = ["deal", "changed_at", "id"]
        verbose_name_plural = "deal history"
        indexes = [models.Index(fields=["deal", "changed_at"]), models.Index(fields=["changed_at"])]
        triggers = [
            pgtrigger.Protect(
                name="deal_history_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.deal_id} {', '.join(self.changed_fields)} at {self.changed_at:%Y-%m-%d %H:%M}"
        )


class LeadSource(models.TextChoices):
    WEB = "web", "Website"
    REFERRAL = "referral", "Referral"
    EVENT = "event", "Event"
    OUTBOUND = "outbound", "Outbound"
    PARTNER = "partner", "Partner"
    OTHER = "other", "Other"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    WORKING = "working", "Working"
    QUALIFIED = "qualified", "Qualified"
    DISQUALIFIED = "disqualified", "Disqualified"
    CONVERTED = "converted", "Converted"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Lead(models.Model):
    """A person who may become a customer, before there is an account and a deal."""

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    company = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=120, blank=True)
    country = models.CharField(max_length=2, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=LeadSource.choices, default=LeadSource.WEB)
    status = models.CharField(max_length=12, choices=LeadStatus.choices, default=LeadStatus.NEW)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
    )
    created_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    converted_account = models.ForeignKey(
        "Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    disqualify_reason = models.CharField(max_length=255, blank=True)
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "owner"

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.company})".strip()

    @property
    def segment(self) -> str:
        return segment_for(self.employees)


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class LeadRoutingRule(models.Model):
    """Sends new leads that match (country and/or segment; blank matches all) to a team, where
    they go round-robin to the team's active reps. Rules are tried in ``position`` order."""

    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    country = models.CharField(max_length=2, blank=True)
    segment = models.CharField(max_length=3, choices=Segment.choices, blank=True)
    team = models.ForeignKey("org.Team", on_delete=models.CASCADE, related_name="+")
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name

    def matches(self, lead: Lead) -> bool:
        return (not self.country or self.country == lead.country.upper()) and (
            not self.segment or self.segment == lead.segment
        )


class ActivityKind(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    DEMO = "demo", "Demo"
    TASK = "task", "Task"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Activity(models.Model):
    """A call, email, meeting, demo or task, tied to a deal, account or contact."""

    kind = models.CharField(max_length=10, choices=ActivityKind.choices)
    subject = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="activities"
    )
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "owner"

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["owner", "done_at", "due_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(deal__isnull=False)
                | Q(account__isnull=False)
                | Q(contact__isnull=False),
                name="activity_has_a_subject_record",
                violation_error_message="An activity belongs to a deal, an account or a contact.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"

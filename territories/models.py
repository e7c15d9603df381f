"""Territory plans (the live one and draft scenarios), their territory trees, members and
assignment rules; the runs that apply rules to accounts and the effective-dated record of where
each account sat; quota plans, quotas, their review chain and ramp profiles."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from salesops.money import AmountField, CurrencyField
from salesops.org.models import VisibleQuerySet


class PlanStatus(models.TextChoices):
    LIVE = "live", "Live"
    DRAFT = "draft", "Draft scenario"
    SCHEDULED = "scheduled", "Scheduled to go live"
    RETIRED = "retired", "Retired (was live)"
    ARCHIVED = "archived", "Archived scenario"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class TerritoryPlan(models.Model):
    """A whole territory plan: the one live plan, or a draft scenario copied from it.

    A scenario owns copies of the territories, members and rules, so editing it changes nothing
    live; applying it makes it the live plan from a chosen date. Territories keep their ``key``
    across copies, which is how two plans are compared.
    """

    name = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="scenarios"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    effective_date = models.DateField(
        null=True, blank=True, help_text="The day this plan went (or goes) live."
    )
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "created_by"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "status",
                condition=Q(status="live"),
                name="territory_plan_one_live",
                violation_error_message="Only one territory plan can be live.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status == PlanStatus.DRAFT


class TerritoryType(models.TextChoices):
    GEOGRAPHY = "geo", "Geography"
    SEGMENT = "segment", "Segment"
    NAMED = "named", "Named accounts"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Territory(models.Model):
    """A node of a plan's territory tree (Americas › North America › US West › NorCal)."""

    plan = models.ForeignKey(TerritoryPlan, on_delete=models.CASCADE, related_name="territories")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    key = models.SlugField(
        max_length=60, help_text="Stable code, the same in every scenario (e.g. us-west-norcal)."
    )
    name = models.CharField(max_length=120)
    type = models.CharField(
        max_length=7, choices=TerritoryType.choices, default=TerritoryType.GEOGRAPHY
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "manager"

    class Meta:
        ordering = ["plan", "name"]
        verbose_name_plural = "territories"
        constraints = [
            models.UniqueConstraint(
                "plan",
                "key",
                name="territory_unique_key_per_plan",
                violation_error_message="A territory with this key already exists in the plan.",
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("pk")),
                name="territory_not_own_parent",
                violation_error_message="A territory cannot be its own parent.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MemberRole(models.TextChoices):
    OWNER = "owner", "Owner"
    OVERLAY = "overlay", "Overlay"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class TerritoryMember(models.Model):
    """A rep working a territory: owners own its accounts, overlays are credited beside them."""

    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="territory_memberships"
    )
    role = models.CharField(max_length=7, choices=MemberRole.choices, default=MemberRole.OWNER)

    class Meta:
        ordering = ["territory", "role", "user"]
        constraints = [
            models.UniqueConstraint(
                "territory",
                "user",
                name="territory_member_once",
                violation_error_message="This person is already a member of the territory.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.territory}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class AssignmentRule(models.Model):
    """One ordered rule of a plan: accounts matching every condition it sets land in its territory.

    Empty conditions match anything. List conditions match any of their values (countries and
    regions case-insensitively, postal codes by prefix); ranges include both ends. Rules are
    tried by ``position``; the first match wins; the plan's catch-all rule takes the rest.
    """

    plan = models.ForeignKey(TerritoryPlan, on_delete=models.CASCADE, related_name="rules")
    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=120, blank=True)
    countries = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    regions = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    postal_prefixes = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    industries = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    segments = ArrayField(models.CharField(max_length=3), default=list, blank=True)
    employees_min = models.PositiveIntegerField(null=True, blank=True)
    employees_max = models.PositiveIntegerField(null=True, blank=True)
    revenue_min = AmountField(null=True, blank=True)
    revenue_max = AmountField(null=True, blank=True)
    named_account_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    catch_all = models.BooleanField(default=False)

    class Meta:
        ordering = ["plan", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                "plan",
                condition=Q(catch_all=True),
                name="assignment_rule_one_catch_all",
                violation_error_message="A plan has exactly one catch-all rule.",
            ),
            models.CheckConstraint(
                condition=Q(employees_min__isnull=True)
                | Q(employees_max__isnull=True)
                | Q(employees_min__lte=models.F("employees_max")),
                name="assignment_rule_employee_range",
                violation_error_message="The minimum employees must not exceed the maximum.",
            ),
            models.CheckConstraint(
                condition=Q(revenue_min__isnull=True)
                | Q(revenue_max__isnull=True)
                | Q(revenue_min__lte=models.F("revenue_max")),
                name="assignment_rule_revenue_range",
                violation_error_message="The minimum revenue must not exceed the maximum.",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"Rule {self.position} → {self.territory}"


class RunStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class AssignmentRun(models.Model):
    """One application of a plan's rules to every account, effective from a date.

    A run dated in the future waits (``scheduled``) until beat applies it on that day. Progress
    and the outcome are kept here so the page can show them; ``AssignmentMove`` lists what moved.
    """

    plan = models.ForeignKey(TerritoryPlan, on_delete=models.PROTECT, related_name="runs")
    effective_date = models.DateField()
    reassign_open_deals = models.BooleanField(
        default=False, help_text="Also give moved accounts' open deals to the new owner."
    )
    status = models.CharField(max_length=9, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    step = models.CharField(max_length=120, blank=True)
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_moved = models.PositiveIntegerField(default=0)
    owners_changed = models.PositiveIntegerField(default=0)
    deals_reassigned = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    task_id = models.CharField(
        max_length=64, blank=True, help_text="The Celery task; its state carries live progress."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "created_by"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.plan} from {self.effective_date} ({self.status})"


class AssignmentMove(models.Model):
    """An account a run moved to another territory or owner (the run's record of what moved)."""

    run = models.ForeignKey(AssignmentRun, on_delete=models.CASCADE, related_name="moves")
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    from_territory_key = models.CharField(max_length=60, blank=True)
    to_territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    deals_reassigned = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "account"]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.from_territory_key or '—'} → {self.to_territory.key}"


class AccountTerritory(models.Model):
    """Where an account sat, and who owned it, from ``valid_from`` until ``valid_to`` (inclusive).

    The account row holds today's territory and owner; this keeps the past (and a scheduled
    future), so figures by territory can be computed as of any date.
    """

    account = models.ForeignKey(
        "crm.Account", on_delete=models.CASCADE, related_name="territory_spans"
    )
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    run = models.ForeignKey(AssignmentRun, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["account", "valid_from"]
        indexes = [models.Index(fields=["account", "valid_from"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="account_territory_span_ordered",
                violation_error_message="A span cannot end before it starts.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} in {self.territory_id} from {self.valid_from}"


# --- Quotas -------------------------------------------------------------------------------------


class AllocationBasis(models.TextChoices):
    POTENTIAL = "potential", "Potential (account revenue)"
    HISTORY = "history", "History (trailing 12-month bookings)"
    EQUAL = "equal", "Equal"


class QuotaPlanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved by every manager"
    PUBLISHED = "published", "Published (locked)"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class RampProfile(models.Model):
    """Percent of full quota a new hire carries in each month of tenure (100 % after the list)."""

    name = models.CharField(max_length=80, unique=True)
    percents = ArrayField(models.DecimalField(max_digits=5, decimal_places=2))

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class QuotaPlan(models.Model):
    """A fiscal year's quota plan: the company target, how it is split, and its approval state."""

    fiscal_year = models.PositiveSmallIntegerField(unique=True)
    target = AmountField(help_text="Company bookings target for the fiscal year.")
    currency = CurrencyField(default="USD")
    basis = models.CharField(
        max_length=9, choices=AllocationBasis.choices, default=AllocationBasis.HISTORY
    )
    month_weights = ArrayField(
        models.DecimalField(max_digits=7, decimal_places=4),
        size=12,
        help_text="Seasonality: one weight per fiscal month (e.g. percent of the year).",
    )
    ramp_profile = models.ForeignKey(
        RampProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=9, choices=QuotaPlanStatus.choices, default=QuotaPlanStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "created_by"

    class Meta:
        ordering = ["-fiscal_year"]
        constraints = [
            models.CheckConstraint(
                condition=Q(target__gte=0),
                name="quota_plan_target_not_negative",
                violation_error_message="The target cannot be negative.",
            )
        ]

    def __str__(self) -> str:
        return f"FY{self.fiscal_year} quotas"

    @property
    def is_locked(self) -> bool:
        return self.status == QuotaPlanStatus.PUBLISHED


class QuotaSource(models.TextChoices):
    TOP_DOWN = "top_down", "Allocated top-down"
    MANUAL = "manual", "Entered by ops"
    IMPORT = "import", "Imported"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Quota(models.Model):
    """The bookings a rep, team or territory is asked for in one fiscal month, quarter or year.

    ``full_amount`` is the quota before any ramp; ``amount`` is what the holder carries.
    """

    plan = models.ForeignKey(QuotaPlan, on_delete=models.CASCADE, related_name="quotas")
    period_kind = models.CharField(max_length=7)
    period_key = models.CharField(max_length=10)
    period_start = models.DateField()
    period_end = models.DateField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey(
        "org.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    territory = models.ForeignKey(
        Territory, null=True, blank=True, on_delete=models.CASCADE, related_name="quotas"
    )
    amount = AmountField()
    full_amount = AmountField()
    source = models.CharField(
        max_length=8, choices=QuotaSource.choices, default=QuotaSource.TOP_DOWN
    )
    updated_at = models.DateTimeField(auto_now=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "user"
    visibility_team_field = "team"

    class Meta:
        ordering = ["plan", "period_start", "period_kind"]
        indexes = [models.Index(fields=["user", "period_start"])]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, team__isnull=True, territory__isnull=True)
                    | Q(user__isnull=True, team__isnull=False, territory__isnull=True)
                    | Q(user__isnull=True, team__isnull=True, territory__isnull=False)
                ),
                name="quota_one_holder",
                violation_error_message="A quota belongs to exactly one rep, team or territory.",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(full_amount__gte=0),
                name="quota_not_negative",
                violation_error_message="A quota cannot be negative.",
            ),
            models.UniqueConstraint(
                "plan",
                "period_key",
                "user",
                "team",
                "territory",
                name="quota_once_per_holder_period",
                nulls_distinct=False,
                violation_error_message="This holder already has a quota for that period.",
            ),
        ]

    def __str__(self) -> str:
        holder = self.user or self.team or self.territory
        return f"{holder} {self.period_key}: {self.amount}"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    ACCEPTED = "accepted", "Accepted"
    SENT_BACK = "sent_back", "Sent back"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class QuotaReview(models.Model):
    """One manager level's decision on a proposed quota plan (the approval chain).

    Levels go from the top of the team tree down: a level may decide once every level above it
    has accepted. Sending back returns the plan to ops with the comment.
    """

    plan = models.ForeignKey(QuotaPlan, on_delete=models.CASCADE, related_name="reviews")
    team = models.ForeignKey("org.Team", on_delete=models.CASCADE, related_name="+")
    level = models.PositiveSmallIntegerField(help_text="Depth of the team: 0 is the top.")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quota_reviews"
    )
    status = models.CharField(
        max_length=9, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "reviewer"

    class Meta:
        ordering = ["plan", "level", "team__name"]
        constraints = [
            models.UniqueConstraint(
                "plan", "team", name="quota_review_once_per_team",
                violation_error_message="This team already reviews the plan.",
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.plan} · {self.team}: {self.status}"

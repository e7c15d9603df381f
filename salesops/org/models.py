"""Org kernel tables: users, teams (a tree), rep profiles, org settings, exchange rates."""

from __future__ import annotations

from functools import cached_property

import pghistory
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models import Q

from salesops.fiscal import FiscalCalendar, YearNaming
from salesops.money import CurrencyField, RateField
from salesops.org.roles import ROLE_PRECEDENCE, Role


class VisibleQuerySet(models.QuerySet):
    """QuerySet with the one scoping entry point, ``visible_to(user)`` (see salesops.permissions)."""

    def visible_to(self, user, action: str = "view"):
        from salesops.permissions import restrict

        return restrict(self, user, action)


class UserManager(DjangoUserManager.from_queryset(VisibleQuerySet)):
    """Django's user manager (create_user, …) plus ``visible_to``."""


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    exclude=["password", "last_login"],
)
class User(AbstractUser):
    """A person who signs in. Their role is their group; sales people also have a RepProfile."""

    # The person's id in the system the organisation moved from (e.g. a Salesforce user id).
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    objects = UserManager()

    # Scoping: a user record is "owned" by the user itself.
    visibility_owner_field = "pk"

    class Meta:
        ordering = ["last_name", "first_name", "username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @cached_property
    def role(self) -> Role | None:
        """The broadest role among the user's groups (superusers are admins)."""
        if self.is_superuser:
            return Role.ADMIN
        names = {g.name for g in self.groups.all()}
        return next((r for r in ROLE_PRECEDENCE if r.value in names), None)


@pghistory.track(
    pghistory.InsertEvent("role.add"),
    pghistory.DeleteEvent("role.remove"),
    obj_field=None,
    model_name="UserRoleEvent",
)
class UserRole(User.groups.through):
    """Role (group) membership, tracked so the audit trail shows who gave whom which role."""

    class Meta:
        proxy = True


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Team(models.Model):
    """A node of the sales organisation tree (company › region › area › team), any depth."""

    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    manager = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )
    cost_centre = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_default="",
        help_text="Finance cost centre; payroll exports carry it.",
    )
    objects = VisibleQuerySet.as_manager()

    visibility_team_field = "pk"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "parent",
                "name",
                name="team_unique_name_per_parent",
                nulls_distinct=False,
                violation_error_message="A team with this name already exists under that parent.",
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("pk")),
                name="team_not_own_parent",
                violation_error_message="A team cannot be its own parent.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SalesRole(models.TextChoices):
    SDR = "SDR", "Sales development rep"
    AE = "AE", "Account executive"
    AM = "AM", "Account manager"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class RepProfile(models.Model):
    """The selling side of a user: which team they sell in, their sales role and ramp."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="rep_profile")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="reps")
    sales_role = models.CharField(max_length=3, choices=SalesRole.choices)
    employee_id = models.CharField(max_length=32, unique=True)
    hire_date = models.DateField()
    ramp_months = models.PositiveSmallIntegerField(
        default=3, help_text="Months after hire during which quota and pay are ramped."
    )
    active = models.BooleanField(default=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "user"

    class Meta:
        ordering = ["team__name", "user__last_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ramp_months__lte=36),
                name="rep_ramp_months_at_most_36",
                violation_error_message="Ramp months must be between 0 and 36.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.sales_role}, {self.team})"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent())
class OrgSettings(models.Model):
    """The one row of company-wide settings: name, corporate currency, fiscal calendar."""

    company_name = models.CharField(max_length=120, default="SalesOps")
    corporate_currency = CurrencyField(default="USD")
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        default=1, help_text="1 = January … 12 = December."
    )
    fiscal_year_naming = models.CharField(
        max_length=5,
        choices=YearNaming.choices,
        default=YearNaming.END,
        help_text="Name a fiscal year after the calendar year it ends in, or starts in.",
    )

    class Meta:
        verbose_name = "org settings"
        verbose_name_plural = "org settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(pk=1),
                name="org_settings_singleton",
                violation_error_message="There is only one org settings row.",
            ),
            models.CheckConstraint(
                condition=Q(fiscal_year_start_month__gte=1, fiscal_year_start_month__lte=12),
                name="org_settings_fiscal_month_1_12",
                violation_error_message="The fiscal year start month must be 1 to 12.",
            ),
        ]

    def __str__(self) -> str:
        return self.company_name

    @property
    def fiscal_calendar(self) -> FiscalCalendar:
        return FiscalCalendar(
            start_month=self.fiscal_year_start_month, naming=YearNaming(self.fiscal_year_naming)
        )


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ExchangeRate(models.Model):
    """How many units of the corporate currency one unit of ``currency`` bought from ``valid_from``.

    A rate stays in force until the next row for the same currency; see
    ``salesops.org.selectors.exchange_rate_on`` for the rate-date rule.
    """

    currency = CurrencyField()
    valid_from = models.DateField()
    rate = RateField()

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                "currency",
                "valid_from",
                name="exchange_rate_unique_per_day",
                violation_error_message="A rate for this currency and date already exists.",
            ),
            models.CheckConstraint(
                condition=Q(rate__gt=0),
                name="exchange_rate_positive",
                violation_error_message="An exchange rate must be greater than zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} from {self.valid_from}"

"""Writes of the org kernel. Each is one transaction, recorded in the audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db import transaction

from salesops.audit import audit_context
from salesops.errors import DomainError
from salesops.money import validate_currency
from salesops.org import selectors
from salesops.org.models import ExchangeRate, OrgSettings, RepProfile, SalesRole, Team, User
from salesops.org.roles import Role


def user_create(
    *,
    username: str,
    role: Role,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
    acting_user: User | None = None,
) -> User:
    """Create a user in exactly one role group."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="user_create"):
        if User.objects.filter(username__iexact=username).exists():
            raise DomainError(f"The username '{username}' is already taken.", field="username")
        user = User.objects.create_user(
            username=username,
            email=email,
            first_name=first_name,
            last_name=last_name,
            password=password,
            is_staff=Role(role) == Role.ADMIN,
        )
        user.groups.set([Group.objects.get(name=Role(role).value)])
        return user


def user_set_role(*, user: User, role: Role, acting_user: User | None = None) -> User:
    """Move ``user`` to ``role`` (replacing any other role group)."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="user_set_role"):
        role_names = [r.value for r in Role]
        user.groups.remove(*Group.objects.filter(name__in=role_names))
        user.groups.add(Group.objects.get(name=Role(role).value))
        if user.is_staff != (Role(role) == Role.ADMIN) and not user.is_superuser:
            user.is_staff = Role(role) == Role.ADMIN  # only admins reach the Django admin
            user.save(update_fields=["is_staff"])
        user.__dict__.pop("role", None)
        return user


def team_create(
    *,
    name: str,
    parent: Team | None = None,
    manager: User | None = None,
    acting_user: User | None = None,
) -> Team:
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="team_create"):
        if Team.objects.filter(parent=parent, name=name).exists():
            raise DomainError(
                f"A team named '{name}' already exists under {parent or 'the top level'}.",
                field="name",
            )
        return Team.objects.create(name=name, parent=parent, manager=manager)


def team_move(*, team: Team, parent: Team | None, acting_user: User | None = None) -> Team:
    """Re-parent ``team``; refused if that would put it under itself."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="team_move"):
        if parent is not None and parent.pk in selectors.team_subtree_ids([team.pk]):
            raise DomainError(
                f"Cannot move '{team}' under '{parent}': '{parent}' is inside '{team}'.",
                field="parent",
            )
        team.parent = parent
        team.save(update_fields=["parent"])
        return team


def rep_profile_create(
    *,
    user: User,
    team: Team,
    sales_role: SalesRole,
    employee_id: str,
    hire_date: dt.date,
    ramp_months: int = 3,
    acting_user: User | None = None,
) -> RepProfile:
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="rep_profile_create"):
        if RepProfile.objects.filter(employee_id=employee_id).exists():
            raise DomainError(
                f"Employee id {employee_id} already belongs to another rep.", field="employee_id"
            )
        if not 0 <= ramp_months <= 36:
            raise DomainError("Ramp months must be between 0 and 36.", field="ramp_months")
        return RepProfile.objects.create(
            user=user,
            team=team,
            sales_role=sales_role,
            employee_id=employee_id,
            hire_date=hire_date,
            ramp_months=ramp_months,
        )


def org_settings_update(
    *,
    acting_user: User | None = None,
    company_name: str | None = None,
    corporate_currency: str | None = None,
    fiscal_year_start_month: int | None = None,
    fiscal_year_naming: str | None = None,
) -> OrgSettings:
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="org_settings_update"):
        settings = OrgSettings.objects.select_for_update().get_or_create(pk=1)[0]
        if fiscal_year_start_month is not None and not 1 <= fiscal_year_start_month <= 12:
            raise DomainError(
                "The fiscal year start month must be 1 to 12.", field="fiscal_year_start_month"
            )
        if corporate_currency is not None:
            _require_currency(corporate_currency)
        for field, value in {
            "company_name": company_name,
            "corporate_currency": corporate_currency,
            "fiscal_year_start_month": fiscal_year_start_month,
            "fiscal_year_naming": fiscal_year_naming,
        }.items():
            if value is not None:
                setattr(settings, field, value)
        settings.save()
        return settings


def exchange_rate_set(
    *, currency: str, valid_from: dt.date, rate: Decimal, acting_user: User | None = None
) -> ExchangeRate:
    """Enter (or correct) the rate of ``currency`` from ``valid_from`` on."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="exchange_rate_set"):
        _require_currency(currency)
        if currency == selectors.org_settings().corporate_currency:
            raise DomainError(
                f"{currency} is the corporate currency; its rate is always 1.", field="currency"
            )
        if Decimal(rate) <= 0:
            raise DomainError("An exchange rate must be greater than zero.", field="rate")
        obj, _ = ExchangeRate.objects.update_or_create(
            currency=currency, valid_from=valid_from, defaults={"rate": rate}
        )
        return obj


def _require_currency(code: str) -> None:
    from django.core.exceptions import ValidationError

    try:
        validate_currency(code)
    except ValidationError as error:
        raise DomainError(error.messages[0], field="currency") from None

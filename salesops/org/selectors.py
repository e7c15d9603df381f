"""Read queries of the org kernel, shared by pages, API and tasks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.db.models import Q, QuerySet

from salesops.errors import DomainError
from salesops.fiscal import FiscalCalendar
from salesops.money import convert
from salesops.org.models import ExchangeRate, OrgSettings, Team, User

_SUBTREE_SQL = """
WITH RECURSIVE subtree(id) AS (
    SELECT id FROM org_team WHERE id = ANY(%s)
    UNION
    SELECT t.id FROM org_team t JOIN subtree s ON t.parent_id = s.id
)
SELECT id FROM subtree
"""


def team_subtree_ids(root_ids: list[int]) -> list[int]:
    """Ids of the given teams and every team below them (one recursive query)."""
    if not root_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_SUBTREE_SQL, [list(root_ids)])
        return sorted(row[0] for row in cursor.fetchall())


def managed_team_ids(user: User) -> list[int]:
    """The subtree of teams ``user`` manages (cached on the user object for the request)."""
    cached = getattr(user, "_managed_team_ids", None)
    if cached is None:
        roots = list(Team.objects.filter(manager=user).values_list("pk", flat=True))
        cached = team_subtree_ids(roots)
        user._managed_team_ids = cached
    return cached


def managed_user_ids(user: User) -> list[int]:
    """Ids of the reps in, and managers of, ``user``'s team subtree, plus ``user`` (cached per request).

    A literal id list rather than a subquery: Postgres then plans an index scan per owner on
    ``deal_open_by_owner`` and friends instead of a hash semi-join over the whole table.
    """
    cached = getattr(user, "_managed_user_ids", None)
    if cached is None:
        team_ids = managed_team_ids(user)
        condition = (
            Q(rep_profile__team__in=team_ids) | Q(managed_teams__in=team_ids) | Q(pk=user.pk)
        )
        cached = sorted(set(User.objects.filter(condition).values_list("pk", flat=True)))
        user._managed_user_ids = cached
    return cached


def org_settings() -> OrgSettings:
    settings, _ = OrgSettings.objects.get_or_create(pk=1)
    return settings


def fiscal_calendar() -> FiscalCalendar:
    return org_settings().fiscal_calendar


def exchange_rate_on(currency: str, day: dt.date) -> Decimal:
    """Rate of ``currency`` into the corporate currency in force on ``day``.

    Rate-date rule: the rate with the latest ``valid_from`` on or before ``day``. Callers pass
    the business date of the amount (a deal's close date for bookings and commissions, the
    period end for quotas), so a figure never changes when later rates are entered.
    """
    if currency == org_settings().corporate_currency:
        return Decimal(1)
    rate = (
        ExchangeRate.objects.filter(currency=currency, valid_from__lte=day)
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise DomainError(
            f"No exchange rate for {currency} on or before {day.isoformat()}: "
            f"add one under Settings › Exchange rates.",
            field="currency",
        )
    return rate


def to_corporate(amount: Decimal, currency: str, day: dt.date) -> Decimal:
    """``amount`` in ``currency`` converted to the corporate currency at the rate of ``day``."""
    return convert(amount, exchange_rate_on(currency, day), org_settings().corporate_currency)


def rep_ramp_end(profile) -> dt.date:
    """The day a rep's ramp ends (hire date plus ramp months)."""
    from dateutil.relativedelta import relativedelta

    return profile.hire_date + relativedelta(months=profile.ramp_months)


def reps_visible_to(user: User) -> QuerySet:
    """Rep profiles in ``user``'s scope, with user and team loaded for listing."""
    from salesops.org.models import RepProfile

    return (
        RepProfile.objects.visible_to(user)
        .select_related("user", "team")
        .order_by("team__name", "user__last_name", "user__first_name")
    )


def team_tree_visible_to(user: User) -> list[dict]:
    """Visible teams as a depth-first list of ``{"team", "depth", "rep_count"}`` rows."""
    from django.db.models import Count

    teams = list(
        Team.objects.visible_to(user)
        .select_related("manager")
        .annotate(rep_count=Count("reps", filter=Q(reps__active=True)))
    )
    by_parent: dict[int | None, list[Team]] = {}
    ids = {t.pk for t in teams}
    for team in teams:
        parent = team.parent_id if team.parent_id in ids else None
        by_parent.setdefault(parent, []).append(team)
    rows: list[dict] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for team in sorted(by_parent.get(parent_id, []), key=lambda t: t.name):
            rows.append({"team": team, "depth": depth, "rep_count": team.rep_count})
            walk(team.pk, depth + 1)

    walk(None, 0)
    return rows


def exchange_rates_current() -> list[ExchangeRate]:
    """The latest rate of each currency."""
    return list(ExchangeRate.objects.order_by("currency", "-valid_from").distinct("currency"))

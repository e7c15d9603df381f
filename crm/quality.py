"""Data-quality checks for sales ops: each returns the offending rows, scoped to the caller.

Every check is one query (counts) plus a page of rows, so the page stays fast at any size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Concat, Lower, Replace
from django.utils import timezone

from crm.models import Account, Activity, Contact, Deal
from salesops.org.models import User

NO_ACTIVITY_DAYS = 14


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    fix: str  # what the person should do


CHECKS = [
    Check("past_close_date", "Open deals past their close date", "Move the close date or close the deal."),
    Check("no_next_step", "Open deals without a next step", "Add the next step."),
    Check("no_recent_activity", f"Open deals with no activity in {NO_ACTIVITY_DAYS} days", "Log a call or plan a task."),
    Check("rotting", "Deals idle in their stage longer than the stage allows", "Move the deal on or close it."),
]  # fmt: skip


def deals_failing(check: str, *, user: User, today: dt.date | None = None) -> QuerySet:
    """Open deals in ``user``'s scope that fail ``check``."""
    deals = Deal.objects.visible_to(user).select_related("account", "owner", "stage")
    return failing(deals, check, today=today)


def failing(deals: QuerySet, check: str, *, today: dt.date | None = None) -> QuerySet:
    """The open deals of ``deals`` that fail ``check`` (the deal list's quality filter too)."""
    today = today or timezone.localdate()
    deals = deals.open()
    if check == "past_close_date":
        return deals.filter(close_date__lt=today).order_by("close_date")
    if check == "no_next_step":
        return deals.filter(next_step="").order_by("close_date")
    if check == "no_recent_activity":
        since = timezone.now() - dt.timedelta(days=NO_ACTIVITY_DAYS)
        recent = Activity.objects.filter(deal=OuterRef("pk"), created_at__gte=since)
        return deals.filter(~Exists(recent), created_at__lt=since).order_by("close_date")
    if check == "rotting":
        return deals.filter(
            stage__rot_days__isnull=False,
            stage_entered_at__lt=timezone.now() - F("stage__rot_days") * dt.timedelta(days=1),
        ).order_by("stage_entered_at")
    raise ValueError(f"Unknown data-quality check {check!r}.")


def likely_duplicate_accounts(*, user: User, limit: int = 50) -> list[dict]:
    """Groups of accounts with the same normalised name or the same domain."""
    accounts = Account.objects.visible_to(user).annotate(
        key=Replace(Replace(Lower("name"), Value(" "), Value("")), Value(","), Value(""))
    )
    by_name = (
        accounts.values("key").annotate(n=Count("pk")).filter(n__gt=1).order_by("-n", "key")[:limit]
    )
    by_domain = (
        accounts.exclude(domain="")
        .values("domain")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("-n", "domain")[:limit]
    )
    groups = []
    for row in by_name:
        members = list(accounts.filter(key=row["key"]).select_related("owner").order_by("pk"))
        groups.append({"reason": "same name", "accounts": members})
    for row in by_domain:
        members = list(accounts.filter(domain=row["domain"]).select_related("owner").order_by("pk"))
        if not any({a.pk for a in members} == {a.pk for a in g["accounts"]} for g in groups):
            groups.append({"reason": f"same domain {row['domain']}", "accounts": members})
    return groups


def likely_duplicate_contacts(*, user: User, limit: int = 50) -> list[dict]:
    """Groups of contacts with the same email (any case), or the same full name (case and
    spaces ignored) at the same account. Four queries whatever the number of groups."""
    contacts = Contact.objects.visible_to(user).annotate(
        email_key=Lower("email"),
        name_key=Replace(Lower(Concat("first_name", "last_name")), Value(" "), Value("")),
    )
    emails = [
        row["email_key"]
        for row in contacts.exclude(email="")
        .values("email_key")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("-n", "email_key")[:limit]
    ]
    names = [
        (row["account_id"], row["name_key"])
        for row in contacts.values("account_id", "name_key")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("-n", "account_id", "name_key")[:limit]
    ]
    related = contacts.select_related("account", "owner").order_by("pk")
    groups: list[dict] = []
    if emails:
        members: dict[str, list] = {key: [] for key in emails}
        for contact in related.filter(email_key__in=emails):
            members[contact.email_key].append(contact)
        groups += [{"reason": f"same email {key}", "contacts": members[key]} for key in emails]
    if names:
        members = {key: [] for key in names}
        in_groups = related.filter(
            account_id__in={a for a, _ in names}, name_key__in={k for _, k in names}
        )
        for contact in in_groups:
            if (contact.account_id, contact.name_key) in members:
                members[(contact.account_id, contact.name_key)].append(contact)
        for key in names:
            ids = {c.pk for c in members[key]}
            if not any(ids == {c.pk for c in g["contacts"]} for g in groups):
                account = members[key][0].account
                groups.append({"reason": f"same name at {account}", "contacts": members[key]})
    return groups


def summary(*, user: User) -> list[dict]:
    """Each check with its count and first rows."""
    return [
        {
            "check": check,
            "count": (rows := deals_failing(check.key, user=user)).count(),
            "rows": rows[:20],
        }
        for check in CHECKS
    ]


__all__ = [
    "CHECKS",
    "deals_failing",
    "failing",
    "likely_duplicate_accounts",
    "likely_duplicate_contacts",
    "summary",
]

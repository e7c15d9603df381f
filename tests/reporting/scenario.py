"""A small organisation whose every KPI is worked out by hand: March and April 2026."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.leads import lead_create
from crm.models import Activity, Deal, Lead
from crm.services import activity_log, deal_close, deal_create, deal_move
from salesops.fiscal import PeriodKind
from salesops.org.selectors import fiscal_calendar
from salesops.org.services import exchange_rate_set
from territories.models import Quota, QuotaPlan, QuotaPlanStatus
from tests.conftest import fresh
from tests.crm.conftest import stage

MARCH, APRIL, Q1, YEAR = "2026-M03", "2026-M04", "2026-Q01", "2026"


def at(day: str, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour)))


def closed(org, accounts, pipeline, rep, *, won, amount, created, closes, currency="USD"):
    deal = deal_create(
        acting_user=fresh(rep), account=accounts[rep], name=f"{rep.username} {closes}",
        amount=Decimal(amount), close_date=dt.date.fromisoformat(closes), currency=currency,
    )  # fmt: skip
    fields = {} if won else {"lost_reason": "Price"}
    deal = deal_close(deal=deal, won=won, acting_user=fresh(rep), expected_version=1, fields=fields)
    Deal.objects.filter(pk=deal.pk).update(created_at=at(created))
    return deal


def opened(org, accounts, pipeline, rep, *, stage_name, amount, closes, currency="USD"):
    deal = deal_create(
        acting_user=fresh(rep), account=accounts[rep], name=f"{rep.username} open {closes}",
        amount=Decimal(amount), close_date=dt.date.fromisoformat(closes), currency=currency,
        next_step="Call",
    )  # fmt: skip
    return deal_move(deal=deal, stage=stage(pipeline, stage_name), acting_user=fresh(rep),
                     expected_version=1)  # fmt: skip


def quota_plan(fiscal_year: int, status: str, holders: dict, kind: str = "month") -> QuotaPlan:
    """A quota plan of ``fiscal_year`` with quotas ``holders`` = {(holder field, holder): {period
    start: amount}} for periods of ``kind``, written directly (the allocation is not under test)."""
    plan = QuotaPlan.objects.create(
        fiscal_year=fiscal_year, target=Decimal(0), currency="USD", month_weights=[1] * 12,
        status=status,
    )  # fmt: skip
    add_quotas(plan, holders, kind)
    return plan


def add_quotas(plan: QuotaPlan, holders: dict, kind: str = "month") -> None:
    calendar = fiscal_calendar()
    rows = []
    for (field, holder), amounts in holders.items():
        for start, amount in amounts.items():
            period = calendar.period(dt.date.fromisoformat(start), PeriodKind(kind))
            rows.append(Quota(
                plan=plan, period_kind=kind, period_key=period.key, period_start=period.start,
                period_end=period.end, amount=Decimal(amount), full_amount=Decimal(amount),
                **{field: holder},
            ))  # fmt: skip
    Quota.objects.bulk_create(rows)


def values(rows) -> dict[tuple, Decimal | None]:
    return {(r.metric, r.period_key, r.scope_kind, r.scope_id, r.breakdown): r.value for r in rows}


@pytest.fixture
def book(org, pipeline, accounts):
    """Closed and open deals, meetings, leads and quotas of March and April 2026 (calendar fiscal
    year)."""
    exchange_rate_set(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=Decimal("1.10"))
    exchange_rate_set(currency="EUR", valid_from=dt.date(2026, 3, 6), rate=Decimal("1.20"))
    closed(
        org,
        accounts,
        pipeline,
        org.rep_east,
        won=True,
        amount="1000",
        created="2026-01-05",
        closes="2026-03-10",
    )  # cycle 64 days
    closed(
        org,
        accounts,
        pipeline,
        org.rep_east_2,
        won=True,
        amount="3000",
        created="2026-02-01",
        closes="2026-03-20",
    )  # cycle 47 days
    closed(
        org,
        accounts,
        pipeline,
        org.rep_west,
        won=False,
        amount="2000",
        created="2026-02-10",
        closes="2026-03-15",
    )
    closed(
        org,
        accounts,
        pipeline,
        org.rep_london,
        won=True,
        amount="500",
        created="2026-01-20",
        closes="2026-04-02",
    )  # cycle 72 days
    opened(
        org,
        accounts,
        pipeline,
        org.rep_east,
        stage_name="Proposal",
        amount="4000",
        closes="2026-03-31",
    )
    # EUR at the rate in force on its close date (1.10), not the later one: 1,100 USD.
    opened(
        org,
        accounts,
        pipeline,
        org.rep_east,
        stage_name="Discovery",
        amount="1000",
        closes="2026-03-05",
        currency="EUR",
    )
    for day in ("2026-03-03", "2026-03-04"):
        meeting = activity_log(acting_user=fresh(org.rep_east), kind="meeting", subject="Demo",
                               account=accounts[org.rep_east])  # fmt: skip
        Activity.objects.filter(pk=meeting.pk).update(done_at=at(day))
    call = activity_log(acting_user=fresh(org.rep_east), kind="call", subject="Not a meeting",
                        account=accounts[org.rep_east])  # fmt: skip
    Activity.objects.filter(pk=call.pk).update(done_at=at("2026-03-05"))
    for created, answered in (("2026-03-01", 2), ("2026-03-02", 6), ("2026-03-03", None)):
        lead = lead_create(acting_user=fresh(org.ops), last_name="Lead", company="Co",
                           owner=org.rep_east)  # fmt: skip
        Lead.objects.filter(pk=lead.pk).update(
            created_at=at(created, 9),
            first_response_at=at(created, 9 + answered) if answered else None,
        )
    # Monthly rep quotas of the published FY2026 plan (rep_west carries 0 in April). Its
    # quarter and team quotas and the draft FY2027 plan do not count.
    plan = quota_plan(2026, QuotaPlanStatus.PUBLISHED, {
        ("user", org.rep_east): {"2026-03-01": "800", "2026-04-01": "1000"},
        ("user", org.rep_east_2): {"2026-03-01": "4000", "2026-04-01": "1000"},
        ("user", org.rep_west): {"2026-03-01": "1000", "2026-04-01": "0"},
        ("user", org.rep_london): {"2026-04-01": "500"},
    })  # fmt: skip
    add_quotas(plan, {("user", org.rep_east): {"2026-01-01": "9000"}}, kind="quarter")
    add_quotas(plan, {("team", org.east): {"2026-03-01": "9000"}})
    quota_plan(2027, QuotaPlanStatus.DRAFT, {("user", org.rep_east): {"2027-01-01": "9000"}})
    return org

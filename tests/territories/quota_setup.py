"""Quota data for the page, API and CSV tests, set up through the services.

With the ``org`` fixture's four reps (East: rep_east, rep_east_2; West: rep_west; London:
rep_london, all hired in 2024 and so fully ramped) and the equal basis, a 120,000.00 target gives
every rep 30,000.00 a year, 7,500.00 a quarter and 2,500.00 a month; East carries 60,000.00,
West 30,000.00, Americas 90,000.00, EMEA and London 30,000.00 each.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm.models import Account
from crm.services import deal_create
from territories import quotas
from territories.models import AllocationBasis, Quota, QuotaPlan
from tests.conftest import Org, fresh
from tests.crm import conftest as crm_fixtures

FY = 2027
LOCKED = "FY2027 quotas are published and locked; a published plan cannot be changed."
D = Decimal


def make_plan(org: Org, target: str = "120000.00", *, allocate: bool = True, **fields) -> QuotaPlan:
    plan = quotas.quota_plan_create(
        fiscal_year=fields.pop("fiscal_year", FY),
        target=D(target),
        currency="USD",
        basis=fields.pop("basis", AllocationBasis.EQUAL),
        acting_user=org.ops,
        **fields,
    )
    if allocate:
        plan = quotas.quota_plan_allocate(
            plan=plan, acting_user=org.ops, as_of=dt.date(2026, 11, 1)
        )
    return plan


def review_order(org: Org):
    """Every review of the org's plan, in an order the chain accepts (top level first)."""
    return [
        (org.americas, org.vp_americas),
        (org.emea, org.vp_emea),
        (org.east, org.manager_east),
        (org.west, org.manager_west),
        (org.london, org.manager_london),
    ]


def approve(org: Org, plan: QuotaPlan) -> QuotaPlan:
    quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    for team, manager in review_order(org):
        quotas.quota_review_decide(
            review=plan.reviews.get(team=team), accept=True, acting_user=fresh(manager)
        )
    plan.refresh_from_db()
    return plan


def publish(org: Org, plan: QuotaPlan) -> QuotaPlan:
    return quotas.quota_plan_publish(plan=approve(org, plan), acting_user=org.ops)


def quota(plan: QuotaPlan, period_key: str, **holder) -> Quota:
    return Quota.objects.get(plan=plan, period_key=period_key, **holder)


def amount(plan: QuotaPlan, period_key: str, **holder) -> Decimal:
    return quota(plan, period_key, **holder).amount


def won(org: Org, pipeline, owner, value: str, close_date: dt.date, currency: str = "USD"):
    """A won deal of ``owner`` closed on ``close_date``."""
    account = Account.objects.filter(owner=owner).first() or Account.objects.create(
        name=f"{owner.username} Corp", owner=owner
    )
    return deal_create(
        acting_user=org.ops,
        account=account,
        owner=owner,
        name=f"{owner.username} {close_date} {value}",
        stage=crm_fixtures.stage(pipeline, "Closed Won"),
        amount=D(value),
        currency=currency,
        close_date=close_date,
    )

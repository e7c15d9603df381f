"""Commission data for the engine tests, set up as ops would (plans, assignments, won deals).

The standard plan pays a quarterly bookings commission on a fixed 100,000.00 quota: 5 % up to
50 %, 8 % up to 100 %, 12 % above (the accelerator), marginal tiers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from compensation import runs
from compensation.models import CommissionRun, CompPlan, PayoutLine, PlanAssignment, PlanStatus
from crm.models import Account
from crm.services import deal_create, deal_update
from salesops.org.selectors import fiscal_calendar
from tests.conftest import Org
from tests.crm import conftest as crm_fixtures

D = Decimal
Q1_DAY = dt.date(2027, 2, 10)
TIERS = [
    {"floor": 0, "rate": "0.05"},
    {"floor": 50, "rate": "0.08"},
    {"floor": 100, "rate": "0.12", "label": "Accelerator"},
]


def bookings(**changes) -> dict:
    return {
        "key": "bookings",
        "name": "Bookings commission",
        "quota": {"source": "fixed", "amount": "100000"},
        "tiers": TIERS,
        **changes,
    }


def plan(org: Org, *components: dict, key: str = "ae", **document) -> CompPlan:
    data = {
        "name": f"Plan {key}",
        "fiscal_year": 2027,
        "currency": "USD",
        "roles": [{"role": "AE", "target_incentive": "40000", "base_salary": "80000"}],
        "components": list(components) or [bookings()],
        **document,
    }
    return CompPlan.objects.create(
        key=key,
        name=data["name"],
        fiscal_year=2027,
        currency="USD",
        document=data,
        status=PlanStatus.PUBLISHED,
        created_by=org.ops,
        updated_by=org.ops,
        published_by=org.ops,
    )


def assign(plan: CompPlan, user, start=dt.date(2027, 1, 1), end=None) -> PlanAssignment:
    return PlanAssignment.objects.create(plan=plan, user=user, start_date=start, end_date=end)


def won(org: Org, pipeline, owner, value: str, close_date: dt.date, **fields):
    account = Account.objects.filter(owner=owner).first() or Account.objects.create(
        name=f"{owner.username} Corp", owner=owner
    )
    return deal_create(
        acting_user=org.ops,
        account=account,
        owner=owner,
        name=fields.pop("name", f"{owner.username} {close_date} {value}"),
        stage=crm_fixtures.stage(pipeline, "Closed Won"),
        amount=D(value),
        close_date=close_date,
        **fields,
    )


def change(org: Org, deal, **changes):
    deal.refresh_from_db()
    return deal_update(deal=deal, acting_user=org.ops, expected_version=deal.version, **changes)


def calculate(org: Org, period_key: str) -> CommissionRun:
    key = fiscal_calendar().parse(period_key).key
    run = CommissionRun.objects.filter(period_key=key).first() or runs.run_create(
        period_key=period_key, acting_user=org.ops
    )
    runs.run_calculate_request(run=run, acting_user=org.ops)
    return runs.run_calculate(run_id=run.pk)


def approve(org: Org, run: CommissionRun) -> CommissionRun:
    return runs.run_approve(run=run, acting_user=org.finance)


def lines(run: CommissionRun, user=None, **filters) -> list[PayoutLine]:
    rows = PayoutLine.objects.filter(run=run, **filters).order_by("kind", "component_key", "id")
    return list(rows.filter(user=user) if user is not None else rows)


def amounts(run: CommissionRun, user) -> list[tuple[str, str, Decimal]]:
    return [(line.kind, line.component_key, line.amount) for line in lines(run, user)]

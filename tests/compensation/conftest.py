"""Fixtures of the compensation tests."""

import datetime as dt

import pytest

from compensation import documents, plans
from compensation.models import CompPlan
from tests.crm.conftest import pipeline  # noqa: F401  (the New Business pipeline fixture)

# --- Plans and assignments (test_plans, test_plan_pages, test_plan_api) ---------------------------

PLAN_KEY = "ae-2027"
JAN_1 = dt.date(2027, 1, 1)


def plan_data(**changes) -> dict:
    """An FY2027 plan document for AEs and SDRs: a tiered quarterly bookings commission on the
    rep's quota (4 / 8 / 12 %, capped at 200 %) and a 500.00 new-logo bonus per deal."""
    return {
        "name": "AE plan",
        "fiscal_year": 2027,
        "currency": "USD",
        "roles": [
            {"role": "AE", "target_incentive": "60000", "base_salary": "90000"},
            {"role": "SDR", "target_incentive": "20000", "base_salary": "50000"},
        ],
        "components": [
            {
                "key": "bookings",
                "name": "Bookings commission",
                "quota": {"source": "quota_plan"},
                "tiers": [
                    {"floor": "0", "rate": "0.04"},
                    {"floor": "50", "rate": "0.08"},
                    {"floor": "100", "rate": "0.12", "label": "Accelerator"},
                ],
                "cap_attainment": "200",
            },
            {
                "key": "new-logos",
                "name": "New logo bonus",
                "kind": "bonus",
                "measure": "new_logos",
                "per_deal": "500",
            },
        ],
        **changes,
    }


def make_plan(org, *, key: str = PLAN_KEY, publish: bool = True, **changes) -> CompPlan:
    """A plan created (and by default published) by sales ops, through the services."""
    plan = plans.plan_create(
        document=documents.validate(plan_data(**changes)), key=key, acting_user=org.ops
    )
    return plans.plan_publish(plan=plan, acting_user=org.ops) if publish else plan


@pytest.fixture
def ae_plan(org) -> CompPlan:
    """The published FY2027 AE plan, version 1."""
    return make_plan(org)

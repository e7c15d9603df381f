"""What-if modelling of a draft plan against the live one (compensation.whatif), by hand.

The live plan (key "ae", v1) is the standard plan: a quarterly bookings commission on a fixed
100,000.00 quota, 5 % up to 50 %, 8 % up to 100 %, 12 % above, marginal. The draft (v2) pays
15 % above 100 % and nothing below a 50 % threshold. In FY2026 Q1 (a past period):

    rep        bookings   attainment   live (v1)                         draft (v2)
    rep_east   120,000    120 %        2,500 + 4,000 + 2,400 = 8,900     2,500 + 4,000 + 3,000 = 9,500
    rep_east_2  40,000     40 %        40,000 × 5 % = 2,000              below threshold: 0
    rep_west    90,000     90 %        2,500 + 3,200 = 5,700             5,700

Total: live 16,600.00, draft 15,200.00, difference −1,400.00; bookings 250,000.00, so the draft
costs 6.08 % of bookings and the live plan 6.64 %.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from compensation import whatif
from compensation.models import (
    CommissionRun,
    CompPlan,
    Credit,
    LineCredit,
    PayoutLine,
    PlanAssignment,
    PlanStatus,
)
from salesops.errors import DomainError, NotAllowed
from tests.compensation.comp_setup import D, assign, bookings, plan, won
from tests.conftest import fresh

IN_Q1_2026 = dt.date(2026, 2, 10)
JAN_2026 = dt.date(2026, 1, 1)
DRAFT_TIERS = [
    {"floor": 0, "rate": "0.05"},
    {"floor": 50, "rate": "0.08"},
    {"floor": 100, "rate": "0.15", "label": "Accelerator"},
]


def draft_of(org, key: str = "ae", **changes) -> CompPlan:
    """Version 2 of the plan ``key``, still a draft."""
    document = {
        "name": f"Plan {key}",
        "fiscal_year": 2026,
        "currency": "USD",
        "components": [bookings(tiers=DRAFT_TIERS, threshold="50", **changes)],
    }
    return CompPlan.objects.create(
        key=key, version=2, name=f"Plan {key}", fiscal_year=2026, currency="USD",
        document=document, status=PlanStatus.DRAFT, created_by=org.ops, updated_by=org.ops,
    )  # fmt: skip


@pytest.fixture
def plans(org, pipeline):
    live = plan(org, key="ae")
    for rep in (org.rep_east, org.rep_east_2, org.rep_west):
        assign(live, rep, start=JAN_2026)
    won(org, pipeline, org.rep_east, "120000", IN_Q1_2026)
    won(org, pipeline, org.rep_east_2, "40000", IN_Q1_2026)
    won(org, pipeline, org.rep_west, "90000", IN_Q1_2026)
    won(org, pipeline, org.rep_west, "70000", dt.date(2026, 4, 10))  # Q2: not in the period
    return live, draft_of(org)


def counts() -> list[int]:
    models = (CommissionRun, Credit, PayoutLine, LineCredit, CompPlan, PlanAssignment)
    return [model.objects.count() for model in models]


def test_draft_against_live_on_a_past_quarter(org, plans):
    live, draft = plans
    before = counts()
    result = whatif.whatif_period(plan=draft, period_key="2026-Q1")
    assert counts() == before  # nothing written, not even the throwaway run
    assert result.live == live
    by_name = {r.user_id: (r.attainment, r.bookings, r.cost, r.live_cost) for r in result.reps}
    assert by_name == {
        org.rep_east.pk: (D("120.00"), D("120000.00"), D("9500.00"), D("8900.00")),
        org.rep_east_2.pk: (D("40.00"), D("40000.00"), D("0.00"), D("2000.00")),
        org.rep_west.pk: (D("90.00"), D("90000.00"), D("5700.00"), D("5700.00")),
    }
    assert (result.cost, result.live_cost, result.difference) == (
        D("15200.00"), D("16600.00"), D("-1400.00"),
    )  # fmt: skip
    assert result.bookings == D("250000.00")
    assert (result.cost_percent, result.live_cost_percent) == (D("6.08"), D("6.64"))
    bands = {b.band: (b.reps, b.cost, b.live_cost, b.difference) for b in result.bands}
    assert bands == {
        "<50 %": (1, D("0.00"), D("2000.00"), D("-2000.00")),
        "50–80 %": (0, D(0), D(0), D(0)),
        "80–100 %": (1, D("5700.00"), D("5700.00"), D("0.00")),
        "100–120 %": (0, D(0), D(0), D(0)),
        "120–150 %": (1, D("9500.00"), D("8900.00"), D("600.00")),  # from 120 % inclusive
        "150+ %": (0, D(0), D(0), D(0)),
    }


def test_chosen_reps_only(org, plans):
    _live, draft = plans
    result = whatif.whatif_period(plan=draft, period_key="2026-Q1", users=[org.rep_east])
    assert [(r.user_id, r.cost, r.live_cost) for r in result.reps] == [
        (org.rep_east.pk, D("9500.00"), D("8900.00"))
    ]


def test_a_future_or_unknown_period_is_refused(org, plans):
    _live, draft = plans
    with pytest.raises(DomainError, match="has not started"):
        whatif.whatif_period(plan=draft, period_key="2099-Q1")
    with pytest.raises(DomainError, match="not a fiscal period"):
        whatif.whatif_period(plan=draft, period_key="Q1")


def test_simulated_attainment_by_hand(org, plans):
    _live, draft = plans
    # No spread: all four reps at exactly 120 %: live 8,900.00 each, draft 9,500.00 each.
    flat = whatif.Distribution(reps=4, mean=D(120), sd=D(0), seed=1)
    result = whatif.whatif_simulated(plan=draft, distribution=flat)
    assert [r.attainment for r in result.reps] == [D("120.00")] * 4
    assert (result.cost, result.live_cost, result.difference) == (
        D("38000.00"), D("35600.00"), D("2400.00"),
    )  # fmt: skip
    # Bookings 4 × 120,000 = 480,000: 38,000 / 480,000 = 7.9166… %
    assert (result.bookings, result.cost_percent) == (D("480000.00"), D("7.92"))
    assert {b.band: b.reps for b in result.bands}["120–150 %"] == 4


def test_simulated_attainment_is_the_same_for_the_same_seed(org, plans):
    _live, draft = plans
    spread = whatif.Distribution(reps=200, mean=D(95), sd=D(30), seed=42)
    first = whatif.whatif_simulated(plan=draft, distribution=spread)
    again = whatif.whatif_simulated(plan=draft, distribution=spread)
    other = whatif.whatif_simulated(
        plan=draft, distribution=whatif.Distribution(reps=200, mean=D(95), sd=D(30), seed=43)
    )
    assert [r.attainment for r in first.reps] == [r.attainment for r in again.reps]
    assert (first.cost, first.live_cost) == (again.cost, again.live_cost)
    assert [r.attainment for r in first.reps] != [r.attainment for r in other.reps]
    assert sum(b.reps for b in first.bands) == 200
    assert sum(b.cost for b in first.bands) == first.cost
    assert all(r.attainment >= 0 for r in first.reps)


def test_simulation_needs_a_quota_when_the_plan_has_none(org):
    draft = draft_of(org, key="qp", quota={"source": "quota_plan"})
    spread = whatif.Distribution(reps=3, mean=D(100), sd=D(10), seed=1)
    with pytest.raises(DomainError, match="enter the quota per rep"):
        whatif.whatif_simulated(plan=draft, distribution=spread)
    given = whatif.Distribution(reps=1, mean=D(100), sd=D(0), seed=1, quota=D("200000"))
    # 100 % of 200,000: 100,000 × 5 % + 100,000 × 8 % = 13,000.00; no live version of "qp".
    result = whatif.whatif_simulated(plan=draft, distribution=given)
    assert (result.cost, result.live, result.difference) == (D("13000.00"), None, None)


def test_only_sales_ops_model_plans(org, plans):
    _live, draft = plans
    for user in (org.rep_east, org.manager_east, org.finance):
        with pytest.raises(NotAllowed):
            whatif.whatif_run(
                viewer=fresh(user), plan_id=draft.pk, mode="period", period_key="2026-Q1"
            )
    result = whatif.whatif_run(
        viewer=fresh(org.ops), plan_id=draft.pk, mode="period", period_key="2026-Q1"
    )
    assert result.difference == D("-1400.00")


def test_whatif_page(client, org, plans):
    _live, draft = plans
    url = reverse("compensation:whatif")
    client.force_login(org.ops)
    assert client.get(url).status_code == 200
    answer = client.post(
        url, {"plan": draft.pk, "mode": "period", "period": "2026-Q1"}, HTTP_HX_REQUEST="true"
    )
    fragment = answer.content.decode()
    assert 'data-testid="whatif-result"' in fragment and "<html" not in fragment
    assert 'data-difference="-1400.00"' in fragment and "6.08 %" in fragment
    assert '"type":"bar"' in fragment.replace(" ", "")
    missing = client.post(url, {"plan": draft.pk, "mode": "simulated"})
    assert "Needed to simulate attainment." in missing.content.decode()
    simulated = client.post(
        url,
        {"plan": draft.pk, "mode": "simulated", "reps": 4, "mean": 120, "sd": 0, "seed": 1},
    )
    assert 'data-cost="38000.00"' in simulated.content.decode()
    client.force_login(org.rep_east)
    assert client.get(url).status_code == 403


def test_whatif_api(org, plans):
    _live, draft = plans
    api = APIClient()
    api.force_authenticate(fresh(org.ops))
    before = counts()
    answer = api.post(
        reverse("comp-whatif"),
        {"plan": draft.pk, "mode": "period", "period": "2026-Q1", "users": [org.rep_east.pk]},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["cost"], body["live_cost"], body["difference"]) == ("9500.00", "8900.00", "600.00")
    assert body["reps"][0]["band"] == "120–150 %"
    assert counts() == before
    simulated = api.post(
        reverse("comp-whatif"),
        {"plan": draft.pk, "mode": "simulated", "reps": 4, "mean": "120", "sd": "0", "seed": 1},
        format="json",
    )
    assert simulated.json()["cost"] == "38000.00"
    incomplete = api.post(
        reverse("comp-whatif"), {"plan": draft.pk, "mode": "simulated"}, format="json"
    )
    assert incomplete.status_code == 400 and "reps" in incomplete.json()
    api.force_authenticate(fresh(org.rep_east))
    denied = api.post(
        reverse("comp-whatif"),
        {"plan": draft.pk, "mode": "period", "period": "2026-Q1"},
        format="json",
    )
    assert denied.status_code == 403

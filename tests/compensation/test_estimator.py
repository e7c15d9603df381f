"""Commission estimates of open deals (compensation.estimator), worked out by hand.

The standard plan (comp_setup) pays a quarterly bookings commission on a fixed 100,000.00 quota:
5 % up to 50 %, 8 % up to 100 %, 12 % above (the Accelerator), marginal tiers. Service tests
estimate on 10 Feb 2027 (FY2027 Q1); the page and API tests use today's quarter, since they
estimate as of today.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from compensation.estimator import NOT_A_PAYOUT, deal_estimate, deal_estimates, estimate_deal_for
from compensation.models import CommissionRun, Credit, LineCredit, PayoutLine
from crm.models import Account, Deal, SplitKind
from crm.services import deal_create
from crm.splits import deal_splits_set
from salesops.errors import NotFound
from salesops.org.selectors import fiscal_calendar
from salesops.org.services import exchange_rate_set
from tests.compensation.comp_setup import Q1_DAY, D, assign, bookings, plan, won
from tests.conftest import fresh
from tests.crm import conftest as crm_fixtures

FLAT = bookings(quota=None, tiers=[], rate="0.1")


def open_deal(org, pipeline, owner, value: str, **fields) -> Deal:
    """A Prospecting deal of ``owner`` worth ``value`` (USD unless told)."""
    account = Account.objects.filter(owner=owner).first() or Account.objects.create(
        name=f"{owner.username} Corp", owner=owner
    )
    deal = deal_create(
        acting_user=org.ops,
        account=account,
        owner=owner,
        name=f"Open {value}",
        pipeline=pipeline,
        stage=crm_fixtures.stage(pipeline, "Prospecting"),
        amount=D(value),
        currency=fields.pop("currency", "USD"),
    )
    if fields:
        Deal.objects.filter(pk=deal.pk).update(**fields)
        deal.refresh_from_db()
    return deal


def counts() -> tuple[int, int, int, int]:
    return (
        CommissionRun.objects.count(),
        Credit.objects.count(),
        PayoutLine.objects.count(),
        LineCredit.objects.count(),
    )


def test_a_deal_that_lifts_the_rep_into_the_accelerator(org, pipeline):
    assign(plan(org), org.rep_east)
    won(org, pipeline, org.rep_east, "72000", dt.date(2027, 1, 20))
    won(org, pipeline, org.rep_east_2, "90000", dt.date(2027, 1, 20))  # someone else's: not counted
    won(org, pipeline, org.rep_east, "5000", dt.date(2026, 12, 20))  # last quarter: not counted
    deal = open_deal(org, pipeline, org.rep_east, "50000")
    before = counts()

    estimate = deal_estimate(deal=deal, person=org.rep_east, on=Q1_DAY)

    [row] = estimate.components
    # Now: 50,000 × 5 % + 22,000 × 8 % = 2,500 + 1,760 = 4,260.00 at 72 %.
    # Closed: 122,000 = 2,500 + 4,000 + 22,000 × 12 % (2,640) = 9,140.00 at 122 %.
    assert (row.measure_before, row.measure_after) == (D("72000"), D("122000"))
    assert (row.attainment_before, row.attainment_after) == (D(72), D(122))
    assert (row.payout_before, row.payout_after, row.difference) == (
        D("4260.00"), D("9140.00"), D("4880.00"),
    )  # fmt: skip
    assert row.tier_before == "Tier 2 (50–100 %)" and row.reaches == "Accelerator"
    assert estimate.total == D("4880.00")
    assert (
        estimate.headline
        == "If this closes in FY2027 Q1 at USD 50,000.00: +USD 4,880.00 commission"
    )
    assert estimate.note == NOT_A_PAYOUT
    assert counts() == before  # nothing of the throwaway run is left


def test_split_and_overlay_sellers_get_their_share(org, pipeline):
    flat = plan(org, FLAT)
    for rep in (org.rep_east, org.rep_east_2, org.rep_west):
        assign(flat, rep)
    deal = open_deal(org, pipeline, org.rep_east, "50000.01")
    deal_splits_set(
        deal=deal,
        splits=[
            (org.rep_east, SplitKind.REVENUE, D(60)),
            (org.rep_east_2, SplitKind.REVENUE, D(40)),
            (org.rep_west, SplitKind.OVERLAY, D(50)),
        ],
        acting_user=org.ops,
    )
    east, east_2, west = (
        deal_estimate(deal=deal, person=rep, on=Q1_DAY)
        for rep in (org.rep_east, org.rep_east_2, org.rep_west)
    )
    # 60 % of 50,000.01 = 30,000.006 and 40 % = 20,000.004: the leftover cent goes to the larger
    # remainder (60 %), as crediting does; the 50 % overlay is 25,000.005 → 25,000.01 (half up).
    assert [e.credited_amount for e in (east, east_2, west)] == [
        D("30000.01"), D("20000.00"), D("25000.01"),
    ]  # fmt: skip
    # 10 %: 3,000.001 → 3,000.00; 2,000.00; 2,500.001 → 2,500.00
    assert [e.total for e in (east, east_2, west)] == [D("3000.00"), D("2000.00"), D("2500.00")]
    assert [c.credit_type for c in west.credits] == ["overlay"]
    # The owner is not credited when revenue splits exist without them.
    assert deal_estimate(deal=deal, person=org.rep_london, on=Q1_DAY).problem


def test_components_that_would_not_count_the_deal_are_named(org, pipeline):
    renewals = bookings(
        key="renewals", name="Renewal commission", filters={"deal_types": ["renewal"]}
    )
    assign(plan(org, FLAT, renewals), org.rep_east)
    deal = open_deal(org, pipeline, org.rep_east, "1000")
    estimate = deal_estimate(deal=deal, person=org.rep_east, on=Q1_DAY)
    assert [c.key for c in estimate.components] == ["bookings"]
    assert estimate.not_counted == ["Renewal commission"]
    assert estimate.total == D("100.00")


def test_a_deal_in_another_currency_is_converted_at_todays_rate(org, pipeline):
    exchange_rate_set(currency="EUR", valid_from=dt.date(2027, 1, 1), rate=D("1.1"))
    assign(plan(org, FLAT), org.rep_east, start=dt.date(2026, 1, 1))
    deal = open_deal(org, pipeline, org.rep_east, "10000", currency="EUR", term_months=24)
    estimate = deal_estimate(deal=deal, person=org.rep_east, on=Q1_DAY)
    # 10,000 EUR × 1.1 = 11,000.00 USD; ACV over two years = 5,500.00
    [credit] = estimate.credits
    assert (credit.amount, credit.acv) == (D("11000.00"), D("5500.00"))
    assert estimate.total == D("1100.00")
    assert deal_estimate(deal=deal, person=org.rep_east, on=dt.date(2026, 12, 1)).problem == (
        "No exchange rate for EUR on or before 2026-12-01: add one under Settings › Exchange rates."
    )


def test_no_estimate_without_a_plan_an_amount_or_an_open_deal(org, pipeline):
    deal = open_deal(org, pipeline, org.rep_east, "1000")
    assert deal_estimate(deal=deal, person=org.rep_east, on=Q1_DAY).problem == (
        f"{org.rep_east} is not on a comp plan on 10 Feb 2027."
    )
    assign(plan(org), org.rep_east)
    Deal.objects.filter(pk=deal.pk).update(amount=None)
    deal.refresh_from_db()
    assert deal_estimate(deal=deal, person=org.rep_east, on=Q1_DAY).problem == (
        "Add the deal's amount to see what it would pay."
    )
    closed = won(org, pipeline, org.rep_east, "1000", Q1_DAY)
    assert "closed" in deal_estimate(deal=closed, person=org.rep_east, on=Q1_DAY).problem


def test_who_sees_whose_estimate(org, pipeline):
    flat = plan(org, FLAT)
    assign(flat, org.rep_east)
    deal = open_deal(org, pipeline, org.rep_east, "1000")

    def seen_by(viewer):
        return [e.person for e in deal_estimates(deal=deal, viewer=fresh(viewer), on=Q1_DAY)]

    assert seen_by(org.rep_east) == [org.rep_east]
    assert seen_by(org.manager_east) == [org.rep_east]
    assert seen_by(org.vp_americas) == [org.rep_east]
    assert seen_by(org.ops) == [org.rep_east]
    assert seen_by(org.finance) == []  # finance reads payouts, not estimates
    assert seen_by(org.manager_west) == []  # not their team (nor their deal)
    with pytest.raises(NotFound):
        estimate_deal_for(fresh(org.rep_west), deal.pk)
    # A split seller may ask about a deal they cannot open.
    deal_splits_set(
        deal=deal, splits=[(org.rep_west, SplitKind.OVERLAY, D(20))], acting_user=org.ops
    )
    assert estimate_deal_for(fresh(org.rep_west), deal.pk) == deal
    assert seen_by(org.rep_west) == [org.rep_west]


# --- Page and API (as of today) -----------------------------------------------------------------


def today_setup(org, pipeline) -> Deal:
    """The standard plan from the start of this fiscal year, 72,000 won today and an open 50,000."""
    today = timezone.localdate()
    calendar = fiscal_calendar()
    assign(plan(org), org.rep_east, start=calendar.year_start(calendar.fiscal_year_of(today)))
    won(org, pipeline, org.rep_east, "72000", today)
    return open_deal(org, pipeline, org.rep_east, "50000")


def test_the_deal_page_loads_the_estimate_fragment(client, org, pipeline):
    deal = today_setup(org, pipeline)
    url = reverse("compensation:deal_estimate", args=[deal.pk])
    client.force_login(org.rep_east)
    page = client.get(reverse("crm:deal_detail", args=[deal.pk])).content.decode()
    assert f'hx-get="{url}"' in page
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "+USD 4,880.00 commission" in fragment
    assert "reaches Accelerator" in fragment
    assert "An estimate, not a payout" in fragment
    client.force_login(org.manager_east)
    assert "+USD 4,880.00" in client.get(url).content.decode()
    client.force_login(org.finance)
    assert client.get(url).content.decode().strip() == ""
    client.force_login(org.rep_west)
    assert client.get(url).status_code == 404


def test_estimate_api(org, pipeline):
    deal = today_setup(org, pipeline)
    api = APIClient()
    api.force_authenticate(fresh(org.rep_east))
    answer = api.get(reverse("comp-estimate"), {"deal": deal.pk})
    assert answer.status_code == 200
    [estimate] = answer.json()["estimates"]
    assert (estimate["total"], estimate["credited_amount"]) == ("4880.00", "50000.00")
    [row] = estimate["components"]
    assert (row["attainment_before"], row["attainment_after"], row["reaches"]) == (
        "72.00", "122.00", "Accelerator",
    )  # fmt: skip
    api.force_authenticate(fresh(org.rep_west))
    assert api.get(reverse("comp-estimate"), {"deal": deal.pk}).status_code == 404
    assert api.get(reverse("comp-estimate")).status_code == 400
    assert APIClient().get(reverse("comp-estimate"), {"deal": deal.pk}).status_code == 401

"""Tier arithmetic, worked by hand (quota 100,000; 5 % to 50 %, 8 % to 100 %, 12 % above)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from compensation import documents, payout_math
from salesops.money import round_money

D = Decimal
QUOTA = D("100000")


def component(**changes) -> documents.Component:
    fields = {
        "key": "bookings",
        "name": "Bookings",
        "quota": {"source": "fixed", "amount": "100000"},
        "tiers": [
            {"floor": 0, "rate": "0.05"},
            {"floor": 50, "rate": "0.08"},
            {"floor": 100, "rate": "0.12", "label": "Accelerator"},
        ],
        **changes,
    }
    return documents.Component.model_validate(fields)


def pay(measure: str, **changes) -> payout_math.Payout:
    return payout_math.commission(component(**changes), measure=D(measure), quota=QUOTA)


def test_marginal_pays_each_slice_at_its_rate():
    result = pay("120000")
    # 50,000 × 5 % + 50,000 × 8 % + 20,000 × 12 %
    assert result.exact == D("8900")
    assert [s.pay for s in result.slices] == [D("2500"), D("4000"), D("2400")]
    assert result.tier == "Accelerator"
    assert result.attainment == D("120")


def test_retroactive_pays_everything_at_the_tier_reached():
    assert pay("120000", tier_mode="retroactive").exact == D("14400")  # 120,000 × 12 %


def test_crossing_the_100_percent_boundary():
    # Just below: marginal 2,500 + 49,999.99 × 8 %; retroactive all at 8 %.
    assert pay("99999.99").exact == D("6499.9992")
    assert round_money(pay("99999.99").exact, "USD") == D("6500.00")
    assert pay("99999.99", tier_mode="retroactive").exact == D("7999.9992")
    # Exactly at the boundary the accelerator tier is reached: retroactive jumps to 12 %.
    assert pay("100000").exact == D("6500")
    assert pay("100000", tier_mode="retroactive").exact == D("12000")


def test_threshold_pays_nothing_below_and_everything_from_zero_once_reached():
    below = pay("49999.99", threshold="50")
    assert below.exact == 0 and below.tier == "Below threshold"
    assert "below the 50.00 % threshold" in below.steps[-1]
    assert pay("50000", threshold="50").exact == D("2500")


def test_amount_cap_limits_the_payout():
    result = payout_math.commission(
        component(), measure=D("200000"), quota=QUOTA, cap_amount=D("10000")
    )
    # uncapped: 2,500 + 4,000 + 100,000 × 12 % = 18,500
    assert result.exact == D("10000") and result.capped
    assert "Capped at 10,000.00 (was 18,500.0000)" in result.steps[-1]


def test_attainment_cap_stops_counting_above_it():
    # 200 % attained, counted as 150 %: 2,500 + 4,000 + 50,000 × 12 %
    assert pay("200000", cap_attainment="150").exact == D("12500")


def test_decelerator_below_sixty_percent():
    tiers = [{"floor": 0, "rate": "0.04", "label": "Decelerator"}, {"floor": 60, "rate": "0.10"}]
    assert pay("40000", tiers=tiers).exact == D("1600")  # 40,000 × 4 %
    assert pay("80000", tiers=tiers).exact == D("4400")  # 60,000 × 4 % + 20,000 × 10 %
    assert pay("80000", tiers=tiers, tier_mode="retroactive").exact == D("8000")


def test_flat_rate_on_a_count_measure():
    logos = documents.Component.model_validate(
        {"key": "logos", "name": "New logos", "measure": "new_logos", "rate": "500"}
    )
    result = payout_math.commission(logos, measure=D(3), quota=None)
    assert result.exact == D("1500")
    assert result.steps == ("3.00 units × 500.00 each = 1,500.0000",)


def test_no_quota_pays_nothing_and_says_why():
    result = payout_math.commission(component(), measure=D("5000"), quota=None)
    assert result.exact == 0 and "ask sales ops" in result.steps[0]


def test_bonus_on_target_and_per_deal():
    spif = documents.Component.model_validate(
        {"key": "spif", "name": "Q1 SPIF", "kind": "bonus", "measure": "new_logos",
         "target": 3, "bonus_amount": "1000"}
    )  # fmt: skip
    assert payout_math.bonus_on_target(spif, measure=D(2), quota=None).exact == 0
    assert payout_math.bonus_on_target(spif, measure=D(3), quota=None).exact == D("1000")
    per_deal = documents.Component.model_validate(
        {"key": "multi", "name": "Multi-year", "kind": "bonus", "per_deal": "250"}
    )
    assert payout_math.bonus_per_deal(per_deal, shares=D("1.5"), deals=2).exact == D("375")


def test_advance_and_true_up():
    ytd = pay("60000")  # 2,500 + 10,000 × 8 % = 3,300
    assert payout_math.advance(ytd, percent=D(75), final=False)[0] == D("2475")
    assert payout_math.advance(ytd, percent=D(75), final=True)[0] == D("3300")


def test_proration_counts_days():
    q1 = (dt.date(2027, 1, 1), dt.date(2027, 3, 31))  # 90 days
    assert payout_math.proration(dt.date(2027, 2, 15), dt.date(2099, 1, 1), *q1) == D(45) / D(90)
    assert payout_math.proration(dt.date(2026, 1, 1), dt.date(2099, 1, 1), *q1) == 1
    assert payout_math.proration(dt.date(2027, 4, 1), dt.date(2099, 1, 1), *q1) == 0


def test_recoverable_draw_tops_up_then_recovers():
    first = payout_math.settle_draw(
        earnings=D("1200"), draw_due=D("3000"), balance=D(0), recoverable=True
    )
    assert (first.top_up, first.recovery, first.balance_after) == (D("1800"), 0, D("1800"))
    second = payout_math.settle_draw(
        earnings=D("4000"), draw_due=D("3000"), balance=first.balance_after, recoverable=True
    )
    assert (second.top_up, second.recovery, second.balance_after) == (0, D("-1000"), D("800"))
    guaranteed = payout_math.settle_draw(
        earnings=D("1200"), draw_due=D("3000"), balance=D(0), recoverable=False
    )
    assert (guaranteed.top_up, guaranteed.balance_after) == (D("1800"), 0)


measures = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False)


@given(low=measures, high=measures)
def test_marginal_payout_never_falls_as_the_measure_rises(low, high):
    low, high = sorted((low, high))
    assert pay(str(low)).exact <= pay(str(high)).exact


@given(measure=measures)
def test_retroactive_pays_at_least_marginal_when_rates_rise(measure):
    assert pay(str(measure), tier_mode="retroactive").exact >= pay(str(measure)).exact

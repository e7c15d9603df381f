"""Quota arithmetic: exact splits, seasonality, ramp, roll-up and the capacity model.

Pure functions: none of these tests touch the database.
"""

import datetime as dt
from decimal import Decimal as D

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from territories.quota_math import (
    CapacityInputs,
    CapacityMonth,
    CoverageRow,
    allocate_top_down,
    capacity_plan,
    capacity_vs_target,
    coverage_total,
    equal_weights,
    gap,
    ramp_factor,
    ramped_quota,
    roll_up,
    seasonal_split,
    tenure_month,
)

CENT = D("0.01")
PROPERTY = settings(max_examples=60, deadline=None)
JAN, FEB, MAR, APR, MAY = (dt.date(2026, m, 1) for m in range(1, 6))

money = st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False)
weight = st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False)
percent = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False)


# --- allocate_top_down ---------------------------------------------------------------------------


def test_top_down_splits_by_weight_and_keeps_key_order():
    result = allocate_top_down(D("1000.00"), {"West": D(3), "East": D(1), "North": D(0)}, "USD")
    assert list(result) == ["West", "East", "North"]
    assert result == {"West": D("750.00"), "East": D("250.00"), "North": D("0.00")}


def test_top_down_leftover_cent_goes_to_the_largest_remainder():
    # Exact shares 0.01666 and 0.03333: both round down to 0.01 + 0.03, a = larger remainder.
    assert allocate_top_down(D("0.05"), {"a": D(1), "b": D(2)}, "USD") == {
        "a": D("0.02"),
        "b": D("0.03"),
    }


def test_top_down_ties_go_to_the_earliest_key():
    result = allocate_top_down(D("1000.00"), equal_weights(f"t{i}" for i in range(7)), "USD")
    assert list(result.values()) == [D("142.86")] * 5 + [D("142.85")] * 2
    assert sum(result.values()) == D("1000.00")


def test_top_down_all_zero_weights_split_equally():
    result = allocate_top_down(D("100.00"), {"a": D(0), "b": D(0), "c": D(0)}, "USD")
    assert result == {"a": D("33.34"), "b": D("33.33"), "c": D("33.33")}


def test_top_down_rounds_to_the_currency_minor_unit():
    assert allocate_top_down(D("1000"), {"a": D(1), "b": D(1), "c": D(1)}, "JPY") == {
        "a": D(334),
        "b": D(333),
        "c": D(333),
    }


def test_top_down_rejects_a_negative_weight():
    with pytest.raises(ValueError) as error:
        allocate_top_down(D("100.00"), {"East": D(1), "West": D("-2")}, "USD")
    assert str(error.value) == "Weight for 'West' is -2; weights must be zero or more."


def test_top_down_rejects_no_children():
    with pytest.raises(ValueError) as error:
        allocate_top_down(D("100.00"), {}, "USD")
    assert str(error.value) == (
        "There is nothing to split the target among: give at least one child."
    )


def test_equal_weights():
    assert equal_weights(["East", "West"]) == {"East": D(1), "West": D(1)}
    assert equal_weights([]) == {}


@PROPERTY
@given(amount=money, weights=st.lists(weight, min_size=1, max_size=8))
def test_top_down_parts_add_up_and_stay_within_a_cent(amount, weights):
    keyed = {f"c{i}": w for i, w in enumerate(weights)}
    parts = allocate_top_down(amount, keyed, "USD")
    assert sum(parts.values(), D(0)) == amount
    total = sum(weights, D(0))
    for key, w in keyed.items():
        exact = amount * w / total if total else amount / len(weights)
        assert abs(parts[key] - exact) <= CENT


# --- seasonal_split ------------------------------------------------------------------------------


def test_seasonal_split_by_hand():
    weights = [D(w) for w in (10, 5, 5, 8, 8, 9, 7, 7, 7, 10, 11, 13)]  # adds up to 100 %
    quarters, months = seasonal_split(D("1200000.00"), weights, "USD")
    assert quarters == [D("240000.00"), D("300000.00"), D("252000.00"), D("408000.00")]
    assert months == [
        *(D("120000.00"), D("60000.00"), D("60000.00")),
        *(D("96000.00"), D("96000.00"), D("108000.00")),
        *(D("84000.00"), D("84000.00"), D("84000.00")),
        *(D("120000.00"), D("132000.00"), D("156000.00")),
    ]


def test_seasonal_split_months_add_up_to_their_quarter():
    # 100 / 12 per month: each quarter (25.00) hands its own leftover cent to its first month.
    quarters, months = seasonal_split(D("100.00"), [D(1)] * 12, "USD")
    assert quarters == [D("25.00")] * 4
    assert months == [D("8.34"), D("8.33"), D("8.33")] * 4


def test_seasonal_split_quarter_with_no_weight_gets_zero():
    weights = [D(1)] * 6 + [D(0)] * 3 + [D(1)] * 3
    quarters, months = seasonal_split(D("90.00"), weights, "USD")
    assert quarters == [D("30.00"), D("30.00"), D("0.00"), D("30.00")]
    assert months[6:9] == [D("0.00")] * 3
    assert months[9:] == [D("10.00")] * 3


def test_seasonal_split_needs_twelve_weights():
    with pytest.raises(ValueError) as error:
        seasonal_split(D("100.00"), [D(1)] * 11, "USD")
    assert str(error.value) == (
        "Seasonality needs 12 monthly weights (fiscal months 1-12); got 11."
    )


def test_seasonal_split_rejects_a_negative_weight():
    with pytest.raises(ValueError) as error:
        seasonal_split(D("100.00"), [D(1)] * 4 + [D("-1")] + [D(1)] * 7, "USD")
    assert str(error.value) == "Weight for fiscal month 5 is -1; weights must be zero or more."


def test_seasonal_split_rejects_all_zero_weights():
    with pytest.raises(ValueError) as error:
        seasonal_split(D("100.00"), [D(0)] * 12, "USD")
    assert str(error.value) == "Monthly weights add up to zero; give at least one month a weight."


@PROPERTY
@given(annual=money, weights=st.lists(percent, min_size=12, max_size=12))
def test_seasonal_split_always_adds_up(annual, weights):
    assume(sum(weights) > 0)
    quarters, months = seasonal_split(annual, weights, "USD")
    assert len(quarters) == 4 and len(months) == 12
    assert sum(quarters, D(0)) == annual
    for q, quarter in enumerate(quarters):
        assert sum(months[3 * q : 3 * q + 3], D(0)) == quarter


# --- ramp ----------------------------------------------------------------------------------------

RAMP = [D(25), D(50), D(75)]


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        (dt.date(2026, 3, 1), 1),
        (dt.date(2026, 3, 31), 1),
        (dt.date(2026, 4, 1), 2),
        (dt.date(2027, 3, 1), 13),
        (dt.date(2026, 2, 1), 0),
        (dt.date(2025, 12, 1), -2),
    ],
)
def test_tenure_month_counts_the_hire_month_as_one(month, expected):
    assert tenure_month(dt.date(2026, 3, 15), month) == expected


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        (dt.date(2026, 2, 1), D(0)),
        (dt.date(2026, 3, 1), D("0.25")),
        (dt.date(2026, 4, 1), D("0.5")),
        (dt.date(2026, 5, 1), D("0.75")),
        (dt.date(2026, 6, 1), D(1)),
        (dt.date(2030, 1, 1), D(1)),
    ],
)
def test_ramp_factor_follows_the_profile_then_full(month, expected):
    assert ramp_factor(dt.date(2026, 3, 15), month, RAMP) == expected


def test_ramp_factor_with_no_profile_is_full_from_the_hire_month():
    assert ramp_factor(dt.date(2026, 3, 15), dt.date(2026, 3, 1), []) == D(1)
    assert ramp_factor(dt.date(2026, 3, 15), dt.date(2026, 2, 1), []) == D(0)


def test_ramp_factor_rejects_a_percentage_over_100():
    with pytest.raises(ValueError) as error:
        ramp_factor(JAN, FEB, [D(50), D(120)])
    assert str(error.value) == (
        "Ramp profile values are percentages from 0 to 100; tenure month 2 is 120."
    )


def test_ramped_quota_rounds_once_half_up():
    assert ramped_quota(D("10000.00"), D("0.25"), "USD") == D("2500.00")
    assert ramped_quota(D("3333.33"), D("0.75"), "USD") == D("2500.00")  # 2499.9975
    assert ramped_quota(D("0.01"), D("0.5"), "USD") == D("0.01")  # 0.005 half up
    assert ramped_quota(D("1001"), D("0.5"), "JPY") == D(501)  # 500.5 half up


def test_ramped_quota_rejects_a_factor_outside_0_to_1():
    with pytest.raises(ValueError) as error:
        ramped_quota(D("100.00"), D("1.5"), "USD")
    assert str(error.value) == "A ramp factor is a fraction from 0 to 1; got 1.5."


@PROPERTY
@given(
    profile=st.lists(percent, max_size=8).map(sorted),
    hire_date=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31)),
)
def test_ramp_factor_never_drops_with_tenure_for_a_rising_profile(profile, hire_date):
    months = [hire_date + relativedelta(months=k) for k in range(-3, len(profile) + 3)]
    factors = [ramp_factor(hire_date, month, profile) for month in months]
    assert factors == sorted(factors)
    assert factors[0] == D(0) and factors[-1] == D(1)


# --- roll-up and gap -----------------------------------------------------------------------------

TREE = {"Americas": "Company", "EMEA": "Company", "East": "Americas", "West": "Americas"}


def test_roll_up_adds_descendants_at_any_depth():
    own = {"East": D("100.00"), "West": D("50.00"), "EMEA": D("70.00"), "Americas": D("10.00")}
    assert roll_up(TREE, own) == {
        "Americas": D("160.00"),
        "Company": D("230.00"),
        "EMEA": D("70.00"),
        "East": D("100.00"),
        "West": D("50.00"),
    }


def test_roll_up_nodes_without_amounts_total_zero_and_strays_are_roots():
    assert roll_up({"a": None, "b": "a"}, {"loose": D("5.00")}) == {
        "a": D(0),
        "b": D(0),
        "loose": D("5.00"),
    }


def test_roll_up_rejects_a_cycle():
    with pytest.raises(ValueError) as error:
        roll_up({"a": "b", "b": "c", "c": "a"}, {"a": D(1)})
    assert str(error.value) == "The hierarchy has a cycle: a → b → c → a."


def test_roll_up_rejects_a_node_that_is_its_own_parent():
    with pytest.raises(ValueError) as error:
        roll_up({"root": None, "a": "a"}, {})
    assert str(error.value) == "The hierarchy has a cycle: a → a."


@st.composite
def trees(draw):
    """A single-rooted tree n0 <- ... of random shape, with random own amounts."""
    size = draw(st.integers(min_value=1, max_value=15))
    parent_of = {"n0": None}
    for i in range(1, size):
        parent_of[f"n{i}"] = f"n{draw(st.integers(min_value=0, max_value=i - 1))}"
    own = {node: draw(money) for node in parent_of if draw(st.booleans())}
    return parent_of, own


@PROPERTY
@given(tree=trees())
def test_roll_up_root_total_is_the_sum_of_every_own_amount(tree):
    parent_of, own = tree
    totals = roll_up(parent_of, own)
    assert totals["n0"] == sum(own.values(), D(0))
    for node in parent_of:
        children = [child for child, parent in parent_of.items() if parent == node]
        assert totals[node] == own.get(node, D(0)) + sum((totals[c] for c in children), D(0))


def test_gap_is_top_down_minus_bottom_up_with_missing_as_zero():
    top_down = {"a": D("100.00"), "b": D("50.00")}
    bottom_up = {"a": D("80.00"), "c": D("10.00")}
    assert gap(top_down, bottom_up) == {"a": D("20.00"), "b": D("50.00"), "c": D("-10.00")}


# --- capacity ------------------------------------------------------------------------------------


def inputs(**overrides):
    values = {
        "months": [JAN, FEB, MAR],
        "hire_dates": [dt.date(2024, 6, 15)] * 10,
        "ramp_profile": RAMP,
        "productivity": D("10000.00"),
        "annual_attrition": D(0),
        "backfill_months": 1,
    }
    return CapacityInputs(**(values | overrides))


def test_capacity_without_attrition_is_heads_times_productivity_once_ramped():
    plan = capacity_plan(
        inputs(
            months=[JAN, FEB, MAR, APR, MAY],
            hire_dates=[dt.date(2023, 1, 9)] * 3 + [dt.date(2026, 2, 10)],
            ramp_profile=[D(25), D(50)],
        ),
        "USD",
    )
    assert plan == [
        CapacityMonth(JAN, D(3), D(3), D("30000.00")),
        CapacityMonth(FEB, D(4), D("3.25"), D("32500.00")),
        CapacityMonth(MAR, D(4), D("3.5"), D("35000.00")),
        CapacityMonth(APR, D(4), D(4), D("40000.00")),
        CapacityMonth(MAY, D(4), D(4), D("40000.00")),
    ]


def test_planned_hires_join_in_their_month_and_ramp():
    plan = capacity_plan(
        inputs(hire_dates=[dt.date(2020, 1, 1)] * 2, planned_hires={dt.date(2026, 2, 1): 2}),
        "USD",
    )
    assert [(m.heads, m.ramped_heads, m.capacity) for m in plan] == [
        (D(2), D(2), D("20000.00")),
        (D(4), D("2.5"), D("25000.00")),  # 2 + 2 x 25 %
        (D(4), D(3), D("30000.00")),  # 2 + 2 x 50 %
    ]


def test_capacity_with_attrition_and_backfill_by_hand():
    # 12 % a year = 1 % a month. 10 fully ramped reps; replacements start 2 months later.
    # Jan: 10 heads; 0.1 leave at month end -> their replacement starts in March.
    # Feb: 9.9 heads; 0.099 leave -> replacement in April (after the horizon).
    # Mar: 9.801 + 0.1 new = 9.901 heads; ramped 9.801 + 0.1 x 25 % = 9.826.
    plan = capacity_plan(inputs(annual_attrition=D("0.12"), backfill_months=2), "USD")
    assert plan == [
        CapacityMonth(JAN, D(10), D(10), D("100000.00")),
        CapacityMonth(FEB, D("9.9"), D("9.9"), D("99000.00")),
        CapacityMonth(MAR, D("9.901"), D("9.826"), D("98260.00")),
    ]


def test_capacity_with_one_month_backfill_keeps_heads_level():
    # Feb: 9.9 old + 0.1 new at 25 %; Mar: 9.801 old + 0.099 (Feb cohort) at 50 % + 0.1 at 25 %.
    plan = capacity_plan(inputs(annual_attrition=D("0.12"), backfill_months=1), "USD")
    assert [(m.heads, m.ramped_heads, m.capacity) for m in plan] == [
        (D(10), D(10), D("100000.00")),
        (D(10), D("9.925"), D("99250.00")),
        (D(10), D("9.8755"), D("98755.00")),
    ]


def test_capacity_rounds_to_the_cent_and_heads_quantize_only_for_display():
    plan = capacity_plan(
        inputs(
            hire_dates=[JAN],
            ramp_profile=[D(25)],
            productivity=D("12345.67"),
            annual_attrition=D("0.10"),
            backfill_months=6,
        ),
        "USD",
    )
    assert plan[0].capacity == D("3086.42")  # 12345.67 x 0.25 = 3086.4175
    assert plan[1].heads == 1 - D("0.10") / 12  # 0.99166..., full precision
    assert plan[1].heads_display == D("0.9917")
    assert plan[1].capacity == D("12242.79")  # 12345.67 x 0.991666... = 12242.789...


def test_capacity_plan_with_no_months_is_empty():
    assert capacity_plan(inputs(months=[]), "USD") == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"months": [dt.date(2026, 1, 15)]},
            "Capacity months must be first days of months; got 2026-01-15.",
        ),
        (
            {"months": [JAN, MAR]},
            "Capacity months must be consecutive; 2026-03-01 does not follow 2026-01-01.",
        ),
        (
            {"annual_attrition": D("1.5")},
            "Annual attrition is a fraction from 0 to 1 (0.15 = 15 %); got 1.5.",
        ),
        (
            {"backfill_months": 0},
            "Backfill takes at least one month (a replacement starts the month after the "
            "departure at the earliest); got 0.",
        ),
        ({"productivity": D("-1")}, "Productivity must be zero or more; got -1."),
        (
            {"planned_hires": {MAR: -2}},
            "Planned hires must be zero or more; got -2 for 2026-03-01.",
        ),
        (
            {"ramp_profile": [D(-5)]},
            "Ramp profile values are percentages from 0 to 100; tenure month 1 is -5.",
        ),
    ],
)
def test_capacity_inputs_reject_bad_values(overrides, message):
    with pytest.raises(ValueError) as error:
        inputs(**overrides)
    assert str(error.value) == message


def test_capacity_vs_target_rows_and_total():
    plan = capacity_plan(inputs(), "USD")  # 100000.00 a month
    rows = capacity_vs_target(plan, [D("80000.00"), D("125000.00"), D(0)])
    assert rows == [
        CoverageRow(JAN, D("100000.00"), D("80000.00"), D("-20000.00"), D("1.2500")),
        CoverageRow(FEB, D("100000.00"), D("125000.00"), D("25000.00"), D("0.8000")),
        CoverageRow(MAR, D("100000.00"), D(0), D("-100000.00"), None),
    ]
    assert coverage_total(rows) == CoverageRow(
        None, D("300000.00"), D("205000.00"), D("-95000.00"), D("1.4634")
    )


def test_capacity_vs_target_needs_one_target_per_month():
    with pytest.raises(ValueError) as error:
        capacity_vs_target(capacity_plan(inputs(), "USD"), [D(1)])
    assert str(error.value) == "Expected 3 targets (one per modelled month); got 1."

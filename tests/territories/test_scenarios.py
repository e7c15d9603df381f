"""Scenario read side: territory metrics by hand on the shared live plan, balance, isolation of
draft scenarios from live data, the diff of two plans, their comparison, and the charts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Account
from salesops.errors import DomainError
from salesops.org.selectors import to_corporate
from territories import services
from territories.balancing import balance_scores
from territories.models import AssignmentRule
from territories.scenario_charts import balance_chart, compare_chart
from territories.scenarios import (
    DiffPair,
    balance_by_parent,
    plan_balance,
    scenario_compare,
    scenario_diff,
    territory_metrics,
)
from tests.territories.conftest import ACCOUNTS, DEALS

FIGURES = ("accounts", "potential", "employees", "pipeline", "bookings", "owners", "overlays")


def figures(metrics, key):
    row = metrics[key]
    return tuple(getattr(row, name) for name in FIGURES) + (row.unconverted,)


def snapshot_accounts():
    return list(Account.objects.order_by("pk").values_list("pk", "territory_id", "owner_id"))


def snapshot_rules(plan):
    return list(
        AssignmentRule.objects.filter(plan=plan)
        .order_by("pk")
        .values_list(
            "pk", "territory__key", "position", "countries", "regions", "named_account_ids"
        )
    )


# --- Metrics ------------------------------------------------------------------------------------


def test_metrics_of_the_live_plan_by_hand(live_plan):
    metrics = territory_metrics(live_plan.plan)
    # accounts, potential, employees, pipeline, bookings, owners, overlays, unconverted
    assert figures(metrics, "pacific") == (5, D(9_500_000), 320, D(0), D(50_000), 1, 0, 0)
    # 30 + 60 + 5 + 12 + 2 + 90 + 3 million; open: 100k + 200k + 80k + 25k; won: 150k
    assert figures(metrics, "california") == (
        7, D(202_000_000), 4875, D(405_000), D(150_000), 1, 0, 0,
    )  # fmt: skip
    assert figures(metrics, "mountain") == (4, D(21_000_000), 510, D(30_000), D(45_000), 1, 0, 0)
    # Stark Industries (named, 200 million, a 400k open deal) sits in the Northeast.
    assert figures(metrics, "northeast") == (
        9, D(508_000_000), 10_860, D(820_000), D(500_000), 2, 0, 0,
    )  # fmt: skip
    # Revenue at today's CAD rate (0.80): 64m CAD; the open deal closes after the rate change
    # (0.80: 100k CAD), the won one closed before it (0.75: 40k CAD).
    assert figures(metrics, "canada") == (
        5, D(51_200_000), 2150, D(80_000), D(30_000), 1, 1, 0,
    )  # fmt: skip
    # Cancun Resorts' revenue and deal are in MXN, which has no rate: left out and counted.
    assert figures(metrics, "latam") == (4, D(62_000_000), 1600, D(60_000), D(0), 0, 0, 2)
    # Roll-ups: a person working two territories of a subtree counts once (se_west overlays
    # US West and Canada).
    assert figures(metrics, "us-west") == (
        16, D(232_500_000), 5705, D(435_000), D(245_000), 3, 1, 0,
    )  # fmt: skip
    assert figures(metrics, "americas") == (
        40, D(1_074_700_000), 25_605, D(1_485_000), D(1_025_000), 7, 1, 2,
    )  # fmt: skip
    assert list(metrics) == [
        "americas",
        "canada",
        "latam",
        "us-east",
        "northeast",
        "southeast",
        "us-west",
        "california",
        "mountain",
        "pacific",
    ]  # fmt: skip  (depth first, siblings by name)
    assert (metrics["us-west"].depth, metrics["us-west"].is_leaf) == (1, False)


def test_metrics_agree_with_the_corporate_conversion_of_each_amount(live_plan):
    """Potential, pipeline and bookings recomputed in Python, amount by amount, with
    ``to_corporate`` (the kernel's conversion) from the fixture's tables."""
    today = live_plan.today
    metrics = territory_metrics(live_plan.plan)
    for key in live_plan.territories:
        leaves = [k for k in live_plan.territories if k == key or key in ancestors(live_plan, k)]
        names = {name for name, row in ACCOUNTS.items() if row[5] in leaves}
        potential = sum(
            (to_corporate(row[3], row[4], today) for name, row in ACCOUNTS.items()
             if name in names and row[3] is not None and row[4] != "MXN"),
            D(0),
        )  # fmt: skip
        pipeline = bookings = D(0)
        for account, stage, amount, currency, days in DEALS.values():
            if account not in names or currency == "MXN":
                continue
            day = today + dt.timedelta(days=days or 0)
            value = to_corporate(amount, currency, day)
            if stage == "Closed Won" and today - dt.timedelta(days=365) < day <= today:
                bookings += value
            elif not stage.startswith("Closed"):
                pipeline += value
        assert (metrics[key].accounts, metrics[key].potential) == (len(names), potential), key
        assert (metrics[key].pipeline, metrics[key].bookings) == (pipeline, bookings), key


def ancestors(live_plan, key):
    found, node = [], live_plan.territories[key].parent
    while node is not None:
        found.append(node.key)
        node = node.parent
    return found


def test_as_of_moves_the_bookings_window_and_the_revenue_rate(live_plan):
    as_of = live_plan.today - dt.timedelta(days=150)
    metrics = territory_metrics(live_plan.plan, as_of=as_of)
    # Won in (as_of - 1 year, as_of]: evergreen-won (-200), evergreen-old (-400), atlanta (-300),
    # wasatch (-360); pr-won (-100), empire-won (-30) and maple-won (-60) came later.
    assert metrics["pacific"].bookings == D(120_000)
    assert metrics["mountain"].bookings == D(45_000)
    assert metrics["southeast"].bookings == D(250_000)
    assert (metrics["california"].bookings, metrics["northeast"].bookings) == (D(0), D(0))
    assert metrics["canada"].bookings == D(0)
    assert metrics["canada"].potential == D(48_000_000)  # the rate in force then: 0.75


def test_metrics_of_a_draft_follow_its_rules_and_leave_live_figures_alone(live_plan, scenario):
    ops = live_plan.ops
    services.region_move(
        plan=scenario, country="US", region="or", to=scenario.territories.get(key="mountain"),
        acting_user=ops,
    )  # fmt: skip
    draft = territory_metrics(scenario)
    live = territory_metrics(live_plan.plan)
    # Cascade Coffee (0.8m, 25) and Portland Bikes (1.2m, 60) move from Pacific NW to Mountain.
    assert figures(draft, "pacific")[:3] == (3, D(7_500_000), 235)
    assert figures(draft, "mountain")[:3] == (6, D(23_000_000), 595)
    assert figures(draft, "us-west") == figures(live, "us-west")
    assert figures(live, "pacific")[:3] == (5, D(9_500_000), 320)


def test_metrics_take_a_fixed_number_of_queries_whatever_the_number_of_territories(
    live_plan, scenario
):
    with CaptureQueriesContext(connection) as few:
        territory_metrics(scenario)
    parent = scenario.territories.get(key="latam")
    for n in range(6):
        services.territory_save(
            plan=scenario, acting_user=live_plan.ops, key=f"extra-{n}", name=f"Extra {n}",
            parent=parent,
        )  # fmt: skip
    with CaptureQueriesContext(connection) as more:
        territory_metrics(scenario)
    assert len(more) == len(few)


# --- Balance ------------------------------------------------------------------------------------


def test_balance_by_parent_and_across_leaves(live_plan):
    balance = balance_by_parent(live_plan.plan, "accounts")
    assert set(balance.by_parent) == {"americas", "us-west", "us-east"}
    us_west = balance.by_parent["us-west"]
    assert us_west.loads == {"california": D(7), "mountain": D(4), "pacific": D(5)}
    mean = D(16) / 3
    expected_cv = float((sum((x - mean) ** 2 for x in (D(7), D(4), D(5))) / 3).sqrt() / mean)
    assert us_west.cv == pytest.approx(expected_cv)
    assert (us_west.max_min_ratio, us_west.spread) == (1.75, D(3))
    assert balance.by_parent["americas"].loads == {
        "canada": D(5), "latam": D(4), "us-east": D(15), "us-west": D(16),
    }  # fmt: skip
    assert set(balance.leaves.loads) == {
        "california", "mountain", "pacific", "northeast", "southeast", "canada", "latam",
    }  # fmt: skip
    assert balance.leaves == balance_scores(balance.leaves.loads)


def test_an_unknown_measure_is_refused(live_plan):
    with pytest.raises(DomainError) as error:
        balance_by_parent(live_plan.plan, "revenue")
    assert error.value.message == (
        "'revenue' is not a measure; choose one of accounts, potential, employees, pipeline, "
        "bookings."
    )


# --- Isolation ----------------------------------------------------------------------------------


def test_editing_a_draft_changes_nothing_live(live_plan, scenario, org):
    ops = live_plan.ops
    accounts_before = snapshot_accounts()
    rules_before = snapshot_rules(live_plan.plan)
    metrics_before = territory_metrics(live_plan.plan)
    california = scenario.territories.get(key="california")
    services.region_move(plan=scenario, country="US", region="WA", to=california, acting_user=ops)
    services.rule_save(
        plan=scenario, acting_user=ops,
        fields={"territory": scenario.territories.get(key="canada"), "countries": ["MX"]},
    )  # fmt: skip
    services.member_set(
        territory=california, user=live_plan.reps["rep_west"], role="owner", acting_user=ops
    )
    services.territory_save(
        plan=scenario, acting_user=ops, key="hawaii", name="Hawaii",
        parent=scenario.territories.get(key="us-west"),
    )  # fmt: skip

    assert territory_metrics(scenario)["california"].accounts == 10  # the draft did change
    assert snapshot_accounts() == accounts_before
    assert snapshot_rules(live_plan.plan) == rules_before
    assert territory_metrics(live_plan.plan) == metrics_before
    assert not live_plan.plan.territories.filter(key="hawaii").exists()


# --- Diff ---------------------------------------------------------------------------------------


def test_a_fresh_copy_differs_in_nothing(live_plan, scenario):
    diff = scenario_diff(scenario)
    assert (diff.accounts_compared, diff.total, diff.pairs, diff.rows) == (40, 0, [], [])
    assert diff.base == live_plan.plan


def test_the_diff_lists_exactly_the_accounts_a_region_move_moves(live_plan, scenario):
    mountain = scenario.territories.get(key="mountain")
    services.region_move(
        plan=scenario, country="US", region="OR", to=mountain, acting_user=live_plan.ops
    )
    diff = scenario_diff(scenario)
    rep_west, rep_mountain = live_plan.reps["rep_west"], live_plan.reps["rep_mountain"]
    assert [(r.name, r.from_key, r.to_key, r.from_owner_id, r.to_owner_id) for r in diff.rows] == [
        ("Cascade Coffee", "pacific", "mountain", rep_west.pk, rep_mountain.pk),
        ("Portland Bikes", "pacific", "mountain", rep_west.pk, rep_mountain.pk),
    ]
    assert {row.account_id for row in diff.rows} == live_plan.ids(
        "Cascade Coffee", "Portland Bikes"
    )
    assert diff.rows[0].from_owner == str(rep_west)
    assert (diff.total, diff.territory_moves, diff.owner_changes) == (2, 2, 2)
    assert diff.pairs == [DiffPair("pacific", "mountain", 2)]


def test_the_diff_pages_but_counts_everything(live_plan, scenario):
    ops = live_plan.ops
    services.region_move(
        plan=scenario, country="US", region="OR", to=scenario.territories.get(key="mountain"),
        acting_user=ops,
    )  # fmt: skip
    services.region_move(
        plan=scenario, country="US", region="NJ", to=scenario.territories.get(key="southeast"),
        acting_user=ops,
    )  # fmt: skip
    page = scenario_diff(scenario, limit=1, offset=1)
    assert [row.name for row in page.rows] == ["Jersey Logistics"]
    assert (page.total, page.territory_moves) == (4, 4)
    assert page.pairs == [DiffPair("northeast", "southeast", 2), DiffPair("pacific", "mountain", 2)]
    only = scenario_diff(scenario, pair=("pacific", "mountain"))
    assert [row.name for row in only.rows] == ["Cascade Coffee", "Portland Bikes"]
    assert only.total == 4


def test_the_diff_counts_owner_changes_without_moves(live_plan, scenario):
    ops = live_plan.ops
    pacific = scenario.territories.get(key="pacific")
    services.member_set(
        territory=pacific, user=live_plan.reps["rep_west"], role=None, acting_user=ops
    )
    services.member_set(
        territory=pacific, user=live_plan.reps["se_west"], role="owner", acting_user=ops
    )
    diff = scenario_diff(scenario)
    assert (diff.total, diff.territory_moves, diff.owner_changes, diff.pairs) == (5, 0, 5, [])
    assert {row.to_owner_id for row in diff.rows} == {live_plan.reps["se_west"].pk}
    assert {(row.from_key, row.to_key) for row in diff.rows} == {("pacific", "pacific")}


def test_the_diff_of_two_scenarios(live_plan, scenario):
    ops = live_plan.ops
    services.region_move(
        plan=scenario, country="US", region="OR", to=scenario.territories.get(key="mountain"),
        acting_user=ops,
    )  # fmt: skip
    other = services.scenario_create(name="Further", acting_user=ops, source=scenario)
    services.region_move(
        plan=other, country="US", region="UT", to=other.territories.get(key="pacific"),
        acting_user=ops,
    )  # fmt: skip
    diff = scenario_diff(other, scenario)
    assert [(r.name, r.from_key, r.to_key) for r in diff.rows] == [
        ("Wasatch Software", "mountain", "pacific")
    ]


def test_the_diff_needs_valid_paging(live_plan, scenario):
    with pytest.raises(DomainError, match="must be zero or more"):
        scenario_diff(scenario, limit=-1)


# --- Compare ------------------------------------------------------------------------------------


def test_compare_sets_territories_side_by_side_with_deltas_and_balances(live_plan, scenario):
    services.region_move(
        plan=scenario, country="US", region="OR", to=scenario.territories.get(key="mountain"),
        acting_user=live_plan.ops,
    )  # fmt: skip
    services.territory_save(
        plan=scenario, acting_user=live_plan.ops, key="hawaii", name="Hawaii",
        parent=scenario.territories.get(key="us-west"),
    )  # fmt: skip
    comparison = scenario_compare(live_plan.plan, scenario)
    rows = {row.key: row for row in comparison.rows}
    assert [row.key for row in comparison.rows][-1] == "hawaii"  # only the scenario has it
    assert (rows["hawaii"].a, rows["hawaii"].b.accounts) == (None, 0)
    assert rows["pacific"].delta["accounts"] == -2
    assert rows["pacific"].delta["potential"] == D(-2_000_000)
    assert rows["mountain"].delta["accounts"] == 2
    assert rows["mountain"].delta["employees"] == 85
    assert rows["us-west"].delta == dict.fromkeys(rows["us-west"].delta, D(0))
    assert (rows["pacific"].a.accounts, rows["pacific"].b.accounts) == (5, 3)
    live_west = comparison.balance_a["accounts"].by_parent["us-west"]
    draft_west = comparison.balance_b["accounts"].by_parent["us-west"]
    assert live_west.loads == {"california": 7, "mountain": 4, "pacific": 5}
    assert draft_west.loads == {"california": 7, "hawaii": 0, "mountain": 6, "pacific": 3}
    assert set(comparison.balance_a) == {
        "accounts",
        "potential",
        "employees",
        "pipeline",
        "bookings",
    }


# --- Charts -------------------------------------------------------------------------------------


def test_balance_chart_draws_a_bar_per_territory_the_mean_and_the_cv(live_plan):
    metrics = territory_metrics(live_plan.plan)
    figure = balance_chart(metrics, ["california", "mountain", "pacific"], "accounts")
    bar = figure["data"][0]
    assert (bar["type"], bar["x"], bar["y"]) == (
        "bar", ["California", "Mountain", "Pacific NW"], [7.0, 4.0, 5.0],
    )  # fmt: skip
    cv = plan_balance(metrics, "accounts").by_parent["us-west"].cv
    assert figure["layout"]["title"]["text"] == f"Accounts · CV {cv:.2f}"
    mean_line = figure["layout"]["shapes"][0]
    assert (mean_line["y0"], mean_line["y1"]) == pytest.approx((16 / 3, 16 / 3))


def test_compare_chart_groups_both_plans(live_plan, scenario):
    services.region_move(
        plan=scenario, country="US", region="OR", to=scenario.territories.get(key="mountain"),
        acting_user=live_plan.ops,
    )  # fmt: skip
    live, draft = territory_metrics(live_plan.plan), territory_metrics(scenario)
    figure = compare_chart(live, draft, "accounts", territories=["mountain", "pacific"])
    assert [trace["y"] for trace in figure["data"]] == [[4.0, 5.0], [6.0, 3.0]]
    assert figure["data"][0]["name"].startswith("Live (CV ")
    assert figure["layout"]["barmode"] == "group"
    leaves = compare_chart(live, draft, "potential")
    assert len(leaves["data"][0]["x"]) == 7

"""Auto-balancing a draft scenario on the shared live plan: the units and their locks, the
country-contiguity rule, the move cap, and accepting a proposal into the scenario's rules."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from crm.models import Account
from salesops.errors import DomainError, NotAllowed
from territories import autobalance, services
from territories.autobalance import (
    LOCK_LATE_STAGE,
    LOCK_NAMED,
    LOCK_NO_REGION,
    LOCK_SPLIT_REGION,
    AcceptResult,
    autobalance_accept,
    autobalance_propose,
    autobalance_units,
)
from territories.balancing import Move
from territories.models import AssignmentRule
from territories.scenarios import plan_balance, scenario_diff, territory_metrics
from tests.territories.conftest import LATE_STAGE_ACCOUNTS, NAMED_ACCOUNTS


def parent_of(scenario, key):
    return scenario.territories.get(key=key)


def child_loads(scenario, parent_key, measure):
    """Each child's load on ``measure`` under the scenario's projected assignment."""
    metrics = territory_metrics(scenario)
    return plan_balance(metrics, measure).by_parent[parent_key]


def rules_of(plan):
    return list(
        AssignmentRule.objects.filter(plan=plan)
        .order_by("position", "pk")
        .values_list("territory__key", "countries", "regions", "named_account_ids", "catch_all")
    )


def locked_keys(live_plan):
    return {f"account:{pk}" for pk in live_plan.ids(*LATE_STAGE_ACCOUNTS, *NAMED_ACCOUNTS)}


# --- Units --------------------------------------------------------------------------------------


def test_region_units_split_locked_accounts_out(live_plan, scenario):
    units = autobalance_units(
        scenario=scenario, parent=parent_of(scenario, "us-west"), measure="potential",
        unit="region",
    )  # fmt: skip
    by_key = {u.unit.key: u for u in units}
    golden, bayside = (
        f"account:{live_plan.accounts[n].pk}" for n in ("Golden Gate Labs", "Bayside Health")
    )
    assert set(by_key) == {
        golden, bayside, "region:US/CA", "region:US/AZ", "region:US/CO", "region:US/UT",
        "region:US/OR", "region:US/WA",
    }  # fmt: skip
    assert (by_key[golden].lock, by_key[golden].unit.locked) == (LOCK_LATE_STAGE, True)
    assert by_key[bayside].unit.load == D(90_000_000)
    # The rest of California still moves as one unit: 60 + 5 + 12 + 2 + 3 million.
    california = by_key["region:US/CA"]
    assert (california.unit.locked, california.unit.load) == (False, D(82_000_000))
    assert set(california.account_ids) == live_plan.ids(
        "Pacific Robotics", "Sunset Media", "Mission Analytics", "Silicon Foods", "San Diego Surf"
    )
    assert california.unit.allowed == {"mountain", "pacific"}
    assert (california.label, california.country, california.region) == ("CA (US)", "US", "CA")


def test_named_accounts_are_locked(live_plan, scenario):
    units = autobalance_units(
        scenario=scenario, parent=parent_of(scenario, "us-east"), measure="accounts",
        unit="account",
    )  # fmt: skip
    stark = next(u for u in units if u.label == "Stark Industries")
    assert (stark.lock, stark.unit.locked, stark.unit.territory) == (LOCK_NAMED, True, "northeast")
    assert {u.label for u in units if u.lock == LOCK_LATE_STAGE} == {
        "Empire Finance", "Charlotte Bank",
    }  # fmt: skip


def test_a_region_split_between_children_is_locked(live_plan, scenario):
    # Small Californian companies go to Mountain: California is now split between two children.
    services.rule_save(
        plan=scenario, acting_user=live_plan.ops,
        fields={"territory": parent_of(scenario, "mountain"), "countries": ["US"],
                "regions": ["CA"], "employees_max": 50, "position": 1},
    )  # fmt: skip
    units = autobalance_units(
        scenario=scenario, parent=parent_of(scenario, "us-west"), measure="accounts",
        unit="region",
    )  # fmt: skip
    split = {u.unit.key: u for u in units if u.lock == LOCK_SPLIT_REGION}
    assert set(split) == {"region:US/CA@california", "region:US/CA@mountain"}
    assert set(split["region:US/CA@mountain"].account_ids) == live_plan.ids(
        "Silicon Foods", "San Diego Surf"
    )


def test_accounts_without_a_country_or_region_cannot_move_by_region(live_plan, scenario):
    services.rule_save(
        plan=scenario, acting_user=live_plan.ops,
        fields={"territory": parent_of(scenario, "canada"), "regions": ["Lima"], "position": 1},
    )  # fmt: skip
    units = autobalance_units(
        scenario=scenario, parent=parent_of(scenario, "americas"), measure="accounts",
        unit="region",
    )  # fmt: skip
    by_label = {u.label: u for u in units}
    assert (by_label["No region (no country)"].lock, by_label["No region (no country)"].unit.key) == (
        LOCK_NO_REGION, "region:/@latam",
    )  # fmt: skip
    assert by_label["LIM (PE)"].lock == ""


def test_too_many_units_are_refused(live_plan, scenario, monkeypatch):
    monkeypatch.setattr(autobalance, "MAX_UNITS", 3)
    with pytest.raises(DomainError) as error:
        autobalance_propose(
            scenario=scenario, parent=parent_of(scenario, "us-west"), measure="accounts",
            unit="account", max_moves=1,
        )  # fmt: skip
    assert error.value.message == (
        "US West has 14 units that could move, more than the 3 the optimiser can weigh in time; "
        "balance a territory lower in the tree, or by region."
    )


def test_units_may_only_go_where_their_country_is_served(live_plan, scenario):
    # A Canadian account served from US West: now two siblings serve Canada.
    services.rule_save(
        plan=scenario, acting_user=live_plan.ops,
        fields={"territory": parent_of(scenario, "pacific"), "position": 1,
                "named_account_ids": [live_plan.accounts["Vancouver Cloud"].pk]},
    )  # fmt: skip
    units = autobalance_units(
        scenario=scenario, parent=parent_of(scenario, "americas"), measure="accounts",
        unit="region",
    )  # fmt: skip
    allowed = {u.unit.key: u.unit.allowed for u in units if not u.unit.locked}
    assert allowed["region:US/NY"] == {"us-west"}
    assert allowed["region:US/WA"] == {"us-east"}
    assert allowed["region:CA/ON"] == {"us-west"}  # not LATAM, which serves no Canadians
    # Mexico is served by LATAM only, so it may go to any sibling.
    assert allowed["region:MX/NL"] is None

    # On potential, US East (729m) is far above the mean and Canada (48m) and LATAM (62m) far
    # below, but US states may only go to US West.
    proposal = autobalance_propose(
        scenario=scenario, parent=parent_of(scenario, "americas"), measure="potential",
        unit="region", max_moves=10,
    )  # fmt: skip
    assert proposal.moves and proposal.after.cv < proposal.before.cv
    for move in proposal.moves:
        assert allowed[move.unit] is None or move.to_territory in allowed[move.unit]
    assert {m.to_territory for m in proposal.moves if m.unit.startswith("region:US/")} == {
        "us-west"
    }


# --- Proposals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("max_moves", [1, 2, 4])
def test_a_proposal_keeps_locks_and_the_move_cap_and_improves_the_balance(
    live_plan, scenario, max_moves
):
    proposal = autobalance_propose(
        scenario=scenario, parent=parent_of(scenario, "americas"), measure="potential",
        unit="account", max_moves=max_moves,
    )  # fmt: skip
    assert 1 <= len(proposal.moves) <= max_moves
    assert not {move.unit for move in proposal.moves} & locked_keys(live_plan)
    assert proposal.after.cv < proposal.before.cv
    assert proposal.before == child_loads(scenario, "americas", "potential")


def test_the_heaviest_accounts_stay_when_locked(live_plan, scenario):
    """Bayside Health (90m) would be the obvious move out of California, but it has a
    late-stage deal; Pacific Robotics (60m) goes instead."""
    proposal = autobalance_propose(
        scenario=scenario, parent=parent_of(scenario, "us-west"), measure="potential",
        unit="account", max_moves=1,
    )  # fmt: skip
    [move] = proposal.moves
    assert move.unit == f"account:{live_plan.accounts['Pacific Robotics'].pk}"
    assert (move.from_territory, move.load) == ("california", D(60_000_000))


def test_propose_refuses_bad_requests(live_plan, scenario):
    us_west = parent_of(scenario, "us-west")
    cases = [
        ({"scenario": live_plan.plan, "parent": live_plan.territories["us-west"]},
         "FY plan is live; auto-balancing works on a draft scenario. Draft one from the live "
         "plan first."),
        ({"unit": "state"}, "'state' is not a unit; choose region or account."),
        ({"measure": "revenue"}, "'revenue' is not a measure; choose one of accounts, "
         "potential, employees, pipeline, bookings."),
        ({"parent": live_plan.territories["us-west"]}, "US West belongs to another plan."),
        ({"parent": parent_of(scenario, "pacific")},
         "Pacific NW has no territories below it to balance."),
        ({"max_moves": -1}, "The number of moves must be zero or more."),
    ]  # fmt: skip
    for changes, message in cases:
        arguments = {
            "scenario": scenario, "parent": us_west, "measure": "accounts", "unit": "region",
            "max_moves": 2, **changes,
        }  # fmt: skip
        with pytest.raises(DomainError) as error:
            autobalance_propose(**arguments)
        assert error.value.message == message


# --- Accepting ----------------------------------------------------------------------------------


def test_accepting_region_moves_pins_locked_accounts_and_matches_the_proposal(live_plan, scenario):
    accounts_before = list(Account.objects.order_by("pk").values_list("territory_id", "owner_id"))
    proposal = autobalance_propose(
        scenario=scenario, parent=parent_of(scenario, "us-west"), measure="potential",
        unit="region", max_moves=1,
    )  # fmt: skip
    assert [(m.unit, m.from_territory, m.to_territory) for m in proposal.moves] == [
        ("region:US/CA", "california", "pacific")
    ]
    result = autobalance_accept(
        scenario=scenario, proposal_moves=proposal.moves, acting_user=live_plan.ops
    )
    assert result == AcceptResult(
        regions_moved=1, accounts_named=0, accounts_pinned=2, accounts_moved=5
    )
    after = child_loads(scenario, "us-west", "potential")
    assert after.loads == proposal.after.loads
    assert after.cv == pytest.approx(proposal.after.cv) and after.cv < proposal.before.cv
    diff = scenario_diff(scenario)
    assert {row.account_id for row in diff.rows if row.from_key != row.to_key} == live_plan.ids(
        "Pacific Robotics", "Sunset Media", "Mission Analytics", "Silicon Foods", "San Diego Surf"
    )
    assert {(row.from_key, row.to_key) for row in diff.rows} == {("california", "pacific")}
    pinned = sorted(live_plan.ids("Golden Gate Labs", "Bayside Health"))
    rules = rules_of(scenario)
    assert rules[0] == ("california", [], [], pinned, False)  # pinned, at the top
    # California joined Pacific NW's rule; California's own rule, left with no state, is gone.
    assert ("pacific", ["US"], ["WA", "OR", "CA"], [], False) in rules
    assert not [rule for rule in rules if rule[0] == "california" and rule[2]]
    # Nothing live moved.
    assert list(Account.objects.order_by("pk").values_list("territory_id", "owner_id")) == (
        accounts_before
    )


def test_accepting_account_moves_names_them_in_the_target(live_plan, scenario):
    proposal = autobalance_propose(
        scenario=scenario, parent=parent_of(scenario, "us-west"), measure="accounts",
        unit="account", max_moves=1,
    )  # fmt: skip
    [move] = proposal.moves
    assert (move.from_territory, move.to_territory) == ("california", "mountain")
    account_id = int(move.unit.split(":")[1])
    assert account_id not in live_plan.ids(*LATE_STAGE_ACCOUNTS)
    result = autobalance_accept(
        scenario=scenario, proposal_moves=proposal.moves, acting_user=live_plan.ops
    )
    assert result == AcceptResult(
        regions_moved=0, accounts_named=1, accounts_pinned=0, accounts_moved=1
    )
    after = child_loads(scenario, "us-west", "accounts")
    assert after.loads == proposal.after.loads == {
        "california": D(6), "mountain": D(5), "pacific": D(5),
    }  # fmt: skip
    assert after.cv < proposal.before.cv
    assert rules_of(scenario)[0] == ("mountain", [], [], [account_id], False)
    diff = scenario_diff(scenario)
    assert [(r.account_id, r.from_key, r.to_key) for r in diff.rows] == [
        (account_id, "california", "mountain")
    ]
    # A second accepted move joins the same named-accounts rule.
    second = autobalance_propose(
        scenario=scenario, parent=parent_of(scenario, "us-west"), measure="potential",
        unit="account", max_moves=1,
    )  # fmt: skip
    autobalance_accept(scenario=scenario, proposal_moves=second.moves, acting_user=live_plan.ops)
    assert child_loads(scenario, "us-west", "potential").loads == second.after.loads


def test_a_region_moved_to_a_parent_lands_in_its_smallest_leaf_serving_the_country(
    live_plan, scenario
):
    move = Move(unit="region:US/OR", from_territory="us-west", to_territory="us-east", load=D(2))
    autobalance_accept(scenario=scenario, proposal_moves=[move], acting_user=live_plan.ops)
    diff = scenario_diff(scenario)
    # Southeast (6 accounts) rather than Northeast (9).
    assert {(r.name, r.from_key, r.to_key) for r in diff.rows} == {
        ("Cascade Coffee", "pacific", "southeast"), ("Portland Bikes", "pacific", "southeast"),
    }  # fmt: skip


def test_accept_refuses_out_of_date_or_impossible_moves_and_changes_nothing(live_plan, scenario):
    ops = live_plan.ops
    rules_before = rules_of(scenario)
    golden = live_plan.accounts["Golden Gate Labs"].pk
    cases = [
        (Move(f"account:{golden}", "california", "pacific", D(1)),
         "Golden Gate Labs cannot move (late stage); the scenario changed since the proposal "
         "was made. Propose again."),
        (Move("region:US/OR", "california", "mountain", D(1)),
         "region:US/OR is no longer in California: the scenario changed since the proposal was "
         "made. Propose again."),
        (Move("region:US/OR", "pacific", "us-east", D(1)),
         "region:US/OR would move from pacific to us-east, which are not sibling territories; "
         "only moves between a parent's children can be accepted."),
        (Move("region:US/NY", "us-east", "canada", D(1)),
         "NY (US) may only move to territories that already serve US: us-west."),
        (Move("region:US/OR", "pacific", "atlantis", D(1)),
         "The scenario has no territory 'atlantis'; propose again."),
    ]  # fmt: skip
    for move, message in cases:
        with pytest.raises(DomainError) as error:
            autobalance_accept(scenario=scenario, proposal_moves=[move], acting_user=ops)
        assert error.value.message == message
    with pytest.raises(DomainError, match="is live; auto-balancing works on a draft"):
        autobalance_accept(
            scenario=live_plan.plan,
            proposal_moves=[Move("region:US/OR", "pacific", "mountain", D(1))],
            acting_user=ops,
        )
    with pytest.raises(NotAllowed):
        autobalance_accept(
            scenario=scenario,
            proposal_moves=[Move("region:US/OR", "pacific", "mountain", D(1))],
            acting_user=live_plan.reps["rep_west"],
        )
    assert rules_of(scenario) == rules_before


def test_accept_rolls_back_when_the_rules_would_not_follow_the_proposal(live_plan, scenario):
    """Sunset Media is listed in a named rule that does not match it (wrong industry), so it is
    locked, yet moving California would take it along: nothing may change."""
    services.rule_save(
        plan=scenario, acting_user=live_plan.ops,
        fields={"territory": parent_of(scenario, "mountain"), "position": 1,
                "named_account_ids": [live_plan.accounts["Sunset Media"].pk],
                "industries": ["Shipping"]},
    )  # fmt: skip
    rules_before = rules_of(scenario)
    move = Move("region:US/CA", "california", "pacific", D(1))
    with pytest.raises(DomainError) as error:
        autobalance_accept(scenario=scenario, proposal_moves=[move], acting_user=live_plan.ops)
    assert error.value.message == (
        "The scenario's rules would place 1 account(s) differently from the proposal (Sunset "
        "Media in pacific instead of california), so nothing was changed. Another rule takes "
        "precedence over the moved regions; review the rules or balance by account."
    )
    assert rules_of(scenario) == rules_before

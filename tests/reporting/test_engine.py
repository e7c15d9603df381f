"""The KPI engine on a small organisation whose every figure is worked out by hand below."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm.models import Deal, DealHistory
from crm.services import deal_create, history_row
from reporting.engine import Filters, compute
from tests.conftest import fresh
from tests.crm.conftest import stage
from tests.reporting.scenario import APRIL, MARCH, Q1, YEAR, at, values


def test_every_deal_kpi_matches_the_hand_computed_figures(book):
    org = book
    got = values(compute())
    east, americas = ("team", org.east.pk), ("team", org.americas.pk)
    company, rep_east = ("company", 0), ("rep", org.rep_east.pk)
    expected = {
        ("bookings", MARCH, *east): Decimal(4000),
        ("won_deals", MARCH, *east): 2,
        ("win_rate", MARCH, *east): 1,
        ("bookings", MARCH, *americas): Decimal(4000),
        ("lost_deals", MARCH, *americas): 1,
        ("win_rate", MARCH, *americas): Decimal(2) / 3,
        ("win_rate_value", MARCH, *americas): Decimal(4000) / 6000,
        ("average_deal_size", MARCH, *east): Decimal(2000),
        ("cycle_length_mean", MARCH, *east): Decimal("55.5"),
        ("cycle_length_median", MARCH, *east): Decimal("55.5"),
        ("bookings", Q1, *company): Decimal(4000),
        ("bookings", YEAR, *company): Decimal(4500),
        ("win_rate", YEAR, *company): Decimal(3) / 4,
        ("cycle_length_mean", YEAR, *company): Decimal(61),
        ("cycle_length_median", YEAR, *company): Decimal(64),
        ("bookings", APRIL, "team", org.london.pk): Decimal(500),
        ("bookings", APRIL, "team", org.emea.pk): Decimal(500),
        ("open_deals", MARCH, *rep_east): 2,
        ("pipeline", MARCH, *rep_east): Decimal(5100),
        ("weighted_pipeline", MARCH, *rep_east): Decimal(2220),
        ("deals_created", "2026-M01", *company): 2,
        ("pipeline_created", "2026-M01", *company): Decimal(1500),
        # 2 open × 100 % won × 1,000 average ÷ 64 days
        ("sales_velocity", MARCH, *rep_east): Decimal("31.25"),
        ("meetings", MARCH, *rep_east): 2,
        ("meetings_per_rep", MARCH, *east): 1,  # 2 meetings ÷ 2 reps in East
        ("meetings_per_rep", MARCH, *americas): Decimal(2) / 3,
        ("lead_response_hours", MARCH, *rep_east): 4,  # median of 2 h and 6 h; one unanswered
    }
    wrong = {
        key: (want, got.get((*key, "")))
        for key, want in expected.items()
        if got.get((*key, "")) is None or abs(got[(*key, "")] - Decimal(want)) > Decimal("1e-9")
    }
    assert wrong == {}
    # Another team's figures are not mixed in; nothing for a team with no deals that month.
    assert ("bookings", MARCH, "team", org.london.pk, "") not in got
    assert got[("bookings", MARCH, "team", org.west.pk, "")] == 0
    assert got[("win_rate", MARCH, "team", org.west.pk, "")] == 0


def test_filters_narrow_the_facts(book, pipeline):
    other = Filters(pipeline_id=pipeline.pk + 1000)
    assert not [r for r in compute(metrics=["bookings"], filters=other)]
    same = values(compute(metrics=["bookings"], filters=Filters(pipeline_id=pipeline.pk)))
    assert same[("bookings", YEAR, "company", 0, "")] == Decimal(4500)


def test_period_and_scope_arguments_narrow_what_is_computed(book):
    org = book
    rows = compute(metrics=["bookings"], period_keys=[MARCH], scopes=[("team", org.east.pk)])
    assert [(r.period_key, r.scope_kind, r.scope_id, r.value) for r in rows] == [
        (MARCH, "team", org.east.pk, Decimal(4000))
    ]


def test_kpis_as_of_a_past_date_come_from_stage_history(org, pipeline, accounts):
    """A deal whose history was written over spring 2026 (as an import of history would)."""
    rep = org.rep_east
    deal = deal_create(acting_user=fresh(rep), account=accounts[rep], name="Spring deal")
    rows = []
    states = [
        ("2026-01-10", "Discovery", "100", "2026-02-28"),
        ("2026-02-01", "Proposal", "200", "2026-02-28"),
        ("2026-03-01", "Proposal", "200", "2026-04-30"),  # slipped
        ("2026-04-15", "Closed Won", "250", "2026-04-15"),
    ]
    for day, stage_name, amount, closes in states:
        deal.stage = stage(pipeline, stage_name)
        deal.amount = Decimal(amount)
        deal.close_date = dt.date.fromisoformat(closes)
        deal.probability = deal.stage.probability
        rows.append(history_row(deal, before=None, changed=["stage"], by=rep, at=at(day)))
    DealHistory.objects.bulk_create(rows)
    Deal.objects.filter(pk=deal.pk).update(created_at=at("2026-01-10"))

    def figures(day: str) -> dict:
        return values(compute(as_of=dt.date.fromisoformat(day), metrics=[
            "pipeline", "weighted_pipeline", "bookings", "open_deals"]))  # fmt: skip

    feb = figures("2026-02-15")
    assert feb[("pipeline", "2026-M02", "rep", rep.pk, "")] == 200
    assert feb[("weighted_pipeline", "2026-M02", "rep", rep.pk, "")] == 100
    assert ("bookings", "2026-M04", "rep", rep.pk, "") not in feb
    march = figures("2026-03-15")
    assert ("pipeline", "2026-M02", "rep", rep.pk, "") not in march
    assert march[("pipeline", "2026-M04", "rep", rep.pk, "")] == 200
    april = figures("2026-04-20")
    assert april[("bookings", "2026-M04", "rep", rep.pk, "")] == 250
    assert ("open_deals", "2026-M04", "rep", rep.pk, "") not in april
    # Before its first history row the deal does not exist yet.
    assert figures("2026-01-09") == {}


def test_stage_conversion_and_time_in_stage(org, pipeline, accounts):
    """Three deals enter Discovery on 1 March; one reaches Proposal, one is lost, one stays."""
    rep = org.rep_east
    discovery, proposal = stage(pipeline, "Discovery"), stage(pipeline, "Proposal")
    lost, prospecting = stage(pipeline, "Closed Lost"), stage(pipeline, "Prospecting")
    rows = []
    paths = [
        [("2026-02-20", prospecting), ("2026-03-01", discovery), ("2026-03-11", proposal)],
        [("2026-02-20", prospecting), ("2026-03-01", discovery), ("2026-03-05", lost)],
        [("2026-02-20", prospecting), ("2026-03-01", discovery)],
    ]
    for n, path in enumerate(paths):
        deal = deal_create(acting_user=fresh(rep), account=accounts[rep], name=f"Path {n}")
        for day, where in path[1:]:
            deal.stage = where
            rows.append(history_row(deal, before=None, changed=["stage"], by=rep, at=at(day)))
    DealHistory.objects.bulk_create(rows)
    got = values(compute(as_of=dt.date(2026, 3, 31),
                         metrics=["stage_conversion", "time_in_stage"]))  # fmt: skip
    key = ("rep", rep.pk, str(discovery.pk))
    assert abs(got[("stage_conversion", MARCH, *key)] - Decimal(1) / 3) < Decimal("1e-15")
    assert got[("time_in_stage", MARCH, *key)] == 7  # stays of 10 and 4 days ended in March


def test_figures_for_some_scopes_equal_those_of_the_whole_run(book):
    """Asked for reps and teams only, the engine reads their owners' facts alone: same figures."""
    org = book
    scopes = [("team", org.americas.pk), ("team", org.east.pk), ("rep", org.rep_london.pk)]
    everything = values(compute())
    wanted = {key: value for key, value in everything.items() if (key[2], key[3]) in scopes}
    assert values(compute(scopes=scopes)) == wanted
    assert len(wanted) > 50
    as_of = dt.date(2026, 3, 31)
    everything = values(compute(as_of=as_of))
    wanted = {key: value for key, value in everything.items() if (key[2], key[3]) in scopes}
    assert values(compute(as_of=as_of, scopes=scopes)) == wanted

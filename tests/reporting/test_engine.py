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


def test_quota_kpis_match_the_hand_computed_figures(book):
    """Quotas (scenario.book): rep_east 800 in March and 1,000 in April; rep_east_2 4,000 and
    1,000; rep_west 1,000 and 0; rep_london 500 in April. Bookings: March rep_east 1,000 and
    rep_east_2 3,000 (rep_west lost a deal), April rep_london 500. Open in March: rep_east 5,100."""
    org = book
    rows = compute()
    got = values(rows)
    parts = {(r.metric, r.period_key, r.scope_kind, r.scope_id): (r.numerator, r.denominator)
             for r in rows}  # fmt: skip
    east, west, americas = ("team", org.east.pk), ("team", org.west.pk), ("team", org.americas.pk)
    emea, company = ("team", org.emea.pk), ("company", 0)
    rep_east, rep_east_2 = ("rep", org.rep_east.pk), ("rep", org.rep_east_2.pk)
    rep_west, rep_london = ("rep", org.rep_west.pk), ("rep", org.rep_london.pk)
    expected = {
        # the sum of the reps' monthly quotas of the published plan, bottom-up
        ("quota", MARCH, *rep_east): 800,
        ("quota", APRIL, *rep_east): 1000,
        ("quota", Q1, *rep_east): 800,  # its quarter quota (9,000) is not counted
        ("quota", YEAR, *rep_east): 1800,
        ("quota", MARCH, *east): 4800,  # East's own quota (9,000) is not counted
        ("quota", MARCH, *americas): 5800,
        ("quota", APRIL, *west): 0,
        ("quota", APRIL, *emea): 500,
        ("quota", APRIL, *company): 2500,
        ("quota", YEAR, *company): 8300,
        # bookings ÷ quota
        ("quota_attainment", MARCH, *rep_east): Decimal("1.25"),
        ("quota_attainment", MARCH, *rep_east_2): Decimal("0.75"),
        ("quota_attainment", MARCH, *rep_west): 0,
        ("quota_attainment", APRIL, *rep_east): 0,  # no bookings in April
        ("quota_attainment", MARCH, *east): Decimal(4000) / 4800,
        ("quota_attainment", MARCH, *americas): Decimal(4000) / 5800,
        ("quota_attainment", APRIL, *emea): 1,
        ("quota_attainment", YEAR, *company): Decimal(4500) / 8300,
        # pipeline ÷ (quota − bookings, when above 0)
        ("pipeline_coverage", MARCH, *east): Decimal(5100) / 800,
        ("pipeline_coverage", MARCH, *americas): Decimal(5100) / 1800,
        ("pipeline_coverage", Q1, *company): Decimal(5100) / 1800,
        ("pipeline_coverage", MARCH, *rep_east_2): 0,  # 1,000 left, nothing open
        ("pipeline_coverage", APRIL, *rep_east): 0,
        # reps that reached their quota ÷ reps with a quota above 0
        ("quota_achievement_rate", MARCH, *rep_east): 1,
        ("quota_achievement_rate", MARCH, *rep_east_2): 0,
        ("quota_achievement_rate", MARCH, *rep_west): 0,
        ("quota_achievement_rate", MARCH, *east): Decimal("0.5"),
        ("quota_achievement_rate", MARCH, *west): 0,
        ("quota_achievement_rate", MARCH, *americas): Decimal(1) / 3,
        ("quota_achievement_rate", MARCH, *company): Decimal(1) / 3,
        ("quota_achievement_rate", Q1, *company): Decimal(1) / 3,
        ("quota_achievement_rate", APRIL, *rep_london): 1,  # 500 of 500: reached
        ("quota_achievement_rate", APRIL, *east): 0,
        ("quota_achievement_rate", APRIL, *emea): 1,
        ("quota_achievement_rate", APRIL, *company): Decimal(1) / 3,  # rep_west's 0 not counted
        # the year as a whole: rep_east booked 1,000 of 1,800, only rep_london reached
        ("quota_achievement_rate", YEAR, *rep_east): 0,
        ("quota_achievement_rate", YEAR, *americas): 0,
        ("quota_achievement_rate", YEAR, *company): Decimal("0.25"),
    }
    wrong = {
        key: (want, got.get((*key, "")))
        for key, want in expected.items()
        if got.get((*key, "")) is None or abs(got[(*key, "")] - Decimal(want)) > Decimal("1e-9")
    }
    assert wrong == {}
    assert parts[("quota_achievement_rate", MARCH, *americas)] == (1, 3)
    assert parts[("quota_achievement_rate", YEAR, *company)] == (1, 4)
    assert parts[("quota_achievement_rate", MARCH, *rep_east)] == (1, 1)
    # Blank: rep_east's March quota is reached (nothing left to cover), West's April quota is 0.
    assert got[("pipeline_coverage", MARCH, *rep_east, "")] is None
    assert got[("quota_attainment", APRIL, *west, "")] is None
    assert got[("quota_achievement_rate", APRIL, *rep_west, "")] is None
    assert parts[("quota_achievement_rate", APRIL, *west)] == (0, 0)
    # No quota in March for London; no quota figure of a territory; the draft plan counts nowhere.
    assert ("quota_achievement_rate", MARCH, "team", org.london.pk, "") not in got
    assert not [k for k in got if k[0] in ("quota", "quota_achievement_rate")
                and k[2] == "territory"]  # fmt: skip
    assert not [k for k in got if k[0] == "quota" and k[1].startswith("2027")]


def test_quotas_are_not_filtered_nor_taken_as_of_a_day(book, pipeline):
    """A filter narrows the bookings, not the quotas; as of any day quotas are as they are now."""
    org = book
    metrics = ["quota", "quota_attainment", "quota_achievement_rate"]
    other = values(compute(metrics=metrics, filters=Filters(pipeline_id=pipeline.pk + 1000)))
    assert other[("quota", MARCH, "team", org.americas.pk, "")] == 5800
    assert other[("quota_attainment", MARCH, "team", org.americas.pk, "")] == 0
    assert other[("quota_achievement_rate", MARCH, "team", org.americas.pk, "")] == 0
    same = values(compute(metrics=metrics, filters=Filters(pipeline_id=pipeline.pk)))
    assert abs(
        same[("quota_achievement_rate", MARCH, "company", 0, "")] - Decimal(1) / 3
    ) < Decimal("1e-9")
    past = values(compute(as_of=dt.date(2020, 1, 1), metrics=metrics))
    assert past[("quota", YEAR, "company", 0, "")] == 8300
    assert past[("quota_achievement_rate", YEAR, "company", 0, "")] == 0  # no deal then


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


def test_territory_figures_roll_up_the_territory_tree(org, pipeline, accounts):
    """Americas › US West › NorCal: a deal of a NorCal account counts in all three."""
    from crm.models import Account
    from crm.services import deal_close
    from territories import services as plans

    plan = plans.plan_create_live(name="Live", acting_user=org.ops)
    americas = plans.territory_save(plan=plan, acting_user=org.ops, key="am", name="Americas")
    west = plans.territory_save(plan=plan, acting_user=org.ops, key="w", name="West",
                                parent=americas)  # fmt: skip
    norcal = plans.territory_save(plan=plan, acting_user=org.ops, key="nc", name="NorCal",
                                  parent=west)  # fmt: skip
    east = plans.territory_save(plan=plan, acting_user=org.ops, key="e", name="East",
                                parent=americas)  # fmt: skip
    for territory, account, amount in ((norcal, accounts[org.rep_west], 700),
                                       (east, accounts[org.rep_east], 300)):  # fmt: skip
        Account.objects.filter(pk=account.pk).update(territory_id=territory.pk)
        deal = deal_create(acting_user=fresh(account.owner), account=account, name="Won",
                           amount=Decimal(amount), close_date=dt.date(2026, 3, 10))  # fmt: skip
        deal_close(deal=deal, won=True, acting_user=fresh(account.owner), expected_version=1)
    got = {
        row.scope_id: row.value
        for row in compute(metrics=["bookings"], period_keys=["2026-M03"])
        if row.scope_kind == "territory"
    }
    assert got == {norcal.pk: 700, west.pk: 700, east.pk: 300, americas.pk: 1000}

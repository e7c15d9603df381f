"""The KPI API: definitions, figures from snapshots or live, grouping, and who may see what."""

from __future__ import annotations

from decimal import Decimal

from reporting.kpis import KPIS
from reporting.services import kpi_recompute_full
from tests.reporting.scenario import MARCH


def get(client, user, **params):
    client.force_login(user)
    return client.get("/api/v1/kpi-values/", params)


def test_definitions_list_every_kpi(client, org):
    client.force_login(org.rep_east)
    body = client.get("/api/v1/kpis/").json()
    assert [k["key"] for k in body] == [k.key for k in KPIS]
    win_rate = next(k for k in body if k["key"] == "win_rate")
    assert win_rate == {
        "key": "win_rate", "label": "Win rate", "unit": "percent", "per_stage": False,
        "definition": "Won deals ÷ (won + lost deals), closed in the period.",
    }  # fmt: skip


def test_manager_reads_team_figures_grouped_by_rep_from_snapshots(client, book):
    org = book
    run = kpi_recompute_full()
    response = get(client, org.manager_east, metric=["bookings", "win_rate"], period=MARCH,
                   group_by="rep")  # fmt: skip
    body = response.json()
    assert response.status_code == 200, body
    assert body["live"] is False and body["computed_at"] is not None
    assert body["computed_at"][:19] == run.finished_at.isoformat()[:19]
    bookings = {r["scope_name"]: Decimal(r["value"]) for r in body["results"]
                if r["metric"] == "bookings"}  # fmt: skip
    assert bookings == {org.rep_east.get_full_name(): 1000, org.rep_east_2.get_full_name(): 3000}
    # The default scope of a manager is their top team.
    body = get(client, org.manager_east, metric="bookings", period=MARCH).json()
    assert [(r["scope"], Decimal(r["value"])) for r in body["results"]] == [
        (f"team:{org.east.pk}", Decimal(4000))
    ]


def test_quota_figures_by_rep_from_snapshots_and_live(client, book, pipeline):
    """Quota KPIs read like any other: from snapshots, and live under a filter, which narrows the
    bookings and leaves the quotas whole (see scenario.book for the figures)."""
    org = book
    kpi_recompute_full()
    metrics = ["quota", "quota_attainment", "pipeline_coverage", "quota_achievement_rate"]

    def figures(**params) -> dict:
        body = get(client, org.manager_east, metric=metrics, period=MARCH, **params).json()
        return {(r["metric"], r["scope_name"]): r["value"] and Decimal(r["value"])
                for r in body["results"]}  # fmt: skip

    east, east_2 = org.rep_east.get_full_name(), org.rep_east_2.get_full_name()
    assert figures(group_by="rep") == {
        ("quota", east): 800, ("quota", east_2): 4000,
        ("quota_attainment", east): Decimal("1.25"), ("quota_attainment", east_2): Decimal("0.75"),
        ("pipeline_coverage", east): None, ("pipeline_coverage", east_2): 0,
        ("quota_achievement_rate", east): 1, ("quota_achievement_rate", east_2): 0,
    }  # fmt: skip
    other_pipeline = figures(pipeline=pipeline.pk + 1000)
    assert other_pipeline[("quota", "East")] == 4800
    assert other_pipeline[("quota_attainment", "East")] == 0
    assert other_pipeline[("quota_achievement_rate", "East")] == 0


def test_as_of_and_filters_compute_live(client, book, pipeline):
    org = book
    body = get(client, org.ops, metric="bookings", period="2026", as_of="2026-12-31").json()
    assert body["live"] is True and body["as_of"] == "2026-12-31"
    assert [Decimal(r["value"]) for r in body["results"]] == [Decimal(4500)]
    body = get(client, org.ops, metric="bookings", period="2026", pipeline=pipeline.pk).json()
    assert body["live"] is True
    assert [Decimal(r["value"]) for r in body["results"]] == [Decimal(4500)]


def test_people_only_see_their_own_scopes(client, book):
    org = book
    kpi_recompute_full()
    # A rep: their own figures only; a teammate's or the team's are refused.
    body = get(client, org.rep_east, metric="bookings", period=MARCH).json()
    assert [(r["scope"], Decimal(r["value"])) for r in body["results"]] == [
        (f"rep:{org.rep_east.pk}", Decimal(1000))
    ]
    for scope in (f"rep:{org.rep_east_2.pk}", f"team:{org.east.pk}", "company:0"):
        response = get(client, org.rep_east, metric="bookings", period=MARCH, scope=scope)
        assert response.status_code == 403, scope
        assert response.json()["detail"] == "These figures are outside your teams."
    # A manager: not another region's team or people, and not the company.
    for scope in (f"team:{org.london.pk}", f"rep:{org.rep_london.pk}", "company:0"):
        assert get(client, org.manager_east, metric="bookings", scope=scope).status_code == 403
    # Ops and finance see the company.
    body = get(client, org.finance, metric="bookings", period=MARCH, scope="company:0").json()
    assert [Decimal(r["value"]) for r in body["results"]] == [Decimal(4000)]


def test_bad_queries_say_what_is_wrong(client, org):
    response = get(client, org.ops, metric="nope")
    assert response.status_code == 400
    assert "metric" in response.json()
    response = get(client, org.ops, metric="bookings", period="Q3")
    assert response.status_code == 400
    assert "'Q3' is not a fiscal period" in str(response.json())
    response = get(client, org.ops, metric="bookings", scope="galaxy:1")
    assert response.status_code == 400
    assert "is not a scope" in str(response.json())
    client.logout()
    assert client.get("/api/v1/kpi-values/", {"metric": "bookings"}).status_code in (401, 403)


def test_dashboard_data_as_json_matches_the_page(client, book):
    org = book
    kpi_recompute_full()
    client.force_login(org.manager_east)
    body = client.get("/api/v1/dashboards/", {"period": MARCH}).json()
    page = client.get("/reports/", {"period": MARCH}).context
    assert (body["scope"], body["period"], body["currency"]) == (
        f"team:{org.east.pk}",
        MARCH,
        "USD",
    )
    tiles = {t["key"]: t for t in body["tiles"]}
    assert Decimal(tiles["bookings"]["value"]) == 4000
    assert tiles["bookings"]["display"] == "USD 4,000"
    assert tiles["bookings"]["url"] == next(
        t["url"] for t in page["tiles"] if t["key"] == "bookings"
    )
    march = next(p for p in body["series"]["bookings_by_month"] if p["period_key"] == MARCH)
    assert Decimal(march["value"]) == 4000 and "status=won" in march["url"]
    members = {p["label"]: Decimal(p["value"]) for p in body["series"]["bookings_by_member"]}
    assert members == {org.rep_east.get_full_name(): 1000, org.rep_east_2.get_full_name(): 3000}
    assert [d["name"] for d in body["top_deals"]] == ["rep_east open 2026-03-31",
                                                       "rep_east open 2026-03-05"]  # fmt: skip
    client.force_login(org.rep_east)
    response = client.get("/api/v1/dashboards/", {"scope": f"team:{org.east.pk}"})
    assert response.status_code == 403

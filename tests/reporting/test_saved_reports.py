"""Saved reports: the builder's measures and groupings worked out by hand on the March/April 2026
book, who sees which rows (always the viewer's own scope), bad input, the pages, the API and
formula-safe downloads."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from reporting import reports
from reporting.models import SavedReport
from reporting.reports import ReportDefinition, ReportInvalid, run, saved_report_save
from reporting.services import kpi_recompute_full
from tests.conftest import fresh
from tests.reporting.scenario import APRIL, MARCH, closed

D = Decimal


def rows(result) -> list[tuple[str, Decimal | None]]:
    return [(row.label, row.value) for row in result.rows]


def name(user) -> str:
    return user.get_full_name()


def march(measure: str, group_by: str, **filters) -> ReportDefinition:
    return ReportDefinition(measure=measure, group_by=group_by, period="custom",
                            period_from=MARCH, **filters)  # fmt: skip


def saved(owner, **fields) -> SavedReport:
    values = {"name": "Report", "measure": "deals:amount", "group_by": "rep", "period": "custom",
              "period_from": MARCH, **fields}  # fmt: skip
    return saved_report_save(acting_user=fresh(owner), **values)


# --- Deal and activity measures, by hand ------------------------------------------------------


def test_deal_amounts_by_rep_in_the_corporate_currency(book):
    org = book
    result = run(march("deals:amount", "rep"), viewer=fresh(org.ops))
    # rep_east: won 1,000 + open 4,000 + open EUR 1,000 at 1.10 (the rate on its close date).
    assert rows(result) == [
        (name(org.rep_east), D("6100.00")), (name(org.rep_east_2), D("3000.00")),
        (name(org.rep_west), D("2000.00")),
    ]  # fmt: skip
    assert result.total == D("11100.00")
    assert result.headers == ["Rep", "Deal amount (USD)"]
    assert [r.key for r in result.rows][0] == f"rep:{org.rep_east.pk}"


def test_open_and_weighted_pipeline_won_and_lost(book):
    org = book
    ops = fresh(org.ops)
    assert rows(run(march("deals:open_pipeline", "rep"), viewer=ops)) == [
        (name(org.rep_east), D("5100.00"))
    ]
    # 4,000 × 50 % (Proposal) + 1,100 × 20 % (Discovery)
    assert rows(run(march("deals:weighted_pipeline", "rep"), viewer=ops)) == [
        (name(org.rep_east), D("2220.00"))
    ]
    assert rows(run(march("deals:won_count", "rep"), viewer=ops)) == [
        (name(org.rep_east), 1), (name(org.rep_east_2), 1),
    ]  # fmt: skip
    assert rows(run(march("deals:lost_amount", "rep"), viewer=ops)) == [
        (name(org.rep_west), D("2000.00"))
    ]


def test_deals_by_fiscal_month_and_quarter_list_every_period_of_the_range(book):
    org = book
    by_month = ReportDefinition(measure="deals:count", group_by="month", period="custom",
                                period_from="2026-M02", period_to=APRIL)  # fmt: skip
    result = run(by_month, viewer=fresh(org.ops))
    assert [(r.key, r.label, r.value) for r in result.rows] == [
        ("2026-M02", "FY2026 M2", 0), ("2026-M03", "FY2026 M3", 5), ("2026-M04", "FY2026 M4", 1),
    ]  # fmt: skip
    assert result.total == 6
    by_quarter = ReportDefinition(measure="deals:amount", group_by="quarter", period="custom",
                                  period_from=MARCH, period_to=APRIL)  # fmt: skip
    assert rows(run(by_quarter, viewer=fresh(org.ops))) == [
        ("FY2026 Q1", D("11100.00")), ("FY2026 Q2", D("500.00")),
    ]  # fmt: skip


def test_deals_by_stage_team_and_segment(book, pipeline):
    org = book
    ops = fresh(org.ops)
    assert rows(run(march("deals:count", "stage"), viewer=ops)) == [
        ("New Business › Discovery", 1), ("New Business › Proposal", 1),
        ("New Business › Closed Won", 2), ("New Business › Closed Lost", 1),
    ]  # fmt: skip
    # The company breaks down into its regions (EMEA closed nothing in March).
    assert rows(run(march("deals:count", "team"), viewer=ops)) == [("Americas", 5)]
    # Filtered on a team: the teams below it.
    assert rows(run(march("deals:count", "team", team_id=org.americas.pk), viewer=ops)) == [
        ("East", 4), ("West", 1),
    ]  # fmt: skip
    # A team with none below it is one row, itself.
    assert rows(run(march("deals:count", "team"), viewer=fresh(org.manager_east))) == [("East", 4)]
    # Every book account has 250 employees: mid-market.
    everything = ReportDefinition(measure="deals:open_pipeline", group_by="segment", period="all")
    assert rows(run(everything, viewer=ops)) == [("Mid-market", D("5100.00"))]
    filtered = march("deals:amount", "rep", pipeline_id=pipeline.pk, segment="smb")
    assert rows(run(filtered, viewer=ops)) == []


def test_activities_by_kind(book):
    org = book
    manager = fresh(org.manager_east)
    assert rows(run(march("activities:all", "rep"), viewer=manager)) == [(name(org.rep_east), 3)]
    assert rows(run(march("activities:meeting", "rep"), viewer=manager)) == [
        (name(org.rep_east), 2)
    ]
    assert rows(run(march("activities:call", "segment"), viewer=manager)) == [("Mid-market", 1)]
    by_month = ReportDefinition(measure="activities:meeting", group_by="month", period="custom",
                                period_from=MARCH, period_to=APRIL)  # fmt: skip
    assert rows(run(by_month, viewer=manager)) == [("FY2026 M3", 2), ("FY2026 M4", 0)]


def test_relative_periods_follow_the_day_the_report_runs(book):
    org = book
    last_month = ReportDefinition(measure="deals:won_amount", group_by="rep", period="last_month")
    result = run(last_month, viewer=fresh(org.ops), today=dt.date(2026, 5, 10))
    assert result.period_label == "FY2026 M4"
    assert rows(result) == [(name(org.rep_london), D("500.00"))]
    result = run(last_month, viewer=fresh(org.ops), today=dt.date(2026, 4, 1))
    assert result.period_label == "FY2026 M3"
    assert rows(result) == [
        (name(org.rep_east_2), D("3000.00")),
        (name(org.rep_east), D("1000.00")),
    ]


# --- KPI measures -----------------------------------------------------------------------------


def test_kpis_by_rep_team_and_month_from_the_snapshots(book):
    org = book
    kpi_recompute_full()
    result = run(march("kpi:bookings", "rep"), viewer=fresh(org.manager_east))
    assert rows(result) == [
        (name(org.rep_east_2), D("3000.00")),
        (name(org.rep_east), D("1000.00")),
    ]
    assert result.live is False and result.computed_at is not None
    assert rows(run(march("kpi:bookings", "team"), viewer=fresh(org.ops))) == [
        ("Americas", D("4000.00"))
    ]
    # Win rate of the company: 2 won of 3 closed in March; no closed deal in Jan/Feb: blank.
    quarter = ReportDefinition(measure="kpi:win_rate", group_by="month", period="custom",
                               period_from="2026-Q01")  # fmt: skip
    result = run(quarter, viewer=fresh(org.ops))
    assert rows(result) == [("FY2026 M1", None), ("FY2026 M2", None), ("FY2026 M3", D("66.67"))]
    assert result.value_label == "Win rate (%)" and result.total is None


def test_kpi_filters_and_stage_grouping_compute_live(book, pipeline):
    org = book
    result = run(march("kpi:bookings", "segment"), viewer=fresh(org.ops))
    assert result.live is True
    assert rows(result) == [("Mid-market", D("4000.00"))]
    # Stage history is written as the tests run: rep_east's three deals entered Prospecting this
    # month, one moved on to Discovery, one to Proposal and one was won.
    this_month = ReportDefinition(measure="kpi:stage_entries", group_by="stage",
                                  period="this_month", pipeline_id=pipeline.pk)  # fmt: skip
    entries = run(this_month, viewer=fresh(org.rep_east))
    assert rows(entries) == [
        ("New Business › Prospecting", 3), ("New Business › Discovery", 1),
        ("New Business › Proposal", 1), ("New Business › Closed Won", 1),
    ]  # fmt: skip
    assert entries.total == 6


# --- Whose rows -------------------------------------------------------------------------------


def test_a_shared_report_shows_each_viewer_only_their_own_scope(book):
    org = book
    report = saved(org.manager_east, name="East pipeline", shared=True)
    assert rows(run(report, viewer=fresh(org.manager_east))) == [
        (name(org.rep_east), D("6100.00")), (name(org.rep_east_2), D("3000.00")),
    ]  # fmt: skip
    assert rows(run(report, viewer=fresh(org.rep_east))) == [(name(org.rep_east), D("6100.00"))]
    assert rows(run(report, viewer=fresh(org.rep_west))) == [(name(org.rep_west), D("2000.00"))]
    assert rows(run(report, viewer=fresh(org.rep_london))) == []
    kpi_recompute_full()
    kpis = saved(org.manager_east, name="East bookings", measure="kpi:bookings", shared=True)
    assert rows(run(kpis, viewer=fresh(org.rep_east))) == [(name(org.rep_east), D("1000.00"))]
    assert rows(run(kpis, viewer=fresh(org.rep_london))) == []  # no bookings in March


def test_a_team_filter_never_widens_what_a_viewer_sees(book):
    org = book
    kpi_recompute_full()
    for measure in ("deals:amount", "kpi:bookings"):
        report = saved(org.ops, name=measure, measure=measure, team=org.east, shared=True)
        assert rows(run(report, viewer=fresh(org.manager_london))) == [], measure
        assert rows(run(report, viewer=fresh(org.manager_west))) == [], measure
        mine = rows(run(report, viewer=fresh(org.rep_east_2)))
        assert mine == [(name(org.rep_east_2), D("3000.00"))], measure


def test_rep_opens_a_shared_report_but_not_a_private_one(client, book):
    org = book
    shared = saved(org.manager_east, name="East pipeline", shared=True)
    private = saved(org.manager_east, name="Private pipeline")
    client.force_login(org.rep_east)
    response = client.get(f"/reports/saved/{shared.pk}/")
    assert response.status_code == 200
    assert rows(response.context["result"]) == [(name(org.rep_east), D("6100.00"))]
    assert name(org.rep_east_2) not in response.content.decode()
    assert client.get(f"/reports/saved/{private.pk}/").status_code == 404
    assert client.get(f"/reports/saved/{private.pk}/export.csv").status_code == 404
    # Open and copy, but not change or delete someone else's report.
    assert client.get(f"/reports/saved/{shared.pk}/edit/").status_code == 403
    assert client.post(f"/reports/saved/{shared.pk}/delete/").status_code == 403
    assert client.get(f"/reports/saved/{shared.pk}/schedules/new/").status_code == 403
    response = client.post(f"/reports/saved/{shared.pk}/copy/")
    copy = SavedReport.objects.get(owner=org.rep_east)
    assert response.status_code == 302 and response["Location"] == f"/reports/saved/{copy.pk}/edit/"
    assert (copy.name, copy.shared, copy.measure, copy.period_from) == (
        "East pipeline (copy)", False, "deals:amount", MARCH,
    )  # fmt: skip
    page = client.get("/reports/saved/")
    assert [r.name for r in page.context["mine"]] == ["East pipeline (copy)"]
    assert [r.name for r in page.context["shared"]] == ["East pipeline"]
    assert 'href="/reports/saved/"' in page.content.decode()  # the nav's "Reports"


# --- Bad input --------------------------------------------------------------------------------

BAD = [
    ({"measure": "kpi:nope"}, "measure",
     "'kpi:nope' is not a measure: pick a KPI (kpi:bookings), a deal measure (deals:count) or an "
     "activity measure (activities:meeting)."),
    ({"period_from": "Q3"}, "period_from",
     "'Q3' is not a fiscal period; use 2027, 2027-Q1 or 2027-M03."),
    ({"period_from": ""}, "period_from",
     "Pick the first fiscal period of the range (2026-M03, 2026-Q01 or 2026)."),
    ({"period_from": APRIL, "period_to": MARCH}, "period_to",
     "The range ends (FY2026 M3) before it starts (FY2026 M4)."),
    ({"measure": "kpi:bookings", "period": "all"}, "period",
     "Bookings is a figure per fiscal period: pick a period or a range of periods."),
    ({"measure": "kpi:bookings", "period_to": APRIL}, "period_to",
     "Bookings by rep is a figure of one fiscal period: FY2026 M3 – FY2026 M4 is not one month, "
     "quarter or year. Pick one, or group by month, quarter or year."),
    ({"measure": "kpi:bookings", "group_by": "quarter"}, "group_by",
     "KPIs are figures of whole fiscal periods: FY2026 M3 is not made of whole quarters. Group by "
     "a shorter period or change the range."),
    ({"measure": "kpi:bookings", "group_by": "stage"}, "group_by",
     "Only stage KPIs (stage entries, stage conversion, time in stage) can be grouped by stage."),
    ({"measure": "kpi:stage_entries"}, "group_by",
     "Stage entries is a figure per stage: group it by stage."),
    ({"measure": "kpi:lead_response_hours", "deal_type": "new"}, "deal_type",
     "Lead response time does not depend on the deal type: leave the deal type empty."),
    ({"measure": "activities:meeting", "group_by": "stage"}, "group_by",
     "Activities have no stage: group them by rep, team, period or segment."),
    ({"measure": "activities:meeting", "deal_type": "renewal"}, "deal_type",
     "Activities have no deal type: leave it empty for an activity measure."),
    ({"name": "  "}, "name", "A report needs a name."),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "field", "message"), BAD)
def test_bad_definitions_are_refused_naming_the_field(org, fields, field, message):
    with pytest.raises(ReportInvalid) as refused:
        saved(org.manager_east, **fields)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert not SavedReport.objects.exists()


def test_names_are_unique_per_owner(org):
    saved(org.manager_east, name="Pipeline")
    with pytest.raises(ReportInvalid) as refused:
        saved(org.manager_east, name="pipeline")
    assert refused.value.problems == [
        ("name", "You already have a report named 'pipeline': pick another name.")
    ]
    saved(org.manager_west, name="Pipeline")  # another person's is fine
    assert SavedReport.objects.count() == 2


def test_the_builder_page_shows_each_problem_on_its_field_and_saves_nothing(client, org):
    client.force_login(org.manager_east)
    form = {"name": "Bookings", "measure": "kpi:bookings", "group_by": "stage",
            "period": "custom", "period_from": "Q3", "segment": "", "deal_type": ""}  # fmt: skip
    response = client.post("/reports/saved/new/", form)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors == {
        "period_from": ["'Q3' is not a fiscal period; use 2027, 2027-Q1 or 2027-M03."]
    }
    response = client.post("/reports/saved/new/", {**form, "period_from": MARCH})
    assert response.context["form"].errors == {
        "group_by": [
            "Only stage KPIs (stage entries, stage conversion, time in stage) can be grouped by "
            "stage."
        ]
    }
    assert "can be grouped by" in response.content.decode()
    assert not SavedReport.objects.exists()


def test_the_builder_previews_then_saves_and_edits(client, book):
    org = book
    client.force_login(org.manager_east)
    form = {"name": "East amounts", "measure": "deals:amount", "group_by": "rep",
            "period": "custom", "period_from": MARCH, "segment": "", "deal_type": ""}  # fmt: skip
    response = client.post("/reports/saved/new/", {**form, "preview": "1"})
    assert rows(response.context["preview"]) == [
        (name(org.rep_east), D("6100.00")), (name(org.rep_east_2), D("3000.00")),
    ]  # fmt: skip
    assert not SavedReport.objects.exists()
    response = client.post("/reports/saved/new/", {**form, "shared": "on"})
    report = SavedReport.objects.get()
    assert response["Location"] == f"/reports/saved/{report.pk}/"
    assert (report.owner, report.shared, report.group_by) == (org.manager_east, True, "rep")
    client.post(f"/reports/saved/{report.pk}/edit/", {**form, "group_by": "team"})
    report.refresh_from_db()
    assert report.group_by == "team" and report.shared is False
    page = client.get(f"/reports/saved/{report.pk}/")
    assert rows(page.context["result"]) == [("East", D("9100.00"))]


# --- Downloads --------------------------------------------------------------------------------


def test_downloads_are_formula_safe_and_keep_the_cents(client, book, accounts, pipeline):
    org = book
    evil = '=HYPERLINK("http://evil.example","click")'
    type(org.rep_west).objects.filter(pk=org.rep_west.pk).update(first_name=evil, last_name="West")
    closed(org, accounts, pipeline, org.rep_west, won=True, amount="10.05", created="2026-03-01",
           closes="2026-03-02")  # fmt: skip
    report = saved(org.ops, name="=Amounts by rep")
    client.force_login(org.ops)
    response = client.get(f"/reports/saved/{report.pk}/export.csv")
    assert response["Content-Disposition"] == 'attachment; filename="amounts-by-rep.csv"'
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert lines == [
        ["Rep", "Deal amount (USD)"],
        [name(fresh(org.rep_east)), "6100.00"],
        [name(fresh(org.rep_east_2)), "3000.00"],
        [f"'{evil} West", "2010.05"],
    ]
    response = client.get(f"/reports/saved/{report.pk}/export.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[3] == [f"'{evil} West", 2010.05]
    assert sheet.cell(row=4, column=1).data_type == "s"  # text, never a formula
    assert client.get(f"/reports/saved/{report.pk}/export.pdf").status_code == 404


# --- API --------------------------------------------------------------------------------------


def test_api_crud_of_own_reports_and_run(client, book):
    org = book
    client.force_login(org.manager_east)
    body = {"name": "East amounts", "measure": "deals:amount", "group_by": "rep",
            "period": "custom", "period_from": MARCH, "shared": True}  # fmt: skip
    response = client.post("/api/v1/saved-reports/", body, content_type="application/json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["owner"], created["mine"], created["team"]) == (org.manager_east.pk, True, None)
    run_ = client.get(f"/api/v1/saved-reports/{created['id']}/run/").json()
    assert run_["columns"] == ["Rep", "Deal amount (USD)"]
    assert [(r["label"], r["value"]) for r in run_["rows"]] == [
        (name(org.rep_east), "6100.00"), (name(org.rep_east_2), "3000.00"),
    ]  # fmt: skip
    assert (run_["total"], run_["period_start"], run_["period_end"]) == (
        "9100.00", "2026-03-01", "2026-03-31",
    )  # fmt: skip
    response = client.patch(f"/api/v1/saved-reports/{created['id']}/", {"group_by": "month"},
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 200 and response.json()["group_by"] == "month"
    assert client.delete(f"/api/v1/saved-reports/{created['id']}/").status_code == 204
    assert not SavedReport.objects.exists()


def test_api_reads_and_copies_shared_reports_with_the_callers_rows(client, book):
    org = book
    shared = saved(org.manager_east, name="East amounts", shared=True)
    private = saved(org.manager_east, name="Private")
    client.force_login(org.rep_east)
    listed = client.get("/api/v1/saved-reports/").json()["results"]
    assert [(r["name"], r["mine"]) for r in listed] == [("East amounts", False)]
    body = client.get(f"/api/v1/saved-reports/{shared.pk}/run/").json()
    assert [(r["key"], r["value"]) for r in body["rows"]] == [(f"rep:{org.rep_east.pk}", "6100.00")]
    assert body["scope"] == f"rep:{org.rep_east.pk}"
    assert client.get(f"/api/v1/saved-reports/{private.pk}/run/").status_code == 404
    response = client.patch(f"/api/v1/saved-reports/{shared.pk}/", {"name": "Mine now"},
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Only its owner may change this report: copy it to make your own."
    )
    assert client.delete(f"/api/v1/saved-reports/{shared.pk}/").status_code == 403
    response = client.post(f"/api/v1/saved-reports/{shared.pk}/copy/", {"name": "My amounts"},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 201
    assert (response.json()["name"], response.json()["shared"]) == ("My amounts", False)
    assert SavedReport.objects.get(name="East amounts").name == "East amounts"  # untouched


def test_api_refuses_bad_reports_naming_the_field(client, org):
    client.force_login(org.manager_east)
    body = {"name": "Bad", "measure": "activities:call", "group_by": "stage", "period": "custom",
            "period_from": MARCH}  # fmt: skip
    response = client.post("/api/v1/saved-reports/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "group_by": ["Activities have no stage: group them by rep, team, period or segment."]
    }
    response = client.post("/api/v1/saved-reports/", {**body, "measure": "galaxy"},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 400 and "measure" in response.json()
    saved(org.manager_east, name="Taken")
    response = client.post("/api/v1/saved-reports/", {**body, "name": "Taken", "group_by": "rep"},
                           content_type="application/json")  # fmt: skip
    assert response.json() == {
        "name": ["You already have a report named 'Taken': pick another name."]
    }
    assert SavedReport.objects.count() == 1
    client.logout()
    assert client.get("/api/v1/saved-reports/").status_code == 401


def test_measure_catalogue_covers_every_kpi():
    from reporting.kpis import REGISTRY

    assert {k for k in reports.MEASURES if k.startswith("kpi:")} == {f"kpi:{k}" for k in REGISTRY}
    assert {"deals:count", "deals:amount", "deals:open_pipeline", "activities:meeting"} <= set(
        reports.MEASURES
    )


def test_pages_need_a_sign_in_and_the_list_a_fixed_number_of_queries(
    client, org, django_assert_num_queries
):
    assert client.get("/reports/saved/")["Location"].startswith("/accounts/login/")
    for n in range(3):
        saved(org.manager_east, name=f"Shared {n}", shared=True)
        saved(org.rep_east, name=f"Mine {n}")
    client.force_login(org.rep_east)
    client.get("/reports/saved/")
    # session, user, roles, the two lists, navigation: however many reports there are
    with django_assert_num_queries(7):
        response = client.get("/reports/saved/")
    assert len(response.context["mine"]) == len(response.context["shared"]) == 3

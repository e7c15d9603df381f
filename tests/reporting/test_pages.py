"""Dashboard pages: who sees which scope, the figures shown, drill-down links, and the reference."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

from crm.models import Account
from crm.services import deal_create
from reporting.dashboards import format_figure
from reporting.kpis import KPIS, Unit
from reporting.services import kpi_recompute_full
from tests.conftest import fresh
from tests.reporting.scenario import MARCH


def tiles(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-kpi="(\w+)".*?class="stat"[^>]*>([^<]+)<', page, re.S))


def test_manager_sees_the_team_dashboard_with_figures_and_their_age(client, book):
    org = book
    run = kpi_recompute_full()
    client.force_login(org.manager_east)
    response = client.get("/reports/", {"period": MARCH})
    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["scope"].key == f"team:{org.east.pk}"
    assert tiles(page)["bookings"] == "USD 4,000"
    assert tiles(page)["win_rate"] == "100 %"
    assert f"Figures as of {run.finished_at:%-d %b %Y, %H:%M}" in page
    # By rep: both East reps, nobody from another team.
    member_chart = response.context["charts"]["bookings_by_member"]["data"][0]
    assert sorted(member_chart["y"]) == sorted(
        [org.rep_east.get_full_name(), org.rep_east_2.get_full_name()]
    )


def test_drill_down_links_keep_scope_period_and_filters(client, book, pipeline):
    org = book
    kpi_recompute_full()
    client.force_login(org.manager_east)
    response = client.get("/reports/", {"period": MARCH, "pipeline": pipeline.pk})
    bookings = next(t for t in response.context["tiles"] if t["key"] == "bookings")
    query = parse_qs(urlparse(bookings["url"]).query)
    assert query == {
        "team": [str(org.east.pk)], "pipeline": [str(pipeline.pk)], "status": ["won"],
        "close_date_after": ["2026-03-01"], "close_date_before": ["2026-03-31"],
    }  # fmt: skip
    deals = client.get(bookings["url"]).context["page"]
    assert sorted(d.amount for d in deals) == [1000, 3000]  # the 4,000 of the tile
    assert response.context["live"] is True  # a filter is computed live


def test_rep_sees_only_their_own_figures(client, book):
    org = book
    kpi_recompute_full()
    client.force_login(org.rep_east)
    response = client.get("/reports/", {"period": MARCH})
    assert response.context["scope"].key == f"rep:{org.rep_east.pk}"
    assert tiles(response.content.decode())["bookings"] == "USD 1,000"
    assert response.context["charts"]["bookings_by_member"] is None
    for scope in (f"team:{org.east.pk}", f"rep:{org.rep_east_2.pk}", "company:0"):
        assert client.get("/reports/", {"scope": scope}).status_code == 403
    client.force_login(org.manager_east)
    assert client.get("/reports/", {"scope": f"team:{org.london.pk}"}).status_code == 403


def test_executive_dashboard_breaks_the_company_down_by_region(client, book):
    org = book
    kpi_recompute_full()
    client.force_login(org.ops)
    response = client.get("/reports/", {"period": "2026"})
    assert response.context["scope"].key == "company:0"
    chart = response.context["charts"]["bookings_by_member"]["data"][0]
    assert dict(zip(chart["y"], chart["x"], strict=True)) == {"Americas": 4000, "EMEA": 500}


def test_data_quality_dashboard_counts_issues_by_region(client, book):
    org = book
    client.force_login(org.ops)
    response = client.get("/reports/quality/")
    sections = {s["check"].key: s for s in response.context["sections"]}
    # The two open deals of rep_east closed in March 2026: past their close date.
    assert sections["past_close_date"]["total"] == 2
    chart = sections["past_close_date"]["chart"]["data"][0]
    assert dict(zip(chart["x"], chart["y"], strict=True)) == {"Americas": 2, "EMEA": 0}
    url = chart["customdata"][0]
    assert [d.name for d in client.get(url).context["page"]] == [
        "rep_east open 2026-03-05", "rep_east open 2026-03-31",
    ]  # fmt: skip
    client.force_login(org.manager_east)
    assert client.get("/reports/quality/").status_code == 403


def test_data_quality_counts_a_managers_own_deals_in_their_region(client, book):
    org = book
    london = Account.objects.create(name="Manager's own", owner=org.manager_london)
    deal_create(acting_user=fresh(org.manager_london), account=london, name="Own deal",
                amount=Decimal(100), close_date=dt.date(2026, 1, 10))  # fmt: skip
    client.force_login(org.ops)
    sections = {s["check"].key: s for s in client.get("/reports/quality/").context["sections"]}
    chart = sections["past_close_date"]["chart"]["data"][0]
    assert dict(zip(chart["x"], chart["y"], strict=True)) == {"Americas": 2, "EMEA": 1}


def test_figures_read_in_their_unit():
    assert format_figure(Decimal("2.345"), Unit.RATIO, "USD") == "2.3×"
    assert format_figure(Decimal("12345.6"), Unit.RATIO, "USD") == "12,345.6×"
    assert format_figure(None, Unit.RATIO, "USD") == "–"
    assert format_figure(Decimal("0.8333"), Unit.PERCENT, "USD") == "83 %"


def test_kpi_reference_lists_every_definition(client, org):
    client.force_login(org.rep_east)
    page = client.get("/reports/kpis/").content.decode()
    for kpi in KPIS:
        assert f'id="{kpi.key}"' in page and kpi.definition.replace("'", "&#x27;") in page


def test_dashboard_exports_are_formula_safe(client, book):
    import io

    from openpyxl import load_workbook

    from crm.models import Deal

    org = book
    Deal.objects.filter(name="rep_east open 2026-03-31").update(name="=HYPERLINK(1)")
    kpi_recompute_full()
    client.force_login(org.manager_east)
    csv_text = b"".join(
        client.get("/reports/export/csv/", {"period": MARCH}).streaming_content
    ).decode("utf-8-sig")
    assert "Key figures,East,FY2026 M3,Bookings,4000.00\r\n" in csv_text
    assert "Key figures,East,FY2026 M3,Win rate,1.0000\r\n" in csv_text
    assert "Top open deals,'=HYPERLINK(1),FY2026 M3,Amount (USD),4000.00" in csv_text
    response = client.get("/reports/export/xlsx/", {"period": MARCH})
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Section", "Item", "Period", "Measure", "Value")
    assert ("Top open deals", "'=HYPERLINK(1)", "FY2026 M3", "Amount (USD)", 4000) in rows
    assert client.get("/reports/export/pdf/").status_code == 404


def test_manager_dashboard_sets_bookings_against_quota_and_attainment_by_rep(client, book):
    org = book
    kpi_recompute_full()
    client.force_login(org.manager_east)
    response = client.get("/reports/", {"period": MARCH})
    shown = {t["key"]: t["display"] for t in response.context["tiles"]}
    # East in March: 4,000 booked against 800 + 4,000 of quota; one of its two reps got there.
    assert shown["quota_attainment"] == "83 %"
    assert shown["quota_achievement_rate"] == "50 %"
    bars, quota = response.context["charts"]["bookings_by_month"]["data"]
    march = bars["x"].index(next(label for label in bars["x"] if label.endswith("M3")))
    assert (bars["y"][march], quota["y"][march]) == (4000, 4800)
    attainment = response.context["charts"]["attainment_by_member"]["data"][0]
    bookings = response.context["charts"]["bookings_by_member"]["data"][0]
    booked = dict(zip(bookings["y"], bookings["x"], strict=True))
    quotas = {org.rep_east.get_full_name(): 800, org.rep_east_2.get_full_name(): 4000}
    assert dict(zip(attainment["y"], attainment["x"], strict=True)) == {
        name: booked[name] / quota * 100 for name, quota in quotas.items()
    }
    assert attainment["customdata"][0].startswith("/crm/deals/")

"""The quotas CSV: the export (scoped, in a stable order, every holder kind), the import (all or
nothing, every row checked with its row number, field and reason, applied as ``quota_set``
applies an edit, source "import", reason "CSV import", refused on a published plan), the round
trip, and both from the grid page and the API.

Figures (``quota_setup``): a 120,000.00 FY2027 target on the equal basis gives each of the four
reps 2,500.00 a month. A small live territory plan (World › East, West) shares the target too.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook
from rest_framework.test import APIClient

from salesops.errors import DomainError, NotAllowed
from territories import quota_selectors as selectors
from territories import services
from territories.models import Quota, QuotaSource
from territories.quota_csv import QUOTA_COLUMNS, quota_plan_import, quotas_csv
from tests import factories
from tests.conftest import fresh
from tests.territories.quota_setup import FY, LOCKED, D, amount, make_plan, publish, quota

HEADER = ",".join(QUOTA_COLUMNS)


@pytest.fixture
def plan(org):
    """The FY2027 plan, allocated after a live territory plan World › East, West exists."""
    ops = org.ops
    live = services.plan_create_live(name="Live", acting_user=ops)
    world = services.territory_save(plan=live, acting_user=ops, key="world", name="World")
    for key in ("east", "west"):
        services.territory_save(plan=live, acting_user=ops, key=key, name=key.title(), parent=world)
    return make_plan(org)


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def run(org, plan, text, **kwargs):
    return quota_plan_import(plan=plan, content=text, acting_user=fresh(org.ops), **kwargs)


def snapshot(plan):
    return sorted(
        Quota.objects.filter(plan=plan).values_list(
            "pk", "amount", "full_amount", "source", "updated_at"
        )
    )


# --- Export ----------------------------------------------------------------------------------


def test_export_lists_each_holders_year_quarters_and_months(org, plan):
    text = quotas_csv(plan, fresh(org.ops))
    assert text.startswith("\ufeff" + HEADER + "\r\n")
    rows = rows_of(text)[1:]
    assert len(rows) == (4 + 5 + 3) * 17  # reps, teams, territories
    assert rows[:6] == [
        ["2027", "rep", "rep_east", "30000.00", "30000.00"],
        ["2027-Q01", "rep", "rep_east", "7500.00", "7500.00"],
        ["2027-M01", "rep", "rep_east", "2500.00", "2500.00"],
        ["2027-M02", "rep", "rep_east", "2500.00", "2500.00"],
        ["2027-M03", "rep", "rep_east", "2500.00", "2500.00"],
        ["2027-Q02", "rep", "rep_east", "7500.00", "7500.00"],
    ]
    holders = list(dict.fromkeys((row[1], row[2]) for row in rows))
    assert holders == [
        ("rep", "rep_east"), ("rep", "rep_east_2"), ("rep", "rep_london"), ("rep", "rep_west"),
        ("team", "Americas"), ("team", "East"), ("team", "EMEA"), ("team", "London"),
        ("team", "West"),
        ("territory", "east"), ("territory", "west"), ("territory", "world"),
    ]  # fmt: skip
    assert ["2027", "territory", "world", "120000.00", "120000.00"] in rows


def test_export_is_scoped_and_names_teams_by_path_when_names_repeat(org, plan):
    rows = rows_of(quotas_csv(plan, fresh(org.manager_east)))[1:]
    assert {(row[1], row[2]) for row in rows} == {
        ("team", "East"), ("rep", "rep_east"), ("rep", "rep_east_2"),
    }  # fmt: skip
    rows = rows_of(quotas_csv(plan, fresh(org.rep_east)))[1:]
    assert {(row[1], row[2]) for row in rows} == {("team", "East"), ("rep", "rep_east")}
    factories.team("East", parent=org.emea)  # a second "East"
    rows = rows_of(quotas_csv(plan, fresh(org.ops)))[1:]
    assert {row[2] for row in rows if row[1] == "team"} == {
        "Americas", "Americas / East", "EMEA", "London", "West",
    }  # fmt: skip


# --- Import ----------------------------------------------------------------------------------


def test_an_unchanged_export_imports_as_a_no_op(org, plan):
    before = snapshot(plan)
    result = run(org, plan, quotas_csv(plan, fresh(org.ops)))
    assert result.ok and result.committed
    assert (result.rows, result.changed, result.written) == (204, 0, 0)
    assert snapshot(plan) == before


def test_changes_are_applied_as_quota_set_applies_an_edit(org, plan):
    text = csv_text(
        "2027-M03,rep,rep_east,3000.00,2500.00",  # a month: its quarter and year follow
        "2027-Q02,team,London,10000.00,",  # a quarter: spread over its months
        f"2027-M01,rep,{org.rep_west.rep_profile.employee_id},2600.00,",  # by employee id
        # Months and their sums changed together, consistently.
        "2027-M04,rep,rep_east_2,3000.00,",
        "2027-Q02,rep,rep_east_2,8000.00,",
        "2027,rep,rep_east_2,30500.00,",
        "2027,territory,east,70000.00,70000.00",
    )
    result = run(org, plan, text)
    assert result.ok, result.lines()
    assert (result.rows, result.changed) == (7, 7)
    assert [amount(plan, k, user=org.rep_east) for k in ("2027-M03", "2027-Q01", "2027")] == [
        D("3000.00"),
        D("8000.00"),
        D("30500.00"),
    ]
    assert quota(plan, "2027-M03", user=org.rep_east).full_amount == D("2500.00")
    london = {q.period_key: q for q in Quota.objects.filter(plan=plan, team=org.london)}
    assert [london[f"2027-M{m:02d}"].amount for m in (4, 5, 6)] == [
        D("3333.34"),
        D("3333.33"),
        D("3333.33"),
    ]
    assert london["2027"].amount == london["2027"].full_amount == D("32500.00")
    assert amount(plan, "2027-Q01", user=org.rep_west) == D("7600.00")
    east_2 = {q.period_key: q.amount for q in Quota.objects.filter(plan=plan, user=org.rep_east_2)}
    assert (east_2["2027-M04"], east_2["2027-M05"], east_2["2027-Q02"], east_2["2027"]) == (
        D("3000.00"),
        D("2500.00"),
        D("8000.00"),
        D("30500.00"),
    )
    assert amount(plan, "2027-Q01", territory__key="east") == D("17500.00")
    assert set(Quota.objects.filter(plan=plan).exclude(source=QuotaSource.TOP_DOWN).values_list(
        "source", flat=True
    )) == {QuotaSource.IMPORT}  # fmt: skip
    last = selectors.quota_changes(quota(plan, "2027-M03", user=org.rep_east))[-1]
    assert (last.user, last.reason, last.amount_after) == (org.ops, "CSV import", D("3000.00"))


def test_row_errors_name_the_row_field_and_reason_and_nothing_is_written(org, plan):
    before = snapshot(plan)
    text = csv_text(
        "2027-M01,rep,jdoe,100,",  # row 2
        "2027-X1,rep,rep_east,100,",  # 3
        "2026-M01,rep,rep_east,100,",  # 4
        "2027-M01,person,rep_east,100,",  # 5
        "2027-M01,rep,rep_east,abc,",  # 6
        "2027-M02,rep,rep_east,-5,",  # 7
        "2027-M03,rep,rep_east,1.005,",  # 8
        "2027-M04,rep,rep_east,100,",  # 9: fine on its own
        "2027-M04,rep,rep_east,200,",  # 10
        "2027-M05,rep,,100,",  # 11
        "2027-M05,rep,rep_east,100,9999",  # 12
        "2027,team,Narnia,100,",  # 13
        "2027,territory,mars,100,",  # 14
    )
    result = run(org, plan, text)
    assert not result.ok and not result.committed
    assert result.lines() == [
        "Row 2, holder: no rep 'jdoe'.",
        "Row 3, period_key: '2027-X1' is not a fiscal period; use 2027, 2027-Q1 or 2027-M03.",
        "Row 4, period_key: FY2026 M1 is not in FY2027.",
        "Row 5, holder_type: 'person' is not rep, team or territory.",
        "Row 6, amount: not a number: 'abc'.",
        "Row 7, amount: cannot be negative: -5.",
        "Row 8, amount: is in whole USD cents; 1.005 has more decimals.",
        "Row 10, period_key: rep 'rep_east' 2027-M04 is also on row 9.",
        "Row 11, holder: is required but empty.",
        "Row 12, full_amount: the quota before ramp comes from allocation and is not "
        "imported; leave it as exported (2500.00) or empty.",
        "Row 13, holder: no team 'Narnia'.",
        "Row 14, holder: no territory 'mars' with FY2027 quotas.",
    ]
    assert snapshot(plan) == before


def test_rows_that_contradict_each_other_are_refused(org, plan):
    before = snapshot(plan)
    text = csv_text(
        "2027-M03,rep,rep_east,3000.00,",  # row 2
        "2027-Q01,rep,rep_east,9000.00,",  # 3: respreads the quarter, M03 included
    )
    result = run(org, plan, text)
    assert result.lines() == [
        "Row 2, amount: rep 'rep_east' 2027-M03 would end at 3375.00, not 3000.00, because "
        "row 3 changes 2027-Q01 too; give a period and the periods it adds up to amounts that "
        "match, or change only one of them."
    ]
    assert snapshot(plan) == before


def test_teams_sharing_a_name_are_told_apart_by_their_path(org, plan):
    factories.team("East", parent=org.emea)
    result = run(org, plan, csv_text("2027,team,East,1.00,"))
    assert result.lines() == [
        "Row 2, holder: several teams are named 'East'; write its path: 'Americas / East' or "
        "'EMEA / East'."
    ]
    result = run(org, plan, csv_text("2027,team,Americas / East,61000.00,"))
    assert result.ok and amount(plan, "2027", team=org.east) == D("61000.00")


def test_file_problems_the_published_lock_and_rights_refuse_the_whole_file(org, plan):
    with pytest.raises(DomainError) as error:
        run(org, plan, "period_key,who,amount\n2027,x,1\n")
    assert str(error.value) == (
        "The file is not a quotas export (unknown columns: who; missing columns: holder_type, "
        "holder). Its header must be: period_key,holder_type,holder,amount,full_amount "
        "(full_amount may be left out)."
    )
    with pytest.raises(DomainError) as error:
        run(org, plan, HEADER + "\n")
    assert str(error.value) == "The file has a header row but no records."
    with pytest.raises(NotAllowed) as error:
        quota_plan_import(
            plan=plan, content=csv_text("2027,rep,rep_east,1,"), acting_user=fresh(org.finance)
        )
    assert str(error.value) == "Only sales ops can import quotas."
    publish(org, plan)
    with pytest.raises(DomainError) as error:
        run(org, plan, csv_text("2027-M03,rep,rep_east,3000.00,"))
    assert str(error.value) == LOCKED
    assert amount(plan, "2027-M03", user=org.rep_east) == D("2500.00")


def test_a_dry_run_checks_and_writes_nothing_and_xlsx_imports_too(org, plan):
    before = snapshot(plan)
    result = run(org, plan, csv_text("2027-M03,rep,rep_east,3000.00,"), commit=False)
    assert result.ok and not result.committed and (result.changed, result.written) == (1, 3)
    assert snapshot(plan) == before
    book = Workbook()
    sheet = book.active
    sheet.append(list(QUOTA_COLUMNS[:4]))
    sheet.append(["2027-M03", "rep", "rep_east", 3000])
    content = io.BytesIO()
    book.save(content)
    result = quota_plan_import(
        plan=plan, content=content.getvalue(), file_name="quotas.xlsx", acting_user=fresh(org.ops)
    )
    assert result.ok, result.lines()
    assert amount(plan, "2027-M03", user=org.rep_east) == D("3000.00")


# --- From the grid page ----------------------------------------------------------------------


def upload(text: str, name: str = "quotas.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_the_grid_page_exports_and_imports(client, org, plan):
    client.force_login(org.ops)
    html = client.get(f"/quotas/{FY}/").content.decode()
    assert f"/quotas/{FY}/quotas.csv" in html and "Import quotas" in html
    response = client.get(f"/quotas/{FY}/quotas.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="quotas-FY2027.csv"'
    assert len(rows_of(response.content.decode())) == 1 + 204

    response = client.post(
        f"/quotas/{FY}/import/",
        {"file": upload(csv_text("2027-M01,rep,jdoe,1,", "2027-M03,rep,rep_east,3000,"))},
    )
    html = response.content.decode()
    assert "Nothing was imported: 1 error in 2 rows." in html
    assert "Row 2, holder: no rep &#x27;jdoe&#x27;." in html
    assert amount(plan, "2027-M03", user=org.rep_east) == D("2500.00")

    response = client.post(
        f"/quotas/{FY}/import/",
        {"file": upload(csv_text("2027-M03,rep,rep_east,3000,")), "dry_run": "on"},
    )
    assert "The file checks out: 1 of 1 rows would change a quota" in response.content.decode()
    assert amount(plan, "2027-M03", user=org.rep_east) == D("2500.00")

    response = client.post(
        f"/quotas/{FY}/import/", {"file": upload(csv_text("2027-M03,rep,rep_east,3000,"))},
        follow=True,
    )  # fmt: skip
    assert (
        "Imported quotas.csv: 1 of 1 rows changed a quota (3 quotas written, their quarters and "
        "years included)." in response.content.decode()
    )
    assert amount(plan, "2027-M03", user=org.rep_east) == D("3000.00")

    response = client.post(f"/quotas/{FY}/import/", {"file": upload("who\nx\n")}, follow=True)
    assert "The file is not a quotas export" in response.content.decode()
    client.force_login(org.finance)
    assert client.post(f"/quotas/{FY}/import/", {"file": upload(HEADER)}).status_code == 403
    client.force_login(org.manager_east)  # their subtree only
    rows = rows_of(client.get(f"/quotas/{FY}/quotas.csv").content.decode())
    assert len(rows) == 1 + 3 * 17


# --- From the API ----------------------------------------------------------------------------


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


def test_the_api_exports_and_imports(org, plan):
    api = as_user(org.ops)
    response = api.get(f"/api/v1/quota-plans/{plan.pk}/quotas.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert rows_of(response.content.decode())[1] == [
        "2027",
        "rep",
        "rep_east",
        "30000.00",
        "30000.00",
    ]

    url = f"/api/v1/quota-plans/{plan.pk}/quotas-import/"
    response = api.post(url, {"text": csv_text("2027-M01,rep,jdoe,1,")}, format="json")
    assert response.status_code == 400
    assert response.data["messages"] == ["Row 2, holder: no rep 'jdoe'."]
    assert response.data["errors"] == [{"row": 2, "field": "holder", "message": "no rep 'jdoe'"}]
    assert response.data["committed"] is False

    response = api.post(url, {"file": upload(csv_text("2027-M03,rep,rep_east,3000,"))})
    assert response.status_code == 200, response.data
    assert {k: response.data[k] for k in ("committed", "rows", "changed", "written")} == {
        "committed": True, "rows": 1, "changed": 1, "written": 3,
    }  # fmt: skip
    assert amount(plan, "2027", user=org.rep_east) == D("30500.00")

    response = api.post(url, {"text": "a,b\n1,2\n", "file": upload("x")})
    assert response.status_code == 400
    assert response.data == {
        "non_field_errors": ["Give the CSV as a file or as text (one of them)."]
    }
    assert as_user(org.finance).post(url, {"text": HEADER}, format="json").status_code == 403
    manager_csv = as_user(org.manager_east).get(f"/api/v1/quota-plans/{plan.pk}/quotas.csv")
    assert len(rows_of(manager_csv.content.decode())) == 1 + 3 * 17

    publish(org, plan)
    response = api.post(url, {"text": csv_text("2027-M03,rep,rep_east,1,")}, format="json")
    assert response.status_code == 400
    assert response.data == {"detail": LOCKED, "field": "plan"}

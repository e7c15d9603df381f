"""Commission expense amortisation (compensation.amortisation), worked out by hand.

rep_east is on a flat 10 % bookings plan. In FY2027 Q1 they win a 36-month deal of 60,000.00
(closed 10 Feb 2027) and a 12-month deal of 40,000.00, and ops add a 250.00 manual adjustment;
finance approves the Q1 run (period ends 31 Mar 2027). So:

- the Q1 commission line pays 10,000.00: 6,000.00 for the 36-month deal (capitalised) and
  4,000.00 for the 12-month deal (expensed), by their measures 60,000 / 40,000;
- the manual adjustment has no deal: 250.00 expensed;
- 6,000.00 over 36 months from February 2027: 166.666… → 166.66 × 36 = 5,999.76, the 24 cents
  left go to the first 24 months: Feb 2027 – Jan 2029 at 166.67, Feb 2029 – Jan 2030 at 166.66;
- February's 166.67 is caught up in March (the asset exists from the run's month): Q1 amortises
  333.34, then 500.01 a quarter for the rest of 2027.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from compensation import runs
from compensation.amortisation import amortisation_for, amortisation_schedule, parse_range
from crm.models import Deal
from salesops.errors import DomainError, NotAllowed
from tests.compensation.comp_setup import D, approve, assign, bookings, calculate, plan, won
from tests.conftest import fresh

FLAT = bookings(quota=None, tiers=[], rate="0.1")


@pytest.fixture
def q1_settled(org, pipeline):
    assign(plan(org, FLAT), org.rep_east)
    long = won(org, pipeline, org.rep_east, "60000", dt.date(2027, 2, 10))
    Deal.objects.filter(pk=long.pk).update(term_months=36)
    won(org, pipeline, org.rep_east, "40000", dt.date(2027, 3, 1))  # 12 months (the default)
    run = calculate(org, "2027-Q1")
    runs.adjustment_add(
        run=run, user=org.rep_east, amount=D("250.00"), reason="SPIF", acting_user=org.ops
    )
    return approve(org, calculate(org, "2027-Q1"))


def schedule(start: str, end: str):
    return amortisation_schedule(
        **dict(zip(("start", "end"), parse_range(start, end), strict=True))
    )


def figures(row) -> tuple:
    return (
        row.period.key, row.opening, row.incurred, row.expensed, row.capitalised,
        row.amortisation, row.closing,
    )  # fmt: skip


def test_a_36_month_deal_is_capitalised_and_amortised_by_quarter(q1_settled):
    result = schedule("2027-Q1", "2027-Q4")
    assert [figures(row) for row in result.rows] == [
        ("2027-Q01", D(0), D("10250.00"), D("4250.00"), D("6000.00"), D("333.34"), D("5666.66")),
        ("2027-Q02", D("5666.66"), D(0), D(0), D(0), D("500.01"), D("5166.65")),
        ("2027-Q03", D("5166.65"), D(0), D(0), D(0), D("500.01"), D("4666.64")),
        ("2027-Q04", D("4666.64"), D(0), D(0), D(0), D("500.01"), D("4166.63")),
    ]
    assert result.reconciles
    # Commission expense of the year: 4,250.00 expensed + 11 months × 166.67
    assert result.totals["expense"] == D("4250.00") + D("1833.37")


def test_by_month_the_close_month_is_caught_up_when_the_run_is_settled(q1_settled):
    result = schedule("2027-M01", "2027-M04")
    assert [(row.period.key, row.incurred, row.amortisation) for row in result.rows] == [
        ("2027-M01", D(0), D(0)),
        ("2027-M02", D(0), D(0)),  # the deal closed, but no settled run had paid it yet
        ("2027-M03", D("10250.00"), D("333.34")),
        ("2027-M04", D(0), D("166.67")),
    ]


def test_the_asset_is_fully_amortised_at_the_end_of_the_term(q1_settled):
    result = schedule("2027-M01", "2030-M02")
    assert result.totals["amortisation"] == D("6000.00") and result.closing == 0
    by_key = {row.period.key: row for row in result.rows}
    assert by_key["2029-M01"].amortisation == D("166.67")  # the 24th month
    assert by_key["2029-M02"].amortisation == D("166.66")  # the 25th
    assert by_key["2030-M01"].amortisation == D("166.66")  # the 36th and last
    assert by_key["2030-M02"].amortisation == 0
    assert result.reconciles


def test_the_opening_balance_carries_what_earlier_periods_left(q1_settled):
    [row] = schedule("2027-Q3", "2027-Q3").rows
    assert (row.opening, row.closing) == (D("5166.65"), D("4666.64"))


def test_runs_not_yet_approved_are_not_incurred(org, pipeline, q1_settled):
    long = won(org, pipeline, org.rep_east, "30000", dt.date(2027, 5, 1))
    Deal.objects.filter(pk=long.pk).update(term_months=24)
    calculate(org, "2027-Q2")  # calculated, not approved
    [row] = schedule("2027-Q2", "2027-Q2").rows
    assert (row.incurred, row.capitalised) == (0, 0)


def test_bad_ranges_are_refused_with_the_reason(db):
    with pytest.raises(DomainError, match="not a fiscal period"):
        parse_range("2027-Q5", "2027-Q4")
    with pytest.raises(DomainError, match="both be months or both be quarters"):
        parse_range("2027-Q1", "2027-M12")
    with pytest.raises(DomainError, match="2026 Q4 is before FY2027 Q1"):
        parse_range("2027-Q1", "2026-Q4")
    with pytest.raises(DomainError, match="not a whole year"):
        parse_range("2027", "2027")


def test_only_finance_ops_and_admins_read_it(org):
    assert amortisation_for(fresh(org.finance), start_key="2027-Q1", end_key="2027-Q1").rows
    for user in (org.rep_east, org.manager_east):
        with pytest.raises(NotAllowed):
            amortisation_for(fresh(user), start_key="2027-Q1", end_key="2027-Q1")


def test_page_and_csv_download(client, org, q1_settled):
    url = reverse("compensation:amortisation")
    client.force_login(org.finance)
    page = client.get(url, {"from": "2027-Q1", "to": "2027-Q2"}).content.decode()
    assert 'data-period="2027-Q01"' in page and "5,666.66" in page
    assert "Download XLSX" in page
    bad = client.get(url, {"from": "2027-Q1", "to": "nonsense"})
    assert bad.status_code == 200 and "not a fiscal period" in bad.content.decode()
    download = client.get(url, {"from": "2027-Q1", "to": "2027-Q2", "format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:5] == ["Period", "From", "To", "Opening balance", "Incurred"]
    assert rows[1][0] == "FY2027 Q1" and rows[1][4:9] == [
        "10250.00", "4250.00", "6000.00", "333.34", "5666.66",
    ]  # fmt: skip
    assert rows[-1][0] == "Total" and rows[-1][8] == "5166.65"
    xlsx = client.get(url, {"from": "2027-Q1", "to": "2027-Q2", "format": "xlsx"})
    assert xlsx["Content-Disposition"].endswith('.xlsx"')
    client.force_login(org.rep_east)
    assert client.get(url).status_code == 403


def test_amortisation_api(org, q1_settled):
    api = APIClient()
    api.force_authenticate(fresh(org.finance))
    answer = api.get(reverse("comp-amortisation"), {"from": "2027-Q1", "to": "2027-Q4"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["reconciles"] and body["closing"] == "4166.63"
    assert body["rows"][0] == {
        "period": "2027-Q01", "label": "FY2027 Q1", "start": "2027-01-01", "end": "2027-03-31",
        "opening": "0.00", "incurred": "10250.00", "expensed": "4250.00",
        "capitalised": "6000.00", "amortisation": "333.34", "closing": "5666.66",
        "expense": "4583.34",
    }  # fmt: skip
    bad = api.get(reverse("comp-amortisation"), {"from": "2027-Q1", "to": "2027-M03"})
    assert (bad.status_code, bad.json()["field"]) == (400, "to")
    api.force_authenticate(fresh(org.rep_east))
    assert (
        api.get(reverse("comp-amortisation"), {"from": "2027-Q1", "to": "2027-Q4"}).status_code
        == 403
    )

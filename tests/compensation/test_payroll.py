"""Payroll files of a commission run: one row per payee (employee id, name, period, amount,
currency, cost centre), as CSV (amounts as text with two decimals) and XLSX (numbers formatted
#,##0.00), whose total equals the run's total and the sum of its lines exactly. Only finance
and admins export, and only approved or paid runs: a draft is refused with the reason.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.db.models import Sum
from openpyxl import load_workbook

from compensation import payroll, runs
from compensation.models import CommissionRun, PayoutLine, RunStatus
from salesops.audit import audit_events_for
from salesops.errors import DomainError, NotAllowed
from tests.compensation.comp_setup import D
from tests.compensation.test_run_pages import calculated, messages_of, q1_people

HEADERS = ["Employee ID", "Name", "Period", "Amount", "Currency", "Cost centre"]


@pytest.fixture
def approved(org, pipeline) -> CommissionRun:
    """Q1 approved, with a payee whose only line is negative (-25.50, London: no cost centre)
    and one whose total comes from two lines (1,666.67 − 150.00)."""
    q1_people(org, pipeline)
    run = runs.run_create(period_key="2027-Q1", acting_user=org.ops)
    for person, amount in ((org.rep_london, "-25.50"), (org.rep_west, "-150.00")):
        runs.adjustment_add(
            run=run, user=person, amount=D(amount), reason="Refund", acting_user=org.ops
        )
    run = calculated(org, "2027-Q1")
    return runs.run_approve(run=run, acting_user=org.finance)


def lines_total(run: CommissionRun) -> Decimal:
    return PayoutLine.objects.filter(run=run).aggregate(total=Sum("amount"))["total"]


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_payroll_rows_one_per_payee_add_up_to_the_run_total(org, approved):
    rows = payroll.payroll_rows(run=approved, acting_user=org.finance)
    # 8,900.00 + 1,200.00 + (1,666.67 − 150.00) − 25.50 = 11,591.17
    assert approved.total == lines_total(approved) == D("11591.17")
    assert sum(row.amount for row in rows) == approved.total
    by_user = {row.user_id: row for row in rows}
    assert len(rows) == 4 == approved.payees_count
    east = by_user[org.rep_east.pk]
    assert (east.employee_id, east.name, east.period, east.amount, east.currency) == (
        org.rep_east.rep_profile.employee_id, str(org.rep_east), "FY2027 Q1", D("8900.00"), "USD",
    )  # fmt: skip
    assert east.cost_centre == "CC-EAST"
    assert (by_user[org.rep_west.pk].amount, by_user[org.rep_west.pk].cost_centre) == (
        D("1516.67"), "CC-WEST",
    )  # fmt: skip
    # East's manager has no rep profile: no employee id; the team they manage gives the centre.
    manager = by_user[org.manager_east.pk]
    assert (manager.employee_id, manager.cost_centre, manager.amount) == ("", "CC-EAST", D("1200"))
    # London has no cost centre: blank.
    assert (by_user[org.rep_london.pk].cost_centre, by_user[org.rep_london.pk].amount) == (
        "", D("-25.50"),
    )  # fmt: skip


def test_csv_download_for_finance(client, org, approved):
    client.force_login(org.finance)
    response = client.get(f"/comp/runs/{approved.pk}/payroll.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="payroll-2027-Q01.csv"'
    header, *rows = csv_rows(response)
    assert header == HEADERS
    assert len(rows) == 4
    amounts = {row[1]: row[3] for row in rows}
    assert amounts[str(org.rep_east)] == "8900.00"
    assert amounts[str(org.rep_london)] == "-25.50"  # a number, not neutralised text
    assert amounts[str(org.manager_east)] == "1200.00"
    assert sum(Decimal(row[3]) for row in rows) == approved.total == lines_total(approved)
    east = next(row for row in rows if row[1] == str(org.rep_east))
    assert east == [
        org.rep_east.rep_profile.employee_id, str(org.rep_east), "FY2027 Q1", "8900.00", "USD",
        "CC-EAST",
    ]  # fmt: skip


def test_each_export_is_audited_with_who_and_what(client, org, approved):
    client.force_login(org.finance)
    assert client.get(f"/comp/runs/{approved.pk}/payroll.xlsx").status_code == 200
    [event] = audit_events_for(approved).filter(pgh_label="payroll_export")
    context = event.pgh_context
    assert context["user"] == org.finance.pk
    assert (context["format"], context["rows"], context["total"]) == (
        "xlsx", 4, str(approved.total),
    )  # fmt: skip


def test_xlsx_download_has_numbers_formatted_for_money(client, org, approved):
    client.force_login(org.finance)
    response = client.get(f"/comp/runs/{approved.pk}/payroll.xlsx")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="payroll-2027-Q01.xlsx"'
    sheet = load_workbook(io.BytesIO(response.content)).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert list(header) == HEADERS
    assert len(rows) == 4
    for cells in sheet.iter_rows(min_row=2):
        amount = cells[3]
        assert amount.data_type == "n" and amount.number_format == "#,##0.00"
    total = sum(Decimal(str(row[3])).quantize(Decimal("0.01")) for row in rows)
    assert total == approved.total == lines_total(approved)
    east = next(row for row in rows if row[1] == str(org.rep_east))
    assert east[0] == org.rep_east.rep_profile.employee_id and east[5] == "CC-EAST"
    assert Decimal(str(east[3])) == D("8900")


def test_a_paid_run_exports_too(client, org, approved):
    runs.run_mark_paid(run=approved, acting_user=org.finance)
    client.force_login(org.admin)
    response = client.get(f"/comp/runs/{approved.pk}/payroll.csv")
    assert response.status_code == 200 and len(csv_rows(response)) == 5


def test_a_draft_or_calculated_run_refuses_payroll_with_the_reason(client, org, pipeline):
    q1_people(org, pipeline)
    run = calculated(org, "2027-Q1")
    reason = (
        "The FY2027 Q1 run is calculated: payroll files come from approved or paid runs only. "
        "Approve the run first."
    )
    with pytest.raises(DomainError) as refused:
        payroll.payroll_rows(run=run, acting_user=org.finance)
    assert refused.value.message == reason
    client.force_login(org.finance)
    response = client.get(f"/comp/runs/{run.pk}/payroll.xlsx", follow=True)
    assert response.redirect_chain == [(f"/comp/runs/{run.pk}/", 302)]
    assert messages_of(response) == [reason]
    draft = runs.run_create(period_key="2027-Q2", acting_user=org.ops)
    response = client.get(f"/comp/runs/{draft.pk}/payroll.csv", follow=True)
    assert messages_of(response) == [
        "The FY2027 Q2 run is draft: payroll files come from approved or paid runs only. "
        "Approve the run first."
    ]


def test_only_finance_and_admins_export(client, org, approved):
    with pytest.raises(NotAllowed, match="Only finance and admins can export payroll files."):
        payroll.payroll_rows(run=approved, acting_user=org.ops)
    for user in (org.ops, org.rep_east, org.manager_east):
        client.force_login(user)
        for fmt in ("csv", "xlsx"):
            response = client.get(f"/comp/runs/{approved.pk}/payroll.{fmt}")
            assert response.status_code == 403, (user, fmt)


def test_a_file_that_would_not_match_the_run_total_is_refused(org, approved):
    # The total of an approved run never changes; were it ever to disagree, no file is made.
    CommissionRun.objects.filter(pk=approved.pk).update(total=D("1.00"))
    approved.refresh_from_db()
    with pytest.raises(DomainError, match="the file was not made"):
        payroll.payroll_rows(run=approved, acting_user=org.finance)
    assert approved.status == RunStatus.APPROVED

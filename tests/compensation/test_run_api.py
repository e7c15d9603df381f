"""Commission run API: create a run for a period, calculate, approve and pay it (with the
services' checks and messages), the overview, the lines with their traces (paginated, filtered),
payroll files, manual adjustments (add, list, delete); reps and managers get 403 or 404 on all
of it; token auth works; the schema of these endpoints validates without warnings.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from compensation import runs
from compensation.models import CommissionRun, CompPlan, Credit, ManualAdjustment, RunStatus
from crm.models import Deal
from salesops.org.roles import Role
from tests import factories
from tests.compensation.comp_setup import D, won
from tests.compensation.test_run_pages import Q2_DAY, calculated, q1_people, q1_run
from tests.conftest import fresh

RUNS = "/api/v1/comp/runs/"
ADJUSTMENTS = "/api/v1/comp/adjustments/"


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


@pytest.fixture
def run(org, pipeline) -> CommissionRun:
    return q1_run(org, pipeline)


# --- Runs ----------------------------------------------------------------------------------------


def test_ops_create_and_calculate_a_run(org, pipeline):
    q1_people(org, pipeline)
    api = as_user(org.ops)
    response = api.post(RUNS, {"period_key": "2027-Q1"}, format="json")
    assert response.status_code == 201, response.data
    body = response.data
    assert (body["period_key"], body["label"], body["status"], body["total"]) == (
        "2027-Q01", "FY2027 Q1", "draft", "0.00",
    )  # fmt: skip
    response = api.post(f"{RUNS}{body['id']}/calculate/")
    assert response.status_code == 202
    assert (response.data["status"], response.data["step"]) == (
        "calculating", "Waiting for the worker",
    )  # fmt: skip
    runs.run_calculate(run_id=body["id"])  # what the worker does
    body = api.get(f"{RUNS}{body['id']}/").data
    assert (body["status"], body["total"], body["payees_count"], body["lines_count"]) == (
        "calculated", "11766.67", 3, 3,
    )  # fmt: skip
    assert body["progress"] == 100


def test_a_duplicate_or_bad_period_is_refused_with_the_reason(org, run):
    api = as_user(org.ops)
    response = api.post(RUNS, {"period_key": "2027-Q1"}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "detail": "There is already a run for FY2027 Q1.",
        "field": "period_key",
    }
    response = api.post(RUNS, {"period_key": "2027-Q9"}, format="json")
    assert response.status_code == 400 and response.data["field"] == "period_key"
    assert CommissionRun.objects.count() == 1


def test_finance_approve_and_pay(org, run):
    api = as_user(org.finance)
    response = api.post(f"{RUNS}{run.pk}/approve/")
    assert response.status_code == 200, response.data
    assert (response.data["status"], response.data["approved_by"]) == ("approved", org.finance.pk)
    response = api.post(f"{RUNS}{run.pk}/pay/")
    assert response.status_code == 200
    assert (response.data["status"], response.data["paid_by"]) == ("paid", org.finance.pk)
    response = api.post(f"{RUNS}{run.pk}/pay/")
    assert response.status_code == 400
    assert response.data == {"detail": "Only an approved run can be marked paid."}
    # Calculating a paid run again is refused too.
    response = as_user(org.ops).post(f"{RUNS}{run.pk}/calculate/")
    assert response.status_code == 400
    assert response.data["detail"].startswith("The FY2027 Q1 run is paid;")


def test_approval_conflicts_answer_403_with_the_reasons(org, run):
    editor = factories.user(Role.FINANCE, username="finance_editor")
    CompPlan.objects.filter(key="ae").update(updated_by=editor)
    response = as_user(editor).post(f"{RUNS}{run.pk}/approve/")
    assert response.status_code == 403
    assert response.data == {"detail": "You edited the plan 'Plan ae v1' this run pays on."}
    response = as_user(org.ops).post(f"{RUNS}{run.pk}/approve/")
    assert response.status_code == 403
    assert response.data["detail"].startswith("Approving a commission run needs the finance role.")
    assert CommissionRun.objects.get(pk=run.pk).status == RunStatus.CALCULATED


def test_finance_cannot_create_or_calculate(org, run):
    api = as_user(org.finance)
    assert api.post(RUNS, {"period_key": "2027-Q2"}, format="json").status_code == 403
    assert api.post(f"{RUNS}{run.pk}/calculate/").status_code == 403
    assert CommissionRun.objects.get(pk=run.pk).status == RunStatus.CALCULATED


def test_token_auth_lists_runs(org, run):
    token = Token.objects.create(user=org.finance)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api.get(RUNS, {"status": "calculated"})
    assert response.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [run.pk]
    assert api.get(RUNS, {"status": "paid"}).data["count"] == 0


# --- Overview and lines --------------------------------------------------------------------------


def test_overview_by_team_role_component_and_payees(org, run):
    body = as_user(org.finance).get(f"{RUNS}{run.pk}/overview/").data
    assert (body["total"], body["previous_run"], body["change"]) == ("11766.67", None, None)
    teams = {row["label"]: row["amount"] for row in body["by_team"]}
    assert teams == {"East": "10100.00", "West": "1666.67"}
    roles = {row["key"]: row["amount"] for row in body["by_role"]}
    assert roles == {"AE": "10566.67", "manager": "1200.00"}
    assert [(row["key"], row["amount"]) for row in body["by_component"]] == [
        ("bookings", "11766.67")
    ]
    payee = next(row for row in body["payees"] if row["user"] == org.rep_east.pk)
    assert payee == {
        "user": org.rep_east.pk, "name": str(org.rep_east), "team": "East",
        "employee_id": org.rep_east.rep_profile.employee_id, "sales_role": "Account executive",
        "total": "8900.00", "lines": 1, "open_disputes": 0,
    }  # fmt: skip


def test_overview_against_the_previous_run(org, pipeline):
    runs.run_approve(run=q1_run(org, pipeline), acting_user=org.finance)
    won(org, pipeline, org.rep_east, "10000", Q2_DAY)
    q2 = calculated(org, "2027-Q2")
    body = as_user(org.ops).get(f"{RUNS}{q2.pk}/overview/").data
    assert body["previous_run"]["label"] == "FY2027 Q1"
    assert (body["total"], body["previous_total"], body["change"]) == (
        "600.00", "11766.67", "-11166.67",
    )  # fmt: skip
    west = next(row for row in body["by_team"] if row["label"] == "West")
    assert (west["amount"], west["previous"], west["change"]) == ("0.00", "1666.67", "-1666.67")


def test_lines_are_paginated_filtered_and_carry_their_trace(org, run):
    api = as_user(org.ops)
    body = api.get(f"{RUNS}{run.pk}/lines/").data
    assert body["count"] == 3 and len(body["results"]) == 3
    body = api.get(f"{RUNS}{run.pk}/lines/", {"user": org.rep_east.pk}).data
    [line] = body["results"]
    assert (line["amount"], line["kind"], line["component_key"]) == (
        "8900.00", "commission", "bookings",
    )  # fmt: skip
    assert line["trace"]["formula"] == "8,900.00 payout for FY2027 Q1 = 8,900.00"
    assert [s["pay"] for s in line["trace"]["slices"]] == ["2500.0000", "4000.0000", "2400.0000"]
    assert api.get(f"{RUNS}{run.pk}/lines/", {"kind": "manual"}).data["count"] == 0
    assert api.get(f"{RUNS}{run.pk}/lines/", {"component": "bookings"}).data["count"] == 3
    response = api.get(f"{RUNS}{run.pk}/lines/", {"kind": "bogus"})
    assert response.status_code == 400 and "kind" in response.data


def test_credits_say_who_was_credited_how_much_of_which_deal(org, run):
    api = as_user(org.finance)
    east_deal = Deal.objects.get(name="Acme expansion")
    body = api.get(f"{RUNS}{run.pk}/credits/", {"user": org.rep_east.pk}).data
    [credit] = body["results"]
    assert (credit["deal"], credit["credit_type"], credit["percent"], credit["amount"]) == (
        east_deal.pk, "owner", "100.00", "120000.00",
    )  # fmt: skip
    assert credit["source_user"] is None and credit["deal_version"] == east_deal.version
    on_deal = api.get(f"{RUNS}{run.pk}/credits/", {"deal": east_deal.pk}).data["results"]
    rollups = [c for c in on_deal if c["credit_type"] == "rollup"]
    assert org.manager_east.pk in {c["user"] for c in rollups}
    assert {(c["source_user"], c["amount"]) for c in rollups} == {(org.rep_east.pk, "120000.00")}
    only_rollups = api.get(f"{RUNS}{run.pk}/credits/", {"credit_type": "rollup"}).data
    assert only_rollups["count"] == Credit.objects.filter(run=run, credit_type="rollup").count()
    response = api.get(f"{RUNS}{run.pk}/credits/", {"credit_type": "bogus"})
    assert response.status_code == 400 and "credit_type" in response.data


# --- Payroll -------------------------------------------------------------------------------------


def test_payroll_files_through_the_api(org, run):
    runs.run_approve(run=run, acting_user=org.finance)
    api = as_user(org.finance)
    response = api.get(f"{RUNS}{run.pk}/payroll.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[0] == "Employee ID" and len(rows) == 3
    assert sum(Decimal(row[3]) for row in rows) == run.total == D("11766.67")
    response = api.get(f"{RUNS}{run.pk}/payroll.xlsx", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    amounts = [Decimal(str(row[3])) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sum(amounts) == run.total


def test_payroll_of_a_calculated_run_is_refused_and_ops_may_not_export(org, run):
    response = as_user(org.finance).get(f"{RUNS}{run.pk}/payroll.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert json.loads(response.content) == {
        "detail": "The FY2027 Q1 run is calculated: payroll files come from approved or paid "
        "runs only. Approve the run first."
    }
    runs.run_approve(run=run, acting_user=org.finance)
    response = as_user(org.ops).get(f"{RUNS}{run.pk}/payroll.xlsx")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only finance and admins can export payroll files."}


# --- Manual adjustments --------------------------------------------------------------------------


def test_ops_add_list_and_delete_adjustments(org, run):
    api = as_user(org.ops)
    url = f"{RUNS}{run.pk}/adjustments/"
    response = api.post(
        url, {"user": org.rep_west.pk, "amount": "-150.00", "reason": " "}, format="json"
    )
    assert response.status_code == 400
    assert response.data == {"detail": "A manual adjustment needs a reason.", "field": "reason"}
    response = api.post(
        url, {"user": org.rep_west.pk, "amount": "10.005", "reason": "Typo"}, format="json"
    )
    assert response.status_code == 400
    assert response.data["detail"] == "Enter the amount in whole cents, e.g. 10.01."
    assert not ManualAdjustment.objects.exists()
    response = api.post(
        url, {"user": org.rep_west.pk, "amount": "-150.00", "reason": "Refund"}, format="json"
    )
    assert response.status_code == 201, response.data
    assert (response.data["amount"], response.data["reason"], response.data["created_by"]) == (
        "-150.00", "Refund", org.ops.pk,
    )  # fmt: skip
    assert CommissionRun.objects.get(pk=run.pk).status == RunStatus.DRAFT
    assert [row["reason"] for row in as_user(org.finance).get(url).data] == ["Refund"]
    adjustment_id = response.data["id"]
    assert as_user(org.finance).delete(f"{ADJUSTMENTS}{adjustment_id}/").status_code == 403
    assert api.delete(f"{ADJUSTMENTS}{adjustment_id}/").status_code == 204
    assert not ManualAdjustment.objects.exists()


def test_adjustments_of_a_locked_run_stay(org, run):
    runs.run_approve(run=run, acting_user=org.finance)
    api = as_user(org.ops)
    response = api.post(
        f"{RUNS}{run.pk}/adjustments/",
        {"user": org.rep_west.pk, "amount": "5.00", "reason": "Late"},
        format="json",
    )
    assert response.status_code == 400
    assert response.data["detail"] == (
        "The FY2027 Q1 run is approved; adjust the next open run instead."
    )


# --- Reps and managers ---------------------------------------------------------------------------


def test_reps_and_managers_get_403_or_404_on_everything(org, run):
    adjustment = runs.adjustment_add(
        run=run, user=org.rep_east, amount=D("5.00"), reason="Spiff", acting_user=org.ops
    )
    calculated(org, "2027-Q1")
    runs.run_approve(run=run, acting_user=org.finance)
    calls = [
        ("get", RUNS),
        ("post", RUNS),
        ("get", f"{RUNS}{run.pk}/"),
        ("post", f"{RUNS}{run.pk}/calculate/"),
        ("post", f"{RUNS}{run.pk}/approve/"),
        ("post", f"{RUNS}{run.pk}/pay/"),
        ("get", f"{RUNS}{run.pk}/overview/"),
        ("get", f"{RUNS}{run.pk}/lines/"),
        ("get", f"{RUNS}{run.pk}/credits/"),
        ("get", f"{RUNS}{run.pk}/payroll.csv"),
        ("get", f"{RUNS}{run.pk}/payroll.xlsx"),
        ("get", f"{RUNS}{run.pk}/adjustments/"),
        ("post", f"{RUNS}{run.pk}/adjustments/"),
        ("get", ADJUSTMENTS),
        ("get", f"{ADJUSTMENTS}{adjustment.pk}/"),
        ("delete", f"{ADJUSTMENTS}{adjustment.pk}/"),
    ]
    for user in (org.rep_east, org.manager_east):
        api = as_user(user)
        for method, url in calls:
            body = {"period_key": "2027-Q2", "user": user.pk, "amount": "1.00", "reason": "x"}
            response = getattr(api, method)(url, body, format="json")
            assert response.status_code in (403, 404), (user, method, url, response.status_code)
    run.refresh_from_db()
    assert run.status == RunStatus.APPROVED
    assert ManualAdjustment.objects.count() == 1 and CommissionRun.objects.count() == 1


def test_anonymous_gets_401(db):
    assert APIClient().get(RUNS).status_code == 401


# --- Schema --------------------------------------------------------------------------------------


def test_the_openapi_schema_of_the_run_endpoints_validates():
    from django.urls import include, path

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/comp/", include("compensation.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS, "drf-spectacular warned about the comp endpoints"
    for route in (
        "/api/v1/comp/runs/",
        "/api/v1/comp/runs/{id}/",
        "/api/v1/comp/runs/{id}/calculate/",
        "/api/v1/comp/runs/{id}/approve/",
        "/api/v1/comp/runs/{id}/pay/",
        "/api/v1/comp/runs/{id}/overview/",
        "/api/v1/comp/runs/{id}/lines/",
        "/api/v1/comp/runs/{id}/adjustments/",
        "/api/v1/comp/runs/{id}/payroll.{fmt}",
        "/api/v1/comp/adjustments/{id}/",
    ):
        assert route in schema["paths"], route

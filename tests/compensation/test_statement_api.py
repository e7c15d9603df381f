"""Statement and dispute API: a statement (own by default) and the year to date, one line with
its trace and credits, disputes (scoped list, open, answer, adjust); the same scope as the
pages (404 outside it and before approval for reps and managers), money as strings, and the
schema of these endpoints validates.
"""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from compensation import disputes, runs
from compensation.models import Dispute, DisputeStatus, ManualAdjustment
from tests.compensation.comp_setup import D, approve, lines
from tests.compensation.test_statements import Quarter, quarter
from tests.conftest import fresh

STATEMENTS = "/api/v1/comp/statements/"
YTD = "/api/v1/comp/statements/ytd/"
LINES = "/api/v1/comp/lines/"
DISPUTES = "/api/v1/comp/disputes/"


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


@pytest.fixture
def q1(org, pipeline) -> Quarter:
    """Q1 calculated, not approved."""
    return quarter(org, pipeline)


@pytest.fixture
def settled(org, q1) -> Quarter:
    q1.run = approve(org, q1.run)
    return q1


def probes(q: Quarter, user, line) -> list[str]:
    return [
        f"{STATEMENTS}?run={q.run.pk}&user={user.pk}",
        f"{YTD}?fiscal_year=2027&user={user.pk}",
        f"{LINES}{line.pk}/",
    ]


def test_a_statement_is_hidden_from_reps_and_managers_until_approved(org, q1):
    rep = as_user(org.rep_east)
    assert rep.get(f"{STATEMENTS}?run={q1.run.pk}").status_code == 404
    assert rep.get(f"{LINES}{q1.east.pk}/").status_code == 404
    assert rep.get(LINES).data["count"] == 0
    assert rep.get(f"{YTD}?fiscal_year=2027").data["total"] == "0.00"
    manager = as_user(org.manager_east)
    assert manager.get(f"{STATEMENTS}?run={q1.run.pk}&user={org.rep_east.pk}").status_code == 404
    for user in (org.ops, org.finance):
        response = as_user(user).get(f"{STATEMENTS}?run={q1.run.pk}&user={org.rep_east.pk}")
        assert response.status_code == 200 and response.data["run_status"] == "calculated"
    approve(org, q1.run)
    response = rep.get(f"{STATEMENTS}?run={q1.run.pk}")
    assert response.status_code == 200 and response.data["user"] == org.rep_east.pk


def test_the_statement_of_a_run_with_exact_totals_and_the_curve(org, settled):
    body = as_user(org.rep_east).get(f"{STATEMENTS}?run={settled.run.pk}").data
    assert (body["total"], body["currency"], body["run_label"]) == ("9183.88", "USD", "FY2027 Q1")
    assert sum(D(line["amount"]) for line in body["lines"]) == D(body["total"])
    assert [(c["key"], c["total"]) for c in body["components"]] == [
        ("bookings", "8900.00"), ("spif", "250.55"), ("manual", "33.33"),
    ]  # fmt: skip
    assert body["components"][0]["attainment"] == "120.0000"
    [curve] = body["curves"]
    assert (curve["component_key"], curve["attainment"]) == ("bookings", "120.0000")
    assert D(curve["payout"]) == D("8900") and len(curve["points"]) == 41
    assert as_user(org.rep_east).get(STATEMENTS).status_code == 400  # ?run= is required


def test_reps_cannot_read_anyone_elses_statement_line_or_year(org, settled):
    rep = as_user(org.rep_east)
    for url in probes(settled, org.rep_east_2, settled.east_2):
        assert rep.get(url).status_code == 404, url
    line_ids = {row["id"] for row in rep.get(LINES).data["results"]}
    assert line_ids == {line.pk for line in lines(settled.run, org.rep_east)}
    for url in probes(settled, org.rep_east, settled.east):
        assert rep.get(url).status_code == 200, url
    for outsider in (org.manager_west, org.rep_west, org.vp_emea):
        for url in probes(settled, org.rep_east, settled.east):
            assert as_user(outsider).get(url).status_code == 404, (outsider, url)


def test_managers_read_their_teams_statements(org, settled):
    manager = as_user(org.manager_east)
    for url in probes(settled, org.rep_east, settled.east):
        assert manager.get(url).status_code == 200, url
    users = {row["user"] for row in manager.get(LINES).data["results"]}
    assert users == {org.rep_east.pk, org.rep_east_2.pk}


def test_a_line_comes_with_its_trace_credits_and_disputes(org, settled):
    body = as_user(org.rep_east).get(f"{LINES}{settled.east.pk}/").data
    assert (body["id"], body["amount"], body["tier"]) == (settled.east.pk, "8900.00", "Accelerator")
    assert body["trace"]["formula"] == "8,900.00 payout for FY2027 Q1 = 8,900.00"
    [credit] = body["credits"]
    assert (credit["deal_id"], credit["deal_name"], credit["credit_type"], credit["percent"]) == (
        settled.deal.pk, "Acme platform", "owner", "100.00",
    )  # fmt: skip
    assert credit["measure"] == "120000.0000" and body["disputes"] == []


def test_year_to_date(org, settled):
    body = as_user(org.rep_east).get(f"{YTD}?fiscal_year=2027").data
    assert body["total"] == "9183.88"
    assert [(row["run_label"], row["total"]) for row in body["by_run"]] == [
        ("FY2027 Q1", "9183.88")
    ]
    assert [row["key"] for row in body["by_component"]] == ["bookings", "spif", "manual"]
    assert as_user(org.rep_east).get(YTD).status_code == 400  # ?fiscal_year= is required


def test_the_dispute_flow(org, settled):
    rep = as_user(org.rep_east)
    response = rep.post(DISPUTES, {"line": settled.east.pk, "message": ""}, format="json")
    assert response.status_code == 400
    assert response.data == {"detail": "Say what looks wrong with this line.", "field": "message"}
    response = rep.post(DISPUTES, {"line": settled.east_2.pk, "message": "Mine"}, format="json")
    assert response.status_code == 404  # not their line: as if it did not exist
    response = rep.post(
        DISPUTES, {"line": settled.east.pk, "message": "Acme was 130,000."}, format="json"
    )
    assert response.status_code == 201, response.data
    dispute_id = response.data["id"]
    assert (response.data["status"], response.data["line_amount"]) == ("open", "8900.00")
    assert [row["id"] for row in rep.get(DISPUTES).data["results"]] == [dispute_id]
    assert as_user(org.rep_east_2).get(DISPUTES).data["count"] == 0
    assert as_user(org.rep_east_2).get(f"{DISPUTES}{dispute_id}/").status_code == 404
    response = rep.post(f"{DISPUTES}{dispute_id}/answer/", {"answer": "Fine"}, format="json")
    assert response.status_code == 403
    ops = as_user(org.ops)
    assert ops.get(DISPUTES).data["count"] == 1
    response = ops.post(
        f"{DISPUTES}{dispute_id}/adjust/", {"amount": "100.00", "answer": "Yes"}, format="json"
    )
    assert response.status_code == 400
    assert response.data["detail"].startswith("Create the next run first")
    runs.run_create(period_key="2027-Q2", acting_user=org.ops)
    response = ops.post(
        f"{DISPUTES}{dispute_id}/adjust/", {"amount": "100.00", "answer": "Yes"}, format="json"
    )
    assert response.status_code == 200 and response.data["status"] == "adjusted"
    adjustment = ManualAdjustment.objects.get(dispute_id=dispute_id)
    assert adjustment.amount == D("100.00") and adjustment.user == org.rep_east
    response = ops.post(f"{DISPUTES}{dispute_id}/answer/", {"answer": "Again"}, format="json")
    assert response.status_code == 400 and "already adjusted" in response.data["detail"]


def test_ops_answer_a_dispute_in_writing(org, settled):
    dispute = disputes.dispute_open(
        line=settled.east_2, message="SPIF missing", acting_user=fresh(org.rep_east_2)
    )
    ops = as_user(org.ops)
    response = ops.post(f"{DISPUTES}{dispute.pk}/answer/", {"answer": " "}, format="json")
    assert response.data == {"detail": "Write the answer the rep will read.", "field": "answer"}
    response = ops.post(
        f"{DISPUTES}{dispute.pk}/answer/", {"answer": "It is there."}, format="json"
    )
    assert response.status_code == 200 and response.data["answer"] == "It is there."
    assert Dispute.objects.get().status == DisputeStatus.ANSWERED
    body = as_user(org.rep_east_2).get(f"{LINES}{settled.east_2.pk}/").data
    assert [(d["status"], d["answer"]) for d in body["disputes"]] == [("answered", "It is there.")]
    rows = ops.get(f"{DISPUTES}?status=open").data
    assert rows["count"] == 0


def test_the_openapi_schema_of_the_statement_endpoints_validates():
    from django.urls import include, path

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/comp/", include("compensation.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS, "drf-spectacular warned about the comp endpoints"
    for route in (
        "/api/v1/comp/statements/",
        "/api/v1/comp/statements/ytd/",
        "/api/v1/comp/lines/",
        "/api/v1/comp/lines/{id}/",
        "/api/v1/comp/disputes/",
        "/api/v1/comp/disputes/{id}/",
        "/api/v1/comp/disputes/{id}/answer/",
        "/api/v1/comp/disputes/{id}/adjust/",
    ):
        assert route in schema["paths"], route

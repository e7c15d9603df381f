"""Comp plan API: plans (create from a JSON document, update a draft, publish, new version, the
document as YAML or JSON, import), assignments (scoped list, create, end, accept, delete);
model permissions on reads too, the services' checks and messages; the schema of these
endpoints validates.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from compensation import documents, plans
from compensation.models import CompPlan, PlanAssignment
from tests.compensation.conftest import JAN_1, PLAN_KEY, make_plan, plan_data
from tests.conftest import fresh

PLANS = "/api/v1/comp/plans/"
ASSIGNMENTS = "/api/v1/comp/assignments/"


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


@pytest.fixture
def api(org) -> APIClient:
    return as_user(org.ops)


def assign(org, plan, user, start=JAN_1, **fields) -> PlanAssignment:
    return plans.assignment_create(
        plan=plan, user=user, start_date=start, acting_user=org.ops, **fields
    )


# --- Plans ---------------------------------------------------------------------------------------


def test_ops_create_update_publish_and_version_a_plan(api, org):
    response = api.post(PLANS, {"key": PLAN_KEY, "document": plan_data()}, format="json")
    assert response.status_code == 201, response.data
    body = response.data
    assert (body["key"], body["version"], body["status"], body["name"]) == (
        PLAN_KEY,
        1,
        "draft",
        "AE plan",
    )
    assert body["document"]["components"][0]["tiers"][1] == {
        "floor": "50",
        "rate": "0.08",
        "label": "",
    }
    plan_id = body["id"]

    response = api.post(PLANS, {"key": PLAN_KEY, "document": plan_data()}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "detail": "The key 'ae-2027' is taken by AE plan v1; choose another key, or start a new "
        "version of that plan.",
        "field": "key",
    }

    response = api.patch(
        f"{PLANS}{plan_id}/", {"document": plan_data(name="AE plan 2027")}, format="json"
    )
    assert response.status_code == 200 and response.data["name"] == "AE plan 2027"

    response = api.post(f"{PLANS}{plan_id}/publish/", {}, format="json")
    assert response.status_code == 200 and response.data["status"] == "published"
    assert response.data["published_by"] == org.ops.pk

    response = api.put(f"{PLANS}{plan_id}/", {"document": plan_data()}, format="json")
    assert response.status_code == 400
    assert response.data["detail"] == (
        "AE plan 2027 v1 is published, so it cannot be edited; start a new version to change the "
        "plan."
    )

    response = api.post(f"{PLANS}{plan_id}/new-version/")
    assert response.status_code == 201
    assert (response.data["version"], response.data["status"]) == (2, "draft")
    response = api.post(f"{PLANS}{plan_id}/new-version/")
    assert response.status_code == 400
    assert response.data["detail"] == (
        "AE plan 2027 v2 is already a draft of this plan: edit it instead of starting another."
    )


def test_a_bad_document_answers_400_naming_the_field_path(api, org):
    data = plan_data()
    data["components"][0]["tiers"][0]["floor"] = "10"
    response = api.post(PLANS, {"key": PLAN_KEY, "document": data}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "detail": "The plan document is not valid: components.0.tiers: the first tier must start "
        "at 0 % of quota"
    }
    response = api.post(PLANS, {"key": PLAN_KEY, "document": ["not", "a", "plan"]}, format="json")
    assert response.status_code == 400 and response.data["field"] == "document"
    assert not CompPlan.objects.exists()


def test_publish_moves_assignments_from_the_day_given(api, org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    draft = plans.plan_new_version(plan=ae_plan, acting_user=org.ops)
    response = api.post(
        f"{PLANS}{draft.pk}/publish/", {"move_assignments_from": "2027-04-01"}, format="json"
    )
    assert response.status_code == 200
    east.refresh_from_db()
    assert east.end_date == dt.date(2027, 3, 31)
    moved = PlanAssignment.objects.get(plan=draft)
    assert (moved.user, moved.start_date, moved.accepted_at) == (
        org.rep_east,
        dt.date(2027, 4, 1),
        None,
    )


def test_the_document_as_yaml_or_json_imports_back_identical(api, org, ae_plan):
    response = api.get(f"{PLANS}{ae_plan.pk}/document/?format=yaml")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/yaml; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ae-2027-v1.yaml"'
    text = response.content.decode()
    assert yaml.safe_load(text) == ae_plan.document

    response = api.post(
        f"{PLANS}import/", {"key": "copy", "format": "yaml", "text": text}, format="json"
    )
    assert response.status_code == 201, response.data
    assert response.data["document"] == ae_plan.document

    response = api.get(f"{PLANS}{ae_plan.pk}/document/?format=json")
    assert response["Content-Type"] == "application/json; charset=utf-8"
    response = api.post(
        f"{PLANS}import/",
        {"key": PLAN_KEY, "format": "json", "text": response.content.decode()},
        format="json",
    )
    assert response.status_code == 201
    assert (response.data["version"], response.data["document"]) == (2, ae_plan.document)
    response = api.get(f"{PLANS}{ae_plan.pk}/document/")  # JSON by default
    assert response.status_code == 200 and response.json() == ae_plan.document

    response = api.post(
        f"{PLANS}import/", {"key": "bad", "format": "yaml", "text": "name: ["}, format="json"
    )
    assert response.status_code == 400
    assert response.data["detail"].startswith("The file is not valid YAML: ")


def test_roles_without_plan_rights_cannot_write(org, ae_plan):
    finance = as_user(org.finance)
    assert finance.get(f"{PLANS}{ae_plan.pk}/").status_code == 200
    assert finance.post(
        PLANS, {"key": "x", "document": plan_data()}, format="json"
    ).status_code == (403)
    assert finance.post(f"{PLANS}{ae_plan.pk}/publish/").status_code == 403
    rep = as_user(org.rep_east)
    assign(org, ae_plan, org.rep_east)
    assert rep.post(f"{PLANS}{ae_plan.pk}/new-version/").status_code == 403
    response = rep.post(
        ASSIGNMENTS,
        {"plan": ae_plan.pk, "user": org.rep_east.pk, "start_date": "2027-01-01"},
        format="json",
    )
    assert response.status_code == 403
    assert as_user(org.ops).get(PLANS).status_code == 200
    assert APIClient().get(PLANS).status_code == 401


def test_a_rep_sees_only_the_plans_they_are_on(org, ae_plan):
    other = make_plan(org, key="sdr-2027", name="SDR plan")
    assign(org, ae_plan, org.rep_east)
    rep = as_user(org.rep_east)
    assert [p["id"] for p in rep.get(PLANS).data["results"]] == [ae_plan.pk]
    assert rep.get(f"{PLANS}{ae_plan.pk}/").status_code == 200
    assert rep.get(f"{PLANS}{other.pk}/").status_code == 404
    response = rep.get(f"{PLANS}{other.pk}/document/?format=yaml")
    assert response.status_code == 404
    assert yaml.safe_load(response.content) == {"detail": "No CompPlan matches the given query."}
    outsider = as_user(org.rep_west)
    assert outsider.get(f"{PLANS}{ae_plan.pk}/").status_code == 404
    assert outsider.get(PLANS).data["count"] == 0


# --- Assignments ---------------------------------------------------------------------------------


def test_ops_assign_end_and_delete(api, org, ae_plan):
    response = api.post(
        ASSIGNMENTS,
        {"plan": ae_plan.pk, "user": org.rep_east.pk, "start_date": "2027-01-01",
         "target_incentive": "70000.00"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.data
    body = response.data
    assert (body["plan_key"], body["plan_version"], body["user"], body["accepted"]) == (
        PLAN_KEY,
        1,
        org.rep_east.pk,
        False,
    )
    assert body["target_incentive"] == "70000.00" and body["end_date"] is None

    response = api.post(
        ASSIGNMENTS,
        {"plan": ae_plan.pk, "user": org.rep_east.pk, "start_date": "2027-06-01"},
        format="json",
    )
    assert response.status_code == 400
    assert response.data == {
        "detail": f"{org.rep_east} is already on AE plan v1 from 2027-01-01, open-ended; end "
        "that assignment first, or start this one after it.",
        "field": "start_date",
    }

    response = api.post(
        f"{ASSIGNMENTS}{body['id']}/end/",
        {"end_date": "2027-06-30", "reason": "Transfer"},
        format="json",
    )
    assert response.status_code == 200 and response.data["end_date"] == "2027-06-30"

    response = api.delete(f"{ASSIGNMENTS}{body['id']}/")
    assert response.status_code == 204
    assert not PlanAssignment.objects.exists()


def test_assignments_are_listed_in_the_callers_scope(org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    assign(org, ae_plan, org.rep_west)
    london = assign(org, ae_plan, org.rep_london)
    plans.plan_accept(assignment=london, acting_user=fresh(org.rep_london))
    assert [a["id"] for a in as_user(org.rep_east).get(ASSIGNMENTS).data["results"]] == [east.pk]
    managed = as_user(org.manager_east).get(ASSIGNMENTS).data["results"]
    assert [a["user"] for a in managed] == [org.rep_east.pk]
    assert as_user(org.finance).get(ASSIGNMENTS).data["count"] == 3
    waiting = as_user(org.ops).get(f"{ASSIGNMENTS}?accepted=false&plan={ae_plan.pk}").data
    assert waiting["count"] == 2
    assert as_user(org.rep_west).get(f"{ASSIGNMENTS}{east.pk}/").status_code == 404


def test_a_rep_accepts_their_own_assignment_only(org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    response = as_user(org.rep_west).post(f"{ASSIGNMENTS}{east.pk}/accept/")
    assert response.status_code == 404  # outside their scope
    response = as_user(org.manager_east).post(f"{ASSIGNMENTS}{east.pk}/accept/")
    assert response.status_code == 403
    assert response.data == {"detail": f"Only {org.rep_east} can accept their own plan."}
    response = as_user(org.rep_east).post(
        f"{ASSIGNMENTS}{east.pk}/end/", {"end_date": "2027-02-01"}
    )
    assert response.status_code == 403  # accepting is all a rep may do

    response = as_user(org.rep_east).post(f"{ASSIGNMENTS}{east.pk}/accept/")
    assert response.status_code == 200, response.data
    assert response.data["accepted"] is True
    first = response.data["accepted_at"]
    again = as_user(org.rep_east).post(f"{ASSIGNMENTS}{east.pk}/accept/")
    assert again.data["accepted_at"] == first


# --- Schema --------------------------------------------------------------------------------------


def test_the_openapi_schema_of_the_comp_plan_endpoints_validates():
    from django.urls import include, path

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/comp/", include("compensation.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS, "drf-spectacular warned about the comp plan endpoints"
    for route in (
        "/api/v1/comp/plans/",
        "/api/v1/comp/plans/{id}/",
        "/api/v1/comp/plans/{id}/publish/",
        "/api/v1/comp/plans/{id}/new-version/",
        "/api/v1/comp/plans/{id}/document/",
        "/api/v1/comp/plans/import/",
        "/api/v1/comp/assignments/",
        "/api/v1/comp/assignments/{id}/end/",
        "/api/v1/comp/assignments/{id}/accept/",
    ):
        assert route in schema["paths"], route
    assert documents.SCHEMA_VERSION == 1

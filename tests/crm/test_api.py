"""CRM API: the same services and rules as the pages, scoped, with conflicts as 409."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from crm.models import Deal
from crm.services import deal_create
from tests.conftest import fresh
from tests.crm.conftest import stage


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def deals(org, pipeline, accounts):
    return {
        rep.username: deal_create(
            acting_user=fresh(rep), account=accounts[rep], name=f"{rep.username} deal"
        )
        for rep in (org.rep_east, org.rep_east_2, org.rep_west, org.rep_london)
    }


def names(response):
    return sorted(row["name"] for row in response.json()["results"])


def test_each_role_lists_exactly_its_scope(api, org, deals):
    expected = {
        org.rep_east: ["rep_east deal"],
        org.manager_east: ["rep_east deal", "rep_east_2 deal"],
        org.vp_americas: ["rep_east deal", "rep_east_2 deal", "rep_west deal"],
        org.vp_emea: ["rep_london deal"],
        org.finance: sorted(d.name for d in deals.values()),
    }
    for viewer, visible in expected.items():
        api.force_authenticate(fresh(viewer))
        assert names(api.get("/api/v1/deals/")) == visible, viewer.username


def test_out_of_scope_deals_answer_404_for_every_action(api, org, deals):
    api.force_authenticate(fresh(org.rep_east))
    other = deals["rep_west"]
    assert api.get(f"/api/v1/deals/{other.pk}/").status_code == 404
    assert api.get(f"/api/v1/deals/{other.pk}/history/").status_code == 404
    move = {"stage": other.stage_id, "version": 1}
    assert api.post(f"/api/v1/deals/{other.pk}/move/", move).status_code == 404
    assert (
        api.patch(f"/api/v1/deals/{other.pk}/", {"version": 1, "next_step": "x"}).status_code == 404
    )
    other.refresh_from_db()
    assert other.next_step == ""


def test_move_refused_names_the_missing_fields(api, org, pipeline, deals):
    api.force_authenticate(fresh(org.rep_east))
    deal = deals["rep_east"]
    response = api.post(
        f"/api/v1/deals/{deal.pk}/move/", {"stage": stage(pipeline, "Discovery").pk, "version": 1}
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "To move 'rep_east deal' to Discovery, fill in: Amount, Close date.",
        "field": "amount",
    }


def test_move_with_fields_then_stale_version_is_409(api, org, pipeline, deals):
    api.force_authenticate(fresh(org.rep_east))
    deal = deals["rep_east"]
    body = {
        "stage": stage(pipeline, "Discovery").pk,
        "version": 1,
        "amount": "25000.00",
        "close_date": "2026-12-31",
    }
    response = api.post(f"/api/v1/deals/{deal.pk}/move/", body, format="json")
    assert response.status_code == 200
    assert response.json()["stage_name"] == "Discovery"
    assert response.json()["amount"] == "25000.00"
    assert response.json()["version"] == 2
    stale = api.patch(
        f"/api/v1/deals/{deal.pk}/", {"version": 1, "next_step": "Late"}, format="json"
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert "your changes were not saved" in stale.json()["detail"]


def test_close_lost_needs_a_reason_and_history_shows_every_step(api, org, deals):
    api.force_authenticate(fresh(org.rep_east))
    deal = deals["rep_east"]
    refused = api.post(f"/api/v1/deals/{deal.pk}/close/", {"won": False, "version": 1})
    assert (
        refused.json()["detail"] == "To move 'rep_east deal' to Closed Lost, fill in: Lost reason."
    )
    closed = api.post(
        f"/api/v1/deals/{deal.pk}/close/", {"won": False, "version": 1, "lost_reason": "No budget"}
    )
    assert closed.status_code == 200
    assert closed.json()["closed_at"] is not None
    history = api.get(f"/api/v1/deals/{deal.pk}/history/").json()
    assert [row["changed_fields"] for row in history] == [
        ["created"],
        ["stage", "forecast_category"],
    ]


def test_create_through_the_api(api, org, pipeline, accounts):
    api.force_authenticate(fresh(org.rep_east))
    response = api.post(
        "/api/v1/deals/",
        {"name": "API deal", "account": accounts[org.rep_east].pk, "amount": "1000.50"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["stage_name"], body["owner"], body["probability"]) == (
        "Prospecting",
        org.rep_east.pk,
        "10.00",
    )
    assert Deal.objects.get(pk=body["id"]).amount == Decimal("1000.50")


def test_rep_cannot_create_on_a_foreign_account_or_for_someone_else(api, org, pipeline, accounts):
    api.force_authenticate(fresh(org.rep_east))
    foreign = api.post("/api/v1/deals/", {"name": "x", "account": accounts[org.rep_west].pk})
    assert foreign.status_code == 400
    assert foreign.json()["detail"] == "You cannot add deals to rep_west Corp."
    gift = api.post(
        "/api/v1/deals/",
        {"name": "x", "account": accounts[org.rep_east].pk, "owner": org.rep_east_2.pk},
    )
    assert gift.status_code == 403
    assert not Deal.objects.exists()


def test_ops_adds_a_stage_by_api_and_the_api_enforces_it(api, org, pipeline, deals):
    api.force_authenticate(fresh(org.ops))
    created = api.post(
        "/api/v1/stages/",
        {
            "pipeline": pipeline.pk,
            "name": "Legal",
            "position": 4,
            "probability": "85",
            "forecast_category": "commit",
            "required_fields": ["amount", "close_date", "primary_contact"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    api.force_authenticate(fresh(org.rep_east))
    deal = deals["rep_east"]
    response = api.post(
        f"/api/v1/deals/{deal.pk}/move/",
        {"stage": created.json()["id"], "version": 1, "amount": "10", "close_date": "2027-01-05"},
        format="json",
    )
    assert (
        response.json()["detail"] == "To move 'rep_east deal' to Legal, fill in: Primary contact."
    )


def test_reps_cannot_change_stages(api, org, pipeline):
    api.force_authenticate(fresh(org.rep_east))
    response = api.post(
        "/api/v1/stages/",
        {
            "pipeline": pipeline.pk,
            "name": "Mine",
            "position": 9,
            "probability": "5",
            "forecast_category": "pipeline",
        },
        format="json",
    )
    assert response.status_code == 403


def test_filters(api, org, pipeline, deals):
    api.force_authenticate(fresh(org.ops))
    assert names(api.get("/api/v1/deals/", {"team": org.americas.pk})) == [
        "rep_east deal",
        "rep_east_2 deal",
        "rep_west deal",
    ]
    assert names(api.get("/api/v1/deals/", {"q": "london"})) == ["rep_london deal"]
    assert api.get("/api/v1/deals/", {"status": "won"}).json()["count"] == 0
    assert api.get("/api/v1/deals/", {"status": "open"}).json()["count"] == 4


def test_deal_list_query_count_is_constant(
    api, org, pipeline, accounts, django_assert_max_num_queries
):
    for n in range(12):
        deal_create(acting_user=fresh(org.rep_east), account=accounts[org.rep_east], name=f"d{n}")
    api.force_authenticate(fresh(org.manager_east))
    with django_assert_max_num_queries(8):
        assert api.get("/api/v1/deals/").json()["count"] == 12


def test_activities_and_task_list(api, org, deals):
    api.force_authenticate(fresh(org.rep_east))
    deal = deals["rep_east"]
    call = api.post(
        "/api/v1/activities/", {"kind": "call", "subject": "Discovery call", "deal": deal.pk}
    )
    assert call.status_code == 201 and call.json()["done_at"] is not None
    task = api.post(
        "/api/v1/activities/",
        {"kind": "task", "subject": "Send pricing", "deal": deal.pk, "done": False},
    )
    assert task.json()["done_at"] is None
    todo = api.get("/api/v1/activities/", {"open_tasks": "true"}).json()
    assert [row["subject"] for row in todo["results"]] == ["Send pricing"]
    api.post(f"/api/v1/activities/{task.json()['id']}/complete/")
    assert api.get("/api/v1/activities/", {"open_tasks": "true"}).json()["count"] == 0
    foreign = api.post(
        "/api/v1/activities/", {"kind": "call", "subject": "x", "deal": deals["rep_west"].pk}
    )
    assert foreign.json()["detail"] == "You cannot log activities on this deal."


def test_accounts_are_scoped_and_segmented(api, org, accounts):
    api.force_authenticate(fresh(org.rep_east))
    body = api.get("/api/v1/accounts/").json()
    assert [(row["name"], row["segment"]) for row in body["results"]] == [("rep_east Corp", "mid")]
    created = api.post(
        "/api/v1/accounts/", {"name": "Initech", "employees": 5000, "domain": "WWW.Initech.com"}
    )
    assert created.status_code == 201
    assert (created.json()["segment"], created.json()["domain"]) == ("ent", "initech.com")


def test_schema_documents_the_deal_actions(api, org):
    import yaml

    api.force_authenticate(fresh(org.ops))
    schema = yaml.safe_load(api.get("/api/schema/").content)
    for path in (
        "/api/v1/deals/{id}/move/",
        "/api/v1/deals/{id}/close/",
        "/api/v1/deals/{id}/history/",
        "/api/v1/stages/",
    ):
        assert path in schema["paths"], path

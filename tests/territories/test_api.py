"""Territory API: the same services and checks as the pages; model permissions on reads too
(reps and managers 403, finance read-only); scenarios, the rule tester, region moves, reorder,
rule runs with live progress and their moves; the OpenAPI schema validates."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from celery.result import AsyncResult
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from crm.models import Account
from salesops.celery import app as celery_app
from territories import runs, services
from territories.api.views import plain
from territories.models import (
    AssignmentRule,
    AssignmentRun,
    PlanStatus,
    RunStatus,
    Territory,
    TerritoryMember,
    TerritoryPlan,
)
from tests.conftest import fresh


@pytest.fixture
def plan(org):
    """Live plan: World › west (CA, OR) / east (US rest) / emea (postcodes) / other (catch-all)."""
    ops = org.ops
    plan = services.plan_create_live(name="FY2027 plan", acting_user=ops)
    world = services.territory_save(plan=plan, acting_user=ops, key="world", name="World")
    t = {
        key: services.territory_save(
            plan=plan, acting_user=ops, key=key, name=key.title(), parent=world
        )
        for key in ("west", "east", "emea", "strategic", "other")
    }
    t["world"] = world
    services.member_set(territory=t["west"], user=org.rep_west, role="owner", acting_user=ops)
    services.member_set(territory=t["east"], user=org.rep_east, role="owner", acting_user=ops)
    services.member_set(territory=t["emea"], user=org.rep_london, role="owner", acting_user=ops)
    rule = lambda **fields: services.rule_save(plan=plan, acting_user=ops, fields=fields)  # noqa: E731
    t["rules"] = {
        "west": rule(territory=t["west"], countries=["US"], regions=["CA", "Oregon"]),
        "big_east": rule(territory=t["east"], countries=["US"], employees_min=1000),
        "east": rule(territory=t["east"], countries=["US"]),
        "emea": rule(territory=t["emea"], postal_prefixes=["SW1", "EC"]),
        "other": rule(territory=t["other"], catch_all=True),
    }
    t["plan"] = plan
    return t


@pytest.fixture
def api(org):
    client = APIClient()
    client.force_authenticate(fresh(org.ops))
    return client


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


def rule_order(plan) -> list[str]:
    return [
        f"{r.territory.key}{'*' if r.catch_all else ''}"
        for r in AssignmentRule.objects.filter(plan=plan)
        .select_related("territory")
        .order_by("catch_all", "position", "id")
    ]


# --- permissions ---------------------------------------------------------------------------------


def endpoints(plan) -> list[tuple[str, str, dict]]:
    p, t = plan["plan"], plan["west"]
    member = TerritoryMember.objects.filter(territory=t).first()
    rule = plan["rules"]["east"]
    return [
        ("get", "/api/v1/territory-plans/", {}),
        ("get", f"/api/v1/territory-plans/{p.pk}/", {}),
        ("get", f"/api/v1/territory-plans/{p.pk}/rules.csv", {}),
        ("post", f"/api/v1/territory-plans/{p.pk}/test-rule/", {"country": "US"}),
        ("post", "/api/v1/territory-plans/scenarios/", {"name": "Mine"}),
        ("post", f"/api/v1/territory-plans/{p.pk}/move-region/", {}),
        ("get", "/api/v1/territories/", {}),
        ("get", f"/api/v1/territories/{t.pk}/", {}),
        ("patch", f"/api/v1/territories/{t.pk}/", {"name": "Mine"}),
        ("delete", f"/api/v1/territories/{t.pk}/", {}),
        ("get", "/api/v1/territory-members/", {}),
        ("post", "/api/v1/territory-members/", {}),
        ("delete", f"/api/v1/territory-members/{member.pk}/", {}),
        ("get", "/api/v1/assignment-rules/", {}),
        ("post", "/api/v1/assignment-rules/", {}),
        ("put", f"/api/v1/assignment-rules/{rule.pk}/", {}),
        ("post", "/api/v1/assignment-rules/reorder/", {}),
        ("get", "/api/v1/assignment-runs/", {}),
    ]


def test_reps_and_managers_get_403_on_every_territory_endpoint(org, plan):
    for person in (org.rep_west, org.manager_west, org.vp_americas):
        client = as_user(person)
        for method, url, body in endpoints(plan):
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 403, (person.username, method, url)
    assert Territory.objects.filter(pk=plan["west"].pk, name="West").exists()


def test_anonymous_callers_are_asked_to_sign_in(plan):
    response = APIClient().get("/api/v1/territory-plans/")
    assert response.status_code == 401


def test_finance_reads_everything_and_changes_nothing(org, plan):
    client = as_user(org.finance)
    for method, url, body in endpoints(plan):
        response = getattr(client, method)(url, body, format="json")
        reads = method == "get" or url.endswith("/test-rule/")
        assert response.status_code == (200 if reads else 403), (method, url)
    assert rule_order(plan["plan"]) == ["west", "east", "east", "emea", "other*"]


# --- CRUD ----------------------------------------------------------------------------------------


def test_ops_creates_changes_and_deletes_territories(org, api, plan):
    p = plan["plan"]
    created = api.post(
        "/api/v1/territories/",
        {"plan": p.pk, "key": "norcal", "name": "NorCal", "parent": plan["west"].pk,
         "manager": org.manager_west.pk},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["key"], body["type"], body["parent"], body["members"]) == (
        "norcal", "geo", plan["west"].pk, [],
    )  # fmt: skip
    changed = api.patch(f"/api/v1/territories/{body['id']}/", {"name": "Northern California"})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Northern California"
    assert changed.json()["key"] == "norcal" and changed.json()["parent"] == plan["west"].pk
    duplicate = api.post(
        "/api/v1/territories/", {"plan": p.pk, "key": "norcal", "name": "Again"}, format="json"
    )
    assert duplicate.status_code == 400
    assert duplicate.json() == {
        "detail": "A territory with this key already exists in the plan.", "field": "__all__",
    }  # fmt: skip
    in_use = api.delete(f"/api/v1/territories/{plan['west'].pk}/")
    assert in_use.status_code == 400
    assert in_use.json()["detail"] == (
        "West still has rules or child territories; move or delete them first."
    )
    assert api.delete(f"/api/v1/territories/{body['id']}/").status_code == 204
    assert not Territory.objects.filter(key="norcal").exists()


def test_territory_list_filters_by_plan_and_shows_members(org, api, plan):
    scenario = services.scenario_create(name="Other", acting_user=org.ops)
    listed = api.get("/api/v1/territories/", {"plan": plan["plan"].pk, "key": "west"}).json()
    assert [t["id"] for t in listed["results"]] == [plan["west"].pk]
    assert listed["results"][0]["members"] == [
        {"id": plan["west"].members.get().pk, "user": org.rep_west.pk, "role": "owner"}
    ]
    in_scenario = api.get("/api/v1/territories/", {"plan": scenario.pk}).json()
    assert in_scenario["count"] == 6
    assert {t["plan"] for t in in_scenario["results"]} == {scenario.pk}


def test_ops_sets_changes_and_removes_members(org, api, plan):
    west = plan["west"]
    added = api.post(
        "/api/v1/territory-members/",
        {"territory": west.pk, "user": org.rep_east_2.pk, "role": "overlay"},
        format="json",
    )
    assert added.status_code == 201, added.json()
    member_id = added.json()["id"]
    assert added.json()["territory_key"] == "west" and added.json()["plan"] == plan["plan"].pk
    again = api.post(
        "/api/v1/territory-members/",
        {"territory": west.pk, "user": org.rep_east_2.pk, "role": "owner"},
        format="json",
    )
    assert again.status_code == 201 and again.json()["id"] == member_id  # the role changed
    bad = api.patch(f"/api/v1/territory-members/{member_id}/", {"role": "boss"}, format="json")
    assert bad.status_code == 400
    assert bad.json() == {
        "detail": "'boss' is not a member role (owner, overlay).",
        "field": "role",
    }
    assert (
        api.patch(
            f"/api/v1/territory-members/{member_id}/", {"role": "overlay"}, format="json"
        ).json()["role"]
        == "overlay"
    )
    listed = api.get("/api/v1/territory-members/", {"plan": plan["plan"].pk, "role": "overlay"})
    assert [m["id"] for m in listed.json()["results"]] == [member_id]
    assert api.delete(f"/api/v1/territory-members/{member_id}/").status_code == 204
    assert not TerritoryMember.objects.filter(pk=member_id).exists()


def test_ops_creates_changes_and_deletes_rules(org, api, plan):
    p = plan["plan"]
    created = api.post(
        "/api/v1/assignment-rules/",
        {"plan": p.pk, "territory": plan["strategic"].pk, "name": "Rich",
         "revenue_min": "1000000.00", "countries": ["de", "FR"]},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert (rule["countries"], rule["revenue_min"], rule["position"], rule["territory_key"]) == (
        ["DE", "FR"], "1000000.00", 50, "strategic",
    )  # fmt: skip
    changed = api.patch(
        f"/api/v1/assignment-rules/{rule['id']}/", {"revenue_max": "10.00"}, format="json"
    )
    assert changed.status_code == 400
    assert changed.json() == {
        "detail": "The minimum revenue must not exceed the maximum.", "field": "__all__",
    }  # fmt: skip
    moved = api.patch(
        f"/api/v1/assignment-rules/{rule['id']}/", {"position": 1, "plan": 999}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["plan"] == p.pk  # plan is read-only
    listed = api.get("/api/v1/assignment-rules/", {"plan": p.pk}).json()
    assert [r["territory_key"] for r in listed["results"]] == [
        "strategic", "west", "east", "east", "emea", "other",
    ]  # fmt: skip
    catch_all = plan["rules"]["other"]
    refused = api.delete(f"/api/v1/assignment-rules/{catch_all.pk}/")
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "The catch-all rule cannot be deleted; point it elsewhere instead."
    }
    assert api.delete(f"/api/v1/assignment-rules/{rule['id']}/").status_code == 204
    other_plan_territory = services.scenario_create(
        name="S", acting_user=org.ops
    ).territories.first()
    foreign = api.post(
        "/api/v1/assignment-rules/",
        {"plan": p.pk, "territory": other_plan_territory.pk},
        format="json",
    )
    assert foreign.status_code == 400
    assert foreign.json() == {
        "detail": "The territory belongs to another plan.", "field": "territory",
    }  # fmt: skip


def test_reorder_sets_the_order_and_keeps_the_catch_all_last(org, api, plan):
    rules, p = plan["rules"], plan["plan"]
    order = [rules[k].pk for k in ("emea", "big_east", "west", "east")]
    response = api.post(
        "/api/v1/assignment-rules/reorder/", {"plan": p.pk, "rule_ids": order}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert [(r["id"], r["position"]) for r in response.json()] == [
        (order[0], 10), (order[1], 20), (order[2], 30), (order[3], 40),
        (rules["other"].pk, 50),
    ]  # fmt: skip
    incomplete = api.post(
        "/api/v1/assignment-rules/reorder/", {"plan": p.pk, "rule_ids": order[:2]}, format="json"
    )
    assert incomplete.status_code == 400
    assert incomplete.json()["detail"] == (
        "Give every rule of the plan except the catch-all, once each."
    )


# --- plans and scenarios -------------------------------------------------------------------------


def test_plans_list_and_the_first_live_plan(org, api, plan):
    listed = api.get("/api/v1/territory-plans/", {"status": "live"}).json()
    assert [(p["name"], p["status"], p["is_editable"]) for p in listed["results"]] == [
        ("FY2027 plan", "live", False)
    ]
    second = api.post("/api/v1/territory-plans/", {"name": "Another"}, format="json")
    assert second.status_code == 400
    assert second.json() == {
        "detail": "There is already a live plan; draft a scenario from it instead."
    }


def test_scenario_copies_the_live_plan_and_its_edits_leave_live_alone(org, api, plan):
    live = plan["plan"]
    created = api.post(
        "/api/v1/territory-plans/scenarios/", {"name": "What if", "notes": "Split west"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    scenario = created.json()
    assert (scenario["status"], scenario["based_on"], scenario["is_editable"]) == (
        "draft", live.pk, True,
    )  # fmt: skip
    copy_west = Territory.objects.get(plan_id=scenario["id"], key="west")
    api.patch(f"/api/v1/territories/{copy_west.pk}/", {"name": "Far West"}, format="json")
    copy_rule = AssignmentRule.objects.get(plan_id=scenario["id"], territory=copy_west)
    api.patch(f"/api/v1/assignment-rules/{copy_rule.pk}/", {"regions": ["WA"]}, format="json")
    api.post(
        "/api/v1/territory-members/",
        {"territory": copy_west.pk, "user": org.rep_east_2.pk},
        format="json",
    )
    copy_rule.refresh_from_db()
    assert copy_rule.regions == ["WA"]
    plan["west"].refresh_from_db()
    plan["rules"]["west"].refresh_from_db()
    assert plan["west"].name == "West"
    assert plan["rules"]["west"].regions == ["CA", "Oregon"]
    assert list(plan["west"].members.values_list("user", flat=True)) == [org.rep_west.pk]
    from_scenario = api.post(
        "/api/v1/territory-plans/scenarios/", {"source": scenario["id"]}, format="json"
    )
    assert from_scenario.json()["name"] == "Copy of What if"


def test_archived_scenarios_can_no_longer_be_edited(org, api, plan):
    scenario = services.scenario_create(name="Old idea", acting_user=org.ops)
    archived = api.post(f"/api/v1/territory-plans/{scenario.pk}/archive/")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    territory = scenario.territories.get(key="west")
    refused = api.patch(f"/api/v1/territories/{territory.pk}/", {"name": "X"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "Old idea is archived scenario and can no longer be edited.", "field": "plan",
    }  # fmt: skip
    live = api.post(f"/api/v1/territory-plans/{plan['plan'].pk}/archive/")
    assert live.status_code == 400
    assert live.json()["detail"] == "Only a draft scenario can be archived."


def test_apply_answers_202_with_a_queued_run(org, api, plan):
    scenario = services.scenario_create(name="Next year", acting_user=org.ops)
    today = timezone.localdate()
    response = api.post(
        f"/api/v1/territory-plans/{scenario.pk}/apply/",
        {"effective_date": today.isoformat(), "reassign_open_deals": True},
        format="json",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    run = AssignmentRun.objects.get(pk=body["id"])
    assert (run.plan, run.status, run.reassign_open_deals, run.created_by) == (
        scenario, RunStatus.QUEUED, True, org.ops,
    )  # fmt: skip
    assert (body["status"], body["progress"], body["step"], body["plan_name"]) == (
        "queued", 0, "Waiting for the worker", "Next year",
    )  # fmt: skip
    scenario.refresh_from_db()
    assert (scenario.status, scenario.effective_date) == (PlanStatus.SCHEDULED, today)
    again = api.post(
        f"/api/v1/territory-plans/{plan['plan'].pk}/apply/",
        {"effective_date": today.isoformat()},
        format="json",
    )
    assert again.status_code == 400
    assert again.json()["detail"] == (
        f"Another run ({run}) has not finished yet; wait for it or cancel it first."
    )
    cancelled = api.post(f"/api/v1/assignment-runs/{run.pk}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "failed"
    assert cancelled.json()["error"] == f"Cancelled by {org.ops}."
    scenario.refresh_from_db()
    assert scenario.status == PlanStatus.DRAFT
    assert api.post(f"/api/v1/assignment-runs/{run.pk}/cancel/").json()["detail"] == (
        "This run is failed; it cannot be cancelled."
    )


def test_a_running_run_shows_its_tasks_progress(org, api, plan):
    run = runs.assignment_run_create(
        plan=plan["plan"], effective_date=timezone.localdate(), reassign_open_deals=False,
        acting_user=org.ops,
    )  # fmt: skip
    task_id = f"test-{uuid.uuid4()}"
    # What the worker's task writes as it goes (the real result backend, Redis).
    AsyncResult(task_id, app=celery_app).backend.store_result(
        task_id, {"percent": 40, "step": "Choosing owners"}, "PROGRESS"
    )
    AssignmentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, task_id=task_id)
    body = api.get(f"/api/v1/assignment-runs/{run.pk}/").json()
    assert (body["status"], body["progress"], body["step"]) == (
        "running", 40, "Choosing owners",
    )  # fmt: skip
    listed = api.get("/api/v1/assignment-runs/", {"status": "running"}).json()
    assert [(r["id"], r["progress"]) for r in listed["results"]] == [(run.pk, 40)]


def test_a_runs_moves_are_listed_by_account_and_paginated(org, api, plan):
    accounts = [
        Account.objects.create(name=f"Co {i:02}", owner=org.rep_east, country="US", region="CA")
        for i in range(55)
    ]
    run = runs.assignment_run_create(
        plan=plan["plan"], effective_date=timezone.localdate(), reassign_open_deals=False,
        acting_user=org.ops,
    )  # fmt: skip
    runs.assignment_run_execute(run_id=run.pk)  # what the worker does, here in the test
    done = api.get(f"/api/v1/assignment-runs/{run.pk}/").json()
    assert (done["status"], done["progress"], done["accounts_moved"]) == ("done", 100, 55)
    first = api.get(f"/api/v1/assignment-runs/{run.pk}/moves/").json()
    assert first["count"] == 55 and len(first["results"]) == 50
    assert first["results"][0] == {
        "id": first["results"][0]["id"], "run": run.pk, "account": accounts[0].pk,
        "account_name": "Co 00", "from_territory_key": "", "to_territory": plan["west"].pk,
        "to_territory_key": "west", "from_owner": org.rep_east.pk, "to_owner": org.rep_west.pk,
        "deals_reassigned": 0,
    }  # fmt: skip
    second = api.get(first["next"]).json()
    assert [m["account_name"] for m in second["results"]] == [f"Co {i}" for i in range(50, 55)]
    one = api.get(f"/api/v1/assignment-runs/{run.pk}/moves/", {"account": accounts[3].pk})
    assert [m["account"] for m in one.json()["results"]] == [accounts[3].pk]


# --- the rule tester and region moves ------------------------------------------------------------


def test_the_rule_tester_names_the_territory_and_the_rule(org, api, plan):
    url = f"/api/v1/territory-plans/{plan['plan'].pk}/test-rule/"
    west = api.post(url, {"country": "us", "region": " oregon "}, format="json")
    assert west.status_code == 200, west.json()
    assert west.json()["territory"] == {"id": plan["west"].pk, "key": "west", "name": "West"}
    assert west.json()["rule"]["id"] == plan["rules"]["west"].pk
    big = api.post(url, {"country": "US", "region": "NY", "employees": 5000}, format="json")
    assert (big.json()["rule"]["id"], big.json()["segment"]) == (
        plan["rules"]["big_east"].pk,
        "ent",
    )
    nowhere = api.post(url, {}, format="json").json()
    assert (nowhere["territory"]["key"], nowhere["rule"]["catch_all"]) == ("other", True)
    # an existing account: its own fields (and id, for named-account rules)
    acme = Account.objects.create(name="Acme", owner=org.rep_east, country="GB", postal_code="EC1")
    services.rule_save(
        plan=plan["plan"], acting_user=org.ops,
        fields={"territory": plan["strategic"], "named_account_ids": [acme.pk], "position": 1},
    )  # fmt: skip
    named = api.post(url, {"account": acme.pk}, format="json").json()
    assert named["territory"]["key"] == "strategic"
    as_if = api.post(url, {"account": acme.pk, "country": "US"}, format="json").json()
    assert as_if["territory"]["key"] == "strategic"  # still the named account
    missing = api.post(url, {"account": 10**9}, format="json")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "This account does not exist or is outside your scope."}


def test_a_plan_without_catch_all_cannot_be_tested(org, api, plan):
    scenario = services.scenario_create(name="No catch-all", acting_user=org.ops)
    scenario.rules.filter(catch_all=True).delete()
    response = api.post(f"/api/v1/territory-plans/{scenario.pk}/test-rule/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "rules"


def test_moving_a_region_rewrites_the_rules(org, api, plan):
    p = plan["plan"]
    response = api.post(
        f"/api/v1/territory-plans/{p.pk}/move-region/",
        {"country": "us", "region": "oregon", "territory": plan["strategic"].pk},
        format="json",
    )
    assert response.status_code == 200, response.json()
    rule = response.json()
    assert (rule["territory_key"], rule["countries"], rule["regions"]) == (
        "strategic", ["US"], ["oregon"],
    )  # fmt: skip
    plan["rules"]["west"].refresh_from_db()
    assert plan["rules"]["west"].regions == ["CA"]
    tested = api.post(
        f"/api/v1/territory-plans/{p.pk}/test-rule/", {"country": "US", "region": "Oregon"},
        format="json",
    )  # fmt: skip
    assert tested.json()["territory"]["key"] == "strategic"
    foreign = services.scenario_create(name="S", acting_user=org.ops).territories.get(key="east")
    refused = api.post(
        f"/api/v1/territory-plans/{p.pk}/move-region/",
        {"country": "US", "region": "CA", "territory": foreign.pk},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "The territory belongs to another plan.", "field": "territory",
    }  # fmt: skip


# --- scenario figures ----------------------------------------------------------------------------


def test_diff_and_metrics_come_from_the_scenario_computations(org, api, plan):
    for region in ("CA", "NY"):
        Account.objects.create(
            name=f"Co {region}", owner=org.rep_east, country="US", region=region,
            annual_revenue=Decimal("1000.50"),
        )  # fmt: skip
    run = runs.assignment_run_create(
        plan=plan["plan"], effective_date=timezone.localdate(), reassign_open_deals=False,
        acting_user=org.ops,
    )  # fmt: skip
    runs.assignment_run_execute(run_id=run.pk)
    scenario = services.scenario_create(name="NY west", acting_user=org.ops)
    services.region_move(
        plan=scenario, country="US", region="NY", to=scenario.territories.get(key="west"),
        acting_user=org.ops,
    )  # fmt: skip
    diff = api.get(f"/api/v1/territory-plans/{scenario.pk}/diff/", {"limit": 10})
    assert diff.status_code == 200, diff.json()
    body = diff.json()
    assert (body["scenario"], body["base"], body["territory_moves"], body["limit"]) == (
        scenario.pk, plan["plan"].pk, 1, 10,
    )  # fmt: skip
    assert body["pairs"] == [{"from_key": "east", "to_key": "west", "accounts": 1}]
    metrics = api.get(f"/api/v1/territory-plans/{scenario.pk}/metrics/")
    assert metrics.status_code == 200, metrics.json()
    west = metrics.json()["west"]
    assert (west["accounts"], west["potential"]) == (2, "2001.00")
    bad = api.get(f"/api/v1/territory-plans/{scenario.pk}/metrics/", {"as_of": "soon"})
    assert bad.status_code == 400 and "as_of" in bad.json()


def test_plain_turns_dataclasses_into_json_with_decimals_as_strings():
    from dataclasses import dataclass

    @dataclass
    class Row:
        amount: Decimal
        plan: TerritoryPlan
        tags: tuple

    row = Row(Decimal("1.50"), TerritoryPlan(pk=3), ("a",))
    assert plain({"x": [row]}) == {"x": [{"amount": "1.50", "plan": 3, "tags": ["a"]}]}


# --- OpenAPI -------------------------------------------------------------------------------------


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    GENERATOR_STATS.reset()  # warnings other tests' schema requests left behind
    call_command(
        "spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "schema.yaml")
    )
    schema = (tmp_path / "schema.yaml").read_text()
    for path in (
        "/api/v1/territory-plans/{id}/apply/",
        "/api/v1/territory-plans/{id}/rules.csv",
        "/api/v1/territory-plans/{id}/test-rule/",
        "/api/v1/assignment-rules/reorder/",
        "/api/v1/assignment-runs/{id}/moves/",
    ):
        assert f"  {path}:" in schema, path


def test_lists_take_the_same_queries_however_many_rows(org, api, plan):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    urls = [
        "/api/v1/territory-plans/", "/api/v1/territories/", "/api/v1/territory-members/",
        "/api/v1/assignment-rules/", "/api/v1/assignment-runs/",
    ]  # fmt: skip

    def counts() -> list[int]:
        found = []
        for url in urls:
            with CaptureQueriesContext(connection) as queries:
                assert api.get(url).status_code == 200
            found.append(len(queries))
        return found

    def more_plans_and_runs(how_many: int) -> None:
        for _ in range(how_many):
            scenario = services.scenario_create(name="More", acting_user=org.ops)
            run = runs.assignment_run_create(
                plan=scenario, effective_date=timezone.localdate(), reassign_open_deals=False,
                acting_user=org.ops,
            )  # fmt: skip
            runs.assignment_run_cancel(run=run, acting_user=org.ops)

    more_plans_and_runs(1)
    counts()  # the first request loads the caller's permissions once
    before = counts()
    more_plans_and_runs(3)
    assert counts() == before


def test_admin_lists_and_shows_every_territory_model(client, org, plan):
    from django.contrib import admin

    client.force_login(org.admin)
    models = [m for m in admin.site._registry if m._meta.app_label == "territories"]
    assert len(models) == 11
    for model in models:
        url = f"/admin/territories/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
    assert client.get(f"/admin/territories/territory/{plan['west'].pk}/change/").status_code == 200

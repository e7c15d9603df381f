"""The rules CSV: export in the order rules are tried, bulk edit by import (all or nothing, every
row checked, exactly one catch-all), and a round trip that gives the same rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from salesops.errors import DomainError, NotAllowed
from salesops.imports.engine import run_import
from territories import services
from territories.exports import RULE_COLUMNS, rules_csv
from territories.importers import report_lines, rules_import
from territories.models import AssignmentRule, PlanStatus
from tests.conftest import fresh

HEADER = ",".join(RULE_COLUMNS)


@pytest.fixture
def plan(org):
    """Live plan: World › west / east / emea / strategic / other, with rules of every kind."""
    ops = org.ops
    plan = services.plan_create_live(name="FY2027 plan", acting_user=ops)
    world = services.territory_save(plan=plan, acting_user=ops, key="world", name="World")
    t = {
        key: services.territory_save(
            plan=plan, acting_user=ops, key=key, name=key.title(), parent=world
        )
        for key in ("west", "east", "emea", "strategic", "other")
    }
    services.member_set(territory=t["west"], user=org.rep_west, role="owner", acting_user=ops)
    rule = lambda **fields: services.rule_save(plan=plan, acting_user=ops, fields=fields)  # noqa: E731
    rule(territory=t["strategic"], name="Named, big", named_account_ids=[42, 7], position=5)
    rule(territory=t["west"], name="West", countries=["us"], regions=["CA", "Oregon"], position=10)
    rule(
        territory=t["east"], name="=Big east", countries=["US"], employees_min=1000,
        employees_max=50000, revenue_min=Decimal("1000000.50"), industries=["Software", "Health"],
        segments=["ent"], position=20,
    )  # fmt: skip
    rule(territory=t["emea"], postal_prefixes=["SW1", "EC"], position=40)
    rule(territory=t["other"], catch_all=True, position=1)
    return plan


def snapshot(plan) -> list[tuple]:
    """The plan's rules without ids, in the order they are tried (territories by key)."""
    fields = [f for f in RULE_COLUMNS if f != "territory_key"]
    return [
        (rule.territory.key, *(getattr(rule, f) for f in fields))
        for rule in AssignmentRule.objects.filter(plan=plan)
        .select_related("territory")
        .order_by("catch_all", "position", "id")
    ]


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_export_lists_the_rules_in_the_order_they_are_tried(plan):
    assert rules_csv(plan).splitlines() == [
        "\ufeff" + HEADER,
        '5,strategic,"Named, big",,,,,,,,,,7;42,no',
        "10,west,West,US,CA;Oregon,,,,,,,,,no",
        "20,east,'=Big east,US,,,Software;Health,ent,1000,50000,1000000.50,,,no",
        "40,emea,,,,SW1;EC,,,,,,,,no",
        "1,other,,,,,,,,,,,,yes",  # the catch-all is tried last, whatever its position
    ]


def test_export_then_import_gives_identical_rules(org, plan):
    before = snapshot(plan)
    outcome = rules_import(plan=plan, csv_text=rules_csv(plan), acting_user=fresh(org.ops))
    assert outcome.ok, outcome.report["errors"]
    assert outcome.report["written"] == {"removed": 5, "written": 5}
    assert snapshot(plan) == before
    # and into a scenario: the same keys, so the scenario gets the live plan's rules
    scenario = services.scenario_create(name="Copy", acting_user=org.ops)
    services.rule_delete(rule=scenario.rules.get(name="West"), acting_user=org.ops)
    assert rules_import(plan=scenario, csv_text=rules_csv(plan), acting_user=fresh(org.ops)).ok
    assert snapshot(scenario) == before
    assert all(r.territory.plan_id == scenario.pk for r in scenario.rules.all())


def test_import_replaces_a_scenarios_rules_and_leaves_the_live_plan_alone(org, plan):
    live_before = snapshot(plan)
    scenario = services.scenario_create(name="Bulk edit", acting_user=org.ops)
    catch_all_id = scenario.rules.get(catch_all=True).pk
    text = csv_text(
        "10,west,West,us;Canada,CA;OR;WA,,,,,,,,,no",
        "20,emea,,,,SW1,,,,,,,,no",
        "99,other,Everyone else,,,,,,,,,,,yes",
    )
    outcome = rules_import(plan=scenario, csv_text=text, acting_user=fresh(org.ops))
    assert outcome.ok, outcome.report["errors"]
    assert outcome.report["notes"] == ["Replaces the 5 rules of Bulk edit."]
    assert snapshot(scenario) == [
        ("west", 10, "West", ["CA", "US"], ["CA", "OR", "WA"], [], [], [], None, None, None,
         None, [], False),
        ("emea", 20, "", [], [], ["SW1"], [], [], None, None, None, None, [], False),
        ("other", 99, "Everyone else", [], [], [], [], [], None, None, None, None, [], True),
    ]  # fmt: skip
    assert scenario.rules.get(catch_all=True).pk == catch_all_id  # changed, not replaced
    assert snapshot(plan) == live_before


def test_row_errors_name_row_field_and_reason_and_nothing_is_written(org, plan):
    before = snapshot(plan)
    text = csv_text(
        "10,west,,US,CA,,,,,,,,,no",
        "20,norcal,,US,CA,,,,,,,,,no",  # row 3
        "30,east,,,,,,,lots,,,,,no",
        "40,east,,,,,,,500,100,,,,no",
        "50,east,,,,,,,,,2000000,1000000.50,,no",
        "60,east,,Narnia,,,,huge,,,,,1;x,no",
        "70,other,,,,,,,,,,,,yes",
        "80,emea,,GB,,,,,,,,,,yes",  # row 9: a second catch-all
        "90,emea,,,,,,,,,,,,perhaps",
        ",emea,,,,,,,,,,,,no",
        "100,other,,,,,,,,12.5,,,,no",
    )
    outcome = rules_import(plan=plan, csv_text=text, acting_user=fresh(org.ops))
    assert not outcome.ok
    assert report_lines(outcome.report) == [
        "Row 3, territory_key: no territory 'norcal' in this plan.",
        "Row 4, employees_min: not a number: 'lots'.",
        "Row 5, employees_min: the minimum (500) is more than the maximum (100).",
        "Row 6, revenue_min: the minimum (2000000) is more than the maximum (1000000.50).",
        "Row 7, countries: not a country name or ISO code: 'Narnia'.",
        "Row 7, named_account_ids: not a number: 'x'.",
        "Row 7, segments: 'huge' is not a segment (smb, mid, ent).",
        "Row 9, catch_all: a catch-all rule takes every account left, so it sets no conditions.",
        "Row 10, catch_all: not yes/no (use 1/0, true/false or yes/no): 'perhaps'.",
        "Row 11, position: is required but empty.",
        "Row 12, employees_max: not a whole number: '12.5'.",
    ]
    assert outcome.report["errors"][0] == {
        "row": 3, "field": "territory_key", "message": "no territory 'norcal' in this plan",
    }  # fmt: skip
    assert outcome.report["written"] == {}
    assert snapshot(plan) == before


def test_a_second_catch_all_is_an_error_on_its_row(org, plan):
    text = csv_text("10,other,,,,,,,,,,,,yes", "20,emea,,,,,,,,,,,,yes")
    outcome = rules_import(plan=plan, csv_text=text, acting_user=fresh(org.ops))
    assert report_lines(outcome.report) == [
        "Row 3, catch_all: the catch-all rule is already on row 2; a plan has exactly one."
    ]


def test_a_file_without_a_catch_all_is_refused_and_nothing_is_written(org, plan):
    before = snapshot(plan)
    with pytest.raises(DomainError) as error:
        rules_import(
            plan=plan, csv_text=csv_text("10,west,,US,,,,,,,,,,no"), acting_user=fresh(org.ops)
        )
    assert error.value.message == (
        "The file has no catch-all rule, so some accounts could land nowhere: set catch_all to "
        "yes on the last rule (the one that takes every account left)."
    )
    assert snapshot(plan) == before


def test_the_columns_must_be_those_of_the_export(org, plan):
    text = "position,territory_key,countrys,catch_all\n10,other,,yes\n"
    with pytest.raises(DomainError) as error:
        rules_import(plan=plan, csv_text=text, acting_user=fresh(org.ops))
    assert error.value.message == (
        "The file is not a rules export (unknown columns: countrys; missing columns: name, "
        "countries, regions, postal_prefixes, industries, segments, employees_min, "
        "employees_max, revenue_min, revenue_max, named_account_ids). Its header must be: "
        f"{HEADER}."
    )


def test_a_dry_run_checks_and_writes_nothing(org, plan):
    before = snapshot(plan)
    text = csv_text("10,other,,,,,,,,,,,,yes")
    outcome = rules_import(plan=plan, csv_text=text, acting_user=fresh(org.ops), commit=False)
    assert outcome.ok and not outcome.report["committed"]
    assert snapshot(plan) == before


def test_archived_plans_and_other_roles_are_refused(org, plan):
    scenario = services.scenario_create(name="Old idea", acting_user=org.ops)
    services.scenario_archive(plan=scenario, acting_user=org.ops)
    text = rules_csv(plan)
    with pytest.raises(DomainError) as error:
        rules_import(plan=scenario, csv_text=text, acting_user=fresh(org.ops))
    assert error.value.message == "Old idea is archived scenario and can no longer be edited."
    with pytest.raises(NotAllowed) as refused:
        rules_import(plan=plan, csv_text=text, acting_user=fresh(org.finance))
    assert refused.value.message == "Your role does not allow importing territory rules."
    assert scenario.status == PlanStatus.ARCHIVED


def test_the_generic_import_runs_the_target_with_the_plan_option(org, plan):
    scenario = services.scenario_create(name="Via imports", acting_user=org.ops)
    mapping = {
        "fields": {name: {"column": name} for name in RULE_COLUMNS},
        "options": {"plan": "via imports"},  # a plan's name (any case) or id
    }
    outcome = run_import(
        content=rules_csv(plan).encode(), file_name="rules.csv", target_key="territory_rules",
        mapping=mapping, acting_user=fresh(org.ops), commit=True,
    )  # fmt: skip
    assert outcome.ok and outcome.report["committed"]
    assert snapshot(scenario) == snapshot(plan)
    mapping["options"]["plan"] = ""
    with pytest.raises(DomainError) as error:
        run_import(
            content=rules_csv(plan).encode(), file_name="rules.csv",
            target_key="territory_rules", mapping=mapping, acting_user=fresh(org.ops),
            commit=False,
        )  # fmt: skip
    assert error.value.message == "Choose the territory plan whose rules the file replaces."


# --- API -------------------------------------------------------------------------------------


@pytest.fixture
def api(org):
    client = APIClient()
    client.force_authenticate(fresh(org.ops))
    return client


def test_api_download_is_the_csv(api, plan):
    response = api.get(f"/api/v1/territory-plans/{plan.pk}/rules.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="territory-rules-plan-{plan.pk}.csv"'
    )
    assert response.content.decode() == rules_csv(plan)
    as_csv = api.get(f"/api/v1/territory-plans/{plan.pk}/rules.csv", HTTP_ACCEPT="text/csv")
    assert as_csv.status_code == 200


def test_api_import_of_a_file_replaces_the_rules(org, api, plan):
    scenario = services.scenario_create(name="Upload", acting_user=org.ops)
    upload = SimpleUploadedFile(
        "rules.csv", csv_text("7,emea,,GB,,,,,,,,,,no", "8,other,,,,,,,,,,,,yes").encode()
    )
    response = api.post(
        f"/api/v1/territory-plans/{scenario.pk}/rules-import/", {"file": upload},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    assert response.json()["committed"] is True
    assert response.json()["written"] == {"removed": 5, "written": 2}
    assert [r[0] for r in snapshot(scenario)] == ["emea", "other"]


def test_api_import_errors_answer_400_with_every_row_and_write_nothing(api, plan):
    before = snapshot(plan)
    text = csv_text("10,norcal,,,,,,,,,,,,no", "20,other,,,,,,,,,,,,yes")
    response = api.post(
        f"/api/v1/territory-plans/{plan.pk}/rules-import/", {"text": text}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["messages"] == ["Row 2, territory_key: no territory 'norcal' in this plan."]
    assert body["errors"] == [
        {"row": 2, "field": "territory_key", "message": "no territory 'norcal' in this plan"}
    ]
    assert body["committed"] is False
    assert snapshot(plan) == before
    no_catch_all = api.post(
        f"/api/v1/territory-plans/{plan.pk}/rules-import/",
        {"text": csv_text("10,west,,,,,,,,,,,,no")},
        format="json",
    )
    assert no_catch_all.status_code == 400
    assert no_catch_all.json()["field"] == "catch_all"
    assert no_catch_all.json()["detail"].startswith("The file has no catch-all rule")


def test_api_import_dry_run_and_the_body_it_needs(api, plan):
    before = snapshot(plan)
    url = f"/api/v1/territory-plans/{plan.pk}/rules-import/"
    checked = api.post(url, {"text": rules_csv(plan), "dry_run": True}, format="json")
    assert checked.status_code == 200 and checked.json()["committed"] is False
    assert snapshot(plan) == before
    neither = api.post(url, {}, format="json")
    assert neither.status_code == 400
    assert neither.json() == {
        "non_field_errors": ["Give the CSV as a file or as text (one of them)."]
    }


def test_api_csv_is_for_planners_and_finance_only(org, plan):
    client = APIClient()
    client.force_authenticate(fresh(org.finance))
    assert client.get(f"/api/v1/territory-plans/{plan.pk}/rules.csv").status_code == 200
    refused = client.post(
        f"/api/v1/territory-plans/{plan.pk}/rules-import/",
        {"text": rules_csv(plan)},
        format="json",
    )
    assert refused.status_code == 403
    client.force_authenticate(fresh(org.rep_west))
    refused = client.get(f"/api/v1/territory-plans/{plan.pk}/rules.csv")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to perform this action."}
    as_csv = client.get(f"/api/v1/territory-plans/{plan.pk}/rules.csv", HTTP_ACCEPT="text/csv")
    assert as_csv.status_code == 403
    assert as_csv.content == b"You do not have permission to perform this action."

"""Territory pages on the shared live plan: the tree with its figures and balance, territories and
members, the rule editor (CSV import, tester), the scenario page (region moves, auto-balance,
apply), comparison and runs; who may read and who may change; query-count guards."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal as D
from html import unescape

import pytest
from celery.result import AsyncResult
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import Account, Deal
from salesops.celery import app as celery_app
from territories import runs, services
from territories.exports import RULE_COLUMNS, rules_csv
from territories.models import (
    AssignmentRule,
    AssignmentRun,
    PlanStatus,
    RunStatus,
    Territory,
    TerritoryMember,
    TerritoryPlan,
)
from territories.scenarios import plan_balance, scenario_diff, territory_metrics

TREE = "/territories/"


def page_text(response) -> str:
    """The page's visible words, one space between them (tags dropped)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def scenario_url(plan) -> str:
    return f"/territories/scenarios/{plan.pk}/"


def key_of(scenario, key) -> Territory:
    return scenario.territories.get(key=key)


def rule_snapshot(plan) -> list[tuple]:
    return list(
        AssignmentRule.objects.filter(plan=plan)
        .order_by("catch_all", "position", "id")
        .values_list("territory__key", "position", "countries", "regions", "catch_all")
    )


# --- Who may see and change ---------------------------------------------------------------------


def page_urls(live_plan, scenario, *, reads_only: bool = False) -> list[str]:
    run = live_plan.plan.runs.get()
    forms = [
        f"/territories/rules/{live_plan.rules['california'].pk}/",
        f"/territories/plans/{scenario.pk}/rules/new/",
        f"/territories/plans/{scenario.pk}/territories/new/",
    ]
    return [
        TREE,
        f"{TREE}?plan={scenario.pk}",
        f"/territories/territory/{live_plan.territories['us-west'].pk}/",
        f"/territories/plans/{live_plan.plan.pk}/rules/",
        f"/territories/plans/{live_plan.plan.pk}/rules.csv",
        scenario_url(scenario),
        f"/territories/compare/?b={scenario.pk}",
        "/territories/runs/",
        f"/territories/runs/{run.pk}/",
        *([] if reads_only else forms),
    ]


def test_anonymous_people_are_sent_to_log_in(client, live_plan, scenario):
    for url in page_urls(live_plan, scenario):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


@pytest.mark.parametrize("who", ["rep_east", "manager_east", "vp_americas"])
def test_reps_and_managers_hold_no_territory_permission(client, org, live_plan, scenario, who):
    client.force_login(getattr(org, who))
    for url in page_urls(live_plan, scenario):
        assert client.get(url).status_code == 403, url
    mountain = key_of(scenario, "mountain")
    response = client.post(
        f"{scenario_url(scenario)}move-region/",
        {"country": "US", "region": "CA", "territory": mountain.pk},
    )
    assert response.status_code == 403
    assert rule_snapshot(scenario) == rule_snapshot(live_plan.plan)


def test_finance_reads_every_page_but_changes_nothing(client, org, live_plan, scenario):
    client.force_login(org.finance)
    for url in page_urls(live_plan, scenario, reads_only=True):
        assert client.get(url).status_code == 200, url
    for url in set(page_urls(live_plan, scenario)) - set(
        page_urls(live_plan, scenario, reads_only=True)
    ):
        assert client.get(url).status_code == 403, url  # the edit forms are for planners
    tree = client.get(TREE).content.decode()
    assert "+ Add a territory" not in tree and "New scenario" not in tree
    page = client.get(scenario_url(scenario)).content.decode()
    for form in ("Move the region", "Propose moves", "Archive this scenario", ">Apply<"):
        assert form not in page
    before = rule_snapshot(scenario)
    mountain, us_west = key_of(scenario, "mountain"), key_of(scenario, "us-west")
    writes = [
        ("/territories/scenarios/new/", {"name": "Mine"}),
        (f"{scenario_url(scenario)}move-region/",
         {"country": "US", "region": "CA", "territory": mountain.pk}),
        (f"{scenario_url(scenario)}autobalance/",
         {"parent": us_west.pk, "measure": "accounts", "max_moves": 3, "unit": "region"}),
        (f"/territories/plans/{scenario.pk}/apply/", {"effective_date": str(live_plan.today)}),
        (f"/territories/plans/{scenario.pk}/rules/new/",
         {"territory": mountain.pk, "countries": "US"}),
        (f"/territories/territory/{mountain.pk}/members/",
         {"user": org.rep_east.pk, "role": "owner"}),
        (f"/territories/territory/{mountain.pk}/", {"name": "Rockies", "key": "mountain",
                                                    "type": "geo"}),
        (f"{scenario_url(scenario)}archive/", {}),
    ]  # fmt: skip
    for url, data in writes:
        assert client.post(url, data).status_code == 403, url
    # The tester reads: finance may use it.
    answer = client.post(
        f"/territories/plans/{scenario.pk}/rules/test/", {"country": "US", "region": "CO"}
    )
    assert answer.status_code == 200
    assert rule_snapshot(scenario) == before
    assert TerritoryPlan.objects.count() == 2 and AssignmentRun.objects.count() == 1
    assert mountain.name == Territory.objects.get(pk=mountain.pk).name
    assert not TerritoryMember.objects.filter(territory=mountain, user=org.rep_east).exists()


# --- The tree -----------------------------------------------------------------------------------


def test_the_tree_shows_each_territorys_figures_people_and_balance(client, org, live_plan):
    services.scenario_create(name="FY27 draft", acting_user=org.ops)
    client.force_login(org.ops)
    response = client.get(TREE)
    assert response.status_code == 200
    overview = response.context["overview"]
    rows = {row.key: row for row in overview.rows}
    assert [row.key for row in overview.rows][:3] == ["americas", "canada", "latam"]
    california = rows["california"].metrics
    figures = (california.accounts, california.potential, california.pipeline, california.bookings)
    assert figures == (7, D(202_000_000), D(405_000), D(150_000))
    assert set(rows["northeast"].owners) == {
        live_plan.reps["rep_east"],
        live_plan.reps["rep_east_2"],
    }
    assert rows["us-west"].overlays == [live_plan.reps["se_west"]]
    html = response.content.decode()
    row = re.search(r'<tr data-territory="california".*?</tr>', html, re.S).group(0)
    assert ">7<" in row and "202,000,000" in row and "405,000" in row and "150,000" in row
    assert str(live_plan.reps["rep_ca"]) in row
    # Balance among US West's children on accounts: 7, 4, 5.
    expected = plan_balance(territory_metrics(live_plan.plan), "accounts").by_parent["us-west"]
    us_west = next(b for b in overview.balances if b.key == "us-west")
    assert us_west.children == 3
    assert us_west.scores[0] == ("Accounts", expected)
    balance_row = re.search(r'<tr data-parent="us-west">.*?</tr>', html, re.S).group(0)
    assert f"{expected.cv:.2f}" in balance_row and f"{expected.max_min_ratio:.1f}×" in balance_row
    # Pipeline among US West's children: Pacific NW has none, so max/min is infinite.
    assert "∞" in balance_row
    # The unconverted MXN amounts are flagged; scenarios and runs are listed.
    assert overview.unconverted == 2 and "left out of the figures" in html
    text = page_text(response)
    assert "FY27 draft Draft scenario FY plan" in text
    run = live_plan.plan.runs.get()
    assert f'href="/territories/runs/{run.pk}/"' in html and "Done" in text


def test_the_tree_of_a_scenario_and_an_unknown_plan(client, org, live_plan, scenario):
    client.force_login(org.ops)
    response = client.get(TREE, {"plan": scenario.pk})
    assert response.context["plan"] == scenario
    assert "Draft scenario" in page_text(response)
    assert client.get(TREE, {"plan": 999_999}).status_code == 404
    assert client.get(TREE, {"plan": "x"}).status_code == 404


def test_the_tree_page_query_count_does_not_grow_with_territories(
    client, org, live_plan, django_assert_max_num_queries
):
    client.force_login(org.ops)
    client.get(TREE)  # warm the session and permission caches
    with django_assert_max_num_queries(30):
        assert client.get(TREE).status_code == 200
    us_east = live_plan.territories["us-east"]
    for n in range(15):
        territory = services.territory_save(
            plan=live_plan.plan, acting_user=org.ops, key=f"extra-{n}", name=f"Extra {n}",
            parent=us_east,
        )  # fmt: skip
        services.member_set(
            territory=territory, user=org.rep_east, role="overlay", acting_user=org.ops
        )
    with django_assert_max_num_queries(30):
        response = client.get(TREE)
    assert len(response.context["overview"].rows) == 25


def test_with_no_live_plan_ops_are_offered_to_create_it(client, org):
    client.force_login(org.ops)
    response = client.get(TREE)
    text = page_text(response)
    assert "There is no live territory plan yet" in text
    assert "Create the live plan" in text
    assert "No scenarios yet" in text and "No rule run yet" in text
    created = client.post("/territories/plans/live/", {"name": "FY27 territories"})
    plan = TerritoryPlan.objects.get()
    assert (plan.name, plan.status) == ("FY27 territories", PlanStatus.LIVE)
    assert created["Location"] == f"/territories/plans/{plan.pk}/territories/new/"
    # A second one is refused with the service's words.
    again = client.post("/territories/plans/live/", {"name": "Another"})
    assert again.status_code == 400
    assert "There is already a live plan; draft a scenario from it instead." in page_text(again)
    # The compare page has nothing to compare yet.
    TerritoryPlan.objects.all().delete()
    assert "There is no live plan yet" in page_text(client.get("/territories/compare/"))


def test_with_no_live_plan_finance_sees_the_empty_state_without_a_form(client, org):
    client.force_login(org.finance)
    text = page_text(client.get(TREE))
    assert "There is no live territory plan yet" in text
    assert "Sales ops have not set one up yet." in text and "Create the live plan" not in text


def test_drafting_a_scenario_from_the_tree(client, org, live_plan):
    client.force_login(org.ops)
    response = client.post("/territories/scenarios/new/", {"name": "West split"})
    scenario = TerritoryPlan.objects.get(name="West split")
    assert response["Location"] == scenario_url(scenario)
    assert (scenario.status, scenario.based_on, scenario.created_by) == (
        PlanStatus.DRAFT, live_plan.plan, org.ops,
    )  # fmt: skip
    assert scenario.territories.count() == 10 and scenario.rules.count() == 8


def test_drafting_a_scenario_with_no_live_plan_shows_why_not(client, org):
    client.force_login(org.ops)
    response = client.post("/territories/scenarios/new/", {"name": "Too early"})
    assert response.status_code == 400
    assert "There is no live plan to copy yet." in page_text(response)
    assert not TerritoryPlan.objects.exists()


# --- Territories and members --------------------------------------------------------------------


def test_the_territory_page_shows_figures_members_and_rules(client, org, live_plan):
    client.force_login(org.ops)
    northeast = live_plan.territories["northeast"]
    response = client.get(f"/territories/territory/{northeast.pk}/")
    page = response.context["page"]
    assert (page.metrics.accounts, page.metrics.potential) == (9, D(508_000_000))
    assert [a.key for a in page.ancestors] == ["americas", "us-east"]
    assert {m.user for m in page.members} == {
        live_plan.reps["rep_east"], live_plan.reps["rep_east_2"],
    }  # fmt: skip
    text = page_text(response)
    assert "Named account: Stark Industries" in text and "Region NY or MA or NJ" in text


def test_editing_a_territory_and_a_refusal_shown_on_the_form(client, org, live_plan, scenario):
    client.force_login(org.ops)
    us_west, california = key_of(scenario, "us-west"), key_of(scenario, "california")
    url = f"/territories/territory/{us_west.pk}/"
    edit = {"name": "US West & Rockies", "key": "us-west", "type": "geo",
            "parent": us_west.parent_id, "manager": org.manager_west.pk}  # fmt: skip
    saved = client.post(url, edit)
    assert saved.status_code == 302
    us_west.refresh_from_db()
    assert (us_west.name, us_west.manager) == ("US West & Rockies", org.manager_west)
    # Under its own child: refused, with the service's message on the parent field.
    refused = client.post(url, {"name": "US West", "key": "us-west", "type": "geo",
                                "parent": california.pk})  # fmt: skip
    assert refused.status_code == 400
    assert refused.context["form"].errors["parent"] == [
        "California sits under US West & Rockies; a territory cannot move under itself."
    ]
    us_west.refresh_from_db()
    assert us_west.parent.key == "americas"
    # The live plan's territory is untouched by edits to the scenario.
    assert live_plan.territories["us-west"].name == "US West"


def test_adding_a_territory_with_a_taken_key_is_refused(client, org, live_plan, scenario):
    client.force_login(org.ops)
    url = f"/territories/plans/{scenario.pk}/territories/new/"
    us_west = key_of(scenario, "us-west")
    assert client.get(url, {"parent": us_west.pk}).context["form"]["parent"].value() == str(
        us_west.pk
    )
    added = client.post(url, {"name": "NorCal", "key": "norcal", "type": "geo",
                              "parent": us_west.pk})  # fmt: skip
    assert added["Location"] == f"{TREE}?plan={scenario.pk}"
    assert key_of(scenario, "norcal").parent == us_west
    taken = client.post(url, {"name": "Again", "key": "norcal", "type": "geo"})
    assert taken.status_code == 400
    assert "A territory with this key already exists in the plan." in page_text(taken)
    assert scenario.territories.filter(key="norcal").count() == 1


def test_members_are_added_switched_and_removed(client, org, live_plan, scenario):
    client.force_login(org.ops)
    mountain = key_of(scenario, "mountain")
    url = f"/territories/territory/{mountain.pk}/members/"
    client.post(url, {"user": org.rep_east.pk, "role": "overlay"})
    member = TerritoryMember.objects.get(territory=mountain, user=org.rep_east)
    assert member.role == "overlay"
    client.post(url, {"user": org.rep_east.pk, "role": "owner"})
    member.refresh_from_db()
    assert member.role == "owner"
    client.post(url, {"remove": org.rep_east.pk})
    assert not TerritoryMember.objects.filter(territory=mountain, user=org.rep_east).exists()
    # Finance is no member candidate; an unknown person to remove is a 404.
    bad = client.post(url, {"user": org.finance.pk, "role": "owner"})
    assert bad.status_code == 400 and "Select a valid choice" in page_text(bad)
    assert client.post(url, {"remove": 999_999}).status_code == 404


def test_a_territory_with_rules_cannot_be_deleted(client, org, live_plan, scenario):
    client.force_login(org.ops)
    mountain = key_of(scenario, "mountain")
    response = client.post(f"/territories/territory/{mountain.pk}/delete/", follow=True)
    assert "Mountain still has rules or child territories; move or delete them first." in (
        page_text(response)
    )
    assert Territory.objects.filter(pk=mountain.pk).exists()


# --- Rules --------------------------------------------------------------------------------------


def test_the_rule_editor_lists_rules_in_words_in_the_order_they_are_tried(client, org, live_plan):
    client.force_login(org.ops)
    response = client.get(f"/territories/plans/{live_plan.plan.pk}/rules/")
    rows = response.context["rows"]
    assert [row.conditions for row in rows] == [
        ["Named account: Stark Industries"],
        ["Country US", "Region CA"],
        ["Country US", "Region CO or UT or AZ"],
        ["Country US", "Region WA or OR"],
        ["Country US", "Region NY or MA or NJ"],
        ["Country US", "Region FL or GA or NC"],
        ["Country CA"],
        ["Every account no earlier rule takes (catch-all)"],
    ]
    assert rows[-1].rule.catch_all and response.context["has_catch_all"]
    assert "No catch-all rule" not in page_text(response)


def test_rules_are_added_edited_reordered_and_deleted(client, org, live_plan, scenario):
    client.force_login(org.ops)
    mountain = key_of(scenario, "mountain")
    added = client.post(
        f"/territories/plans/{scenario.pk}/rules/new/",
        {"territory": mountain.pk, "name": "Big Mexico", "countries": "mx; us",
         "industries": "Mining, Steel", "segments": ["ent", "mid"], "employees_min": 100,
         "employees_max": 5000, "revenue_min": "1000000"},
    )  # fmt: skip
    assert added["Location"] == f"/territories/plans/{scenario.pk}/rules/"
    rule = scenario.rules.get(name="Big Mexico")
    assert (rule.countries, rule.industries, rule.segments, rule.position) == (
        ["MX", "US"], ["Mining", "Steel"], ["ent", "mid"], 80,
    )  # fmt: skip
    page = client.get(f"/territories/plans/{scenario.pk}/rules/")
    words = next(row.conditions for row in page.context["rows"] if row.rule == rule)
    assert words == [
        "Country MX or US", "Industry Mining or Steel", "Segment Enterprise or Mid-market",
        "Employees 100–5,000", "Annual revenue ≥ 1,000,000",
    ]  # fmt: skip
    # Edit keeps the position when none is given.
    client.post(f"/territories/rules/{rule.pk}/", {"territory": mountain.pk, "countries": "MX"})
    rule.refresh_from_db()
    assert (rule.countries, rule.industries, rule.position) == (["MX"], [], 80)
    # Up one step: it is now tried before Canada's rule.
    client.post(f"/territories/rules/{rule.pk}/move/", {"direction": "up"})
    order = [r.pk for r in scenario.rules.order_by("catch_all", "position")]
    canada_rule = scenario.rules.get(territory__key="canada")
    assert order.index(rule.pk) == order.index(canada_rule.pk) - 1
    client.post(f"/territories/rules/{rule.pk}/delete/")
    assert not scenario.rules.filter(pk=rule.pk).exists()


def test_rule_form_shows_the_services_refusals(client, org, live_plan, scenario):
    client.force_login(org.ops)
    catch_all = scenario.rules.get(catch_all=True)
    response = client.post(
        f"/territories/rules/{catch_all.pk}/",
        {"territory": catch_all.territory_id, "catch_all": "on", "countries": "US"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["catch_all"] == [
        "A catch-all rule takes every account left, so it sets no conditions."
    ]
    ranged = client.post(
        f"/territories/plans/{scenario.pk}/rules/new/",
        {"territory": catch_all.territory_id, "employees_min": 500, "employees_max": 100},
    )
    assert "The minimum employees must not exceed the maximum." in page_text(ranged)
    deleted = client.post(f"/territories/rules/{catch_all.pk}/delete/", follow=True)
    assert "The catch-all rule cannot be deleted; point it elsewhere instead." in (
        page_text(deleted)
    )
    assert rule_snapshot(scenario) == rule_snapshot(live_plan.plan)


def test_the_rule_tester_answers_with_the_territory_and_the_rule(client, org, live_plan):
    client.force_login(org.ops)
    url = f"/territories/plans/{live_plan.plan.pk}/rules/test/"

    def ask(**data):
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert response.templates[0].name == "territories/partials/tester_result.html"
        return response

    stark = ask(account="Stark Industries")
    assert stark.context["landing"].territory == live_plan.territories["northeast"]
    assert "Matched rule Strategic accounts (position 10)." in page_text(stark)
    # Typed fields win over the account's: the same company moved to Colorado (named still wins).
    by_id = ask(account=str(live_plan.accounts["Denver Data"].pk), region="wa")
    assert by_id.context["landing"].territory.key == "pacific"
    typed = ask(country="us", region="co", employees=50)
    assert typed.context["landing"].territory.key == "mountain"
    assert typed.context["landing"].rule == live_plan.rules["mountain"]
    elsewhere = ask(country="BR")
    assert "Matched the catch-all rule." in page_text(elsewhere)
    assert elsewhere.context["landing"].territory.key == "latam"
    several = ask(account="Software")
    assert "'Software' names several accounts" in page_text(several)
    assert "Pick an account or fill in at least one field." in page_text(ask())
    # Without htmx the answer comes on the rules page.
    full = client.post(url, {"country": "CA"})
    assert full.templates[0].name == "territories/rules.html"
    assert "→ Canada" in page_text(full)


def test_rules_csv_export_and_an_import_with_errors_writes_nothing(
    client, org, live_plan, scenario
):
    client.force_login(org.ops)
    exported = client.get(f"/territories/plans/{scenario.pk}/rules.csv")
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported.content.decode().lstrip("\ufeff") == rules_csv(scenario).lstrip("\ufeff")
    before = rule_snapshot(scenario)
    header = ",".join(RULE_COLUMNS)
    bad = "\n".join([
        header,
        "10,mountain,Rockies,US,CO;UT,,,,,,,,,no",
        "20,norcal,,US,CA,,,,,,,,,no",
        "30,pacific,,US,WA,,,,500,100,,,,no",
        "40,latam,,,,,,,,,,,,yes",
    ])  # fmt: skip
    upload = SimpleUploadedFile("rules.csv", bad.encode(), content_type="text/csv")
    response = client.post(f"/territories/plans/{scenario.pk}/rules/import/", {"file": upload})
    assert response.status_code == 400
    text = page_text(response)
    assert "2 errors on 2 rows: nothing was imported." in text
    assert "3 territory_key no territory 'norcal' in this plan" in text
    assert "4 employees_min the minimum (500) is more than the maximum (100)" in text
    assert rule_snapshot(scenario) == before
    # A file that is not a rules export at all: the whole-file message, on the form.
    wrong = SimpleUploadedFile("x.csv", b"name,amount\nA,1\n", content_type="text/csv")
    response = client.post(f"/territories/plans/{scenario.pk}/rules/import/", {"file": wrong})
    assert "The file is not a rules export" in page_text(response)
    # The good rows alone replace every rule.
    good = "\n".join([bad.splitlines()[0], bad.splitlines()[1], bad.splitlines()[4]])
    upload = SimpleUploadedFile("rules.csv", good.encode(), content_type="text/csv")
    done = client.post(
        f"/territories/plans/{scenario.pk}/rules/import/", {"file": upload}, follow=True
    )
    assert "Imported 2 rules; the 8 rules before them are replaced." in page_text(done)
    assert rule_snapshot(scenario) == [
        ("mountain", 10, ["US"], ["CO", "UT"], False), ("latam", 40, [], [], True),
    ]  # fmt: skip


# --- Scenarios ----------------------------------------------------------------------------------


def test_moving_a_state_changes_the_scenarios_figures_balance_and_moves(
    client, org, live_plan, scenario
):
    client.force_login(org.ops)
    mountain = key_of(scenario, "mountain")
    moved = client.post(
        f"{scenario_url(scenario)}move-region/",
        {"country": "us", "region": "CA", "territory": mountain.pk},
        follow=True,
    )
    assert "CA (US) now goes to Mountain" in page_text(moved)
    response = client.get(scenario_url(scenario))
    page = response.context["page"]
    rows = {row.row.key: row for row in page.rows}
    assert (rows["california"].row.metrics.accounts, rows["mountain"].row.metrics.accounts) == (
        0, 11,
    )  # fmt: skip
    assert (rows["california"].deltas["accounts"], rows["mountain"].deltas["accounts"]) == (-7, 7)
    # Balance of US West's children: 7/4/5 live, 0/11/5 in the scenario.
    us_west = next(b for b in page.balances if b.key == "us-west")
    live_balance = plan_balance(territory_metrics(live_plan.plan), "accounts").by_parent["us-west"]
    assert us_west.live == live_balance and us_west.plan.max_min_ratio is None
    assert us_west.plan.cv > us_west.live.cv
    # The chart: Americas' children by default, on accounts.
    assert page.chart["data"][0]["x"] == ["Canada", "LATAM & rest", "US East", "US West"]
    assert 'id="balance-chart"' in response.content.decode()
    # What moves: the seven Californian accounts (Stark is a named account of the Northeast).
    assert page.moved.diff.territory_moves == 7
    assert page.moved.pairs() == [("california>mountain", "California", "Mountain", 7)]
    names = [row.name for row, _from, _to in page.moved.rows()]
    assert "Golden Gate Labs" in names and "Stark Industries" not in names
    text = page_text(response)
    assert "7 accounts change territory · 7 change owner · of 40 accounts." in text
    assert rule_snapshot(live_plan.plan) != rule_snapshot(scenario)
    assert Account.objects.filter(territory_id=live_plan.territories["california"].pk).count() == 7


def test_scenario_sections_come_alone_to_htmx(client, org, live_plan, scenario):
    services.region_move(
        plan=scenario, country="US", region="CA", to=key_of(scenario, "mountain"),
        acting_user=org.ops,
    )  # fmt: skip
    client.force_login(org.ops)
    balance = client.get(
        scenario_url(scenario), {"measure": "potential", "parent": "us-west"},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET="balance",
    )  # fmt: skip
    assert balance.templates[0].name == "territories/partials/balance.html"
    html = balance.content.decode()
    assert html.lstrip().startswith('<section class="card" id="balance"')
    chart = balance.context["page"].chart
    assert chart["data"][0]["x"] == ["California", "Mountain", "Pacific NW"]
    assert chart["data"][0]["y"] == [0.0, 223_000_000.0, 9_500_000.0]
    moved = client.get(
        scenario_url(scenario), {"pair": "california>mountain", "page": 1},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET="moved",
    )  # fmt: skip
    assert moved.templates[0].name == "territories/partials/moved.html"
    assert moved.context["moved"].pager.count == 7
    assert len(moved.context["moved"].diff.rows) == 7


def test_the_moved_accounts_list_is_paginated(client, org, live_plan, scenario):
    # 30 more Californian accounts: 37 move when California goes to Mountain.
    from crm.services import account_save

    for n in range(30):
        account = account_save(acting_user=org.ops, name=f"Bay Co {n:02}", country="US",
                               region="CA")  # fmt: skip
        Account.objects.filter(pk=account.pk).update(
            territory_id=live_plan.territories["california"].pk
        )
    services.region_move(
        plan=scenario, country="US", region="CA", to=key_of(scenario, "mountain"),
        acting_user=org.ops,
    )  # fmt: skip
    client.force_login(org.ops)
    first = client.get(scenario_url(scenario)).context["page"].moved
    assert (first.pager.count, first.pager.num_pages, len(first.diff.rows)) == (37, 2, 25)
    second = client.get(scenario_url(scenario), {"page": 2}).context["page"].moved
    assert len(second.diff.rows) == 12 and second.pager.has_previous


def test_the_scenario_page_query_count_is_bounded(
    client, org, live_plan, scenario, django_assert_max_num_queries
):
    client.force_login(org.ops)
    client.get(scenario_url(scenario))
    with django_assert_max_num_queries(70):
        assert client.get(scenario_url(scenario)).status_code == 200
    for n in range(15):
        services.territory_save(
            plan=scenario, acting_user=org.ops, key=f"extra-{n}", name=f"Extra {n}",
            parent=key_of(scenario, "us-east"),
        )  # fmt: skip
    with django_assert_max_num_queries(70):
        assert client.get(scenario_url(scenario)).status_code == 200


def test_auto_balance_proposes_and_accepting_writes_the_scenario(client, org, live_plan, scenario):
    services.region_move(
        plan=scenario, country="US", region="CA", to=key_of(scenario, "mountain"),
        acting_user=org.ops,
    )  # fmt: skip
    client.force_login(org.ops)
    us_west = key_of(scenario, "us-west")
    response = client.post(
        f"{scenario_url(scenario)}autobalance/",
        {"parent": us_west.pk, "measure": "accounts", "max_moves": 5, "unit": "region"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response.templates[0].name == "territories/partials/proposal.html"
    proposal = response.context["proposal"]
    assert proposal.moves and proposal.proposal.after.cv < proposal.proposal.before.cv
    assert all(m.from_name == "Mountain" and m.to_name == "Pacific NW" for m in proposal.moves)
    text = page_text(response)
    assert proposal.proposal.message in text
    assert f"Accept the {len(proposal.moves)} move" in text
    moves = unescape(re.search(r'name="moves" value="([^"]*)"', response.content.decode())[1])
    before = scenario_diff(scenario).territory_moves
    accepted = client.post(f"{scenario_url(scenario)}autobalance/accept/", {"moves": moves},
                           follow=True)  # fmt: skip
    assert "Accepted:" in page_text(accepted)
    after = accepted.context["page"]
    loads = {row.row.key: row.row.metrics.accounts for row in after.rows}
    assert loads["mountain"] + loads["pacific"] == 16 and loads["pacific"] > 5
    assert scenario_diff(scenario).territory_moves == before + sum(
        int(m.move.load) for m in proposal.moves
    )
    # The same proposal again is out of date: refused, nothing changes.
    snapshot = rule_snapshot(scenario)
    again = client.post(f"{scenario_url(scenario)}autobalance/accept/", {"moves": moves},
                        follow=True)  # fmt: skip
    assert "Propose again." in page_text(again)
    assert rule_snapshot(scenario) == snapshot


def test_auto_balance_refusals_show_on_its_form(client, org, live_plan, scenario):
    client.force_login(org.ops)
    response = client.post(
        f"{scenario_url(scenario)}autobalance/",
        {"parent": key_of(scenario, "us-west").pk, "measure": "accounts", "max_moves": -1,
         "unit": "region"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 0." in page_text(response)
    broken = client.post(f"{scenario_url(scenario)}autobalance/accept/", {"moves": "[1]"},
                         follow=True)  # fmt: skip
    assert "The proposal could not be read; propose again." in page_text(broken)


def test_applying_a_scenario_queues_a_run_whose_page_follows_the_worker(
    client, org, live_plan, scenario
):
    services.region_move(
        plan=scenario, country="US", region="CA", to=key_of(scenario, "mountain"),
        acting_user=org.ops,
    )  # fmt: skip
    client.force_login(org.ops)
    response = client.post(
        f"/territories/plans/{scenario.pk}/apply/",
        {"effective_date": str(live_plan.today), "reassign_open_deals": "on"},
    )
    run = AssignmentRun.objects.get(plan=scenario)
    assert response["Location"] == f"/territories/runs/{run.pk}/"
    assert (run.status, run.reassign_open_deals) == (RunStatus.QUEUED, True)
    scenario.refresh_from_db()
    assert scenario.status == PlanStatus.SCHEDULED
    waiting = client.get(f"/territories/runs/{run.pk}/")
    assert waiting.context["progress"].active
    assert f'hx-get="/territories/runs/{run.pk}/" hx-trigger="every 1s"' in (
        waiting.content.decode()
    )
    # The worker reports progress in its task state while its transaction is open (the run row
    # still says queued): the page shows it live.
    task_id = f"test-{uuid.uuid4()}"
    AsyncResult(task_id, app=celery_app).backend.store_result(
        task_id, {"percent": 40, "step": "Choosing owners"}, "PROGRESS"
    )
    AssignmentRun.objects.filter(pk=run.pk).update(task_id=task_id)
    running = client.get(f"/territories/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert running.templates[0].name == "territories/partials/run_status.html"
    assert "Running 40 %" in page_text(running) and "Choosing owners" in page_text(running)
    polled = client.get("/territories/runs/", HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in polled.content.decode()
    # What the worker does, here in the test.
    runs.assignment_run_execute(run_id=run.pk)
    done = client.get(f"/territories/runs/{run.pk}/", HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in done.content.decode()
    moves = done.context["moves"]
    assert moves.by_territory == [("California", "Mountain", 7)]
    golden = next(r for r in moves.rows if r.move.account.name == "Golden Gate Labs")
    assert golden.move.to_owner == live_plan.reps["rep_mountain"] and golden.owner_changed
    assert golden.move.deals_reassigned == 1
    assert Deal.objects.get(name="gg-negotiation").owner == live_plan.reps["rep_mountain"]
    assert "Done" in page_text(done) and "open deals reassigned" in page_text(done)
    assert (
        "hx-trigger"
        not in client.get("/territories/runs/", HTTP_HX_REQUEST="true").content.decode()
    )


def test_an_apply_date_before_the_latest_run_is_refused_on_the_form(
    client, org, live_plan, scenario
):
    client.force_login(org.ops)
    earlier = live_plan.today - dt.timedelta(days=3)
    response = client.post(
        f"/territories/plans/{scenario.pk}/apply/", {"effective_date": str(earlier)}
    )
    assert response.status_code == 400
    assert response.context["apply_form"].errors["effective_date"] == [
        f"The effective date must be on or after {live_plan.today:%Y-%m-%d}, the date of the "
        "latest run: assignments cannot be rewritten behind a later one."
    ]
    assert AssignmentRun.objects.count() == 1
    scenario.refresh_from_db()
    assert scenario.status == PlanStatus.DRAFT


def test_the_live_plans_rules_can_be_applied_again_from_the_tree(client, org, live_plan):
    client.force_login(org.ops)
    tree = client.get(TREE).content.decode()
    assert (
        "Apply the live plan&#x27;s rules again" in tree
        or "Apply the live plan's rules again" in tree
    )
    response = client.post(
        f"/territories/plans/{live_plan.plan.pk}/apply/",
        {"effective_date": str(live_plan.today + dt.timedelta(days=30))},
    )
    run = AssignmentRun.objects.filter(plan=live_plan.plan).order_by("-pk").first()
    assert response["Location"] == f"/territories/runs/{run.pk}/"
    assert run.status == RunStatus.SCHEDULED
    cancelled = client.post(f"/territories/runs/{run.pk}/cancel/", follow=True)
    assert "Run cancelled; nothing was applied." in page_text(cancelled)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_archiving_makes_the_scenario_read_only(client, org, live_plan, scenario):
    client.force_login(org.ops)
    client.post(f"{scenario_url(scenario)}archive/")
    scenario.refresh_from_db()
    assert scenario.status == PlanStatus.ARCHIVED
    page = client.get(scenario_url(scenario))
    text = page_text(page)
    assert "This plan is archived scenario: it can be read and compared" in text
    assert "Move the region" not in text and "Propose moves" not in text
    # A region move posted anyway: the service refuses, on the form.
    refused = client.post(
        f"{scenario_url(scenario)}move-region/",
        {"country": "US", "region": "CA", "territory": key_of(scenario, "mountain").pk},
    )
    assert refused.status_code == 400
    assert "What if is archived scenario and can no longer be edited." in page_text(refused)
    again = client.post(f"{scenario_url(scenario)}archive/", follow=True)
    assert "Only a draft scenario can be archived." in page_text(again)


# --- Compare ------------------------------------------------------------------------------------


def test_compare_shows_two_plans_side_by_side_with_deltas(client, org, live_plan, scenario):
    services.region_move(
        plan=scenario, country="US", region="CA", to=key_of(scenario, "mountain"),
        acting_user=org.ops,
    )  # fmt: skip
    client.force_login(org.ops)
    response = client.get("/territories/compare/", {"b": scenario.pk, "measure": "potential"})
    assert response.status_code == 200
    page = response.context["page"]
    assert (page.comparison.a, page.comparison.b) == (live_plan.plan, scenario)
    rows = {row.key: row for row in page.comparison.rows}
    assert rows["california"].delta["accounts"] == -7
    assert rows["mountain"].delta["potential"] == D(202_000_000)
    assert [trace["name"] for trace in page.chart["data"]][0].startswith("FY plan (CV ")
    html = response.content.decode()
    row = re.search(r'<tr data-territory="mountain">.*?</tr>', html, re.S).group(0)
    assert "+202,000,000" in row and ">+7<" in row
    us_west = next(b for b in page.balances if b[0] == "us-west")
    assert us_west[3].cv < us_west[4].cv
    bad = client.get("/territories/compare/", {"a": live_plan.plan.pk, "b": 999_999})
    assert bad.status_code == 400 and "Select a valid choice" in page_text(bad)


def test_a_territory_page_shows_its_quota_and_attainment(client, org, pipeline):
    """A parent territory's quota against the won deals of the accounts in it and below it;
    its quota is found by key, so it survives a new plan going live."""
    from django.utils import timezone

    from crm.services import deal_close, deal_create
    from salesops.org.selectors import fiscal_calendar
    from territories.models import Quota, QuotaPlan, QuotaPlanStatus
    from tests.conftest import fresh

    today = timezone.localdate()
    calendar = fiscal_calendar()
    plan = services.plan_create_live(name="Live", acting_user=org.ops)
    west = services.territory_save(plan=plan, acting_user=org.ops, key="west", name="West")
    norcal = services.territory_save(plan=plan, acting_user=org.ops, key="norcal",
                                     name="NorCal", parent=west)  # fmt: skip
    account = Account.objects.create(name="Bay Co", owner=org.rep_west, territory_id=norcal.pk)
    deal = deal_create(acting_user=fresh(org.rep_west), account=account, name="Won",
                       amount=D(1000), close_date=today)  # fmt: skip
    deal_close(deal=deal, won=True, acting_user=fresh(org.rep_west), expected_version=1)
    quotas = QuotaPlan.objects.create(
        fiscal_year=calendar.fiscal_year_of(today), target=D(16000), status=QuotaPlanStatus.PUBLISHED,
        month_weights=[D(1)] * 12,
    )  # fmt: skip
    for kind, amount in (("quarter", 4000), ("year", 16000)):
        period = calendar.period(today, kind)
        Quota.objects.create(
            plan=quotas, period_kind=kind, period_key=period.key, period_start=period.start,
            period_end=period.end, territory=west, amount=D(amount), full_amount=D(amount),
        )  # fmt: skip
    client.force_login(org.finance)
    response = client.get(f"/territories/territory/{west.pk}/")
    rows = [(r.quota, r.bookings, r.attainment) for r in response.context["page"].attainment]
    assert rows == [(D(4000), D(1000), D("0.2500")), (D(16000), D(1000), D("0.0625"))]
    assert "25 %" in page_text(response)

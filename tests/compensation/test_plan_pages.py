"""Comp plan pages: the list (counts, who has not accepted), a plan in words with its versions,
assignments and exports, the builder (with the document's errors next to their fields), import,
publish and new version, the assignments page (one, many, end with htmx), and a rep's My plan
with Accept; a rep sees only the plans they are on, and accepts only their own.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compensation import documents, plans
from compensation.models import CompPlan, PlanAssignment, PlanStatus
from salesops.org.selectors import fiscal_calendar
from tests import factories
from tests.compensation.conftest import JAN_1, PLAN_KEY, make_plan
from tests.conftest import fresh

HX = {"HTTP_HX_REQUEST": "true"}


def page(response) -> str:
    return response.content.decode()


def assign(org, plan, user, start=JAN_1, **fields) -> PlanAssignment:
    return plans.assignment_create(
        plan=plan, user=user, start_date=start, acting_user=org.ops, **fields
    )


def row(html: str, attribute: str, value) -> str:
    return re.search(rf'<tr {attribute}="{value}">(.*?)</tr>', html, re.S).group(1)


@pytest.fixture
def this_year_plan(org) -> CompPlan:
    """A published plan of the current fiscal year, so an assignment from its first day is
    running today."""
    return make_plan(org, key="ae-now", name="AE plan now", fiscal_year=this_year())


def this_year() -> int:
    return fiscal_calendar().fiscal_year_of(timezone.localdate())


# --- Access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/comp/plans/", "/comp/plans/new/", "/comp/my-plan/"])
def test_anonymous_is_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_every_role_has_the_comp_plans_nav_item(client, org):
    assert reverse("compensation:plan_list") == "/comp/plans/"
    for user in (org.rep_east, org.manager_east, org.ops, org.finance, org.admin):
        client.force_login(user)
        assert '<a href="/comp/plans/"' in page(client.get("/")), user


# --- List and detail -----------------------------------------------------------------------------


def test_ops_see_plans_with_counts_and_who_has_not_accepted(
    client, org, ae_plan, django_assert_max_num_queries
):
    east = assign(org, ae_plan, org.rep_east)
    assign(org, ae_plan, org.rep_west)
    plans.plan_accept(assignment=east, acting_user=fresh(org.rep_east))
    make_plan(org, key="sdr-2027", name="SDR plan", publish=False)
    client.force_login(org.ops)
    with CaptureQueriesContext(connection) as small:
        response = client.get("/comp/plans/")
    html = page(response)
    ae_row = row(html, "data-plan", ae_plan.pk)
    assert "AE plan" in ae_row and "v1" in ae_row and "Published" in ae_row
    assert "FY2027" in ae_row and "ae-2027" in ae_row
    assert re.search(r"data-assigned>2<", ae_row) and re.search(r"data-unaccepted>1<", ae_row)
    assert "Draft" in html and "New plan" in html and "Import a plan" in html
    unaccepted = html[html.index('data-testid="unaccepted"') :]
    assert str(org.rep_west) in unaccepted and str(org.rep_east) not in unaccepted

    for n in range(4):  # more plans and people waiting: no more queries
        person = factories.rep(org.west, username=f"extra_{n}")
        assign(org, make_plan(org, key=f"extra-{n}"), person)
    with django_assert_max_num_queries(12):
        response = client.get("/comp/plans/")
    assert len(response.context["plans"]) == 6 and len(response.context["unaccepted"]) == 5
    with CaptureQueriesContext(connection) as large:
        client.get("/comp/plans/")
    assert len(large) == len(small)


def test_plan_detail_describes_the_plan_and_exports_it(client, org, ae_plan):
    assign(org, ae_plan, org.rep_east, target_incentive=70000)
    client.force_login(org.ops)
    html = page(client.get(f"/comp/plans/{ae_plan.pk}/"))
    assert (
        "Tiers (marginal): 0–50 % at 4 %, 50–100 % at 8 %, above 100 % at 12 % (Accelerator); "
        "cap 200 % of quota." in html
    )
    assert "Pays USD 500.00 per deal." in html
    ae_role = row(html, "data-role", "AE")
    assert "USD 60,000.00" in ae_role and "USD 150,000.00" in ae_role  # target and OTE
    assert 'data-version="1"' in html and "Not accepted" in html and "USD 70,000.00" in html
    assert "Start a new version" in html and ">Publish<" not in html
    assert f'href="/comp/whatif/?plan={ae_plan.pk}"' in html  # ops may model its cost

    response = client.get(f"/comp/plans/{ae_plan.pk}/plan.yaml")
    assert response["Content-Type"] == "application/yaml; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ae-2027-v1.yaml"'
    assert yaml.safe_load(page(response)) == ae_plan.document
    response = client.get(f"/comp/plans/{ae_plan.pk}/plan.json")
    assert json.loads(page(response)) == ae_plan.document


def test_a_rep_sees_only_the_plans_they_are_on(client, org, ae_plan):
    other = make_plan(org, key="sdr-2027", name="SDR plan")
    assign(org, ae_plan, org.rep_east)
    client.force_login(org.rep_east)
    assert "/comp/whatif/" not in page(client.get(f"/comp/plans/{ae_plan.pk}/"))
    client.force_login(org.rep_west)
    assert client.get(f"/comp/plans/{ae_plan.pk}/").status_code == 404
    assert client.get(f"/comp/plans/{ae_plan.pk}/plan.yaml").status_code == 404
    assert f'data-plan="{ae_plan.pk}"' not in page(client.get("/comp/plans/"))

    client.force_login(org.rep_east)
    html = page(client.get("/comp/plans/"))
    assert f'data-plan="{ae_plan.pk}"' in html and f'data-plan="{other.pk}"' not in html
    assert "data-unaccepted" not in html  # counts are for sales ops
    assert client.get(f"/comp/plans/{other.pk}/").status_code == 404
    html = page(client.get(f"/comp/plans/{ae_plan.pk}/"))
    assert "Start a new version" not in html and "Tiers (marginal)" in html
    assert client.post(f"/comp/plans/{ae_plan.pk}/new-version/").status_code == 403
    client.force_login(org.manager_east)  # their rep's plan, not theirs
    assert client.get(f"/comp/plans/{ae_plan.pk}/").status_code == 404


def test_finance_reads_plans_but_builds_nothing(client, org, ae_plan):
    client.force_login(org.finance)
    assert client.get(f"/comp/plans/{ae_plan.pk}/").status_code == 200
    html = page(client.get("/comp/plans/"))
    assert f'data-plan="{ae_plan.pk}"' in html and "New plan" not in html
    assert client.get("/comp/plans/new/").status_code == 403
    assert client.get("/comp/plans/import/").status_code == 403
    assert client.post(f"/comp/plans/{ae_plan.pk}/publish/").status_code == 403
    assert client.post(f"/comp/plans/{ae_plan.pk}/assignments/", {}).status_code == 403


# --- Builder -------------------------------------------------------------------------------------


def management(prefix: str, total: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def builder_post(**changes) -> dict:
    data = {
        "plan-key": "ae-2028",
        "plan-name": "AE plan 2028",
        "plan-fiscal_year": "2028",
        "plan-currency": "usd",
        "plan-credit_date": "close_date",
        "plan-draw_kind": "",
        **management("roles", 2),
        "roles-0-role": "AE",
        "roles-0-target_incentive": "60000",
        "roles-0-base_salary": "90000",
        "component-key": "bookings",
        "component-name": "Bookings commission",
        "component-kind": "commission",
        "component-measure": "bookings",
        "component-period": "quarter",
        "component-credit_types": ["owner", "split"],
        "component-quota_source": "quota_plan",
        "component-tier_mode": "marginal",
        "component-cap_attainment": "200",
        **management("tiers", 3),
        "tiers-0-floor": "0",
        "tiers-0-rate": "0.04",
        "tiers-1-floor": "50",
        "tiers-1-rate": "0.08",
        "tiers-2-floor": "100",
        "tiers-2-rate": "0.12",
        "tiers-2-label": "Accelerator",
    }
    data.update(changes)
    return data


def test_the_builder_creates_a_draft_from_its_forms(client, org):
    client.force_login(org.ops)
    assert client.get("/comp/plans/new/").status_code == 200
    response = client.post("/comp/plans/new/", builder_post())
    plan = CompPlan.objects.get(key="ae-2028")
    assert response.status_code == 302 and response["Location"] == f"/comp/plans/{plan.pk}/"
    assert (plan.version, plan.status, plan.currency, plan.fiscal_year) == (1, "draft", "USD", 2028)
    component = plan.document["components"][0]
    assert component["credit_types"] == ["owner", "split"]
    assert [(t["floor"], t["rate"], t["label"]) for t in component["tiers"]] == [
        ("0", "0.04", ""),
        ("50", "0.08", ""),
        ("100", "0.12", "Accelerator"),
    ]
    assert component["quota"] == {"source": "quota_plan", "amount": None}
    assert plan.document["roles"] == [
        {"role": "AE", "target_incentive": "60000", "base_salary": "90000"}
    ]
    html = page(client.get(f"/comp/plans/{plan.pk}/"))
    assert "Tiers (marginal): 0–50 % at 4 %, 50–100 % at 8 %, above 100 % at 12 %" in html
    assert ">Publish<" in html and "Add a component" in html


def test_the_builder_shows_the_documents_errors_next_to_their_fields(client, org):
    client.force_login(org.ops)
    response = client.post("/comp/plans/new/", builder_post(**{"tiers-0-floor": "10"}))
    assert response.status_code == 200
    component = response.context["component"]
    assert component.non_field_errors() == [
        "components.0.tiers: the first tier must start at 0 % of quota"
    ]
    assert "the first tier must start at 0 % of quota" in page(response)

    response = client.post(
        "/comp/plans/new/",
        builder_post(**{"component-quota_source": "fixed", "plan-fiscal_year": "1999"}),
    )
    assert response.context["header"].errors["fiscal_year"]  # the form's own range check
    response = client.post("/comp/plans/new/", builder_post(**{"component-quota_source": "fixed"}))
    assert response.context["component"].errors["quota_source"] == [
        "components.0.quota: a fixed quota needs an amount above zero"
    ]
    response = client.post("/comp/plans/new/", builder_post(**{"roles-1-role": "SDR"}))
    assert response.context["roles"].forms[1].errors == {
        "target_incentive": ["roles.1.target_incentive: Field required"]
    }
    response = client.post(
        "/comp/plans/new/",
        builder_post(**{"roles-1-role": "AE", "roles-1-target_incentive": "1"}),
    )
    assert response.context["header"].non_field_errors() == ["each role appears once in roles"]
    response = client.post("/comp/plans/new/", builder_post(**{"tiers-1-rate": ""}))
    assert "A tier needs both its floor and its rate." in page(response)
    assert not CompPlan.objects.exists()


def test_components_are_added_edited_and_removed_on_a_draft(client, org, ae_plan):
    draft = plans.plan_new_version(plan=ae_plan, acting_user=org.ops)
    client.force_login(org.ops)
    html = page(client.get(f"/comp/plans/{draft.pk}/components/bookings/"))
    assert 'value="0.04"' in html and 'value="Accelerator"' in html

    bonus = {
        "component-key": "q4-spif",
        "component-name": "Q4 SPIF",
        "component-kind": "bonus",
        "component-measure": "acv",
        "component-period": "quarter",
        "component-bonus_amount": "5000",
        "component-target": "250000",
        "component-window_start": "2027-10-01",
        "component-window_end": "2027-12-31",
        **management("tiers", 3),
    }
    response = client.post(f"/comp/plans/{draft.pk}/components/new/", bonus)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert [c["key"] for c in draft.document["components"]] == ["bookings", "new-logos", "q4-spif"]
    html = page(client.get(f"/comp/plans/{draft.pk}/"))
    assert "Pays USD 5,000.00 on reaching USD 250,000.00." in html

    edited = {**bonus, "component-bonus_amount": "6000", "component-key": "new-logos"}
    response = client.post(f"/comp/plans/{draft.pk}/components/q4-spif/", edited)
    assert response.context["form"].non_field_errors() == [
        "component keys must be unique within a plan"
    ]
    edited["component-key"] = "q4-spif"
    client.post(f"/comp/plans/{draft.pk}/components/q4-spif/", edited)
    draft.refresh_from_db()
    assert draft.document["components"][2]["bonus_amount"] == "6000"

    client.post(f"/comp/plans/{draft.pk}/components/q4-spif/delete/")
    draft.refresh_from_db()
    assert len(draft.document["components"]) == 2
    ae_plan.refresh_from_db()
    assert len(ae_plan.document["components"]) == 2

    response = client.get(f"/comp/plans/{ae_plan.pk}/components/new/", follow=True)
    assert "AE plan v1 is published: start a new version to edit." in page(response)


def test_the_header_and_roles_of_a_draft_are_edited(client, org):
    draft = make_plan(org, publish=False)
    client.force_login(org.ops)
    html = page(client.get(f"/comp/plans/{draft.pk}/edit/"))
    assert 'value="AE plan"' in html and "plan-key" not in html
    data = {
        "plan-name": "AE plan (revised)",
        "plan-fiscal_year": "2027",
        "plan-currency": "USD",
        "plan-credit_date": "invoice_date",
        "plan-draw_kind": "recoverable",
        "plan-draw_monthly_amount": "2000",
        "plan-draw_months": "3",
        **management("roles", 1),
        "roles-0-role": "AE",
        "roles-0-target_incentive": "65000",
    }
    response = client.post(f"/comp/plans/{draft.pk}/edit/", data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.name == "AE plan (revised)" and draft.document["credit_date"] == "invoice_date"
    assert draft.document["roles"] == [
        {"role": "AE", "target_incentive": "65000", "base_salary": "0"}
    ]
    html = page(client.get(f"/comp/plans/{draft.pk}/"))
    assert "Recoverable draw of USD 2,000.00 a month for the first 3 months" in html


# --- Import, publish, new version ----------------------------------------------------------------


def test_import_pasted_yaml_or_an_uploaded_json_file(client, org, ae_plan):
    client.force_login(org.ops)
    text = documents.render(documents.validate(ae_plan.document), "yaml")
    response = client.post("/comp/plans/import/", {"key": "pasted", "text": text})
    pasted = CompPlan.objects.get(key="pasted")
    assert response["Location"] == f"/comp/plans/{pasted.pk}/"
    assert pasted.document == ae_plan.document and pasted.status == PlanStatus.DRAFT

    upload = SimpleUploadedFile(
        "plan.json", documents.render(documents.validate(ae_plan.document), "json").encode()
    )
    client.post("/comp/plans/import/", {"key": PLAN_KEY, "file": upload})
    assert CompPlan.objects.get(key=PLAN_KEY, version=2).document == ae_plan.document

    response = client.post("/comp/plans/import/", {"key": "bad", "text": "name: x\n"})
    assert "The plan document is not valid: fiscal_year: Field required" in page(response)
    response = client.post("/comp/plans/import/", {"key": "bad"})
    assert "Upload a plan file or paste the document." in page(response)


def test_publish_with_moving_assignments_and_start_a_new_version(client, org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    client.force_login(org.ops)
    response = client.post(f"/comp/plans/{ae_plan.pk}/new-version/")
    draft = CompPlan.objects.get(key=PLAN_KEY, version=2)
    assert response["Location"] == f"/comp/plans/{draft.pk}/"
    html = page(client.get(f"/comp/plans/{draft.pk}/"))
    assert "Move assignments from" in html and ">Publish<" in html
    response = client.post(
        f"/comp/plans/{draft.pk}/publish/", {"move_assignments_from": "2027-04-01"}, follow=True
    )
    assert (
        "AE plan v2 published; everyone on earlier versions moves to it from 2027-04-01."
        in page(response)
    )
    east.refresh_from_db()
    assert east.end_date == dt.date(2027, 3, 31)
    assert PlanAssignment.objects.get(plan__version=2).start_date == dt.date(2027, 4, 1)
    response = client.post(f"/comp/plans/{draft.pk}/publish/", follow=True)
    assert "AE plan v2 is published, so it cannot be published again" in page(response)


# --- Assignments ---------------------------------------------------------------------------------


def test_ops_put_one_or_many_people_on_a_plan_and_end_an_assignment(client, org, ae_plan):
    client.force_login(org.ops)
    url = f"/comp/plans/{ae_plan.pk}/assignments/"
    html = page(client.get(url))
    assert "Add people" in html and str(org.rep_east) in html
    response = client.post(
        url,
        {"users": [org.rep_east.pk], "start_date": "2027-01-01", "target_incentive": "70000"},
    )
    assert response.status_code == 302
    response = client.post(
        url, {"users": [org.rep_east.pk, org.rep_west.pk], "start_date": "2027-02-01"}
    )
    assert (
        f"No one was put on AE plan v1: {org.rep_east} is already on AE plan v1 from 2027-01-01, "
        "open-ended" in page(response)
    )
    client.post(url, {"users": [org.rep_west.pk, org.rep_london.pk], "start_date": "2027-02-01"})
    assert PlanAssignment.objects.filter(plan=ae_plan).count() == 3

    east = PlanAssignment.objects.get(user=org.rep_east)
    response = client.post(
        f"/comp/assignments/{east.pk}/end/", {"end_date": "2027-05-31", "reason": "Leave"}, **HX
    )
    assert response.templates[0].name == "compensation/plans/partials/assignments_table.html"
    html = page(response)
    assert f"{org.rep_east}&#x27;s assignment ends on 2027-05-31." in html
    assert "2027-05-31" in row(html, "data-assignment", east.pk)
    response = client.post(f"/comp/assignments/{east.pk}/end/", {"end_date": "2026-01-01"}, **HX)
    assert "it cannot end before that (2026-01-01)" in page(response)

    west = PlanAssignment.objects.get(user=org.rep_west)
    client.post(f"/comp/assignments/{west.pk}/delete/")
    assert not PlanAssignment.objects.filter(pk=west.pk).exists()


def test_reps_and_managers_cannot_assign_or_end(client, org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    client.force_login(org.manager_east)
    assert (
        client.post(f"/comp/assignments/{east.pk}/end/", {"end_date": "2027-02-01"}).status_code
        == 403
    )
    client.force_login(org.rep_west)
    assert (
        client.post(f"/comp/assignments/{east.pk}/end/", {"end_date": "2027-02-01"}).status_code
        == 404
    )
    east.refresh_from_db()
    assert east.end_date is None


# --- My plan -------------------------------------------------------------------------------------


def test_a_rep_reads_their_plan_in_words_and_accepts_it(client, org, this_year_plan):
    first_day = fiscal_calendar().year_start(this_year())
    assignment = assign(org, this_year_plan, org.rep_east, start=first_day)
    client.force_login(org.rep_east)
    html = page(client.get("/comp/my-plan/"))
    assert "AE plan now" in html and 'data-when="current"' in html
    assert "Tiers (marginal): 0–50 % at 4 %" in html and "USD 60,000.00" in html
    assert "Accept the plan" in html
    assert "You are on" in page(client.get("/comp/plans/"))

    response = client.post(f"/comp/assignments/{assignment.pk}/accept/", **HX)
    assert response.templates[0].name == "compensation/plans/partials/acceptance.html"
    assignment.refresh_from_db()
    accepted_at = assignment.accepted_at
    assert accepted_at is not None
    assert f"on {timezone.localtime(accepted_at):%Y-%m-%d %H:%M}" in page(response)

    response = client.post(f"/comp/assignments/{assignment.pk}/accept/", follow=True)
    assert "You accepted AE plan now v1." in page(response)
    assignment.refresh_from_db()
    assert assignment.accepted_at == accepted_at  # the first time stays
    html = page(client.get("/comp/my-plan/"))
    assert "Accept the plan" not in html and "Accepted" in html


def test_my_plan_shows_the_plan_coming_up_and_nothing_when_there_is_none(client, org, ae_plan):
    client.force_login(org.rep_east)
    assert "You are on no comp plan yet" in page(client.get("/comp/my-plan/"))
    assign(org, ae_plan, org.rep_east)  # FY2027: starts after today
    html = page(client.get("/comp/my-plan/"))
    assert 'data-when="upcoming"' in html and "Coming up: AE plan" in html


def test_no_one_accepts_someone_elses_assignment(client, org, this_year_plan):
    first_day = fiscal_calendar().year_start(this_year())
    assignment = assign(org, this_year_plan, org.rep_east, start=first_day)
    client.force_login(org.rep_west)  # not theirs to see
    assert client.post(f"/comp/assignments/{assignment.pk}/accept/").status_code == 404
    client.force_login(org.manager_east)  # sees their rep's, may not accept it
    assert client.post(f"/comp/assignments/{assignment.pk}/accept/").status_code == 403
    client.force_login(org.ops)
    assert client.post(f"/comp/assignments/{assignment.pk}/accept/").status_code == 403
    assignment.refresh_from_db()
    assert assignment.accepted_at is None

"""Quota planning API: plans (create, allocate, propose, publish, capacity), quotas (scoped list
and filters, PATCH through ``quota_set``, history), reviews (decide), ramp profiles; model
permissions on reads too, the services' own checks and messages; the schema validates.

Figures (``quota_setup``): a 120,000.00 FY2027 target on the equal basis gives each of the four
reps 2,500.00 a month.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from territories import quotas
from territories.models import (
    QuotaPlan,
    QuotaPlanStatus,
    QuotaReview,
    QuotaSource,
    RampProfile,
    ReviewStatus,
)
from tests.conftest import fresh
from tests.territories.quota_setup import (
    FY,
    LOCKED,
    D,
    amount,
    approve,
    make_plan,
    publish,
    quota,
    review_order,
)

PLANS = "/api/v1/quota-plans/"
QUOTAS = "/api/v1/quotas/"
REVIEWS = "/api/v1/quota-reviews/"
PROFILES = "/api/v1/ramp-profiles/"


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


@pytest.fixture
def api(org) -> APIClient:
    return as_user(org.ops)


# --- Plans -----------------------------------------------------------------------------------


def test_ops_create_allocate_propose_and_publish_a_plan(api, org):
    response = api.post(
        PLANS,
        {"fiscal_year": FY, "target": "120000.00", "basis": "equal",
         "month_weights": ["7", "7", "9", "7", "7", "9", "7", "7", "9", "8", "8", "15"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.data
    body = response.data
    assert (body["fiscal_year"], body["target"], body["currency"], body["status"]) == (
        FY,
        "120000.00",
        "USD",
        "draft",
    )
    assert body["month_weights"][-1] == "15.0000" and body["reviews"] == []
    plan_id = body["id"]

    response = api.post(PLANS, {"fiscal_year": FY, "target": "1"}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "detail": "There is already a quota plan for FY2027; change that one instead.",
        "field": "fiscal_year",
    }
    response = api.post(f"{PLANS}{plan_id}/propose/")
    assert response.status_code == 400
    assert response.data["detail"] == "Allocate FY2027 quotas before proposing them."

    response = api.post(f"{PLANS}{plan_id}/allocate/", {"as_of": "2026-11-01"}, format="json")
    assert response.status_code == 200 and response.data["status"] == "draft"
    plan = QuotaPlan.objects.get(pk=plan_id)
    assert amount(plan, "2027", user=org.rep_east) == D("30000.00")

    response = api.post(f"{PLANS}{plan_id}/propose/")
    assert response.data["status"] == "in_review"
    assert [(r["team_name"], r["level"], r["status"]) for r in response.data["reviews"]] == [
        ("Americas", 0, "pending"),
        ("EMEA", 0, "pending"),
        ("East", 1, "pending"),
        ("London", 1, "pending"),
        ("West", 1, "pending"),
    ]
    response = api.post(f"{PLANS}{plan_id}/publish/")
    assert response.status_code == 400
    assert response.data["detail"] == (
        "FY2027 quotas can be published once every manager has accepted them; they are in review."
    )
    for team, manager in review_order(org):
        review = plan.reviews.get(team=team)
        assert (
            as_user(manager)
            .post(f"{REVIEWS}{review.pk}/decide/", {"accept": True}, format="json")
            .status_code
            == 200
        )
    response = api.post(f"{PLANS}{plan_id}/publish/")
    assert response.status_code == 200
    assert (response.data["status"], response.data["is_locked"]) == ("published", True)
    assert response.data["published_by"] == org.ops.pk

    response = api.post(f"{PLANS}{plan_id}/allocate/", {}, format="json")
    assert response.status_code == 400 and response.data["detail"] == LOCKED


def test_plan_input_is_checked_by_the_service(api, org):
    cases = [
        ({"target": "-5"}, "The target cannot be negative; got -5."),
        ({"currency": "EUR"}, "Quotas are set in the corporate currency, USD; give the target in USD, not EUR."),
        ({"basis": "luck"}, "'luck' is not an allocation basis (potential, history, equal)."),
        ({"month_weights": ["1"] * 11}, "Seasonality needs 12 monthly weights (fiscal months 1-12); got 11."),
    ]  # fmt: skip
    for fields, message in cases:
        response = api.post(PLANS, {"fiscal_year": FY, "target": "100", **fields}, format="json")
        assert response.status_code == 400 and response.data["detail"] == message
    assert not QuotaPlan.objects.exists()


def test_plan_permissions_and_scope(org):
    plan = make_plan(org)
    make_plan(org, fiscal_year=2028, allocate=False)
    anonymous = APIClient()
    assert anonymous.get(PLANS).status_code == 401
    finance = as_user(org.finance)
    assert [p["fiscal_year"] for p in finance.get(PLANS).data["results"]] == [2028, 2027]
    assert finance.post(PLANS, {"fiscal_year": 2030, "target": "1"}).status_code == 403
    assert finance.post(f"{PLANS}{plan.pk}/propose/").status_code == 403
    # A rep or manager sees the plans that hold a quota of theirs (not the empty 2028 draft).
    rep = as_user(org.rep_east)
    assert [p["fiscal_year"] for p in rep.get(PLANS).data["results"]] == [2027]
    assert rep.get(f"{PLANS}{plan.pk}/").data["reviews"] == []
    assert rep.post(f"{PLANS}{plan.pk}/allocate/").status_code == 403
    manager = as_user(org.manager_east)
    assert manager.post(f"{PLANS}{plan.pk}/publish/").status_code == 403
    assert manager.get(f"{PLANS}?status=draft").data["count"] == 1
    assert as_user(org.ops).get(f"{PLANS}?status=in_review").data["count"] == 0


def test_the_plan_shows_the_review_chain_in_the_callers_scope(api, org):
    plan = make_plan(org)
    quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    assert len(api.get(f"{PLANS}{plan.pk}/").data["reviews"]) == 5
    chain = as_user(org.vp_americas).get(f"{PLANS}{plan.pk}/").data["reviews"]
    assert [r["team_name"] for r in chain] == ["Americas", "East", "West"]


# --- Capacity --------------------------------------------------------------------------------


def test_capacity_with_query_parameters(api, org):
    plan = make_plan(org, allocate=False)  # 10,000 a month
    url = f"{PLANS}{plan.pk}/capacity/"
    response = api.get(
        url, {"productivity": "2500", "attrition_percent": "0", "backfill_months": 1}
    )
    assert response.status_code == 200
    data = response.data
    assert [m["capacity"] for m in data["months"]] == ["10000.00"] * 12
    assert data["months"][0] == {
        "month": "2027-01-01", "heads": "4.0000", "ramped_heads": "4.0000",
        "capacity": "10000.00", "target": "10000.00", "gap": "0.00", "coverage_ratio": "1.0000",
    }  # fmt: skip
    assert data["total"] == {
        "capacity": "120000.00", "target": "120000.00", "gap": "0.00", "coverage_ratio": "1.0000",
    }  # fmt: skip
    assert data["reachable"] is True

    response = api.get(url, {"productivity": "2500", "hires": "2027-07:1"})
    capacities = [m["capacity"] for m in response.data["months"]][5:10]
    assert capacities == ["10000.00", "10625.00", "11250.00", "11875.00", "12500.00"]
    response = api.get(url, {"productivity": "2000"})
    assert response.data["reachable"] is False and response.data["total"]["gap"] == "24000.00"

    response = api.get(url, {"productivity": "2500", "hires": "July:2"})
    assert response.status_code == 400
    assert response.data == {"hires": ["'July:2' is not YYYY-MM:count (e.g. 2027-07:2)."]}
    response = api.get(url, {"productivity": "2500", "attrition_percent": "150"})
    assert response.status_code == 400 and "attrition_percent" in response.data

    assert as_user(org.manager_east).get(url).status_code == 404  # no quota of theirs
    make_plan(org, fiscal_year=2028)
    other = QuotaPlan.objects.get(fiscal_year=2028)
    response = as_user(org.manager_east).get(f"{PLANS}{other.pk}/capacity/")
    assert response.status_code == 403
    assert as_user(org.finance).get(url, {"productivity": "1"}).status_code == 200


# --- Quotas ----------------------------------------------------------------------------------


def test_quotas_are_listed_in_scope_with_filters(api, org, django_assert_max_num_queries):
    plan = make_plan(org)
    with django_assert_max_num_queries(8):
        response = api.get(QUOTAS, {"plan": plan.pk, "period_kind": "year", "page_size": 100})
    # 4 reps + 5 teams + no territories (no live territory plan).
    assert response.data["count"] == 9
    response = api.get(QUOTAS, {"plan": plan.pk, "period_key": "2027-M03", "user": org.rep_east.pk})
    [march] = response.data["results"]
    assert (march["holder_type"], march["amount"], march["full_amount"], march["source"]) == (
        "rep",
        "2500.00",
        "2500.00",
        "top_down",
    )
    assert march["fiscal_year"] == FY and march["period_start"] == "2027-03-01"
    teams = api.get(QUOTAS, {"plan": plan.pk, "period_key": "2027", "holder_type": "team"})
    assert teams.data["count"] == 5
    east = api.get(QUOTAS, {"plan": plan.pk, "period_key": "2027", "team": org.east.pk})
    assert [q["amount"] for q in east.data["results"]] == ["60000.00"]

    rep = as_user(org.rep_east)  # own quotas and their team's
    rows = rep.get(QUOTAS, {"period_key": "2027"}).data["results"]
    assert sorted((q["holder_type"], q["user"] or q["team"]) for q in rows) == [
        ("rep", org.rep_east.pk),
        ("team", org.east.pk),
    ]
    london = quota(plan, "2027", user=org.rep_london)
    assert rep.get(f"{QUOTAS}{london.pk}/").status_code == 404
    manager = as_user(org.manager_east)
    rows = manager.get(QUOTAS, {"period_key": "2027"}).data["results"]
    assert sorted(q["user"] or -q["team"] for q in rows) == sorted(
        [org.rep_east.pk, org.rep_east_2.pk, -org.east.pk]
    )
    assert APIClient().get(QUOTAS).status_code == 401


def test_patch_sets_a_quota_through_quota_set(api, org):
    plan = make_plan(org)
    march = quota(plan, "2027-M03", user=org.rep_east)
    response = api.patch(f"{QUOTAS}{march.pk}/", {"amount": "3000.00"}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "detail": "Say why the quota changes: a reason is required and kept in its history.",
        "field": "reason",
    }
    response = api.patch(f"{QUOTAS}{march.pk}/", {"amount": "1.005", "reason": "x"}, format="json")
    assert response.data["detail"] == "A quota is in whole USD cents; 1.005 has more decimals."
    response = api.patch(
        f"{QUOTAS}{march.pk}/", {"amount": "3000.00", "reason": "Big renewal"}, format="json"
    )
    assert response.status_code == 200
    assert (response.data["amount"], response.data["source"]) == ("3000.00", "manual")
    assert amount(plan, "2027-Q01", user=org.rep_east) == D("8000.00")
    assert amount(plan, "2027", user=org.rep_east) == D("30500.00")
    history = api.get(f"{QUOTAS}{march.pk}/history/").data
    assert [(h["action"], h["amount_before"], h["amount_after"]) for h in history] == [
        ("insert", None, "2500.00"),
        ("update", "2500.00", "3000.00"),
    ]
    assert (history[-1]["user"], history[-1]["reason"]) == (org.ops.pk, "Big renewal")
    assert api.put(f"{QUOTAS}{march.pk}/", {"amount": "1"}).status_code == 405
    assert api.delete(f"{QUOTAS}{march.pk}/").status_code == 405
    assert api.post(QUOTAS, {}).status_code == 405


def test_patch_is_for_sales_ops_and_refused_once_published(api, org):
    plan = make_plan(org)
    march = quota(plan, "2027-M03", user=org.rep_east)
    body = {"amount": "1.00", "reason": "x"}
    for person in (org.finance, org.manager_east, org.rep_east):
        assert as_user(person).patch(f"{QUOTAS}{march.pk}/", body, format="json").status_code == 403
    publish(org, plan)
    response = api.patch(f"{QUOTAS}{march.pk}/", body, format="json")
    assert response.status_code == 400 and response.data["detail"] == LOCKED
    assert quota(plan, "2027-M03", user=org.rep_east).source == QuotaSource.TOP_DOWN


# --- Reviews ---------------------------------------------------------------------------------


def test_reviewers_list_theirs_and_decide(org):
    plan = make_plan(org)
    quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    vp = as_user(org.vp_americas)
    mine = vp.get(REVIEWS, {"mine": "true"}).data["results"]
    assert [(r["team_name"], r["fiscal_year"], r["status"]) for r in mine] == [
        ("Americas", FY, "pending")
    ]
    scoped = vp.get(REVIEWS).data["results"]  # and their subtree's managers'
    assert sorted(r["team_name"] for r in scoped) == ["Americas", "East", "West"]
    assert [r["team_name"] for r in vp.get(REVIEWS, {"waiting": "true"}).data["results"]] == [
        "Americas"
    ]
    east = plan.reviews.get(team=org.east)
    response = as_user(org.manager_east).post(
        f"{REVIEWS}{east.pk}/decide/", {"accept": True}, format="json"
    )
    assert response.status_code == 400
    assert response.data["detail"] == f"Waiting for Americas ({org.vp_americas}) to accept first."
    # Not their review: another manager gets 403 from the service, a rep 404 (out of scope).
    americas = plan.reviews.get(team=org.americas)
    response = as_user(org.vp_emea).post(f"{REVIEWS}{americas.pk}/decide/", {"accept": True})
    assert response.status_code == 404
    response = as_user(org.ops).post(f"{REVIEWS}{americas.pk}/decide/", {"accept": True})
    assert response.status_code == 403
    assert (
        response.data["detail"] == f"Only {org.vp_americas} reviews the FY2027 quotas of Americas."
    )
    assert as_user(org.rep_east).get(REVIEWS).status_code == 403  # reps review nothing

    response = vp.post(f"{REVIEWS}{americas.pk}/decide/", {"accept": False}, format="json")
    assert response.data["detail"] == (
        "Say what should change: sending the quotas back needs a comment."
    )
    response = vp.post(
        f"{REVIEWS}{americas.pk}/decide/",
        {"accept": False, "comment": "West is too low"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.data["status"], response.data["comment"]) == ("sent_back", "West is too low")
    plan.refresh_from_db()
    assert plan.status == QuotaPlanStatus.DRAFT
    assert QuotaReview.objects.get(pk=americas.pk).status == ReviewStatus.SENT_BACK


def test_the_last_acceptance_approves_the_plan(org):
    plan = approve(org, make_plan(org))
    assert plan.status == QuotaPlanStatus.APPROVED
    assert as_user(org.ops).get(REVIEWS, {"status": "accepted"}).data["count"] == 5


# --- Ramp profiles ---------------------------------------------------------------------------


def test_ramp_profiles_crud_through_the_service(api, org):
    response = api.post(
        PROFILES, {"name": "Standard", "percents": ["25", "50", "75"]}, format="json"
    )
    assert response.status_code == 201
    assert response.data["percents"] == ["25.00", "50.00", "75.00"]
    profile_id = response.data["id"]
    response = api.post(PROFILES, {"name": "standard", "percents": ["10"]}, format="json")
    assert response.status_code == 400
    assert response.data["detail"] == "A ramp profile named 'standard' already exists."
    response = api.post(PROFILES, {"name": "Odd", "percents": ["50", "120"]}, format="json")
    assert response.data["detail"] == "Tenure month 2: '120' is not a percentage from 0 to 100."
    response = api.patch(f"{PROFILES}{profile_id}/", {"name": "Std"}, format="json")
    assert response.status_code == 200 and response.data["percents"] == ["25.00", "50.00", "75.00"]
    response = api.put(
        f"{PROFILES}{profile_id}/", {"name": "Std", "percents": ["30", "60"]}, format="json"
    )
    assert response.data == {"id": profile_id, "name": "Std", "percents": ["30.00", "60.00"]}
    assert api.delete(f"{PROFILES}{profile_id}/").status_code == 405

    profile = RampProfile.objects.get(pk=profile_id)
    publish(org, make_plan(org, ramp_profile=profile))
    response = api.patch(f"{PROFILES}{profile_id}/", {"percents": ["10"]}, format="json")
    assert response.status_code == 400
    assert response.data["detail"] == (
        "Std ramps the published FY2027 quotas, so its percents cannot change; create a new "
        "profile instead."
    )
    finance = as_user(org.finance)
    assert finance.get(PROFILES).data["count"] == 1
    assert (
        finance.post(PROFILES, {"name": "X", "percents": ["1"]}, format="json").status_code == 403
    )
    assert as_user(org.manager_east).get(PROFILES).status_code == 403
    assert as_user(org.rep_east).get(PROFILES).status_code == 403


# --- Schema ----------------------------------------------------------------------------------


def test_the_openapi_schema_validates_with_the_quota_endpoints(tmp_path):
    GENERATOR_STATS.reset()  # warnings other tests' schema requests left behind
    call_command(
        "spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "schema.yaml")
    )
    schema = (tmp_path / "schema.yaml").read_text()
    for path in (
        "/api/v1/quota-plans/",
        "/api/v1/quota-plans/{id}/allocate/",
        "/api/v1/quota-plans/{id}/propose/",
        "/api/v1/quota-plans/{id}/publish/",
        "/api/v1/quota-plans/{id}/capacity/",
        "/api/v1/quota-plans/{id}/quotas.csv",
        "/api/v1/quota-plans/{id}/quotas-import/",
        "/api/v1/quotas/{id}/",
        "/api/v1/quotas/{id}/history/",
        "/api/v1/quota-reviews/{id}/decide/",
        "/api/v1/ramp-profiles/{id}/",
    ):
        assert f"  {path}:" in schema, path

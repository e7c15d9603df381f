"""Quota pages: the plans, the planning grid and its inline edits, reviews, a rep's quota and
attainment, the capacity model and ramp profiles; each role sees its own scope.

Figures (``quota_setup``): a 120,000.00 FY2027 target on the equal basis gives each of the four
reps 2,500.00 a month.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from salesops.org import services as org_services
from territories import quotas
from territories.models import (
    Quota,
    QuotaPlan,
    QuotaPlanStatus,
    QuotaReview,
    QuotaSource,
    RampProfile,
    ReviewStatus,
)
from tests import factories
from tests.conftest import fresh
from tests.crm import conftest as crm_fixtures
from tests.territories.quota_setup import (
    FY,
    LOCKED,
    D,
    amount,
    make_plan,
    publish,
    quota,
    won,
)

pipeline = crm_fixtures.pipeline  # the New Business pipeline (with Closed Won)
HX = {"HTTP_HX_REQUEST": "true"}
REASON_NEEDED = "Say why the quota changes: a reason is required and kept in its history."


def holders(response) -> list[tuple[str, str]]:
    """The grid's rows as (kind, username or team name)."""
    return [
        (line["kind"], getattr(line["holder"], "username", None) or line["holder"].name)
        for line in response.context["lines"]
    ]


def page(response) -> str:
    return response.content.decode()


# --- Access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/quotas/", "/quotas/2027/", "/quotas/2027/capacity/", "/quotas/ramp-profiles/"]
)
def test_anonymous_is_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_landing_page_is_named_quotas_home(client, org):
    assert reverse("quotas:home") == "/quotas/"
    client.force_login(org.rep_east)
    assert client.get("/quotas/").status_code == 200


# --- Plans -----------------------------------------------------------------------------------


def test_ops_see_every_plan_with_status_target_basis_and_review_progress(client, org):
    plan = make_plan(org)
    quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    quotas.quota_review_decide(
        review=plan.reviews.get(team=org.americas), accept=True, acting_user=fresh(org.vp_americas)
    )
    make_plan(org, "50000.00", fiscal_year=2028, allocate=False)
    client.force_login(org.ops)
    response = client.get("/quotas/")
    html = page(response)
    assert [p.fiscal_year for p in response.context["plans"]] == [2028, 2027]
    row_2027 = re.search(r'<tr data-plan="2027">(.*?)</tr>', html, re.S).group(1)
    assert "In review" in row_2027 and "USD 120,000.00" in row_2027
    assert "1 of 5 accepted" in row_2027 and "Equal" in row_2027
    row_2028 = re.search(r'<tr data-plan="2028">(.*?)</tr>', html, re.S).group(1)
    assert "Draft" in row_2028 and "USD 50,000.00" in row_2028
    assert "New plan" in html

    client.force_login(org.finance)  # finance reads, creates nothing
    html = page(client.get("/quotas/"))
    assert 'data-plan="2027"' in html and "New plan" not in html
    assert client.get("/quotas/new/").status_code == 403


def test_ops_create_a_plan_and_the_service_refusal_is_shown(client, org):
    client.force_login(org.ops)
    form = {"fiscal_year": FY, "target": "120000", "basis": "equal", "month_weights": "1 2 3"}
    response = client.post("/quotas/new/", form)
    assert "Seasonality needs 12 monthly weights (fiscal months 1-12); got 3." in page(response)
    form["month_weights"] = "7 7 9 7 7 9 7 7 9 8 8 15"
    response = client.post("/quotas/new/", form)
    assert response.status_code == 302 and response["Location"] == "/quotas/2027/"
    plan = QuotaPlan.objects.get(fiscal_year=FY)
    assert plan.status == QuotaPlanStatus.DRAFT and plan.target == D("120000.00")
    assert [int(w) for w in plan.month_weights] == [7, 7, 9, 7, 7, 9, 7, 7, 9, 8, 8, 15]
    response = client.post("/quotas/new/", form)
    assert "There is already a quota plan for FY2027; change that one instead." in page(response)


def test_plan_actions_allocate_propose_and_publish_from_the_grid(client, org):
    plan = make_plan(org, allocate=False)
    client.force_login(org.manager_east)
    assert client.post("/quotas/2027/allocate/").status_code == 404  # no quota of theirs yet
    client.force_login(org.ops)
    html = page(client.get("/quotas/2027/"))
    assert "Allocate the target" in html and "Propose for review" in html
    response = client.post("/quotas/2027/allocate/", follow=True)
    assert "FY2027 target allocated to every team, rep and territory." in page(response)
    assert amount(plan, "2027-M01", user=org.rep_east) == D("2500.00")
    response = client.post("/quotas/2027/publish/", follow=True)
    assert (
        "FY2027 quotas can be published once every manager has accepted them; they are draft."
        in page(response)
    )
    client.post("/quotas/2027/propose/")
    plan.refresh_from_db()
    assert plan.status == QuotaPlanStatus.IN_REVIEW
    client.force_login(org.manager_east)  # sees the plan now, may not act on it
    assert client.post("/quotas/2027/allocate/").status_code == 403
    assert client.post("/quotas/2027/publish/").status_code == 403


# --- The grid: scope -------------------------------------------------------------------------


def test_the_grid_shows_each_role_its_scope(client, org):
    make_plan(org)
    east_reps = sorted(
        [org.rep_east, org.rep_east_2], key=lambda u: (u.last_name, u.first_name, u.username)
    )
    client.force_login(org.ops)
    response = client.get("/quotas/2027/")
    assert holders(response) == [
        ("team", "Americas"),
        ("team", "East"),
        *[("rep", rep.username) for rep in east_reps],
        ("team", "West"),
        ("rep", "rep_west"),
        ("team", "EMEA"),
        ("team", "London"),
        ("rep", "rep_london"),
    ]
    assert response.context["can_edit"] and response.context["total"] == D("120000.00")

    client.force_login(org.vp_americas)
    assert [h for _kind, h in holders(client.get("/quotas/2027/"))] == [
        "Americas", "East", *[rep.username for rep in east_reps], "West", "rep_west",
    ]  # fmt: skip
    client.force_login(org.manager_east)
    response = client.get("/quotas/2027/")
    assert holders(response) == [("team", "East"), *[("rep", r.username) for r in east_reps]]
    assert not response.context["can_edit"]
    assert "rep_london" not in page(response) and "Propose for review" not in page(response)

    client.force_login(org.rep_east)
    response = client.get("/quotas/2027/")
    assert holders(response) == [("rep", "rep_east")]
    assert response.context["totals"] == [D("2500.00")] * 12
    html = page(response)
    assert f'data-holder="rep:{org.rep_east_2.pk}"' not in html
    assert f'data-holder="team:{org.east.pk}"' not in html
    assert "Reps' sum" not in html

    client.force_login(org.finance)  # everything, read-only
    response = client.get("/quotas/2027/")
    assert len(response.context["lines"]) == 9 and not response.context["can_edit"]
    assert "/cells/" in page(response) and "/history/" in page(response)
    assert "Allocate the target" not in page(response) and "Import quotas" not in page(response)


def test_a_plan_without_a_quota_in_scope_is_404(client, org):
    make_plan(org, allocate=False)
    client.force_login(org.rep_east)
    assert client.get("/quotas/2027/").status_code == 404
    assert client.get("/quotas/2031/").status_code == 404


def test_grid_by_quarter_with_totals_gap_and_the_htmx_partial(client, org):
    plan = make_plan(org)
    # An ops edit of a rep moves the bottom-up sum, not the team's top-down quota.
    quotas.quota_set(
        quota=quota(plan, "2027", user=org.rep_london),
        amount=D("36000.00"),
        acting_user=org.ops,
        reason="Territory grew",
    )
    client.force_login(org.ops)
    response = client.get("/quotas/2027/", {"kind": "quarter"})
    assert [p.key for p in response.context["periods"]] == [f"2027-Q{q:02d}" for q in range(1, 5)]
    assert response.context["totals"] == [D("9000.00") + D("22500.00")] * 4
    lines = {(line["kind"], line["holder"].pk): line for line in response.context["lines"]}
    emea = lines[("team", org.emea.pk)]
    assert emea["total"] == D("30000.00")
    assert (emea["gap"].bottom_up, emea["gap"].gap) == (D("36000.00"), D("-6000.00"))
    assert lines[("rep", org.rep_london.pk)]["total"] == D("36000.00")

    partial = client.get("/quotas/2027/", {"kind": "month"}, **HX)
    html = page(partial)
    assert "<html" not in html and 'id="quota-grid"' in html
    assert len(partial.context["periods"]) == 12


def test_grid_query_count_does_not_grow_with_reps(client, org, django_assert_max_num_queries):
    plan = make_plan(org)
    client.force_login(org.ops)
    with CaptureQueriesContext(connection) as small:
        assert client.get("/quotas/2027/").status_code == 200
    for n in range(8):
        factories.rep(org.west if n % 2 else org.london, username=f"extra_{n}")
    quotas.quota_plan_allocate(plan=plan, acting_user=org.ops, as_of=dt.date(2026, 11, 1))
    with django_assert_max_num_queries(20):
        response = client.get("/quotas/2027/")
    assert len(response.context["lines"]) == 17
    with CaptureQueriesContext(connection) as large:
        client.get("/quotas/2027/")
    assert len(large) == len(small)
    client.force_login(org.manager_east)
    with django_assert_max_num_queries(22):
        assert client.get("/quotas/2027/").status_code == 200


# --- The grid: inline edits ------------------------------------------------------------------


def test_inline_edit_goes_through_quota_set_and_the_totals_follow(client, org):
    plan = make_plan(org)
    march = quota(plan, "2027-M03", user=org.rep_east)
    client.force_login(org.ops)
    form = client.get(f"/quotas/2027/cells/{march.pk}/", {"kind": "month"}, **HX)
    html = page(form)
    assert 'name="amount"' in html and 'value="2500.00"' in html and 'name="reason"' in html
    assert "<html" not in html

    response = client.post(
        f"/quotas/2027/cells/{march.pk}/",
        {"amount": "3000.00", "reason": "Big renewal", "kind": "month"},
        **HX,
    )
    assert response["HX-Retarget"] == "#quota-grid" and response["HX-Reswap"] == "outerHTML"
    assert "Big renewal" not in page(response)
    lines = {(line["kind"], line["holder"].pk): line for line in response.context["lines"]}
    assert lines[("rep", org.rep_east.pk)]["total"] == D("30500.00")
    assert response.context["totals"][2] == D("10500.00")  # March
    assert response.context["total"] == D("120500.00")
    assert lines[("team", org.east.pk)]["gap"].gap == D("-500.00")
    assert "set to USD 3,000.00." in page(response)
    assert amount(plan, "2027-Q01", user=org.rep_east) == D("8000.00")
    assert quota(plan, "2027-M03", user=org.rep_east).source == QuotaSource.MANUAL

    history = client.get(f"/quotas/2027/cells/{march.pk}/history/", **HX)
    row = re.findall(r"<tr>(.*?)</tr>", page(history), re.S)[-1]
    assert "Big renewal" in row and "2,500.00" in row and "3,000.00" in row
    assert str(org.ops) in row


def test_inline_edit_without_a_reason_is_refused_and_says_why(client, org):
    plan = make_plan(org)
    march = quota(plan, "2027-M03", user=org.rep_east)
    client.force_login(org.ops)
    response = client.post(
        f"/quotas/2027/cells/{march.pk}/", {"amount": "3000", "reason": " ", "kind": "month"}, **HX
    )
    html = page(response)
    assert REASON_NEEDED in html and 'value="3000"' in html  # the input stays
    assert "HX-Retarget" not in response
    response = client.post(
        f"/quotas/2027/cells/{march.pk}/", {"amount": "-5", "reason": "x", "kind": "month"}, **HX
    )
    assert "A quota cannot be negative; got -5." in page(response)
    # Without htmx: the cell's page, with the same message.
    response = client.post(f"/quotas/2027/cells/{march.pk}/", {"amount": "3000", "reason": ""})
    assert REASON_NEEDED in page(response) and "<html" in page(response)
    assert amount(plan, "2027-M03", user=org.rep_east) == D("2500.00")


def test_inline_edit_without_htmx_redirects_to_the_grid_with_a_message(client, org):
    plan = make_plan(org)
    q2 = quota(plan, "2027-Q02", team=org.london)
    client.force_login(org.ops)
    html = page(client.get(f"/quotas/2027/cells/{q2.pk}/"))
    assert "<html" in html and "Change it" in html
    response = client.post(
        f"/quotas/2027/cells/{q2.pk}/",
        {"amount": "10000", "reason": "Hiring", "kind": "quarter"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/quotas/2027/?kind=quarter"
    assert "London 2027-Q02 set to USD 10,000.00." in page(response)
    assert [amount(plan, f"2027-M{m:02d}", team=org.london) for m in (4, 5, 6)] == [
        D("3333.34"),
        D("3333.33"),
        D("3333.33"),
    ]


def test_a_published_plan_is_locked_and_refuses_edits(client, org):
    plan = publish(org, make_plan(org))
    march = quota(plan, "2027-M03", user=org.rep_east)
    client.force_login(org.ops)
    response = client.get("/quotas/2027/")
    html = page(response)
    assert '<span class="badge locked"' in html and ">Locked<" in html
    assert not response.context["can_edit"] and "Import quotas" not in html
    assert "Publish and lock" not in html and "Allocate the target" not in html
    response = client.post(
        f"/quotas/2027/cells/{march.pk}/",
        {"amount": "3000", "reason": "Late", "kind": "month"},
        **HX,
    )
    assert LOCKED in page(response)
    assert amount(plan, "2027-M03", user=org.rep_east) == D("2500.00")
    assert not Quota.objects.filter(plan=plan, source=QuotaSource.MANUAL).exists()


def test_readers_cannot_edit_and_out_of_scope_cells_are_404(client, org):
    plan = make_plan(org)
    east = quota(plan, "2027-M03", user=org.rep_east)
    london = quota(plan, "2027-M03", user=org.rep_london)
    for person in (org.finance, org.manager_east):
        client.force_login(person)
        response = client.post(
            f"/quotas/2027/cells/{east.pk}/", {"amount": "1", "reason": "x"}, **HX
        )
        assert response.status_code == 403
        history = client.get(f"/quotas/2027/cells/{east.pk}/", **HX)  # a reader gets the history
        assert 'name="amount"' not in page(history) and "history" in page(history)
    client.force_login(org.manager_east)
    assert client.get(f"/quotas/2027/cells/{london.pk}/").status_code == 404
    assert client.get(f"/quotas/2027/cells/{london.pk}/history/").status_code == 404
    client.force_login(org.rep_east_2)
    assert client.get(f"/quotas/2027/cells/{east.pk}/").status_code == 404
    assert amount(plan, "2027-M03", user=org.rep_east) == D("2500.00")


# --- Reviews ---------------------------------------------------------------------------------


def test_managers_accept_and_send_back_from_the_page(client, org):
    plan = make_plan(org)
    quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    americas = plan.reviews.get(team=org.americas)
    emea = plan.reviews.get(team=org.emea)

    client.force_login(org.vp_americas)
    response = client.get("/quotas/")
    assert [r.pk for r in response.context["waiting"]] == [americas.pk]
    assert holders(response)[:2] == [("team", "Americas"), ("team", "East")]  # the team's grid
    response = client.post(f"/quotas/reviews/{americas.pk}/decide/", {"decision": "accept"}, **HX)
    html = page(response)
    assert "FY2027 quotas of Americas accepted." in html and "<html" not in html
    assert "Nothing waits for your review." in html
    assert QuotaReview.objects.get(pk=americas.pk).status == ReviewStatus.ACCEPTED

    client.force_login(org.manager_east)  # EMEA has not decided: East waits
    assert list(client.get("/quotas/").context["waiting"]) == []
    assert (
        client.post(f"/quotas/reviews/{emea.pk}/decide/", {"decision": "accept"}).status_code == 404
    )  # not their review

    client.force_login(org.vp_emea)
    response = client.post(f"/quotas/reviews/{emea.pk}/decide/", {"decision": "send_back"}, **HX)
    assert "Say what should change: sending the quotas back needs a comment." in page(response)
    assert QuotaReview.objects.get(pk=emea.pk).status == ReviewStatus.PENDING
    response = client.post(
        f"/quotas/reviews/{emea.pk}/decide/",
        {"decision": "send_back", "comment": "London is too high"},
        follow=True,
    )
    assert "FY2027 quotas of EMEA sent back to sales ops." in page(response)
    plan.refresh_from_db()
    assert plan.status == QuotaPlanStatus.DRAFT
    assert plan.reviews.get(team=org.emea).comment == "London is too high"

    client.force_login(org.ops)  # the chain, with the decisions and comments
    html = page(client.get("/quotas/2027/"))
    chain = re.search(r'aria-label="Review chain">(.*?)</section>', html, re.S).group(1)
    assert "London is too high" in chain and "Sent back" in chain and "Accepted" in chain
    assert str(org.vp_americas) in chain and str(org.manager_london) in chain


# --- A rep's quota ---------------------------------------------------------------------------


def test_a_rep_sees_their_quota_and_attainment_by_hand(client, org, pipeline):
    org_services.exchange_rate_set(currency="EUR", valid_from=dt.date(2027, 1, 1), rate=D("1.5"))
    make_plan(org, "1200000.00")  # 300,000 a rep, 75,000 a quarter, 25,000 a month
    won(org, pipeline, org.rep_east, "30000", dt.date(2027, 2, 10))
    won(org, pipeline, org.rep_east, "10000", dt.date(2027, 5, 2), currency="EUR")  # 15,000
    won(org, pipeline, org.rep_east, "7777", dt.date(2026, 12, 31))  # the year before
    won(org, pipeline, org.rep_east_2, "5000", dt.date(2027, 3, 31))  # a colleague's
    client.force_login(org.rep_east)
    response = client.get("/quotas/", {"year": FY})
    context = response.context
    year = context["year_row"]
    assert (year["figures"].quota, year["figures"].bookings, year["percent"]) == (
        D("300000.00"),
        D("45000.00"),
        "15.0 %",
    )
    quarters = [(r["figures"].bookings, r["percent"]) for r in context["quarter_rows"]]
    assert quarters == [
        (D("30000.00"), "40.0 %"),
        (D("15000.00"), "20.0 %"),
        (D(0), "0.0 %"),
        (D(0), "0.0 %"),
    ]
    months = {r["figures"].period.index: r for r in context["month_rows"]}
    assert (months[2]["figures"].quota, months[2]["percent"]) == (D("25000.00"), "120.0 %")
    assert months[3]["figures"].bookings == D(0)  # rep_east_2's deal is not theirs
    chart = context["chart"]["data"]
    assert [trace["name"] for trace in chart] == ["Quota", "Bookings"]
    assert chart[0]["y"] == [25000.0] * 12
    assert chart[1]["y"][:5] == [0.0, 30000.0, 0.0, 0.0, 15000.0]
    html = page(response)
    assert "USD 300,000.00" in html and "15.0 %" in html and "120.0 %" in html
    assert "plotly/plotly.min.js" in html and "Not final yet" in html


def test_a_rep_without_a_plan_this_year_is_told_so(client, org):
    client.force_login(org.rep_east)
    response = client.get("/quotas/")
    this_year = response.context["year"]
    assert f"There is no quota for you in FY{this_year} yet." in page(response)


# --- Capacity --------------------------------------------------------------------------------


def capacity(client, **params):
    query = {"attrition_percent": "0", "backfill_months": "1", **params}
    return client.get("/quotas/2027/capacity/", query)


def test_capacity_page_figures_for_a_simple_case(client, org):
    make_plan(org, allocate=False)  # 10,000 a month
    client.force_login(org.ops)
    response = capacity(client, productivity="2500")  # 4 ramped reps x 2,500
    html = page(response)
    assert [row["coverage"].capacity for row in response.context["rows"]] == [D("10000.00")] * 12
    assert (
        "Reachable: a capacity of USD 120,000.00 covers the USD 120,000.00 target (100.0 %)."
        in html
    )
    assert 'data-reachable="yes"' in html
    march = re.search(r'<tr data-month="2027-03">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'class="num[^"]*">([^<]*)<', march) == [
        "4.00", "4.00", "10,000.00", "10,000.00", "0.00", "100.0 %",
    ]  # fmt: skip

    response = capacity(client, productivity="2000")
    assert (
        "Short by USD 24,000.00: a capacity of USD 96,000.00 covers 80.0 % of the "
        "USD 120,000.00 target." in page(response)
    )
    # A hire planned in July ramps on the default 3 months: 25, 50, 75 %, then 100 %.
    response = capacity(client, productivity="2500", hires_7="1")
    capacities = [row["coverage"].capacity for row in response.context["rows"]]
    assert capacities[5:10] == [D(10000), D(10625), D(11250), D(11875), D(12500)]
    assert response.context["result"].total.capacity == D("131250.00")  # + 625 … + 2,500 x 3
    chart = response.context["chart"]["data"]
    assert [trace["name"] for trace in chart] == ["Capacity", "Target"]
    assert chart[1]["y"] == [10000.0] * 12

    response = capacity(client, productivity="2500", attrition_percent="150")
    assert "Ensure this value is less than or equal to 100." in page(response)


def test_capacity_defaults_to_productivity_from_history(client, org, pipeline):
    make_plan(org, allocate=False)
    client.force_login(org.ops)
    response = client.get("/quotas/2027/capacity/")  # nobody sold: 0 a month
    assert response.context["productivity"] == D("0.00")
    assert "From history: USD 0.00" in page(response)
    assert "Short by USD 120,000.00" in page(response)
    first = timezone.localdate().replace(day=1)
    last_month = (first - dt.timedelta(days=1)).replace(day=15)
    won(org, pipeline, org.rep_east, "48000", last_month)  # 48,000 / (4 reps x 12) = 1,000
    response = capacity(client)
    assert response.context["productivity"] == D("1000.00")
    assert "From history: USD 1,000.00" in page(response)


def test_capacity_is_for_the_org_wide_roles(client, org):
    make_plan(org)
    client.force_login(org.manager_east)
    assert client.get("/quotas/2027/capacity/").status_code == 403
    client.force_login(org.finance)
    assert capacity(client, productivity="100").status_code == 200


# --- Ramp profiles ---------------------------------------------------------------------------


def test_ramp_profiles_list_and_edit(client, org):
    client.force_login(org.ops)
    response = client.post("/quotas/ramp-profiles/", {"name": "Odd", "percents": "50 120"})
    assert "Tenure month 2: &#x27;120&#x27; is not a percentage from 0 to 100." in page(response)
    response = client.post(
        "/quotas/ramp-profiles/", {"name": "Standard", "percents": "25, 50, 75"}, follow=True
    )
    assert "Ramp profile Standard saved." in page(response)
    profile = RampProfile.objects.get()
    assert profile.percents == [D(25), D(50), D(75)]
    make_plan(org, allocate=False, ramp_profile=profile)
    html = page(client.get("/quotas/ramp-profiles/"))
    row = re.search(rf'<tr data-profile="{profile.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "25 % · 50 % · 75 %" in row and "FY2027" in row
    edit = client.get(f"/quotas/ramp-profiles/{profile.pk}/")
    assert 'value="25 50 75"' in page(edit)
    client.post(f"/quotas/ramp-profiles/{profile.pk}/", {"name": "Std", "percents": "30 60"})
    profile.refresh_from_db()
    assert (profile.name, profile.percents) == ("Std", [D(30), D(60)])

    client.force_login(org.finance)  # reads
    html = page(client.get("/quotas/ramp-profiles/"))
    assert "Std" in html and "New profile" not in html
    assert client.post("/quotas/ramp-profiles/", {"name": "X", "percents": "1"}).status_code == 403
    assert client.get(f"/quotas/ramp-profiles/{profile.pk}/").status_code == 403
    client.force_login(org.manager_east)
    assert client.get("/quotas/ramp-profiles/").status_code == 403

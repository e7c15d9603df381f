"""Commission run pages: the list and "New run", a run's overview against the previous run (by
team, role, component, kind, payees), progress while calculating and the error when it failed,
the buttons by status and role (approve disabled with the reasons for a finance user who edited
the plan), approve and pay, manual adjustments (a reason is required), the lines and one
line's trace in words. Reps and managers get 403 on every page, and a missing run 404.

Data is set up as ops would (plans, assignments, won deals); the calculation is run directly
after the request, since on-commit callbacks (the Celery enqueue) do not fire in these tests.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from compensation import runs
from compensation.models import (
    CommissionRun,
    CompPlan,
    Dispute,
    LineKind,
    ManualAdjustment,
    PayoutLine,
    RunStatus,
)
from salesops.org.models import Team
from salesops.org.roles import Role
from tests import factories
from tests.compensation.comp_setup import (
    Q1_DAY,
    D,
    assign,
    bookings,
    calculate,
    change,
    plan,
    won,
)
from tests.conftest import Org

Q2_DAY = dt.date(2027, 5, 10)
HX = {"HTTP_HX_REQUEST": "true"}


# --- Data shared with test_run_api and test_payroll ----------------------------------------------


def q1_people(org: Org, pipeline) -> dict:
    """AEs in East and West on the standard plan, East's manager on a 1 % roll-up plan, the
    teams' cost centres, and Q1 deals: East 120,000 (8,900.00), West 33,333.33 (5 %:
    1,666.6665 → 1,666.67), East's manager 1 % of 120,000 (1,200.00); total 11,766.67."""
    Team.objects.filter(pk=org.east.pk).update(cost_centre="CC-EAST")
    Team.objects.filter(pk=org.west.pk).update(cost_centre="CC-WEST")
    sellers = plan(org)
    managers = plan(
        org, bookings(quota=None, tiers=[], rate="0.01", credit_types=["rollup"]), key="mgr"
    )
    assign(sellers, org.rep_east)
    assign(sellers, org.rep_west)
    assign(managers, org.manager_east)
    deal = won(org, pipeline, org.rep_east, "120000", Q1_DAY, name="Acme expansion")
    won(org, pipeline, org.rep_west, "33333.33", Q1_DAY, name="Globex pilot")
    return {"sellers": sellers, "managers": managers, "deal": deal}


def calculated(org: Org, period_key: str) -> CommissionRun:
    """The run of ``period_key`` created (if need be) and calculated as sales ops would, the
    task body run directly."""
    return calculate(org, period_key)


def q1_run(org: Org, pipeline) -> CommissionRun:
    q1_people(org, pipeline)
    return calculated(org, "2027-Q1")


def page(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def row(html: str, attribute: str, value) -> str:
    return re.search(rf'<tr {attribute}="{value}">(.*?)</tr>', html, re.S).group(1)


def table(html: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">(.*?)</table>', html, re.S).group(1)


@pytest.fixture
def run(org, pipeline) -> CommissionRun:
    return q1_run(org, pipeline)


# --- Access --------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/comp/runs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_commissions_nav_item_for_ops_finance_and_admins_only(client, org):
    assert reverse("compensation:run_list") == "/comp/runs/"
    for user, shown in (
        (org.ops, True),
        (org.finance, True),
        (org.admin, True),
        (org.rep_east, False),
        (org.manager_east, False),
    ):
        client.force_login(user)
        assert ('<a href="/comp/runs/"' in page(client.get("/"))) is shown, user


def test_reps_and_managers_get_403_on_every_run_page(client, org, run):
    line = PayoutLine.objects.filter(run=run, user=org.rep_east).first()
    runs.run_approve(run=run, acting_user=org.finance)
    urls = [
        ("get", "/comp/runs/"),
        ("post", "/comp/runs/new/"),
        ("get", f"/comp/runs/{run.pk}/"),
        ("get", f"/comp/runs/{run.pk}/lines/"),
        ("get", f"/comp/runs/{run.pk}/lines/{line.pk}/"),
        ("get", f"/comp/runs/{run.pk}/payroll.csv"),
        ("get", f"/comp/runs/{run.pk}/payroll.xlsx"),
        ("post", f"/comp/runs/{run.pk}/calculate/"),
        ("post", f"/comp/runs/{run.pk}/approve/"),
        ("post", f"/comp/runs/{run.pk}/pay/"),
        ("post", f"/comp/runs/{run.pk}/adjustments/"),
    ]
    for user in (org.rep_east, org.manager_east):
        client.force_login(user)
        for method, url in urls:
            response = getattr(client, method)(url, {"period_key": "2027-Q2"})
            assert response.status_code == 403, (user, url)
    assert not CommissionRun.objects.filter(period_key="2027-Q02").exists()
    assert CommissionRun.objects.get(pk=run.pk).status == RunStatus.APPROVED


def test_a_run_or_line_that_does_not_exist_answers_404(client, org, run):
    client.force_login(org.ops)
    assert client.get("/comp/runs/999999/").status_code == 404
    assert client.get(f"/comp/runs/{run.pk}/lines/999999/").status_code == 404
    other = runs.run_create(period_key="2027-Q2", acting_user=org.ops)
    line = PayoutLine.objects.filter(run=run).first()
    # A line of another run is not found under this one.
    assert client.get(f"/comp/runs/{other.pk}/lines/{line.pk}/").status_code == 404


# --- List and create -----------------------------------------------------------------------------


def test_ops_see_the_runs_and_create_one(client, org, run, django_assert_max_num_queries):
    client.force_login(org.ops)
    with django_assert_max_num_queries(12):
        html = page(client.get("/comp/runs/"))
    assert "New run" in html and 'href="/comp/amortisation/"' in html
    assert "FY2027 Q1" in row(html, "data-run", run.pk)
    assert "11,766.67" in row(html, "data-run", run.pk)
    response = client.post("/comp/runs/new/", {"period_key": "2027-Q2"})
    created = CommissionRun.objects.get(period_key="2027-Q02")
    assert response.status_code == 302 and response["Location"] == f"/comp/runs/{created.pk}/"
    assert created.status == RunStatus.DRAFT and created.created_by == org.ops


def test_a_bad_or_duplicate_period_is_shown_on_the_form(client, org, run):
    client.force_login(org.ops)
    response = client.post("/comp/runs/new/", {"period_key": "2027-Q1"})
    assert response.status_code == 400
    assert "There is already a run for FY2027 Q1." in page(response)
    response = client.post("/comp/runs/new/", {"period_key": "2027"})
    assert response.status_code == 400
    assert "A run covers a fiscal month or quarter, e.g. 2027-Q1." in page(response)
    assert CommissionRun.objects.count() == 1


def test_finance_see_runs_but_cannot_create_one(client, org, run):
    client.force_login(org.finance)
    html = page(client.get("/comp/runs/"))
    assert "FY2027 Q1" in html and "New run" not in html
    assert client.post("/comp/runs/new/", {"period_key": "2027-Q2"}).status_code == 403


# --- Overview ------------------------------------------------------------------------------------


def test_ops_see_the_overview_with_totals_payees_and_their_actions(
    client, org, run, django_assert_max_num_queries
):
    client.force_login(org.ops)
    with django_assert_max_num_queries(20):  # the same whatever the number of payees
        html = page(client.get(f"/comp/runs/{run.pk}/"))
    assert 'data-status="calculated"' in html
    assert "USD 11,766.67" in html
    assert "No earlier run to compare with." in html
    by_team = table(html, "by-team")
    # East: the AE's 8,900.00 and their manager's 1,200.00; West: 1,666.67.
    assert "10,100.00" in row(by_team, "data-key", org.east.pk)
    assert "1,666.67" in row(by_team, "data-key", org.west.pk)
    by_role = table(html, "by-role")
    assert "10,566.67" in row(by_role, "data-key", "AE")
    assert "1,200.00" in row(by_role, "data-key", "manager")
    assert "11,766.67" in row(table(html, "by-component"), "data-key", "bookings")
    assert "11,766.67" in row(table(html, "by-kind"), "data-key", "commission")
    payee = row(table(html, "payees"), "data-user", org.rep_east.pk)
    assert "East" in payee and org.rep_east.rep_profile.employee_id in payee
    assert "8,900.00" in payee
    manager = row(table(html, "payees"), "data-user", org.manager_east.pk)
    assert "East" in manager and "—" in manager  # no employee id: not a rep
    assert ">Recalculate</button>" in html
    assert 'data-testid="adjustment-form"' in html
    assert 'data-testid="approve"' not in html  # approving is finance's


def test_finance_see_approve_enabled_and_no_adjustment_form(client, org, run):
    client.force_login(org.finance)
    html = page(client.get(f"/comp/runs/{run.pk}/"))
    button = re.search(r'<button[^>]*data-testid="approve"[^>]*>', html).group(0)
    assert "disabled" not in button
    assert 'data-testid="approval-conflicts"' not in html
    assert "Recalculate" not in html and 'data-testid="adjustment-form"' not in html
    assert 'data-testid="payroll"' not in html  # not approved yet


def test_approve_is_disabled_with_the_reasons_for_a_finance_user_who_edited_the_plan(
    client, org, run
):
    editor = factories.user(Role.FINANCE, username="finance_editor")
    CompPlan.objects.filter(key="ae").update(updated_by=editor)
    client.force_login(editor)
    html = page(client.get(f"/comp/runs/{run.pk}/"))
    button = re.search(r'<button[^>]*data-testid="approve"[^>]*>', html).group(0)
    assert "disabled" in button
    assert "You edited the plan &#x27;Plan ae v1&#x27; this run pays on." in html
    # Posting anyway is refused with the same reason, and nothing changes.
    response = client.post(f"/comp/runs/{run.pk}/approve/", follow=True)
    assert messages_of(response) == ["You edited the plan 'Plan ae v1' this run pays on."]
    assert CommissionRun.objects.get(pk=run.pk).status == RunStatus.CALCULATED


def test_finance_approve_then_mark_paid_through_the_pages(client, org, run):
    client.force_login(org.finance)
    response = client.post(f"/comp/runs/{run.pk}/approve/", follow=True)
    assert messages_of(response) == ["The FY2027 Q1 run is approved and locked."]
    run.refresh_from_db()
    assert (run.status, run.approved_by) == (RunStatus.APPROVED, org.finance)
    html = page(response)
    assert 'data-testid="pay"' in html and 'data-testid="payroll"' in html
    response = client.post(f"/comp/runs/{run.pk}/pay/", follow=True)
    assert messages_of(response) == ["The FY2027 Q1 run is marked paid."]
    run.refresh_from_db()
    assert (run.status, run.paid_by) == (RunStatus.PAID, org.finance)
    # Paying twice is refused as a message.
    response = client.post(f"/comp/runs/{run.pk}/pay/", follow=True)
    assert messages_of(response) == ["Only an approved run can be marked paid."]


def test_ops_cannot_approve_and_admins_see_why(client, org, run):
    client.force_login(org.ops)
    response = client.post(f"/comp/runs/{run.pk}/approve/", follow=True)
    [message] = messages_of(response)
    assert message.startswith("Approving a commission run needs the finance role. ")
    assert "You edited the plan 'Plan ae v1' this run pays on." in message
    client.force_login(org.admin)
    html = page(client.get(f"/comp/runs/{run.pk}/"))
    assert "Approving a commission run needs the finance role." in html
    assert CommissionRun.objects.get(pk=run.pk).status == RunStatus.CALCULATED


def test_the_overview_compares_with_the_previous_run(client, org, pipeline):
    q1 = q1_run(org, pipeline)
    runs.run_approve(run=q1, acting_user=org.finance)
    won(org, pipeline, org.rep_east, "10000", Q2_DAY)
    q2 = calculated(org, "2027-Q2")
    client.force_login(org.finance)
    html = page(client.get(f"/comp/runs/{q2.pk}/"))
    # Q2: East's AE 10,000 × 5 % = 500.00, their manager 100.00; West nothing (0.00).
    assert "vs FY2027 Q1" in html
    assert re.search(r'data-testid="run-change">\s*-11,166.67<', html)
    east = row(table(html, "by-team"), "data-key", org.east.pk)
    assert re.findall(r">(-?[\d,]+\.\d\d)<", east) == ["600.00", "10,100.00", "-9,500.00"]
    west = row(table(html, "by-team"), "data-key", org.west.pk)
    assert re.findall(r">(-?[\d,]+\.\d\d)<", west) == ["0.00", "1,666.67", "-1,666.67"]


def test_open_disputes_are_counted_per_payee(client, org, run):
    line = PayoutLine.objects.get(run=run, user=org.rep_west)
    Dispute.objects.create(line=line, raised_by=org.rep_west, message="My pilot is missing")
    client.force_login(org.ops)
    html = page(client.get(f"/comp/runs/{run.pk}/"))
    assert re.search(r'data-testid="open-disputes">1<', html)
    assert '<span class="badge warn">1</span>' in row(
        table(html, "payees"), "data-user", org.rep_west.pk
    )


# --- Progress and failure ------------------------------------------------------------------------


def test_calculating_shows_progress_polls_and_reloads_when_done(client, org, pipeline):
    q1_people(org, pipeline)
    run = runs.run_create(period_key="2027-Q1", acting_user=org.ops)
    client.force_login(org.ops)
    response = client.post(f"/comp/runs/{run.pk}/calculate/", follow=True)
    assert messages_of(response) == ["Calculating the FY2027 Q1 run: this page follows it."]
    html = page(response)
    assert 'data-status="calculating"' in html
    assert f'hx-get="/comp/runs/{run.pk}/?part=status"' in html
    assert 'data-testid="progress"' in html and "Waiting for the worker" in html
    partial = client.get(f"/comp/runs/{run.pk}/?part=status", **HX)
    assert partial.status_code == 200 and "<html" not in page(partial)
    assert 'hx-trigger="every 1s"' in page(partial)
    runs.run_calculate(run_id=run.pk)
    done = client.get(f"/comp/runs/{run.pk}/?part=status", **HX)
    assert done["HX-Refresh"] == "true"
    html = page(client.get(f"/comp/runs/{run.pk}/"))
    assert 'hx-trigger="every 1s"' not in html and "11,766.67" in html


def test_a_failed_run_shows_its_error(client, org, pipeline):
    q1_people(org, pipeline)
    run = runs.run_create(period_key="2027-Q1", acting_user=org.ops)
    runs.run_calculate_request(run=run, acting_user=org.ops)
    runs.run_mark_failed(run_id=run.pk, problem="DomainError: Plan 'Plan ae v1' pays in EUR")
    client.force_login(org.ops)
    html = page(client.get(f"/comp/runs/{run.pk}/"))
    assert 'data-status="failed"' in html
    assert "The calculation failed: DomainError: Plan &#x27;Plan ae v1&#x27; pays in EUR" in html
    assert ">Calculate</button>" in html  # never calculated: calculate again


# --- Manual adjustments --------------------------------------------------------------------------


def test_an_adjustment_needs_a_reason_and_nothing_is_saved_without_one(client, org, run):
    client.force_login(org.ops)
    url = f"/comp/runs/{run.pk}/adjustments/"
    response = client.post(url, {"user": org.rep_west.pk, "amount": "150.00", "reason": "  "})
    assert response.status_code == 400
    assert "A manual adjustment needs a reason." in page(response)
    assert not ManualAdjustment.objects.exists()
    assert CommissionRun.objects.get(pk=run.pk).status == RunStatus.CALCULATED


def test_an_adjustment_in_fractions_of_cents_is_refused_on_the_form(client, org, run):
    client.force_login(org.ops)
    url = f"/comp/runs/{run.pk}/adjustments/"
    response = client.post(url, {"user": org.rep_west.pk, "amount": "0", "reason": "Spiff"})
    assert response.status_code == 400
    assert "An adjustment of zero changes nothing." in page(response)
    assert not ManualAdjustment.objects.exists()


def test_ops_add_recalculate_and_delete_an_adjustment(client, org, run):
    client.force_login(org.ops)
    url = f"/comp/runs/{run.pk}/adjustments/"
    response = client.post(
        url, {"user": org.rep_west.pk, "amount": "-150.00", "reason": "Pilot refunded"}
    )
    assert response.status_code == 302
    adjustment = ManualAdjustment.objects.get()
    assert (adjustment.user, adjustment.amount, adjustment.created_by) == (
        org.rep_west, D("-150.00"), org.ops,
    )  # fmt: skip
    html = page(client.get(f"/comp/runs/{run.pk}/"))
    assert "Pilot refunded" in row(table(html, "adjustments"), "data-adjustment", adjustment.pk)
    assert 'data-status="draft"' in html and "calculate again before approving" in html
    # The entering user now may not approve; a recalculation pays the adjustment as a line.
    calculated(org, "2027-Q1")
    manual = PayoutLine.objects.get(run=run, kind=LineKind.MANUAL)
    assert (manual.user, manual.amount) == (org.rep_west, D("-150.00"))
    client.post(f"/comp/runs/{run.pk}/adjustments/{adjustment.pk}/delete/")
    assert not ManualAdjustment.objects.exists()


def test_finance_cannot_add_adjustments_and_locked_runs_refuse_deletes(client, org, run):
    runs.adjustment_add(
        run=run, user=org.rep_west, amount=D("10.00"), reason="Typo fix", acting_user=org.ops
    )
    adjustment = ManualAdjustment.objects.get()
    client.force_login(org.finance)
    url = f"/comp/runs/{run.pk}/adjustments/"
    response = client.post(url, {"user": org.rep_west.pk, "amount": "5.00", "reason": "x"})
    assert response.status_code == 403
    calculated(org, "2027-Q1")
    runs.run_approve(run=run, acting_user=org.finance)
    client.force_login(org.ops)
    response = client.post(f"/comp/runs/{run.pk}/adjustments/{adjustment.pk}/delete/", follow=True)
    assert messages_of(response) == ["The run is locked; its adjustments stay as they are."]
    assert ManualAdjustment.objects.filter(pk=adjustment.pk).exists()


# --- Lines and a line's trace --------------------------------------------------------------------


def test_lines_filter_by_person_and_kind(client, org, run, django_assert_max_num_queries):
    client.force_login(org.finance)
    with django_assert_max_num_queries(12):
        html = page(client.get(f"/comp/runs/{run.pk}/lines/"))
    assert html.count("<tr data-line=") == 3
    html = page(client.get(f"/comp/runs/{run.pk}/lines/", {"person": org.rep_west.pk}))
    assert html.count("<tr data-line=") == 1 and "1,666.67" in html
    html = page(client.get(f"/comp/runs/{run.pk}/lines/", {"kind": "manual"}))
    assert html.count("<tr data-line=") == 0 and "No line matches." in html
    html = page(client.get(f"/comp/runs/{run.pk}/lines/", {"component": "bookings"}))
    assert html.count("<tr data-line=") == 3


def test_a_line_shows_its_trace_in_words_and_its_credits(client, org, run):
    line = PayoutLine.objects.get(run=run, user=org.rep_east)
    deal_id = PayoutLine.objects.get(pk=line.pk).line_credits.get().credit.deal_id
    client.force_login(org.ops)
    html = page(client.get(f"/comp/runs/{run.pk}/lines/{line.pk}/"))
    assert "8,900.00 payout for FY2027 Q1 = 8,900.00" in html
    slices = table(html, "slices")
    assert slices.count("<tr>") == 3 + 1  # header and three tiers
    assert "Accelerator" in slices and "2,400.00" in slices
    assert re.search(r'data-testid="quota">100,000.00<', html)
    assert "0.00 % before → 120.00 % after (Accelerator)" in html
    assert "None: the assignment covers the whole period." in html
    assert "ROUND_HALF_UP" in html
    assert "Nothing yet for FY2027 Q1." in html
    credits = row(table(html, "credits"), "data-deal", deal_id)
    assert f'href="/crm/deals/{deal_id}/"' in credits and "Acme expansion" in credits
    assert "Owner" in credits and "100 %" in credits and "120,000.00" in credits


def test_a_correction_lists_the_deals_behind_it(client, org, pipeline):
    people = q1_people(org, pipeline)
    runs.run_approve(run=calculated(org, "2027-Q1"), acting_user=org.finance)
    change(org, people["deal"], amount=D("100000"))
    q2 = calculated(org, "2027-Q2")
    correction = PayoutLine.objects.get(run=q2, user=org.rep_east, kind=LineKind.ADJUSTMENT)
    client.force_login(org.finance)
    html = page(client.get(f"/comp/runs/{q2.pk}/lines/{correction.pk}/"))
    # Q1 is now worth 6,500.00: 2,400.00 less than the 8,900.00 paid.
    assert "Correction of FY2027 Q1, which an earlier run already paid." in html
    assert re.search(r'data-testid="already-paid">8,900.00 by earlier', html)
    cause = row(table(html, "causes"), "data-deal", people["deal"].pk)
    assert f'href="/crm/deals/{people["deal"].pk}/"' in cause
    assert "120,000.00" in cause and "100,000.00" in cause
    assert "its credited amount changed" in cause

"""Journey: sales ops build a tiered plan with an accelerator and a cap in the builder, publish
it and put an AE on it; they run FY2027 Q1, which the real worker calculates while the page
follows it; finance approve the run and download the payroll file; the AE opens the statement,
follows the line to the deals behind it and disputes it, and sales ops see the dispute."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from compensation.models import (
    CommissionRun,
    CompPlan,
    Dispute,
    DisputeStatus,
    PayoutLine,
    PlanAssignment,
    PlanStatus,
    RunStatus,
)
from tests.browser.test_login_journey import log_in
from tests.celery_processes import celery_worker
from tests.compensation.comp_setup import won

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

D = Decimal
# The AE's deals won in FY2027 Q1 (January to March 2027), and one in Q2 that Q1 must not count.
Q1_DEALS = {
    "Initech platform": ("72500.00", dt.date(2027, 1, 20)),
    "Umbrella renewal": ("48250.50", dt.date(2027, 2, 10)),
    "Hooli expansion": ("41300.25", dt.date(2027, 3, 15)),
}
Q2_DEAL = ("Stark pilot", "30000.00", dt.date(2027, 4, 5))
QUOTA = D("100000.00")  # fixed, per quarter
# Bookings 72,500.00 + 48,250.50 + 41,300.25 = 162,050.75, i.e. 162.05 % of the quota.
# The cap stops counting at 150 % of quota: counted bookings = 150,000.00.
# Marginal tiers: 0–100 % at 10 %:       100,000.00 × 0.10 = 10,000.00
#                 above 100 % at 15 %:    50,000.00 × 0.15 =  7,500.00  (the accelerator)
# Payout = 17,500.00 (without the cap it would be 10,000.00 + 62,050.75 × 0.15 = 19,307.61).
EXPECTED = D("17500.00")


def accept_confirms(page) -> None:
    """Publish and approve ask "…?" in a confirm dialog: say yes, as the person would."""
    page.on("dialog", lambda dialog: dialog.accept())


@pytest.fixture
def log_in_as(browser, live_server):
    """``log_in_as(username)``: a page in its own browser context (its own session), logged in."""
    contexts = []

    def open_page(username: str):
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        contexts.append(context)
        page = context.new_page()
        accept_confirms(page)
        log_in(page, live_server.url, username)
        return page

    yield open_page
    for context in contexts:
        context.close()


def nav(page, label: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True).click()


def fill_tier(page, number: int, floor: str, rate: str, label: str) -> None:
    page.get_by_label(f"Tier {number} from % of quota").fill(floor)
    page.get_by_label(f"Tier {number} rate").fill(rate)
    page.get_by_label(f"Tier {number} label").fill(label)


def test_plan_built_run_approved_exported_and_a_line_disputed(log_in_as, org, pipeline, tmp_path):
    for name, (value, close_date) in Q1_DEALS.items():
        won(org, pipeline, org.rep_east, value, close_date, name=name)
    won(org, pipeline, org.rep_east, Q2_DEAL[1], Q2_DEAL[2], name=Q2_DEAL[0])
    rep_name = str(org.rep_east)
    bookings = sum(D(value) for value, _ in Q1_DEALS.values())
    counted = min(bookings, QUOTA * D("1.50"))
    assert bookings == D("162050.75")
    assert QUOTA * D("0.10") + (counted - QUOTA) * D("0.15") == EXPECTED

    # --- Sales ops build the plan in the builder: tiers with an accelerator, then the cap. ---
    ops = log_in_as("ops_user")
    nav(ops, "Comp plans")
    expect(ops.get_by_role("heading", level=1)).to_have_text("Comp plans")
    ops.get_by_role("link", name="New plan").click()
    expect(ops.get_by_role("heading", level=1)).to_have_text("New comp plan")
    header = ops.get_by_role("region", name="Plan", exact=True)
    header.get_by_label("Key", exact=True).fill("ae-accelerator")
    header.get_by_label("Name", exact=True).fill("AE accelerator plan")
    header.get_by_label("Fiscal year").fill("2027")
    expect(header.get_by_label("Currency")).to_have_value("USD")
    component = ops.get_by_role("region", name="First component")
    component.get_by_label("Key", exact=True).fill("bookings")
    component.get_by_label("Name", exact=True).fill("Bookings commission")
    expect(component.get_by_label("Period", exact=True)).to_have_value("quarter")
    component.get_by_label("Quota", exact=True).select_option(label="Fixed")
    component.get_by_label("Fixed quota per period").fill("100000")
    component.get_by_label("Tier mode").select_option(label="Marginal")
    fill_tier(ops, 1, "0", "0.10", "Base")
    fill_tier(ops, 2, "100", "0.15", "Accelerator")
    ops.get_by_role("button", name="Create the draft").click()
    expect(ops.locator(".messages")).to_contain_text("created as a draft")
    expect(ops.get_by_role("heading", level=1)).to_have_text("AE accelerator plan v1")
    expect(ops.locator(".board-head [data-status]")).to_have_attribute("data-status", "draft")

    words = ops.locator("article[data-component=bookings]")
    expect(words).to_contain_text("Quota: USD 100,000.00 per quarter.")
    expect(words).to_contain_text("above 100 % at 15 % (Accelerator)")
    words.get_by_role("link", name="Edit").click()
    expect(ops.get_by_role("heading", level=1)).to_have_text("Edit component bookings")
    # The tiers come back as they were saved.
    expect(ops.get_by_label("Tier 2 from % of quota")).to_have_value("100")
    expect(ops.get_by_label("Tier 2 rate")).to_have_value("0.15")
    expect(ops.get_by_label("Tier 2 label")).to_have_value("Accelerator")
    ops.get_by_label("Cap at % of quota").fill("150")
    ops.get_by_role("button", name="Save the component").click()
    expect(ops.locator(".messages")).to_contain_text("Component Bookings commission saved")
    expect(words).to_contain_text("above 100 % at 15 % (Accelerator); cap 150 % of quota.")

    ops.get_by_role("form", name="Publish").get_by_role("button", name="Publish").click()
    expect(ops.locator(".messages")).to_contain_text("published")
    expect(ops.locator(".board-head [data-status]")).to_have_attribute("data-status", "published")

    # --- … and put the AE on it from the first day of the quarter. ---
    ops.get_by_role("link", name="Manage assignments").click()
    expect(ops.get_by_role("heading", level=1)).to_have_text("People on AE accelerator plan v1")
    people = ops.get_by_role("region", name="Add people")
    people.get_by_label("People").select_option(label=rep_name)
    people.get_by_label("Start date").fill("2027-01-01")
    people.get_by_role("button", name="Add", exact=True).click()
    expect(ops.locator(".messages")).to_contain_text(f"{rep_name} put on AE accelerator plan v1")
    assigned = ops.locator("[data-testid=assignments] tbody tr")
    expect(assigned).to_have_count(1)
    expect(assigned).to_contain_text(rep_name)
    expect(assigned).to_contain_text("2027-01-01")
    expect(assigned).to_contain_text("open-ended")

    plan = CompPlan.objects.get(key="ae-accelerator")
    assert plan.status == PlanStatus.PUBLISHED and plan.published_by == org.ops
    [built] = plan.document["components"]
    assert (built["quota"]["source"], D(built["quota"]["amount"])) == ("fixed", QUOTA)
    assert [(D(t["floor"]), D(t["rate"]), t.get("label")) for t in built["tiers"]] == [
        (D(0), D("0.10"), "Base"),
        (D(100), D("0.15"), "Accelerator"),
    ]
    assert (built["tier_mode"], D(built["cap_attainment"])) == ("marginal", D(150))
    assignment = PlanAssignment.objects.get(plan=plan)
    assert (assignment.user, assignment.start_date, assignment.end_date) == (
        org.rep_east, dt.date(2027, 1, 1), None,
    )  # fmt: skip

    # --- Sales ops create the Q1 run and calculate it; the real worker does the work. ---
    nav(ops, "Commissions")
    expect(ops.get_by_role("heading", level=1)).to_have_text("Commission runs")
    ops.get_by_role("form", name="New run").get_by_label("Period").fill("2027-Q1")
    ops.get_by_role("button", name="New run").click()
    expect(ops.get_by_role("heading", level=1)).to_have_text("Commissions FY2027 Q1")
    status = ops.locator("#run-status")
    expect(status).to_have_attribute("data-status", "draft")
    with celery_worker():
        ops.get_by_role("button", name="Calculate").click()
        expect(status).to_have_attribute("data-status", "calculated", timeout=90_000)
    expect(ops.get_by_test_id("run-total")).to_have_text("USD 17,500.00")
    payee = ops.locator(f"[data-testid=payees] tr[data-user='{org.rep_east.pk}']")
    expect(payee.locator("[data-amount]")).to_have_text("17,500.00")
    expect(ops.get_by_test_id("approve")).to_have_count(0)  # sales ops do not approve

    [run] = CommissionRun.objects.all()
    assert (run.status, run.total, run.payees_count) == (RunStatus.CALCULATED, EXPECTED, 1)
    [line] = PayoutLine.objects.filter(run=run)
    assert (line.user, line.plan, line.component_key, line.amount, line.tier) == (
        org.rep_east, plan, "bookings", EXPECTED, "Accelerator",
    )  # fmt: skip

    # --- Finance approve the run and download the payroll file. ---
    finance = log_in_as("finance_user")
    nav(finance, "Commissions")
    finance.get_by_role("table", name="Commission runs").get_by_role(
        "link", name="FY2027 Q1"
    ).click()
    expect(finance.get_by_role("heading", level=1)).to_have_text("Commissions FY2027 Q1")
    expect(finance.get_by_test_id("run-total")).to_have_text("USD 17,500.00")
    expect(finance.get_by_test_id("approval-conflicts")).to_have_count(0)
    finance.get_by_role("button", name="Approve and lock").click()
    expect(finance.locator(".messages")).to_contain_text(
        "The FY2027 Q1 run is approved and locked."
    )
    expect(finance.locator("#run-status")).to_have_attribute("data-status", "approved")
    with finance.expect_download() as download_info:
        finance.get_by_test_id("payroll").get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"payroll-{run.period_key}.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    run.refresh_from_db()
    assert (run.status, run.approved_by) == (RunStatus.APPROVED, org.finance)
    assert sum(D(row["Amount"]) for row in rows) == run.total == EXPECTED
    [row] = rows
    assert (row["Name"], row["Period"], row["Amount"], row["Currency"]) == (
        rep_name, "FY2027 Q1", "17500.00", "USD",
    )  # fmt: skip
    assert row["Employee ID"] == org.rep_east.rep_profile.employee_id

    # --- The AE opens the statement, follows the line to its deals and disputes it. ---
    rep = log_in_as("rep_east")
    nav(rep, "My commissions")
    expect(rep.get_by_role("heading", level=1)).to_have_text("My commissions")
    period = rep.locator(f"[data-testid=periods] tr[data-run='{run.pk}']")
    expect(period.locator("[data-total]")).to_have_text("USD 17,500.00")
    period.get_by_role("link", name="FY2027 Q1").click()
    expect(rep.get_by_role("heading", level=1)).to_have_text("My FY2027 Q1 statement")
    statement_line = rep.locator(f"[data-testid=lines] tr[data-line='{line.pk}']")
    expect(statement_line).to_contain_text("Bookings commission")
    expect(statement_line).to_contain_text("162.05 %")
    expect(statement_line).to_contain_text("Accelerator")
    expect(statement_line.locator("[data-amount]")).to_have_attribute("data-amount", "17500.00")
    expect(statement_line.locator("[data-amount]")).to_have_text("17,500.00")
    statement_line.get_by_role("link", name="How it was computed").click()

    expect(rep.get_by_role("heading", level=1)).to_contain_text("Bookings commission")
    expect(rep.locator("[data-amount]").first).to_have_attribute("data-amount", "17500.00")
    steps = rep.get_by_test_id("steps")
    expect(steps).to_contain_text("Attainment = 162,050.75 / 100,000.00 quota = 162.05 %")
    expect(steps).to_contain_text("cap is not paid: counted measure = 150,000.00")
    expect(steps).to_contain_text("Accelerator: 50,000.00 × 15 % = 7,500.0000")
    credits = rep.get_by_test_id("credits")
    expect(credits.locator("tbody tr")).to_have_count(len(Q1_DEALS))
    for name in Q1_DEALS:
        expect(credits.get_by_role("link", name=name)).to_be_visible()
    expect(credits).not_to_contain_text(Q2_DEAL[0])
    expect(credits.locator("tfoot")).to_contain_text("162,050.75")

    reason = "The Hooli expansion closed at 45,000.00, not 41,300.25: please check."
    dispute_form = rep.get_by_role("form", name="Open a dispute")
    dispute_form.get_by_label("What looks wrong?").fill(reason)
    dispute_form.get_by_role("button", name="Open a dispute").click()
    expect(rep.locator(".messages")).to_contain_text("Dispute sent")
    expect(rep.get_by_test_id("disputes")).to_contain_text(reason)
    expect(rep.get_by_role("form", name="Open a dispute")).to_have_count(0)  # one open at a time

    dispute = Dispute.objects.get(line=line)
    assert (dispute.raised_by, dispute.status, dispute.message) == (
        org.rep_east, DisputeStatus.OPEN, reason,
    )  # fmt: skip

    # --- Sales ops see it in their dispute queue. ---
    nav(ops, "Disputes")
    expect(ops.get_by_role("heading", level=1)).to_have_text("Disputes")
    queued = ops.locator(f"[data-testid=dispute-queue] tr[data-dispute='{dispute.pk}']")
    expect(queued).to_contain_text(rep_name)
    expect(queued).to_contain_text("FY2027 Q1")
    expect(queued).to_contain_text("USD 17,500.00")
    expect(queued).to_contain_text(reason)
    expect(queued.locator("[data-dispute-status]")).to_have_text("Open")
    expect(ops.locator("[data-open-count]")).to_have_text("1 open")

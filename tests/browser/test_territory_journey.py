"""Journey: a sales-ops analyst drafts a scenario, sends California to the Mountain territory,
sees US West's balance change, auto-balances it and accepts the proposal, applies the scenario
today, and, once the real worker has run, sees the accounts and their open deals re-owned."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm.models import Account, Deal
from territories.models import AssignmentRun, PlanStatus, RunStatus, TerritoryPlan
from territories.scenarios import scenario_diff
from tests.browser.test_login_journey import log_in
from tests.celery_processes import celery_worker
from tests.territories.conftest import live_plan  # noqa: F401  (the shared live plan fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def us_west_cv(page) -> str:
    """The CV of US West's children in this plan, as the scenario page's balance table shows it."""
    row = page.locator("[data-testid=scenario-balance] tr[data-parent=us-west]")
    return row.locator("td").nth(1).inner_text()


def test_analyst_rebalances_a_scenario_and_applies_it(
    browser,
    live_server,
    live_plan,  # noqa: F811
):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, live_server.url, "ops_user")
    page.get_by_role("link", name="Territories", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("FY plan")
    expect(page.locator("tr[data-territory=california] [data-measure=accounts]")).to_have_text("7")

    # Draft a scenario from the live plan.
    scenarios = page.locator("#scenarios")
    scenarios.get_by_label("Name").fill("FY27 West")
    scenarios.get_by_role("button", name="New scenario").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("FY27 West")
    scenario = TerritoryPlan.objects.get(name="FY27 West")
    balance = page.locator("[data-testid=scenario-balance] tr[data-parent=us-west] td")
    expect(balance.nth(1)).to_have_text("0.23")  # this plan: 7 / 4 / 5 accounts, as live
    expect(balance.nth(3)).to_have_text("0.23")  # live
    chart = page.locator("[data-chart=balance-chart]")
    expect(chart).to_have_attribute("data-rendered", "true")

    # Move California (the state) from the California territory to Mountain.
    region = page.get_by_role("form", name="Move a state or region")
    region.get_by_label("Country").fill("US")
    region.get_by_label("State / region").fill("CA")
    region.get_by_label("To territory").select_option(label="Mountain")
    region.get_by_role("button", name="Move the region").click()
    expect(page.locator(".messages")).to_contain_text("CA (US) now goes to Mountain")
    expect(page.locator("tr[data-territory=mountain] [data-measure=accounts]")).to_contain_text(
        "11"
    )
    expect(balance.nth(1)).to_have_text("0.84")  # 0 / 11 / 5: far less even
    expect(balance.nth(3)).to_have_text("0.23")
    expect(page.locator("[data-testid=moved-summary]")).to_contain_text(
        "7 accounts change territory"
    )

    # The chart follows the measure chosen (htmx swaps the balance section in).
    page.locator("#balance").get_by_label("Territories under").select_option(label="US West")
    expect(page.locator("[data-chart=balance-chart]")).to_have_attribute("data-rendered", "true")
    expect(page.locator("[data-chart=balance-chart] .xtick")).to_have_count(3)

    # Auto-balance US West on accounts, by whole states; accept the proposal.
    auto = page.locator("#autobalance")
    auto.get_by_label("Balance the territories under").select_option(label="US West")
    auto.get_by_label("Measure").select_option(label="Accounts")
    auto.get_by_label("At most moves").fill("5")
    auto.get_by_role("button", name="Propose moves").click()
    proposal = page.locator("[data-testid=proposal]")
    expect(proposal).to_contain_text("Proposal for US West on accounts")
    expect(proposal).to_contain_text("the CV from 0.84 to")
    after_cv = proposal.locator("tr[data-when=after] td").nth(1).inner_text()
    assert float(after_cv) < 0.84
    proposal.get_by_role("button", name=re.compile(r"Accept the \d+ moves?")).click()
    expect(page.locator(".messages")).to_contain_text("Accepted:")
    expect(balance.nth(1)).to_have_text(after_cv)

    # What applying will do, worked out from the database before the run.
    diff = scenario_diff(scenario, limit=1000)
    assert diff.territory_moves >= 7
    expected = {row.account_id: (row.to_key, row.to_owner_id) for row in diff.rows}
    open_deals = {
        deal.pk: expected[deal.account_id][1]
        for deal in Deal.objects.filter(account_id__in=expected, closed_at__isnull=True)
        if deal.owner_id != expected[deal.account_id][1]
    }
    assert open_deals  # Golden Gate Labs, Pacific Robotics … have open deals

    # Apply today, with open deals going to the new owners; the real worker runs it.
    with celery_worker():
        apply = page.get_by_role("form", name="Apply the scenario")
        expect(
            apply.get_by_label("Also give moved accounts' open deals to their new owner")
        ).to_be_checked()
        apply.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Applying FY27 West")
        expect(page.locator("#run-status")).to_have_attribute("data-status", "done", timeout=90_000)
    expect(page.locator("[data-testid=deals-reassigned]")).to_have_text(str(len(open_deals)))
    moves = page.locator("[data-testid=moves]")
    golden = Account.objects.get(name="Golden Gate Labs")
    golden_row = moves.locator("tr[data-account='Golden Gate Labs']")
    expect(golden_row).to_contain_text("Mountain")
    expect(golden_row).to_contain_text(str(live_plan.reps["rep_mountain"]))

    # The account page: its new owner, and its open deal handed over with it.
    golden_row.get_by_role("link", name="Golden Gate Labs").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Golden Gate Labs")
    expect(page.locator("dd").filter(has_text=str(live_plan.reps["rep_mountain"]))).to_have_count(1)
    deal_row = page.get_by_role("table", name="Deals").locator("tr", has_text="gg-negotiation")
    expect(deal_row).to_contain_text(str(live_plan.reps["rep_mountain"]))

    # And in the database: every account and open deal as the scenario said.
    run = AssignmentRun.objects.get(plan=scenario)
    assert (run.status, run.accounts_moved, run.deals_reassigned) == (
        RunStatus.DONE, diff.territory_moves, len(open_deals),
    )  # fmt: skip
    scenario.refresh_from_db()
    live_plan.plan.refresh_from_db()
    assert (scenario.status, live_plan.plan.status) == (PlanStatus.LIVE, PlanStatus.RETIRED)
    keys = dict(scenario.territories.values_list("pk", "key"))
    for account in Account.objects.filter(pk__in=expected):
        assert (keys[account.territory_id], account.owner_id) == expected[account.pk], account
    for deal in Deal.objects.filter(pk__in=open_deals):
        assert deal.owner_id == open_deals[deal.pk], deal
    assert golden.pk in expected
    page.close()

"""Journey: a rep works their pipeline on the board, in real Chromium."""

import pytest

from crm.models import Activity, Deal
from crm.services import deal_create
from tests.browser.test_login_journey import log_in
from tests.conftest import fresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rep_drags_a_deal_fills_what_the_stage_needs_logs_a_call_and_loses_it(
    browser,
    live_server,
    org,
    deal,
    accounts,  # noqa: F811
):
    deal_create(
        acting_user=fresh(org.rep_east_2), account=accounts[org.rep_east_2], name="Teammate deal"
    )
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    log_in(page, live_server.url, "rep_east")
    page.get_by_role("link", name="Board", exact=True).click()
    board = page.locator("#board")
    assert "Teammate deal" not in board.inner_text()  # only the rep's own pipeline

    card = page.locator(".deal-card", has_text="Acme robots")
    card.drag_to(page.locator("section.column[aria-label='Discovery']"))
    dialog = page.locator("#move-dialog")
    dialog.get_by_text("Discovery needs these fields first").wait_for()
    dialog.get_by_label("Amount (USD)").fill("48000")
    dialog.get_by_label("Close date").fill("2026-12-15")
    dialog.get_by_role("button", name="Move to Discovery").click()
    discovery = page.locator("section.column[aria-label='Discovery']")
    discovery.locator(".deal-card", has_text="Acme robots").wait_for()
    assert not dialog.is_visible()
    assert Deal.objects.get(pk=deal.pk).stage.name == "Discovery"

    discovery.get_by_role("link", name="Acme robots").click()
    page.get_by_role("heading", name="Acme robots").wait_for()
    page.locator("#id_kind").select_option("call")
    page.locator("#id_subject").fill("Call with the plant manager")
    page.get_by_role("button", name="Log", exact=True).click()
    page.get_by_text("Activity logged.").wait_for()
    assert Activity.objects.filter(deal=deal, subject="Call with the plant manager").exists()

    page.get_by_role("button", name="Mark lost").click()
    dialog.get_by_label("Lost reason").fill("Chose a competitor")
    dialog.get_by_role("button", name="Move to Closed Lost").click()
    page.locator(".stage-path .current.lost").wait_for()
    deal.refresh_from_db()
    assert (deal.stage.name, deal.lost_reason) == ("Closed Lost", "Chose a competitor")
    page.close()

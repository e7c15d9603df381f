"""Journey: a manager ticks every deal on the list page and gives them to another rep."""

import pytest
from playwright.sync_api import expect

from crm.models import Deal, DealHistory
from crm.services import deal_create
from tests.browser.test_login_journey import log_in
from tests.conftest import fresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_selects_all_on_the_page_and_reassigns(
    browser,
    live_server,
    org,
    pipeline,
    accounts,  # noqa: F811
):
    for n in range(3):
        deal_create(
            acting_user=fresh(org.rep_east), account=accounts[org.rep_east], name=f"Robot {n}"
        )
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    log_in(page, live_server.url, "manager_east")
    page.get_by_role("link", name="Deals", exact=True).click()
    reassign = page.get_by_role("button", name="Reassign")
    expect(reassign).to_be_disabled()  # nothing ticked yet (waits for the page's script)

    page.get_by_label("Select all deals on this page").check()
    page.get_by_text("3 deals selected").wait_for()
    page.get_by_label("Reassign to").select_option(label=str(org.rep_east_2))
    reassign.click()
    page.get_by_text("3 deals updated.").wait_for()

    deals = Deal.objects.filter(name__startswith="Robot")
    assert {(d.owner_id, d.version) for d in deals} == {(org.rep_east_2.pk, 2)}
    assert DealHistory.objects.filter(deal__in=deals, changed_fields=["owner"]).count() == 3
    page.close()

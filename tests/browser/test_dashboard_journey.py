"""Journey: a manager opens the team dashboard, changes the period, and clicks a bar to land on
the deals behind it."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.services import deal_close, deal_create
from reporting.services import kpi_recompute_full
from salesops.fiscal import PeriodKind
from salesops.org.models import User
from salesops.org.selectors import fiscal_calendar
from tests.browser.test_login_journey import log_in
from tests.conftest import fresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def won(org, accounts, rep, name: str, amount: int, closes: dt.date):
    deal = deal_create(acting_user=fresh(rep), account=accounts[rep], name=name,
                       amount=Decimal(amount), close_date=closes)  # fmt: skip
    deal_close(deal=deal, won=True, acting_user=fresh(rep), expected_version=1)


def test_manager_changes_the_period_and_drills_into_a_bar(
    browser,
    live_server,
    org,
    pipeline,
    accounts,  # noqa: F811
):
    calendar = fiscal_calendar()
    last_quarter = calendar.shift(calendar.period(timezone.localdate(), PeriodKind.QUARTER), -1)
    middle = last_quarter.start + dt.timedelta(days=20)
    won(org, accounts, org.rep_east, "Gearbox retrofit", 7000, middle)
    won(org, accounts, org.rep_east_2, "Conveyor line", 3000, middle)
    won(org, accounts, org.rep_west, "West deal", 9000, middle)  # another team: not shown
    kpi_recompute_full()

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, live_server.url, "manager_east")
    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("East")
    charts = page.locator("[data-chart]")
    for n in range(charts.count()):  # every chart was drawn by plotly.js
        expect(charts.nth(n)).to_have_attribute("data-rendered", "true")
        expect(charts.nth(n).locator("svg.main-svg").first).to_be_visible()

    # Plotly's own PNG export sits in every chart's toolbar.
    by_month = page.locator("[data-chart=bookings_by_month]")
    by_month.hover()
    expect(by_month.locator("[data-title='Download plot as a PNG']")).to_have_count(1)

    page.get_by_label("Period").select_option(label=last_quarter.label)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(last_quarter.label)
    expect(page.locator("[data-kpi=bookings] .stat")).to_have_text("USD 10,000")

    by_rep = page.locator("[data-chart=bookings_by_member]")
    expect(by_rep).to_have_attribute("data-rendered", "true")
    reps = list(User.objects.filter(rep_profile__team=org.east).order_by("last_name", "first_name"))
    first_bar = by_rep.locator("g.trace.bars g.point path").first
    box = first_bar.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    page.wait_for_url(re.compile(r"/crm/deals/\?"))
    assert f"owner={reps[0].pk}" in page.url and "status=won" in page.url
    assert f"close_date_after={last_quarter.start.isoformat()}" in page.url
    expected = "Gearbox retrofit" if reps[0] == org.rep_east else "Conveyor line"
    expect(page.get_by_role("link", name=expected)).to_be_visible()
    expect(page.get_by_role("link", name="West deal")).to_have_count(0)
    page.close()

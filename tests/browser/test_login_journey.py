"""Journey: a person logs in and lands on their role's home page, on a laptop and a phone."""

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOMES = [
    ("rep_east", "Welcome, Rep", "Rep"),
    ("manager_east", "My teams", "Manager"),
    ("ops_user", "Sales operations", "Sales-ops analyst"),
    ("finance_user", "Finance", "Finance"),
    ("admin_user", "Administration", "Admin"),
]


def log_in(page, base_url, username):
    page.goto(f"{base_url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


@pytest.mark.parametrize(("username", "heading", "badge"), HOMES)
def test_log_in_and_see_the_role_home_page(browser, live_server, org, username, heading, badge):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    log_in(page, live_server.url, username)
    assert page.get_by_role("heading", level=1).inner_text().startswith(heading)
    assert page.locator(".role-badge").inner_text() == badge
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    context.close()


def test_manager_on_a_phone_opens_the_menu_and_reaches_teams(browser, live_server, org):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, live_server.url, "manager_east")
    teams_link = page.get_by_role("link", name="Teams")
    assert not teams_link.is_visible()
    page.locator("label.nav-toggle-label").click()
    teams_link.click()
    page.wait_for_url("**/org/teams/")
    assert "East" in page.locator("table").inner_text()
    assert "London" not in page.locator("table").inner_text()
    context.close()


def test_wrong_password_stays_on_login_with_a_message(browser, live_server, org):
    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("rep_east")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    assert "didn't match" in page.get_by_role("alert").inner_text()
    page.close()

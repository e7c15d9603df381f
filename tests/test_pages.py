"""Server-rendered pages: login, the home page of each role, navigation, scoping, errors."""

import pytest

from tests.factories import PASSWORD

HEADINGS = {
    "rep_east": "Welcome, Rep",
    "manager_east": "My teams",
    "ops_user": "Sales operations",
    "finance_user": "Finance",
    "admin_user": "Administration",
}


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(("username", "heading"), HEADINGS.items())
def test_each_role_logs_in_to_its_home_page(client, org, username, heading):
    response = client.post(
        "/accounts/login/", {"username": username, "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert f"<h1>{heading}" in response.content.decode()


def test_wrong_password_is_explained(client, org):
    response = client.post("/accounts/login/", {"username": "rep_east", "password": "nope"})
    assert "Your username and password didn't match." in response.content.decode()


def test_navigation_depends_on_role(client, org):
    client.force_login(org.rep_east)
    rep_page = client.get("/").content.decode()
    assert "Exchange rates" not in rep_page and "Audit log" not in rep_page
    client.force_login(org.finance)
    finance_page = client.get("/").content.decode()
    assert "Exchange rates" in finance_page and "Audit log" in finance_page


def test_manager_home_lists_only_their_reps(client, org):
    client.force_login(org.manager_east)
    page = client.get("/").content.decode()
    assert "Person" in page
    assert org.rep_east.get_full_name() in page
    assert org.rep_west.get_full_name() not in page
    assert org.rep_london.get_full_name() not in page


def test_team_page_is_scoped(client, org):
    client.force_login(org.vp_emea)
    page = client.get("/org/teams/").content.decode()
    assert "London" in page and "East" not in page and "Americas" not in page


def test_rates_page_needs_a_finance_ops_or_admin_role(client, org):
    client.force_login(org.manager_east)
    assert client.get("/org/exchange-rates/").status_code == 403
    client.force_login(org.finance)
    assert client.get("/org/exchange-rates/").status_code == 200


def test_logout_ends_the_session(client, org):
    client.force_login(org.rep_east)
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_password_change(client, org):
    client.force_login(org.rep_east)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-better-passphrase",
            "new_password2": "a-much-better-passphrase",
        },
    )
    assert response.status_code == 302
    org.rep_east.refresh_from_db()
    assert org.rep_east.check_password("a-much-better-passphrase")


def test_home_page_query_count_is_bounded(client, org, django_assert_max_num_queries):
    from tests.factories import rep

    for n in range(15):
        rep(org.east, username=f"more{n}")
    client.force_login(org.manager_east)
    with django_assert_max_num_queries(12):
        assert client.get("/").status_code == 200

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
    assert ">Quotas<" in rep_page and ">Territories<" not in rep_page
    client.force_login(org.finance)
    finance_page = client.get("/").content.decode()
    assert "Exchange rates" in finance_page and "Audit log" in finance_page
    assert ">Territories<" in finance_page and ">Quotas<" in finance_page


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


def test_home_page_query_count_does_not_grow_with_the_team(client, org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import rep

    client.force_login(org.manager_east)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    queries()  # warm caches (content types, permissions) so both counts are like for like
    few = queries()
    for n in range(15):
        rep(org.east, username=f"more{n}")
    assert queries() == few <= 25


def test_finance_enters_a_rate_and_it_is_audited(client, org):
    from salesops.audit import audit_events_for
    from salesops.org.models import ExchangeRate

    client.force_login(org.finance)
    response = client.post(
        "/org/exchange-rates/", {"currency": "eur", "valid_from": "2026-10-01", "rate": "1.0825"}
    )
    assert response.status_code == 302
    rate = ExchangeRate.objects.get()
    assert (rate.currency, str(rate.rate)) == ("EUR", "1.08250000")
    assert audit_events_for(rate).get().pgh_context["user"] == org.finance.pk


def test_bad_rate_input_is_explained_and_nothing_is_saved(client, org):
    from salesops.org.models import ExchangeRate

    client.force_login(org.finance)
    page = client.post(
        "/org/exchange-rates/", {"currency": "USD", "valid_from": "2026-10-01", "rate": "1"}
    ).content.decode()
    assert "USD is the corporate currency; its rate is always 1." in page
    page = client.post(
        "/org/exchange-rates/", {"currency": "ZZZ", "valid_from": "2026-10-01", "rate": "1"}
    ).content.decode()
    assert "&#x27;ZZZ&#x27; is not an ISO 4217 currency code" in page
    assert not ExchangeRate.objects.exists()


def test_ops_reads_rates_but_cannot_enter_them(client, org):
    client.force_login(org.ops)
    page = client.get("/org/exchange-rates/").content.decode()
    assert "Enter a rate" not in page
    response = client.post(
        "/org/exchange-rates/", {"currency": "EUR", "valid_from": "2026-10-01", "rate": "1.1"}
    )
    assert response.status_code == 403


def test_settings_page_changes_the_fiscal_calendar(client, org):
    from salesops.org.selectors import org_settings

    client.force_login(org.ops)
    response = client.post(
        "/org/settings/",
        {
            "company_name": "Globex",
            "corporate_currency": "eur",
            "fiscal_year_start_month": "4",
            "fiscal_year_naming": "start",
        },
    )
    assert response.status_code == 302
    settings = org_settings()
    assert (settings.company_name, settings.corporate_currency) == ("Globex", "EUR")
    assert settings.fiscal_calendar.year_start(2026).isoformat() == "2026-04-01"
    page = client.get("/org/settings/").content.decode()
    assert "FY2026 Q1" in page


def test_reps_and_managers_cannot_change_settings(client, org):
    for person in (org.rep_east, org.manager_east):
        client.force_login(person)
        assert client.get("/org/settings/").status_code == 403


def test_api_token_page_creates_and_replaces_a_token(client, org):
    from rest_framework.authtoken.models import Token

    client.force_login(org.rep_east)
    client.post("/org/api-token/")
    first = Token.objects.get(user=org.rep_east).key
    assert first in client.get("/org/api-token/").content.decode()
    client.post("/org/api-token/")
    assert Token.objects.get(user=org.rep_east).key != first

"""Account and lead pages: scoped lists and pages, lead status and conversion, the deal timeline."""

import csv
import io
from decimal import Decimal

import pytest

from crm.leads import lead_create, lead_set_status
from crm.models import (
    Account,
    Contact,
    Deal,
    DealType,
    ForecastCategory,
    Lead,
    LeadStatus,
    Pipeline,
)
from crm.services import (
    account_save,
    activity_log,
    contact_create,
    deal_close,
    deal_create,
    deal_update,
    stage_save,
)
from tests.conftest import fresh
from tests.crm.conftest import FILLED


def names(response, key="page"):
    return sorted(str(getattr(row, "name", row)) for row in response.context[key])


# Accounts


def test_rep_sees_own_account_page_and_404_for_another_teams(client, org, accounts):
    client.force_login(org.rep_east)
    assert client.get(f"/crm/accounts/{accounts[org.rep_east].pk}/").status_code == 200
    assert client.get(f"/crm/accounts/{accounts[org.rep_london].pk}/").status_code == 404
    assert client.get(f"/crm/accounts/{accounts[org.rep_east_2].pk}/").status_code == 404
    assert client.get("/crm/accounts/999999/").status_code == 404


def test_manager_sees_the_team_accounts_and_not_other_teams(client, org, accounts):
    client.force_login(org.manager_east)
    for rep in (org.rep_east, org.rep_east_2):
        assert client.get(f"/crm/accounts/{accounts[rep].pk}/").status_code == 200
    for rep in (org.rep_west, org.rep_london):
        assert client.get(f"/crm/accounts/{accounts[rep].pk}/").status_code == 404
    assert names(client.get("/crm/accounts/")) == ["rep_east Corp", "rep_east_2 Corp"]
    client.force_login(org.vp_americas)
    assert names(client.get("/crm/accounts/")) == [
        "rep_east Corp",
        "rep_east_2 Corp",
        "rep_west Corp",
    ]
    client.force_login(org.rep_east)
    assert names(client.get("/crm/accounts/")) == ["rep_east Corp"]
    client.force_login(org.finance)
    assert len(client.get("/crm/accounts/").context["page"]) == 4


def test_account_page_shows_details_family_deals_open_first_contacts_and_activities(
    client, org, pipeline, accounts
):
    rep = fresh(org.rep_east)
    account = accounts[org.rep_east]
    parent = account_save(acting_user=rep, name="Holding Group", employees=5000)
    account_save(
        acting_user=rep,
        account=account,
        parent=parent,
        industry="Robotics",
        country="us",
        domain="www.East.example",
    )
    account_save(acting_user=rep, name="East Subsidiary", parent=account)
    won = deal_create(acting_user=rep, account=account, name="Won earlier", **FILLED)
    deal_close(deal=won, won=True, acting_user=rep, expected_version=1)
    deal_create(acting_user=rep, account=account, name="Open later", **FILLED)
    contact_create(
        acting_user=rep, account=account, last_name="Curie", first_name="Marie", email="m@e.x"
    )
    activity_log(acting_user=rep, kind="call", subject="Intro call", account=account)
    client.force_login(org.rep_east)
    response = client.get(f"/crm/accounts/{account.pk}/")
    page = response.content.decode()
    assert [d.name for d in response.context["deals"]] == ["Open later", "Won earlier"]
    for text in (
        "Mid-market",  # segment from 250 employees
        "Robotics",
        "east.example",
        "Holding Group",
        "East Subsidiary",
        "Marie Curie",
        "Intro call",
        f'href="/crm/deals/{won.pk}/"',
        "1 open of 2",
    ):
        assert text in page, text
    assert response.context["parent"] == parent


def test_account_page_lists_only_deals_in_scope(client, org, pipeline, accounts):
    account = accounts[org.rep_east]
    deal_create(acting_user=fresh(org.rep_east), account=account, name="Mine")
    deal_create(
        acting_user=fresh(org.manager_east), account=account, owner=org.rep_east_2, name="Theirs"
    )
    client.force_login(org.rep_east)
    assert names(client.get(f"/crm/accounts/{account.pk}/"), "deals") == ["Mine"]
    client.force_login(org.manager_east)
    assert names(client.get(f"/crm/accounts/{account.pk}/"), "deals") == ["Mine", "Theirs"]


def test_account_list_filters_sorts_paginates_and_exports_in_scope(client, org, accounts):
    Account.objects.bulk_create(
        Account(name=f"Bulk {n:02}", owner=org.rep_east, employees=n * 100 - 1)
        for n in range(1, 56)
    )
    client.force_login(org.rep_east)
    response = client.get("/crm/accounts/", {"q": "bulk", "sort": "-employees"})
    assert response.context["page"].paginator.count == 55
    assert response.context["page"][0].name == "Bulk 55"
    second = client.get("/crm/accounts/", {"q": "bulk", "sort": "-employees", "page": 2})
    assert [a.name for a in second.context["page"]][:1] == ["Bulk 05"]
    response = client.get("/crm/accounts/", {"segment": "smb"})
    assert names(response) == ["Bulk 01"]
    export = client.get("/crm/accounts/export.csv", {"segment": "ent"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:2] == ["Id", "Account"]
    assert len(rows) == 1 + 45  # 1,000+ employees: Bulk 11 … Bulk 55
    client.force_login(org.rep_west)
    export = client.get("/crm/accounts/export.csv")
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "rep_west Corp" in body and "Bulk" not in body
    assert client.get("/crm/accounts/export.xlsx").status_code == 200


def test_deal_pages_and_search_link_the_account(client, org, pipeline, accounts, deal):
    url = f'href="/crm/accounts/{accounts[org.rep_east].pk}/"'
    client.force_login(org.rep_east)
    assert url in client.get(f"/crm/deals/{deal.pk}/").content.decode()
    assert url in client.get("/crm/deals/").content.decode()
    assert url in client.get("/crm/search/", {"q": "rep_east co"}).content.decode()


def test_navigation_has_accounts_and_leads_for_every_role(client, org):
    for person in (org.rep_east, org.manager_east, org.ops, org.finance, org.admin):
        client.force_login(person)
        labels = [item["label"] for item in client.get("/crm/deals/").context["nav_items"]]
        assert "Accounts" in labels and "Leads" in labels, person


# Leads


@pytest.fixture
def leads(org):
    def make(owner, **fields):
        fields.setdefault("last_name", "Lead")
        fields.setdefault("company", "Co")
        return lead_create(acting_user=None, owner=owner, **fields)

    return {
        "east": make(org.rep_east, last_name="Ada", company="Analytical Ltd", source="web"),
        "east_2": make(org.rep_east_2, last_name="Grace", company="Cobol Inc", source="event"),
        "london": make(org.rep_london, last_name="Alan", company="Enigma plc", source="web"),
        "manager": make(org.manager_east, last_name="Boss", company="Own lead Co"),
    }


def test_lead_list_is_scoped_and_filtered(client, org, leads):
    client.force_login(org.rep_east)
    response = client.get("/crm/leads/")
    assert [lead.last_name for lead in response.context["page"]] == ["Ada"]
    assert "My leads" in response.content.decode()
    client.force_login(org.manager_east)
    lastnames = lambda r: sorted(lead.last_name for lead in r.context["page"])  # noqa: E731
    assert lastnames(client.get("/crm/leads/")) == ["Ada", "Boss", "Grace"]
    assert lastnames(client.get("/crm/leads/", {"source": "event"})) == ["Grace"]
    assert lastnames(client.get("/crm/leads/", {"q": "analyt"})) == ["Ada"]
    assert lastnames(client.get("/crm/leads/", {"mine": "on"})) == ["Boss"]
    assert lastnames(client.get("/crm/leads/", {"owner": org.rep_east_2.pk})) == ["Grace"]
    lead_set_status(lead=leads["east"], status=LeadStatus.WORKING, acting_user=fresh(org.rep_east))
    assert lastnames(client.get("/crm/leads/", {"status": "working"})) == ["Ada"]
    sorted_by_company = client.get("/crm/leads/", {"sort": "-company"}).context["page"]
    assert [lead.company for lead in sorted_by_company] == [
        "Own lead Co",
        "Cobol Inc",
        "Analytical Ltd",
    ]


def test_lead_page_is_404_out_of_scope(client, org, leads):
    client.force_login(org.rep_east)
    assert client.get(f"/crm/leads/{leads['east'].pk}/").status_code == 200
    for key in ("east_2", "london"):
        assert client.get(f"/crm/leads/{leads[key].pk}/").status_code == 404
        response = client.post(f"/crm/leads/{leads[key].pk}/status/", {"status": "working"})
        assert response.status_code == 404
    assert Lead.objects.get(pk=leads["east_2"].pk).status == LeadStatus.NEW


def test_status_change_and_disqualify_asks_for_the_reason(client, org, leads):
    lead = leads["east"]
    client.force_login(org.rep_east)
    response = client.post(f"/crm/leads/{lead.pk}/status/", {"status": "working"})
    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.WORKING
    page = client.post(
        f"/crm/leads/{lead.pk}/status/", {"status": "disqualified", "reason": " "}
    ).content.decode()
    assert "Say why the lead is disqualified." in page
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.WORKING
    client.post(f"/crm/leads/{lead.pk}/status/", {"status": "disqualified", "reason": "No budget"})
    lead.refresh_from_db()
    assert (lead.status, lead.disqualify_reason) == (LeadStatus.DISQUALIFIED, "No budget")


def test_finance_reads_leads_but_cannot_change_them(client, org, leads):
    client.force_login(org.finance)
    page = client.get(f"/crm/leads/{leads['east'].pk}/").content.decode()
    assert "Mark working" not in page and "Convert" not in page
    assert (
        client.post(f"/crm/leads/{leads['east'].pk}/status/", {"status": "working"}).status_code
        == 403
    )
    assert client.post(f"/crm/leads/{leads['east'].pk}/convert/", {}).status_code == 403
    assert Lead.objects.get(pk=leads["east"].pk).status == LeadStatus.NEW


def test_convert_via_the_page_makes_account_contact_and_deal(client, org, pipeline, leads):
    lead = leads["east"]
    client.force_login(org.rep_east)
    response = client.post(
        f"/crm/leads/{lead.pk}/convert/",
        {"account": "", "deal_name": "Analytical engine", "amount": "5000", "close_date": ""},
    )
    deal = Deal.objects.get(name="Analytical engine")
    assert response.status_code == 302 and response["Location"] == f"/crm/deals/{deal.pk}/"
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert (deal.account.name, deal.owner, deal.amount, deal.source_lead) == (
        "Analytical Ltd",
        org.rep_east,
        Decimal("5000.00"),
        lead,
    )
    assert lead.converted_account == deal.account
    assert Contact.objects.get(account=deal.account).last_name == "Ada"
    page = client.get(f"/crm/leads/{lead.pk}/").content.decode()
    assert "Analytical engine" in page and "Converted" in page


def test_convert_names_the_new_account_and_picks_the_pipeline(client, org, pipeline, leads):
    expansion = Pipeline.objects.create(name="Expansion", kind=DealType.EXPANSION, position=1)
    stage_save(acting_user=fresh(org.ops), pipeline=expansion, name="Scoping", probability=Decimal(20),
               forecast_category=ForecastCategory.PIPELINE, position=0)  # fmt: skip
    lead = leads["east"]
    client.force_login(org.rep_east)
    page = client.get(f"/crm/leads/{lead.pk}/").content.decode()
    # The form offers every active pipeline, new business first, and the company as the name.
    assert f'<option value="{pipeline.pk}" selected>New Business</option>' in page
    assert f'<option value="{expansion.pk}">Expansion</option>' in page
    assert 'value="Analytical Ltd"' in page
    client.post(
        f"/crm/leads/{lead.pk}/convert/",
        {"account": "", "account_name": "Analytical Engines plc", "pipeline": expansion.pk,
         "deal_name": "Engine upsell"},
    )  # fmt: skip
    deal = Deal.objects.get(name="Engine upsell")
    assert (deal.account.name, deal.pipeline, deal.stage.name, deal.type) == (
        "Analytical Engines plc",
        expansion,
        "Scoping",
        DealType.EXPANSION,
    )
    assert not Account.objects.filter(name="Analytical Ltd").exists()


def test_convert_into_an_existing_account_and_errors_show_on_the_form(
    client, org, pipeline, accounts, leads
):
    existing = account_save(
        acting_user=fresh(org.rep_east), name="Analytical Ltd (UK)", domain="analytical.example"
    )
    lead = leads["east"]
    client.force_login(org.rep_east)
    page = client.get(f"/crm/leads/{lead.pk}/").content.decode()
    assert f'<option value="{existing.pk}">Analytical Ltd (UK)' in page
    # Another team's account is not accepted, even posted by hand.
    page = client.post(
        f"/crm/leads/{lead.pk}/convert/",
        {"account": accounts[org.rep_london].pk, "deal_name": "X"},
    ).content.decode()
    assert "Select a valid choice" in page
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.NEW
    client.post(
        f"/crm/leads/{lead.pk}/convert/", {"account": existing.pk, "deal_name": "Into existing"}
    )
    assert Deal.objects.get(name="Into existing").account == existing
    assert Account.objects.filter(name="Analytical Ltd").count() == 0
    # A converted lead cannot be converted again; the refusal shows on the form.
    page = client.post(
        f"/crm/leads/{lead.pk}/convert/", {"account": "", "deal_name": "Twice"}
    ).content.decode()
    assert "This lead is converted; it cannot be converted." in page
    assert not Deal.objects.filter(name="Twice").exists()


# The deal page's timeline


def test_deal_timeline_shows_audit_entries_with_who_changed_what(client, org, pipeline, deal):
    deal_update(
        deal=deal,
        acting_user=fresh(org.manager_east),
        expected_version=1,
        name="Acme robots v2",
        next_step="Send the quote",
        amount=Decimal("900"),
    )
    client.force_login(org.rep_east)
    response = client.get(f"/crm/deals/{deal.pk}/")
    audit = [e for e in response.context["timeline"] if e["kind"] == "audit"]
    assert len(audit) == 1
    entry = audit[0]["row"]
    assert entry["actor"] == org.manager_east and entry["reason"] == "deal_update"
    assert {c["field"]: (c["old"], c["new"]) for c in entry["changes"]} == {
        "name": ("Acme robots", "Acme robots v2"),
        "next step": ("—", "Send the quote"),
    }  # the amount change is the history row's, shown once
    page = response.content.decode()
    assert "name Acme robots → Acme robots v2" in page
    assert "amount — → 900.00" in page
    kinds = [e["kind"] for e in response.context["timeline"]]
    assert sorted(kinds) == ["audit", "history", "history"]


def test_deal_timeline_shows_changes_made_outside_the_services(client, org, pipeline, deal):
    Deal.objects.filter(pk=deal.pk).update(owner=org.rep_east_2)  # e.g. a SQL fix by support
    Deal.objects.filter(pk=deal.pk).update(owner=org.rep_east)
    client.force_login(org.rep_east)
    audit = [
        e for e in client.get(f"/crm/deals/{deal.pk}/").context["timeline"] if e["kind"] == "audit"
    ]
    changes = [c for e in audit for c in e["row"]["changes"]]
    assert {"field": "owner", "old": str(org.rep_east), "new": str(org.rep_east_2)} in changes


def test_list_pages_query_counts_do_not_grow_with_rows(
    client, org, accounts, django_assert_max_num_queries
):
    parent = accounts[org.rep_east]
    Account.objects.bulk_create(
        Account(name=f"Acc {n}", owner=org.rep_east, parent=parent) for n in range(30)
    )
    Lead.objects.bulk_create(
        Lead(last_name=f"L{n}", company="Co", owner=org.rep_east, created_at=parent.created_at)
        for n in range(30)
    )
    client.force_login(org.manager_east)
    with django_assert_max_num_queries(12):
        assert client.get("/crm/accounts/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/crm/leads/").status_code == 200
    with django_assert_max_num_queries(16):
        assert client.get(f"/crm/accounts/{parent.pk}/").status_code == 200

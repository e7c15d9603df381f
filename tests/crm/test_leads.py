"""Leads: routing by rule and round-robin, first response, conversion in one step."""

from decimal import Decimal

import pytest

from crm.leads import lead_convert, lead_create, lead_set_status
from crm.models import Account, Contact, Deal, LeadRoutingRule, LeadStatus
from salesops.errors import DomainError
from tests.conftest import fresh


@pytest.fixture
def rules(org):
    LeadRoutingRule.objects.create(position=0, name="UK", country="GB", team=org.london)
    LeadRoutingRule.objects.create(position=1, name="Enterprise", segment="ent", team=org.west)
    LeadRoutingRule.objects.create(position=2, name="Everything else", team=org.east)


def test_round_robin_within_the_matching_team(org, rules):
    owners = [
        lead_create(acting_user=None, last_name=f"L{n}", company=f"Co {n}", country="us").owner
        for n in range(5)
    ]
    assert owners == [org.rep_east, org.rep_east_2, org.rep_east, org.rep_east_2, org.rep_east]


def test_rules_by_country_then_segment(org, rules):
    uk = lead_create(
        acting_user=None, last_name="Smith", company="Tesco", country="gb", employees=9000
    )
    big = lead_create(
        acting_user=None, last_name="Jones", company="Walmart", country="US", employees=9000
    )
    small = lead_create(acting_user=None, last_name="Lee", company="Corner shop", employees=4)
    assert (uk.owner, uk.country) == (org.rep_london, "GB")
    assert big.owner == org.rep_west
    assert small.owner == org.rep_east


def test_no_matching_rule_leaves_the_lead_unassigned_for_ops(org):
    lead = lead_create(acting_user=None, last_name="Nobody", company="Nowhere")
    assert lead.owner is None


def test_first_response_is_stamped_once(org, rules):
    lead = lead_create(acting_user=None, last_name="A", company="B")
    worked = lead_set_status(lead=lead, status=LeadStatus.WORKING, acting_user=fresh(org.rep_east))
    first = worked.first_response_at
    assert first is not None
    again = lead_set_status(lead=lead, status=LeadStatus.QUALIFIED, acting_user=fresh(org.rep_east))
    assert again.first_response_at == first


def test_disqualifying_needs_a_reason(org, rules):
    lead = lead_create(acting_user=None, last_name="A", company="B")
    with pytest.raises(DomainError, match="Say why the lead is disqualified."):
        lead_set_status(lead=lead, status=LeadStatus.DISQUALIFIED, acting_user=fresh(org.rep_east))


def test_conversion_creates_account_contact_and_deal_in_one_step(org, rules, pipeline):
    lead = lead_create(
        acting_user=None, first_name="Ada", last_name="Lovelace", company="Analytical Engines",
        email="ada@engines.example", country="US", employees=120,
    )  # fmt: skip
    deal = lead_convert(lead=lead, acting_user=fresh(org.rep_east), amount=Decimal("9000"))
    account = Account.objects.get(name="Analytical Engines")
    contact = Contact.objects.get(account=account)
    assert (account.owner, account.domain, account.segment) == (
        org.rep_east,
        "engines.example",
        "mid",
    )
    assert (contact.first_name, contact.email) == ("Ada", "ada@engines.example")
    assert (deal.account, deal.primary_contact, deal.source_lead) == (account, contact, lead)
    assert deal.name == "Analytical Engines – new business"
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_account == account
    with pytest.raises(DomainError, match="This lead is converted; it cannot be converted."):
        lead_convert(lead=lead, acting_user=fresh(org.rep_east))


def test_conversion_failure_writes_nothing(org, rules, pipeline):
    from crm.services import stage_save

    first = pipeline.stages.order_by("position").first()
    stage_save(
        acting_user=org.ops, stage=first, pipeline=pipeline, name=first.name,
        probability=first.probability, forecast_category=first.forecast_category,
        required_fields=["amount"], position=0,
    )  # fmt: skip
    lead = lead_create(acting_user=None, last_name="X", company="Half Written Ltd")
    with pytest.raises(DomainError, match="fill in: Amount"):
        lead_convert(lead=lead, acting_user=fresh(org.rep_east))
    assert not Account.objects.filter(name="Half Written Ltd").exists()
    assert not Deal.objects.exists()


def test_a_rep_cannot_convert_someone_elses_lead(org, rules, pipeline):
    lead = lead_create(acting_user=None, last_name="A", company="B", country="GB")
    with pytest.raises(DomainError, match="does not exist or is not yours"):
        lead_convert(lead=lead, acting_user=fresh(org.rep_east))


def test_lead_api_routes_scopes_and_converts(org, rules, pipeline):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(fresh(org.rep_east))
    created = api.post(
        "/api/v1/leads/", {"last_name": "Hopper", "company": "Cobol Inc", "country": "US"}
    )
    assert created.status_code == 201, created.json()
    lead_id = created.json()["id"]
    assert created.json()["owner"] == org.rep_east.pk  # first in the round-robin of East
    api.force_authenticate(fresh(org.rep_london))
    assert api.get(f"/api/v1/leads/{lead_id}/").status_code == 404
    api.force_authenticate(fresh(org.rep_east))
    refused = api.post(f"/api/v1/leads/{lead_id}/status/", {"status": "disqualified"})
    assert refused.json() == {
        "detail": "Say why the lead is disqualified.",
        "field": "disqualify_reason",
    }
    converted = api.post(f"/api/v1/leads/{lead_id}/convert/", {"amount": "5000"})
    assert converted.status_code == 201
    assert converted.json()["account_name"] == "Cobol Inc"
    assert api.get(f"/api/v1/leads/{lead_id}/").json()["status"] == "converted"


def test_only_ops_edit_routing_rules(org, rules):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(fresh(org.rep_east))
    assert api.get("/api/v1/lead-routing-rules/").status_code == 200
    body = {"position": 5, "name": "DE", "country": "DE", "team": org.london.pk}
    assert api.post("/api/v1/lead-routing-rules/", body).status_code == 403
    api.force_authenticate(fresh(org.ops))
    assert api.post("/api/v1/lead-routing-rules/", body).status_code == 201

"""Merging duplicate accounts and contacts from the data-quality page (sales ops and admins)."""

from decimal import Decimal

import pytest
from pghistory.models import Events

from crm import merge, quality
from crm.leads import lead_convert, lead_create
from crm.models import Account, Activity, Contact, Deal, DealHistory, Lead
from crm.services import activity_log, contact_create, deal_create, deal_update
from salesops.errors import DomainError, NotAllowed
from tests.conftest import fresh
from tests.crm.conftest import FILLED


@pytest.fixture
def twins(org, pipeline):
    """Two records of one company: "Acme, Inc" (kept) and "acme inc" with what hangs on it."""
    ops = fresh(org.ops)
    survivor = Account.objects.create(
        name="Acme, Inc", owner=org.rep_east, industry="Robotics", external_id="crm-1"
    )
    parent = Account.objects.create(name="Acme Holding", owner=org.rep_east)
    loser = Account.objects.create(
        name="acme inc",
        owner=org.rep_west,
        domain="acme.example",
        industry="Manufacturing",
        employees=1200,
        annual_revenue=Decimal("5000000"),
        revenue_currency="EUR",
        city="Boston",
        parent=parent,
        external_id="crm-2",
    )
    child = Account.objects.create(name="Acme Canada", owner=org.rep_west, parent=loser)
    contact = contact_create(acting_user=ops, account=loser, last_name="Wile", owner=org.rep_west)
    deal = deal_create(
        acting_user=ops,
        account=loser,
        owner=org.rep_west,
        name="Acme rockets",
        primary_contact=contact,
        **FILLED,
    )
    deal_update(deal=deal, acting_user=ops, expected_version=1, amount=Decimal("50000"))
    activity_log(acting_user=ops, kind="call", subject="Pricing call", deal=deal)
    lead = lead_create(acting_user=None, last_name="Coyote", company="acme inc", owner=org.rep_west)
    lead_convert(lead=lead, acting_user=fresh(org.rep_west), account=loser)
    return {
        "survivor": survivor,
        "loser": loser,
        "parent": parent,
        "child": child,
        "contact": contact,
        "deal": deal,
        "lead": lead,
    }


def test_account_merge_moves_everything_fills_blanks_and_deletes_the_loser(org, twins):
    survivor, loser, deal = twins["survivor"], twins["loser"], twins["deal"]
    history = list(DealHistory.objects.filter(deal=deal).values_list("pk", flat=True))
    version = Deal.objects.get(pk=deal.pk).version
    deals_before = Deal.objects.filter(account=loser).count()  # the lead's deal too
    kept = merge.account_merge(survivor=survivor, loser=loser, acting_user=fresh(org.ops))
    assert not Account.objects.filter(pk=loser.pk).exists()
    assert Deal.objects.filter(account=survivor).count() == deals_before == 2
    assert Contact.objects.filter(account=survivor).count() == 2  # Wile and the lead's Coyote
    assert Activity.objects.filter(account=survivor, subject="Pricing call").exists()
    assert Account.objects.get(pk=twins["child"].pk).parent == survivor
    assert Lead.objects.get(pk=twins["lead"].pk).converted_account == survivor
    # Blanks filled from the loser; what the survivor had stays.
    assert (kept.name, kept.industry, kept.external_id, kept.owner) == (
        "Acme, Inc",
        "Robotics",
        "crm-1",
        org.rep_east,
    )
    assert (kept.domain, kept.employees, kept.segment, kept.city) == (
        "acme.example",
        1200,
        "ent",
        "Boston",
    )
    assert (kept.annual_revenue, kept.revenue_currency, kept.parent) == (
        Decimal("5000000.00"),
        "EUR",
        twins["parent"],
    )
    # Deal history intact; the deal's version moved on, its owner did not change.
    moved = Deal.objects.get(pk=deal.pk)
    assert list(DealHistory.objects.filter(deal=deal).values_list("pk", flat=True)) == history
    assert (moved.version, moved.owner, moved.primary_contact) == (
        version + 1,
        org.rep_west,
        twins["contact"],
    )
    # The audit trail keeps the deleted account, with who and why.
    deleted = Events.objects.filter(
        pgh_model="crm.AccountEvent", pgh_obj_id=loser.pk, pgh_label="delete"
    ).get()
    assert deleted.pgh_context["reason"] == "account_merge"
    assert deleted.pgh_context["user"] == org.ops.pk
    assert deleted.pgh_data["name"] == "acme inc"


def test_only_ops_and_admins_merge(client, org, twins):
    survivor, loser = twins["survivor"], twins["loser"]
    for person in (org.rep_east, org.manager_east, org.vp_americas, org.finance):
        with pytest.raises(NotAllowed, match="Only sales ops and admins can merge accounts."):
            merge.account_merge(survivor=survivor, loser=loser, acting_user=fresh(person))
        client.force_login(person)
        url = f"/crm/accounts/merge/?survivor={survivor.pk}&loser={loser.pk}"
        assert client.get(url).status_code == 403
        assert client.post(url, {"survivor": survivor.pk, "loser": loser.pk}).status_code == 403
    with pytest.raises(NotAllowed, match="Only sales ops and admins can merge contacts."):
        merge.contact_merge(
            survivor=twins["contact"],
            loser=Contact.objects.exclude(pk=twins["contact"].pk).first(),
            acting_user=fresh(org.manager_west),
        )
    assert Account.objects.filter(pk=loser.pk).exists()
    merge.account_merge(survivor=survivor, loser=loser, acting_user=fresh(org.admin))
    assert not Account.objects.filter(pk=loser.pk).exists()


def test_merge_an_account_into_itself_is_refused(org, twins):
    with pytest.raises(DomainError, match="Pick two different accounts"):
        merge.account_merge(
            survivor=twins["loser"], loser=twins["loser"], acting_user=fresh(org.ops)
        )


def test_survivor_below_the_loser_takes_its_place_in_the_tree(org, twins):
    child, loser = twins["child"], twins["loser"]
    kept = merge.account_merge(survivor=child, loser=loser, acting_user=fresh(org.ops))
    assert kept.parent == twins["parent"]


def test_quality_page_offers_the_merge_and_confirmation_lists_what_moves(client, org, twins):
    survivor, loser = twins["survivor"], twins["loser"]
    client.force_login(org.ops)
    page = client.get("/crm/data-quality/").content.decode()
    assert 'action="/crm/accounts/merge/"' in page
    assert f'name="survivor" value="{survivor.pk}"' in page
    response = client.get("/crm/accounts/merge/", {"survivor": survivor.pk, "loser": loser.pk})
    moves = response.context["plan"].moves
    assert moves == {
        "deals": 2,
        "contacts": 2,
        "activities": 1,
        "child accounts": 1,
        "converted leads": 1,
    }
    assert "Domain" in response.content.decode() and "acme.example" in response.content.decode()
    assert Account.objects.filter(pk=loser.pk).exists()  # nothing changed yet
    response = client.post(
        "/crm/accounts/merge/", {"survivor": survivor.pk, "loser": loser.pk}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/crm/data-quality/"
    assert "Merged acme inc into Acme, Inc." in response.content.decode()
    assert not Account.objects.filter(pk=loser.pk).exists()
    # Merged already: a second post answers 404 and changes nothing.
    again = client.post("/crm/accounts/merge/", {"survivor": survivor.pk, "loser": loser.pk})
    assert again.status_code == 404


# Contacts


def test_duplicate_contacts_by_email_any_case_and_by_name_at_the_same_account(org, accounts):
    east, west = accounts[org.rep_east], accounts[org.rep_west]
    Contact.objects.create(account=east, owner=org.rep_east, last_name="Ng", email="Amy@X.io")
    Contact.objects.create(account=west, owner=org.rep_west, last_name="Ngo", email="amy@x.io")
    Contact.objects.create(account=east, owner=org.rep_east, first_name="Jo", last_name="Van Dam")
    Contact.objects.create(account=east, owner=org.rep_east, first_name="jo", last_name="vandam")
    Contact.objects.create(account=west, owner=org.rep_west, first_name="Jo", last_name="Van Dam")
    groups = quality.likely_duplicate_contacts(user=fresh(org.ops))
    found = sorted((g["reason"], sorted(c.last_name for c in g["contacts"])) for g in groups)
    assert found == [
        ("same email amy@x.io", ["Ng", "Ngo"]),
        ("same name at rep_east Corp", ["Van Dam", "vandam"]),
    ]
    # Scoped: rep_east sees only the name pair at their account.
    mine = quality.likely_duplicate_contacts(user=fresh(org.rep_east))
    assert [g["reason"] for g in mine] == ["same name at rep_east Corp"]


def test_contact_merge_moves_deals_and_activities_and_fills_blanks(client, org, twins):
    ops = fresh(org.ops)
    loser = twins["contact"]
    survivor = contact_create(
        acting_user=ops,
        account=twins["loser"],
        last_name="Wile",
        email="Wile@Acme.example",
        owner=org.rep_west,
    )
    Contact.objects.filter(pk=loser.pk).update(
        first_name="E.", email="wile@acme.example", phone="555", title="CTO"
    )
    activity_log(acting_user=ops, kind="email", subject="Specs", contact=loser)
    deal = twins["deal"]
    version = Deal.objects.get(pk=deal.pk).version
    client.force_login(org.ops)
    page = client.get("/crm/data-quality/").content.decode()
    assert "Likely duplicate contacts" in page and 'action="/crm/contacts/merge/"' in page
    plan = client.get("/crm/contacts/merge/", {"survivor": survivor.pk, "loser": loser.pk}).context[
        "plan"
    ]
    assert plan.moves == {"deals (as primary contact)": 1, "activities": 1}
    client.post("/crm/contacts/merge/", {"survivor": survivor.pk, "loser": loser.pk})
    assert not Contact.objects.filter(pk=loser.pk).exists()
    survivor.refresh_from_db()
    assert (survivor.first_name, survivor.email, survivor.phone, survivor.title) == (
        "E.",
        "Wile@Acme.example",
        "555",
        "CTO",
    )
    moved = Deal.objects.get(pk=deal.pk)
    assert (moved.primary_contact, moved.version) == (survivor, version + 1)
    assert Activity.objects.get(subject="Specs").contact == survivor
    deleted = Events.objects.filter(
        pgh_model="crm.ContactEvent", pgh_obj_id=loser.pk, pgh_label="delete"
    ).get()
    assert deleted.pgh_context["reason"] == "contact_merge"


def test_contact_merge_refuses_to_leave_a_deal_with_a_contact_at_another_account(org, twins):
    loser = twins["contact"]
    elsewhere = Contact.objects.create(
        account=twins["survivor"], owner=org.rep_east, last_name="Wile", email="w@a.example"
    )
    with pytest.raises(DomainError) as refused:
        merge.contact_merge(survivor=elsewhere, loser=loser, acting_user=fresh(org.ops))
    assert refused.value.message == (
        "Wile is the primary contact of 'Acme rockets' at acme inc, but Wile works at "
        "Acme, Inc. Merge the accounts first, or keep the contact at acme inc."
    )
    assert Contact.objects.filter(pk=loser.pk).exists()
    assert Deal.objects.get(pk=twins["deal"].pk).primary_contact == loser


def test_merged_deal_shows_the_account_move_on_its_timeline(client, org, twins):
    merge.account_merge(
        survivor=twins["survivor"], loser=twins["loser"], acting_user=fresh(org.ops)
    )
    client.force_login(org.ops)
    timeline = client.get(f"/crm/deals/{twins['deal'].pk}/").context["timeline"]
    audit = [e["row"] for e in timeline if e["kind"] == "audit"]
    assert audit[0]["reason"] == "account_merge" and audit[0]["actor"] == org.ops
    moved = {"field": "account", "old": f"#{twins['loser'].pk} (deleted)", "new": "Acme, Inc"}
    assert moved in audit[0]["changes"]

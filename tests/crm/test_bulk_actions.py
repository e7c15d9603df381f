"""Bulk actions on the deal list: reassign and set close date, all or nothing, managers and ops."""

import datetime as dt
from decimal import Decimal

import pytest

from crm import bulk_actions
from crm.models import Deal, DealHistory
from crm.services import deal_create, stage_save
from salesops.errors import DomainError, NotAllowed
from tests.conftest import fresh
from tests.crm.conftest import stage


@pytest.fixture
def deals(org, pipeline, accounts):
    def make(rep, name, **fields):
        return deal_create(acting_user=fresh(rep), account=accounts[rep], name=name, **fields)

    return {
        "a": make(org.rep_east, "East A", next_step="Call"),
        "b": make(org.rep_east, "East B", next_step="Call"),
        "c": make(org.rep_east_2, "East C"),
        "london": make(org.rep_london, "London D"),
    }


def state(*deals):
    """(owner, close date, version, history rows) of each deal, read from the database."""
    return [
        (d.owner_id, d.close_date, d.version, DealHistory.objects.filter(deal=d).count())
        for d in Deal.objects.filter(pk__in=[x.pk for x in deals]).order_by("pk")
    ]


def test_manager_reassigns_ticked_deals_with_history_and_versions(client, org, deals):
    client.force_login(org.manager_east)
    response = client.post(
        "/crm/deals/bulk/",
        {
            "deal": [deals["a"].pk, deals["b"].pk],
            "action": "reassign",
            "owner": org.rep_east_2.pk,
            "next": "/crm/deals/?q=east",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/crm/deals/?q=east"
    assert "2 deals updated." in response.content.decode()
    for key in ("a", "b"):
        deal = Deal.objects.get(pk=deals[key].pk)
        assert (deal.owner, deal.version, deal.updated_by) == (org.rep_east_2, 2, org.manager_east)
        last = DealHistory.objects.filter(deal=deal).order_by("-id").first()
        assert last.changed_fields == ["owner"]
        assert (last.from_owner, last.to_owner, last.changed_by) == (
            org.rep_east,
            org.rep_east_2,
            org.manager_east,
        )
    assert Deal.objects.get(pk=deals["c"].pk).version == 1  # not ticked: untouched


def test_ops_sets_the_close_date_and_unchanged_deals_are_counted(client, org, deals):
    new_date = dt.date(2027, 3, 31)
    bulk_actions.deals_set_close_date(
        deal_ids=[deals["c"].pk], close_date=new_date, acting_user=fresh(org.ops)
    )
    client.force_login(org.ops)
    ids = [deals["a"].pk, deals["c"].pk, deals["london"].pk]
    page = client.post(
        "/crm/deals/bulk/",
        {"deal": ids, "action": "close_date", "close_date": "2027-03-31"},
        follow=True,
    ).content.decode()
    assert "2 deals updated. 1 already had that value." in page
    for deal in Deal.objects.filter(pk__in=ids):
        assert deal.close_date == new_date and deal.version == 2
        last = DealHistory.objects.filter(deal=deal).order_by("-id").first()
        assert (last.changed_fields, last.from_close_date, last.to_close_date) == (
            ["close_date"],
            None,
            new_date,
        )


def test_reps_do_not_see_the_controls_and_are_refused(client, org, deals):
    client.force_login(org.rep_east)
    page = client.get("/crm/deals/").content.decode()
    assert 'name="deal"' not in page and "Reassign" not in page
    before = state(deals["a"], deals["b"])
    response = client.post(
        "/crm/deals/bulk/",
        {"deal": [deals["a"].pk], "action": "close_date", "close_date": "2027-01-01"},
    )
    assert response.status_code == 403
    with pytest.raises(NotAllowed, match="Only managers and sales ops can change deals in bulk."):
        bulk_actions.deals_set_close_date(
            deal_ids=[deals["a"].pk],
            close_date=dt.date(2027, 1, 1),
            acting_user=fresh(org.rep_east),
        )
    assert state(deals["a"], deals["b"]) == before
    client.force_login(org.manager_east)
    page = client.get("/crm/deals/").content.decode()
    assert f'name="deal" value="{deals["a"].pk}"' in page and "data-bulk-all" in page


def test_out_of_scope_deal_in_the_batch_changes_nothing(client, org, deals):
    batch = [deals["a"], deals["b"], deals["london"]]
    before = state(*batch)
    client.force_login(org.manager_east)
    page = client.post(
        "/crm/deals/bulk/",
        {"deal": [d.pk for d in batch], "action": "reassign", "owner": org.rep_east_2.pk},
        follow=True,
    ).content.decode()
    assert (
        f"Nothing was changed: deal #{deals['london'].pk} is outside your teams or no longer "
        "exists. Untick it and try again."
    ) in page.replace("&#x27;", "'")
    assert state(*batch) == before


def test_batch_that_breaks_exit_criteria_changes_nothing_and_names_the_deals(org, pipeline, deals):
    prospecting = stage(pipeline, "Prospecting")
    stage_save(
        acting_user=fresh(org.ops),
        pipeline=pipeline,
        stage=prospecting,
        name="Prospecting",
        probability=Decimal(10),
        forecast_category="pipeline",
        required_fields=["next_step"],
        position=0,
    )  # East C (no next step) no longer meets its stage's rule
    batch = [deals["a"], deals["b"], deals["c"]]
    before = state(*batch)
    with pytest.raises(DomainError) as refused:
        bulk_actions.deals_reassign(
            deal_ids=[d.pk for d in batch], owner=org.rep_east, acting_user=fresh(org.manager_east)
        )
    assert refused.value.message == (
        "Nothing was changed: 1 of the 3 selected deals cannot be updated. "
        "'East C' is in Prospecting, which needs: Next step."
    )
    assert state(*batch) == before


def test_new_owner_outside_the_managers_teams_is_refused(client, org, deals):
    before = state(deals["a"])
    with pytest.raises(NotAllowed, match="is outside your teams or no longer active"):
        bulk_actions.deals_reassign(
            deal_ids=[deals["a"].pk], owner=org.rep_london, acting_user=fresh(org.manager_east)
        )
    client.force_login(org.manager_east)
    page = client.post(
        "/crm/deals/bulk/",
        {"deal": [deals["a"].pk], "action": "reassign", "owner": org.rep_london.pk},
        follow=True,
    ).content.decode()
    assert "Select a valid choice" in page
    assert state(deals["a"]) == before


def test_empty_selection_and_missing_value_are_explained(client, org, deals):
    client.force_login(org.manager_east)
    page = client.post(
        "/crm/deals/bulk/", {"action": "reassign", "owner": org.rep_east.pk}, follow=True
    ).content.decode()
    assert "Select at least one deal." in page
    page = client.post(
        "/crm/deals/bulk/", {"deal": [deals["a"].pk], "action": "close_date"}, follow=True
    ).content.decode()
    assert "Pick the new close date." in page
    assert state(deals["a"])[0][2] == 1

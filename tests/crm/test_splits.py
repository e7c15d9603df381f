"""Deal splits: the rules of crm.splits.deal_splits_set, and the deal page's splits section."""

from decimal import Decimal

import pytest

from crm.models import Deal, DealSplit
from crm.splits import deal_splits_set
from salesops.audit import audit_events_for
from salesops.errors import DomainError, NotAllowed
from salesops.org.models import User
from salesops.org.roles import Role
from tests import factories
from tests.conftest import fresh

D = Decimal


@pytest.fixture
def jane(db) -> User:
    return factories.user(Role.REP, username="jane", first_name="Jane", last_name="Doe")


@pytest.fixture
def john(db) -> User:
    return factories.user(Role.REP, username="john", first_name="John", last_name="Roe")


def stored(deal) -> list[tuple[str, str, Decimal]]:
    return sorted(
        (s.user.username, s.kind, s.percent)
        for s in DealSplit.objects.filter(deal=deal).select_related("user")
    )


def test_splits_replace_the_earlier_ones_and_are_audited(org, deal, jane, john):
    deal_splits_set(deal=deal, splits=[(jane, "revenue", D(100))], acting_user=org.ops)
    saved = deal_splits_set(
        deal=deal,
        splits=[
            (org.rep_east, "revenue", D("60")),
            (john, "revenue", D("40")),
            (jane, "overlay", D("25.5")),
        ],
        acting_user=org.ops,
    )
    assert len(saved) == 3
    assert stored(deal) == [
        ("jane", "overlay", D("25.50")),
        ("john", "revenue", D("40.00")),
        ("rep_east", "revenue", D("60.00")),
    ]
    event = audit_events_for(saved[0]).last()
    assert event.pgh_label == "insert"
    assert event.pgh_context["reason"] == "deal_splits"
    assert event.pgh_context["user"] == org.ops.pk


def test_the_owner_may_split_their_own_deal(org, deal, jane):
    deal_splits_set(
        deal=deal,
        splits=[(org.rep_east, "revenue", D(50)), (jane, "revenue", D(50))],
        acting_user=fresh(org.rep_east),
    )
    assert stored(deal) == [("jane", "revenue", D(50)), ("rep_east", "revenue", D(50))]


def test_same_person_may_have_a_revenue_split_and_an_overlay(org, deal):
    deal_splits_set(
        deal=deal,
        splits=[(org.rep_east, "revenue", D(100)), (org.rep_east, "overlay", D(10))],
        acting_user=org.ops,
    )
    assert len(stored(deal)) == 2


def test_overlays_alone_need_no_revenue_total(org, deal, jane):
    deal_splits_set(deal=deal, splits=[(jane, "overlay", D(30))], acting_user=org.ops)
    assert stored(deal) == [("jane", "overlay", D(30))]


def test_an_empty_list_clears_the_splits(org, deal, jane):
    deal_splits_set(deal=deal, splits=[(jane, "revenue", D(100))], acting_user=org.ops)
    assert deal_splits_set(deal=deal, splits=[], acting_user=org.ops) == []
    assert stored(deal) == []


@pytest.mark.parametrize("who", ["rep_west", "finance", "manager_london"])
def test_people_who_may_not_change_the_deal_are_refused(org, deal, jane, who):
    with pytest.raises(NotAllowed, match="You cannot change who is credited on this deal."):
        deal_splits_set(
            deal=deal, splits=[(jane, "revenue", D(100))], acting_user=fresh(getattr(org, who))
        )
    assert stored(deal) == []


def test_the_manager_of_the_owner_may_split_the_deal(org, deal, jane):
    deal_splits_set(
        deal=deal, splits=[(jane, "revenue", D(100))], acting_user=fresh(org.manager_east)
    )
    assert stored(deal) == [("jane", "revenue", D(100))]


def test_revenue_splits_must_add_up_to_exactly_100(org, deal, jane, john):
    with pytest.raises(DomainError) as refused:
        deal_splits_set(
            deal=deal,
            splits=[(jane, "revenue", D("50")), (john, "revenue", D("49.99"))],
            acting_user=org.ops,
        )
    assert refused.value.message == (
        "Revenue splits must add up to exactly 100 %, but they add up to 99.99 %: "
        "split 1 (Jane Doe) 50 %, split 2 (John Roe) 49.99 %."
    )


@pytest.mark.parametrize("percent", [D(0), D("-5"), D("100.01")])
def test_each_percentage_is_above_0_and_at_most_100(org, deal, jane, john, percent):
    with pytest.raises(DomainError) as refused:
        deal_splits_set(
            deal=deal,
            splits=[(jane, "overlay", D(10)), (john, "overlay", percent)],
            acting_user=org.ops,
        )
    assert refused.value.message == (
        f"Split 2 (John Roe): the percentage must be above 0 and at most 100 (got {percent})."
    )


def test_percentages_have_at_most_two_decimals(org, deal, jane):
    with pytest.raises(DomainError, match=r"Split 1 \(Jane Doe\): use at most two decimals"):
        deal_splits_set(deal=deal, splits=[(jane, "overlay", D("33.333"))], acting_user=org.ops)


def test_a_person_appears_once_per_kind(org, deal, jane, john):
    with pytest.raises(DomainError) as refused:
        deal_splits_set(
            deal=deal,
            splits=[
                (jane, "revenue", D(50)),
                (john, "revenue", D(25)),
                (jane, "revenue", D(25)),
            ],
            acting_user=org.ops,
        )
    assert refused.value.message == (
        "Split 3 (Jane Doe): Jane Doe already has a revenue split on this deal."
    )


def test_split_people_must_be_active_users(org, deal, jane, john):
    User.objects.filter(pk=john.pk).update(is_active=False)
    with pytest.raises(DomainError) as refused:
        deal_splits_set(
            deal=deal,
            splits=[(jane, "revenue", D(50)), (john, "revenue", D(50))],
            acting_user=org.ops,
        )
    assert refused.value.message == "Split 2 (John Roe): John Roe is not an active user."


def test_an_unknown_kind_is_refused(org, deal, jane):
    with pytest.raises(DomainError, match="Split 1 \\(Jane Doe\\): the kind must be revenue"):
        deal_splits_set(deal=deal, splits=[(jane, "bonus", D(10))], acting_user=org.ops)


def test_a_refused_change_keeps_the_splits_there_were(org, deal, jane, john):
    deal_splits_set(deal=deal, splits=[(jane, "revenue", D(100))], acting_user=org.ops)
    with pytest.raises(DomainError):
        deal_splits_set(
            deal=deal,
            splits=[(john, "revenue", D(100)), (jane, "overlay", D(0))],
            acting_user=org.ops,
        )
    assert stored(deal) == [("jane", "revenue", D(100))]


def test_a_change_of_splits_is_a_new_version_of_the_deal(org, deal, jane):
    """So a commission run that credited the old splits in a locked period corrects it."""
    before = Deal.objects.get(pk=deal.pk).version
    deal_splits_set(deal=deal, splits=[(jane, "revenue", D(100))], acting_user=org.ops)
    assert deal.version == before + 1 == Deal.objects.get(pk=deal.pk).version
    with pytest.raises(DomainError):
        deal_splits_set(deal=deal, splits=[(jane, "revenue", D(50))], acting_user=org.ops)
    assert Deal.objects.get(pk=deal.pk).version == before + 1  # a refusal changes nothing


# Pages


def formset_data(*rows: tuple[str, str, str], total: int = 3) -> dict[str, str]:
    data = {
        "splits-TOTAL_FORMS": str(total),
        "splits-INITIAL_FORMS": "0",
        "splits-MIN_NUM_FORMS": "0",
        "splits-MAX_NUM_FORMS": "1000",
    }
    for n in range(total):
        user, kind, percent = rows[n] if n < len(rows) else ("", "revenue", "")
        data |= {f"splits-{n}-user": user, f"splits-{n}-kind": kind, f"splits-{n}-percent": percent}
    return data


def test_deal_page_lists_the_splits_and_links_to_their_editor(client, org, deal, jane):
    client.force_login(org.rep_east)
    page = client.get(f"/crm/deals/{deal.pk}/").content.decode()
    assert "Credit splits" in page and "is credited 100 %" in page
    deal_splits_set(
        deal=deal,
        splits=[(org.rep_east, "revenue", D(70)), (jane, "revenue", D(30))],
        acting_user=org.ops,
    )
    page = client.get(f"/crm/deals/{deal.pk}/").content.decode()
    assert "Jane Doe" in page and "30.00 %" in page
    assert f"/crm/deals/{deal.pk}/splits/" in page


def test_splits_page_saves_the_rows(client, org, deal, jane):
    client.force_login(org.ops)
    assert client.get(f"/crm/deals/{deal.pk}/splits/").status_code == 200
    response = client.post(
        f"/crm/deals/{deal.pk}/splits/",
        formset_data((str(org.rep_east.pk), "revenue", "75"), (str(jane.pk), "revenue", "25")),
    )
    assert response.status_code == 302
    assert stored(deal) == [("jane", "revenue", D(25)), ("rep_east", "revenue", D(75))]
    # Shown again on the editor, and cleared by removing every row.
    page = client.get(f"/crm/deals/{deal.pk}/splits/").content.decode()
    assert 'value="75.00"' in page
    client.post(f"/crm/deals/{deal.pk}/splits/", formset_data())
    assert stored(deal) == []


def test_splits_page_shows_the_refusal_and_saves_nothing(client, org, deal, jane):
    client.force_login(org.rep_east)
    response = client.post(
        f"/crm/deals/{deal.pk}/splits/",
        formset_data((str(org.rep_east.pk), "revenue", "60"), (str(jane.pk), "revenue", "30")),
    )
    assert response.status_code == 200
    assert "Revenue splits must add up to exactly 100 %" in response.content.decode()
    assert stored(deal) == []


def test_splits_page_asks_for_a_missing_percentage(client, org, deal, jane):
    client.force_login(org.ops)
    response = client.post(
        f"/crm/deals/{deal.pk}/splits/", formset_data((str(jane.pk), "revenue", ""))
    )
    assert "Give this person&#x27;s percentage." in response.content.decode()
    assert stored(deal) == []


def test_splits_page_is_404_out_of_scope_and_403_without_the_right(client, org, deal):
    client.force_login(org.rep_west)
    assert client.get(f"/crm/deals/{deal.pk}/splits/").status_code == 404
    client.force_login(org.finance)
    assert client.get(f"/crm/deals/{deal.pk}/splits/").status_code == 403
    page = client.get(f"/crm/deals/{deal.pk}/").content.decode()
    assert f"/crm/deals/{deal.pk}/splits/" not in page

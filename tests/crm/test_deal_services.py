"""Deal writes: exit criteria on every path, stage history for every change, conflicts, scope."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from crm.models import Deal, DealHistory
from crm.services import DealConflict, deal_close, deal_create, deal_move, deal_update, stage_save
from salesops.errors import DomainError
from tests.conftest import fresh
from tests.crm.conftest import FILLED, stage


def history(deal):
    return list(DealHistory.objects.filter(deal=deal).order_by("id"))


def test_a_new_deal_starts_in_the_first_stage_with_its_defaults(org, deal):
    assert deal.stage.name == "Prospecting"
    assert deal.probability == Decimal("10.00")
    assert deal.forecast_category == "pipeline"
    assert deal.currency == "USD"
    assert deal.version == 1
    [created] = history(deal)
    assert created.changed_fields == ["created"]
    assert (created.from_stage, created.to_stage) == (None, deal.stage)
    assert created.changed_by == org.rep_east


def test_creating_straight_into_a_stage_checks_its_criteria(org, pipeline, accounts):
    with pytest.raises(DomainError) as error:
        deal_create(
            acting_user=fresh(org.rep_east),
            account=accounts[org.rep_east],
            name="Big one",
            stage=stage(pipeline, "Discovery"),
        )
    assert str(error.value) == "To move 'Big one' to Discovery, fill in: Amount, Close date."
    assert not Deal.objects.exists()


def test_move_missing_fields_is_refused_naming_them_and_nothing_changes(org, pipeline, deal):
    with pytest.raises(DomainError) as error:
        deal_move(
            deal=deal,
            stage=stage(pipeline, "Proposal"),
            acting_user=fresh(org.rep_east),
            expected_version=1,
            fields={"amount": Decimal(1000)},
        )
    assert str(error.value) == "To move 'Acme robots' to Proposal, fill in: Close date, Next step."
    assert error.value.field == "close_date"
    deal.refresh_from_db()
    assert (deal.stage.name, deal.amount, deal.version) == ("Prospecting", None, 1)
    assert len(history(deal)) == 1


def test_move_with_the_fields_filled_inline(org, pipeline, deal):
    moved = deal_move(
        deal=deal,
        stage=stage(pipeline, "Discovery"),
        acting_user=fresh(org.rep_east),
        expected_version=1,
        fields=FILLED,
    )
    assert (moved.stage.name, moved.probability, moved.version) == ("Discovery", Decimal(20), 2)
    last = history(deal)[-1]
    assert last.changed_fields == ["stage", "amount", "close_date"]
    assert (last.from_stage.name, last.to_stage.name) == ("Prospecting", "Discovery")
    assert (last.from_amount, last.to_amount) == (None, Decimal("48000.00"))
    assert (last.from_close_date, last.to_close_date) == (None, dt.date(2026, 12, 15))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": Decimal("52000")}, "amount"),
        ({"close_date": dt.date(2027, 1, 20)}, "close_date"),
        ({"forecast_category": "best_case"}, "forecast_category"),
    ],
)
def test_each_tracked_change_appends_one_history_row(org, pipeline, deal, change, field):
    deal = deal_update(deal=deal, acting_user=fresh(org.rep_east), expected_version=1, **FILLED)
    deal_update(deal=deal, acting_user=fresh(org.rep_east), expected_version=2, **change)
    last = history(deal)[-1]
    assert last.changed_fields == [field]
    assert getattr(last, f"to_{field}") == change[field]


def test_owner_change_by_manager_is_recorded(org, deal):
    deal_update(
        deal=deal, acting_user=fresh(org.manager_east), expected_version=1, owner=org.rep_east_2
    )
    last = history(deal)[-1]
    assert last.changed_fields == ["owner"]
    assert (last.from_owner, last.to_owner, last.changed_by) == (
        org.rep_east,
        org.rep_east_2,
        org.manager_east,
    )


def test_untracked_change_bumps_version_without_history(org, deal):
    updated = deal_update(
        deal=deal, acting_user=fresh(org.rep_east), expected_version=1, next_step="Call CFO"
    )
    assert updated.version == 2
    assert len(history(deal)) == 1


def test_saving_identical_values_changes_nothing(org, deal):
    same = deal_update(
        deal=deal, acting_user=fresh(org.rep_east), expected_version=1, name="Acme robots"
    )
    assert same.version == 1


def test_clearing_a_field_the_current_stage_needs_is_refused(org, pipeline, deal):
    deal = deal_move(
        deal=deal,
        stage=stage(pipeline, "Proposal"),
        acting_user=fresh(org.rep_east),
        expected_version=1,
        fields={**FILLED, "next_step": "Send proposal"},
    )
    with pytest.raises(DomainError) as error:
        deal_update(deal=deal, acting_user=fresh(org.rep_east), expected_version=2, next_step=" ")
    assert str(error.value) == "'Acme robots' is in Proposal, which needs: Next step."


def test_lost_needs_a_reason(org, deal):
    with pytest.raises(DomainError) as error:
        deal_close(deal=deal, won=False, acting_user=fresh(org.rep_east), expected_version=1)
    assert str(error.value) == "To move 'Acme robots' to Closed Lost, fill in: Lost reason."
    lost = deal_close(
        deal=deal,
        won=False,
        acting_user=fresh(org.rep_east),
        expected_version=1,
        fields={"lost_reason": "Went with a competitor"},
    )
    assert (lost.stage.name, lost.forecast_category, lost.probability) == (
        "Closed Lost",
        "omitted",
        Decimal(0),
    )
    assert lost.closed_at is not None


def test_won_then_reopened(org, pipeline, deal):
    won = deal_close(
        deal=deal, won=True, acting_user=fresh(org.rep_east), expected_version=1, fields=FILLED
    )
    assert (won.stage.name, won.forecast_category, won.closed_at is not None) == (
        "Closed Won",
        "closed",
        True,
    )
    reopened = deal_move(
        deal=won,
        stage=stage(pipeline, "Discovery"),
        acting_user=fresh(org.rep_east),
        expected_version=2,
    )
    assert reopened.closed_at is None
    assert [h.to_stage.name for h in history(deal)] == ["Prospecting", "Closed Won", "Discovery"]


def test_forecast_category_override_survives_until_the_next_move(org, pipeline, deal):
    deal = deal_update(
        deal=deal,
        acting_user=fresh(org.rep_east),
        expected_version=1,
        forecast_category="commit",
        **FILLED,
    )
    assert deal.forecast_category == "commit"
    moved = deal_move(
        deal=deal,
        stage=stage(pipeline, "Discovery"),
        acting_user=fresh(org.rep_east),
        expected_version=2,
    )
    assert moved.forecast_category == "pipeline"


def test_second_save_of_the_same_version_is_a_conflict_and_loses_nothing(org, deal):
    alice_copy = Deal.objects.get(pk=deal.pk)
    manager_copy = Deal.objects.get(pk=deal.pk)
    deal_update(
        deal=alice_copy, acting_user=fresh(org.rep_east), expected_version=1, next_step="Demo"
    )
    with pytest.raises(DealConflict) as error:
        deal_update(
            deal=manager_copy,
            acting_user=fresh(org.manager_east),
            expected_version=manager_copy.version,
            next_step="Pricing call",
        )
    assert str(error.value).startswith(f"{org.rep_east} saved 'Acme robots' at ")
    assert str(error.value).endswith(
        "while you were editing it, so your changes were not saved. "
        "Reload the deal to see their changes, then apply yours again."
    )
    assert error.value.current_version == 2
    deal.refresh_from_db()
    assert (deal.next_step, deal.version) == ("Demo", 2)


def test_history_is_append_only(org, deal):
    row = history(deal)[0]
    with pytest.raises(DatabaseError), transaction.atomic():
        DealHistory.objects.filter(pk=row.pk).update(changed_fields=["tampered"])
    with pytest.raises(DatabaseError), transaction.atomic():
        DealHistory.objects.filter(pk=row.pk).delete()
    assert DealHistory.objects.get(pk=row.pk).changed_fields == ["created"]


def test_rep_cannot_change_a_teammates_deal(org, pipeline, accounts):
    theirs = deal_create(
        acting_user=fresh(org.rep_east_2), account=accounts[org.rep_east_2], name="Not yours"
    )
    with pytest.raises(DomainError, match="does not exist or is not yours to change"):
        deal_update(deal=theirs, acting_user=fresh(org.rep_east), expected_version=1, name="Mine")


def test_rep_cannot_give_a_deal_away(org, deal):
    with pytest.raises(DomainError, match="Only managers and sales ops can give a deal"):
        deal_update(
            deal=deal, acting_user=fresh(org.rep_east), expected_version=1, owner=org.rep_east_2
        )


def test_manager_cannot_assign_outside_their_teams(org, deal):
    with pytest.raises(DomainError, match=f"{org.rep_london} is outside your teams."):
        deal_update(
            deal=deal, acting_user=fresh(org.manager_east), expected_version=1, owner=org.rep_london
        )


def test_manager_of_another_subtree_cannot_touch_the_deal(org, deal):
    with pytest.raises(DomainError, match="not yours to change"):
        deal_update(deal=deal, acting_user=fresh(org.vp_emea), expected_version=1, next_step="x")


def test_finance_reads_but_cannot_change_deals(org, deal):
    assert Deal.objects.visible_to(fresh(org.finance)).count() == 1
    with pytest.raises(DomainError, match="Your role does not allow this change."):
        deal_update(deal=deal, acting_user=fresh(org.finance), expected_version=1, next_step="x")


def test_rep_cannot_open_deals_on_someone_elses_account(org, pipeline, accounts):
    with pytest.raises(DomainError, match="You cannot add deals to rep_west Corp."):
        deal_create(acting_user=fresh(org.rep_east), account=accounts[org.rep_west], name="Poach")


def test_stage_of_another_pipeline_is_refused(org, pipeline, deal):
    from crm.models import Pipeline

    renewal = Pipeline.objects.create(name="Renewal", kind="renewal")
    other = stage_save(
        acting_user=org.ops, pipeline=renewal, name="Renewal due", probability=Decimal(50),
        forecast_category="pipeline",
    )  # fmt: skip
    with pytest.raises(
        DomainError, match="Renewal due is a stage of Renewal, not of New Business."
    ):
        deal_move(deal=deal, stage=other, acting_user=fresh(org.rep_east), expected_version=1)


def test_ops_adds_a_stage_with_exit_criteria_and_it_is_enforced(org, pipeline, deal):
    security = stage_save(
        acting_user=fresh(org.ops),
        pipeline=pipeline,
        name="Security review",
        probability=Decimal(60),
        forecast_category="best_case",
        required_fields=["amount", "close_date", "primary_contact"],
        position=3,
    )
    with pytest.raises(DomainError) as error:
        deal_move(
            deal=deal,
            stage=security,
            acting_user=fresh(org.rep_east),
            expected_version=1,
            fields=FILLED,
        )
    assert str(error.value) == "To move 'Acme robots' to Security review, fill in: Primary contact."


def test_stage_rules_are_validated(org, pipeline):
    with pytest.raises(DomainError, match="A stage cannot require budget; choose from"):
        stage_save(
            acting_user=fresh(org.ops), pipeline=pipeline, name="X", probability=Decimal(5),
            forecast_category="pipeline", required_fields=["budget"],
        )  # fmt: skip
    with pytest.raises(DomainError, match="New Business already has a stage named 'proposal'."):
        stage_save(
            acting_user=fresh(org.ops), pipeline=pipeline, name="proposal", probability=Decimal(5),
            forecast_category="pipeline",
        )  # fmt: skip
    with pytest.raises(DomainError, match="Your role does not allow this change."):
        stage_save(
            acting_user=fresh(org.rep_east), pipeline=pipeline, name="Y", probability=Decimal(5),
            forecast_category="pipeline",
        )  # fmt: skip


def test_unknown_fields_are_refused(org, deal):
    with pytest.raises(DomainError, match="These deal fields cannot be changed: version."):
        deal_update(deal=deal, acting_user=fresh(org.rep_east), expected_version=1, version=9)

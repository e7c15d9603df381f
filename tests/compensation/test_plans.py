"""Comp plans and assignments: versions (create, edit a draft, new version, publish, import),
publishing that moves assignments, the YAML/JSON round trip, assignment rules (published plan,
who may be assigned, fiscal year, overlaps), ending, deleting, accepting, bulk assignment, the
selectors, and the plan in words. Every write is refused to anyone but sales ops (and admins).

The plan (``conftest.plan_data``): FY2027 (January to December 2027), AE 60,000.00 and SDR
20,000.00 target incentives; the org fixture's reps are AEs.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from compensation import documents, plans
from compensation import plan_selectors as selectors
from compensation.models import (
    CommissionRun,
    CompPlan,
    LineKind,
    PayoutLine,
    PlanAssignment,
    PlanStatus,
)
from salesops.audit import audit_events_for
from salesops.errors import DomainError, NotAllowed
from salesops.org.models import RepProfile, User
from tests.compensation.conftest import JAN_1, PLAN_KEY, make_plan, plan_data
from tests.conftest import fresh

D = Decimal


def assign(org, plan, user, start=JAN_1, end=None, **fields) -> PlanAssignment:
    return plans.assignment_create(
        plan=plan, user=user, start_date=start, end_date=end, acting_user=org.ops, **fields
    )


def last_reason(obj) -> str:
    return audit_events_for(obj).last().pgh_context["reason"]


# --- Plans ---------------------------------------------------------------------------------------


def test_create_makes_a_draft_version_1_from_the_document(org):
    document = documents.validate(plan_data())
    plan = plans.plan_create(document=document, key=PLAN_KEY, acting_user=org.ops)
    assert (plan.key, plan.version, plan.status) == (PLAN_KEY, 1, PlanStatus.DRAFT)
    assert (plan.name, plan.fiscal_year, plan.currency) == ("AE plan", 2027, "USD")
    assert plan.document == documents.to_data(document)
    assert plan.created_by == org.ops and plan.updated_by == org.ops
    event = audit_events_for(plan).last()
    assert event.pgh_context["reason"] == "plan_create"
    assert event.pgh_context["user"] == org.ops.pk


def test_a_key_is_taken_by_every_version_of_a_plan(org, ae_plan):
    with pytest.raises(DomainError) as error:
        make_plan(org, publish=False, name="Another")
    assert error.value.message == (
        "The key 'ae-2027' is taken by AE plan v1; choose another key, or start a new version "
        "of that plan."
    )
    assert error.value.field == "key"
    with pytest.raises(DomainError, match="'AE 2027' cannot be a plan key"):
        make_plan(org, key="AE 2027")
    assert CompPlan.objects.count() == 1


@pytest.mark.parametrize("who", ["finance", "rep_east", "manager_east"])
def test_only_sales_ops_and_admins_write_plans(org, ae_plan, who):
    user = fresh(getattr(org, who))
    document = documents.validate(plan_data())
    with pytest.raises(NotAllowed, match=r"^Only sales ops can create comp plans\.$"):
        plans.plan_create(document=document, key="other", acting_user=user)
    with pytest.raises(NotAllowed, match="Only sales ops can start plan versions."):
        plans.plan_new_version(plan=ae_plan, acting_user=user)
    with pytest.raises(NotAllowed, match="Only sales ops can import comp plans."):
        plans.plan_import(text="{}", fmt="json", key="other", acting_user=user)
    with pytest.raises(NotAllowed, match="Only sales ops can put people on comp plans."):
        plans.assignment_create(plan=ae_plan, user=org.rep_east, start_date=JAN_1, acting_user=user)
    with pytest.raises(NotAllowed, match="Only sales ops can put people on comp plans."):
        plans.assignments_create_bulk(
            plan=ae_plan, users=[org.rep_east], start_date=JAN_1, acting_user=user
        )
    assert CompPlan.objects.count() == 1 and not PlanAssignment.objects.exists()


def test_admins_write_plans(org):
    plan = plans.plan_create(
        document=documents.validate(plan_data()), key="admin-plan", acting_user=fresh(org.admin)
    )
    assert plans.plan_publish(plan=plan, acting_user=fresh(org.admin)).status == "published"


def test_only_a_draft_is_edited(org, ae_plan):
    draft = make_plan(org, key="sdr-2027", publish=False)
    changed = documents.validate(plan_data(name="SDR plan", fiscal_year=2028, currency="EUR"))
    plan = plans.plan_update(plan=draft, document=changed, acting_user=fresh(org.admin))
    plan.refresh_from_db()
    assert (plan.name, plan.fiscal_year, plan.currency) == ("SDR plan", 2028, "EUR")
    assert plan.document["name"] == "SDR plan" and plan.updated_by == org.admin
    assert last_reason(plan) == "plan_update"

    with pytest.raises(DomainError) as error:
        plans.plan_update(plan=ae_plan, document=changed, acting_user=org.ops)
    assert error.value.message == (
        "AE plan v1 is published, so it cannot be edited; start a new version to change the plan."
    )
    ae_plan.refresh_from_db()
    assert ae_plan.name == "AE plan"
    with pytest.raises(NotAllowed, match="Only sales ops can edit comp plans."):
        plans.plan_update(plan=draft, document=changed, acting_user=fresh(org.finance))


def test_a_new_version_copies_the_latest_and_only_one_draft_at_a_time(org, ae_plan):
    draft = plans.plan_new_version(plan=ae_plan, acting_user=org.ops)
    assert (draft.key, draft.version, draft.status) == (PLAN_KEY, 2, PlanStatus.DRAFT)
    assert draft.document == ae_plan.document and draft.name == ae_plan.name
    assert last_reason(draft) == "plan_new_version"
    with pytest.raises(DomainError) as error:
        plans.plan_new_version(plan=ae_plan, acting_user=org.ops)
    assert error.value.message == (
        "AE plan v2 is already a draft of this plan: edit it instead of starting another."
    )
    assert CompPlan.objects.filter(key=PLAN_KEY).count() == 2


def test_publishing_retires_the_version_it_replaces(org, ae_plan):
    assert ae_plan.published_by == org.ops and ae_plan.published_at is not None
    draft = plans.plan_new_version(plan=ae_plan, acting_user=org.ops)
    published = plans.plan_publish(plan=draft, acting_user=fresh(org.admin))
    ae_plan.refresh_from_db()
    assert (published.status, ae_plan.status) == (PlanStatus.PUBLISHED, PlanStatus.RETIRED)
    assert published.published_by == org.admin
    assert last_reason(published) == "plan_publish"
    with pytest.raises(DomainError, match="AE plan v2 is published, so it cannot be published"):
        plans.plan_publish(plan=published, acting_user=org.ops)
    with pytest.raises(NotAllowed, match="Only sales ops can publish comp plans."):
        plans.plan_publish(plan=draft, acting_user=fresh(org.finance))


def test_publishing_moves_open_assignments_from_the_day_given(org, ae_plan):
    """rep_east runs open-ended (accepted, with an override): cut on 30 June, moved from
    1 July. rep_west ended in March: stays. rep_east_2 starts in August: moves whole.
    rep_london ends on 31 July: cut, and the new assignment keeps that end."""
    east = assign(org, ae_plan, org.rep_east, target_incentive=D("65000"))
    plans.plan_accept(assignment=east, acting_user=org.rep_east)
    west = assign(org, ae_plan, org.rep_west, end=dt.date(2027, 3, 31))
    east_2 = assign(org, ae_plan, org.rep_east_2, start=dt.date(2027, 8, 1))
    london = assign(org, ae_plan, org.rep_london, end=dt.date(2027, 7, 31))
    draft = plans.plan_new_version(plan=ae_plan, acting_user=org.ops)

    v2 = plans.plan_publish(
        plan=draft, acting_user=org.ops, move_assignments_from=dt.date(2027, 7, 1)
    )

    spans = {
        (a.user.username, a.plan.version): (a.start_date, a.end_date, a.target_incentive)
        for a in PlanAssignment.objects.select_related("user", "plan")
    }
    assert spans == {
        ("rep_east", 1): (JAN_1, dt.date(2027, 6, 30), D("65000")),
        ("rep_east", 2): (dt.date(2027, 7, 1), None, D("65000")),
        ("rep_west", 1): (JAN_1, dt.date(2027, 3, 31), None),
        ("rep_east_2", 2): (dt.date(2027, 8, 1), None, None),
        ("rep_london", 1): (JAN_1, dt.date(2027, 6, 30), None),
        ("rep_london", 2): (dt.date(2027, 7, 1), dt.date(2027, 7, 31), None),
    }
    assert not PlanAssignment.objects.filter(pk=east_2.pk).exists()
    west.refresh_from_db()
    assert west.plan_id == ae_plan.pk
    moved = PlanAssignment.objects.filter(plan=v2)
    assert all(a.accepted_at is None for a in moved)  # they must accept the new version
    assert all(a.created_by == org.ops for a in moved)
    east.refresh_from_db()
    assert east.accepted_at is not None  # the old version stays accepted
    assert last_reason(london) == "plan_publish"


def test_publishing_without_a_day_leaves_assignments_where_they_are(org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    draft = plans.plan_new_version(plan=ae_plan, acting_user=org.ops)
    plans.plan_publish(plan=draft, acting_user=org.ops)
    assert list(PlanAssignment.objects.values_list("pk", "plan_id", "end_date")) == [
        (east.pk, ae_plan.pk, None)
    ]


def test_the_day_assignments_move_from_must_be_in_the_plans_year(org, ae_plan):
    assign(org, ae_plan, org.rep_east)
    draft = plans.plan_new_version(plan=ae_plan, acting_user=org.ops)
    with pytest.raises(DomainError) as error:
        plans.plan_publish(
            plan=draft, acting_user=org.ops, move_assignments_from=dt.date(2028, 1, 1)
        )
    assert error.value.message == (
        "Move assignments from a day in FY2027 (2027-01-01 to 2027-12-31), the year AE plan v2 "
        "covers; 2028-01-01 is not in it."
    )
    draft.refresh_from_db()
    ae_plan.refresh_from_db()
    assert (draft.status, ae_plan.status) == (PlanStatus.DRAFT, PlanStatus.PUBLISHED)


# --- Import and export ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_gives_the_identical_document(org, ae_plan, fmt):
    text = documents.render(documents.validate(ae_plan.document), fmt)
    copy = plans.plan_import(text=text, fmt=fmt, key="ae-copy", acting_user=org.ops)
    assert (copy.key, copy.version, copy.status) == ("ae-copy", 1, PlanStatus.DRAFT)
    assert copy.document == ae_plan.document
    assert last_reason(copy) == "plan_import"

    next_version = plans.plan_import(text=text, fmt=fmt, key=PLAN_KEY, acting_user=org.ops)
    assert (next_version.version, next_version.status) == (2, PlanStatus.DRAFT)
    assert next_version.document == ae_plan.document


def test_yaml_export_is_readable_and_decimals_keep_every_digit(org):
    plan = make_plan(org, components=[plan_data()["components"][0] | {"cap_amount": "12345.67"}])
    text = documents.render(documents.validate(plan.document), "yaml")
    assert text.startswith("schema_version: 1\nname: AE plan\nfiscal_year: 2027\n")
    assert "cap_amount: '12345.67'" in text


def test_import_into_a_plan_with_a_draft_is_refused(org, ae_plan):
    plans.plan_new_version(plan=ae_plan, acting_user=org.ops)
    text = documents.render(documents.validate(ae_plan.document), "json")
    with pytest.raises(DomainError) as error:
        plans.plan_import(text=text, fmt="json", key=PLAN_KEY, acting_user=org.ops)
    assert error.value.message == (
        "AE plan v2 is already a draft of this plan: edit that draft, or publish it before "
        "importing another."
    )
    assert CompPlan.objects.filter(key=PLAN_KEY).count() == 2


def test_a_bad_document_is_refused_naming_the_field_path(org):
    data = plan_data()
    data["components"][0]["tiers"][1] = {"floor": "50"}
    data["components"][1]["per_deal"] = "-5"
    with pytest.raises(DomainError) as error:
        plans.plan_import(text=json.dumps(data), fmt="json", key="bad", acting_user=org.ops)
    assert error.value.message == (
        "The plan document is not valid: components.0.tiers.1.rate: Field required; "
        "components.1.per_deal: Input should be greater than or equal to 0"
    )
    with pytest.raises(DomainError, match=r"^The file is not valid YAML: "):
        plans.plan_import(text="name: [", fmt="yaml", key="bad", acting_user=org.ops)
    with pytest.raises(DomainError, match="Import JSON or YAML, not 'xml'."):
        plans.plan_import(text="<plan/>", fmt="xml", key="bad", acting_user=org.ops)
    assert not CompPlan.objects.exists()


# --- Assignments ---------------------------------------------------------------------------------


def test_assignment_puts_a_rep_on_a_published_plan(org, ae_plan):
    assignment = assign(org, ae_plan, org.rep_east, end=dt.date(2027, 12, 31))
    assert (assignment.plan, assignment.user, assignment.accepted_at) == (
        ae_plan,
        org.rep_east,
        None,
    )
    assert assignment.created_by == org.ops
    assert last_reason(assignment) == "assignment_create"


def test_only_a_published_plan_takes_people(org, ae_plan):
    draft = make_plan(org, key="draft-plan", publish=False)
    with pytest.raises(DomainError) as error:
        assign(org, draft, org.rep_east)
    assert error.value.message == "AE plan v1 is a draft: publish it before putting people on it."
    v2 = plans.plan_publish(
        plan=plans.plan_new_version(plan=ae_plan, acting_user=org.ops), acting_user=org.ops
    )
    with pytest.raises(DomainError) as error:
        assign(org, ae_plan, org.rep_east)
    assert error.value.message == "AE plan v1 is retired: use the published version, AE plan v2."
    assert assign(org, v2, org.rep_east).plan == v2


def test_who_may_go_on_a_plan(org, ae_plan):
    User.objects.filter(pk=org.rep_west.pk).update(is_active=False)
    with pytest.raises(DomainError) as error:
        assign(org, ae_plan, fresh(org.rep_west))
    assert error.value.message == f"{org.rep_west} is deactivated; only active people go on a plan."

    RepProfile.objects.filter(user=org.rep_london).update(active=False)
    with pytest.raises(DomainError, match="rep profile is inactive; reactivate it"):
        assign(org, ae_plan, org.rep_london)

    with pytest.raises(DomainError) as error:
        assign(org, ae_plan, org.finance)
    assert error.value.message == (
        f"{org.finance} has no rep profile and manages no team: only sellers and sales managers "
        "go on a comp plan."
    )

    with pytest.raises(DomainError) as error:
        assign(org, ae_plan, org.manager_east)
    assert error.value.message == (
        f"{org.manager_east} manages a team but does not sell, and AE plan v1 has no target for "
        "the manager role: pick a manager plan, or add the manager role to this plan."
    )
    manager_plan = make_plan(
        org,
        key="managers",
        name="Manager plan",
        roles=[{"role": "manager", "target_incentive": "50000", "base_salary": "120000"}],
    )
    assignment = assign(org, manager_plan, org.manager_east)
    assert selectors.role_target_for(assignment) == D("50000")
    assert PlanAssignment.objects.count() == 1


def test_an_assignment_must_reach_into_the_plans_fiscal_year(org, ae_plan):
    with pytest.raises(DomainError) as error:
        assign(org, ae_plan, org.rep_east, start=dt.date(2028, 1, 1))
    assert error.value.message == (
        "AE plan v1 covers FY2027 (2027-01-01 to 2027-12-31); an assignment from 2028-01-01, "
        "open-ended does not reach into it."
    )
    with pytest.raises(DomainError, match="an assignment from 2026-01-01 to 2026-12-31 does not"):
        assign(org, ae_plan, org.rep_east, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
    with pytest.raises(DomainError) as error:
        assign(org, ae_plan, org.rep_east, start=dt.date(2027, 5, 1), end=dt.date(2027, 4, 1))
    assert (
        error.value.message
        == "An assignment cannot end (2027-04-01) before it starts (2027-05-01)."
    )
    # Overlapping the year is enough: a hire from December 2026 on, open-ended.
    assert assign(org, ae_plan, org.rep_east, start=dt.date(2026, 12, 1)).end_date is None


def test_a_person_is_on_one_plan_at_a_time(org, ae_plan):
    sdr_plan = make_plan(org, key="sdr-2027", name="SDR plan")
    assign(org, ae_plan, org.rep_east, end=dt.date(2027, 6, 30))
    with pytest.raises(DomainError) as error:
        assign(org, sdr_plan, org.rep_east, start=dt.date(2027, 6, 30))
    assert error.value.message == (
        f"{org.rep_east} is already on AE plan v1 from 2027-01-01 to 2027-06-30; end that "
        "assignment first, or start this one after it."
    )
    after = assign(org, sdr_plan, org.rep_east, start=dt.date(2027, 7, 1))
    with pytest.raises(DomainError, match="is already on SDR plan v1 from 2027-07-01, open-ended"):
        assign(org, ae_plan, org.rep_east, start=dt.date(2027, 12, 1))
    assert after.plan == sdr_plan and PlanAssignment.objects.count() == 2


def test_a_target_incentive_override_is_whole_cents(org, ae_plan):
    with pytest.raises(DomainError, match="whole USD cents; 100.001 has more decimals"):
        assign(org, ae_plan, org.rep_east, target_incentive=D("100.001"))
    with pytest.raises(DomainError, match="cannot be negative"):
        assign(org, ae_plan, org.rep_east, target_incentive=D("-1"))
    assert assign(org, ae_plan, org.rep_east, target_incentive=D("70000")).target_incentive == D(
        "70000"
    )


def test_ending_an_assignment(org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    ended = plans.assignment_end(
        assignment=east, end_date=dt.date(2027, 5, 15), reason="Transfer to EMEA",
        acting_user=org.ops,
    )  # fmt: skip
    assert ended.end_date == dt.date(2027, 5, 15)
    context = audit_events_for(east).last().pgh_context
    assert (context["reason"], context["note"]) == ("assignment_end", "Transfer to EMEA")

    with pytest.raises(DomainError, match="starts on 2027-01-01; it cannot end before that"):
        plans.assignment_end(assignment=east, end_date=dt.date(2026, 12, 31), acting_user=org.ops)
    later = assign(org, ae_plan, org.rep_east, start=dt.date(2027, 9, 1))
    with pytest.raises(DomainError, match="is already on AE plan v1 from 2027-09-01, open-ended"):
        plans.assignment_end(assignment=east, end_date=dt.date(2027, 9, 1), acting_user=org.ops)
    with pytest.raises(NotAllowed, match="Only sales ops can end plan assignments."):
        plans.assignment_end(
            assignment=later, end_date=dt.date(2027, 9, 30), acting_user=fresh(org.rep_east)
        )
    east.refresh_from_db()
    assert east.end_date == dt.date(2027, 5, 15)


def test_an_assignment_with_payout_lines_cannot_be_deleted(org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    west = assign(org, ae_plan, org.rep_west)
    plans.assignment_delete(assignment=west, acting_user=org.ops)
    assert not PlanAssignment.objects.filter(pk=west.pk).exists()

    run = CommissionRun.objects.create(
        period_kind="quarter", period_key="2027-Q01", label="FY2027 Q1",
        period_start=JAN_1, period_end=dt.date(2027, 3, 31), fiscal_year=2027, currency="USD",
    )  # fmt: skip
    PayoutLine.objects.create(
        run=run, user=org.rep_east, assignment=east, plan=ae_plan, kind=LineKind.COMMISSION,
        exact_amount=D("10"), amount=D("10"), currency="USD",
    )  # fmt: skip
    with pytest.raises(DomainError) as error:
        plans.assignment_delete(assignment=east, acting_user=org.ops)
    assert error.value.message == (
        f"{org.rep_east}'s assignment to AE plan v1 has payout lines in FY2027 Q1; end it "
        "instead of deleting it."
    )
    with pytest.raises(NotAllowed, match="Only sales ops can delete plan assignments."):
        plans.assignment_delete(assignment=east, acting_user=fresh(org.finance))
    assert PlanAssignment.objects.filter(pk=east.pk).exists()


def test_only_the_assigned_person_accepts_and_accepting_again_keeps_the_first_time(org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    for someone in (org.rep_east_2, org.manager_east, org.ops, org.admin):
        with pytest.raises(NotAllowed) as error:
            plans.plan_accept(assignment=east, acting_user=fresh(someone))
        assert error.value.message == f"Only {org.rep_east} can accept their own plan."
    east.refresh_from_db()
    assert east.accepted_at is None

    accepted = plans.plan_accept(assignment=east, acting_user=fresh(org.rep_east))
    first = accepted.accepted_at
    assert first is not None
    assert last_reason(east) == "plan_accept"
    again = plans.plan_accept(assignment=east, acting_user=fresh(org.rep_east))
    assert again.accepted_at == first


def test_a_retired_plan_cannot_be_accepted(org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    plans.plan_publish(
        plan=plans.plan_new_version(plan=ae_plan, acting_user=org.ops), acting_user=org.ops
    )
    with pytest.raises(DomainError) as error:
        plans.plan_accept(assignment=east, acting_user=fresh(org.rep_east))
    assert error.value.message == "AE plan v1 is retired; only a published plan can be accepted."


def test_bulk_assignment_is_all_or_nothing_naming_the_first_bad_person(org, ae_plan):
    assign(org, ae_plan, org.rep_west, end=dt.date(2027, 3, 31))
    with pytest.raises(DomainError) as error:
        plans.assignments_create_bulk(
            plan=ae_plan, users=[org.rep_east, org.rep_west, org.finance],
            start_date=dt.date(2027, 3, 1), acting_user=org.ops,
        )  # fmt: skip
    assert error.value.message == (
        f"No one was put on AE plan v1: {org.rep_west} is already on AE plan v1 from 2027-01-01 "
        "to 2027-03-31; end that assignment first, or start this one after it."
    )
    assert PlanAssignment.objects.count() == 1

    created = plans.assignments_create_bulk(
        plan=ae_plan, users=[org.rep_east, org.rep_east_2, org.rep_london],
        start_date=dt.date(2027, 4, 1), acting_user=org.ops,
    )  # fmt: skip
    assert [a.user.username for a in created] == ["rep_east", "rep_east_2", "rep_london"]
    assert last_reason(created[0]) == "assignments_create_bulk"


# --- Selectors -----------------------------------------------------------------------------------


def test_sellers_see_only_the_plan_versions_they_are_on(org, ae_plan):
    sdr_plan = make_plan(org, key="sdr-2027", name="SDR plan")
    draft = make_plan(org, key="draft", publish=False)
    assign(org, ae_plan, org.rep_east)
    assert set(selectors.plans_visible_to(fresh(org.rep_east))) == {ae_plan}
    assert not selectors.plans_visible_to(fresh(org.rep_west)).exists()
    assert not selectors.plans_visible_to(fresh(org.manager_east)).exists()  # not their team's
    for user in (org.ops, org.finance, org.admin):
        assert set(selectors.plans_visible_to(fresh(user))) == {ae_plan, sdr_plan, draft}


def test_plan_list_counts_people_and_those_not_accepted(org, ae_plan):
    east = assign(org, ae_plan, org.rep_east)
    assign(org, ae_plan, org.rep_west)
    assign(org, ae_plan, org.rep_london, end=dt.date(2027, 1, 31))  # ended by 1 Feb
    plans.plan_accept(assignment=east, acting_user=fresh(org.rep_east))
    draft = make_plan(org, key="draft", publish=False)
    on = dt.date(2027, 2, 1)
    counts = {
        plan.pk: (plan.assigned_count, plan.unaccepted_count)
        for plan in selectors.plan_list(fresh(org.ops), on=on)
    }
    assert counts == {ae_plan.pk: (3, 1), draft.pk: (0, 0)}
    assert [a.user.username for a in selectors.unaccepted_assignments(ae_plan, on=on)] == [
        "rep_west"
    ]
    assert [  # before February, rep_london still has to accept
        a.user.username for a in selectors.unaccepted_assignments(on=JAN_1)
    ] == sorted(["rep_london", "rep_west"], key=lambda n: User.objects.get(username=n).last_name)
    assert not selectors.unaccepted_assignments(user=fresh(org.rep_east)).exists()


def test_current_assignment_and_role_target(org, ae_plan):
    RepProfile.objects.filter(user=org.rep_east_2).update(sales_role="SDR")
    first = assign(org, ae_plan, org.rep_east, end=dt.date(2027, 6, 30))
    second = assign(org, ae_plan, org.rep_east, start=dt.date(2027, 7, 1), target_incentive=70000)
    sdr = assign(org, ae_plan, fresh(org.rep_east_2))
    assert selectors.current_assignment(org.rep_east, on=dt.date(2027, 6, 30)) == first
    assert selectors.current_assignment(org.rep_east, on=dt.date(2027, 7, 1)) == second
    assert selectors.current_assignment(org.rep_east, on=dt.date(2026, 12, 31)) is None
    assert selectors.role_target_for(first) == D("60000")  # the AE target
    assert selectors.role_target_for(second) == D("70000")  # the override
    sdr = PlanAssignment.objects.select_related("user__rep_profile", "plan").get(pk=sdr.pk)
    assert selectors.role_target_for(sdr) == D("20000")
    rows = selectors.assignment_rows(list(selectors.plan_assignments(ae_plan, fresh(org.ops))))
    assert sorted((r["role"], r["target_incentive"], r["is_override"]) for r in rows) == [
        ("AE", D("60000"), False),
        ("AE", D("70000"), True),
        ("SDR", D("20000"), False),
    ]


# --- The plan in words ---------------------------------------------------------------------------


def test_components_are_described_in_words(org, ae_plan):
    words = selectors.plan_in_words(ae_plan)
    bookings, logos = (row["lines"] for row in words["components"])
    assert bookings == [
        "Commission on credited bookings, measured quarterly.",
        "Counts owner, split and overlay credits.",
        "Quota: the rep's published quota.",
        "Tiers (marginal): 0–50 % at 4 %, 50–100 % at 8 %, above 100 % at 12 % (Accelerator); "
        "cap 200 % of quota.",
    ]
    assert logos[-1] == "Pays USD 500.00 per deal."
    assert words["roles"][0] == {
        "role": "AE",
        "target_incentive": "USD 60,000.00",
        "base_salary": "USD 90,000.00",
        "ote": "USD 150,000.00",
    }


def test_flat_rates_units_filters_thresholds_and_draws_in_words():
    component = documents.Component.model_validate(
        {
            "key": "units", "name": "Units", "measure": "units", "period": "year",
            "advances": "quarter", "advance_percent": "80", "rate": "25", "weight": "40",
            "filters": {"segments": ["ent"], "deal_types": ["new", "expansion"]},
            "quota": {"source": "fixed", "amount": "1000"}, "threshold": "50",
            "cap_amount": "9000",
        }
    )  # fmt: skip
    assert selectors.describe_component(component, "EUR") == [
        "Commission on units, measured yearly.",
        "Advances paid each quarter: 80 % of the year-to-date payout, trued up at year end.",
        "Counts owner, split and overlay credits.",
        "Only deals in deal types New business, Expansion; segments Enterprise.",
        "Carries 40 % of the target incentive.",
        "Quota: EUR 1,000.00 per year.",
        "Rate: EUR 25.00 per unit; nothing below 50 % of quota; cap EUR 9,000.00 per year.",
    ]
    document = documents.validate(
        plan_data(draw={"kind": "recoverable", "monthly_amount": "2000", "months": 3})
    )
    assert selectors.describe_draw(document) == (
        "Recoverable draw of USD 2,000.00 a month for the first 3 months of an assignment."
    )

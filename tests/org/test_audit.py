"""Every change to org data is recorded with who, when, before/after, and the request id."""

import datetime as dt
from decimal import Decimal

from django.db.models import F, Value
from django.db.models.functions import Concat
from pghistory.models import Events

from salesops.audit import audit_events_for
from salesops.org import services
from salesops.org.models import Team
from salesops.org.roles import Role
from tests.conftest import fresh


def test_service_write_records_actor_reason_and_diff(org):
    services.team_move(team=org.london, parent=org.americas, acting_user=org.ops)
    event = audit_events_for(org.london).last()
    assert event.pgh_label == "update"
    assert event.pgh_diff == {"parent_id": [org.emea.pk, org.americas.pk]}
    assert event.pgh_context["user"] == org.ops.pk
    assert event.pgh_context["reason"] == "team_move"


def test_bulk_update_bypassing_the_orm_save_is_still_recorded(org):
    before = Events.objects.filter(pgh_model="org.TeamEvent", pgh_label="update").count()
    Team.objects.filter(parent=org.americas).update(name=Concat(F("name"), Value(" (old)")))
    after = Events.objects.filter(pgh_model="org.TeamEvent", pgh_label="update").count()
    assert after - before == 2


def test_delete_is_recorded_with_the_old_values(org):
    rate = services.exchange_rate_set(
        currency="EUR", valid_from=dt.date(2026, 1, 1), rate=Decimal("1.1")
    )
    rate_id = rate.pk
    rate.delete()
    event = Events.objects.filter(pgh_model="org.ExchangeRateEvent", pgh_label="delete").get()
    assert event.pgh_obj_id == str(rate_id)
    assert Decimal(str(event.pgh_data["rate"])) == Decimal("1.1")


def test_request_changes_carry_user_url_and_request_id(client, org):
    client.force_login(org.admin)
    response = client.post(
        f"/admin/org/team/{org.west.pk}/change/",
        {"name": "West Coast", "parent": org.americas.pk, "manager": org.manager_west.pk},
        HTTP_X_REQUEST_ID="req-123",
    )
    assert response.status_code == 302
    assert response["X-Request-ID"] == "req-123"
    event = audit_events_for(org.west).last()
    assert event.pgh_diff == {"name": ["West", "West Coast"]}
    assert event.pgh_context["user"] == org.admin.pk
    assert event.pgh_context["request_id"] == "req-123"
    assert event.pgh_context["url"] == f"/admin/org/team/{org.west.pk}/change/"


def test_passwords_are_never_copied_into_the_audit_trail(org):
    user = fresh(org.rep_east)
    user.set_password("another-secret-1")
    user.save()
    for event in audit_events_for(user):
        assert "password" not in event.pgh_data


def test_audit_page_is_for_org_wide_roles(client, org):
    client.force_login(org.manager_east)
    assert client.get("/org/audit/").status_code == 403
    client.force_login(org.ops)
    page = client.get("/org/audit/", {"model": "org.TeamEvent"})
    assert page.status_code == 200
    assert "org.Team" in page.content.decode()


def test_role_changes_are_recorded_with_the_actor(org):
    from django.contrib.auth.models import Group

    services.user_set_role(user=org.rep_west, role=Role.MANAGER, acting_user=org.admin)
    events = Events.objects.filter(pgh_model="org.UserRoleEvent").order_by("pgh_id")
    manager_group = Group.objects.get(name="manager").pk
    rep_group = Group.objects.get(name="rep").pk
    changes = [
        (e.pgh_label, e.pgh_data["user_id"], e.pgh_data["group_id"])
        for e in events
        if e.pgh_data["user_id"] == org.rep_west.pk
    ]
    assert changes[-2:] == [
        ("role.remove", org.rep_west.pk, rep_group),
        ("role.add", org.rep_west.pk, manager_group),
    ]
    assert events.last().pgh_context["user"] == org.admin.pk

"""Org services refuse bad changes with a message a person can act on, and write nothing."""

import datetime as dt

import pytest

from salesops.errors import DomainError
from salesops.org import services
from salesops.org.models import RepProfile, SalesRole, Team
from salesops.org.roles import Role


def test_team_cannot_move_under_its_own_subtree(org):
    with pytest.raises(DomainError) as error:
        services.team_move(team=org.americas, parent=org.east)
    assert str(error.value) == "Cannot move 'Americas' under 'East': 'East' is inside 'Americas'."
    org.americas.refresh_from_db()
    assert org.americas.parent is None


def test_team_cannot_be_its_own_parent(org):
    with pytest.raises(DomainError, match="'East' is inside 'East'"):
        services.team_move(team=org.east, parent=org.east)


def test_duplicate_team_name_under_same_parent(org):
    with pytest.raises(DomainError) as error:
        services.team_create(name="East", parent=org.americas)
    assert str(error.value) == "A team named 'East' already exists under Americas."
    services.team_create(name="East", parent=org.emea)  # same name elsewhere is fine


def test_duplicate_top_level_team_is_refused_by_the_database_too(org):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Team.objects.create(name="EMEA", parent=None)


def test_duplicate_employee_id_is_refused(org):
    from tests.factories import user

    person = user(Role.REP)
    with pytest.raises(DomainError, match=r"Employee id T\d+ already belongs to another rep"):
        services.rep_profile_create(
            user=person,
            team=org.east,
            sales_role=SalesRole.AE,
            employee_id=org.rep_east.rep_profile.employee_id,
            hire_date=dt.date(2025, 1, 1),
        )
    assert not RepProfile.objects.filter(user=person).exists()


def test_duplicate_username_is_refused(org):
    with pytest.raises(DomainError, match="The username 'REP_EAST' is already taken."):
        services.user_create(username="REP_EAST", role=Role.REP)


def test_set_role_replaces_the_previous_role(org):
    services.user_set_role(user=org.rep_west, role=Role.MANAGER)
    assert list(org.rep_west.groups.values_list("name", flat=True)) == ["manager"]
    assert org.rep_west.role == Role.MANAGER


def test_only_admins_are_staff(org):
    assert org.admin.is_staff
    assert not org.ops.is_staff
    services.user_set_role(user=org.admin, role=Role.FINANCE)
    org.admin.refresh_from_db()
    assert not org.admin.is_staff


def test_org_settings_validation(db):
    with pytest.raises(DomainError, match="start month must be 1 to 12"):
        services.org_settings_update(fiscal_year_start_month=0)
    with pytest.raises(DomainError, match="'EURO' is not an ISO 4217 currency code"):
        services.org_settings_update(corporate_currency="EURO")

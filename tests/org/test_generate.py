"""The org generator: deterministic for a seed, the right shape at each scale, bulk-loaded."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command

from salesops.org.generate import DEMO_LOGINS, SCALES, generate_org
from salesops.org.models import ExchangeRate, RepProfile, Team, User
from salesops.org.roles import Role
from salesops.org.selectors import team_subtree_ids

AS_OF = dt.date(2026, 6, 30)


def fingerprint():
    return (
        list(
            User.objects.order_by("pk").values_list(
                "pk", "username", "first_name", "last_name", "groups__name", "is_staff"
            )
        ),
        list(Team.objects.order_by("pk").values_list("pk", "name", "parent_id", "manager_id")),
        list(
            RepProfile.objects.order_by("pk").values_list(
                "user_id",
                "team_id",
                "sales_role",
                "employee_id",
                "hire_date",
                "ramp_months",
                "active",
            )
        ),
        list(ExchangeRate.objects.order_by("pk").values_list("currency", "valid_from", "rate")),
    )


def test_same_seed_same_rows_different_seed_different_rows(db):
    generate_org(scale=SCALES["demo"], seed=7, as_of=AS_OF, steps=[])
    first = fingerprint()
    generate_org(scale=SCALES["demo"], seed=7, as_of=AS_OF, replace=True, steps=[])
    assert fingerprint() == first
    generate_org(scale=SCALES["demo"], seed=8, as_of=AS_OF, replace=True, steps=[])
    assert fingerprint() != first


def test_demo_shape_and_logins(db):
    result = generate_org(scale=SCALES["demo"], seed=1, as_of=AS_OF, steps=[])
    regions = Team.objects.filter(parent=None)
    assert sorted(regions.values_list("name", flat=True)) == ["Americas", "EMEA"]
    assert Team.objects.count() == 8
    assert RepProfile.objects.count() == 40
    assert result.rows["rep_profiles"] == 40
    for role, username in DEMO_LOGINS.items():
        assert User.objects.get(username=username).role == role
    manager = User.objects.get(username="manager")
    rep = User.objects.get(username="rep")
    assert rep.rep_profile.team.manager == manager
    assert User.objects.get(username="admin").check_password("salesops-demo")
    assert User.objects.filter(rep_profile__isnull=False, groups__name="rep").count() == 40


def test_demo_fiscal_year_starts_in_february(db):
    from salesops.org.selectors import org_settings

    generate_org(scale=SCALES["demo"], seed=1, as_of=AS_OF, steps=[])
    assert org_settings().fiscal_year_start_month == 2


def test_large_shape_three_manager_levels(db):
    result = generate_org(scale=SCALES["large"], seed=1, as_of=AS_OF, steps=[])
    assert Team.objects.count() == 200
    assert RepProfile.objects.count() == 2000
    assert [len(level) for level in result.team_ids_by_level] == [4, 16, 180]
    assert not Team.objects.filter(manager__isnull=True).exists()
    # every front-line team sits three levels down and has reps
    # 180 front-line teams over 16 areas: the first four areas (all in Americas) get 12, others 11
    sizes = {
        region.name: len(team_subtree_ids([region.pk]))
        for region in Team.objects.filter(parent=None)
    }
    assert sizes == {"Americas": 1 + 4 + 48, "EMEA": 49, "APAC": 49, "LATAM": 49}
    assert not Team.objects.filter(pk__in=result.team_ids_by_level[-1], reps__isnull=True).exists()
    assert User.objects.filter(groups__name=Role.MANAGER).count() == 200
    # only the demo logins can sign in at large scale
    assert not User.objects.get(pk=result.rep_user_ids[-1]).has_usable_password()


def test_existing_org_is_not_overwritten_by_accident(db):
    generate_org(scale=SCALES["demo"], seed=1, as_of=AS_OF, steps=[])
    with pytest.raises(CommandError, match="already has 40 reps; pass --replace"):
        call_command("generate_org", "--scale", "demo")
    call_command("generate_org", "--scale", "demo", "--if-empty")  # the `make run` path: a no-op
    assert RepProfile.objects.count() == 40


def test_ids_continue_after_a_bulk_load(db):
    from tests.factories import team

    generate_org(scale=SCALES["demo"], seed=1, as_of=AS_OF, steps=[])
    assert team("Brand new").pk == 9


def test_generator_writes_are_audited(db):
    from pghistory.models import Events

    generate_org(scale=SCALES["demo"], seed=3, as_of=AS_OF, steps=[])
    inserts = Events.objects.filter(pgh_model="org.RepProfileEvent", pgh_label="insert")
    assert inserts.count() == 40
    assert inserts.first().pgh_context["reason"] == "generate_org demo seed=3"

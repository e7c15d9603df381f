"""Who sees which rows: the one scoping rule, probed for every role."""

import pytest

from salesops.org.models import RepProfile, Team, User
from salesops.org.roles import Role
from salesops.permissions import can_see, restrict
from tests.conftest import fresh
from tests.factories import user


def usernames(queryset):
    return set(queryset.values_list("username", flat=True))


def test_rep_sees_only_themselves(org):
    rep = fresh(org.rep_east)
    assert usernames(User.objects.visible_to(rep)) == {"rep_east"}
    assert list(RepProfile.objects.visible_to(rep).values_list("user__username", flat=True)) == [
        "rep_east"
    ]


def test_rep_sees_own_team_only(org):
    assert list(Team.objects.visible_to(fresh(org.rep_east))) == [org.east]


def test_rep_cannot_see_teammate_or_other_team(org):
    rep = fresh(org.rep_east)
    assert not can_see(rep, org.rep_east_2)
    assert not can_see(rep, org.rep_london)
    assert not can_see(rep, org.west)


def test_front_line_manager_sees_own_team_and_its_reps(org):
    manager = fresh(org.manager_east)
    assert usernames(User.objects.visible_to(manager)) == {
        "manager_east",
        "rep_east",
        "rep_east_2",
    }
    assert list(Team.objects.visible_to(manager)) == [org.east]


def test_manager_cannot_see_sibling_or_other_subtree(org):
    manager = fresh(org.manager_east)
    for outsider in (org.rep_west, org.manager_west, org.rep_london, org.vp_americas):
        assert not can_see(manager, outsider), outsider.username
    assert not can_see(manager, org.west)
    assert not can_see(manager, org.americas)


def test_second_level_manager_sees_whole_subtree(org):
    vp = fresh(org.vp_americas)
    assert usernames(User.objects.visible_to(vp)) == {
        "vp_americas",
        "manager_east",
        "manager_west",
        "rep_east",
        "rep_east_2",
        "rep_west",
    }
    assert set(Team.objects.visible_to(vp)) == {org.americas, org.east, org.west}
    assert not can_see(vp, org.rep_london)
    assert not can_see(vp, org.london)


def test_subtree_follows_a_team_move(org):
    from salesops.org.services import team_move

    team_move(team=org.london, parent=org.americas)
    vp = fresh(org.vp_americas)
    assert can_see(vp, org.rep_london)
    assert not can_see(fresh(org.vp_emea), org.rep_london)


@pytest.mark.parametrize("role_user", ["ops", "finance", "admin"])
def test_org_wide_roles_see_every_row(org, role_user):
    viewer = fresh(getattr(org, role_user))
    assert User.objects.visible_to(viewer).count() == User.objects.count()
    assert Team.objects.visible_to(viewer).count() == Team.objects.count() == 5


def test_anonymous_and_roleless_users_see_nothing(org):
    from django.contrib.auth.models import AnonymousUser

    assert not restrict(User.objects.all(), AnonymousUser()).exists()
    nobody = User.objects.create_user(username="nobody", password="x")
    assert not User.objects.visible_to(nobody).exists()
    assert not Team.objects.visible_to(nobody).exists()


def test_deactivated_user_sees_nothing(org):
    manager = fresh(org.manager_east)
    manager.is_active = False
    assert not User.objects.visible_to(manager).exists()


def test_manager_scope_query_count_does_not_grow_with_rows(org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import rep

    def queries_to_list_scope() -> int:
        manager = fresh(org.vp_americas)
        with CaptureQueriesContext(connection) as captured:
            list(User.objects.visible_to(manager))
        return len(captured)

    few = queries_to_list_scope()
    for n in range(20):
        rep(org.east, username=f"extra{n}")
    # role, team roots, subtree (one recursive query), the subtree's user ids, the list itself.
    assert queries_to_list_scope() == few <= 5


def test_role_precedence_picks_the_broadest_group(org):
    from django.contrib.auth.models import Group

    person = user(Role.REP)
    person.groups.add(Group.objects.get(name="finance"))
    assert fresh(person).role == Role.FINANCE

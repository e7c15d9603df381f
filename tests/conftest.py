"""Shared fixtures: a small two-region organisation built through the services."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from salesops.org.models import Team, User
from salesops.org.roles import Role
from tests import factories


@dataclass
class Org:
    """Americas (VP) › East (manager) and West (manager); EMEA (VP) › London (manager)."""

    americas: Team
    east: Team
    west: Team
    emea: Team
    london: Team
    vp_americas: User
    manager_east: User
    manager_west: User
    vp_emea: User
    manager_london: User
    rep_east: User
    rep_east_2: User
    rep_west: User
    rep_london: User
    ops: User
    finance: User
    admin: User


@pytest.fixture
def org(db) -> Org:
    vp_americas = factories.user(Role.MANAGER, username="vp_americas")
    vp_emea = factories.user(Role.MANAGER, username="vp_emea")
    manager_east = factories.user(Role.MANAGER, username="manager_east")
    manager_west = factories.user(Role.MANAGER, username="manager_west")
    manager_london = factories.user(Role.MANAGER, username="manager_london")
    americas = factories.team("Americas", manager=vp_americas)
    emea = factories.team("EMEA", manager=vp_emea)
    east = factories.team("East", parent=americas, manager=manager_east)
    west = factories.team("West", parent=americas, manager=manager_west)
    london = factories.team("London", parent=emea, manager=manager_london)
    return Org(
        americas=americas,
        east=east,
        west=west,
        emea=emea,
        london=london,
        vp_americas=vp_americas,
        manager_east=manager_east,
        manager_west=manager_west,
        vp_emea=vp_emea,
        manager_london=manager_london,
        rep_east=factories.rep(east, username="rep_east"),
        rep_east_2=factories.rep(east, username="rep_east_2"),
        rep_west=factories.rep(west, username="rep_west"),
        rep_london=factories.rep(london, username="rep_london"),
        ops=factories.user(Role.OPS, username="ops_user"),
        finance=factories.user(Role.FINANCE, username="finance_user"),
        admin=factories.user(Role.ADMIN, username="admin_user"),
    )


def fresh(user: User) -> User:
    """The same user re-read, so cached role and scope are recomputed."""
    return User.objects.get(pk=user.pk)

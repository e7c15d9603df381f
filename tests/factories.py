"""factory_boy factories that write through the org services, as the app does."""

from __future__ import annotations

import datetime as dt
import itertools

from salesops.org import services
from salesops.org.models import SalesRole, Team, User
from salesops.org.roles import Role

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


def user(role: Role, *, username: str | None = None, **fields) -> User:
    n = next(_seq)
    return services.user_create(
        username=username or f"{role.value}{n}",
        role=role,
        first_name=fields.pop("first_name", role.label.split()[0]),
        last_name=fields.pop("last_name", f"Person{n}"),
        email=fields.pop("email", f"{role.value}{n}@example.com"),
        password=PASSWORD,
        **fields,
    )


def team(name: str, *, parent: Team | None = None, manager: User | None = None) -> Team:
    return services.team_create(name=name, parent=parent, manager=manager)


def rep(team: Team, *, username: str | None = None, sales_role=SalesRole.AE) -> User:
    person = user(Role.REP, username=username)
    services.rep_profile_create(
        user=person,
        team=team,
        sales_role=sales_role,
        employee_id=f"T{person.pk:06d}",
        hire_date=dt.date(2024, 1, 15),
    )
    return person

"""Reads of KPI figures for pages, the API and reports, limited to the scopes a person may see.

Figures come from the snapshots (``KpiValue``) unless an as-of day or a filter is asked for; then
the engine computes them live for the requested scopes only. Who may see which scope: a rep their
own figures; a manager every team they manage (and the teams below) and the people in them;
sales ops, finance and admins everything, the company included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from reporting import engine
from reporting.kpis import REGISTRY
from reporting.models import KpiValue, ScopeKind
from reporting.services import last_run
from salesops.errors import DomainError, NotAllowed
from salesops.org.models import Team, User
from salesops.org.roles import ORG_WIDE_ROLES, Role
from salesops.org.selectors import managed_team_ids, managed_user_ids, team_subtree_ids


@dataclass(frozen=True)
class Scope:
    kind: str
    id: int
    name: str

    @property
    def key(self) -> str:
        """``team:7``, ``rep:12``, ``company:0``: scopes in URLs and query strings."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class KpiFigures:
    """The rows asked for, and where they came from (snapshots as of ``computed_at``, or live)."""

    rows: list[engine.KpiRow]
    live: bool
    computed_at: dt.datetime | None
    as_of: dt.date | None


def default_scope(user: User) -> Scope:
    """Where a person's dashboard opens: their own figures, their top team, or the company."""
    if user.role in ORG_WIDE_ROLES:
        return Scope(ScopeKind.COMPANY, 0, "Company")
    if user.role == Role.MANAGER:
        top = Team.objects.filter(manager=user).order_by("parent_id", "name").first()
        if top is not None:
            return Scope(ScopeKind.TEAM, top.pk, top.name)
    return Scope(ScopeKind.REP, user.pk, user.get_full_name() or user.username)


def parse_scope(user: User, text: str | None) -> Scope:
    """The scope named ``text`` (``team:7``), or the user's default; refused when out of reach."""
    if not text:
        return default_scope(user)
    kind, _, raw_id = text.partition(":")
    if kind not in ScopeKind.values or not raw_id.isdigit():
        raise DomainError(
            f"'{text}' is not a scope: use rep:<id>, team:<id>, territory:<id> or company:0.",
            field="scope",
        )
    scope = Scope(kind, int(raw_id), "")
    if not can_see_scope(user, scope):
        raise NotAllowed("These figures are outside your teams.", field="scope")
    return Scope(kind, int(raw_id), scope_names([scope])[scope.key])


def can_see_scope(user: User, scope: Scope) -> bool:
    if user.role in ORG_WIDE_ROLES:
        return True
    if scope.kind == ScopeKind.REP:
        return scope.id == user.pk or (
            user.role == Role.MANAGER and scope.id in managed_user_ids(user)
        )
    if scope.kind == ScopeKind.TEAM:
        return user.role == Role.MANAGER and scope.id in managed_team_ids(user)
    return False


def members(scope: Scope, group_by: str) -> list[Scope]:
    """The reps under a team (``group_by="rep"``) or its teams one level down (``"team"``)."""
    if group_by == ScopeKind.REP:
        if scope.kind == ScopeKind.REP:
            return [scope]
        teams = team_subtree_ids([scope.id]) if scope.kind == ScopeKind.TEAM else None
        people = User.objects.filter(rep_profile__isnull=False)
        if teams is not None:
            people = people.filter(rep_profile__team__in=teams)
        return [
            Scope(ScopeKind.REP, u.pk, u.get_full_name() or u.username)
            for u in people.order_by("last_name", "first_name")
        ]
    if group_by == ScopeKind.TEAM:
        if scope.kind not in (ScopeKind.TEAM, ScopeKind.COMPANY):
            return []
        children = Team.objects.filter(
            Q(parent_id=scope.id) if scope.kind == ScopeKind.TEAM else Q(parent__isnull=True)
        )
        return [Scope(ScopeKind.TEAM, t.pk, t.name) for t in children.order_by("name")]
    raise DomainError(f"Group by rep or team, not '{group_by}'.", field="group_by")


def scope_names(scopes: Iterable[Scope]) -> dict[str, str]:
    """Display names of scopes, by ``Scope.key``."""
    scopes = list(scopes)
    names = {s.key: "Company" for s in scopes if s.kind == ScopeKind.COMPANY}
    rep_ids = [s.id for s in scopes if s.kind == ScopeKind.REP]
    for user in User.objects.filter(pk__in=rep_ids):
        names[f"rep:{user.pk}"] = user.get_full_name() or user.username
    team_ids = [s.id for s in scopes if s.kind == ScopeKind.TEAM]
    for team in Team.objects.filter(pk__in=team_ids):
        names[f"team:{team.pk}"] = team.name
    for s in scopes:
        names.setdefault(s.key, f"{s.kind.title()} {s.id}")
    return names


def kpi_figures(
    user: User,
    *,
    metrics: list[str],
    scopes: list[Scope],
    period_keys: list[str],
    as_of: dt.date | None = None,
    filters: engine.Filters | None = None,
) -> KpiFigures:
    """``metrics`` for ``scopes`` and ``period_keys``: snapshots, or live for an as-of day or
    filters. Every scope must be one ``user`` may see."""
    hidden = [s for s in scopes if not can_see_scope(user, s)]
    if hidden:
        raise NotAllowed("These figures are outside your teams.", field="scope")
    filters = filters or engine.Filters()
    if as_of is not None or filters != engine.Filters():
        rows = engine.compute(
            as_of=as_of, metrics=metrics, period_keys=period_keys,
            scopes=[(s.kind, s.id) for s in scopes], filters=filters,
        )  # fmt: skip
        return KpiFigures(rows=rows, live=True, computed_at=None, as_of=as_of)
    wanted = Q()
    for kind in {s.kind for s in scopes}:
        wanted |= Q(scope_kind=kind, scope_id__in=[s.id for s in scopes if s.kind == kind])
    values = KpiValue.objects.filter(
        wanted, metric__in=metrics, period_key__in=period_keys
    ).order_by("metric", "scope_kind", "scope_id", "period_key", "breakdown")
    rows = [
        engine.KpiRow(
            v.metric,
            v.period_kind,
            v.period_key,
            v.scope_kind,
            v.scope_id,
            v.breakdown,
            v.value,
            v.numerator,
            v.denominator,
        )  # fmt: skip
        for v in values
    ]
    run = last_run()
    return KpiFigures(
        rows=rows, live=False, computed_at=run.finished_at if run else None, as_of=None
    )


def figure_index(rows: list[engine.KpiRow]) -> dict[tuple, Decimal | None]:
    """Rows by (metric, scope key, period key, breakdown), for ``figure``."""
    return {
        (r.metric, f"{r.scope_kind}:{r.scope_id}", r.period_key, r.breakdown): r.value for r in rows
    }


def figure(index: dict, metric: str, scope: Scope, period_key: str, breakdown: str = ""):
    """One figure; sums and counts with no row are 0, other KPIs None (nothing to measure)."""
    default = Decimal(0) if REGISTRY[metric].additive else None
    return index.get((metric, scope.key, period_key, breakdown), default)

"""Auto-balancing a draft scenario: build the movable units of one parent territory's children
from the scenario's projected assignment, ask the optimiser (``territories.balancing``) for a
proposal, and turn an accepted proposal into the scenario's rules.

Units. Every account the scenario's rules put in one of the parent's child territories (or
anywhere below one: a subtree counts towards its child) belongs to one unit:

- ``unit="account"``: each account is a unit (``account:<id>``).
- ``unit="region"``: the accounts of one (country, region) are one unit (``region:US/CA``), so a
  state moves whole and territories stay contiguous. A region can only move as a whole when all
  of the plan's accounts in it (named accounts aside) sit under the same child; a region split
  between children, or partly placed outside the parent, is locked (``split_region``), as are
  accounts with no country or no region (``no_region``): rules cannot move them by region.

Locks. Named accounts (listed in any rule of the scenario) and accounts with an open deal at or
above ``LATE_STAGE_PROBABILITY`` never move. With region units they are split out as their own
locked ``account:<id>`` units, so the rest of their region can still move; accepting such a move
pins them, with a named-accounts rule, to the territory they are in.

Allowed. A unit may move only to siblings that already hold accounts from its country, so a
country's territories stay contiguous; when no other sibling holds that country, any sibling.

Accepting. A region unit moves with ``territories.services.region_move``; an account unit joins
a named-accounts rule of the target (created at the top of the rules when missing). When the
target child has territories below it, the accounts land in its leaf that already holds their
country with the fewest accounts (the child itself when none does). The result is checked: the
scenario's projection afterwards must place exactly the proposed accounts elsewhere, or nothing
is changed and the error names the accounts that would land differently.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from salesops.audit import audit_context
from salesops.errors import DomainError
from salesops.org.models import User
from territories import services
from territories.assignment import match_accounts
from territories.balancing import Move, Proposal, Unit, propose
from territories.models import AssignmentRule, PlanStatus, Territory, TerritoryPlan
from territories.scenarios import (
    LATE_STAGE_PROBABILITY,
    PlanTree,
    account_figures_sql,
    figures_params,
    place_accounts,
    plan_tree,
    require_measure,
    use_figures_memory,
)

__all__ = [
    "LATE_STAGE_PROBABILITY",
    "MAX_UNITS",
    "AcceptResult",
    "BalanceUnit",
    "autobalance_accept",
    "autobalance_propose",
    "autobalance_units",
]

UNIT_KINDS = ("region", "account")

LOCK_NAMED = "named"
LOCK_LATE_STAGE = "late_stage"
LOCK_SPLIT_REGION = "split_region"
LOCK_NO_REGION = "no_region"

# Beyond this many movable units (locked ones are constants, not variables) the MILP rarely finds
# a plan within the default 10-second limit (measured: 5,000 units over 4 territories take ~7 s,
# 10,000 find nothing in 10 s); the analyst should balance a lower parent or by region.
MAX_UNITS = 5_000


@dataclass(frozen=True)
class BalanceUnit:
    """A unit for the optimiser plus what the page and ``autobalance_accept`` need about it."""

    unit: Unit
    label: str  # "CA (US)" or the account's name
    country: str  # upper-case ISO code as matched ('' when blank)
    region: str  # the region as most accounts write it ('' when blank)
    account_ids: tuple[int, ...]
    lock: str = ""  # why it stays: named, late_stage, split_region, no_region ('' = movable)


@dataclass(frozen=True)
class _Row:
    account_id: int
    territory_id: int
    child: str
    name: str
    country: str
    region_key: str
    region: str
    load: Decimal  # on the measure asked for
    lock: str


@dataclass(frozen=True)
class _Scope:
    tree: PlanTree
    parent_key: str
    children: tuple[str, ...]
    rows: list[_Row]
    split_regions: set[tuple[str, str]]


# --- Building units -----------------------------------------------------------------------------


def _require_draft(scenario: TerritoryPlan) -> None:
    if scenario.status != PlanStatus.DRAFT:
        raise DomainError(
            f"{scenario} is {scenario.get_status_display().lower()}; auto-balancing works on a "
            "draft scenario. Draft one from the live plan first.",
            field="scenario",
        )


def _scope(scenario: TerritoryPlan, parent_key: str, *, measure: str, as_of: dt.date) -> _Scope:
    """The accounts projected under ``parent_key``'s children, with their load and locks."""
    require_measure(measure)
    load_sql = "1" if measure == "accounts" else f"greatest(f.{measure}, 0)"
    tree = plan_tree(scenario)
    if parent_key not in tree.nodes:
        raise DomainError(f"{scenario} has no territory '{parent_key}'.", field="parent")
    children = tree.nodes[parent_key].children
    if not children:
        raise DomainError(
            f"{tree.nodes[parent_key].name} has no territories below it to balance.",
            field="parent",
        )
    territory_ids, child_keys = [], []
    for child in children:
        for key in tree.subtree(child):
            territory_ids.append(tree.nodes[key].id)
            child_keys.append(child)
    params = {
        **figures_params(as_of),
        "plan": scenario.pk,
        "tids": territory_ids,
        "childs": child_keys,
    }
    named_sql = (
        "SELECT DISTINCT unnest(named_account_ids) AS account_id"
        " FROM territories_assignmentrule WHERE plan_id = %(plan)s"
    )
    scope_sql = (
        "SELECT unnest(%(tids)s::bigint[]) AS territory_id, unnest(%(childs)s::text[]) AS child"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        place_accounts(scenario, "ab_place")
        # Regions whose (unnamed) accounts do not all sit under one child: '' stands for
        # "outside the parent's children".
        cursor.execute(
            f"""
            WITH named AS ({named_sql}), scope AS ({scope_sql})
            SELECT upper(trim(a.country)), lower(trim(a.region))
            FROM ab_place p
            JOIN crm_account a ON a.id = p.account_id
            LEFT JOIN scope s ON s.territory_id = p.territory_id
            WHERE p.account_id NOT IN (SELECT account_id FROM named)
            GROUP BY 1, 2
            HAVING bool_or(s.child IS NOT NULL) AND count(DISTINCT coalesce(s.child, '')) > 1
            """,
            params,
        )
        split = {(country, region) for country, region in cursor.fetchall()}
        cursor.execute("DELETE FROM ab_place WHERE NOT territory_id = ANY(%(tids)s)", params)
        use_figures_memory(cursor)
        cursor.execute(
            f"""
            WITH named AS ({named_sql}), scope AS ({scope_sql})
            SELECT f.account_id, f.territory_id, s.child, a.name,
                   coalesce(upper(trim(a.country)), ''), coalesce(lower(trim(a.region)), ''),
                   coalesce(trim(a.region), ''),
                   {load_sql}, f.late, n.account_id IS NOT NULL
            FROM ({account_figures_sql("ab_place")}) f
            JOIN scope s ON s.territory_id = f.territory_id
            JOIN crm_account a ON a.id = f.account_id
            LEFT JOIN named n ON n.account_id = f.account_id
            ORDER BY f.account_id
            """,
            params,
        )
        rows = [
            _Row(
                account_id=row[0],
                territory_id=row[1],
                child=row[2],
                name=row[3],
                country=row[4],
                region_key=row[5],
                region=row[6],
                load=Decimal(row[7]),
                lock=LOCK_NAMED if row[9] else LOCK_LATE_STAGE if row[8] else "",
            )
            for row in cursor.fetchall()
        ]
        cursor.execute("DROP TABLE ab_place")
    return _Scope(
        tree=tree, parent_key=parent_key, children=children, rows=rows, split_regions=split
    )


def _units(scope: _Scope, *, kind: str) -> list[BalanceUnit]:
    countries: dict[str, set[str]] = defaultdict(set)
    for row in scope.rows:
        countries[row.child].add(row.country)

    def allowed(child: str, country: str) -> frozenset[str] | None:
        others = frozenset(c for c in scope.children if c != child and country in countries[c])
        return others or None

    def make(key: str, child: str, rows: list[_Row], *, label: str, region: str, lock: str):
        country = rows[0].country
        return BalanceUnit(
            unit=Unit(
                key=key,
                territory=child,
                load=sum((row.load for row in rows), Decimal(0)),
                locked=bool(lock),
                allowed=None if lock else allowed(child, country),
            ),
            label=label,
            country=country,
            region=region,
            account_ids=tuple(row.account_id for row in rows),
            lock=lock,
        )

    units: list[BalanceUnit] = []
    regions: dict[tuple[str, str, str], list[_Row]] = defaultdict(list)
    for row in scope.rows:
        if kind == "account" or row.lock:
            units.append(
                make(f"account:{row.account_id}", row.child, [row], label=row.name,
                     region=row.region, lock=row.lock)
            )  # fmt: skip
        else:
            regions[(row.child, row.country, row.region_key)].append(row)
    for (child, country, region_key), rows in sorted(regions.items()):
        spellings = Counter(row.region for row in rows)
        region = min(spellings, key=lambda s: (-spellings[s], s))
        label = f"{region or 'No region'} ({country or 'no country'})"
        if not region_key or not country:
            key, lock = f"region:{country}/{region}@{child}", LOCK_NO_REGION
        elif (country, region_key) in scope.split_regions:
            key, lock = f"region:{country}/{region}@{child}", LOCK_SPLIT_REGION
        else:
            key, lock = f"region:{country}/{region}", ""
        units.append(make(key, child, rows, label=label, region=region, lock=lock))
    return units


def autobalance_units(
    *,
    scenario: TerritoryPlan,
    parent: Territory,
    measure: str,
    unit: str,
    as_of: dt.date | None = None,
) -> list[BalanceUnit]:
    """The units ``autobalance_propose`` balances, with their labels, members and locks."""
    _require_draft(scenario)
    require_measure(measure)
    if unit not in UNIT_KINDS:
        raise DomainError(f"'{unit}' is not a unit; choose region or account.", field="unit")
    if parent.plan_id != scenario.pk:
        raise DomainError(f"{parent} belongs to another plan.", field="parent")
    scope = _scope(scenario, parent.key, measure=measure, as_of=as_of or timezone.localdate())
    return _units(scope, kind=unit)


def autobalance_propose(
    *,
    scenario: TerritoryPlan,
    parent: Territory,
    measure: str,
    max_moves: int,
    unit: str,
    time_limit: float = 10.0,
    as_of: dt.date | None = None,
) -> Proposal:
    """Moves (at most ``max_moves``) of units between ``parent``'s children that even out
    ``measure`` (accounts, potential, employees, pipeline or bookings) in ``scenario``."""
    if max_moves < 0:
        raise DomainError("The number of moves must be zero or more.", field="max_moves")
    if not time_limit > 0:
        raise DomainError(
            "The time limit must be a positive number of seconds.", field="time_limit"
        )
    units = autobalance_units(
        scenario=scenario, parent=parent, measure=measure, unit=unit, as_of=as_of
    )
    movable = sum(1 for balance_unit in units if not balance_unit.unit.locked)
    if movable > MAX_UNITS:
        raise DomainError(
            f"{parent} has {movable:,} units that could move, more than the {MAX_UNITS:,} the "
            "optimiser can weigh in time; balance a territory lower in the tree, or by region.",
            field="unit",
        )
    children = [child.key for child in parent.children.order_by("name", "key")]
    return propose(
        [balance_unit.unit for balance_unit in units],
        children,
        max_moves=max_moves,
        time_limit=time_limit,
    )


# --- Accepting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptResult:
    """What accepting a proposal wrote into the scenario."""

    regions_moved: int  # region_move calls
    accounts_named: int  # accounts added to a target's named-accounts rule
    accounts_pinned: int  # locked accounts of moved regions pinned where they are
    accounts_moved: int  # accounts this acceptance placed elsewhere than the scenario did before


def autobalance_accept(
    *, scenario: TerritoryPlan, proposal_moves: Sequence[Move], acting_user: User
) -> AcceptResult:
    """Write ``proposal_moves`` into ``scenario``'s rules (one transaction, all or nothing).

    Each move must still be possible: the unit sits where the proposal found it, is not locked
    and may go to the target; otherwise the proposal is out of date and nothing changes.
    """
    services.require_planner(acting_user)
    _require_draft(scenario)
    if not proposal_moves:
        raise DomainError("The proposal has no moves to accept.", field="moves")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="autobalance_accept"):
        scenario = TerritoryPlan.objects.select_for_update().get(pk=scenario.pk)
        _require_draft(scenario)
        tree = plan_tree(scenario)
        by_parent: dict[str, list[Move]] = defaultdict(list)
        seen: set[str] = set()
        for move in proposal_moves:
            parent_key = _parent_of_move(tree, move)
            if move.unit in seen:
                raise DomainError(f"Unit {move.unit} is moved twice in the proposal.")
            seen.add(move.unit)
            by_parent[parent_key].append(move)

        today = timezone.localdate()
        regions: list[tuple[BalanceUnit, int]] = []  # (unit, landing territory id)
        named: dict[int, list[int]] = defaultdict(list)  # territory id -> accounts to name there
        pinned = 0
        expected: dict[int, int] = {}  # account -> territory it must land in
        for parent_key, moves in by_parent.items():
            scope = _scope(scenario, parent_key, measure="accounts", as_of=today)
            units = {
                u.unit.key: u
                for kind in {m.unit.split(":", 1)[0] for m in moves}
                if kind in UNIT_KINDS
                for u in _units(scope, kind=kind)
            }
            for move in moves:
                unit = _checked_unit(units.get(move.unit), move, tree)
                landing = _landing(scope, move.to_territory, unit.country)
                expected.update(dict.fromkeys(unit.account_ids, landing))
                if move.unit.startswith("region:"):
                    regions.append((unit, landing))
                    region_key = next(
                        row.region_key
                        for row in scope.rows
                        if row.account_id == unit.account_ids[0]
                    )
                    stay = [
                        row for row in scope.rows
                        if row.lock == LOCK_LATE_STAGE and row.child == move.from_territory
                        and (row.country, row.region_key) == (unit.country, region_key)
                    ]  # fmt: skip
                    for row in stay:
                        named[row.territory_id].append(row.account_id)
                    pinned += len(stay)
                else:
                    named[landing] += unit.account_ids

        with connection.cursor() as cursor:
            place_accounts(scenario, "ab_before")
            cursor.execute(
                "DROP TABLE IF EXISTS ab_expected;"
                " CREATE TEMP TABLE ab_expected ON COMMIT DROP AS"
                " SELECT unnest(%s::bigint[]) AS account_id, unnest(%s::bigint[]) AS territory_id",
                [list(expected), list(expected.values())],
            )
        territories = {t.pk: t for t in scenario.territories.all()}
        for unit, landing in regions:
            services.region_move(
                plan=scenario,
                country=unit.country,
                region=unit.region,
                to=territories[landing],
                acting_user=acting_user,
            )
        for territory_id, account_ids in named.items():
            _name_accounts(scenario, territories[territory_id], account_ids, acting_user)
        moved = _verify(scenario)
    return AcceptResult(
        regions_moved=len(regions),
        accounts_named=sum(len(ids) for ids in named.values()) - pinned,
        accounts_pinned=pinned,
        accounts_moved=moved,
    )


def _parent_of_move(tree: PlanTree, move: Move) -> str:
    for key in (move.from_territory, move.to_territory):
        if key not in tree.nodes:
            raise DomainError(f"The scenario has no territory '{key}'; propose again.")
    parent = tree.nodes[move.from_territory].parent_key
    if parent is None or parent != tree.nodes[move.to_territory].parent_key:
        raise DomainError(
            f"{move.unit} would move from {move.from_territory} to {move.to_territory}, which "
            "are not sibling territories; only moves between a parent's children can be accepted."
        )
    if move.from_territory == move.to_territory:
        raise DomainError(f"{move.unit} would move to the territory it is in.")
    return parent


def _checked_unit(unit: BalanceUnit | None, move: Move, tree: PlanTree) -> BalanceUnit:
    if unit is None or unit.unit.territory != move.from_territory:
        raise DomainError(
            f"{move.unit} is no longer in {tree.nodes[move.from_territory].name}: the scenario "
            "changed since the proposal was made. Propose again."
        )
    if unit.lock:
        raise DomainError(
            f"{unit.label} cannot move ({unit.lock.replace('_', ' ')}); the scenario changed "
            "since the proposal was made. Propose again."
        )
    if unit.unit.allowed is not None and move.to_territory not in unit.unit.allowed:
        raise DomainError(
            f"{unit.label} may only move to territories that already serve {unit.country}: "
            f"{', '.join(sorted(unit.unit.allowed))}."
        )
    return unit


def _landing(scope: _Scope, child: str, country: str) -> int:
    """The territory under ``child`` where moved accounts of ``country`` go (see the docstring)."""
    node = scope.tree.nodes[child]
    if not node.children:
        return node.id
    counts: Counter[int] = Counter()
    serving: set[int] = set()
    for row in scope.rows:
        if row.child == child:
            counts[row.territory_id] += 1
            if row.country == country:
                serving.add(row.territory_id)
    leaves = [
        scope.tree.nodes[key].id
        for key in scope.tree.subtree(child)
        if not scope.tree.nodes[key].children and scope.tree.nodes[key].id in serving
    ]
    if not leaves:
        return node.id
    return min(leaves, key=lambda territory_id: (counts[territory_id], leaves.index(territory_id)))


def _name_accounts(
    plan: TerritoryPlan, territory: Territory, account_ids: Sequence[int], acting_user: User
) -> AssignmentRule:
    """Add ``account_ids`` to a named-accounts rule of ``territory`` that is tried before every
    other kind of rule, creating one at the top when there is none."""
    first_other = plan.rules.filter(named_account_ids=[]).aggregate(low=Min("position"))["low"] or 0
    rule = (
        plan.rules.filter(territory=territory, catch_all=False, position__lt=first_other)
        .exclude(named_account_ids=[])
        .filter(
            countries=[],
            regions=[],
            postal_prefixes=[],
            industries=[],
            segments=[],
            employees_min=None,
            employees_max=None,
            revenue_min=None,
            revenue_max=None,
        )  # fmt: skip
        .order_by("position", "id")
        .first()
    )
    if rule is not None:
        return services.rule_save(
            plan=plan,
            rule=rule,
            acting_user=acting_user,
            fields={"named_account_ids": [*rule.named_account_ids, *account_ids]},
        )
    return services.rule_save(
        plan=plan,
        acting_user=acting_user,
        fields={
            "territory": territory,
            "name": f"Named accounts → {territory.name}",
            "named_account_ids": list(account_ids),
            "position": _top_position(plan, acting_user),
        },
    )


def _top_position(plan: TerritoryPlan, acting_user: User) -> int:
    """A position before every rule of ``plan`` (renumbering the rules by tens when needed)."""
    lowest = plan.rules.aggregate(low=Min("position"))["low"]
    if lowest is None:
        return 10
    if lowest >= 2:
        return lowest // 2
    ordered = plan.rules.filter(catch_all=False).order_by("position", "id")
    services.rules_reorder(
        plan=plan, rule_ids=ordered.values_list("pk", flat=True), acting_user=acting_user
    )
    return _top_position(plan, acting_user)


def _verify(scenario: TerritoryPlan) -> int:
    """Refuse (roll back) unless the scenario now places exactly the expected accounts elsewhere;
    return how many accounts it moves."""
    with connection.cursor() as cursor:
        match_accounts(scenario)
        cursor.execute(
            """
            SELECT b.account_id, a.name, wanted.key, got.key, count(*) OVER ()
            FROM ab_before b
            JOIN rule_target n ON n.account_id = b.account_id
            JOIN crm_account a ON a.id = b.account_id
            LEFT JOIN ab_expected e ON e.account_id = b.account_id
            JOIN territories_territory wanted
              ON wanted.id = coalesce(e.territory_id, b.territory_id)
            JOIN territories_territory got ON got.id = n.territory_id
            WHERE n.territory_id <> coalesce(e.territory_id, b.territory_id)
            ORDER BY a.name, b.account_id
            LIMIT 5
            """
        )
        wrong = cursor.fetchall()
        if wrong:
            examples = "; ".join(
                f"{name} in {got} instead of {want}" for _, name, want, got, _ in wrong
            )
            raise DomainError(
                f"The scenario's rules would place {wrong[0][4]} account(s) differently from the "
                f"proposal ({examples}), so nothing was changed. Another rule takes precedence "
                "over the moved regions; review the rules or balance by account."
            )
        cursor.execute(
            "SELECT count(*) FROM ab_before b JOIN rule_target n ON n.account_id = b.account_id"
            " WHERE n.territory_id <> b.territory_id"
        )
        moved = cursor.fetchone()[0]
        cursor.execute("DROP TABLE ab_before, ab_expected")
    return moved

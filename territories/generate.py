"""Generator steps: a live territory plan drawn over the generated accounts, applied, with a
draft scenario to play with (``generate_territories``); quota plans for the last, current and
next fiscal years (``generate_quotas``).

Shape (large: ~400 territories over 4 levels): region › country › area › leaf territory, plus a
named-accounts territory per region (its ten largest accounts) and an "Unassigned" catch-all.
Leaves cut each country into states or postal-code prefixes, about ``reps_per_leaf`` reps each;
the region's reps own its leaves (each leaf at least one), proportionally to accounts. The plan
is applied as a first roll-out would be: accounts and their open deals go to the territory owners.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.utils.text import slugify

from crm.generate import REGION_COUNTRIES
from salesops.bulk import triggers_disabled
from salesops.org.generate import GeneratedOrg
from salesops.org.models import Team, User
from salesops.org.roles import Role
from salesops.org.selectors import fiscal_calendar
from territories import runs
from territories.models import (
    AllocationBasis,
    AssignmentRule,
    AssignmentRun,
    MemberRole,
    PlanStatus,
    Quota,
    QuotaPlan,
    QuotaPlanStatus,
    RunStatus,
    Territory,
    TerritoryMember,
    TerritoryPlan,
    TerritoryType,
)

REPS_PER_LEAF = {"demo": 2, "large": 6}
AREAS_PER_COUNTRY = 4
NAMED_PER_REGION = 10
COUNTRY_REGION = {
    country: region for region, rows in REGION_COUNTRIES.items() for country, *_ in rows
}


@dataclass
class _Unit:
    """Accounts sharing a country and a state, a state and a postal prefix, or (countries
    without states) a postal prefix; ``parts`` are the finer units it can be split into."""

    country: str
    region: str  # the state; "" when the unit is a postal prefix
    postal: str  # the prefix; "" for a whole state
    accounts: int
    parts: list[_Unit] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.region and self.postal:
            return f"{self.region} {self.postal}…"
        return self.region or f"{self.postal}…"

    @property
    def kind(self) -> str:
        """Units of one kind can share a rule: whole states, one state's prefixes, or prefixes."""
        return (
            f"state:{self.region}"
            if self.region and self.postal
            else ("states" if self.region else "postal")
        )


@dataclass
class _Leaf:
    country: str
    units: list[_Unit] = field(default_factory=list)

    @property
    def accounts(self) -> int:
        return sum(u.accounts for u in self.units)


def generate_territories(org: GeneratedOrg) -> dict[str, int]:
    """Build the live plan, apply it (accounts and open deals to their owners), copy it."""
    ops = User.objects.filter(groups__name=Role.OPS).order_by("pk").first()
    plan = TerritoryPlan.objects.create(
        name=f"Territories from {org.as_of:%B %Y}",
        status=PlanStatus.LIVE,
        created_by=ops,
        effective_date=org.as_of,
    )
    builder = _PlanBuilder(plan, org)
    builder.build()
    run = AssignmentRun.objects.create(
        plan=plan,
        effective_date=org.as_of,
        reassign_open_deals=True,
        status=RunStatus.QUEUED,
        created_by=ops,
    )
    with triggers_disabled():  # the rows are the generator's own; KPIs are computed after
        run = runs.assignment_run_execute(run_id=run.pk)
    from territories.services import scenario_create

    scenario = scenario_create(name="Draft: next year's territories", acting_user=ops)
    rows = {
        "territories": Territory.objects.filter(plan=plan).count(),
        "territory_rules": AssignmentRule.objects.filter(plan=plan).count(),
        "territory_members": TerritoryMember.objects.filter(territory__plan=plan).count(),
        "scenario_territories": scenario.territories.count(),
        "accounts_assigned": run.accounts_total,
        "open_deals_reassigned": run.deals_reassigned,
    }
    return rows


def generate_quotas(org: GeneratedOrg) -> dict[str, int]:
    """Quota plans for last, this and next fiscal year: the first two published."""
    from territories import quotas  # imported here: quotas build on this module's plan

    acting_user = User.objects.filter(groups__name=Role.OPS).order_by("pk").first()

    this_year = fiscal_calendar().fiscal_year_of(org.as_of)
    per_rep = 1_200_000 if org.scale.name == "large" else 1_500_000
    reps = len(org.rep_user_ids)
    weights = ["7", "7", "9", "7", "7", "9", "7", "7", "9", "8", "8", "15"]
    for offset, growth in ((-1, "1.00"), (0, "1.15"), (1, "1.30")):
        plan = quotas.quota_plan_create(
            fiscal_year=this_year + offset,
            target=Decimal(per_rep * reps) * Decimal(growth),
            currency="USD",
            basis=AllocationBasis.EQUAL if offset < 0 else AllocationBasis.HISTORY,
            month_weights=[Decimal(w) for w in weights],
            acting_user=acting_user,
        )
        quotas.quota_plan_allocate(plan=plan, acting_user=acting_user, as_of=org.as_of)
        if offset <= 0:  # last year's and this year's are in force; next year's is a draft
            QuotaPlan.objects.filter(pk=plan.pk).update(status=QuotaPlanStatus.PUBLISHED)
    return {"quotas": Quota.objects.count()}


class _PlanBuilder:
    def __init__(self, plan: TerritoryPlan, org: GeneratedOrg):
        self.plan = plan
        self.org = org
        self.reps_per_leaf = REPS_PER_LEAF.get(org.scale.name, 4)
        self.territories: list[Territory] = []
        self.rules: list[AssignmentRule] = []
        self.members: list[TerritoryMember] = []
        self.keys: set[str] = set()

    def build(self) -> None:
        units = self._units()
        reps_by_region = self._reps_by_region()
        unassigned = self._territory("Unassigned", None, TerritoryType.GEOGRAPHY)
        position = 10
        for region in REGION_COUNTRIES:
            countries = {c: u for c, u in units.items() if COUNTRY_REGION.get(c) == region}
            reps = reps_by_region.get(region, [])
            if not countries or not reps:
                continue
            region_node = self._territory(region, None, TerritoryType.GEOGRAPHY)
            region_node.manager_id = self._top_manager(region)
            strategic = self._territory(f"{region} Strategic", region_node, TerritoryType.NAMED)
            named = self._largest_accounts(list(countries))
            self.rules.append(
                AssignmentRule(
                    plan=self.plan,
                    territory=strategic,
                    position=position,
                    name=f"{region}: {len(named)} strategic accounts",
                    named_account_ids=named,
                )  # fmt: skip
            )
            position += 10
            leaves = self._leaves(countries, len(reps))
            self._members(strategic, reps[:1])
            owners = _share(reps, [leaf.accounts for leaf in leaves])
            by_country: dict[str, list[tuple[_Leaf, list[int]]]] = defaultdict(list)
            for leaf, leaf_reps in zip(leaves, owners, strict=True):
                by_country[leaf.country].append((leaf, leaf_reps))
            for country, pairs in by_country.items():
                country_node = self._territory(country, region_node, TerritoryType.GEOGRAPHY)
                areas = _chunks(pairs, AREAS_PER_COUNTRY)
                for index, area_pairs in enumerate(areas, start=1):
                    area_node = self._territory(
                        f"{country} Area {index}", country_node, TerritoryType.GEOGRAPHY
                    )
                    for leaf, leaf_reps in area_pairs:
                        first, last = leaf.units[0].label, leaf.units[-1].label
                        name = (
                            f"{country} {first}" if first == last else f"{country} {first}–{last}"
                        )
                        node = self._territory(name, area_node, TerritoryType.GEOGRAPHY)
                        self._members(node, leaf_reps)
                        self.rules.append(self._leaf_rule(node, leaf, position))
                        position += 10
        self.rules.append(
            AssignmentRule(
                plan=self.plan,
                territory=unassigned,
                position=position + 10,
                name="Everything else",
                catch_all=True,
            )  # fmt: skip
        )
        AssignmentRule.objects.bulk_create(self.rules)
        TerritoryMember.objects.bulk_create(self.members)
        Territory.objects.bulk_update(
            [t for t in self.territories if t.manager_id], ["manager"], batch_size=500
        )

    # --- the accounts and people --------------------------------------------------------
    def _units(self) -> dict[str, list[_Unit]]:
        """Per country: its states (split by first postal character), or, where there are no
        states, its first postal characters (split by the first two)."""
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT country, region, upper(left(replace(postal_code, ' ', ''), 1)) AS p1,
                       upper(left(replace(postal_code, ' ', ''), 2)) AS p2, count(*)
                FROM crm_account WHERE country <> '' GROUP BY 1, 2, 3, 4
                """
            )
            rows = cursor.fetchall()
        parts: dict[str, dict[tuple[str, str], dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int))
        )
        for country, region, p1, p2, count in rows:
            if region:
                parts[country][(region, "")][p1] += count
            else:
                parts[country][("", p1)][p2] += count
        units: dict[str, list[_Unit]] = {}
        for country, found in parts.items():
            units[country] = []
            for (region, postal), finer in sorted(found.items()):
                sub = [
                    _Unit(country, region, prefix, n)
                    for prefix, n in sorted(finer.items())
                    if prefix
                ]
                unit = _Unit(country, region, postal, sum(finer.values()), sub)
                units[country].append(unit)
        return units

    def _reps_by_region(self) -> dict[str, list[int]]:
        top = {team.pk: team for team in Team.objects.all()}

        def region_of(team_id: int) -> str:
            while top[team_id].parent_id is not None:
                team_id = top[team_id].parent_id
            return top[team_id].name

        reps: dict[str, list[int]] = defaultdict(list)
        for user_id, team_id in zip(self.org.rep_user_ids, self.org.rep_team_ids, strict=True):
            region = region_of(team_id)
            reps[region if region in REGION_COUNTRIES else "Americas"].append(user_id)
        return reps

    def _top_manager(self, region: str) -> int | None:
        team = Team.objects.filter(parent=None, name=region).first()
        return team.manager_id if team else None

    def _largest_accounts(self, countries: list[str]) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM crm_account WHERE country = ANY(%s)"
                " ORDER BY annual_revenue DESC NULLS LAST, id LIMIT %s",
                [countries, NAMED_PER_REGION],
            )
            return sorted(row[0] for row in cursor.fetchall())

    # --- the tree ---------------------------------------------------------------------------
    def _leaves(self, countries: dict[str, list[_Unit]], rep_count: int) -> list[_Leaf]:
        """Cut each country into about ``accounts share × reps ÷ reps_per_leaf`` leaves,
        splitting its biggest units while it has fewer units than leaves."""
        total = sum(u.accounts for units in countries.values() for u in units)
        leaves: list[_Leaf] = []
        for country, units in sorted(countries.items()):
            share = sum(u.accounts for u in units) / total
            wanted = max(1, round(share * rep_count / self.reps_per_leaf))
            units = list(units)
            while len(units) < wanted:
                biggest = max((u for u in units if len(u.parts) > 1), key=lambda u: u.accounts,
                              default=None)  # fmt: skip
                if biggest is None:
                    break
                at = units.index(biggest)
                units[at : at + 1] = biggest.parts
            leaves += _group(country, units, wanted)
        return leaves

    def _territory(self, name: str, parent: Territory | None, kind: str) -> Territory:
        key = base = slugify(name.replace("–", " to "))[:50] or "territory"
        n = 1
        while key in self.keys:
            n += 1
            key = f"{base}-{n}"
        self.keys.add(key)
        node = Territory.objects.create(
            plan=self.plan, parent=parent, key=key, name=name[:120], type=kind
        )
        self.territories.append(node)
        return node

    def _members(self, territory: Territory, reps: list[int]) -> None:
        self.members += [
            TerritoryMember(territory=territory, user_id=rep, role=MemberRole.OWNER) for rep in reps
        ]

    def _leaf_rule(self, node: Territory, leaf: _Leaf, position: int) -> AssignmentRule:
        kind = leaf.units[0].kind
        if kind == "states":
            regions, postals = [u.region for u in leaf.units], []
        elif kind == "postal":
            regions, postals = [], [u.postal for u in leaf.units]
        else:  # one state's postal prefixes
            regions, postals = [leaf.units[0].region], [u.postal for u in leaf.units]
        return AssignmentRule(
            plan=self.plan, territory=node, position=position, name=node.name,
            countries=[leaf.country], regions=regions, postal_prefixes=postals,
        )  # fmt: skip


def _group(country: str, units: list[_Unit], wanted: int) -> list[_Leaf]:
    """Consecutive units (by name) in ``wanted`` groups of about equal accounts: a group ends
    where the running total passes its share of the country."""
    if wanted >= len(units):
        return [_Leaf(country, [u]) for u in units]
    share = sum(u.accounts for u in units) / wanted
    leaves, current, running = [], _Leaf(country), 0
    for index, unit in enumerate(units):
        if current.units and current.units[-1].kind != unit.kind:
            leaves.append(current)  # a rule cannot mix kinds of unit
            current = _Leaf(country)
        current.units.append(unit)
        running += unit.accounts
        left_units, left_leaves = len(units) - index - 1, wanted - len(leaves) - 1
        full = running >= share * (len(leaves) + 1) - unit.accounts / 2
        if left_leaves > 0 and (full or left_units == left_leaves):
            leaves.append(current)
            current = _Leaf(country)
    if current.units:
        leaves.append(current)
    return leaves


def _share(reps: list[int], loads: list[int]) -> list[list[int]]:
    """Give every leaf one rep (reps reused when there are fewer), the rest by load."""
    result: list[list[int]] = [[reps[i % len(reps)]] for i in range(len(loads))]
    spare = reps[len(loads) :]
    order = sorted(range(len(loads)), key=lambda i: -loads[i])
    for n, rep in enumerate(spare):
        result[order[n % len(order)]].append(rep)
    return result


def _chunks(items: list, count: int) -> list[list]:
    size = -(-len(items) // count)
    return [items[i : i + size] for i in range(0, len(items), size)]

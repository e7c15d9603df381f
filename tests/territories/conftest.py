"""A small live territory plan with accounts and deals, built through the services.

``live_plan`` (below) is the shared fixture of the territories tests. Its shape, top down:

    Americas (americas)
    ├── US West (us-west)            overlay: se_west
    │   ├── California (california)  CA                    owner: rep_ca
    │   ├── Mountain (mountain)      CO, UT, AZ            owner: rep_mountain
    │   └── Pacific NW (pacific)     WA, OR                owner: rep_west
    ├── US East (us-east)
    │   ├── Northeast (northeast)    NY, MA, NJ + Stark    owners: rep_east, rep_east_2
    │   └── Southeast (southeast)    FL, GA, NC            owner: rep_southeast
    ├── Canada (canada)              country CA            owner: rep_canada, overlay: se_west
    └── LATAM & rest (latam)         the catch-all         no members

Rules, in order: the named account Stark Industries (a Californian company) → Northeast; one
rule per leaf listing its US states; Canada by country; the catch-all → LATAM. The 40 accounts
of ``ACCOUNTS`` are applied with an assignment run, so ``Account.territory_id`` and owners are
set as in production; ``DEALS`` then adds open, won and lost deals. Rates: CAD 0.75 from 2000,
0.80 from ten days before today; MXN has no rate (its amounts count as ``unconverted``).
Every date is relative to ``today`` (the day the fixture runs).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Account, Deal
from crm.services import account_save, deal_create
from salesops.org.models import User
from salesops.org.services import exchange_rate_set
from territories import runs, services
from territories.models import AssignmentRule, MemberRole, Territory, TerritoryPlan
from tests import factories
from tests.conftest import Org
from tests.crm.conftest import pipeline  # noqa: F401  (the New Business pipeline fixture)

D = Decimal

# key: (name, parent key, US states of its rule)
TERRITORIES: dict[str, tuple[str, str | None, list[str]]] = {
    "americas": ("Americas", None, []),
    "us-west": ("US West", "americas", []),
    "california": ("California", "us-west", ["CA"]),
    "mountain": ("Mountain", "us-west", ["CO", "UT", "AZ"]),
    "pacific": ("Pacific NW", "us-west", ["WA", "OR"]),
    "us-east": ("US East", "americas", []),
    "northeast": ("Northeast", "us-east", ["NY", "MA", "NJ"]),
    "southeast": ("Southeast", "us-east", ["FL", "GA", "NC"]),
    "canada": ("Canada", "americas", []),
    "latam": ("LATAM & rest", "americas", []),
}

# name: (country, region, employees, annual revenue, revenue currency, live territory key)
ACCOUNTS: dict[str, tuple[str, str, int | None, Decimal | None, str, str]] = {
    "Evergreen Timber": ("US", "WA", 120, D(4_000_000), "USD", "pacific"),
    "Rainier Outfitters": ("US", "WA", 40, D(1_500_000), "USD", "pacific"),
    "Seattle Sensors": ("US", "WA", 75, D(2_000_000), "USD", "pacific"),
    "Cascade Coffee": ("US", "OR", 25, D(800_000), "USD", "pacific"),
    "Portland Bikes": ("US", "OR", 60, D(1_200_000), "USD", "pacific"),
    "Golden Gate Labs": ("US", "CA", 900, D(30_000_000), "USD", "california"),
    "Pacific Robotics": ("US", "CA", 1500, D(60_000_000), "USD", "california"),
    "Sunset Media": ("US", "CA", 80, D(5_000_000), "USD", "california"),
    "Mission Analytics": ("US", "CA", 300, D(12_000_000), "USD", "california"),
    "Silicon Foods": ("US", "CA", 50, D(2_000_000), "USD", "california"),
    "Bayside Health": ("US", "CA", 2000, D(90_000_000), "USD", "california"),
    "San Diego Surf": ("US", "CA", 45, D(3_000_000), "USD", "california"),
    "Stark Industries": ("US", "CA", 5000, D(200_000_000), "USD", "northeast"),  # named
    "Rocky Mountain Ski": ("US", "CO", 70, D(3_000_000), "USD", "mountain"),
    "Denver Data": ("US", "CO", 200, D(8_000_000), "USD", "mountain"),
    "Wasatch Software": ("US", "UT", 150, D(6_000_000), "USD", "mountain"),
    "Saguaro Solar": ("US", "AZ", 90, D(4_000_000), "USD", "mountain"),
    "Empire Finance": ("US", "NY", 3000, D(150_000_000), "USD", "northeast"),
    "Hudson Legal": ("US", "NY", 120, D(10_000_000), "USD", "northeast"),
    "Brooklyn Brewing": ("US", "NY", 30, D(1_000_000), "USD", "northeast"),
    "Liberty Insurance": ("US", "NY", 800, D(40_000_000), "USD", "northeast"),
    "Boston Biotech": ("US", "MA", 400, D(25_000_000), "USD", "northeast"),
    "Cambridge AI": ("US", "MA", 60, D(3_000_000), "USD", "northeast"),
    "Garden State Pharma": ("US", "NJ", 1200, D(70_000_000), "USD", "northeast"),
    "Jersey Logistics": ("US", "NJ", 250, D(9_000_000), "USD", "northeast"),
    "Miami Cruises": ("US", "FL", 500, D(20_000_000), "USD", "southeast"),
    "Orlando Parks": ("US", "FL", 100, D(5_000_000), "USD", "southeast"),
    "Atlanta Airways": ("US", "GA", 2500, D(100_000_000), "USD", "southeast"),
    "Peach Tech": ("US", "GA", 40, D(1_000_000), "USD", "southeast"),
    "Raleigh Research": ("US", "NC", 350, D(15_000_000), "USD", "southeast"),
    "Charlotte Bank": ("US", "NC", 1800, D(80_000_000), "USD", "southeast"),
    "Maple Software": ("CA", "ON", 200, D(10_000_000), "CAD", "canada"),
    "Toronto Telecom": ("CA", "ON", 1500, D(40_000_000), "CAD", "canada"),
    "Ottawa Civic Tech": ("CA", "ON", 50, D(2_000_000), "CAD", "canada"),
    "Montreal Games": ("CA", "QC", 300, D(8_000_000), "CAD", "canada"),
    "Vancouver Cloud": ("CA", "BC", 100, D(4_000_000), "CAD", "canada"),
    "Monterrey Steel": ("MX", "NL", 1000, D(50_000_000), "USD", "latam"),
    "Cancun Resorts": ("MX", "ROO", 200, D(10_000_000), "MXN", "latam"),  # no MXN rate
    "Lima Mining": ("PE", "LIM", 400, D(12_000_000), "USD", "latam"),
    "Nowhere Ltd": ("", "", None, None, "USD", "latam"),
}

NAMED_ACCOUNTS = {"Stark Industries": "northeast"}

# label: (account, stage, amount, currency, close date in days from today or None)
# Stages (tests/crm/conftest.py): Prospecting 10 %, Discovery 20 %, Proposal 50 %,
# Negotiation 80 %, Closed Won, Closed Lost. Open deals at 50 % or more are "late stage".
DEALS: dict[str, tuple[str, str, Decimal, str, int | None]] = {
    "gg-negotiation": ("Golden Gate Labs", "Negotiation", D(100_000), "USD", 30),  # late
    "pr-discovery": ("Pacific Robotics", "Discovery", D(200_000), "USD", 60),
    "bayside-proposal": ("Bayside Health", "Proposal", D(80_000), "USD", 20),  # late (50 %)
    "mission-prospecting": ("Mission Analytics", "Prospecting", D(25_000), "USD", None),
    "denver-prospecting": ("Denver Data", "Prospecting", D(30_000), "USD", None),
    "empire-negotiation": ("Empire Finance", "Negotiation", D(300_000), "USD", 10),  # late
    "boston-discovery": ("Boston Biotech", "Discovery", D(120_000), "USD", 45),
    "charlotte-proposal": ("Charlotte Bank", "Proposal", D(90_000), "USD", 15),  # late
    "toronto-discovery": ("Toronto Telecom", "Discovery", D(100_000), "CAD", 30),  # at 0.80
    "monterrey-discovery": ("Monterrey Steel", "Discovery", D(60_000), "USD", 90),
    "cancun-discovery": ("Cancun Resorts", "Discovery", D(20_000), "MXN", 30),  # no rate
    "stark-negotiation": ("Stark Industries", "Negotiation", D(400_000), "USD", 5),  # late
    "pr-won": ("Pacific Robotics", "Closed Won", D(150_000), "USD", -100),
    "evergreen-won": ("Evergreen Timber", "Closed Won", D(50_000), "USD", -200),
    "evergreen-old": ("Evergreen Timber", "Closed Won", D(70_000), "USD", -400),  # > 12 months
    "empire-won": ("Empire Finance", "Closed Won", D(500_000), "USD", -30),
    "atlanta-won": ("Atlanta Airways", "Closed Won", D(250_000), "USD", -300),
    "maple-won": ("Maple Software", "Closed Won", D(40_000), "CAD", -60),  # at 0.75
    "wasatch-won": ("Wasatch Software", "Closed Won", D(45_000), "USD", -360),
    "sunset-lost": ("Sunset Media", "Closed Lost", D(40_000), "USD", -50),
}

# Accounts with an open deal at 50 % or more: they stay when auto-balancing.
LATE_STAGE_ACCOUNTS = {
    "Golden Gate Labs", "Bayside Health", "Empire Finance", "Charlotte Bank", "Stark Industries",
}  # fmt: skip


@dataclass
class LivePlan:
    """The live plan of this module's docstring, and handles on everything in it."""

    plan: TerritoryPlan
    territories: dict[str, Territory]  # by key
    rules: dict[str, AssignmentRule]  # by territory key, plus "named" and "catch_all"
    accounts: dict[str, Account]  # by name
    deals: dict[str, Deal]  # by label of DEALS
    reps: dict[str, User]  # rep_ca, rep_mountain, rep_west, rep_east, rep_east_2, …
    ops: User
    today: dt.date

    def ids(self, *names: str) -> set[int]:
        """The ids of the accounts named."""
        return {self.accounts[name].pk for name in names}

    def names_in(self, key: str) -> set[str]:
        """Accounts the live rules put in territory ``key`` (from ``ACCOUNTS``)."""
        return {name for name, row in ACCOUNTS.items() if row[5] == key}


def _reps(org: Org) -> dict[str, User]:
    return {
        "rep_west": org.rep_west,
        "rep_ca": factories.rep(org.west, username="rep_ca"),
        "rep_mountain": factories.rep(org.west, username="rep_mountain"),
        "se_west": factories.rep(org.west, username="se_west"),
        "rep_east": org.rep_east,
        "rep_east_2": org.rep_east_2,
        "rep_southeast": factories.rep(org.east, username="rep_southeast"),
        "rep_canada": factories.rep(org.east, username="rep_canada"),
    }


MEMBERS = [
    ("pacific", "rep_west", MemberRole.OWNER),
    ("california", "rep_ca", MemberRole.OWNER),
    ("mountain", "rep_mountain", MemberRole.OWNER),
    ("us-west", "se_west", MemberRole.OVERLAY),
    ("northeast", "rep_east", MemberRole.OWNER),
    ("northeast", "rep_east_2", MemberRole.OWNER),
    ("southeast", "rep_southeast", MemberRole.OWNER),
    ("canada", "rep_canada", MemberRole.OWNER),
    ("canada", "se_west", MemberRole.OVERLAY),
]


@pytest.fixture
def live_plan(org, pipeline) -> LivePlan:  # noqa: F811  (pipeline is the fixture imported above)
    """The live plan of the module docstring, applied, with its deals."""
    ops = org.ops
    today = timezone.localdate()
    reps = _reps(org)
    exchange_rate_set(currency="CAD", valid_from=dt.date(2000, 1, 1), rate=D("0.75"))
    exchange_rate_set(currency="CAD", valid_from=today - dt.timedelta(days=10), rate=D("0.80"))

    plan = services.plan_create_live(name="FY plan", acting_user=ops)
    territories: dict[str, Territory] = {}
    for key, (name, parent, _states) in TERRITORIES.items():
        territories[key] = services.territory_save(
            plan=plan, acting_user=ops, key=key, name=name, parent=territories.get(parent)
        )
    for key, username, role in MEMBERS:
        services.member_set(
            territory=territories[key], user=reps[username], role=role, acting_user=ops
        )

    accounts = {
        name: account_save(
            acting_user=ops,
            name=name,
            country=country,
            region=region,
            employees=employees,
            annual_revenue=revenue,
            revenue_currency=currency,
        )  # fmt: skip
        for name, (country, region, employees, revenue, currency, _key) in ACCOUNTS.items()
    }

    def rule(**fields) -> AssignmentRule:
        return services.rule_save(plan=plan, acting_user=ops, fields=fields)

    rules = {
        "named": rule(
            territory=territories["northeast"],
            name="Strategic accounts",
            named_account_ids=[accounts[name].pk for name in NAMED_ACCOUNTS],
        )
    }
    for key, (_name, _parent, states) in TERRITORIES.items():
        if states:
            rules[key] = rule(territory=territories[key], countries=["US"], regions=states)
    rules["canada"] = rule(territory=territories["canada"], countries=["CA"])
    rules["catch_all"] = rule(territory=territories["latam"], catch_all=True)

    run = runs.assignment_run_create(
        plan=plan, effective_date=today, reassign_open_deals=False, acting_user=ops, today=today
    )
    runs.assignment_run_execute(run_id=run.pk)
    for account in accounts.values():
        account.refresh_from_db()

    stages = {stage.name: stage for stage in pipeline.stages.all()}
    deals = {}
    for label, (name, stage, amount, currency, days) in DEALS.items():
        account = accounts[name]
        deals[label] = deal_create(
            acting_user=ops, account=account, name=label, owner=account.owner,
            pipeline=pipeline, stage=stages[stage], amount=amount, currency=currency,
            close_date=None if days is None else today + dt.timedelta(days=days),
            next_step="Call back", lost_reason="Budget" if stage == "Closed Lost" else "",
        )  # fmt: skip
    return LivePlan(
        plan=plan,
        territories=territories,
        rules=rules,
        accounts=accounts,
        deals=deals,
        reps=reps,
        ops=ops,
        today=today,
    )


@pytest.fixture
def scenario(live_plan) -> TerritoryPlan:
    """A draft scenario copied from the live plan (nothing changed yet)."""
    return services.scenario_create(name="What if", acting_user=live_plan.ops)

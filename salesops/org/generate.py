"""Deterministic generator of a sales organisation, bulk-loaded with COPY.

The same ``seed`` and ``as_of`` date give the same rows, ids included, on any machine. Each
later app adds its own step (accounts, deals and stage history, territories, quotas, plans) that
takes the ``GeneratedOrg`` this step returns; the target for the large scale is 200k accounts,
1M deals, ~5M stage-history rows over 3 fiscal years, so every step writes with COPY and builds
its rows in plain Python lists, never through per-row ``save()``.

Later steps are listed in ``settings.SALESOPS_GENERATOR_STEPS`` (the kernel cannot import the
apps that build on it); each takes the ``GeneratedOrg`` and returns its row counts.

Every scale has the five demo logins (``rep``, ``manager``, ``ops``, ``finance``, ``admin``, all
with password ``DEMO_PASSWORD``): ``manager`` runs the first front-line team and ``rep`` sells in it.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

import pghistory
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from faker import Faker

from salesops.bulk import copy_rows, reset_sequences
from salesops.errors import DomainError
from salesops.org.models import OrgSettings, RepProfile, SalesRole
from salesops.org.roles import Role

DEMO_PASSWORD = "salesops-demo"
DEMO_LOGINS = {
    Role.REP: "rep",
    Role.MANAGER: "manager",
    Role.OPS: "ops",
    Role.FINANCE: "finance",
    Role.ADMIN: "admin",
}

REGION_NAMES = ["Americas", "EMEA", "APAC", "LATAM", "North America", "Europe", "Japan", "ANZ"]
REGION_CODES = {"Americas": "AMER", "North America": "NA", "Europe": "EUR", "Japan": "JP"}
REGION_LOCALES = {"Americas": "en_US", "EMEA": "en_GB", "APAC": "en_AU", "LATAM": "es_MX"}
AREA_NAMES = ["North", "South", "East", "West", "Central", "Enterprise", "Mid-Market", "Commercial"]
SALES_ROLE_MIX = [(SalesRole.AE, 0.55), (SalesRole.SDR, 0.25), (SalesRole.AM, 0.20)]
CURRENCY_RATES = {"EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "CAD": Decimal("0.74")}

_ORG_TABLES = [
    "org_user",
    "org_user_groups",
    "org_team",
    "org_repprofile",
    "org_exchangerate",
    "authtoken_token",
]


@dataclass(frozen=True)
class Scale:
    """How big an organisation to build. ``teams_per_level``: teams at each depth, top first."""

    name: str
    teams_per_level: tuple[int, ...]
    reps: int
    accounts: int
    deals: int
    years: int = 3
    company: str = "Acme Robotics"
    fiscal_year_start_month: int = 2


SCALES = {
    # Per rep, both scales have ~100 accounts and ~500 deals over three years (~20 open now).
    "demo": Scale("demo", teams_per_level=(2, 6), reps=40, accounts=4_000, deals=20_000),
    # 4 regions › 16 areas › 180 front-line teams = 200 teams and 3 levels of managers.
    "large": Scale(
        "large", teams_per_level=(4, 16, 180), reps=2000, accounts=200_000, deals=1_000_000
    ),
}


@dataclass
class GeneratedOrg:
    """What the org step made, for later steps and for reporting."""

    scale: Scale
    seed: int
    as_of: dt.date
    team_ids_by_level: list[list[int]] = field(default_factory=list)
    rep_user_ids: list[int] = field(default_factory=list)
    rep_team_ids: list[int] = field(default_factory=list)
    manager_user_ids: list[int] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def org_is_empty() -> bool:
    return not RepProfile.objects.exists()


def wipe_org() -> None:
    """Remove every generated org row (users, teams, reps, rates, tokens)."""
    with connection.cursor() as cursor:
        # Deferred foreign-key checks queued earlier in this transaction would block TRUNCATE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(_ORG_TABLES)} RESTART IDENTITY CASCADE")


def generate_org(
    *,
    scale: Scale,
    seed: int = 1,
    as_of: dt.date | None = None,
    replace: bool = False,
    steps: list[str] | None = None,
) -> GeneratedOrg:
    """Build the organisation of ``scale`` in one transaction, then run the later ``steps``

    (default: ``settings.SALESOPS_GENERATOR_STEPS``; ``[]`` builds the org alone).
    """
    as_of = as_of or timezone.localdate()
    started = time.perf_counter()
    reason = f"generate_org {scale.name} seed={seed}"
    with transaction.atomic(), pghistory.context(reason=reason):
        if not org_is_empty():
            if not replace:
                raise DomainError(
                    f"The organisation already has {RepProfile.objects.count()} reps; "
                    "pass --replace to wipe it and generate again."
                )
            wipe_org()
        # Written here rather than through org_settings_update: the first write of a pghistory
        # context fixes its metadata, and these rows belong to the generator's context.
        OrgSettings.objects.update_or_create(
            pk=1,
            defaults={
                "company_name": scale.company,
                "corporate_currency": "USD",
                "fiscal_year_start_month": scale.fiscal_year_start_month,
            },
        )
        result = _Builder(scale=scale, seed=seed, as_of=as_of).build()
        for step in settings.SALESOPS_GENERATOR_STEPS if steps is None else steps:
            result.rows.update(import_string(step)(result))
    result.seconds = time.perf_counter() - started
    return result


class _Builder:
    def __init__(self, *, scale: Scale, seed: int, as_of: dt.date):
        self.scale = scale
        self.seed = seed
        self.as_of = as_of
        self.rng = random.Random(seed)
        self.faker = Faker("en_US")
        self.faker.seed_instance(seed)
        self.result = GeneratedOrg(scale=scale, seed=seed, as_of=as_of)
        self.usernames: set[str] = set()
        self.users: list[tuple] = []
        self.user_roles: list[tuple[int, str]] = []
        self.joined = timezone.make_aware(dt.datetime.combine(as_of, dt.time(9, 0)))
        self.demo_hash = make_password(DEMO_PASSWORD, salt=f"demo{seed}")
        self.locked_hash = make_password(None)

    def build(self) -> GeneratedOrg:
        teams = self._teams()
        reps = self._reps(teams)
        self._staff()
        groups = dict(Group.objects.values_list("name", "pk"))
        rows = self.result.rows
        rows["users"] = copy_rows(
            "org_user",
            [
                "id",
                "password",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
            ],
            self.users,
        )
        rows["user_groups"] = copy_rows(
            "org_user_groups",
            ["id", "user_id", "group_id"],
            [(i + 1, uid, groups[role]) for i, (uid, role) in enumerate(self.user_roles)],
        )
        rows["teams"] = copy_rows(
            "org_team",
            ["id", "name", "parent_id", "manager_id", "cost_centre"],
            [(*team, cost_centre(team[0], _region_of(team, teams))) for team in teams],
        )
        rows["rep_profiles"] = copy_rows(
            "org_repprofile",
            [
                "id",
                "user_id",
                "team_id",
                "sales_role",
                "employee_id",
                "hire_date",
                "ramp_months",
                "active",
            ],
            reps,
        )
        rows["exchange_rates"] = copy_rows(
            "org_exchangerate", ["id", "currency", "valid_from", "rate"], self._rates()
        )
        reset_sequences(
            "org_user", "org_user_groups", "org_team", "org_repprofile", "org_exchangerate"
        )
        return self.result

    # --- people ---------------------------------------------------------------------------
    def _add_user(self, role: Role, *, username: str | None = None, staff: bool = False) -> int:
        first, last = self.faker.first_name(), self.faker.last_name()
        if username is None:
            base = _ascii(f"{first}.{last}").lower().replace(" ", "").replace("'", "")
            username, n = base, 1
            while username in self.usernames:
                n += 1
                username = f"{base}{n}"
        self.usernames.add(username)
        user_id = len(self.users) + 1
        demo_login = username in DEMO_LOGINS.values()
        usable = demo_login or self.scale.name == "demo"
        self.users.append(
            (
                user_id,
                self.demo_hash if usable else self.locked_hash,
                role == Role.ADMIN,
                username,
                first,
                last,
                f"{username}@{_ascii(self.scale.company).lower().replace(' ', '')}.example",
                staff or role == Role.ADMIN,
                True,
                self.joined,
            )
        )
        self.user_roles.append((user_id, role.value))
        return user_id

    def _teams(self) -> list[tuple]:
        teams: list[tuple] = []
        parents: list[int | None] = [None]
        levels = self.scale.teams_per_level
        for depth, count in enumerate(levels):
            level_ids = []
            blocks = _spread(count, len(parents))
            taken: dict[int | None, set[str]] = {}
            for parent, block in zip(parents, blocks, strict=True):
                for i in range(block):
                    team_id = len(teams) + 1
                    name = self._team_name(depth, i, parent, teams, taken.setdefault(parent, set()))
                    is_demo_team = depth == len(levels) - 1 and not level_ids
                    manager = self._add_user(
                        Role.MANAGER, username=DEMO_LOGINS[Role.MANAGER] if is_demo_team else None
                    )
                    self.result.manager_user_ids.append(manager)
                    teams.append((team_id, name, parent, manager))
                    level_ids.append(team_id)
            self.result.team_ids_by_level.append(level_ids)
            parents = level_ids
        return teams

    def _team_name(self, depth: int, index: int, parent, teams, taken: set[str]) -> str:
        if depth == 0:
            name = REGION_NAMES[index % len(REGION_NAMES)]
        elif depth < len(self.scale.teams_per_level) - 1:
            parent_name = teams[parent - 1][1]
            name = f"{parent_name} {AREA_NAMES[index % len(AREA_NAMES)]}"
        else:
            name = f"{self.faker.city()} {self.rng.choice(['Hunters', 'Closers', 'Pioneers', 'Falcons', 'Rangers', 'Summit', 'Harbor', 'Ridge'])}"
        base, n = name, 1
        while name in taken:
            n += 1
            name = f"{base} {n}"
        taken.add(name)
        return name

    def _reps(self, teams: list[tuple]) -> list[tuple]:
        leaf_ids = self.result.team_ids_by_level[-1]
        rows = []
        roles, weights = zip(*SALES_ROLE_MIX, strict=True)
        for team_id, block in zip(leaf_ids, _spread(self.scale.reps, len(leaf_ids)), strict=True):
            for _ in range(block):
                first_rep = not rows
                user_id = self._add_user(
                    Role.REP, username=DEMO_LOGINS[Role.REP] if first_rep else None
                )
                self.result.rep_user_ids.append(user_id)
                self.result.rep_team_ids.append(team_id)
                sales_role = SalesRole.AE if first_rep else self.rng.choices(roles, weights)[0]
                tenure_days = self.rng.randint(20, 6 * 365)
                hire_date = self.as_of - dt.timedelta(days=tenure_days)
                ramp = {SalesRole.SDR: 2, SalesRole.AE: 4, SalesRole.AM: 3}[sales_role]
                rows.append(
                    (
                        len(rows) + 1,
                        user_id,
                        team_id,
                        sales_role.value,
                        f"E{user_id:06d}",
                        hire_date,
                        ramp,
                        self.rng.random() > 0.02 or first_rep,
                    )
                )
        return rows

    def _staff(self) -> None:
        for role in (Role.OPS, Role.FINANCE, Role.ADMIN):
            self._add_user(role, username=DEMO_LOGINS[role], staff=role == Role.ADMIN)
        extra = max(0, self.scale.reps // 100)
        for i in range(extra):
            self._add_user(Role.OPS if i % 2 == 0 else Role.FINANCE)

    def _rates(self) -> list[tuple]:
        """Month-start rates for three years up to ``as_of``, a small random walk per currency."""
        rows = []
        first = dt.date(self.as_of.year - 3, self.as_of.month, 1)
        for currency, start_rate in CURRENCY_RATES.items():
            rate = start_rate
            day = first
            while day <= self.as_of:
                rows.append((len(rows) + 1, currency, day, rate))
                drift = Decimal(self.rng.randint(-150, 150)) / Decimal(10000)
                rate = (rate * (1 + drift)).quantize(Decimal("0.00000001"))
                day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return rows


def cost_centre(team_id: int, region: str) -> str:
    """The finance cost centre of a generated team (``SLS-AMER-0012``), from its id and region.

    Derived, not drawn: no random number is taken, so adding cost centres changed no other
    generated row, and an org generated before them gets the same codes (``bench.compensation``).
    """
    code = REGION_CODES.get(region) or "".join(ch for ch in region.upper() if ch.isalpha())[:5]
    return f"SLS-{code or 'HQ'}-{team_id:04d}"


def _region_of(team: tuple, teams: list[tuple]) -> str:
    """The name of the top-level team above ``team`` (rows are ``(id, name, parent_id, …)``)."""
    while team[2] is not None:
        team = teams[team[2] - 1]
    return team[1]


def _spread(total: int, buckets: int) -> list[int]:
    """``total`` split into ``buckets`` near-equal whole parts (larger parts first)."""
    base, extra = divmod(total, buckets)
    return [base + (1 if i < extra else 0) for i in range(buckets)]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()

"""Generator step: pipelines, accounts, contacts, deals with their stage history, activities.

Deals are simulated through their pipeline over ``scale.years`` years before ``as_of``: each
stage has a pass rate and a mean dwell time, close dates slip when a deal runs past them, and
the history rows are the moves the simulation made, so cycle length, win rate, conversion and
slippage computed later from history come out realistic. Same seed, same rows.

Besides the moves, a deal's history has what happens while it sits in a stage: its close date
slips (again, if it runs past the new one), its amount is re-scoped, its rep overrides the
forecast category. Every scale gets ~5 history rows per deal (~5M for the large 1M deals).

Each deal also gets its commercial terms (product family, units, gross margin, contract term,
invoice date) and a few won deals revenue splits or an overlay (``DealTerms``), drawn from a
random stream of their own: the deals and history above come out as they did before those
fields existed, and ``fill_deal_terms`` gives an org generated before them the same values.

Rows are written with COPY. The audit triggers are switched off for these bulk tables while
they load (when the database role may do so): a generated history is not a person's edit. The
tables' secondary indexes are dropped for the load and built again after it (one sort each
instead of millions of single inserts), all in the generator's transaction. Faker draws names
without its frequency weights: real names either way, and en_US is ~10x faster so.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate

from django.db import connection
from faker import Faker

from crm.models import (
    SEGMENT_ENTERPRISE_FROM,
    DealType,
    ForecastCategory,
    Pipeline,
    SplitKind,
    Stage,
)
from salesops.bulk import copy_rows, reset_sequences, triggers_disabled
from salesops.org.generate import GeneratedOrg
from salesops.org.models import RepProfile, Team

RF = ["amount", "close_date"]
RFN = ["amount", "close_date", "next_step"]


@dataclass(frozen=True)
class StageSpec:
    name: str
    probability: int
    category: str
    required: list[str]
    won: bool = False
    lost: bool = False
    pass_rate: float = 0.0  # chance of moving on from this (open) stage rather than being lost
    mean_days: float = 0.0  # mean dwell in this (open) stage
    rot_days: int | None = None
    # While a deal sits in this (open) stage: the chance its amount is re-scoped (sizing, a
    # quote, a discount), and the forecast category its rep may call instead of the stage's
    # (``override``) with the chance they do (``override_rate``).
    rescope: float = 0.0
    override: str | None = None
    override_rate: float = 0.0


def _closing(won_required: list[str]) -> list[StageSpec]:
    return [
        StageSpec("Closed Won", 100, ForecastCategory.CLOSED, won_required, won=True),
        StageSpec("Closed Lost", 0, ForecastCategory.OMITTED, ["lost_reason"], lost=True),
    ]


PIPELINES: dict[str, tuple[str, list[StageSpec]]] = {
    DealType.NEW: (
        "New Business",
        [
            StageSpec("Prospecting", 10, ForecastCategory.PIPELINE, [], pass_rate=0.72, mean_days=15, rot_days=30),
            StageSpec("Discovery", 20, ForecastCategory.PIPELINE, RF, pass_rate=0.72, mean_days=25, rot_days=30,
                      rescope=0.5, override=ForecastCategory.BEST_CASE, override_rate=0.2),
            StageSpec("Proposal", 50, ForecastCategory.BEST_CASE, RFN, pass_rate=0.75, mean_days=20, rot_days=21,
                      rescope=0.7, override=ForecastCategory.COMMIT, override_rate=0.4),
            StageSpec("Negotiation", 80, ForecastCategory.COMMIT, RFN, pass_rate=0.78, mean_days=15, rot_days=14,
                      rescope=0.5, override=ForecastCategory.BEST_CASE, override_rate=0.15),
            *_closing(RF),
        ],
    ),
    DealType.EXPANSION: (
        "Expansion",
        [
            StageSpec("Qualified", 30, ForecastCategory.PIPELINE, RF, pass_rate=0.7, mean_days=14, rot_days=30,
                      rescope=0.4, override=ForecastCategory.BEST_CASE, override_rate=0.2),
            StageSpec("Proposal", 60, ForecastCategory.BEST_CASE, RFN, pass_rate=0.75, mean_days=14, rot_days=21,
                      rescope=0.5, override=ForecastCategory.COMMIT, override_rate=0.3),
            *_closing(RF),
        ],
    ),
    DealType.RENEWAL: (
        "Renewal",
        [
            StageSpec("Renewal due", 70, ForecastCategory.COMMIT, RF, pass_rate=0.85, mean_days=25, rot_days=45,
                      rescope=0.5, override=ForecastCategory.BEST_CASE, override_rate=0.25),
            StageSpec("Negotiation", 85, ForecastCategory.COMMIT, RFN, pass_rate=0.9, mean_days=12, rot_days=21,
                      rescope=0.4),
            *_closing(RF),
        ],
    ),
}  # fmt: skip
TYPE_MIX = [(DealType.NEW, 0.6), (DealType.EXPANSION, 0.25), (DealType.RENEWAL, 0.15)]
INDUSTRIES = [
    "Manufacturing", "Logistics", "Healthcare", "Retail", "Software", "Financial services",
    "Energy", "Education", "Public sector", "Telecommunications", "Food and beverage",
]  # fmt: skip
REGION_COUNTRIES = {
    "Americas": [("US", "en_US", "USD", 0.85), ("CA", "en_CA", "CAD", 0.15)],
    "EMEA": [("GB", "en_GB", "GBP", 0.45), ("DE", "de_DE", "EUR", 0.35), ("FR", "fr_FR", "EUR", 0.2)],
    "APAC": [("AU", "en_AU", "USD", 0.6), ("JP", "ja_JP", "USD", 0.4)],
    "LATAM": [("MX", "es_MX", "USD", 0.6), ("BR", "pt_BR", "USD", 0.4)],
}  # fmt: skip
LOST_REASONS = ["No budget", "Went with a competitor", "No decision", "Timing", "Price"]
OFFERINGS = {
    DealType.NEW: ["Pilot cell", "Fleet rollout", "Warehouse automation", "Assembly line"],
    DealType.EXPANSION: ["Second site", "Vision add-on", "More robot arms"],
    DealType.RENEWAL: ["Support renewal", "Maintenance plan renewal"],
}
NEXT_STEPS = ["Send proposal", "Pricing call", "Security review", "Demo for the team", "Call CFO"]
# Changes between moves (see ``_stage_events``): how far a close date slips, how often a deal
# past its new close date slips again, and the factors a re-scoped amount is multiplied by.
SLIP_DAYS = [14, 30, 45]
RESLIP_RATE = 0.6
MAX_RESCOPES = 2
RESCOPE_FACTORS = [0.7, 0.8, 0.85, 0.9, 0.95, 1.1, 1.15, 1.2, 1.3, 1.5]
# changed_fields of history rows as PostgreSQL array literals: COPY takes them as they are, which
# is cheaper than adapting millions of Python lists, and the single-field ones are shared.
_CREATED = "{created}"
_SLIPPED = "{close_date}"
_RESCOPED = "{amount}"
_OVERRIDDEN = "{forecast_category}"
ACTIVITY_SUBJECTS = {
    "call": "Discovery call",
    "meeting": "Stakeholder meeting",
    "email": "Follow-up",
}


def generate_crm(org: GeneratedOrg) -> dict[str, int]:
    """Build the CRM rows for ``org``; returns row counts by table."""
    return _CrmBuilder(org).build()


# --- Commercial terms and splits --------------------------------------------------------------

# Product families and their cumulative shares of deals.
PRODUCT_FAMILIES = (("Platform", 0.55), ("Analytics", 0.85), ("Services", 1.0))
MAX_UNITS = 500
# Gross margin as a share of the amount: 55 % to 85 % in whole percents.
MARGIN_SHARES = [Decimal(p) / 100 for p in range(55, 86)]
# Enterprise deals (accounts of 1,000+ employees) signed for more than a year, and for how long.
MULTI_YEAR_RATE = 0.35
MULTI_YEAR_TERMS = (24, 36)
INVOICE_DAYS = [dt.timedelta(days=d) for d in range(21)]  # invoiced 0..20 days after winning
SPLIT_RATE = 0.03  # won deals shared with a colleague of the owner's team
OVERLAY_RATE = 0.02  # won deals with a specialist from another team on top
SPLIT_SHARES = ((Decimal(50), Decimal(50)), (Decimal(60), Decimal(40)))
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
TERMS_COLUMNS = ["product_family", "units", "gross_margin", "term_months", "invoice_date"]
SPLIT_COLUMNS = ["id", "deal_id", "user_id", "kind", "percent"]


class DealTerms:
    """Draws each deal's commercial terms and, for a few won deals, its splits.

    Deals must be drawn in id order, each from what is known of it once simulated (owner,
    amount, close date, won or not, enterprise account), with a random stream of its own: so
    the CRM generator and ``fill_deal_terms`` (an org generated before these fields) give the
    same values for the same seed. Splits go to active reps only: a colleague of the owner's
    team for a revenue split, anyone from another team for an overlay.
    """

    def __init__(self, seed: int, as_of: dt.date):
        self.rng = random.Random(seed * 104729 + 29)
        self.as_of = as_of
        self.splits: list[tuple] = []
        reps = list(
            RepProfile.objects.filter(active=True)
            .order_by("user_id")
            .values_list("user_id", "team_id")
        )
        self.team_of = dict(reps)
        self.reps = [user for user, _ in reps]
        self.team_reps: dict[int, list[int]] = {}
        for user, team in reps:
            self.team_reps.setdefault(team, []).append(user)

    def draw(
        self,
        deal_id: int,
        owner: int,
        amount: Decimal | None,
        close_date: dt.date | None,
        won: bool,
        enterprise: bool,
    ) -> tuple:
        """``(product_family, units, gross_margin, term_months, invoice_date)`` of one deal."""
        random_ = self.rng.random
        r = random_()
        family = next(name for name, upto in PRODUCT_FAMILIES if r < upto)
        units = 1 + int((MAX_UNITS - 1) * random_() ** 4)  # most deals a few units, a few many
        share = MARGIN_SHARES[int(random_() * len(MARGIN_SHARES))]
        margin = None if amount is None else (amount * share).quantize(CENT, ROUND_HALF_UP)
        r = random_()
        term = 12
        if enterprise and r < MULTI_YEAR_RATE:
            term = MULTI_YEAR_TERMS[0] if r < MULTI_YEAR_RATE / 2 else MULTI_YEAR_TERMS[1]
        invoiced = None
        if won:
            invoiced = close_date + INVOICE_DAYS[int(random_() * len(INVOICE_DAYS))]
            if invoiced > self.as_of:
                invoiced = None  # not invoiced yet
            self._splits(deal_id, owner, random_(), random_())
        return family, units, margin, term, invoiced

    def _splits(self, deal_id: int, owner: int, r: float, pick: float) -> None:
        team = self.team_of.get(owner)
        if r < SPLIT_RATE:
            colleagues = [u for u in self.team_reps.get(team, ()) if u != owner]
            if colleagues:
                other = colleagues[int(pick * len(colleagues))]
                first, second = SPLIT_SHARES[int(pick * 1000) % len(SPLIT_SHARES)]
                self._add(deal_id, owner, SplitKind.REVENUE, first)
                self._add(deal_id, other, SplitKind.REVENUE, second)
        elif r < SPLIT_RATE + OVERLAY_RATE and self.reps:
            start = int(pick * len(self.reps))
            for step in range(len(self.reps)):
                other = self.reps[(start + step) % len(self.reps)]
                if self.team_of[other] != team:
                    self._add(deal_id, other, SplitKind.OVERLAY, HUNDRED)
                    break

    def _add(self, deal_id: int, user: int, kind: str, percent: Decimal) -> None:
        self.splits.append((len(self.splits) + 1, deal_id, user, kind.value, percent))


def fill_deal_terms(*, seed: int, as_of: dt.date) -> dict[str, int]:
    """Give every deal of an org generated before the commercial terms existed the terms (and
    splits) the generator now draws for it: one read of the deals, a COPY, one UPDATE.

    For the bench's large org, which is too big to regenerate for a new column. Replaces any
    splits. Audit triggers are off, as when the generator loads the deals.
    """
    terms = DealTerms(seed, as_of)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.id, d.owner_id, d.amount, d.close_date, st.is_won, "
            "coalesce(a.employees, 0) >= %s FROM crm_deal d "
            "JOIN crm_stage st ON st.id = d.stage_id JOIN crm_account a ON a.id = d.account_id "
            "ORDER BY d.id",
            [SEGMENT_ENTERPRISE_FROM],
        )
        deals = cursor.fetchall()
    rows = [(row[0], *terms.draw(*row)) for row in deals]
    del deals
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE deal_terms (id bigint PRIMARY KEY, product_family text, units int, "
            "gross_margin numeric, term_months smallint, invoice_date date) ON COMMIT DROP"
        )
        copy_rows("deal_terms", ["id", *TERMS_COLUMNS], rows)
        cursor.execute(
            "UPDATE crm_deal d SET product_family = t.product_family, units = t.units, "
            "gross_margin = t.gross_margin, term_months = t.term_months, "
            "invoice_date = t.invoice_date FROM deal_terms t WHERE t.id = d.id"
        )
        updated = cursor.rowcount
        cursor.execute("DROP TABLE deal_terms")
        cursor.execute("DELETE FROM crm_dealsplit")
        splits = copy_rows("crm_dealsplit", SPLIT_COLUMNS, terms.splits)
    reset_sequences("crm_dealsplit")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_deal, crm_dealsplit")
    return {"deals_filled": updated, "deal_splits": splits}


class _Plan(tuple):
    """A pipeline as the simulation walks it: open stages (with specs), won, lost, mean cycle."""

    @classmethod
    def of(cls, pipeline_stages: list[tuple[Stage, StageSpec]]) -> _Plan:
        open_stages = [(s, spec) for s, spec in pipeline_stages if not s.is_closed]
        won = next(s for s, _ in pipeline_stages if s.is_won)
        lost = next(s for s, _ in pipeline_stages if s.is_lost)
        return cls((open_stages, won, lost, sum(spec.mean_days for _, spec in open_stages)))


class _CrmBuilder:
    def __init__(self, org: GeneratedOrg):
        self.org = org
        self.rng = random.Random(org.seed * 7919 + 17)
        self.start = org.as_of - dt.timedelta(days=365 * org.scale.years)
        self.fakers: dict[str, Faker] = {}

    def faker(self, locale: str) -> Faker:
        if locale not in self.fakers:
            fake = Faker(locale, use_weighting=False)
            fake.seed_instance(self.org.seed)
            self.fakers[locale] = fake
        return self.fakers[locale]

    def build(self) -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE crm_pipeline, crm_stage RESTART IDENTITY CASCADE")
        stages = self._pipelines()
        accounts, contacts = self._accounts()
        terms = DealTerms(self.org.seed, self.org.as_of)
        deals, history, activities = self._deals(accounts, stages, terms)
        leads = self._leads()
        rows = {}
        with triggers_disabled(), _indexes_deferred(*BULK_TABLES):
            rows["accounts"] = copy_rows("crm_account", ACCOUNT_COLUMNS, accounts)
            rows["contacts"] = copy_rows("crm_contact", CONTACT_COLUMNS, contacts)
            rows["deals"] = copy_rows("crm_deal", DEAL_COLUMNS + TERMS_COLUMNS, deals)
            rows["deal_splits"] = copy_rows("crm_dealsplit", SPLIT_COLUMNS, terms.splits)
            rows["deal_history"] = copy_rows("crm_dealhistory", HISTORY_COLUMNS, history)
            rows["activities"] = copy_rows("crm_activity", ACTIVITY_COLUMNS, activities)
            rows["leads"] = copy_rows("crm_lead", LEAD_COLUMNS, leads)
        reset_sequences(*BULK_TABLES, "crm_dealsplit")
        # Statistics now, inside the generator's transaction (ANALYZE counts the transaction's
        # own rows): later steps (territories, KPIs) and a test that generates and queries in
        # one transaction must not be planned on the empty tables' old statistics (a nested
        # loop over 100k history rows each way took minutes).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(BULK_TABLES)}, crm_dealsplit")
        return rows

    # --- pipelines ------------------------------------------------------------------------
    def _pipelines(self) -> dict[str, list[tuple[Stage, StageSpec]]]:
        result = {}
        for position, (kind, (name, specs)) in enumerate(PIPELINES.items()):
            pipeline = Pipeline.objects.create(name=name, kind=kind, position=position)
            result[kind] = [
                (
                    Stage.objects.create(
                        pipeline=pipeline, name=spec.name, position=i,
                        probability=Decimal(spec.probability), forecast_category=spec.category,
                        required_fields=spec.required, is_won=spec.won, is_lost=spec.lost,
                        rot_days=spec.rot_days,
                    ),
                    spec,
                )
                for i, spec in enumerate(specs)
            ]  # fmt: skip
        return result

    # --- accounts and contacts ------------------------------------------------------------
    def _region_of_team(self) -> dict[int, str]:
        parents = dict(Team.objects.values_list("pk", "parent_id"))
        names = dict(Team.objects.values_list("pk", "name"))

        def top(team_id: int) -> str:
            while parents[team_id] is not None:
                team_id = parents[team_id]
            return names[team_id]

        return {team_id: top(team_id) for team_id in set(self.org.rep_team_ids)}

    def _accounts(self):
        rng = self.rng
        region_of = self._region_of_team()
        reps = list(zip(self.org.rep_user_ids, self.org.rep_team_ids, strict=True))
        accounts, contacts, self.account_info = [], [], []
        names_seen: set[str] = set()
        cum_weights: dict[int, list[float]] = {}
        created = _at(self.start - dt.timedelta(days=30), 9)
        for i in range(self.org.scale.accounts):
            owner, team = reps[i % len(reps)]
            countries = REGION_COUNTRIES.get(region_of[team], REGION_COUNTRIES["Americas"])
            weights = cum_weights.get(id(countries))
            if weights is None:
                weights = cum_weights[id(countries)] = list(accumulate(c[3] for c in countries))
            country, locale, currency, _ = rng.choices(countries, cum_weights=weights)[0]
            fake = self.faker(locale)
            name = fake.company()
            if name in names_seen:
                name = f"{name} {fake.city()}"
            if name in names_seen:
                name = f"{name} {i}"
            names_seen.add(name)
            slug = "".join(ch for ch in name.lower() if ch.isalnum())[:30] or f"account{i}"
            employees = max(3, int(math.exp(rng.gauss(5.3, 1.6))))
            revenue = Decimal(employees * rng.randint(90, 400)) * 1000
            account_id = i + 1
            accounts.append((
                account_id, name, f"{slug}.example", f"https://{slug}.example", rng.choice(INDUSTRIES),
                employees, revenue, currency, country, fake.state() if hasattr(fake, "state") else "",
                fake.city(), fake.postcode(), owner, created,
            ))  # fmt: skip
            first_contact = len(contacts) + 1
            for _ in range(2):
                first, last = fake.first_name(), fake.last_name()
                contacts.append((
                    len(contacts) + 1, account_id, first, last,
                    f"{_ascii(first)}.{_ascii(last)}@{slug}.example".lower(), "",
                    fake.job()[:120], owner,
                ))  # fmt: skip
            self.account_info.append((account_id, owner, currency, employees, first_contact, name))
        return accounts, contacts

    # --- leads ----------------------------------------------------------------------------
    def _leads(self) -> list[tuple]:
        """One lead per five deals, spread over the years; response times of hours, a quarter
        converted into one of the owner's accounts, older untouched leads disqualified."""
        rng = self.rng
        fake = self.faker("en_US")
        span = (self.org.as_of - self.start).days
        by_owner: dict[int, list[int]] = {}
        for account_id, owner, *_ in self.account_info:
            by_owner.setdefault(owner, []).append(account_id)
        owners = self.org.rep_user_ids
        rows = []
        for i in range(self.org.scale.deals // 5):
            owner = owners[i % len(owners)]
            day = self.start + dt.timedelta(days=rng.randrange(span))
            created = _at(day, rng.randint(7, 19))
            age = (self.org.as_of - day).days
            responded = created + dt.timedelta(hours=rng.lognormvariate(1.5, 1.0))
            roll = rng.random()
            if age < 3 and roll < 0.5:
                status, responded = "new", None
            elif age < 30:
                status = "working" if roll < 0.7 else "qualified"
            else:
                status = (
                    "converted" if roll < 0.25 else ("disqualified" if roll < 0.75 else "qualified")
                )
            converted_at = (
                responded + dt.timedelta(days=rng.randint(1, 20)) if status == "converted" else None
            )
            account = rng.choice(by_owner[owner]) if status == "converted" else None
            first, last = fake.first_name(), fake.last_name()
            company = fake.company()
            rows.append((
                i + 1, first, last, company, f"{_ascii(first)}@{_ascii(last)}.example".lower(), "",
                fake.job()[:120], "US", rng.choice([12, 80, 250, 1200, 5000]),
                rng.choice(["web", "referral", "event", "outbound", "partner"]), status, owner,
                created, responded, converted_at, account,
                rng.choice(LOST_REASONS) if status == "disqualified" else "",
            ))  # fmt: skip
        return rows

    # --- deals ----------------------------------------------------------------------------
    def _deals(self, accounts, stages, terms: DealTerms):
        rng = self.rng
        deals, history, activities = [], [], []
        span = (self.org.as_of - self.start).days
        types, weights = zip(*TYPE_MIX, strict=True)
        cum_weights = list(accumulate(weights))
        plans = {kind: _Plan.of(pipeline_stages) for kind, pipeline_stages in stages.items()}
        by_owner: dict[int, list[tuple]] = {}
        for info in self.account_info:
            by_owner.setdefault(info[1], []).append(info)
        owners = self.org.rep_user_ids
        won_stages = {
            s.pk for pipeline_stages in stages.values() for s, _ in pipeline_stages if s.is_won
        }
        for i in range(self.org.scale.deals):
            owner = owners[i % len(owners)]
            account_id, _, currency, employees, contact_id, account_name = rng.choice(
                by_owner[owner]
            )
            kind = rng.choices(types, cum_weights=cum_weights)[0]
            created_on = self.start + dt.timedelta(days=rng.randrange(span))
            size = 8000 * (employees / 200) ** 0.45 * math.exp(rng.gauss(0, 0.5))
            amount = Decimal(max(500, round(size, -2)))
            deal_id = i + 1
            row = self._simulate(
                deal_id, owner, account_id, contact_id, currency, kind, amount, created_on,
                plans[kind], history, activities,
                f"{account_name} – {rng.choice(OFFERINGS[kind])}",
            )  # fmt: skip
            # row[5] stage, [6] amount, [8] close date (DEAL_COLUMNS)
            deals.append(
                row
                + terms.draw(
                    deal_id,
                    owner,
                    row[6],
                    row[8],
                    row[5] in won_stages,
                    employees >= SEGMENT_ENTERPRISE_FROM,
                )  # fmt: skip
            )
        return deals, history, activities

    def _simulate(self, deal_id, owner, account_id, contact_id, currency, kind, amount, created_on,
                  plan, history, activities, name):  # fmt: skip
        rng = self.rng
        as_of = self.org.as_of
        open_stages, won_stage, lost_stage, expected_cycle = plan
        close_date = created_on + dt.timedelta(days=int(expected_cycle * rng.uniform(0.8, 1.4)))
        stage, spec = open_stages[0]
        has_amount = "amount" in spec.required
        day = created_on
        created_at = _at(created_on, rng.randint(8, 17))
        current_amount = amount if has_amount else None
        category = stage.forecast_category
        self._history(history, deal_id, created_at, owner, _CREATED, None, stage, None,
                      current_amount, currency, None, close_date, owner, "", category)  # fmt: skip
        closed_at = None
        lost_reason = ""
        stage_entered = created_at
        index = 0
        while True:
            dwell = max(1, int(rng.expovariate(1 / spec.mean_days)))
            next_day = day + dt.timedelta(days=dwell)
            end = min(next_day, as_of)
            events = self._stage_events(spec, day, end, close_date, current_amount is not None)
            for at, field, value in events:
                to_amount, to_close, to_category = current_amount, close_date, category
                if field is _SLIPPED:
                    to_close = value
                elif field is _RESCOPED:
                    rescoped = (current_amount * Decimal(str(value))).quantize(Decimal("1E2"))
                    to_amount = max(Decimal(500), rescoped).quantize(Decimal("0.01"))
                    if to_amount == current_amount:
                        continue
                else:
                    to_category = value
                self._history(history, deal_id, at, owner, field, stage, stage, current_amount,
                              to_amount, currency, close_date, to_close, owner, category,
                              to_category)  # fmt: skip
                current_amount, close_date, category = to_amount, to_close, to_category
            if next_day > as_of:
                break
            at = _at(next_day, rng.randint(8, 17))
            if rng.random() < spec.pass_rate:
                target = open_stages[index + 1][0] if index + 1 < len(open_stages) else won_stage
            else:
                target = lost_stage
                lost_reason = rng.choice(LOST_REASONS)
            changed = ["stage"]
            new_amount = current_amount
            if current_amount is None and target != lost_stage:
                new_amount = amount
                changed.append("amount")
            new_close = close_date
            if target.is_closed:
                new_close = next_day
                if new_close != close_date:
                    changed.append("close_date")
            # a move puts the deal in its new stage's forecast category, overriding the rep's call
            if target.forecast_category != category:
                changed.append("forecast_category")
            self._history(history, deal_id, at, owner, "{" + ",".join(changed) + "}", stage, target,
                          current_amount, new_amount, currency, close_date, new_close, owner,
                          category, target.forecast_category)  # fmt: skip
            stage, current_amount, close_date, stage_entered, day, category = (
                target,
                new_amount,
                new_close,
                at,
                next_day,
                target.forecast_category,
            )
            if target.is_closed:
                closed_at = at
                break
            index += 1
            spec = open_stages[index][1]
        activities.append((len(activities) + 1, "call", ACTIVITY_SUBJECTS["call"], "", owner,
                           deal_id, account_id, created_at + dt.timedelta(days=1), created_at, None))  # fmt: skip
        if closed_at is None:
            due = _at(as_of + dt.timedelta(days=rng.randint(1, 10)), 10)
            activities.append((len(activities) + 1, "task", rng.choice(NEXT_STEPS), "", owner,
                               deal_id, account_id, None, created_at, due))  # fmt: skip
        else:
            activities.append((len(activities) + 1, "meeting", ACTIVITY_SUBJECTS["meeting"], "",
                               owner, deal_id, account_id, closed_at - dt.timedelta(days=2),
                               created_at, None))  # fmt: skip
        return (
            deal_id, name[:200], account_id, owner, stage.pipeline_id, stage.pk, current_amount,
            currency, close_date, stage.probability, category, kind.value,
            "" if closed_at else rng.choice(NEXT_STEPS), lost_reason, contact_id, created_at,
            stage_entered, closed_at, stage_entered, owner, 1,
        )  # fmt: skip

    def _stage_events(self, spec: StageSpec, day: dt.date, end: dt.date, close_date: dt.date,
                      has_amount: bool) -> list[tuple[dt.datetime, str, object]]:  # fmt: skip
        """What happens to a deal while it sits in an open stage from ``day`` until ``end``, in
        time order, as ``(at, changed_fields, new value)``.

        The close date slips when the deal runs past it, and again (``RESLIP_RATE``) each time
        it runs past the new one; the rest stay past due. The amount is re-scoped (a factor of
        the amount then) and the rep overrides the forecast category, on days strictly inside
        the stay, so they fall between the moves in and out of the stage.
        """
        rng = self.rng
        events = []
        if day <= close_date < end:
            due = close_date
            while True:
                slipped = due + dt.timedelta(days=rng.choice(SLIP_DAYS))
                events.append((_at(due, 17), _SLIPPED, slipped))
                if slipped >= end or rng.random() >= RESLIP_RATE:
                    break
                due = slipped
        span = (end - day).days
        if span >= 2:
            if has_amount and spec.rescope:
                changes = 0
                while changes < MAX_RESCOPES and rng.random() < spec.rescope:
                    changes += 1
                    at = _at(day + dt.timedelta(days=rng.randint(1, span - 1)), rng.randint(8, 17))
                    events.append((at, _RESCOPED, rng.choice(RESCOPE_FACTORS)))
            if spec.override and rng.random() < spec.override_rate:
                at = _at(day + dt.timedelta(days=rng.randint(1, span - 1)), rng.randint(8, 17))
                events.append((at, _OVERRIDDEN, spec.override))
        if len(events) > 1:
            events.sort(key=_first)
        return events

    @staticmethod
    def _history(rows, deal_id, at, by, changed, from_stage, to_stage, from_amount, to_amount,
                 currency, from_close, to_close, owner, from_category, to_category):  # fmt: skip
        rows.append((
            len(rows) + 1, deal_id, at, by, changed, from_stage.pk if from_stage else None,
            to_stage.pk, from_amount, to_amount, currency, from_close, to_close,
            owner if from_stage else None, owner, from_category, to_category, to_stage.probability,
        ))  # fmt: skip


BULK_TABLES = (
    "crm_account", "crm_contact", "crm_deal", "crm_dealhistory", "crm_activity", "crm_lead",
)  # fmt: skip
ACCOUNT_COLUMNS = [
    "id", "name", "domain", "website", "industry", "employees", "annual_revenue",
    "revenue_currency", "country", "region", "city", "postal_code", "owner_id", "created_at",
]  # fmt: skip
CONTACT_COLUMNS = [
    "id", "account_id", "first_name", "last_name", "email", "phone", "title", "owner_id",
]  # fmt: skip
DEAL_COLUMNS = [
    "id", "name", "account_id", "owner_id", "pipeline_id", "stage_id", "amount", "currency",
    "close_date", "probability", "forecast_category", "type", "next_step", "lost_reason",
    "primary_contact_id", "created_at", "stage_entered_at", "closed_at", "updated_at",
    "updated_by_id", "version",
]  # fmt: skip
HISTORY_COLUMNS = [
    "id", "deal_id", "changed_at", "changed_by_id", "changed_fields", "from_stage_id",
    "to_stage_id", "from_amount", "to_amount", "currency", "from_close_date", "to_close_date",
    "from_owner_id", "to_owner_id", "from_forecast_category", "to_forecast_category",
    "to_probability",
]  # fmt: skip
LEAD_COLUMNS = [
    "id", "first_name", "last_name", "company", "email", "phone", "title", "country", "employees",
    "source", "status", "owner_id", "created_at", "first_response_at", "converted_at",
    "converted_account_id", "disqualify_reason",
]  # fmt: skip
ACTIVITY_COLUMNS = [
    "id", "kind", "subject", "notes", "owner_id", "deal_id", "account_id", "done_at", "created_at",
    "due_at",
]  # fmt: skip


@contextmanager
def _indexes_deferred(*tables: str) -> Iterator[None]:
    """Drop the secondary indexes and unique constraints of ``tables`` (those no foreign key
    relies on; primary keys stay), and build them again, as they were, on the way out.

    For freshly truncated tables about to receive millions of COPY rows: building an index
    once from the loaded table is a sort, several times faster than maintaining it row by row.
    Inside the caller's transaction, so a failed load leaves every index as it was.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE c.contype = 'u' AND c.conrelid = ANY(%s::regclass[]) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint f "
            "WHERE f.contype = 'f' AND f.conindid = c.conindid) ORDER BY 1, 2",
            [list(tables)],
        )
        constraints = cursor.fetchall()
        for table, name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
            [list(tables)],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for table, name, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in indexes:
            cursor.execute(definition)


def _first(event: tuple) -> dt.datetime:
    return event[0]


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=dt.UTC)


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace(" ", "")

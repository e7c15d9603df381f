"""Generator step: commission plans for the data's three fiscal years, everyone on one, and (demo
scale) a year of commission runs, so the app opens on real statements.

Plans, seven per fiscal year (keys like ``ae-quota-fy2027``), published by sales ops:

- ``ae-quota``: AEs; quarterly bookings, marginal tiers with an accelerator above 100 % and an
  attainment cap, plus a per-deal SPIF on new Analytics deals in the year's second quarter;
- ``ae-enterprise``: some AEs; quarterly ACV credited on invoice date, retroactive tiers, a
  threshold and a payout cap;
- ``ae-new-hire``: AEs hired during the year; an annual commission paid as quarterly advances
  (trued up at year end) and a recoverable monthly draw for their first months;
- ``am``: AMs; renewal and expansion bookings (deal-type filter), and a margin kicker on expansions;
- ``sdr``: SDRs; a flat amount per new logo, monthly;
- ``manager`` and ``leadership``: front-line and higher managers; their teams' roll-up credits.

Quotas come from the published quota plan of the year where there is one (the territories step
publishes last year's and this year's), else they are fixed, sized on the year's own bookings
(the median rep or team quarter) so attainment spreads around 100 %. Rates follow from each
role's target incentive over a typical quota, as a plan designer would set them.

Every active rep (by sales role) and every team manager is on one plan for each year, from
their hire date or the year's start; a few reps per past year transfer mid-year or take a leave
(one assignment ends, another starts). About nine in ten assignments are accepted.

Plans and assignments are written in bulk (thousands of reps × three years); runs go through
``compensation.runs`` as sales ops and finance would, each step under an audit context of its own.
Same seed and data, same plans, assignments and lines.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from pghistory import runtime as pghistory_runtime

from compensation import documents, runs
from compensation.models import (
    CommissionRun,
    CompPlan,
    PayoutLine,
    PlanAssignment,
    PlanStatus,
    RunStatus,
)
from crm.models import DealType
from salesops.audit import audit_context
from salesops.bulk import foreign_keys_checked_now
from salesops.fiscal import FiscalCalendar, FiscalPeriod, PeriodKind
from salesops.org.generate import DEMO_LOGINS, GeneratedOrg
from salesops.org.models import ExchangeRate, RepProfile, SalesRole, Team, User
from salesops.org.roles import Role
from salesops.org.selectors import fiscal_calendar, org_settings
from territories.models import QuotaPlan, QuotaPlanStatus
from territories.quota_selectors import rep_quotas

PLAN_YEARS = 3  # the fiscal year of ``as_of`` and the two before it
# Completed quarters calculated, approved and paid at each scale (then the current quarter is
# calculated and left for approval). The large org gets none: the bench times its runs.
PAID_QUARTERS = {"demo": 4}
ENTERPRISE_AE_SHARE = 0.3
ACCEPTED_SHARE = 0.9
LEAVE_DAYS = 75
# Target incentive and base salary by plan role.
TARGETS = {
    "ae": (Decimal(60000), Decimal(90000)),
    "ae-enterprise": (Decimal(70000), Decimal(110000)),
    "am": (Decimal(40000), Decimal(85000)),
    "sdr": (Decimal(20000), Decimal(55000)),
    "manager": (Decimal(50000), Decimal(140000)),
    "leadership": (Decimal(80000), Decimal(180000)),
}
SPIF_PER_DEAL = Decimal(750)
DRAW_MONTHS = 6
ADVANCE_PERCENT = Decimal(75)
MARGIN_KICKER_RATE = Decimal("0.02")
# Deals take a few months through the pipeline: quarters this soon after the generated history
# starts have too few wins to size a quota on.
WARM_UP_DAYS = 120
HUNDRED = Decimal(100)


def generate_comp(org: GeneratedOrg) -> dict[str, int]:
    """Plans and assignments for the last three fiscal years; runs at the demo scale."""
    calendar = fiscal_calendar()
    ops = _login(Role.OPS)
    finance = _login(Role.FINANCE)
    this_year = calendar.fiscal_year_of(org.as_of)
    years = list(range(this_year - PLAN_YEARS + 1, this_year + 1))
    actuals = _Actuals.read(org, calendar)
    people = _People.read()
    rng = random.Random(org.seed * 15485863 + 41)
    plans: dict[tuple[int, str], CompPlan] = {}
    # Audited bulk writes: foreign keys checked as they go (see salesops.bulk).
    with _audit_apart(acting_user=ops, reason="generate_comp_plans"), foreign_keys_checked_now():
        for year in years:
            for slug, document in _Designer(year, calendar, actuals, people).documents():
                plans[(year, slug)] = _plan(year, slug, document, ops, calendar)
        CompPlan.objects.bulk_create(plans.values())
        assignments = _Assigner(org, calendar, people, plans, ops, rng).assignments(years)
        PlanAssignment.objects.bulk_create(assignments, batch_size=2000)
    rows = {"comp_plans": len(plans), "plan_assignments": len(assignments)}
    quarters = PAID_QUARTERS.get(org.scale.name, 0)
    if quarters:
        rows.update(_runs(org.as_of, calendar, quarters, ops, finance, first_year=years[0]))
    return rows


def _login(role: Role) -> User:
    """The demo login of ``role`` (every scale has one), else the first user with the role."""
    user = User.objects.filter(username=DEMO_LOGINS[role]).first()
    return user or User.objects.filter(groups__name=role).order_by("pk").first()


@contextmanager
def _audit_apart(*, acting_user: User, reason: str) -> Iterator[None]:
    """Record the block's writes under an audit context of its own, as one request's would be.

    The generator runs inside one pghistory context, and a nested context merges its metadata
    into the one context row every generated event points at: the finance login approving a run
    would then show as the author of every generated row, plans included, and count as a plan
    editor who may not approve the next run (``runs.approval_conflicts``). pghistory has no
    public way to open a separate context inside another, hence its thread-local here.
    """
    outer = getattr(pghistory_runtime._tracker, "value", None)
    if outer is not None:
        pghistory_runtime._tracker.value = pghistory_runtime.Context(id=uuid.uuid4(), metadata={})
    try:
        with audit_context(acting_user=acting_user, reason=reason):
            yield
    finally:
        if outer is not None:
            pghistory_runtime._tracker.value = outer


# --- What the data says ------------------------------------------------------------------------


@dataclass
class _People:
    """Active reps (user, team, sales role, hire date) and team managers, in id order."""

    reps: list[tuple[int, int, str, dt.date]]
    front_line_managers: list[int]
    leaders: list[int]
    team_parents: dict[int, int | None]
    team_managers: dict[int, int | None]

    @classmethod
    def read(cls) -> _People:
        reps = list(
            RepProfile.objects.filter(active=True, user__is_active=True)
            .order_by("user_id")
            .values_list("user_id", "team_id", "sales_role", "hire_date")
        )
        teams = list(Team.objects.order_by("pk").values_list("pk", "parent_id", "manager_id"))
        parents = {team: parent for team, parent, _ in teams}
        has_children = {parent for parent in parents.values() if parent is not None}
        # A manager of several teams goes on the plan of the highest one.
        leaders = sorted({m for t, _, m in teams if m and t in has_children})
        front = sorted({m for t, _, m in teams if m and t not in has_children} - set(leaders))
        managers = {team: manager for team, _, manager in teams}
        return cls(reps, front, leaders, parents, managers)

    def role_users(self, role: str) -> set[int]:
        return {user for user, _, sales_role, _ in self.reps if sales_role == role}

    def team_of(self) -> dict[int, int]:
        return {user: team for user, team, _, _ in self.reps}

    def managers_above(self, team: int) -> list[int]:
        """The managers of ``team`` and of every team above it."""
        found = []
        while team is not None:
            if self.team_managers.get(team):
                found.append(self.team_managers[team])
            team = self.team_parents.get(team)
        return found


@dataclass
class _Actuals:
    """Won bookings per person and fiscal quarter (and new logos per month), in the corporate
    currency, over the quarters the generated history covers in full."""

    bookings: dict[tuple[int, str], Decimal] = field(default_factory=dict)  # owner, quarter
    renewals: dict[tuple[int, str], Decimal] = field(default_factory=dict)  # renewal + expansion
    logos: dict[tuple[int, str], int] = field(default_factory=dict)  # owner, month
    quarters: dict[str, FiscalPeriod] = field(default_factory=dict)  # complete ones, by key

    @classmethod
    def read(cls, org: GeneratedOrg, calendar: FiscalCalendar) -> _Actuals:
        history_start = org.as_of - dt.timedelta(days=365 * org.scale.years)
        first = calendar.period(history_start + dt.timedelta(days=WARM_UP_DAYS), "quarter")
        if first.start < history_start + dt.timedelta(days=WARM_UP_DAYS):
            first = calendar.shift(first, 1)
        last = calendar.shift(calendar.period(org.as_of, "quarter"), -1)
        found = cls()
        quarter = first
        while quarter.start <= last.start:
            found.quarters[quarter.key] = quarter
            quarter = calendar.shift(quarter, 1)
        if not found.quarters:
            return found
        corporate = org_settings().corporate_currency
        rates = defaultdict(list)
        for currency, valid_from, rate in ExchangeRate.objects.order_by(
            "currency", "valid_from"
        ).values_list("currency", "valid_from", "rate"):
            rates[currency].append((valid_from, rate))
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT d.owner_id, date_trunc('month', d.close_date)::date, d.currency,
                       sum(d.amount),
                       sum(d.amount) FILTER (WHERE d.type IN (%(renewal)s, %(expansion)s)),
                       count(*) FILTER (WHERE d.type = %(new)s)
                FROM crm_deal d JOIN crm_stage st ON st.id = d.stage_id AND st.is_won
                WHERE d.amount IS NOT NULL AND d.close_date BETWEEN %(lo)s AND %(hi)s
                GROUP BY 1, 2, 3
                """,
                {
                    "renewal": DealType.RENEWAL.value,
                    "expansion": DealType.EXPANSION.value,
                    "new": DealType.NEW.value,
                    "lo": first.start,
                    "hi": last.end,
                },
            )
            rows = cursor.fetchall()
        for owner, month, currency, amount, renewals, logos in rows:
            rate = Decimal(1) if currency == corporate else _rate_on(rates[currency], month)
            quarter = calendar.period(month, "quarter").key
            found.bookings[(owner, quarter)] = found.bookings.get((owner, quarter), 0) + (
                amount * rate
            )
            found.renewals[(owner, quarter)] = found.renewals.get((owner, quarter), 0) + (
                (renewals or 0) * rate
            )
            month_key = calendar.period(month, "month").key
            found.logos[(owner, month_key)] = found.logos.get((owner, month_key), 0) + logos
        return found

    def quarters_of(self, year: int) -> list[str]:
        """The complete quarters of ``year``; else of the nearest year that has some."""
        years = sorted({q.fiscal_year for q in self.quarters.values()}, key=lambda y: abs(y - year))
        for nearest in years:
            keys = [k for k, q in self.quarters.items() if q.fiscal_year == nearest]
            if keys:
                return keys
        return []


def _rate_on(rates: list[tuple[dt.date, Decimal]], day: dt.date) -> Decimal:
    """The latest rate dated on or before ``day`` (the earliest one before any)."""
    found = rates[0][1] if rates else Decimal(1)
    for valid_from, rate in rates:
        if valid_from > day:
            break
        found = rate
    return found


def _median(values) -> Decimal:
    values = [Decimal(v) for v in values if v]
    return statistics.median(values) if values else Decimal(0)


def _nice(amount: Decimal) -> Decimal:
    """``amount`` rounded to a figure a plan would state: two significant digits, halves
    allowed (312,345 → 310,000; 17 → 17; 1,260 → 1,250)."""
    if amount <= 0:
        return Decimal(0)
    step = Decimal(10) ** max(0, amount.adjusted() - 1) / 2
    return ((amount / step).to_integral_value(ROUND_HALF_UP) * step).quantize(Decimal(1))


def _rate(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.0001"), ROUND_HALF_UP))


# --- Plan documents ----------------------------------------------------------------------------


class _Designer:
    """The plan documents of one fiscal year, sized on that year's quotas or bookings."""

    def __init__(
        self, year: int, calendar: FiscalCalendar, actuals: _Actuals, people: _People
    ) -> None:
        self.year = year
        self.calendar = calendar
        self.actuals = actuals
        self.people = people
        self.quarters = actuals.quarters_of(year)
        self.months = {
            m.key
            for q in self.quarters
            for m in calendar.periods(actuals.quarters[q].fiscal_year, "month")
            if actuals.quarters[q].start <= m.start <= actuals.quarters[q].end
        }
        self.quota_plan = self._published_quotas()

    def _published_quotas(self) -> dict[int, Decimal]:
        """Each rep's quota for the year from its published quota plan (empty without one)."""
        if not QuotaPlan.objects.filter(
            fiscal_year=self.year, status=QuotaPlanStatus.PUBLISHED
        ).exists():
            return {}
        year = self.calendar.periods(self.year, "year")[0]
        return rep_quotas(year.start, year.end)

    def _quarterly(self, table: dict, users: set[int]) -> Decimal:
        return _median(v for (user, quarter), v in table.items()
                       if user in users and quarter in self.quarters)  # fmt: skip

    def _team_quarters(self, managers: list[int]) -> Decimal:
        """The median quarter of bookings rolled up to each of ``managers``."""
        team_of = self.people.team_of()
        totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
        wanted = set(managers)
        for (user, quarter), amount in self.actuals.bookings.items():
            if quarter not in self.quarters or user not in team_of:
                continue
            for manager in self.people.managers_above(team_of[user]):
                if manager in wanted:
                    totals[(manager, quarter)] += amount
        return _median(totals.values())

    def documents(self) -> list[tuple[str, dict]]:
        ae_users = self.people.role_users(SalesRole.AE)
        quota_plan = {user: q for user, q in self.quota_plan.items() if user in ae_users}
        if quota_plan:
            annual = _median(quota_plan.values())
            ae_quota = {"source": "quota_plan"}
        else:
            annual = 4 * _nice(self._quarterly(self.actuals.bookings, ae_users))
            ae_quota = {"source": "fixed", "amount": str(annual / 4)}
        am_quarter = _nice(
            self._quarterly(self.actuals.renewals, self.people.role_users(SalesRole.AM))
        )
        sdr_users = self.people.role_users(SalesRole.SDR)
        logos = _median(v for (u, m), v in self.actuals.logos.items()
                        if u in sdr_users and m in self.months)  # fmt: skip
        team_quarter = _nice(self._team_quarters(self.people.front_line_managers))
        leader_quarter = _nice(self._team_quarters(self.people.leaders))
        return [
            ("ae-quota", self._ae_quota(ae_quota, annual)),
            ("ae-enterprise", self._ae_enterprise(ae_quota, annual)),
            ("ae-new-hire", self._ae_new_hire(ae_quota, annual)),
            ("am", self._am(am_quarter)),
            ("sdr", self._sdr(logos)),
            ("manager", self._manager(team_quarter)),
            ("leadership", self._leadership(leader_quarter)),
        ]

    def _document(self, name: str, role: str, target: str, components: list[dict], **more) -> dict:
        incentive, base = TARGETS[target]
        return {
            "name": f"{name} FY{self.year}",
            "fiscal_year": self.year,
            "currency": org_settings().corporate_currency,
            "roles": [{"role": role, "target_incentive": str(incentive), "base_salary": str(base)}],
            "components": components,
            **more,
        }

    def _bcr(self, target: str, quota: Decimal, periods: int = 4, weight: int = 100) -> Decimal:
        """Base commission rate: the share of the measure that pays the target incentive (its
        ``weight`` % part, per period) at 100 % of ``quota``."""
        if quota <= 0:
            return Decimal("0.05")
        return TARGETS[target][0] * weight / HUNDRED / periods / quota

    def _ae_quota(self, quota: dict, annual: Decimal) -> dict:
        bcr = self._bcr("ae", annual / 4, weight=90)
        q2 = self.calendar.periods(self.year, "quarter")[1]
        return self._document(
            "AE quota plan",
            "AE",
            "ae",
            [
                {
                    "key": "bookings",
                    "name": "Bookings commission",
                    "quota": quota,
                    "weight": "90",
                    "tiers": [
                        {"floor": "0", "rate": _rate(bcr * Decimal("0.8"))},
                        {"floor": "50", "rate": _rate(bcr * Decimal("1.2"))},
                        {"floor": "100", "rate": _rate(bcr * 2), "label": "Accelerator"},
                    ],
                    "cap_attainment": "200",
                },
                {
                    "key": "analytics-spif",
                    "name": "Analytics launch SPIF",
                    "kind": "bonus",
                    "weight": "10",
                    "per_deal": str(SPIF_PER_DEAL),
                    "filters": {"deal_types": ["new"], "product_families": ["Analytics"]},
                    "window_start": q2.start.isoformat(),
                    "window_end": q2.end.isoformat(),
                },
            ],
        )

    def _ae_enterprise(self, quota: dict, annual: Decimal) -> dict:
        incentive = TARGETS["ae-enterprise"][0]
        bcr = self._bcr("ae-enterprise", annual / 4)
        return self._document(
            "AE enterprise plan",
            "AE",
            "ae-enterprise",
            [
                {
                    "key": "acv",
                    "name": "ACV commission",
                    "measure": "acv",
                    "quota": quota,
                    "tier_mode": "retroactive",
                    "tiers": [
                        {"floor": "0", "rate": _rate(bcr / 2)},
                        {"floor": "75", "rate": _rate(bcr * Decimal("0.8"))},
                        {"floor": "100", "rate": _rate(bcr), "label": "On target"},
                        {"floor": "125", "rate": _rate(bcr * Decimal("1.5")), "label": "Club"},
                    ],
                    "threshold": "25",
                    "cap_amount": str(_nice(incentive / 4 * Decimal("2.5"))),
                },
            ],
            credit_date="invoice_date",
        )

    def _ae_new_hire(self, quota: dict, annual: Decimal) -> dict:
        incentive = TARGETS["ae"][0]
        bcr = self._bcr("ae", annual, periods=1)
        if quota["source"] == "fixed":  # ramping: about half a full year's quota
            quota = {"source": "fixed", "amount": str(_nice(annual / 2))}
            bcr *= 2
        return self._document(
            "AE new-hire plan",
            "AE",
            "ae",
            [
                {
                    "key": "annual-bookings",
                    "name": "Annual bookings commission",
                    "period": "year",
                    "advances": "quarter",
                    "advance_percent": str(ADVANCE_PERCENT),
                    "quota": quota,
                    "tiers": [
                        {"floor": "0", "rate": _rate(bcr * Decimal("0.8"))},
                        {"floor": "50", "rate": _rate(bcr * Decimal("1.2"))},
                        {
                            "floor": "100",
                            "rate": _rate(bcr * Decimal("1.8")),
                            "label": "Accelerator",
                        },
                    ],
                    "cap_attainment": "200",
                },
            ],
            draw={
                "kind": "recoverable",
                "monthly_amount": str(_nice(incentive / 12)),
                "months": DRAW_MONTHS,
            },
        )

    def _am(self, quarter_quota: Decimal) -> dict:
        bcr = self._bcr("am", quarter_quota, weight=80)
        return self._document(
            "Account manager plan",
            "AM",
            "am",
            [
                {
                    "key": "renewals",
                    "name": "Renewal and expansion commission",
                    "weight": "80",
                    "filters": {"deal_types": ["renewal", "expansion"]},
                    "quota": {"source": "fixed", "amount": str(quarter_quota or 1)},
                    "tiers": [
                        {"floor": "0", "rate": _rate(bcr)},
                        {
                            "floor": "100",
                            "rate": _rate(bcr * Decimal("1.5")),
                            "label": "Accelerator",
                        },
                    ],
                },
                {
                    "key": "expansion-margin",
                    "name": "Expansion margin kicker",
                    "weight": "20",
                    "measure": "gross_margin",
                    "filters": {"deal_types": ["expansion"]},
                    "rate": str(MARGIN_KICKER_RATE),
                },
            ],
        )

    def _sdr(self, monthly_logos: Decimal) -> dict:
        per_logo = _nice(TARGETS["sdr"][0] / 12 / max(monthly_logos, Decimal(1)))
        return self._document(
            "SDR plan",
            "SDR",
            "sdr",
            [
                {
                    "key": "new-logos",
                    "name": "New logo commission",
                    "measure": "new_logos",
                    "period": "month",
                    "rate": str(per_logo),
                },
            ],
        )

    def _manager(self, quarter_quota: Decimal) -> dict:
        bcr = self._bcr("manager", quarter_quota)
        return self._document(
            "Sales manager roll-up plan",
            "manager",
            "manager",
            [
                {
                    "key": "team-bookings",
                    "name": "Team bookings commission",
                    "credit_types": ["rollup"],
                    "quota": {"source": "fixed", "amount": str(quarter_quota or 1)},
                    "tiers": [
                        {"floor": "0", "rate": _rate(bcr * Decimal("0.8"))},
                        {"floor": "50", "rate": _rate(bcr * Decimal("1.2"))},
                        {
                            "floor": "100",
                            "rate": _rate(bcr * Decimal("1.6")),
                            "label": "Accelerator",
                        },
                    ],
                    "cap_attainment": "180",
                },
            ],
        )

    def _leadership(self, quarter_rollup: Decimal) -> dict:
        incentive = TARGETS["leadership"][0]
        rate = self._bcr("leadership", quarter_rollup)
        return self._document(
            "Sales leadership override",
            "manager",
            "leadership",
            [
                {
                    "key": "override",
                    "name": "Organisation bookings override",
                    "credit_types": ["rollup"],
                    "rate": _rate(rate) if rate >= Decimal("0.0001") else "0.0001",
                    "cap_amount": str(_nice(incentive / 2)),
                },
            ],
        )


def _plan(year: int, slug: str, data: dict, ops: User, calendar: FiscalCalendar) -> CompPlan:
    """A published plan version 1, its document validated as the plan services would."""
    document = documents.validate(data)
    published = dt.datetime.combine(
        calendar.year_start(year) - dt.timedelta(days=20), dt.time(9), tzinfo=dt.UTC
    )
    return CompPlan(
        key=f"{slug}-fy{year}",
        version=1,
        name=document.name,
        fiscal_year=year,
        status=PlanStatus.PUBLISHED,
        currency=document.currency,
        document=documents.to_data(document),
        created_by=ops,
        updated_by=ops,
        published_by=ops,
        published_at=published,
    )


# --- Assignments -------------------------------------------------------------------------------


class _Assigner:
    def __init__(
        self,
        org: GeneratedOrg,
        calendar: FiscalCalendar,
        people: _People,
        plans: dict[tuple[int, str], CompPlan],
        ops: User,
        rng: random.Random,
    ) -> None:
        self.org = org
        self.calendar = calendar
        self.people = people
        self.plans = plans
        self.ops = ops
        self.rng = rng
        demo_rep = set(
            User.objects.filter(username=DEMO_LOGINS[Role.REP]).values_list("pk", flat=True)
        )
        aes = [user for user, _, role, _ in people.reps if role == SalesRole.AE]
        # Drawn once, so an enterprise AE stays one from year to year.
        self.enterprise = {
            user for user in aes if rng.random() < ENTERPRISE_AE_SHARE and user not in demo_rep
        }
        self.rows: list[PlanAssignment] = []

    def assignments(self, years: list[int]) -> list[PlanAssignment]:
        for year in years:
            start, end = self.calendar.year_start(year), self.calendar.year_start(year + 1)
            end -= dt.timedelta(days=1)
            standard: list[PlanAssignment] = []
            for user, _, role, hired in self.people.reps:
                if hired > end:
                    continue  # not here yet
                slug = self._slug(user, role, hired, start)
                row = self._add(year, slug, user, max(hired, start), end)
                if slug == "ae-quota" and row.start_date == start:
                    standard.append(row)
            for user in self.people.front_line_managers:
                self._add(year, "manager", user, start, end)
            for user in self.people.leaders:
                self._add(year, "leadership", user, start, end)
            if end < self.org.as_of:
                self._moves(year, start, standard)
        return self.rows

    def _slug(self, user: int, role: str, hired: dt.date, year_start: dt.date) -> str:
        if role == SalesRole.AM:
            return "am"
        if role == SalesRole.SDR:
            return "sdr"
        if hired > year_start:
            return "ae-new-hire"
        return "ae-enterprise" if user in self.enterprise else "ae-quota"

    def _add(self, year: int, slug: str, user: int, start: dt.date, end: dt.date) -> PlanAssignment:
        accepted = None
        if self.rng.random() < ACCEPTED_SHARE:
            day = min(start + dt.timedelta(days=int(self.rng.random() * 10)), self.org.as_of)
            accepted = dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)
        row = PlanAssignment(
            plan=self.plans[(year, slug)],
            user_id=user,
            start_date=start,
            end_date=end,
            accepted_at=accepted,
            created_by=self.ops,
        )
        self.rows.append(row)
        return row

    def _moves(self, year: int, start: dt.date, candidates: list[PlanAssignment]) -> None:
        """A few AEs of a past year move to the enterprise plan at mid-year (a transfer), a
        few take a leave in the second quarter (a gap between two assignments on one plan)."""
        reps = len(self.people.reps)
        transfers, leaves = max(1, reps // 250), max(1, reps // 500)
        if len(candidates) < transfers + leaves:
            return
        picked = self.rng.sample(candidates, transfers + leaves)
        mid_year = self.calendar.periods(year, "quarter")[2].start
        leave = self.calendar.periods(year, "quarter")[1].start + dt.timedelta(days=20)
        for row in picked[:transfers]:
            end, row.end_date = row.end_date, mid_year - dt.timedelta(days=1)
            self._add(year, "ae-enterprise", row.user_id, mid_year, end)
        for row in picked[transfers:]:
            end, row.end_date = row.end_date, leave - dt.timedelta(days=1)
            self._add(year, "ae-quota", row.user_id, leave + dt.timedelta(days=LEAVE_DAYS), end)


# --- Runs (demo) -------------------------------------------------------------------------------


def _runs(
    as_of: dt.date,
    calendar: FiscalCalendar,
    paid: int,
    ops: User,
    finance: User,
    *,
    first_year: int,
) -> dict[str, int]:
    """The last ``paid`` completed quarters calculated, approved and paid in order, then the
    current quarter calculated and left for finance to approve."""
    current = calendar.period(as_of, PeriodKind.QUARTER)
    quarters = [calendar.shift(current, -n) for n in range(paid, 0, -1)]
    for quarter in quarters:
        if quarter.fiscal_year < first_year:
            continue
        run = _calculate(quarter.key, ops)
        with _audit_apart(acting_user=finance, reason="comp_run_approve"):
            run = runs.run_approve(run=run, acting_user=finance)
        with _audit_apart(acting_user=finance, reason="comp_run_paid"):
            runs.run_mark_paid(run=run, acting_user=finance)
    _calculate(current.key, ops)
    return {
        "commission_runs": CommissionRun.objects.count(),
        "payout_lines": PayoutLine.objects.count(),
    }


def _calculate(period_key: str, ops: User) -> CommissionRun:
    """Create and calculate a run as sales ops. The calculation runs here, synchronously: the
    queued request (``runs.run_calculate_request``) would also enqueue a worker task when the
    generator commits, for a run that is calculated by then."""
    with _audit_apart(acting_user=ops, reason="comp_run_create"):
        run = runs.run_create(period_key=period_key, acting_user=ops)
    with _audit_apart(acting_user=ops, reason="comp_run_calculate"):
        CommissionRun.objects.filter(pk=run.pk).update(
            status=RunStatus.CALCULATING, calculated_by=ops, step="Queued", progress=0
        )
        return runs.run_calculate(run_id=run.pk)

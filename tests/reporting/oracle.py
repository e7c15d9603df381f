"""An independent reference implementation of every KPI in docs/kpis.md, in pandas.

``expected(as_of)`` reads the raw rows (deals or their stage history, stages, accounts, leads,
activities, users, teams, rep profiles, exchange rates, the fiscal calendar) with the ORM's
``.values()`` and computes every KPI straight from the definitions in docs/kpis.md, one small
function per family of KPIs. It shares no code with ``reporting.engine`` on purpose: the tests in
test_kpi_oracle.py compare the two, so a mistake has to be made twice, the same way, to pass.

Money is ``Decimal`` throughout (amount x rate at full precision, never float); days and hours
are ``Decimal`` too. Readability over speed: the test organisations are small.

How the definitions are read where docs/kpis.md leaves room (see also the module constants):

- As of D: a deal exists when it has a history row on or before the end of D (org time zone)
  and was created by then; its state is its last such row by ``(changed_at, id)``. Without an
  as-of day the deals as they are now are used, and D (for amounts without a close date) is
  today's local date.
- A deal *enters* a stage with its first history row, and with every row whose stage differs
  from the stage of the row before it (by ``changed_at``, ``id``). An "imported" row written at
  import time for a deal whose earlier history was imported too is not an entry when the stage
  is the one the deal was already in.
- ``stage_conversion``: an entry converts when the deal later (by D) entered a won stage, or an
  open stage of the same pipeline at a higher position (a lost stage is not "further on", though
  it sits after the open ones by position). Entries and stays count to the deal's owner as of
  D, like every deal KPI, not to the owner at the time of the move.
- ``time_in_stage``: exact elapsed days between the entering and the leaving history rows
  (``(left_at - entered_at) / 1 day``), not the difference of their local dates. A stay ends at
  the first later row in another stage; its period is the local date of that row.
- ``cycle_length_*``: ``close_date - local date of created_at`` in whole days.
- Territory scope: the account's territory as it is now. Leads have no account, so no territory
  scope. Meetings count to the territory of the activity's account, or of its deal's account
  when the activity names only a deal.
- Which rows exist: a row for a (metric, period, scope, breakdown) exists where the metric's
  family of facts has at least one member, and then "nothing to measure" gives 0 for counts and
  sums and a blank for the rest (docs/kpis.md's rule only makes sense so). The families: deals
  closed in the period for ``bookings``, ``won_deals``, ``lost_deals``, ``win_rate``,
  ``win_rate_value``, ``average_deal_size`` and ``cycle_length_*`` (so ``lost_deals`` is 0 where
  only won deals closed); open deals with a close date in the period for ``open_deals``,
  ``pipeline`` and ``weighted_pipeline``; deals created in the period for ``deals_created`` and
  ``pipeline_created``; entries for ``stage_entries`` and ``stage_conversion``; ended stays for
  ``time_in_stage``; leads created in the period (by D) for ``lead_response_hours`` (blank when
  none was answered by D); meetings and demos done for ``meetings`` and ``meetings_per_rep``.
  ``sales_velocity`` has a row where ``open_deals`` or ``win_rate`` has one: 0 where no open
  deal closes in the period, blank where no deal was won (or none closed) in it.
- ``meetings_per_rep`` divides by 1 for every rep scope (also a manager's own, or a rep who has
  left); a territory has no defined headcount, so its row has the meetings as numerator and a
  blank value and denominator.
- Quotas: the ``Quota`` rows of published plans with a user and period kind ``month``, as they
  are now whatever D, counted in the month of their ``period_start``, in the corporate currency
  at the rate in force on that day when their plan's currency is another; they count to the rep,
  the rep's teams (as deals do) and the company, never a territory. ``quota`` has a row wherever
  a rep in the scope has such a quota in the period (0 when they are all 0).
- ``quota_attainment`` and ``pipeline_coverage`` are read like ``sales_velocity``: a row wherever
  one of their parts (bookings and quota; pipeline, quota and bookings) has one, a missing part
  counting 0; blank where the quota (or the quota still to book, ``quota - bookings`` when above
  0) is 0.
- ``quota_achievement_rate``: per rep and period, the rep's quota (its ``quota`` row at rep scope)
  against its bookings in the same period (its ``bookings`` row, 0 when none); a rep with a quota
  above 0 reached it when bookings >= quota. A scope counts the reps whose ``quota`` rows it sums:
  numerator the reps that reached, denominator those with a quota above 0; a row wherever one of
  them has a quota row in the period.
- Ratios carry numerator and denominator; a zero denominator gives a blank value. Counts, sums
  and medians carry no numerator and denominator here (the tests do not compare them).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import numpy as np
import pandas as pd
from django.utils import timezone

from crm.models import Account, Activity, Deal, DealHistory, Lead, Stage
from salesops.org.models import ExchangeRate, RepProfile, Team
from salesops.org.selectors import fiscal_calendar, org_settings
from territories.models import Quota, QuotaPlanStatus

KEY = ["metric", "period_kind", "period_key", "scope_kind", "scope_id", "breakdown"]
CELL = KEY[1:]
COLUMNS = [*KEY, "value", "numerator", "denominator"]
PERIOD_KINDS = ("month", "quarter", "year")
MEETING_KINDS = ("meeting", "demo")
ZERO = Decimal(0)
HUNDRED = Decimal(100)
SECONDS_PER_DAY = Decimal(86_400)
SECONDS_PER_HOUR = Decimal(3_600)

# Every KPI key of docs/kpis.md, by how the tests compare its value.
COUNTS = ("won_deals", "lost_deals", "open_deals", "deals_created", "stage_entries", "meetings")
SUMS = ("bookings", "pipeline", "weighted_pipeline", "pipeline_created", "quota")
RATIOS = (
    "win_rate",
    "win_rate_value",
    "average_deal_size",
    "cycle_length_mean",
    "stage_conversion",
    "time_in_stage",
    "meetings_per_rep",
    "quota_achievement_rate",
)
MEDIANS = ("cycle_length_median", "lead_response_hours")
DERIVED = ("sales_velocity", "quota_attainment", "pipeline_coverage")
METRICS = (*COUNTS, *SUMS, *RATIOS, *MEDIANS, *DERIVED)


def expected(as_of: dt.date | None = None) -> pd.DataFrame:
    """Every KPI row docs/kpis.md defines, as of the end of ``as_of`` (None: deals as they are)."""
    oracle = _Oracle(as_of)
    deals = oracle.deal_kpis()
    frames = [
        deals,
        oracle.quota_kpis(deals),
        oracle.stage_kpis(),
        oracle.lead_kpis(),
        oracle.meeting_kpis(),
    ]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    result = pd.concat(frames, ignore_index=True)
    return result[COLUMNS].sort_values(KEY, ignore_index=True)


def median_cont(values: Iterable) -> Decimal | None:
    """PostgreSQL ``percentile_cont(0.5)``: the middle value, or the mean of the two middle ones."""
    ordered = sorted(_decimal(v) for v in values if v is not None and not pd.isna(v))
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _dsum(values: pd.Series) -> Decimal:
    """Exact sum of the Decimals in ``values``, skipping blanks (0 when all are blank)."""
    return sum((v for v in values if v is not None and not pd.isna(v)), ZERO)


def _ratio(numerator, denominator) -> Decimal | None:
    numerator, denominator = _decimal(numerator), _decimal(denominator)
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _seconds(delta: dt.timedelta) -> Decimal:
    return Decimal(delta.days * 86_400 + delta.seconds) + Decimal(delta.microseconds) / 10**6


class _Oracle:
    def __init__(self, as_of: dt.date | None):
        self.as_of = as_of
        self.tz = timezone.get_default_timezone()
        self.day = as_of or timezone.localdate()
        # "The end of D": every row strictly before the next local midnight.
        self.end = (
            None
            if as_of is None
            else dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min, tzinfo=self.tz)
        )
        self.calendar = fiscal_calendar()
        self.corporate_currency = org_settings().corporate_currency
        self._period_keys: dict[tuple[dt.date, str], str] = {}
        self._load_rates()
        self._load_org()
        self.stages = pd.DataFrame(
            list(
                Stage.objects.values(
                    "id", "pipeline_id", "position", "probability", "is_won", "is_lost"
                )
            )  # fmt: skip
        ).set_index("id")
        self.territory_of_account = {
            a["id"]: a["territory_id"]
            for a in Account.objects.filter(territory_id__isnull=False).values("id", "territory_id")
        }

    # --- reference data ---------------------------------------------------------------------
    def _load_rates(self) -> None:
        self.rates: dict[str, tuple[list[dt.date], list[Decimal]]] = {}
        for row in ExchangeRate.objects.order_by("currency", "valid_from").values(
            "currency", "valid_from", "rate"
        ):
            days, rates = self.rates.setdefault(row["currency"], ([], []))
            days.append(row["valid_from"])
            rates.append(row["rate"])

    def rate_on(self, currency: str, day: dt.date) -> Decimal | None:
        """The latest rate whose ``valid_from`` is on or before ``day`` (None: no rate that early)."""
        if currency == self.corporate_currency:
            return Decimal(1)
        days, rates = self.rates.get(currency, ([], []))
        index = bisect.bisect_right(days, day)
        return rates[index - 1] if index else None

    def to_corporate(self, amount, currency: str, close_date) -> Decimal | None:
        if amount is None or pd.isna(amount):
            return None
        day = close_date if isinstance(close_date, dt.date) else self.day
        rate = self.rate_on(currency, day)
        return None if rate is None else amount * rate

    def _load_org(self) -> None:
        """Teams each user's records count to, and the active reps under each team."""
        teams = list(Team.objects.values("id", "parent_id", "manager_id"))
        parent = {t["id"]: t["parent_id"] for t in teams}

        def with_ancestors(team_id: int) -> tuple[int, ...]:
            chain = []
            while team_id is not None:
                chain.append(team_id)
                team_id = parent[team_id]
            return tuple(chain)

        home: dict[int, int] = {}
        for team in sorted(teams, key=lambda t: t["id"], reverse=True):
            if team["manager_id"] is not None:
                home[team["manager_id"]] = team["id"]  # ends at the lowest id managed
        profiles = list(
            RepProfile.objects.values("user_id", "team_id", "active", "user__is_active")
        )
        for profile in profiles:
            home[profile["user_id"]] = profile["team_id"]  # a rep profile wins
        self.teams_of_user = {user: with_ancestors(team) for user, team in home.items()}

        self.active_reps: dict[tuple[str, int], int] = {("company", 0): 0}
        for profile in profiles:
            if profile["active"] and profile["user__is_active"]:
                self.active_reps[("company", 0)] += 1
                for team_id in with_ancestors(profile["team_id"]):
                    self.active_reps[("team", team_id)] = (
                        self.active_reps.get(("team", team_id), 0) + 1
                    )

    def period_key(self, day: dt.date, kind: str) -> str:
        key = self._period_keys.get((day, kind))
        if key is None:
            key = self._period_keys[(day, kind)] = self.calendar.period(day, kind).key
        return key

    def local_date(self, moments: pd.Series) -> pd.Series:
        return moments.map(lambda moment: timezone.localtime(moment, self.tz).date())

    # --- expanding facts into cells ---------------------------------------------------------
    def cells(self, facts: pd.DataFrame, date_column: str, *, territory: bool) -> pd.DataFrame:
        """``facts`` once per (period, scope) each counts to; needs ``owner_id`` (0: no owner),
        ``territory_id`` (None: none) and ``breakdown`` columns."""
        if facts.empty:
            return facts.assign(**{c: [] for c in CELL})
        scoped = [facts.assign(scope_kind="company", scope_id=0)]
        owned = facts[facts["owner_id"] != 0]
        scoped.append(owned.assign(scope_kind="rep", scope_id=owned["owner_id"]))
        teams = owned.assign(
            scope_kind="team", scope_id=owned["owner_id"].map(lambda u: self.teams_of_user.get(u))
        )
        teams = teams[teams["scope_id"].notna()].explode("scope_id")
        scoped.append(teams)
        if territory:
            placed = facts[facts["territory_id"].notna()]
            scoped.append(placed.assign(scope_kind="territory", scope_id=placed["territory_id"]))
        scoped = pd.concat(scoped, ignore_index=True)
        scoped["scope_id"] = scoped["scope_id"].astype(int)
        periods = [
            scoped.assign(
                period_kind=kind,
                period_key=scoped[date_column].map(lambda day, k=kind: self.period_key(day, k)),
            )
            for kind in PERIOD_KINDS
        ]
        return pd.concat(periods, ignore_index=True)

    # --- deals as of D ----------------------------------------------------------------------
    def deal_states(self) -> pd.DataFrame:
        """Each deal that exists at the end of D, with its state then and amount in corporate
        currency: deal_id, owner_id, stage_id, amount, currency, close_date, probability,
        created_on, account_id, territory_id, amount_corp, is_won, is_lost."""
        deals = pd.DataFrame(
            list(Deal.objects.values("id", "created_at", "account_id")),
            columns=["id", "created_at", "account_id"],
        ).rename(columns={"id": "deal_id"})
        if self.as_of is None:
            states = pd.DataFrame(
                list(
                    Deal.objects.values(
                        "id", "owner_id", "stage_id", "amount", "currency", "close_date",
                        "probability",
                    )
                ),
                columns=["id", "owner_id", "stage_id", "amount", "currency", "close_date",
                         "probability"],
            ).rename(columns={"id": "deal_id"})  # fmt: skip
        else:
            states = self.history_as_of()
            deals = deals[deals["created_at"].map(lambda c: c < self.end)]
        states = states.merge(deals, on="deal_id", how="inner")
        states["created_on"] = self.local_date(states["created_at"])
        states["territory_id"] = states["account_id"].map(self.territory_of_account)
        stage = self.stages.loc[states["stage_id"]]
        states["is_won"] = stage["is_won"].to_numpy()
        states["is_lost"] = stage["is_lost"].to_numpy()
        states["close_date"] = (
            states["close_date"].astype(object).where(states["close_date"].notna(), None)
        )
        states["amount_corp"] = [
            self.to_corporate(amount, currency, close)
            for amount, currency, close in zip(
                states["amount"], states["currency"], states["close_date"], strict=True
            )
        ]
        return states

    def history_as_of(self) -> pd.DataFrame:
        """The last history row of each deal on or before the end of D, as a deal state."""
        fields = {f.name for f in DealHistory._meta.get_fields()}
        probability = next((f for f in ("to_probability", "probability") if f in fields), None)
        columns = ["id", "deal_id", "changed_at", "to_owner_id", "to_stage_id", "to_amount",
                   "currency", "to_close_date"] + ([probability] if probability else [])  # fmt: skip
        rows = pd.DataFrame(
            list(DealHistory.objects.filter(changed_at__lt=self.end).values(*columns)),
            columns=columns,
        )
        last = rows.sort_values(["deal_id", "changed_at", "id"]).groupby("deal_id").tail(1)
        stage_probability = self.stages["probability"]
        recorded = last[probability] if probability else pd.Series(None, index=last.index)
        last = last.assign(
            probability=[
                p if p is not None and not pd.isna(p) else stage_probability[s]
                for p, s in zip(recorded, last["to_stage_id"], strict=True)
            ]
        )
        return last.rename(
            columns={
                "to_owner_id": "owner_id",
                "to_stage_id": "stage_id",
                "to_amount": "amount",
                "to_close_date": "close_date",
            }
        )[["deal_id", "owner_id", "stage_id", "amount", "currency", "close_date", "probability"]]

    # --- Deals --------------------------------------------------------------------------------
    def deal_kpis(self) -> pd.DataFrame:
        deals = self.deal_states()
        if deals.empty:
            return pd.DataFrame(columns=COLUMNS)
        deals["breakdown"] = ""
        dated = deals[deals["close_date"].notna()]
        closed = dated[dated["is_won"] | dated["is_lost"]].copy()
        open_ = dated[~(dated["is_won"] | dated["is_lost"])].copy()
        frames = []

        # Closed in the period (by close date): won, lost, rates, size, cycle.
        closed["won_amount"] = closed["amount_corp"].where(closed["is_won"], None)
        closed["cycle_days"] = [
            Decimal((close - created).days) if won else None
            for close, created, won in zip(
                closed["close_date"], closed["created_on"], closed["is_won"], strict=True
            )
        ]
        cells = self.cells(closed, "close_date", territory=True)
        agg = _group(
            cells,
            won=("is_won", "sum"),
            lost=("is_lost", "sum"),
            closed=("is_won", "size"),
            won_amount=("won_amount", _dsum),
            won_with_amount=("won_amount", "count"),
            closed_amount=("amount_corp", _dsum),
            cycle_sum=("cycle_days", _dsum),
            cycle_median=("cycle_days", median_cont),
        )
        agg["won"] = agg["won"].astype(int)
        agg["lost"] = agg["lost"].astype(int)
        # Every closed-deal KPI has a row wherever a deal closed: counts and sums are 0 there
        # when none of the deals is won (or lost), the others blank.
        frames.append(_rows("bookings", agg, agg["won_amount"]))
        frames.append(_rows("won_deals", agg, agg["won"]))
        frames.append(_rows("lost_deals", agg, agg["lost"]))
        frames.append(_ratio_rows("win_rate", agg, agg["won"], agg["closed"]))
        frames.append(_ratio_rows("win_rate_value", agg, agg["won_amount"], agg["closed_amount"]))
        frames.append(
            _ratio_rows("average_deal_size", agg, agg["won_amount"], agg["won_with_amount"])
        )
        frames.append(_ratio_rows("cycle_length_mean", agg, agg["cycle_sum"], agg["won"]))
        frames.append(_rows("cycle_length_median", agg, agg["cycle_median"]))

        # Open deals whose close date falls in the period.
        open_["weighted"] = [
            None if amount is None else amount * Decimal(probability) / HUNDRED
            for amount, probability in zip(open_["amount_corp"], open_["probability"], strict=True)
        ]
        cells = self.cells(open_, "close_date", territory=True)
        pipe = _group(
            cells,
            count=("deal_id", "size"),
            pipeline=("amount_corp", _dsum),
            weighted=("weighted", _dsum),
        )
        frames.append(_rows("open_deals", pipe, pipe["count"]))
        frames.append(_rows("pipeline", pipe, pipe["pipeline"]))
        frames.append(_rows("weighted_pipeline", pipe, pipe["weighted"]))

        # Created in the period (local date of created_at).
        cells = self.cells(deals, "created_on", territory=True)
        created = _group(cells, count=("deal_id", "size"), amount=("amount_corp", _dsum))
        frames.append(_rows("deals_created", created, created["count"]))
        frames.append(_rows("pipeline_created", created, created["amount"]))

        frames.append(self.sales_velocity(agg, pipe))
        return pd.concat([f for f in frames if not f.empty], ignore_index=True)

    @staticmethod
    def sales_velocity(closed: pd.DataFrame, open_: pd.DataFrame) -> pd.DataFrame:
        """open_deals x win_rate x average_deal_size / cycle_length_mean, per cell; blank when a
        part is blank or the cycle is 0."""
        parts = pd.DataFrame(index=closed.index.union(open_.index))
        parts["open"] = open_["count"].reindex(parts.index).fillna(0).map(_decimal)
        closed = closed.reindex(parts.index)
        values = []
        for open_count, won, n_closed, won_amount, with_amount, cycle_sum in zip(
            parts["open"], closed["won"], closed["closed"], closed["won_amount"],
            closed["won_with_amount"], closed["cycle_sum"], strict=True,
        ):  # fmt: skip
            win_rate = None if pd.isna(n_closed) else _ratio(won, n_closed)
            has_won = not pd.isna(won) and won > 0
            size = _ratio(won_amount, with_amount) if has_won else None
            cycle = _ratio(cycle_sum, won) if has_won else None
            if win_rate is None or size is None or cycle is None or cycle == 0:
                values.append(None)
            else:
                values.append(open_count * win_rate * size / cycle)
        return _rows("sales_velocity", parts, pd.Series(values, index=parts.index, dtype=object))

    # --- Stages -------------------------------------------------------------------------------
    def stage_kpis(self) -> pd.DataFrame:
        history = DealHistory.objects.all()
        if self.end is not None:
            history = history.filter(changed_at__lt=self.end)
        rows = history.order_by("deal_id", "changed_at", "id").values_list(
            "deal_id", "changed_at", "to_stage_id"
        )
        owner_of = self.owner_as_of()
        account_of = dict(Deal.objects.values_list("id", "account_id"))
        entries, stays = [], []
        by_deal: dict[int, list[tuple[dt.datetime, int]]] = {}
        for deal_id, changed_at, stage_id in rows:
            by_deal.setdefault(deal_id, []).append((changed_at, stage_id))
        for deal_id, moves in by_deal.items():
            facts = {
                "owner_id": owner_of.get(deal_id, 0),
                "territory_id": self.territory_of_account.get(account_of[deal_id]),
            }
            # entries: (index into moves, stage) where the stage differs from the one before
            entered = [
                (i, stage_id)
                for i, (_, stage_id) in enumerate(moves)
                if i == 0 or moves[i - 1][1] != stage_id
            ]
            for n, (i, stage_id) in enumerate(entered):
                later = [s for _, s in entered[n + 1 :]]
                entries.append(
                    {
                        **facts,
                        "breakdown": str(stage_id),
                        "day": timezone.localtime(moves[i][0], self.tz).date(),
                        "converted": any(self.further_on(stage_id, s) for s in later),
                    }
                )
                if n + 1 < len(entered):  # left at the next entry, into another stage
                    left_at = moves[entered[n + 1][0]][0]
                    stays.append(
                        {
                            **facts,
                            "breakdown": str(stage_id),
                            "day": timezone.localtime(left_at, self.tz).date(),
                            "days": _seconds(left_at - moves[i][0]) / SECONDS_PER_DAY,
                        }
                    )
        frames = []
        if entries:
            cells = self.cells(pd.DataFrame(entries), "day", territory=True)
            agg = _group(cells, entries=("converted", "size"), converted=("converted", "sum"))
            frames.append(_rows("stage_entries", agg, agg["entries"]))
            frames.append(_ratio_rows("stage_conversion", agg, agg["converted"], agg["entries"]))
        if stays:
            cells = self.cells(pd.DataFrame(stays), "day", territory=True)
            agg = _group(cells, stays=("days", "size"), days=("days", _dsum))
            frames.append(_ratio_rows("time_in_stage", agg, agg["days"], agg["stays"]))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)

    def further_on(self, stage_id: int, later_id: int) -> bool:
        """Whether entering ``later_id`` after ``stage_id`` is progress: a won stage, or an open
        stage of the same pipeline at a higher position."""
        stage, later = self.stages.loc[stage_id], self.stages.loc[later_id]
        if later["is_won"]:
            return True
        return (
            not later["is_lost"]
            and later["pipeline_id"] == stage["pipeline_id"]
            and later["position"] > stage["position"]
        )

    def owner_as_of(self) -> dict[int, int]:
        if self.end is None:
            return dict(Deal.objects.values_list("id", "owner_id"))
        rows = (
            DealHistory.objects.filter(changed_at__lt=self.end)
            .order_by("deal_id", "changed_at", "id")
            .values_list("deal_id", "to_owner_id")
        )
        return dict(rows)  # the last row of each deal wins

    # --- Leads and activities -----------------------------------------------------------------
    def lead_kpis(self) -> pd.DataFrame:
        """Leads created in the period (by D); the median over those answered by D."""
        leads = Lead.objects.all()
        if self.end is not None:
            leads = leads.filter(created_at__lt=self.end)
        rows = list(leads.values("id", "owner_id", "created_at", "first_response_at"))
        if not rows:
            return pd.DataFrame(columns=COLUMNS)
        for row in rows:
            answered = row["first_response_at"]
            if answered is not None and (self.end is None or answered < self.end):
                row["hours"] = _seconds(answered - row["created_at"]) / SECONDS_PER_HOUR
            else:
                row["hours"] = None
            row["owner_id"] = row["owner_id"] or 0
            row["day"] = timezone.localtime(row["created_at"], self.tz).date()
        leads = pd.DataFrame(rows).assign(territory_id=None, breakdown="")
        cells = self.cells(leads, "day", territory=False)
        agg = _group(cells, hours=("hours", median_cont))
        return _rows("lead_response_hours", agg, agg["hours"])

    def meeting_kpis(self) -> pd.DataFrame:
        meetings = Activity.objects.filter(kind__in=MEETING_KINDS, done_at__isnull=False)
        if self.end is not None:
            meetings = meetings.filter(done_at__lt=self.end)
        columns = ["id", "owner_id", "done_at", "account_id", "deal__account_id"]
        meetings = pd.DataFrame(list(meetings.values(*columns)), columns=columns)
        if meetings.empty:
            return pd.DataFrame(columns=COLUMNS)
        account = meetings["account_id"].where(
            meetings["account_id"].notna(), meetings["deal__account_id"]
        )
        meetings["territory_id"] = account.map(
            lambda a: None if pd.isna(a) else self.territory_of_account.get(int(a))
        )
        meetings["breakdown"] = ""
        meetings["day"] = self.local_date(meetings["done_at"])
        cells = self.cells(meetings, "day", territory=True)
        agg = _group(cells, count=("id", "size"))
        frames = [_rows("meetings", agg, agg["count"])]
        # The headcount: 1 for a rep, the active reps of a team's subtree or of the company;
        # none is defined for a territory, so its value is blank.
        reps = [
            1 if kind == "rep" else self.active_reps.get((kind, scope_id), 0)
            for kind, scope_id in zip(
                agg.index.get_level_values("scope_kind"),
                agg.index.get_level_values("scope_id"),
                strict=True,
            )
        ]
        reps = pd.Series(reps, index=agg.index, dtype=object)
        reps[agg.index.get_level_values("scope_kind") == "territory"] = None
        frames.append(_ratio_rows("meetings_per_rep", agg, agg["count"], reps))
        return pd.concat(frames, ignore_index=True)

    # --- Quotas -------------------------------------------------------------------------------
    def quota_kpis(self, deal_rows: pd.DataFrame) -> pd.DataFrame:
        """``quota`` from the quotas; attainment and coverage from each cell's bookings,
        pipeline and quota rows; the achievement rate from each rep's quota and bookings rows."""
        columns = ["user_id", "period_start", "amount", "plan__currency"]
        quotas = Quota.objects.filter(
            plan__status=QuotaPlanStatus.PUBLISHED, period_kind="month", user__isnull=False
        )
        quotas = pd.DataFrame(list(quotas.values(*columns)), columns=columns)
        frames = []
        if not quotas.empty:
            quotas = quotas.rename(columns={"user_id": "owner_id"})
            quotas["amount"] = [
                self.to_corporate(amount, currency, start)
                for amount, currency, start in zip(
                    quotas["amount"], quotas["plan__currency"], quotas["period_start"], strict=True
                )
            ]
            quotas = quotas.assign(territory_id=None, breakdown="")
            cells = self.cells(quotas, "period_start", territory=False)
            agg = _group(cells, quota=("amount", _dsum))
            frames.append(_rows("quota", agg, agg["quota"]))
        quota = _values(frames[0] if frames else None, "quota")
        bookings = _values(deal_rows, "bookings")
        pipeline = _values(deal_rows, "pipeline")

        def get(values: dict, cell: tuple) -> Decimal:
            return values.get(cell) or ZERO

        rows = []
        for cell in sorted(bookings.keys() | quota.keys()):
            value = _ratio(get(bookings, cell), get(quota, cell))
            rows.append(_row("quota_attainment", cell, value))
        for cell in sorted(pipeline.keys() | quota.keys() | bookings.keys()):
            left = max(get(quota, cell) - get(bookings, cell), ZERO)
            rows.append(_row("pipeline_coverage", cell, _ratio(get(pipeline, cell), left)))

        # Each rep with a quota row in a period, reached or not, counted in the rep's scopes.
        counts: dict[tuple, list[int]] = {}
        for cell, rep_quota in quota.items():
            period_kind, period_key, scope_kind, user, _ = cell
            if scope_kind != "rep":
                continue
            carrying = rep_quota > 0
            reached = carrying and get(bookings, cell) >= rep_quota
            scopes = [("rep", user), ("company", 0)]
            scopes += [("team", team) for team in self.teams_of_user.get(user, ())]
            for scope in scopes:
                count = counts.setdefault((period_kind, period_key, *scope, ""), [0, 0])
                count[0] += reached
                count[1] += carrying
        for cell, (reached, carrying) in sorted(counts.items()):
            rows.append(_row("quota_achievement_rate", cell, _ratio(reached, carrying),
                             Decimal(reached), Decimal(carrying)))  # fmt: skip
        frames.append(pd.DataFrame(rows, columns=COLUMNS))
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def _values(rows: pd.DataFrame | None, metric: str) -> dict[tuple, Decimal | None]:
    """``metric``'s value in each cell (a CELL tuple) of the KPI rows ``rows``."""
    if rows is None or rows.empty:
        return {}
    rows = rows[rows["metric"] == metric]
    return {tuple(r[:-1]): r[-1] for r in rows[[*CELL, "value"]].itertuples(index=False)}


def _row(metric: str, cell: tuple, value, numerator=None, denominator=None) -> dict:
    return {"metric": metric, **dict(zip(CELL, cell, strict=True)), "value": value,
            "numerator": numerator, "denominator": denominator}  # fmt: skip


def _group(cells: pd.DataFrame, **aggregates) -> pd.DataFrame:
    """``cells`` grouped by CELL with the named aggregates (an empty frame for no cells)."""
    if cells.empty:
        index = pd.MultiIndex.from_tuples([], names=CELL)
        return pd.DataFrame({name: pd.Series(dtype=object) for name in aggregates}, index=index)
    return cells.groupby(CELL).agg(**aggregates)


def _rows(metric: str, agg: pd.DataFrame, value: pd.Series, numerator=None, denominator=None):
    """KPI rows for the cells of ``agg`` (indexed by CELL)."""
    if agg.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = agg.index.to_frame(index=False)
    rows.insert(0, "metric", metric)
    rows["value"] = _decimals(value)
    rows["numerator"] = _decimals(numerator) if numerator is not None else None
    rows["denominator"] = _decimals(denominator) if denominator is not None else None
    return rows


def _ratio_rows(metric: str, agg: pd.DataFrame, numerator: pd.Series, denominator: pd.Series):
    values = [_ratio(n, d) for n, d in zip(numerator, denominator, strict=True)]
    return _rows(metric, agg, pd.Series(values, index=agg.index), numerator, denominator)


def _decimal(value) -> Decimal | None:
    if value is None or pd.isna(value):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, np.integer | np.bool_ | bool):
        return Decimal(int(value))
    return Decimal(value)


def _decimals(values: Iterable) -> list[Decimal | None]:
    return [_decimal(v) for v in values]

"""Every KPI, defined once: what it measures, over which facts, and how it aggregates.

A definition names a fact source (``reporting.facts``: one row per closed deal, open deal, stage
stay, lead, monthly rep quota, …, with the date that decides its period) and says how its value
is made from those rows: a sum, a ratio of two sums, a median, sums per rep, an expression over
other KPIs, or the share of reps whose one sum reached another. The engine turns all definitions
of a source into one set-based query, so adding a KPI is adding a definition here (and its line
in docs/kpis.md and its test) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Unit(StrEnum):
    MONEY = "money"
    COUNT = "count"
    PERCENT = "percent"  # stored as a fraction: 0.25 is 25 %
    DAYS = "days"
    HOURS = "hours"
    MONEY_PER_DAY = "money_per_day"
    RATIO = "ratio"  # a multiple: 2.5 is shown as 2.5×


@dataclass(frozen=True)
class Measure:
    """``sum(expression)`` over the source's rows for which ``where`` holds (SQL over fact columns)."""

    expression: str = "1"
    where: str = "TRUE"

    def sql(self) -> str:
        return f"sum(CASE WHEN {self.where} THEN {self.expression} END)"


# Denominator meaning "active reps in the scope" (1 for a rep).
HEADCOUNT = "headcount"


@dataclass(frozen=True)
class ShareOfReps:
    """The share of the scope's reps, among those whose ``target`` is above 0 in the period, whose
    ``achieved`` reached ``threshold`` × their ``target`` (1: all of it).

    ``achieved`` and ``target`` are keys of sums (KPIs made of a ``numerator`` alone, not per
    stage), read per rep from their own facts with the filters that apply to each. Each rep is
    judged over the whole period: a quarter's bookings against the quarter's quota, not month by
    month. The reps of a scope are the rep itself, for a team those whose own team is in its
    subtree (active or not: the same reps whose sums the team's sums hold), for the company every
    rep; there is no territory figure. Numerator: the reps that reached; denominator: the reps
    with a target above 0 (so a rep's figure is 1 or 0 over 1). A scope has a row wherever a rep
    of it has ``target`` facts in the period, blank when none of them has a target above 0.
    """

    achieved: str
    target: str
    threshold: Decimal = Decimal(1)


@dataclass(frozen=True)
class Kpi:
    """One KPI. Exactly one of ``numerator`` (with an optional ``denominator``), ``median``,
    ``derived`` or ``share_of_reps`` says how its value is made.

    - ``numerator`` only: a sum or a count.
    - ``numerator`` and ``denominator``: their ratio (a Measure, or ``HEADCOUNT``).
    - ``median``: the median of ``median.expression`` over the rows where ``median.where`` holds.
    - ``derived``: a SQL expression over other KPIs' values (``uses``) of the same scope and
      period.
    - ``share_of_reps``: how many of the scope's reps reached a target (see ``ShareOfReps``);
      ``uses`` is filled in with the two KPIs it compares.
    """

    key: str
    label: str
    unit: Unit
    definition: str
    source: str = ""
    numerator: Measure | None = None
    denominator: Measure | str | None = None
    median: Measure | None = None
    derived: str = ""
    share_of_reps: ShareOfReps | None = None
    uses: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        kinds = [self.numerator, self.median, self.derived or None, self.share_of_reps]
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError(f"KPI '{self.key}': give exactly one of numerator, median, derived "
                             "or share_of_reps.")  # fmt: skip
        if self.share_of_reps is not None and not self.uses:
            share = self.share_of_reps
            object.__setattr__(self, "uses", (share.achieved, share.target))

    @property
    def additive(self) -> bool:
        """Sums and counts: a scope or period with no rows is 0, not blank."""
        return self.numerator is not None and self.denominator is None

    @property
    def per_stage(self) -> bool:
        return self.source in STAGE_SOURCES


STAGE_SOURCES = frozenset({"stage_entries", "stage_exits"})

_WON = "is_won"
_LOST = "is_lost"
_CLOSED = "(is_won OR is_lost)"
_HAS_AMOUNT = "amount IS NOT NULL"

KPIS: tuple[Kpi, ...] = (
    # --- closed deals (period: close date) ---
    Kpi("bookings", "Bookings", Unit.MONEY,
        "Sum of the amounts of won deals closed in the period.",
        "closed_deals", numerator=Measure("amount", _WON)),
    Kpi("won_deals", "Won deals", Unit.COUNT,
        "Number of won deals closed in the period.",
        "closed_deals", numerator=Measure("1", _WON)),
    Kpi("lost_deals", "Lost deals", Unit.COUNT,
        "Number of lost deals closed in the period.",
        "closed_deals", numerator=Measure("1", _LOST)),
    Kpi("win_rate", "Win rate", Unit.PERCENT,
        "Won deals ÷ (won + lost deals), closed in the period.",
        "closed_deals", numerator=Measure("1", _WON), denominator=Measure("1", _CLOSED)),
    Kpi("win_rate_value", "Win rate by value", Unit.PERCENT,
        "Won amount ÷ (won + lost amount), closed in the period.",
        "closed_deals", numerator=Measure("amount", _WON),
        denominator=Measure("amount", _CLOSED)),
    Kpi("average_deal_size", "Average deal size", Unit.MONEY,
        "Won amount ÷ won deals with an amount, closed in the period.",
        "closed_deals", numerator=Measure("amount", _WON),
        denominator=Measure("1", f"{_WON} AND {_HAS_AMOUNT}")),
    Kpi("cycle_length_mean", "Sales cycle (mean)", Unit.DAYS,
        "Mean days from creation to close date, won deals closed in the period.",
        "closed_deals", numerator=Measure("cycle_days", _WON),
        denominator=Measure("1", _WON)),
    Kpi("cycle_length_median", "Sales cycle (median)", Unit.DAYS,
        "Median days from creation to close date, won deals closed in the period.",
        "closed_deals", median=Measure("cycle_days", _WON)),
    # --- open deals (period: close date) ---
    Kpi("open_deals", "Open deals", Unit.COUNT,
        "Number of open deals whose close date falls in the period.",
        "open_deals", numerator=Measure("1")),
    Kpi("pipeline", "Pipeline", Unit.MONEY,
        "Sum of the amounts of open deals whose close date falls in the period.",
        "open_deals", numerator=Measure("amount")),
    Kpi("weighted_pipeline", "Weighted pipeline", Unit.MONEY,
        "Sum of amount × probability ÷ 100 of open deals whose close date falls in the period.",
        "open_deals", numerator=Measure("amount * probability / 100")),
    # --- created deals (period: creation date) ---
    Kpi("deals_created", "Deals created", Unit.COUNT,
        "Number of deals created in the period.",
        "created_deals", numerator=Measure("1")),
    Kpi("pipeline_created", "Pipeline created", Unit.MONEY,
        "Sum of the amounts of the deals created in the period.",
        "created_deals", numerator=Measure("amount")),
    # --- stages (breakdown: stage) ---
    Kpi("stage_entries", "Stage entries", Unit.COUNT,
        "Number of times a deal entered the stage during the period (the funnel).",
        "stage_entries", numerator=Measure("1")),
    Kpi("stage_conversion", "Stage conversion", Unit.PERCENT,
        "Of the entries into the stage during the period, the share whose deal later entered a "
        "stage further on in the pipeline or a won stage.",
        "stage_entries", numerator=Measure("1", "advanced"), denominator=Measure("1")),
    Kpi("time_in_stage", "Time in stage", Unit.DAYS,
        "Mean days from entering the stage to leaving it, over stays that ended in the period.",
        "stage_exits", numerator=Measure("stay_days"), denominator=Measure("1")),
    # --- leads and activities ---
    Kpi("lead_response_hours", "Lead response time", Unit.HOURS,
        "Median hours from a lead's creation to its first response, leads created in the "
        "period that had been answered.",
        "leads", median=Measure("response_hours", "response_hours IS NOT NULL")),
    Kpi("meetings", "Prospect meetings", Unit.COUNT,
        "Number of meetings and demos done in the period.",
        "meetings", numerator=Measure("1")),
    Kpi("meetings_per_rep", "Meetings per rep", Unit.COUNT,
        "Meetings and demos done in the period ÷ active reps in the scope.",
        "meetings", numerator=Measure("1"), denominator=HEADCOUNT),
    # --- quotas (period: the quota's month) ---
    Kpi("quota", "Quota", Unit.MONEY,
        "Sum of the reps' monthly quotas of published quota plans, for the months of the period.",
        "quotas", numerator=Measure("amount")),
    Kpi("quota_achievement_rate", "Quota achievement rate", Unit.PERCENT,
        "Of the reps with a quota above 0 in the period, the share whose bookings in the period "
        "reached their quota.",
        share_of_reps=ShareOfReps(achieved="bookings", target="quota")),
    # --- derived from the KPIs above, same scope and period ---
    Kpi("sales_velocity", "Sales velocity", Unit.MONEY_PER_DAY,
        "Open deals × win rate × average deal size ÷ mean sales cycle: money per day.",
        derived="open_deals * win_rate * average_deal_size / NULLIF(cycle_length_mean, 0)",
        uses=("open_deals", "win_rate", "average_deal_size", "cycle_length_mean")),
    Kpi("quota_attainment", "Quota attainment", Unit.PERCENT,
        "Bookings ÷ quota.",
        derived="bookings / NULLIF(quota, 0)", uses=("bookings", "quota")),
    Kpi("pipeline_coverage", "Pipeline coverage", Unit.RATIO,
        "Pipeline ÷ the quota still to book (quota − bookings, when above 0): how many times "
        "the open deals closing in the period cover what is left of the quota.",
        derived="pipeline / NULLIF(GREATEST(quota - bookings, 0), 0)",
        uses=("pipeline", "quota", "bookings")),
)  # fmt: skip

REGISTRY: dict[str, Kpi] = {kpi.key: kpi for kpi in KPIS}


def _check(kpis: tuple[Kpi, ...]) -> None:
    """What the engine relies on: parts exist, and a share of reps compares two sums."""
    for kpi in kpis:
        missing = [key for key in kpi.uses if key not in REGISTRY]
        if missing:
            raise ValueError(f"KPI '{kpi.key}' uses unknown KPIs: {', '.join(missing)}.")
        share = kpi.share_of_reps
        for key in (share.achieved, share.target) if share else ():
            part = REGISTRY[key]
            if not part.additive or not part.source or part.per_stage:
                raise ValueError(f"KPI '{kpi.key}' compares '{key}', which is not a sum of "
                                 "facts per rep.")  # fmt: skip


_check(KPIS)


def get(key: str) -> Kpi:
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"There is no KPI '{key}'. Known: {', '.join(REGISTRY)}.") from None

"""Every KPI, defined once: what it measures, over which facts, and how it aggregates.

A definition names a fact source (``reporting.facts``: one row per closed deal, open deal, stage
stay, lead, …, with the date that decides its period) and says how its value is made from those
rows: a sum, a ratio of two sums, a median, sums per rep, or an expression over other KPIs. The
engine turns all definitions of a source into one set-based query, so adding a KPI is adding a
definition here (and its line in docs/kpis.md and its test) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Unit(StrEnum):
    MONEY = "money"
    COUNT = "count"
    PERCENT = "percent"  # stored as a fraction: 0.25 is 25 %
    DAYS = "days"
    HOURS = "hours"
    MONEY_PER_DAY = "money_per_day"


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
class Kpi:
    """One KPI. Exactly one of ``numerator`` (with an optional ``denominator``), ``median`` or
    ``derived`` says how its value is made.

    - ``numerator`` only: a sum or a count.
    - ``numerator`` and ``denominator``: their ratio (a Measure, or ``HEADCOUNT``).
    - ``median``: the median of ``median.expression`` over the rows where ``median.where`` holds.
    - ``derived``: a SQL expression over other KPIs' values of the same scope and period.
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
    uses: tuple[str, ...] = field(default=())

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
    # --- derived from the KPIs above, same scope and period ---
    Kpi("sales_velocity", "Sales velocity", Unit.MONEY_PER_DAY,
        "Open deals × win rate × average deal size ÷ mean sales cycle: money per day.",
        derived="open_deals * win_rate * average_deal_size / NULLIF(cycle_length_mean, 0)",
        uses=("open_deals", "win_rate", "average_deal_size", "cycle_length_mean")),
)  # fmt: skip

REGISTRY: dict[str, Kpi] = {kpi.key: kpi for kpi in KPIS}


def get(key: str) -> Kpi:
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"There is no KPI '{key}'. Known: {', '.join(REGISTRY)}.") from None

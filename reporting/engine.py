"""The KPI engine: every definition in ``reporting.kpis``, computed with set-based SQL.

For each fact source the engine runs one query: facts are summed per owner, territory, stage and
month first (the grain), then rolled up into every period (month, quarter, year) and every scope
(rep, each team above the rep, territory and each territory above it, company) at once. Medians are taken over the facts
themselves (they do not roll up), shares of reps over per-rep sums of the facts, and derived KPIs
over the results. Results land in a temporary table, which ``compute`` reads back and
``reporting.services`` copies into ``KpiValue``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from reporting import facts
from reporting.kpis import HEADCOUNT, KPIS, REGISTRY, Kpi, Measure, Unit
from salesops.fiscal import FiscalCalendar, PeriodKind
from salesops.org.selectors import fiscal_calendar, org_settings

# A count of every fact, marking the cells where a source has facts (then dropped).
_CELLS = Kpi("_cells", "", Unit.COUNT, "", numerator=Measure("1"))

# Fiscal periods the engine knows; facts dated outside them count nowhere.
FIRST_YEAR, LAST_YEAR = 1900, 2200
RESULT_TABLE = "kpi_result"


@dataclass(frozen=True)
class KpiRow:
    metric: str
    period_kind: str
    period_key: str
    scope_kind: str
    scope_id: int
    breakdown: str
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None


@dataclass(frozen=True)
class Filters:
    """Narrow the facts to one pipeline, segment or deal type (lead KPIs ignore pipeline and
    deal type, which leads do not have; meetings ignore pipeline and deal type; quotas, which
    have none of them, are never filtered)."""

    pipeline_id: int | None = None
    segment: str | None = None
    deal_type: str | None = None

    def sql(self, source: str) -> str:
        dimensions = _DIMENSIONS[source]
        parts = []
        if self.pipeline_id is not None and "pipeline_id" in dimensions:
            parts.append("f.pipeline_id = %(pipeline_id)s")
        if self.segment and "segment" in dimensions:
            parts.append("f.segment = %(segment)s")
        if self.deal_type and "deal_type" in dimensions:
            parts.append("f.deal_type = %(deal_type)s")
        return " AND ".join(parts) or "TRUE"


_DEAL_DIMENSIONS = frozenset({"pipeline_id", "segment", "deal_type"})
_DIMENSIONS = {
    "closed_deals": _DEAL_DIMENSIONS,
    "open_deals": _DEAL_DIMENSIONS,
    "created_deals": _DEAL_DIMENSIONS,
    "stage_entries": _DEAL_DIMENSIONS,
    "stage_exits": _DEAL_DIMENSIONS,
    "leads": frozenset(),
    "meetings": frozenset({"segment"}),
    "quotas": frozenset(),
}


def compute(
    as_of: dt.date | None = None,
    metrics: Iterable[str] | None = None,
    *,
    period_keys: Iterable[str] | None = None,
    scopes: Iterable[tuple[str, int]] | None = None,
    filters: Filters | None = None,
) -> list[KpiRow]:
    """KPI values as of the end of ``as_of`` (default: the deals as they are now).

    One row per KPI, period, scope and breakdown that has facts; ``period_keys`` and ``scopes``
    (``("team", 7)``, ``("company", 0)``) narrow what is computed.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        fill_results(
            cursor, as_of=as_of, metrics=metrics, period_keys=period_keys, scopes=scopes,
            filters=filters,
        )  # fmt: skip
        cursor.execute(
            f"SELECT metric, period_kind, period_key, scope_kind, scope_id, breakdown, value, "
            f"numerator, denominator FROM {RESULT_TABLE} "
            "ORDER BY metric, scope_kind, scope_id, period_kind, period_key, breakdown"
        )
        rows = [KpiRow(*row) for row in cursor.fetchall()]
        _drop_temporary_tables(cursor)
        return rows


def fill_results(
    cursor,
    *,
    as_of: dt.date | None = None,
    metrics: Iterable[str] | None = None,
    period_keys: Iterable[str] | None = None,
    scopes: Iterable[tuple[str, int]] | None = None,
    filters: Filters | None = None,
) -> None:
    """Compute into the temporary table ``kpi_result`` (inside the caller's transaction)."""
    wanted = [REGISTRY[key] for key in metrics] if metrics is not None else list(KPIS)
    needed = _with_components(wanted)
    filters = filters or Filters()
    params = _parameters(as_of, filters)
    _drop_temporary_tables(cursor)
    bounds = _create_periods(cursor, period_keys)
    if bounds is None:
        _create_result_table(cursor)
        return
    params["lo"], params["hi"] = bounds
    params["lo_at"] = _start_of(bounds[0])
    params["hi_at"] = _start_of(bounds[1] + dt.timedelta(days=2))
    scoped = _create_scope_tables(cursor, scopes)
    params["all_owners"] = not _create_owner_filter(cursor, scopes)
    _create_result_table(cursor)
    sources = list(dict.fromkeys(kpi.source for kpi in needed if kpi.source))
    # Sorts and hashes over every deal and stay fit in memory instead of spilling to disk.
    cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.SALESOPS_KPI_WORK_MEM])
    _create_shared_facts(cursor, {facts.NEEDS[source] for source in sources}, as_of, params)
    for source in sources:
        of_source = [kpi for kpi in needed if kpi.source == source]
        summed = [kpi for kpi in of_source if kpi.numerator is not None]
        medians = [kpi for kpi in of_source if kpi.median is not None]
        prefix = _source_sql(source, filters)
        if medians:
            summed.append(_CELLS)  # where the source has facts: where a median row belongs
        if summed:
            cursor.execute(_summed_sql(prefix, summed, scoped), params)
        for kpi in medians:
            cursor.execute(_median_sql(prefix, kpi, scoped), params)
            cursor.execute(_blank_median_sql(kpi))
        if medians:
            cursor.execute(f"DELETE FROM {RESULT_TABLE} WHERE metric = %s", [_CELLS.key])
    for kpi in needed:
        if kpi.share_of_reps is not None:
            cursor.execute(_share_of_reps_sql(kpi, filters, scoped), params)
    for kpi in needed:
        if kpi.derived:
            cursor.execute(_derived_sql(kpi))
    unwanted = {kpi.key for kpi in needed} - {kpi.key for kpi in wanted}
    if unwanted:
        cursor.execute(f"DELETE FROM {RESULT_TABLE} WHERE metric = ANY(%s)", [sorted(unwanted)])


def _with_components(kpis: list[Kpi]) -> list[Kpi]:
    """``kpis`` plus the KPIs their derived ones are made of, components first."""
    ordered: dict[str, Kpi] = {}

    def add(kpi: Kpi) -> None:
        for key in kpi.uses:
            add(REGISTRY[key])
        ordered.setdefault(kpi.key, kpi)

    for kpi in kpis:
        add(kpi)
    return list(ordered.values())


def _parameters(as_of: dt.date | None, filters: Filters) -> dict:
    today = timezone.localdate()
    day = as_of or today
    return {
        # Now: everything recorded counts (a generator or import may date rows later today).
        "until": _start_of(day + dt.timedelta(days=1)) if as_of else "infinity",
        "tz": settings.TIME_ZONE,
        "corporate": org_settings().corporate_currency,
        "today": day,
        "pipeline_id": filters.pipeline_id,
        "segment": filters.segment,
        "deal_type": filters.deal_type,
    }


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _create_periods(cursor, period_keys: Iterable[str] | None) -> tuple[dt.date, dt.date] | None:
    """Map every month to the month, quarter and year it belongs to (only ``period_keys`` when
    given); returns the first and last day covered, or None when nothing is."""
    keys = set(period_keys) if period_keys is not None else None
    rows = [row for row in _month_map(fiscal_calendar()) if keys is None or row[2] in keys]
    cursor.execute(
        "CREATE TEMPORARY TABLE kpi_period ON COMMIT DROP AS "
        "SELECT * FROM unnest(%s::date[], %s::text[], %s::text[], %s::date[]) "
        "AS p(month, period_kind, period_key, period_start)",
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]],
    )
    cursor.execute("CREATE INDEX ON kpi_period (month)")
    cursor.execute("ANALYZE kpi_period")  # temporary tables get no statistics otherwise
    if not rows:
        return None
    return min(r[0] for r in rows), max(r[4] for r in rows)


@functools.lru_cache(maxsize=4)
def _month_map(calendar: FiscalCalendar) -> tuple[tuple, ...]:
    """(month start, period kind, period key, period start, month end) for every month and kind
    of the years the engine knows, for one fiscal calendar (computed once per process)."""
    rows = []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        for month in calendar.periods(year, PeriodKind.MONTH):
            for kind in PeriodKind:
                period = month if kind is PeriodKind.MONTH else calendar.period(month.start, kind)
                rows.append((month.start, kind.value, period.key, period.start, month.end))
    return tuple(rows)


def _create_scope_tables(cursor, scopes: Iterable[tuple[str, int]] | None) -> bool:
    """Owner → teams, headcount per scope and, when ``scopes`` is given, the scopes wanted."""
    cursor.execute(f"CREATE TEMPORARY TABLE kpi_owner_team ON COMMIT DROP AS {facts.OWNER_TEAMS}")
    cursor.execute("CREATE INDEX ON kpi_owner_team (owner_id)")
    cursor.execute(f"CREATE TEMPORARY TABLE kpi_home_team ON COMMIT DROP AS {facts.HOME_TEAMS}")
    cursor.execute(f"CREATE TEMPORARY TABLE kpi_team_up ON COMMIT DROP AS {facts.TEAMS_UP}")
    cursor.execute(f"CREATE TEMPORARY TABLE kpi_headcount ON COMMIT DROP AS {facts.HEADCOUNT}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE kpi_territory_up ON COMMIT DROP AS {facts.TERRITORIES_UP}"
    )
    cursor.execute(
        "ANALYZE kpi_owner_team, kpi_home_team, kpi_team_up, kpi_headcount, kpi_territory_up"
    )
    if scopes is None:
        return False
    kinds, ids = zip(*scopes, strict=True) if scopes else ((), ())
    cursor.execute(
        "CREATE TEMPORARY TABLE kpi_scope ON COMMIT DROP AS "
        "SELECT DISTINCT * FROM unnest(%s::text[], %s::bigint[]) AS s(scope_kind, scope_id)",
        [list(kinds), list(ids)],
    )
    return True


def _create_owner_filter(cursor, scopes: Iterable[tuple[str, int]] | None) -> bool:
    """When only reps and teams are asked for, the owners whose facts can count in them (the
    reps, and everyone whose team is in a team's subtree), so facts are read for them alone.
    Returns whether the facts are narrowed so."""
    cursor.execute("CREATE TEMPORARY TABLE kpi_owners (owner_id bigint) ON COMMIT DROP")
    scopes = list(scopes) if scopes is not None else None
    if not scopes or any(kind not in ("rep", "team") for kind, _ in scopes):
        return False
    cursor.execute(
        "INSERT INTO kpi_owners SELECT unnest(%s::bigint[]) UNION "
        "SELECT h.owner_id FROM kpi_home_team h JOIN kpi_team_up u ON u.team_id = h.team_id "
        "WHERE u.ancestor_id = ANY(%s::bigint[])",
        [[i for k, i in scopes if k == "rep"], [i for k, i in scopes if k == "team"]],
    )
    cursor.execute("ANALYZE kpi_owners")
    return True


def _create_result_table(cursor) -> None:
    cursor.execute(
        f"CREATE TEMPORARY TABLE {RESULT_TABLE} ("
        "metric text, period_kind text, period_key text, period_start date, scope_kind text, "
        "scope_id bigint, breakdown text, value numeric, numerator numeric, denominator numeric"
        ") ON COMMIT DROP"
    )


def _drop_temporary_tables(cursor) -> None:
    cursor.execute(
        "DROP TABLE IF EXISTS kpi_period, kpi_owner_team, kpi_home_team, kpi_team_up, "
        f"kpi_headcount, kpi_territory_up, kpi_scope, kpi_owners, kpi_deals, kpi_stays, {RESULT_TABLE}"
    )


def _create_shared_facts(cursor, tables: set[str | None], as_of, params: dict) -> None:
    """Deals (as of the moment) and stage stays, computed once for all the sources reading them."""
    if "kpi_deals" in tables:
        state = facts.HISTORY_DEAL_STATE if as_of is not None else facts.CURRENT_DEAL_STATE
        deals = facts.DEALS.replace("{state}", state)
        cursor.execute(f"CREATE TEMPORARY TABLE kpi_deals ON COMMIT DROP AS {deals}", params)
        cursor.execute("ANALYZE kpi_deals")
    if "kpi_stays" in tables:
        cursor.execute(f"CREATE TEMPORARY TABLE kpi_stays ON COMMIT DROP AS {facts.STAYS}", params)
        cursor.execute("ANALYZE kpi_stays")


def _facts_sql(source: str, filters: Filters) -> str:
    """The source's rows in the computed periods, filtered."""
    return (
        f"SELECT f.* FROM ({facts.SOURCES[source]}) f "
        f"WHERE f.period_date BETWEEN %(lo)s AND %(hi)s AND {filters.sql(source)}"
    )


def _source_sql(source: str, filters: Filters) -> str:
    """``WITH facts AS (…)``: the source's rows in the computed periods, filtered."""
    return f"WITH facts AS ({_facts_sql(source, filters)})"


def _scopes_of(alias: str) -> str:
    """The scopes a fact (or grain) row counts in."""
    return f"""CROSS JOIN LATERAL (
        SELECT 'company'::text AS scope_kind, 0::bigint AS scope_id
        UNION ALL SELECT 'rep', {alias}.owner_id WHERE {alias}.owner_id IS NOT NULL
        UNION ALL SELECT 'team', ot.team_id FROM kpi_owner_team ot
                  WHERE ot.owner_id = {alias}.owner_id
        UNION ALL SELECT 'territory', coalesce(up.ancestor_id, {alias}.territory_id)
                  FROM (SELECT 1) one
                  LEFT JOIN kpi_territory_up up ON up.territory_id = {alias}.territory_id
                  WHERE {alias}.territory_id IS NOT NULL
    ) s"""


def _in_scopes(scoped: bool) -> str:
    """The condition that a cell's scope is one of those asked for (TRUE when all are)."""
    if not scoped:
        return "TRUE"
    return (
        "EXISTS (SELECT 1 FROM kpi_scope k "
        "WHERE k.scope_kind = s.scope_kind AND k.scope_id = s.scope_id)"
    )


_CELL = "p.period_kind, p.period_key, p.period_start, s.scope_kind, s.scope_id"
_CELL_COLUMNS = "period_kind, period_key, period_start, scope_kind, scope_id, breakdown"


def _summed_sql(prefix: str, kpis: list[Kpi], scoped: bool) -> str:
    """Sums and ratios of one source: grain per owner/territory/stage/month, then roll-up."""
    parts: dict[Measure, str] = {}
    for kpi in kpis:
        for measure in (kpi.numerator, kpi.denominator):
            if isinstance(measure, Measure):
                parts.setdefault(measure, f"m{len(parts)}")
    grain = ", ".join(
        f"sum(CASE WHEN {m.where} THEN ({m.expression})::numeric END) AS {name}"
        for m, name in parts.items()
    )
    values = []
    for kpi in kpis:
        numerator = f"c.{parts[kpi.numerator]}"
        if kpi.denominator is None:
            values.append(f"('{kpi.key}', coalesce({numerator}, 0), coalesce({numerator}, 0), "
                          "NULL::numeric)")  # fmt: skip
            continue
        denominator = (
            # a rep is one rep, whether or not still active; a team counts its active reps
            "(CASE WHEN c.scope_kind = 'rep' THEN 1 ELSE hc.reps END)::numeric"
            if kpi.denominator == HEADCOUNT
            else f"coalesce(c.{parts[kpi.denominator]}, 0)"
        )
        values.append(
            f"('{kpi.key}', coalesce({numerator}, 0) / NULLIF({denominator}, 0), "
            f"coalesce({numerator}, 0), {denominator})"
        )
    names = list(parts.values())

    def summed(alias: str = "") -> str:
        return ", ".join(f"sum({alias}{name}) AS {name}" for name in names)

    return f"""{prefix},
    grain AS (
        SELECT owner_id, territory_id, breakdown, date_trunc('month', period_date)::date AS month,
               {grain}
        FROM facts GROUP BY 1, 2, 3, 4
    ),
    -- per scope and month: a team sums its reps' teams first, then passes the sums up the tree
    by_month AS (
        SELECT 'rep'::text AS scope_kind, owner_id AS scope_id, breakdown, month, {summed()}
        FROM grain WHERE owner_id IS NOT NULL GROUP BY owner_id, breakdown, month
        UNION ALL
        SELECT 'team', up.ancestor_id, t.breakdown, t.month, {summed("t.")}
        FROM (
            SELECT home.team_id, g.breakdown, g.month, {summed("g.")}
            FROM grain g JOIN kpi_home_team home ON home.owner_id = g.owner_id
            GROUP BY home.team_id, g.breakdown, g.month
        ) t
        JOIN kpi_team_up up ON up.team_id = t.team_id
        GROUP BY up.ancestor_id, t.breakdown, t.month
        UNION ALL
        SELECT 'company', 0, breakdown, month, {summed()} FROM grain GROUP BY breakdown, month
        UNION ALL
        SELECT 'territory', coalesce(up.ancestor_id, t.territory_id), t.breakdown, t.month,
               {summed("t.")}
        FROM (
            SELECT territory_id, breakdown, month, {summed()}
            FROM grain WHERE territory_id IS NOT NULL GROUP BY territory_id, breakdown, month
        ) t
        LEFT JOIN kpi_territory_up up ON up.territory_id = t.territory_id
        GROUP BY 2, t.breakdown, t.month
    ),
    cells AS (
        SELECT {_CELL}, s.breakdown, {summed("s.")}
        FROM by_month s JOIN kpi_period p ON p.month = s.month
        WHERE {_in_scopes(scoped)}
        GROUP BY {_CELL}, s.breakdown
    )
    INSERT INTO {RESULT_TABLE} ({_CELL_COLUMNS}, metric, value, numerator, denominator)
    SELECT c.period_kind, c.period_key, c.period_start, c.scope_kind, c.scope_id, c.breakdown,
           v.metric, v.value, v.numerator, v.denominator
    FROM cells c
    LEFT JOIN kpi_headcount hc ON hc.scope_kind = c.scope_kind AND hc.scope_id = c.scope_id
    CROSS JOIN LATERAL (VALUES {", ".join(values)}) AS v(metric, value, numerator, denominator)
    """


def _median_sql(prefix: str, kpi: Kpi, scoped: bool) -> str:
    """The median over the facts themselves (only those it measures, before they are spread
    over scopes and periods); the denominator column holds how many there were."""
    measure = kpi.median
    return f"""{prefix}
    INSERT INTO {RESULT_TABLE} ({_CELL_COLUMNS}, metric, value, numerator, denominator)
    SELECT {_CELL}, f.breakdown, '{kpi.key}',
           (percentile_cont(0.5) WITHIN GROUP (ORDER BY ({measure.expression})::float8))::numeric,
           NULL, count(*)
    FROM facts f JOIN kpi_period p ON p.month = date_trunc('month', f.period_date)::date
    {_scopes_of("f")}
    WHERE {measure.where} AND {_in_scopes(scoped)}
    GROUP BY {_CELL}, f.breakdown
    """


def _blank_median_sql(kpi: Kpi) -> str:
    """A blank row of the median where the source has facts but none it measures."""
    return f"""
    INSERT INTO {RESULT_TABLE} ({_CELL_COLUMNS}, metric, value, numerator, denominator)
    SELECT {_CELL_COLUMNS}, '{kpi.key}', NULL, NULL, 0
    FROM {RESULT_TABLE} c
    WHERE c.metric = '{_CELLS.key}' AND NOT EXISTS (
        SELECT 1 FROM {RESULT_TABLE} m
        WHERE m.metric = '{kpi.key}' AND m.scope_kind = c.scope_kind
          AND m.scope_id = c.scope_id AND m.period_key = c.period_key
          AND m.breakdown = c.breakdown)
    """


def _share_of_reps_sql(kpi: Kpi, filters: Filters, scoped: bool) -> str:
    """A share of reps (``kpis.ShareOfReps``): each rep's two sums per period, each from its own
    facts and filtered as its source is; whether the rep carries a target and reached it; then
    how many did, per scope (a team counts its own reps first, then passes the counts up the
    tree, as sums do). Numerator: reps that reached; denominator: reps carrying a target."""
    share = kpi.share_of_reps
    achieved, target = REGISTRY[share.achieved], REGISTRY[share.target]

    def per_month(part: Kpi, name: str, reps: str = "TRUE") -> str:
        measure = part.numerator
        return f"""
        SELECT f.owner_id, date_trunc('month', f.period_date)::date AS month,
               sum(CASE WHEN {measure.where} THEN ({measure.expression})::numeric END) AS {name}
        FROM ({_facts_sql(part.source, filters)}) f
        WHERE f.owner_id IS NOT NULL AND {reps}
        GROUP BY 1, 2"""

    def per_period(name: str) -> str:
        return f"""
        SELECT p.period_kind, p.period_key, p.period_start, m.owner_id, sum(m.{name}) AS {name}
        FROM {name}_month m JOIN kpi_period p ON p.month = m.month
        GROUP BY 1, 2, 3, 4"""

    with_target = "f.owner_id IN (SELECT owner_id FROM target_month)"
    counts = "sum(r.reached) AS reached, sum(r.carrying) AS carrying"
    return f"""
    WITH target_month AS ({per_month(target, "target")}),
    achieved_month AS ({per_month(achieved, "achieved", with_target)}),
    target_period AS ({per_period("target")}),
    achieved_period AS ({per_period("achieved")}),
    -- every rep with target facts in the period: 1 or 0 for carrying a target and reaching it
    reps AS (
        SELECT t.period_kind, t.period_key, t.period_start, t.owner_id,
               (coalesce(t.target, 0) > 0)::int AS carrying,
               (coalesce(t.target, 0) > 0
                AND coalesce(a.achieved, 0) >= {share.threshold} * t.target)::int AS reached
        FROM target_period t
        LEFT JOIN achieved_period a ON a.period_key = t.period_key AND a.owner_id = t.owner_id
    ),
    by_scope AS (
        SELECT r.period_kind, r.period_key, r.period_start, 'rep'::text AS scope_kind,
               r.owner_id AS scope_id, r.reached, r.carrying
        FROM reps r
        UNION ALL
        SELECT r.period_kind, r.period_key, r.period_start, 'team', up.ancestor_id, {counts}
        FROM (
            SELECT r.period_kind, r.period_key, r.period_start, home.team_id, {counts}
            FROM reps r JOIN kpi_home_team home ON home.owner_id = r.owner_id
            GROUP BY 1, 2, 3, 4
        ) r
        JOIN kpi_team_up up ON up.team_id = r.team_id
        GROUP BY r.period_kind, r.period_key, r.period_start, up.ancestor_id
        UNION ALL
        SELECT r.period_kind, r.period_key, r.period_start, 'company', 0, {counts}
        FROM reps r GROUP BY r.period_kind, r.period_key, r.period_start
    )
    INSERT INTO {RESULT_TABLE} ({_CELL_COLUMNS}, metric, value, numerator, denominator)
    SELECT s.period_kind, s.period_key, s.period_start, s.scope_kind, s.scope_id, '',
           '{kpi.key}', s.reached::numeric / NULLIF(s.carrying, 0), s.reached, s.carrying
    FROM by_scope s
    WHERE {_in_scopes(scoped)}
    """


def _derived_sql(kpi: Kpi) -> str:
    """A KPI made of others of the same cell, wherever any of them has a row: a missing sum or
    count is 0, a missing ratio or median leaves the derived KPI blank."""
    columns = ", ".join(
        (f"coalesce(max(value) FILTER (WHERE metric = '{key}'), 0) AS {key}"
         if REGISTRY[key].additive else f"max(value) FILTER (WHERE metric = '{key}') AS {key}")
        for key in kpi.uses
    )  # fmt: skip
    uses = ", ".join(f"'{key}'" for key in kpi.uses)
    return f"""
    INSERT INTO {RESULT_TABLE} ({_CELL_COLUMNS}, metric, value, numerator, denominator)
    SELECT {_CELL_COLUMNS}, '{kpi.key}', {kpi.derived}, NULL, NULL
    FROM (
        SELECT {_CELL_COLUMNS}, {columns}
        FROM {RESULT_TABLE} WHERE metric IN ({uses})
        GROUP BY {_CELL_COLUMNS}
    ) x
    """

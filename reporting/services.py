"""Recompute the KPI snapshots: everything (nightly), or what changed (every few minutes).

Both run in one transaction under one advisory lock, so they never overlap and a failed run
leaves the previous figures and the change marks as they were.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.utils import timezone

from reporting import engine
from reporting.facts import OWNER_TEAMS, TERRITORIES_UP
from reporting.models import KpiRun, ScopeKind
from salesops.fiscal import PeriodKind
from salesops.org.selectors import fiscal_calendar

# pg_advisory_xact_lock key of KPI recomputes ("KPI" in ASCII).
RECOMPUTE_LOCK = 0x4B5049


def kpi_recompute_full() -> KpiRun:
    """Recompute every KPI for every period and scope, replacing all snapshots."""
    run = KpiRun.objects.create(kind=KpiRun.Kind.FULL, started_at=timezone.now())
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RECOMPUTE_LOCK])
            cursor.execute("SELECT coalesce(max(id), 0) FROM reporting_kpidirtymark")
            (last_mark,) = cursor.fetchone()
            engine.fill_results(cursor)
            written = _write_results(cursor, stale="TRUE")
            cursor.execute(
                f"SELECT count(DISTINCT period_key) FROM {engine.RESULT_TABLE} "
                "WHERE scope_kind = 'company'"
            )
            (periods,) = cursor.fetchone()
            cursor.execute("DELETE FROM reporting_kpidirtymark WHERE id <= %s", [last_mark])
    except Exception as error:
        _finish(run, KpiRun.Status.FAILED, problem=f"{type(error).__name__}: {error}")
        raise
    return _finish(run, KpiRun.Status.DONE, written=written, periods=periods)


def kpi_recompute_changed() -> KpiRun | None:
    """Recompute the periods and scopes that changes marked since the last run (None: none)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RECOMPUTE_LOCK])
        cursor.execute("DELETE FROM reporting_kpidirtymark RETURNING owner_id, day, territory_id")
        marks = cursor.fetchall()
        if not marks:
            return None
        run = KpiRun.objects.create(kind=KpiRun.Kind.INCREMENTAL, started_at=timezone.now())
        period_keys = _periods_of({day for _, day, _ in marks})
        scopes = _scopes_of(
            {owner for owner, _, _ in marks if owner is not None},
            {territory for _, _, territory in marks if territory is not None},
        )
        engine.fill_results(cursor, period_keys=period_keys, scopes=scopes)
        written = _write_results(
            cursor,
            stale="v.period_key IN (SELECT period_key FROM kpi_period) AND EXISTS (SELECT 1 FROM "
            "kpi_scope k WHERE k.scope_kind = v.scope_kind AND k.scope_id = v.scope_id)",
        )
    return _finish(run, KpiRun.Status.DONE, written=written, periods=len(period_keys))


def last_run() -> KpiRun | None:
    """The latest finished recompute: pages say "figures as of …" from it."""
    return KpiRun.objects.filter(status=KpiRun.Status.DONE).order_by("-finished_at").first()


def _write_results(cursor, *, stale: str) -> int:
    """Bring the snapshots in line with ``kpi_result``, writing only what differs.

    Values that did not change are left alone (most of them, night after night), which keeps the
    write, its WAL and the table's bloat small. ``stale`` (SQL over ``v``) selects the snapshot
    rows this run recomputed: those without a result any more are deleted. Returns the number of
    values inserted, updated or deleted.
    """
    cell = (
        "v.scope_kind = r.scope_kind AND v.scope_id = r.scope_id AND v.metric = r.metric "
        "AND v.period_key = r.period_key AND v.breakdown = r.breakdown"
    )
    cursor.execute(
        f"DELETE FROM reporting_kpivalue v WHERE {stale} "
        f"AND NOT EXISTS (SELECT 1 FROM {engine.RESULT_TABLE} r WHERE {cell})"
    )
    deleted = cursor.rowcount
    cursor.execute(
        f"MERGE INTO reporting_kpivalue v USING ("
        "SELECT metric, period_kind, period_key, period_start, scope_kind, scope_id, breakdown, "
        "round(value, 10) AS value, round(numerator, 10) AS numerator, "
        f"round(denominator, 10) AS denominator FROM {engine.RESULT_TABLE}) r ON {cell} "
        "WHEN MATCHED AND (v.value IS DISTINCT FROM r.value "
        "OR v.numerator IS DISTINCT FROM r.numerator "
        "OR v.denominator IS DISTINCT FROM r.denominator) THEN UPDATE SET value = r.value, "
        "numerator = r.numerator, denominator = r.denominator, computed_at = now() "
        "WHEN NOT MATCHED THEN INSERT (metric, period_kind, period_key, period_start, "
        "scope_kind, scope_id, breakdown, value, numerator, denominator, computed_at) VALUES ("
        "r.metric, r.period_kind, r.period_key, r.period_start, r.scope_kind, r.scope_id, "
        "r.breakdown, r.value, r.numerator, r.denominator, now())"
    )
    return deleted + cursor.rowcount


def _periods_of(days: set[dt.date]) -> set[str]:
    """The keys of the months, quarters and years that contain ``days``."""
    calendar = fiscal_calendar()
    months = {day.replace(day=1) for day in days}
    return {calendar.period(month, kind).key for month in months for kind in PeriodKind}


def _scopes_of(owners: set[int], territories: set[int]) -> list[tuple[str, int]]:
    """Each owner, every team above them, their territories and every territory above those,
    and the company."""
    scopes = [(ScopeKind.COMPANY.value, 0)]
    scopes += [(ScopeKind.REP.value, owner) for owner in owners]
    if territories:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT ancestor_id FROM ({TERRITORIES_UP}) t WHERE territory_id = ANY(%s)",
                [sorted(territories)],
            )
            territories = territories | {ancestor for (ancestor,) in cursor.fetchall()}
    scopes += [(ScopeKind.TERRITORY.value, territory) for territory in sorted(territories)]
    if owners:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT team_id FROM ({OWNER_TEAMS}) t WHERE owner_id = ANY(%s)",
                [sorted(owners)],
            )
            scopes += [(ScopeKind.TEAM.value, team) for (team,) in cursor.fetchall()]
    return scopes


def _finish(run: KpiRun, status: str, *, written: int = 0, periods: int = 0, problem: str = ""):
    run.status = status
    run.finished_at = timezone.now()
    run.values_written = written
    run.periods = periods
    run.problem = problem
    run.save()
    return run

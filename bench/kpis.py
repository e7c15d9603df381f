"""KPI recompute: every snapshot (the nightly run) and what one deal change marked (the run every
few minutes), against one sequential scan of the deals and their stage history.

``kpi_recompute_full()`` rebuilds every row of ``reporting_kpivalue`` and is timed once.
``kpi_recompute_changed()`` is timed ``changes`` times, each right after one open deal's amount
and close date were changed through ``crm.services.deal_update`` as the ops login: the dirty-mark
trigger on stage history marks that deal's owner and days, and the recompute redoes their periods
and scopes. Afterwards every changed deal gets its amount and close date back through the same
service and one more (untimed) incremental recompute brings the snapshots in line with the data,
so the org ends as it was, except that each changed deal has ``version`` two higher, two more
history rows, two more audit events and ``updated_by`` = ops. The same deals (lowest ids) are
picked on every run. The KPI snapshots are kept: they are what the dashboards read.

Floor: ``SELECT count(*), sum(amount) FROM crm_deal`` and ``SELECT count(*), max(changed_at)
FROM crm_dealhistory``, timed together in one transaction with index, index-only and bitmap scans
and parallel workers switched off (the plans are checked to be plain sequential scans): reading
every deal and every history row once, which any full recompute must do at least. The floor is
timed before and after the full recompute and before each incremental one; every row uses the
median of all those samples. The ratio reads "how many sequential reads of the deal tables".
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from bench.measure import Result, p95

CHANGES = 5
FLOOR_LABEL = "seq scan crm_deal + crm_dealhistory (floor)"
FLOOR_NOTE = (
    "kpis: floor = SELECT count(*), sum(amount) FROM crm_deal plus SELECT count(*), "
    "max(changed_at) FROM crm_dealhistory, one transaction, index/bitmap scans and parallel "
    "workers off (plain sequential scans), median of the samples taken around the recomputes; "
    "ratio = recompute / floor; the '÷ full' row's floor is the full recompute"
)
# Counted and checked to be read by a plain "Seq Scan" (and nothing else) in the floor.
FLOOR_SQL = {
    "crm_deal": "SELECT count(*), sum(amount) FROM crm_deal",
    "crm_dealhistory": "SELECT count(*), max(changed_at) FROM crm_dealhistory",
}
_SEQUENTIAL_ONLY = (
    "SET LOCAL enable_indexscan = off",
    "SET LOCAL enable_indexonlyscan = off",
    "SET LOCAL enable_bitmapscan = off",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)
AMOUNT_STEP = Decimal("1000.00")
CLOSE_DATE_STEP = dt.timedelta(days=31)  # into the next month, as when a deal slips


@dataclass
class _Deal:
    pk: int
    version: int
    amount: Decimal  # as found: put back afterwards
    close_date: dt.date


def run(*, changes: int = CHANGES) -> list[Result]:
    """Time the floor, one full recompute and ``changes`` incremental ones."""
    from reporting.services import kpi_recompute_changed, kpi_recompute_full

    rows_scanned = _check_floor_plans()
    _floor()  # warm-up: the tables' pages in memory, as for every figure after it
    floor_s = [_floor()]
    started = time.perf_counter()
    full = kpi_recompute_full()
    full_s = time.perf_counter() - started
    floor_s.append(_floor())

    deals = _pick_deals(changes)
    if len(deals) < changes:
        raise RuntimeError(f"bench: only {len(deals)} open deals to change, {changes} needed")
    changed_s: list[float] = []
    values: list[int] = []
    periods: list[int] = []
    try:
        kpi_recompute_changed()  # anything marked since the full run (nothing, normally)
        for deal in deals:
            floor_s.append(_floor())
            _update(
                deal, amount=deal.amount + AMOUNT_STEP, close_date=deal.close_date + CLOSE_DATE_STEP
            )
            started = time.perf_counter()
            done = kpi_recompute_changed()
            changed_s.append(time.perf_counter() - started)
            if done is None:
                raise RuntimeError(f"bench: changing deal {deal.pk} marked nothing to recompute")
            values.append(done.values_written)
            periods.append(done.periods)
    finally:
        _restore(deals)
        kpi_recompute_changed()

    floor = statistics.median(floor_s)
    floor_p95 = p95(floor_s)
    changed = statistics.median(changed_s)
    scanned = " + ".join(f"{rows:,} {table}" for table, rows in rows_scanned.items())
    return [
        Result(
            FLOOR_LABEL, floor, floor, "s", 1.0,
            f"{scanned} rows, median of {len(floor_s)}", floor_p95, floor_p95,
        ),
        Result(
            "kpi_recompute_full()", full_s, floor, "s", full_s / floor,
            f"{full.values_written:,} values written, {full.periods} periods; 1 run",
        ),
        Result(
            "kpi_recompute_changed() after 1 deal change", changed, floor, "s", changed / floor,
            f"median of {len(changed_s)} deals (amount, close date +31 d); "
            f"{_span(values)} values written, {_span(periods)} periods",
            p95(changed_s), floor_p95,
        ),
        Result(
            "kpi_recompute_changed() after 1 deal change ÷ full", changed, full_s, "s",
            changed / full_s, "floor = kpi_recompute_full() above",
        ),
    ]  # fmt: skip


def _floor() -> float:
    """Seconds to read every deal and every history row once, sequentially, in one backend."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _SEQUENTIAL_ONLY:
            cursor.execute(statement)
        started = time.perf_counter()
        for sql in FLOOR_SQL.values():
            cursor.execute(sql)
            cursor.fetchone()
        return time.perf_counter() - started


def _check_floor_plans() -> dict[str, int]:
    """Refuse a floor that is not one plain sequential scan per table; count the rows it reads."""
    counts = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _SEQUENTIAL_ONLY:
            cursor.execute(statement)
        for table, sql in FLOOR_SQL.items():
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            (plan,) = cursor.fetchone()
            nodes = list(_plan_nodes(plan[0]["Plan"]))
            scans = [n for n in nodes if "Relation Name" in n or "Scan" in n["Node Type"]]
            kinds = sorted({(n["Node Type"], n.get("Relation Name")) for n in scans})
            if kinds != [("Seq Scan", table)] or any(n["Node Type"] == "Gather" for n in nodes):
                raise RuntimeError(f"bench: the floor's {sql!r} is not one Seq Scan: {kinds}")
            cursor.execute(sql)
            counts[table] = cursor.fetchone()[0]
    return counts


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def _pick_deals(count: int) -> list[_Deal]:
    """Open deals with an amount and a close date whose stage needs nothing they lack: lowest
    ids first, so every run changes the same few deals."""
    from crm.models import Deal
    from crm.rules import deal_values, missing_fields

    candidates = (
        Deal.objects.open()
        .filter(amount__isnull=False, close_date__isnull=False)
        .select_related("stage")
        .order_by("pk")[: count * 4]
    )
    picked = [
        _Deal(deal.pk, deal.version, deal.amount, deal.close_date)
        for deal in candidates
        if not missing_fields(deal_values(deal), deal.stage)
    ]
    return picked[:count]


def _ops_user():
    from salesops.org.generate import DEMO_LOGINS
    from salesops.org.models import User
    from salesops.org.roles import Role

    return User.objects.get(username=DEMO_LOGINS[Role.OPS])


def _update(deal: _Deal, **changes) -> None:
    from crm.models import Deal
    from crm.services import deal_update

    saved = deal_update(
        deal=Deal(pk=deal.pk), acting_user=_ops_user(), expected_version=deal.version, **changes
    )
    deal.version = saved.version


def _restore(deals: list[_Deal]) -> None:
    """Put back, through the service, the amount and close date of every deal changed."""
    from crm.models import Deal

    current = {d.pk: d for d in Deal.objects.filter(pk__in=[deal.pk for deal in deals])}
    for deal in deals:
        now = current[deal.pk]
        if (now.amount, now.close_date) != (deal.amount, deal.close_date):
            deal.version = now.version
            _update(deal, amount=deal.amount, close_date=deal.close_date)


def _span(numbers: list[int]) -> str:
    low, high = min(numbers), max(numbers)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


if __name__ == "__main__":
    # ``python -m bench.kpis``: only these rows (writes KPI snapshots; changes deals and puts
    # them back), on the bench database.
    from bench.environment import setup_django

    setup_django()
    from bench import report
    from bench.environment import ensure_large_org

    print(f"bench: {ensure_large_org(regenerate=False)}", flush=True)
    print(report.render(run(), [FLOOR_NOTE]))

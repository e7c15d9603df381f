"""Territory planning on the large org: applying rules to every account, a scenario's diff and
balance metrics, and an auto-balance run, against one sequential scan of the accounts table.

- *Match*: ``match_accounts`` on the live plan: every account's territory under ~400 rules.
- *Apply*: a scenario with one state moved to another territory, applied (owners, moves, spans,
  account rows, open deals with history). Rolled back, so the org stays as it was.
- *Scenario diff* and *metrics*: the same scenario's moved accounts and per-territory metrics.
- *Auto-balance*: the children of the country with most leaves, balanced on account count with
  at most 10 region moves; reported with the CV before and after.

Floor: ``SELECT count(*), sum(employees) FROM crm_account`` with index and bitmap scans and
parallel workers off (a plain sequential scan), the median of samples taken around each row. The
ratio reads "how many sequential reads of the accounts table".
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from django.db import connection, transaction

from bench.measure import Result

FLOOR_NOTE = (
    "territories: floor = SELECT count(*), sum(employees) FROM crm_account, sequential scan only "
    "(index/bitmap scans and parallel workers off), median of samples around each row; "
    "ratio = time / floor"
)
FLOOR_SQL = "SELECT count(*), sum(employees) FROM crm_account"
_SEQUENTIAL_ONLY = (
    "SET LOCAL enable_indexscan = off",
    "SET LOCAL enable_indexonlyscan = off",
    "SET LOCAL enable_bitmapscan = off",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)


class _Rollback(Exception):
    """Raised to leave a timed block's transaction without keeping anything."""


def _floor() -> float:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _SEQUENTIAL_ONLY:
            cursor.execute(statement)
        started = time.perf_counter()
        cursor.execute(FLOOR_SQL)
        cursor.fetchall()
        return time.perf_counter() - started


def _timed(work: Callable[[], object], *, repeat: int = 1) -> tuple[float, float, object]:
    """(median seconds, median floor seconds, last result) of ``work`` run in rolled-back
    transactions, each run between two floor samples."""
    seconds, floors, result = [], [_floor()], None
    for _ in range(repeat):
        try:
            with transaction.atomic():
                started = time.perf_counter()
                result = work()
                seconds.append(time.perf_counter() - started)
                raise _Rollback
        except _Rollback:
            pass
        floors.append(_floor())
    return statistics.median(seconds), statistics.median(floors), result


def ensure_plan() -> str:
    """Build and apply the generated plan when the bench org predates territories."""
    from salesops.org.generate import SCALES, GeneratedOrg
    from salesops.org.models import RepProfile
    from territories.generate import generate_territories
    from territories.models import PlanStatus, TerritoryPlan

    if TerritoryPlan.objects.filter(status=PlanStatus.LIVE).exists():
        return "reusing the live territory plan"
    from django.utils import timezone

    reps = list(RepProfile.objects.order_by("user_id").values_list("user_id", "team_id"))
    org = GeneratedOrg(
        scale=SCALES["large"],
        seed=1,
        as_of=timezone.localdate(),
        rep_user_ids=[r for r, _ in reps],
        rep_team_ids=[t for _, t in reps],
    )
    started = time.perf_counter()
    with transaction.atomic():
        rows = generate_territories(org)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return f"built the territory plan: {rows} in {time.perf_counter() - started:.1f} s"


def _busiest_state(plan):
    """The (country, state, territory) with most accounts, and a sibling leaf to move it to."""
    from territories.models import AssignmentRule

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT country, region, count(*) FROM crm_account WHERE region <> ''"
            " GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1"
        )
        country, region, accounts = cursor.fetchone()
    rule = next(
        r
        for r in AssignmentRule.objects.filter(plan=plan, countries=[country]).exclude(regions=[])
        if region in r.regions
    )
    sibling = (
        rule.territory.parent.children.exclude(pk=rule.territory_id).order_by("key").first()
        if rule.territory.parent
        else None
    )
    return country, region, accounts, rule.territory, sibling


def run() -> list[Result]:
    from salesops.org.models import User
    from salesops.org.roles import Role
    from territories import runs, services
    from territories.assignment import match_accounts
    from territories.models import AssignmentRun, RunStatus, TerritoryPlan

    print(f"bench: {ensure_plan()}", flush=True)
    ops = User.objects.filter(groups__name=Role.OPS).order_by("pk").first()
    live = services.live_plan()
    results: list[Result] = []

    seconds, floor, matched = _timed(lambda: match_accounts(live), repeat=3)
    rules = live.rules.count()
    results.append(
        Result(
            "Rules: match every account",
            seconds * 1000,
            floor * 1000,
            "ms",
            seconds / floor,
            f"{matched:,} accounts, {rules} rules",
        )  # fmt: skip
    )

    country, region, accounts, source, sibling = _busiest_state(live)

    def apply_scenario():
        scenario = services.scenario_create(name="bench: move a state", acting_user=ops)
        target = scenario.territories.get(key=sibling.key)
        services.region_move(
            plan=scenario, country=country, region=region, to=target, acting_user=ops
        )
        run = AssignmentRun.objects.create(
            plan=scenario, effective_date=live.effective_date, reassign_open_deals=True,
            status=RunStatus.QUEUED, created_by=ops,
        )  # fmt: skip
        started = time.perf_counter()
        run = runs.assignment_run_execute(run_id=run.pk)
        return run, time.perf_counter() - started

    seconds, floor, (run, apply_only) = _timed(apply_scenario)
    results.append(
        Result(
            "Rules: apply a scenario (copy, move a state, apply)",
            seconds * 1000,
            floor * 1000,
            "ms",
            seconds / floor,
            f"{region} ({accounts:,} accounts) {source.key} → {sibling.key}: "
            f"{run.accounts_moved:,} moved, {run.deals_reassigned:,} open deals re-owned; "
            f"apply alone {apply_only * 1000:,.0f} ms = {apply_only / floor:,.0f}x",
        )  # fmt: skip
    )
    results += _scenario_rows(live, ops, country, region, sibling)
    assert TerritoryPlan.objects.filter(name__startswith="bench:").count() == 0
    return results


def _scenario_rows(live, ops, country, region, sibling) -> list[Result]:
    """Diff, metrics and auto-balance on a draft scenario (rolled back)."""
    try:
        from territories import autobalance, scenarios
    except ImportError:  # the scenario module lands separately
        return []
    from territories import services

    rows: list[Result] = []

    def prepared():
        scenario = services.scenario_create(name="bench: scenario", acting_user=ops)
        target = scenario.territories.get(key=sibling.key)
        services.region_move(
            plan=scenario, country=country, region=region, to=target, acting_user=ops
        )
        return scenario

    def diff():
        return scenarios.scenario_diff(prepared())

    seconds, floor, result = _timed(diff)
    rows.append(
        Result(
            "Scenario: diff against live",
            seconds * 1000,
            floor * 1000,
            "ms",
            seconds / floor,
            f"{getattr(result, 'total', '?')} accounts move (includes copying the plan)",
        )  # fmt: skip
    )

    def metrics():
        return scenarios.territory_metrics(prepared())

    seconds, floor, result = _timed(metrics)
    rows.append(
        Result(
            "Scenario: metrics and balance per territory",
            seconds * 1000,
            floor * 1000,
            "ms",
            seconds / floor,
            f"{len(result)} territories (includes copying the plan)",
        )  # fmt: skip
    )

    def balance():
        scenario = prepared()
        parent = _widest_parent(scenario)
        proposal = autobalance.autobalance_propose(
            scenario=scenario, parent=parent, measure="accounts", max_moves=10, unit="region",
            time_limit=20,
        )  # fmt: skip
        return proposal, parent.name, parent.children.count()

    seconds, floor, (proposal, parent, children) = _timed(balance)
    rows.append(
        Result(
            "Auto-balance: propose (10 region moves)",
            seconds * 1000,
            floor * 1000,
            "ms",
            seconds / floor,
            f"{parent}: {children} children, CV {proposal.before.cv:.3f}"
            f" → {proposal.after.cv:.3f}, max/min {_ratio(proposal.before.max_min_ratio)} → "
            f"{_ratio(proposal.after.max_min_ratio)}, {len(proposal.moves)} moves, "
            f"{proposal.status}",
        )  # fmt: skip
    )
    return rows


def _widest_parent(plan):
    """The territory with the most children that are all leaves (an area of the generated plan)."""
    from collections import Counter

    parents = dict(plan.territories.values_list("pk", "parent_id"))
    inner = {parent for parent in parents.values() if parent is not None}
    counts = Counter(
        parent for pk, parent in parents.items() if parent is not None and pk not in inner
    )
    widest = max(
        (p for p in counts if all(c not in inner for c, q in parents.items() if q == p)),
        key=lambda p: (counts[p], -p),
    )
    return plan.territories.get(pk=widest)


def _ratio(value: float | None) -> str:
    return "∞" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    # ``python -m bench.territories``: only these rows, on the bench database (every timed write
    # is rolled back; the first run builds and applies the generated plan).
    from bench.environment import setup_django

    setup_django()
    from bench import report
    from bench.environment import ensure_large_org

    print(f"bench: {ensure_large_org(regenerate=False)}", flush=True)
    print(report.render(run(), [FLOOR_NOTE]))

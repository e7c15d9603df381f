"""Commission runs on the large org, against one sequential scan of the run's credit rows, and a
rep's statement page against hello-world.

- *First quarter*: a run for the quarter two before the org's current one, calculated by
  ``compensation.runs.run_calculate`` (what the worker runs), plus the deferred foreign-key
  checks still queued after it (which the worker's commit would run): crediting of every won deal the
  plans measure (owner, splits, overlays, manager roll-ups, territory overlays; from the fiscal
  year's start, since the new-hire plan is annual), tiers, caps, advances, draws, payout lines
  with traces and their credit links. Then finance approves it.
- *Next quarter with adjustments*: ``--changes`` won deals of the first quarter change (two in
  three get 10 % more amount and margin, one in three goes to Closed Lost; set-based UPDATEs
  that move each deal's ``version`` on, as the services do), then the next quarter's run is
  timed: its own lines plus the corrections of the approved quarter for everyone those deals
  credited. Before it, the commission tables are analysed (what autovacuum does after the first
  run commits; see ``run``).
- *Statement*: ``GET`` of the first run's statement page as the AE credited with most deals in
  it, by Django's test ``Client`` in process, median of ``--repeat`` requests interleaved with
  ``/bench/hello`` (as ``bench.pages`` does).

Each run's time includes the foreign-key checks still deferred when ``run_calculate`` returns
(its commit's). A statement of the second run taking more than ``--timeout`` seconds is
cancelled and the row says so (see ``_calculate``).

Everything above runs in one transaction that is rolled back, so the bench database ends as it
was. ``ensure_comp_data`` (also ``python -m bench.compensation --setup``) first brings an org
generated before the compensation step up to date, and keeps it: the deal fields plans measure
and the deal splits (``crm.generate.fill_deal_terms``), team cost centres, and the plans and
assignments of the generator's compensation step.

Floor: ``SELECT count(*), sum(amount) FROM compensation_credit WHERE run_id = <run>`` with index,
index-only and bitmap scans and parallel workers off (checked to be one plain ``Seq Scan``),
median of three samples right after the run; it reads every credit row in the table (the first
run's only, for the first row). The ratio reads "how many plain reads of the credits the whole
run costs".
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from django.db import connection, transaction

from bench.measure import Result, interleaved_samples_ms, latency_result

CHANGES = 300
REPEAT = 30
# Seconds one statement of the second run may take before it is cancelled, so the bench ends.
TIMEOUT = 600
WARMUP = 3
FLOOR_SAMPLES = 3
FLOOR_NOTE = (
    "compensation: floor = SELECT count(*), sum(amount) FROM compensation_credit WHERE run_id = "
    "<run>, sequential scan only (index/bitmap scans and parallel workers off), median of 3 right "
    "after the run; ratio = run_calculate seconds / floor; the statement row's floor is GET "
    "/bench/hello (ratio = p50 / hello p50); all in one transaction, rolled back"
)
FLOOR_SQL = "SELECT count(*), sum(amount) FROM compensation_credit WHERE run_id = %s"
_SEQUENTIAL_ONLY = (
    "SET LOCAL enable_indexscan = off",
    "SET LOCAL enable_indexonlyscan = off",
    "SET LOCAL enable_bitmapscan = off",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)


COMP_TABLES = (
    "compensation_commissionrun",
    "compensation_credit",
    "compensation_payoutline",
    "compensation_linecredit",
)


class _Rollback(Exception):
    """Raised to leave the bench's transaction without keeping anything."""


@dataclass
class _Timed:
    """One calculated run: its seconds, its floor's and what it wrote."""

    label: str
    seconds: float
    floor: float
    credits: int
    lines: int
    payees: int
    adjustments: int
    rechecked: str
    deferred: float
    cancelled: str = ""  # the statement the timeout cancelled (the run then did not finish)


# --- Setup ---------------------------------------------------------------------------------------


def ensure_comp_data() -> str:
    """Fill what an org generated before the compensation step lacks; say what was done."""
    from compensation.generate import generate_comp
    from compensation.models import CompPlan
    from crm.generate import fill_deal_terms
    from crm.models import Deal

    done = []
    org = _generated_org()
    with transaction.atomic():
        if not Deal.objects.exclude(product_family="").exists():
            started = time.perf_counter()
            rows = fill_deal_terms(seed=org.seed, as_of=org.as_of)
            done.append(
                f"filled the deal terms ({rows['deals_filled']:,} deals, "
                f"{rows['deal_splits']:,} splits) in {time.perf_counter() - started:.1f} s"
            )
        if _fill_cost_centres():
            done.append("set the teams' cost centres")
        if not CompPlan.objects.exists():
            started = time.perf_counter()
            rows = generate_comp(org)
            done.append(
                f"generated {rows['comp_plans']} plans and {rows['plan_assignments']:,} "
                f"assignments in {time.perf_counter() - started:.1f} s"
            )
    if done:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return "; ".join(done) or "reusing the plans, assignments and deal terms in the bench database"


def _generated_org():
    """The ``GeneratedOrg`` the existing large org was built as: seed 1, the day its territory
    plan went live (the generator's ``as_of``), reps in id order."""
    from django.db.models import Max
    from django.utils import timezone

    from crm.models import Deal
    from salesops.org.generate import SCALES, GeneratedOrg
    from salesops.org.models import RepProfile
    from territories.models import PlanStatus, TerritoryPlan

    live = TerritoryPlan.objects.filter(status=PlanStatus.LIVE).order_by("pk").first()
    if live is not None:
        as_of = live.effective_date
    else:
        latest = Deal.objects.aggregate(latest=Max("created_at"))["latest"]
        as_of = timezone.localdate(latest) if latest else timezone.localdate()
    reps = list(RepProfile.objects.order_by("user_id").values_list("user_id", "team_id"))
    return GeneratedOrg(
        scale=SCALES["large"],
        seed=1,
        as_of=as_of,
        rep_user_ids=[user for user, _ in reps],
        rep_team_ids=[team for _, team in reps],
    )


def _fill_cost_centres() -> bool:
    from salesops.audit import audit_context
    from salesops.org.generate import cost_centre
    from salesops.org.models import Team

    teams = {team.pk: team for team in Team.objects.all()}
    if not any(team.cost_centre == "" for team in teams.values()):
        return False
    for team in teams.values():
        top = team
        while top.parent_id is not None:
            top = teams[top.parent_id]
        team.cost_centre = cost_centre(team.pk, top.name)
    with audit_context(reason="bench: team cost centres"):
        Team.objects.bulk_update(teams.values(), ["cost_centre"], batch_size=500)
    return True


# --- Measuring -----------------------------------------------------------------------------------


def _floor(run_id: int) -> float:
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _SEQUENTIAL_ONLY:
            cursor.execute(statement)
        started = time.perf_counter()
        cursor.execute(FLOOR_SQL, [run_id])
        cursor.fetchall()
        return time.perf_counter() - started


def _check_floor_plan(run_id: int) -> None:
    """Refuse a floor that is not one plain sequential scan of the credits."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _SEQUENTIAL_ONLY:
            cursor.execute(statement)
        cursor.execute(f"EXPLAIN (FORMAT JSON) {FLOOR_SQL}", [run_id])
        (plan,) = cursor.fetchone()
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", ()))
    scans = sorted(
        {(n["Node Type"], n.get("Relation Name")) for n in nodes if "Scan" in n["Node Type"]}
    )
    if scans != [("Seq Scan", "compensation_credit")] or any(
        n["Node Type"] == "Gather" for n in nodes
    ):
        raise RuntimeError(f"bench: the credit floor is not one Seq Scan: {scans}")


def _calculate(
    label: str, period_key: str, ops, *, timeout: float | None = None
) -> tuple[object, _Timed]:
    """Create the run as sales ops, mark it requested (as ``run_calculate_request`` does, minus
    the worker task) and time ``run_calculate``. A statement running past ``timeout`` seconds is
    cancelled: the run's calculation is rolled back and the row says which statement it was."""
    from django.db import OperationalError
    from psycopg.errors import QueryCanceled

    from compensation import runs
    from compensation.models import CommissionRun, LineKind, PayoutLine, RunStatus

    run = runs.run_create(period_key=period_key, acting_user=ops)
    CommissionRun.objects.filter(pk=run.pk).update(
        status=RunStatus.CALCULATING, calculated_by=ops, step="Queued"
    )
    failed: list[str] = []

    def remember(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except Exception:
            failed.append(sql if isinstance(sql, str) else sql.decode())  # the first is cancelled
            raise

    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SET LOCAL statement_timeout = %s", [f"{round((timeout or 0) * 1000)}ms"]
            )
        with connection.execute_wrapper(remember):
            run = runs.run_calculate(run_id=run.pk)
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        sql = " ".join(failed[0].split())[:160] if failed else "?"
        seconds = time.perf_counter() - started
        return None, _Timed(label, seconds, 0.0, 0, 0, 0, 0, "", 0.0, sql)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")
    calculated = time.perf_counter()
    # The foreign-key checks still queued (deferred) are what the worker's commit would run:
    # they belong to this run, not to whatever the rolled-back transaction does next.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    seconds = time.perf_counter() - started
    deferred = time.perf_counter() - calculated
    if run.status != RunStatus.CALCULATED:
        raise RuntimeError(f"bench: the {run.label} run ended {run.status}: {run.error}")
    _check_floor_plan(run.pk)
    floor = statistics.median(_floor(run.pk) for _ in range(FLOOR_SAMPLES))
    adjustments = PayoutLine.objects.filter(run=run, kind=LineKind.ADJUSTMENT).count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM compensation_credit WHERE run_id = %s", [run.pk])
        (credits,) = cursor.fetchone()
    rechecked = run.step.split("; ")[1] if "; " in run.step else ""
    timed = _Timed(
        label,
        seconds,
        floor,
        credits,
        run.lines_count,
        run.payees_count,
        adjustments,
        rechecked,
        deferred,
    )
    return run, timed


def _change_deals(period, count: int) -> tuple[int, int]:
    """``count`` won deals closed in ``period`` (lowest ids): two in three +10 % amount and
    margin, one in three to their pipeline's lost stage; each deal's version moves on."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.id FROM crm_deal d JOIN crm_stage st ON st.id = d.stage_id AND st.is_won "
            "WHERE d.amount IS NOT NULL AND d.close_date BETWEEN %s AND %s ORDER BY d.id LIMIT %s",
            [period.start, period.end, count],
        )
        ids = [row[0] for row in cursor.fetchall()]
        lost, more = ids[::3], [i for n, i in enumerate(ids) if n % 3]
        cursor.execute(
            "UPDATE crm_deal SET amount = round(amount * 1.1, 2), "
            "gross_margin = round(gross_margin * 1.1, 2), version = version + 1, "
            "updated_at = now() WHERE id = ANY(%s)",
            [more],
        )
        cursor.execute(
            "UPDATE crm_deal d SET stage_id = st.id, probability = st.probability, "
            "forecast_category = st.forecast_category, lost_reason = 'Price', "
            "version = d.version + 1, updated_at = now() "
            "FROM crm_stage st WHERE st.pipeline_id = d.pipeline_id AND st.is_lost "
            "AND d.id = ANY(%s)",
            [lost],
        )
    return len(more), len(lost)


def _busiest_ae(run) -> str:
    """The username of the AE on the quarterly quota plan credited with most deals in ``run``."""
    from compensation.models import PlanAssignment

    ae_ids = list(
        PlanAssignment.objects.filter(
            plan__key__startswith="ae-quota-",
            plan__fiscal_year=run.fiscal_year,
            start_date__lte=run.period_end,
            end_date__gte=run.period_start,
        ).values_list("user_id", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.username FROM compensation_credit c JOIN org_user u ON u.id = c.user_id "
            "WHERE c.run_id = %s AND c.credit_type = 'owner' AND c.user_id = ANY(%s) "
            "AND c.close_date BETWEEN %s AND %s "
            "GROUP BY u.id, u.username ORDER BY count(*) DESC, u.id LIMIT 1",
            [run.pk, ae_ids, run.period_start, run.period_end],
        )
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"bench: no AE on a quota plan was credited in {run.label}")
    return row[0]


def _statement_rows(run, repeat: int) -> list[Result]:
    """The statement page of ``run`` as its busiest AE, against hello-world."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    from bench.pages import bench_settings
    from bench.urls import HELLO_PATH
    from compensation.models import LineCredit, PayoutLine
    from salesops.org.models import User

    username = _busiest_ae(run)
    try:
        path = reverse("compensation:statement", args=[run.pk])
    except NoReverseMatch:  # no statement pages yet
        return []
    user = User.objects.get(username=username)
    lines = PayoutLine.objects.filter(run=run, user=user)
    links = LineCredit.objects.filter(line__in=lines).count()
    with bench_settings():
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)

        def getter(url: str):
            def get() -> None:
                response = client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url} answered {response.status_code}, not 200")

            return get

        calls = {"hello": getter(HELLO_PATH), "statement": getter(path)}
        with CaptureQueriesContext(connection) as captured:
            calls["statement"]()
            queries = len(captured.captured_queries)  # each request empties the query log
        samples = interleaved_samples_ms(calls, repeat=repeat, warmup=WARMUP)
    label = f"GET /compensation/statements/<{run.label}>/ as rep"
    detail = f"{username}: {lines.count()} lines, {links:,} credits linked; {queries} SQL queries"
    return [
        latency_result("GET /bench/hello (statement floor)", samples["hello"], samples["hello"]),
        latency_result(label, samples["statement"], samples["hello"], detail),
    ]


def run(*, changes: int = CHANGES, repeat: int = REPEAT, timeout: float = TIMEOUT) -> list[Result]:
    """Time two quarterly runs and a statement page; roll everything back. A statement of the
    second run taking more than ``timeout`` seconds is cancelled (see ``_calculate``)."""
    from compensation import runs
    from salesops.fiscal import PeriodKind
    from salesops.org.generate import DEMO_LOGINS
    from salesops.org.models import User
    from salesops.org.roles import Role
    from salesops.org.selectors import fiscal_calendar

    print(f"bench: {ensure_comp_data()}", flush=True)
    ops = User.objects.get(username=DEMO_LOGINS[Role.OPS])
    finance = User.objects.get(username=DEMO_LOGINS[Role.FINANCE])
    calendar = fiscal_calendar()
    current = calendar.period(_generated_org().as_of, PeriodKind.QUARTER)
    first, second = calendar.shift(current, -2), calendar.shift(current, -1)
    try:
        with transaction.atomic():
            run_1, timed_1 = _calculate(f"run_calculate({first.label})", first.key, ops)
            runs.run_approve(run=run_1, acting_user=finance)
            # The statistics autovacuum would have gathered once the first run committed: on
            # the at-rest (empty) ones, the engine's queries over the settled credits are
            # planned as nested loops over sequential scans and take tens of minutes.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {', '.join(COMP_TABLES)}")
            more, lost = _change_deals(first, changes)
            label = f"run_calculate({second.label}) after {more + lost} deal changes"
            _, timed_2 = _calculate(label, second.key, ops, timeout=timeout)
            statement = _statement_rows(run_1, repeat)
            raise _Rollback
    except _Rollback:
        pass
    changed = f"changed: {more} amounts +10 %, {lost} to Closed Lost"
    return [*_run_rows(timed_1), *_run_rows(timed_2, changed, timed_1), *statement]


def _run_rows(timed: _Timed, note: str = "", earlier: _Timed | None = None) -> list[Result]:
    """The floor row and the run row of one calculated run; for a run the timeout cancelled,
    one row against ``earlier``'s floor, whose ratio is then a lower bound."""
    if timed.cancelled:
        floor = earlier.floor if earlier else timed.seconds
        detail = (
            f"DID NOT FINISH: cancelled after {timed.seconds:,.0f} s (statement timeout) in: "
            f"{timed.cancelled}; floor = the first run's; {note}"
        )
        return [Result(timed.label, timed.seconds, floor, "s", timed.seconds / floor, detail)]
    detail = (
        f"{timed.credits:,} credits, {timed.lines:,} lines, {timed.payees:,} payees, "
        f"{timed.adjustments:,} adjustment lines; "
        f"incl. {timed.deferred:,.1f} s of deferred foreign-key checks (its commit's)"
    )
    detail += "".join(f"; {part}" for part in (timed.rechecked, note) if part)
    floor = f"{timed.credits:,} credits of the run, median of {FLOOR_SAMPLES}"
    return [
        Result(f"{timed.label} floor: seq scan credits", timed.floor, timed.floor, "s", 1.0, floor),
        Result(timed.label, timed.seconds, timed.floor, "s", timed.seconds / timed.floor, detail),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compensation", description=__doc__)
    parser.add_argument(
        "--setup",
        action="store_true",
        help="only bring the bench org up to date (deal terms, cost centres, plans, assignments)",
    )
    parser.add_argument("--changes", type=int, default=CHANGES, help="deals changed (300)")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="statement requests (30)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=TIMEOUT,
        help="seconds a statement of the second run may take before it is cancelled (600)",
    )
    args = parser.parse_args(argv)

    from bench.environment import setup_django

    setup_django()
    from bench import report
    from bench.environment import ensure_large_org

    print(f"bench: {ensure_large_org(regenerate=False)}", flush=True)
    if args.setup:
        print(f"bench: {ensure_comp_data()}", flush=True)
        return 0
    rows = run(changes=args.changes, repeat=args.repeat, timeout=args.timeout)
    print(report.render(rows, [FLOOR_NOTE]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

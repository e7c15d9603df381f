"""Applying a plan's rules: every account gets its territory and owner from a chosen date.

A run is created by ops (``assignment_run_create``); one dated today or earlier is queued for the
worker at once, one dated later waits until beat queues it on the day (``assignment_runs_due``).
``assignment_run_execute`` does the work in one transaction under an advisory lock: it makes a
scheduled scenario the live plan, matches every account (``territories.assignment``), picks
owners, records what moved, closes and opens the effective-dated spans, updates the accounts and,
when asked, gives the moved accounts' open deals to their new owner with a history row each.
Either all of that lands or none of it; running a finished run again changes nothing.

Owner rule: an account keeps its owner when that person owns (is an active owner member of) its
new territory; otherwise the territory's owners take the accounts in turn, by account id; a
territory with no owners leaves the owner as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from salesops.audit import audit_context
from salesops.bulk import foreign_keys_checked_now
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.org.models import User
from territories.assignment import match_accounts, require_catch_all
from territories.models import AssignmentRun, PlanStatus, RunStatus, TerritoryPlan

# pg_advisory_xact_lock key of rule applications ("TERR" in ASCII).
APPLY_LOCK = 0x54455252

Progress = Callable[[int, str], None]


def _require_planner(user: User) -> None:
    if not user.has_perm("territories.add_assignmentrun"):
        raise NotAllowed("Only sales ops can apply territory rules.")


def assignment_run_create(
    *,
    plan: TerritoryPlan,
    effective_date: dt.date,
    reassign_open_deals: bool,
    acting_user: User,
    today: dt.date | None = None,
) -> AssignmentRun:
    """Ask for ``plan``'s rules to be applied from ``effective_date`` (queued or scheduled).

    ``plan`` is the live plan (re-apply its rules) or a draft scenario (it goes live then).
    """
    _require_planner(acting_user)
    today = today or timezone.localdate()
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="territory_apply"):
        plan = TerritoryPlan.objects.select_for_update().get(pk=plan.pk)
        if plan.status not in (PlanStatus.LIVE, PlanStatus.DRAFT):
            raise DomainError(
                f"{plan} is {plan.get_status_display().lower()}; only the live plan or a draft "
                "scenario can be applied.",
                field="plan",
            )
        require_catch_all(plan)
        latest = (
            AssignmentRun.objects.exclude(status=RunStatus.FAILED)
            .order_by("-effective_date")
            .values_list("effective_date", flat=True)
            .first()
        )
        if latest is not None and effective_date < latest:
            raise DomainError(
                f"The effective date must be on or after {latest:%Y-%m-%d}, the date of the "
                "latest run: assignments cannot be rewritten behind a later one.",
                field="effective_date",
            )
        pending = AssignmentRun.objects.filter(
            status__in=(RunStatus.SCHEDULED, RunStatus.QUEUED, RunStatus.RUNNING)
        ).first()
        if pending is not None:
            raise DomainError(
                f"Another run ({pending}) has not finished yet; wait for it or cancel it first.",
                field="plan",
            )
        future = effective_date > today
        run = AssignmentRun.objects.create(
            plan=plan,
            effective_date=effective_date,
            reassign_open_deals=reassign_open_deals,
            status=RunStatus.SCHEDULED if future else RunStatus.QUEUED,
            created_by=acting_user,
        )
        if plan.status == PlanStatus.DRAFT:
            plan.status = PlanStatus.SCHEDULED
            plan.effective_date = effective_date
            plan.save(update_fields=["status", "effective_date"])
        if not future:
            transaction.on_commit(lambda: _enqueue(run))
    return run


def assignment_run_cancel(*, run: AssignmentRun, acting_user: User) -> AssignmentRun:
    """Cancel a run that has not started; a scheduled scenario returns to draft."""
    _require_planner(acting_user)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="territory_cancel"):
        run = AssignmentRun.objects.select_for_update().get(pk=run.pk)
        if run.status not in (RunStatus.SCHEDULED, RunStatus.QUEUED):
            raise DomainError(
                f"This run is {run.get_status_display().lower()}; it cannot be cancelled."
            )
        run.status = RunStatus.FAILED
        run.error = f"Cancelled by {acting_user}."
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        TerritoryPlan.objects.filter(pk=run.plan_id, status=PlanStatus.SCHEDULED).update(
            status=PlanStatus.DRAFT, effective_date=None
        )
    return run


def _enqueue(run: AssignmentRun) -> None:
    from territories import tasks

    result = tasks.assignment_run_execute.delay(run.pk)
    AssignmentRun.objects.filter(pk=run.pk).update(task_id=result.id)


def assignment_runs_due(*, today: dt.date | None = None) -> list[int]:
    """Queue the scheduled runs whose day has come (beat calls this daily and at start)."""
    today = today or timezone.localdate()
    with transaction.atomic():
        due = list(
            AssignmentRun.objects.select_for_update(skip_locked=True).filter(
                status=RunStatus.SCHEDULED, effective_date__lte=today
            )
        )
        for run in due:
            run.status = RunStatus.QUEUED
            run.save(update_fields=["status"])
            transaction.on_commit(lambda run=run: _enqueue(run))
    return [run.pk for run in due]


def assignment_run_execute(*, run_id: int, progress: Progress | None = None) -> AssignmentRun:
    """Apply run ``run_id`` (all or nothing); a run already done is returned unchanged.

    The run is marked running in its own short transaction first, so pages see it start; the
    work itself is one transaction under the advisory lock (a second worker waits, then finds
    the run done).
    """
    report = progress or (lambda _percent, _step: None)
    with transaction.atomic():
        run = _locked_run(run_id)
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            return run
        if run.status == RunStatus.SCHEDULED:
            raise DomainError(f"This run waits for {run.effective_date:%Y-%m-%d}.")
        run.status, run.started_at = RunStatus.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
    with transaction.atomic(), foreign_keys_checked_now():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPLY_LOCK])
        run = _locked_run(run_id)
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            return run
        with audit_context(acting_user=run.created_by, reason="territory_apply", run=run.pk):
            _go_live(run)
            report(10, "Matching accounts to territories")
            run.accounts_total = match_accounts(run.plan)
            report(40, "Choosing owners")
            choose_owners()
            report(55, "Recording what moved")
            run.accounts_moved, run.owners_changed = _record_moves(run)
            report(70, "Updating accounts")
            _write_spans(run)
            _update_accounts()
            if run.reassign_open_deals:
                report(85, "Giving open deals to their new owners")
                run.deals_reassigned = _reassign_deals(run)
        run.status = RunStatus.DONE
        run.progress = 100
        run.step = "Done"
        run.finished_at = timezone.now()
        run.save()
    return run


def _locked_run(run_id: int) -> AssignmentRun:
    try:
        return AssignmentRun.objects.select_for_update().select_related("plan").get(pk=run_id)
    except AssignmentRun.DoesNotExist:
        raise NotFound(f"Assignment run {run_id} does not exist.") from None


def assignment_run_mark_failed(*, run_id: int, problem: str) -> None:
    """Record a crash on the run (its work was rolled back) so the page shows it."""
    AssignmentRun.objects.filter(pk=run_id).exclude(status=RunStatus.DONE).update(
        status=RunStatus.FAILED, error=problem[:2000], finished_at=timezone.now()
    )


def _go_live(run: AssignmentRun) -> None:
    """A scheduled scenario becomes the live plan; the plan it replaces is retired."""
    plan = run.plan
    if plan.status == PlanStatus.LIVE:
        return
    TerritoryPlan.objects.filter(status=PlanStatus.LIVE).update(status=PlanStatus.RETIRED)
    plan.status = PlanStatus.LIVE
    plan.effective_date = run.effective_date
    plan.save(update_fields=["status", "effective_date"])


_OWNERS_SQL = """
CREATE TEMP TABLE rule_owner ON COMMIT DROP AS
WITH owners AS (
    SELECT m.territory_id, m.user_id,
           row_number() OVER (PARTITION BY m.territory_id ORDER BY m.user_id) - 1 AS idx,
           count(*) OVER (PARTITION BY m.territory_id) AS n
    FROM territories_territorymember m
    JOIN org_user u ON u.id = m.user_id AND u.is_active
    WHERE m.role = 'owner' AND m.territory_id IN (SELECT DISTINCT territory_id FROM rule_target)
), target AS (
    SELECT t.account_id, t.territory_id, a.territory_id AS old_territory, a.owner_id AS old_owner,
           EXISTS (SELECT 1 FROM owners o
                   WHERE o.territory_id = t.territory_id AND o.user_id = a.owner_id) AS keeps
    FROM rule_target t JOIN crm_account a ON a.id = t.account_id
), needing AS (
    SELECT account_id,
           row_number() OVER (PARTITION BY territory_id ORDER BY account_id) - 1 AS turn
    FROM target WHERE NOT keeps
)
SELECT t.account_id, t.territory_id, t.old_territory, t.old_owner,
       CASE WHEN t.keeps THEN t.old_owner ELSE COALESCE(o.user_id, t.old_owner) END AS new_owner
FROM target t
LEFT JOIN needing n ON n.account_id = t.account_id
LEFT JOIN owners o ON o.territory_id = t.territory_id AND o.idx = mod(n.turn, o.n);
CREATE UNIQUE INDEX ON rule_owner (account_id);
ANALYZE rule_owner;
"""


def choose_owners() -> None:
    with connection.cursor() as cursor:
        cursor.execute(_OWNERS_SQL)


def _record_moves(run: AssignmentRun) -> tuple[int, int]:
    """Write an ``AssignmentMove`` per account whose territory (by key) or owner changes."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO territories_assignmentmove
                (run_id, account_id, from_territory_key, to_territory_id,
                 from_owner_id, to_owner_id, deals_reassigned)
            SELECT %(run)s, o.account_id, COALESCE(old.key, ''), o.territory_id,
                   o.old_owner, o.new_owner, 0
            FROM rule_owner o
            JOIN territories_territory new ON new.id = o.territory_id
            LEFT JOIN territories_territory old ON old.id = o.old_territory
            WHERE old.key IS DISTINCT FROM new.key OR o.old_owner <> o.new_owner
            """,
            {"run": run.pk},
        )
        cursor.execute(
            "SELECT count(*) FILTER (WHERE from_territory_key <> t.key),"
            " count(*) FILTER (WHERE from_owner_id <> to_owner_id)"
            " FROM territories_assignmentmove m JOIN territories_territory t"
            " ON t.id = m.to_territory_id WHERE m.run_id = %s",
            [run.pk],
        )
        moved, owners = cursor.fetchone()
    return moved, owners


def _write_spans(run: AssignmentRun) -> None:
    """Close each changed account's open span the day before, and open its new one."""
    params = {"run": run.pk, "day": run.effective_date}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TEMP TABLE rule_changed ON COMMIT DROP AS
            SELECT o.account_id, o.territory_id, o.new_owner FROM rule_owner o
            LEFT JOIN territories_accountterritory s
                ON s.account_id = o.account_id AND s.valid_to IS NULL
            WHERE s.id IS NULL OR s.territory_id <> o.territory_id OR s.owner_id <> o.new_owner;
            CREATE UNIQUE INDEX ON rule_changed (account_id);
            ANALYZE rule_changed;
            DELETE FROM territories_accountterritory s USING rule_changed c
            WHERE s.account_id = c.account_id AND s.valid_to IS NULL
              AND s.valid_from >= %(day)s;
            UPDATE territories_accountterritory s SET valid_to = %(day)s::date - 1
            FROM rule_changed c
            WHERE s.account_id = c.account_id AND s.valid_to IS NULL;
            INSERT INTO territories_accountterritory
                (account_id, territory_id, owner_id, valid_from, valid_to, run_id)
            SELECT account_id, territory_id, new_owner, %(day)s, NULL, %(run)s FROM rule_changed;
            """,
            params,
        )


def _update_accounts() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE crm_account a SET territory_id = o.territory_id, owner_id = o.new_owner
            FROM rule_owner o
            WHERE a.id = o.account_id
              AND (a.territory_id IS DISTINCT FROM o.territory_id OR a.owner_id <> o.new_owner)
            """
        )


def _reassign_deals(run: AssignmentRun) -> int:
    """Give the open deals of re-owned accounts to the new owner, with one history row each."""
    params = {"run": run.pk, "actor": run.created_by_id}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TEMP TABLE rule_deal ON COMMIT DROP AS
            SELECT d.id AS deal_id, d.owner_id AS old_owner, m.to_owner_id AS new_owner,
                   m.account_id
            FROM territories_assignmentmove m
            JOIN crm_deal d ON d.account_id = m.account_id AND d.closed_at IS NULL
            WHERE m.run_id = %(run)s AND d.owner_id <> m.to_owner_id;
            UPDATE crm_deal d SET owner_id = r.new_owner, version = d.version + 1,
                   updated_at = now(), updated_by_id = %(actor)s
            FROM rule_deal r WHERE d.id = r.deal_id;
            INSERT INTO crm_dealhistory
                (deal_id, changed_at, changed_by_id, changed_fields, from_stage_id, to_stage_id,
                 from_amount, to_amount, currency, from_close_date, to_close_date,
                 from_owner_id, to_owner_id, from_forecast_category, to_forecast_category,
                 to_probability)
            SELECT d.id, now(), %(actor)s, ARRAY['owner'], d.stage_id, d.stage_id,
                   d.amount, d.amount, d.currency, d.close_date, d.close_date,
                   r.old_owner, r.new_owner, d.forecast_category, d.forecast_category,
                   d.probability
            FROM rule_deal r JOIN crm_deal d ON d.id = r.deal_id;
            UPDATE territories_assignmentmove m SET deals_reassigned = c.n
            FROM (SELECT account_id, count(*) AS n FROM rule_deal GROUP BY account_id) c
            WHERE m.run_id = %(run)s AND m.account_id = c.account_id;
            """,
            params,
        )
        cursor.execute("SELECT count(*) FROM rule_deal")
        return cursor.fetchone()[0]

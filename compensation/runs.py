"""Commission runs: draft → calculated → approved → paid, with separation of duties.

Calculating is all or nothing: the run is marked calculating in its own short transaction, then
credits, lines and links are replaced in one transaction under an advisory lock. A worker that
dies mid-way leaves nothing behind; the redelivered task (late acknowledgement) starts again
and writes the same lines. Approved and paid runs never change.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from compensation import engine
from compensation.models import (
    SETTLED,
    CommissionRun,
    CompPlan,
    Dispute,
    ManualAdjustment,
    PayoutLine,
    RunStatus,
)
from salesops.audit import audit_context, audit_events_for
from salesops.bulk import foreign_keys_checked_now
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.fiscal import PeriodKind
from salesops.money import round_money
from salesops.org.models import User
from salesops.org.roles import Role
from salesops.org.selectors import fiscal_calendar, org_settings

# pg_advisory_xact_lock key of commission calculations ("COMP" in ASCII).
CALCULATE_LOCK = 0x434F4D50

Progress = Callable[[int, str], None]
EDITABLE = (RunStatus.DRAFT, RunStatus.CALCULATED, RunStatus.FAILED)


def _require_ops(user: User) -> None:
    if not user.has_perm("compensation.add_commissionrun"):
        raise NotAllowed("Only sales ops can create, calculate or adjust commission runs.")


def _locked(run_id: int) -> CommissionRun:
    try:
        return CommissionRun.objects.select_for_update().get(pk=run_id)
    except CommissionRun.DoesNotExist:
        raise NotFound(f"Commission run {run_id} does not exist.") from None


def run_create(*, period_key: str, acting_user: User) -> CommissionRun:
    """A draft run for a fiscal month (``2027-M01``) or quarter (``2027-Q1``)."""
    _require_ops(acting_user)
    try:
        period = fiscal_calendar().parse(period_key)
    except ValueError as error:
        raise DomainError(str(error), field="period_key") from None
    if period.kind == PeriodKind.YEAR:
        raise DomainError("A run covers a fiscal month or quarter, e.g. 2027-Q1.", field="period")
    if CommissionRun.objects.filter(period_key=period.key).exists():
        raise DomainError(f"There is already a run for {period.label}.", field="period_key")
    overlapping = CommissionRun.objects.filter(
        period_start__lte=period.end, period_end__gte=period.start
    ).first()
    if overlapping:
        raise DomainError(
            f"{period.label} overlaps the run for {overlapping.label}; runs cannot overlap.",
            field="period_key",
        )
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="comp_run_create"):
        return CommissionRun.objects.create(
            period_kind=period.kind.value,
            period_key=period.key,
            label=period.label,
            period_start=period.start,
            period_end=period.end,
            fiscal_year=period.fiscal_year,
            currency=org_settings().corporate_currency,
            created_by=acting_user,
        )


def run_calculate_request(*, run: CommissionRun, acting_user: User) -> CommissionRun:
    """Queue a (re)calculation on the ``comp`` queue; the page follows its progress."""
    _require_ops(acting_user)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="comp_run_calculate"):
        run = _locked(run.pk)
        if run.status not in EDITABLE:
            raise DomainError(
                f"The {run.label} run is {run.get_status_display().lower()}; only a draft or "
                "calculated run can be calculated again."
            )
        run.status, run.progress, run.step, run.error = RunStatus.CALCULATING, 0, "Queued", ""
        run.calculated_by = acting_user
        run.save(update_fields=["status", "progress", "step", "error", "calculated_by"])
        transaction.on_commit(lambda run=run: _enqueue(run))
    return run


def _enqueue(run: CommissionRun) -> None:
    from compensation import tasks

    result = tasks.run_calculate.delay(run.pk)
    CommissionRun.objects.filter(pk=run.pk).update(task_id=result.id)


def run_calculate(*, run_id: int, progress: Progress | None = None) -> CommissionRun:
    """Replace the run's credits and lines (the task body; safe to run twice)."""
    report = progress or (lambda _percent, _step: None)
    with transaction.atomic(), foreign_keys_checked_now():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CALCULATE_LOCK])
        run = _locked(run_id)
        if run.status != RunStatus.CALCULATING:
            return run  # done by an earlier delivery, or approved since
        with audit_context(acting_user=run.calculated_by, reason="comp_run_calculate", run=run.pk):
            _clear(run)
            calculation = engine.calculate(run, report)
            report(85, "Saving payout lines")
            lines = [draft.line for draft in calculation.drafts]
            PayoutLine.objects.bulk_create(lines, batch_size=2000)
            engine.link_credits(calculation.drafts)
            totals = PayoutLine.objects.filter(run=run).aggregate(
                total=Sum("amount"), payees=Count("user", distinct=True)
            )
            run.total = totals["total"] or Decimal(0)
            run.lines_count = len(lines)
            run.payees_count = totals["payees"]
            run.status = RunStatus.CALCULATED
            run.progress, run.step = 100, _summary(calculation)
            run.calculated_at = timezone.now()
            run.save()
    return run


def _summary(calculation: engine.Calculation) -> str:
    parts = [f"{calculation.credits_written:,} credits"]
    if calculation.prior_periods_checked:
        parts.append(f"{calculation.prior_periods_checked:,} locked periods rechecked")
    if calculation.missing_rate_deals:
        parts.append(
            f"{len(calculation.missing_rate_deals)} deals left out for lack of an exchange rate"
        )
    return "; ".join(parts)[:120]


def _clear(run: CommissionRun) -> None:
    """Remove what an earlier calculation of the run wrote (nothing on the first one)."""
    if not CommissionRun.objects.filter(pk=run.pk, credits__isnull=False).exists():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM compensation_linecredit WHERE line_id IN "
            "(SELECT id FROM compensation_payoutline WHERE run_id = %s)",
            [run.pk],
        )
        cursor.execute("DELETE FROM compensation_payoutline WHERE run_id = %s", [run.pk])
        cursor.execute("DELETE FROM compensation_credit WHERE run_id = %s", [run.pk])


def run_mark_failed(*, run_id: int, problem: str) -> None:
    """Record a calculation error (its work was rolled back) so the page shows it."""
    CommissionRun.objects.filter(pk=run_id, status=RunStatus.CALCULATING).update(
        status=RunStatus.FAILED, error=problem[:2000], step="Failed"
    )


# --- Approval ----------------------------------------------------------------------------------


def plan_editors(plan: CompPlan) -> set[int]:
    """Everyone who created, edited or published this plan version."""
    editors = {plan.created_by_id, plan.updated_by_id, plan.published_by_id}
    for event in audit_events_for(plan):
        context = event.pgh_context or {}
        if context.get("user"):
            editors.add(int(context["user"]))
    return {user for user in editors if user}


def approval_conflicts(run: CommissionRun, user: User) -> list[str]:
    """Why ``user`` may not approve ``run`` (empty when they may)."""
    reasons = []
    if user.role != Role.FINANCE:
        reasons.append("Approving a commission run needs the finance role.")
    plan_ids = PayoutLine.objects.filter(run=run, plan__isnull=False).values("plan_id").distinct()
    for plan in CompPlan.objects.filter(pk__in=plan_ids):
        if user.pk in plan_editors(plan):
            reasons.append(f"You edited the plan '{plan}' this run pays on.")
    if ManualAdjustment.objects.filter(run=run, created_by=user).exists():
        reasons.append("You entered a manual adjustment in this run.")
    return reasons


def run_approve(*, run: CommissionRun, acting_user: User) -> CommissionRun:
    """Approve and lock: from now on the run's lines never change."""
    conflicts = approval_conflicts(run, acting_user)
    if conflicts:
        raise NotAllowed(" ".join(conflicts))
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="comp_run_approve"):
        run = _locked(run.pk)
        if run.status != RunStatus.CALCULATED:
            raise DomainError(
                f"Only a calculated run can be approved; the {run.label} run is "
                f"{run.get_status_display().lower()}."
            )
        stale = ManualAdjustment.objects.filter(run=run, created_at__gt=run.calculated_at)
        if stale.exists():
            raise DomainError("Adjustments were added after the calculation: calculate again.")
        earlier = (
            CommissionRun.objects.filter(period_end__lt=run.period_start)
            .exclude(status__in=SETTLED)
            .order_by("period_start")
            .first()
        )
        if earlier:
            raise DomainError(f"Approve the {earlier.label} run first: runs are locked in order.")
        run.status, run.approved_by, run.approved_at = (
            RunStatus.APPROVED,
            acting_user,
            timezone.now(),
        )
        run.save(update_fields=["status", "approved_by", "approved_at"])
    return run


def run_mark_paid(*, run: CommissionRun, acting_user: User) -> CommissionRun:
    """Record that payroll paid the approved run."""
    if acting_user.role != Role.FINANCE:
        raise NotAllowed("Only finance can mark a run paid.")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="comp_run_paid"):
        run = _locked(run.pk)
        if run.status != RunStatus.APPROVED:
            raise DomainError("Only an approved run can be marked paid.")
        run.status, run.paid_by, run.paid_at = RunStatus.PAID, acting_user, timezone.now()
        run.save(update_fields=["status", "paid_by", "paid_at"])
    return run


# --- Manual adjustments ------------------------------------------------------------------------


def open_run_for_adjustments() -> CommissionRun | None:
    """The earliest run still open to adjustments (where corrections go)."""
    return CommissionRun.objects.filter(status__in=EDITABLE).order_by("period_start").first()


def adjustment_add(
    *,
    run: CommissionRun,
    user: User,
    amount: Decimal,
    reason: str,
    acting_user: User,
    dispute: Dispute | None = None,
) -> ManualAdjustment:
    """Add (or, negative, take) an amount in an open run; it shows after the next calculation."""
    _require_ops(acting_user)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("A manual adjustment needs a reason.", field="reason")
    amount = Decimal(amount)
    if round_money(amount, run.currency) != amount:
        raise DomainError(
            f"Enter the amount in whole cents, e.g. {round_money(amount, run.currency)}.",
            field="amount",
        )
    if amount == 0:
        raise DomainError("An adjustment of zero changes nothing.", field="amount")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="comp_adjustment"):
        run = _locked(run.pk)
        if run.status not in EDITABLE:
            raise DomainError(
                f"The {run.label} run is {run.get_status_display().lower()}; adjust the next "
                "open run instead."
            )
        adjustment = ManualAdjustment.objects.create(
            run=run,
            user=user,
            amount=amount,
            reason=reason,
            dispute=dispute,
            created_by=acting_user,
        )
        if run.status == RunStatus.CALCULATED:
            run.status, run.step = RunStatus.DRAFT, "Adjusted since the last calculation"
            run.save(update_fields=["status", "step"])
    return adjustment


def adjustment_delete(*, adjustment: ManualAdjustment, acting_user: User) -> None:
    _require_ops(acting_user)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="comp_adjustment"):
        run = _locked(adjustment.run_id)
        if run.status not in EDITABLE:
            raise DomainError("The run is locked; its adjustments stay as they are.")
        adjustment.delete()
        if run.status == RunStatus.CALCULATED:
            run.status, run.step = RunStatus.DRAFT, "Adjusted since the last calculation"
            run.save(update_fields=["status", "step"])

"""Disputes: a rep questions one line of their settled statement; sales ops answer in writing,
or answer and correct it with a manual adjustment in the next open run.

A settled run never changes, so a correction is never an edit of the disputed line: it is a
``ManualAdjustment`` (``compensation.runs.adjustment_add``) that becomes a manual line of the
next run once that run is calculated, and the rep sees it when that run is approved. Each
service is one transaction, re-checks the rules on locked rows, and is audited with the
acting user and a reason.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from compensation import runs
from compensation.models import Dispute, DisputeStatus, PayoutLine
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.org.models import User

# How much of the rep's message the adjustment's reason quotes.
QUOTE_LENGTH = 300


def _require_ops(user: User) -> None:
    if not user.has_perm("compensation.change_dispute"):
        raise NotAllowed("Only sales ops can answer or resolve a dispute.")


def _locked_open(dispute: Dispute) -> Dispute:
    """The dispute re-read under a row lock; refused unless it is still open."""
    dispute = (
        Dispute.objects.select_for_update(of=("self",))
        .select_related("line", "line__run")
        .get(pk=dispute.pk)
    )
    if dispute.status != DisputeStatus.OPEN:
        raise DomainError(
            f"This dispute is already {dispute.get_status_display().lower()}; "
            "the rep can open a new one if something is still wrong."
        )
    return dispute


def _answer_text(answer: str | None) -> str:
    answer = (answer or "").strip()
    if not answer:
        raise DomainError("Write the answer the rep will read.", field="answer")
    return answer


def dispute_open(*, line: PayoutLine, message: str, acting_user: User) -> Dispute:
    """The line's own rep questions it: only a line of an approved or paid run, with a message,
    and one open dispute per line at a time."""
    if not acting_user.has_perm("compensation.add_dispute") or line.user_id != acting_user.pk:
        raise NotAllowed("Only the person paid by a line can dispute it.")
    message = (message or "").strip()
    if not message:
        raise DomainError("Say what looks wrong with this line.", field="message")
    with (
        transaction.atomic(),
        audit_context(acting_user=acting_user, reason="comp_dispute_open", line=line.pk),
    ):
        line = (
            PayoutLine.objects.select_for_update(of=("self",)).select_related("run").get(pk=line.pk)
        )
        if not line.run.is_settled:
            raise DomainError(
                f"The {line.run.label} run is {line.run.get_status_display().lower()}: "
                "lines can be disputed once the run is approved."
            )
        if Dispute.objects.filter(line=line, status=DisputeStatus.OPEN).exists():
            raise DomainError(
                "This line already has an open dispute: sales ops will answer it.",
                field="message",
            )
        return Dispute.objects.create(line=line, raised_by=acting_user, message=message)


def dispute_answer(*, dispute: Dispute, answer: str, acting_user: User) -> Dispute:
    """Sales ops answer an open dispute in writing, with no change to pay."""
    _require_ops(acting_user)
    answer = _answer_text(answer)
    with (
        transaction.atomic(),
        audit_context(acting_user=acting_user, reason="comp_dispute_answer", dispute=dispute.pk),
    ):
        dispute = _locked_open(dispute)
        dispute.status = DisputeStatus.ANSWERED
        dispute.answer = answer
        dispute.resolved_by = acting_user
        dispute.resolved_at = timezone.now()
        dispute.save(update_fields=["status", "answer", "resolved_by", "resolved_at"])
    return dispute


def adjustment_reason(dispute: Dispute) -> str:
    """The manual adjustment's reason: which dispute and line, quoting the rep's message."""
    line = dispute.line
    what = line.component_name or line.get_kind_display()
    period = f" {line.measured_label}" if line.measured_label else ""
    message = " ".join(dispute.message.split())
    if len(message) > QUOTE_LENGTH:
        message = message[: QUOTE_LENGTH - 1] + "…"
    return f'Dispute #{dispute.pk} on {what}{period} ({line.run.label} run): "{message}"'


def dispute_adjust(*, dispute: Dispute, amount: Decimal, answer: str, acting_user: User) -> Dispute:
    """Sales ops resolve an open dispute with a manual adjustment of ``amount`` for the rep in
    the earliest open run, and a written answer."""
    _require_ops(acting_user)
    answer = _answer_text(answer)
    try:
        amount = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise DomainError("Enter the amount as a number, e.g. 250.00.", field="amount") from None
    # One transaction, but the adjustment is written outside this service's audit context:
    # pghistory merges nested contexts into one, and each write should keep its own reason.
    with transaction.atomic():
        dispute = _locked_open(dispute)
        run = runs.open_run_for_adjustments()
        if run is None:
            raise DomainError(
                "Create the next run first: there is no open commission run to put the "
                "adjustment in."
            )
        runs.adjustment_add(
            run=run,
            user=dispute.line.user,
            amount=amount,
            reason=adjustment_reason(dispute),
            acting_user=acting_user,
            dispute=dispute,
        )
        with audit_context(
            acting_user=acting_user, reason="comp_dispute_adjust", dispute=dispute.pk
        ):
            dispute.status = DisputeStatus.ADJUSTED
            dispute.answer = answer
            dispute.resolved_by = acting_user
            dispute.resolved_at = timezone.now()
            dispute.save(update_fields=["status", "answer", "resolved_by", "resolved_at"])
    return dispute

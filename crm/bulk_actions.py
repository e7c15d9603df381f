"""Bulk actions on the deal list: reassign deals, or set their close date, all or nothing.

Each deal goes through ``crm.services.deal_update``, so the per-deal rules (scope, assignable
owner, the stage's exit criteria), the ``DealHistory`` row and ``version + 1`` are exactly those
of a single edit. The batch runs in one transaction: when any deal is refused, nothing changes
and the message names every deal that stopped it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from crm import services
from crm.models import Deal
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.org.models import User
from salesops.org.roles import Role
from salesops.permissions import restrict

# Who may change many deals at once: managers (their teams) and sales ops (everyone).
BULK_ROLES = frozenset({Role.MANAGER, Role.OPS, Role.ADMIN})
MAX_DEALS = 200


@dataclass(frozen=True)
class BulkResult:
    """The deals a bulk action changed, and how many already had the requested value."""

    updated: list[Deal] = field(default_factory=list)
    unchanged: int = 0


def deals_reassign(*, deal_ids: list[int], owner: User, acting_user: User) -> BulkResult:
    """Give the deals ``deal_ids`` to ``owner`` (someone in the caller's teams)."""
    return _deals_update(
        deal_ids=deal_ids, acting_user=acting_user, reason="deal_bulk_reassign", owner=owner
    )


def deals_set_close_date(
    *, deal_ids: list[int], close_date: dt.date, acting_user: User
) -> BulkResult:
    """Move the close date of the deals ``deal_ids`` to ``close_date``."""
    if close_date is None:
        raise DomainError("Pick the new close date.", field="close_date")
    return _deals_update(
        deal_ids=deal_ids,
        acting_user=acting_user,
        reason="deal_bulk_close_date",
        close_date=close_date,
    )


def _deals_update(
    *, deal_ids: list[int], acting_user: User, reason: str, **changes: Any
) -> BulkResult:
    ids = sorted({int(pk) for pk in deal_ids})
    if not ids:
        raise DomainError("Select at least one deal.", field="deal")
    if len(ids) > MAX_DEALS:
        raise DomainError(
            f"You selected {len(ids)} deals; change at most {MAX_DEALS} at a time.", field="deal"
        )
    if acting_user.role not in BULK_ROLES:
        raise NotAllowed("Only managers and sales ops can change deals in bulk.")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason=reason):
        # Lock every deal first (in id order, so two batches cannot deadlock), in scope only.
        deals = list(
            restrict(Deal.objects.all(), acting_user, "change")
            .select_for_update(of=("self",))
            .filter(pk__in=ids)
            .order_by("pk")
        )
        found = {deal.pk for deal in deals}
        missing = [pk for pk in ids if pk not in found]
        if missing:
            listed = ", ".join(f"#{pk}" for pk in missing)
            what = (
                f"deals {listed} are outside your teams or no longer exist. Untick them"
                if len(missing) > 1
                else f"deal {listed} is outside your teams or no longer exists. Untick it"
            )
            raise NotAllowed(f"Nothing was changed: {what} and try again.", field="deal")
        if "owner" in changes:
            changes["owner"] = _lock_owner(changes["owner"], acting_user)
        updated, refusals = [], []
        for deal in deals:
            try:
                saved = services.deal_update(
                    deal=deal, acting_user=acting_user, expected_version=deal.version, **changes
                )
            except DomainError as error:  # its savepoint is rolled back; collect and go on
                refusals.append(error.message)
                continue
            if saved.version != deal.version:
                updated.append(saved)
        if refusals:
            raise DomainError(
                f"Nothing was changed: {len(refusals)} of the {len(deals)} selected deals "
                f"cannot be updated. {' '.join(refusals)}",
                field="deal",
            )
        return BulkResult(updated=updated, unchanged=len(deals) - len(updated))


def _lock_owner(owner: User, acting_user: User) -> User:
    """The new owner, re-read and locked: active and inside the caller's scope."""
    locked = (
        restrict(User.objects.filter(pk=owner.pk, is_active=True), acting_user)
        .select_for_update(no_key=True)
        .first()
    )
    if locked is None:
        raise NotAllowed(
            f"Nothing was changed: {owner} is outside your teams or no longer active. "
            "Pick someone in your teams.",
            field="owner",
        )
    return locked

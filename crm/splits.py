"""Deal splits: who shares the credit for a deal, and the rules that keep the shares right.

Revenue splits divide the deal between sellers and must add up to exactly 100 %; a deal with
none credits its owner 100 %. Overlays (specialists) get their percentage on top, reducing no
one. ``compensation.crediting`` turns these rows into credits when the deal is won.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.models import Deal, DealSplit, SplitKind
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.org.models import User
from salesops.permissions import restrict

HUNDRED = Decimal(100)

# One requested split: (person, kind "revenue" or "overlay", percent).
SplitRow = tuple[User, str, Decimal]


def can_change_splits(user: User, deal: Deal) -> bool:
    """True if ``user`` may change who is credited on ``deal`` (its owner's side, or ops)."""
    return user.has_perm("crm.change_dealsplit") and (
        restrict(Deal.objects.filter(pk=deal.pk), user, "change").exists()
    )


def deal_splits_of(deal: Deal) -> list[DealSplit]:
    """The splits of ``deal``, revenue first, largest share first, with their users."""
    return list(DealSplit.objects.filter(deal=deal).select_related("user"))


def deal_splits_set(
    *, deal: Deal, splits: Sequence[SplitRow], acting_user: User
) -> list[DealSplit]:
    """Replace all splits of ``deal`` with ``splits``, in one audited transaction.

    Refused with a message naming the row when a percentage is not above 0 and at most 100,
    a person appears twice with the same kind, a person is not an active user, or the revenue
    splits given do not add up to exactly 100 %. An empty list clears the splits, so the owner
    is credited 100 % again. Nothing changes when any row is refused.
    """
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="deal_splits"):
        if not can_change_splits(acting_user, deal):
            raise NotAllowed("You cannot change who is credited on this deal.")
        rows = _validated(splits)
        # Lock the deal so two people saving splits at once cannot interleave.
        list(Deal.objects.select_for_update().filter(pk=deal.pk).values_list("pk", flat=True))
        # A new version, like any other change to the deal: a commission run that credited the
        # old splits in a locked period sees the deal changed and corrects it (an adjustment).
        Deal.objects.filter(pk=deal.pk).update(
            version=F("version") + 1, updated_at=timezone.now(), updated_by=acting_user
        )
        deal.version = Deal.objects.values_list("version", flat=True).get(pk=deal.pk)
        DealSplit.objects.filter(deal=deal).delete()
        created = DealSplit.objects.bulk_create(
            DealSplit(deal=deal, user=user, kind=kind, percent=percent)
            for user, kind, percent in rows
        )
    return created


def _validated(splits: Sequence[SplitRow]) -> list[SplitRow]:
    """The rows with percentages as Decimals, or a DomainError naming the first bad row."""
    active_ids = set(
        User.objects.filter(pk__in=[user.pk for user, _, _ in splits], is_active=True).values_list(
            "pk", flat=True
        )
    )
    rows: list[SplitRow] = []
    seen: set[tuple[int, str]] = set()
    for number, (user, kind, raw_percent) in enumerate(splits, start=1):
        where = f"Split {number} ({user})"
        if kind not in SplitKind.values:
            raise DomainError(f"{where}: the kind must be revenue or overlay, not '{kind}'.")
        percent = _as_decimal(raw_percent)
        if percent is None or not (0 < percent <= HUNDRED):
            raise DomainError(
                f"{where}: the percentage must be above 0 and at most 100 (got {raw_percent}).",
                field="percent",
            )
        if percent != percent.quantize(Decimal("0.01")):
            raise DomainError(
                f"{where}: use at most two decimals in the percentage (got {raw_percent}).",
                field="percent",
            )
        if (user.pk, kind) in seen:
            raise DomainError(
                f"{where}: {user} already has a {SplitKind(kind).label.lower()} on this deal.",
                field="user",
            )
        if user.pk not in active_ids:
            raise DomainError(f"{where}: {user} is not an active user.", field="user")
        seen.add((user.pk, kind))
        rows.append((user, kind, percent))
    revenue = [(n, u, p) for n, (u, k, p) in enumerate(rows, start=1) if k == SplitKind.REVENUE]
    total = sum((p for _, _, p in revenue), Decimal(0))
    if revenue and total != HUNDRED:
        listed = ", ".join(f"split {n} ({u}) {p} %" for n, u, p in revenue)
        raise DomainError(
            f"Revenue splits must add up to exactly 100 %, but they add up to {total} %: {listed}.",
            field="percent",
        )
    return rows


def _as_decimal(value: object) -> Decimal | None:
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None

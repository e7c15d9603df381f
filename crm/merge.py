"""Merging duplicate accounts and contacts (sales ops and admins).

The person picks the record that survives. Everything hanging on the other one (the loser) moves
to the survivor, the survivor's empty fields are filled from the loser, then the loser is deleted;
django-pghistory keeps its delete event, so the audit trail still shows what it was. One
transaction each, audited with the reason ``account_merge`` / ``contact_merge``.

Deal history stays as it is: ``DealHistory`` is append-only and a deal's account or primary
contact is not a tracked change; a moved deal gets ``version + 1`` (so an edit started before the
merge is refused as stale rather than silently applied) and the audit trail shows the move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from crm.models import Account, Activity, Contact, Deal, Lead
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.org.models import User
from salesops.org.roles import Role
from salesops.permissions import restrict

MERGE_ROLES = frozenset({Role.OPS, Role.ADMIN})

# Fields of the survivor filled from the loser when they are empty, in the order shown.
ACCOUNT_FILL_FIELDS = (
    "domain", "website", "industry", "employees", "annual_revenue", "country", "region", "city",
    "postal_code", "parent", "territory_id", "external_id",
)  # fmt: skip
CONTACT_FILL_FIELDS = ("first_name", "email", "phone", "title", "external_id")


@dataclass(frozen=True)
class MergePlan:
    """What a merge of ``loser`` into ``survivor`` will do: rows to move, fields to fill."""

    survivor: Account | Contact
    loser: Account | Contact
    moves: dict[str, int] = field(default_factory=dict)  # label -> number of rows
    fills: dict[str, Any] = field(default_factory=dict)  # field name -> value from the loser

    @property
    def fill_labels(self) -> list[tuple[str, Any]]:
        model = type(self.survivor)
        return [
            (str(model._meta.get_field(name).verbose_name), value)
            for name, value in self.fills.items()
        ]


def _is_within(account: Account, root: Account, max_depth: int = 50) -> bool:
    """True if ``account`` is ``root`` or somewhere below it in the account tree."""
    current: Account | None = account
    for _ in range(max_depth):
        if current is None:
            return False
        if current.pk == root.pk:
            return True
        current = current.parent
    return True  # deeper than any real tree: treat as a loop


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _fills(survivor, loser, names) -> dict[str, Any]:
    return {
        name: getattr(loser, name)
        for name in names
        if _empty(getattr(survivor, name)) and not _empty(getattr(loser, name))
    }


def account_merge_plan(*, survivor: Account, loser: Account) -> MergePlan:
    """What merging ``loser`` into ``survivor`` moves and fills (read only, for confirmation)."""
    fills = _fills(survivor, loser, ACCOUNT_FILL_FIELDS)
    if "annual_revenue" in fills:
        fills["revenue_currency"] = loser.revenue_currency
    if "parent" in fills and _is_within(fills["parent"], survivor):
        del fills["parent"]  # the loser's parent sits below the survivor: no loops in the tree
    return MergePlan(
        survivor=survivor,
        loser=loser,
        moves={
            "deals": Deal.objects.filter(account=loser).count(),
            "contacts": Contact.objects.filter(account=loser).count(),
            "activities": Activity.objects.filter(account=loser).count(),
            "child accounts": Account.objects.filter(parent=loser).exclude(pk=survivor.pk).count(),
            "converted leads": Lead.objects.filter(converted_account=loser).count(),
        },
        fills=fills,
    )


def account_merge(*, survivor: Account, loser: Account, acting_user: User) -> Account:
    """Merge ``loser`` into ``survivor``: move its deals, contacts, activities, child accounts
    and converted leads, fill the survivor's empty fields from it, then delete it."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="account_merge"):
        _require_merger(acting_user, "account")
        survivor, loser = _lock_pair(Account, survivor, loser, acting_user, "account")
        plan = account_merge_plan(survivor=survivor, loser=loser)
        now = timezone.now()
        Deal.objects.filter(account=loser).update(
            account=survivor, version=F("version") + 1, updated_at=now, updated_by=acting_user
        )
        Contact.objects.filter(account=loser).update(account=survivor)
        Activity.objects.filter(account=loser).update(account=survivor)
        Account.objects.filter(parent=loser).exclude(pk=survivor.pk).update(parent=survivor)
        Lead.objects.filter(converted_account=loser).update(converted_account=survivor)
        if survivor.parent_id == loser.pk:  # the loser's place in the tree goes to the survivor
            survivor.parent_id = None if loser.parent_id == survivor.pk else loser.parent_id
        _delete(loser, "account")
        for name, value in plan.fills.items():
            setattr(survivor, name, value)
        survivor.save()
        survivor.refresh_from_db()  # the generated segment follows the filled employee count
        return survivor


def contact_merge_plan(*, survivor: Contact, loser: Contact) -> MergePlan:
    """What merging contact ``loser`` into ``survivor`` moves and fills (read only)."""
    return MergePlan(
        survivor=survivor,
        loser=loser,
        moves={
            "deals (as primary contact)": Deal.objects.filter(primary_contact=loser).count(),
            "activities": Activity.objects.filter(contact=loser).count(),
        },
        fills=_fills(survivor, loser, CONTACT_FILL_FIELDS),
    )


def contact_merge(*, survivor: Contact, loser: Contact, acting_user: User) -> Contact:
    """Merge contact ``loser`` into ``survivor``: deals that name it as primary contact and its
    activities move to the survivor, the survivor's empty fields are filled, the loser goes."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="contact_merge"):
        _require_merger(acting_user, "contact")
        survivor, loser = _lock_pair(Contact, survivor, loser, acting_user, "contact")
        plan = contact_merge_plan(survivor=survivor, loser=loser)
        if survivor.account_id != loser.account_id:
            # A deal's primary contact works at the deal's account (crm.services holds that rule).
            stranded = list(
                Deal.objects.filter(primary_contact=loser)
                .exclude(account_id=survivor.account_id)
                .order_by("name")
                .values_list("name", flat=True)[:6]
            )
            if stranded:
                names = ", ".join(f"'{name}'" for name in stranded[:5])
                more = " and others" if len(stranded) > 5 else ""
                raise DomainError(
                    f"{loser} is the primary contact of {names}{more} at "
                    f"{loser.account}, but {survivor} works at {survivor.account}. Merge the "
                    f"accounts first, or keep the contact at {loser.account}.",
                    field="survivor",
                )
        now = timezone.now()
        Deal.objects.filter(primary_contact=loser).update(
            primary_contact=survivor,
            version=F("version") + 1,
            updated_at=now,
            updated_by=acting_user,
        )
        Activity.objects.filter(contact=loser).update(contact=survivor)
        _delete(loser, "contact")
        for name, value in plan.fills.items():
            setattr(survivor, name, value)
        survivor.save()
        return survivor


def _require_merger(user: User, noun: str) -> None:
    if user.role not in MERGE_ROLES or not user.has_perm(f"crm.delete_{noun}"):
        raise NotAllowed(f"Only sales ops and admins can merge {noun}s.")


def _lock_pair(model, survivor, loser, acting_user: User, noun: str):
    if survivor.pk == loser.pk:
        raise DomainError(f"Pick two different {noun}s: one to keep and one to merge into it.")
    locked = (
        restrict(model.objects.all(), acting_user, "change")
        .select_for_update(of=("self",))
        .filter(pk__in=[survivor.pk, loser.pk])
        .order_by("pk")
        .in_bulk()
    )
    if survivor.pk not in locked or loser.pk not in locked:
        raise NotFound(
            f"One of the two {noun}s no longer exists (it may have been merged already). "
            "Reload the data-quality page."
        )
    return locked[survivor.pk], locked[loser.pk]


def _delete(obj, noun: str) -> None:
    try:
        obj.delete()
    except ProtectedError as error:  # a record we did not move still points at it
        kinds = sorted({type(o)._meta.verbose_name_plural for o in error.protected_objects})
        raise DomainError(
            f"{obj} cannot be removed: {', '.join(kinds)} still point at this {noun}."
        ) from error

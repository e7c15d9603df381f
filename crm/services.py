"""Writes of the CRM. Every deal change goes through here: board, form, API and import alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.models import Account, Deal, DealHistory, DealType, Pipeline, Stage
from crm.rules import missing_fields, missing_fields_message
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.org.models import User
from salesops.org.roles import Role
from salesops.org.selectors import org_settings
from salesops.permissions import restrict

# The fields whose changes are written to DealHistory.
TRACKED_FIELDS = ("stage", "amount", "close_date", "owner", "forecast_category")
# The fields deal_update accepts.
EDITABLE_FIELDS = frozenset(
    {
        "name", "account", "owner", "stage", "amount", "currency", "close_date", "probability",
        "forecast_category", "type", "next_step", "lost_reason", "primary_contact",
    }
)  # fmt: skip


class DealConflict(DomainError):
    """Someone else saved the deal after the caller read it."""

    http_status = 409

    def __init__(self, message: str, *, current_version: int):
        super().__init__(message)
        self.current_version = current_version


def deal_create(
    *,
    acting_user: User,
    account: Account,
    name: str,
    owner: User | None = None,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    close_date: dt.date | None = None,
    type: str = DealType.NEW,
    next_step: str = "",
    lost_reason: str = "",
    primary_contact=None,
    probability: Decimal | None = None,
    forecast_category: str | None = None,
    external_id: str | None = None,
) -> Deal:
    """Open a deal in ``stage`` (default: the pipeline's first stage), enforcing its exit criteria."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="deal_create"):
        _require_permission(acting_user, "crm.add_deal")
        if not restrict(Account.objects.filter(pk=account.pk), acting_user).exists():
            raise DomainError(f"You cannot add deals to {account}.", field="account")
        owner = owner or acting_user
        _require_assignable_owner(acting_user, owner)
        pipeline = pipeline or (stage.pipeline if stage else _default_pipeline(type))
        stage = stage or pipeline.stages.order_by("position").first()
        if stage is None or stage.pipeline_id != pipeline.pk:
            raise DomainError(f"{pipeline} has no stage to start the deal in.", field="stage")
        values = {
            "amount": amount, "close_date": close_date, "next_step": next_step,
            "lost_reason": lost_reason, "primary_contact": primary_contact,
        }  # fmt: skip
        missing = missing_fields(values, stage)
        if missing:
            raise DomainError(missing_fields_message(name, stage, missing), field=missing[0])
        _require_contact_of(primary_contact, account)
        now = timezone.now()
        deal = Deal.objects.create(
            name=name, account=account, owner=owner, pipeline=pipeline, stage=stage,
            amount=amount, currency=currency or org_settings().corporate_currency,
            close_date=close_date, type=type, next_step=next_step, lost_reason=lost_reason,
            primary_contact=primary_contact,
            probability=stage.probability if probability is None else probability,
            forecast_category=forecast_category or stage.forecast_category,
            external_id=external_id, created_at=now, stage_entered_at=now,
            closed_at=now if stage.is_closed else None, updated_at=now, updated_by=acting_user,
        )  # fmt: skip
        _append_history(deal, before=None, changed=["created"], by=acting_user, at=now)
        return deal


def deal_update(*, deal: Deal, acting_user: User, expected_version: int, **changes: Any) -> Deal:
    """Change a deal's fields (moving it when ``stage`` is among them), in one transaction.

    Refused with ``DealConflict`` when the deal was saved by someone else after the caller read
    version ``expected_version``; refused with ``DomainError`` when the deal's stage (new or
    current) needs a field that would be empty, or the caller may not make the change.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise DomainError(f"These deal fields cannot be changed: {', '.join(sorted(unknown))}.")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="deal_update"):
        _require_permission(acting_user, "crm.change_deal")
        current = (
            restrict(Deal.objects.all(), acting_user, "change")
            .select_for_update(of=("self",))
            .select_related("stage", "pipeline", "updated_by")
            .filter(pk=deal.pk)
            .first()
        )
        if current is None:
            raise NotFound("This deal does not exist or is not yours to change.")
        if current.version != expected_version:
            raise DealConflict(_conflict_message(current), current_version=current.version)
        before = history_before(current)
        changes = {k: v for k, v in changes.items() if getattr(current, k) != v}
        if "owner" in changes:
            _require_assignable_owner(acting_user, changes["owner"])
        stage = changes.get("stage", current.stage)
        if "stage" in changes:
            if stage.pipeline_id != current.pipeline_id:
                raise DomainError(
                    f"{stage.name} is a stage of {stage.pipeline}, not of {current.pipeline}.",
                    field="stage",
                )
            changes.setdefault("probability", stage.probability)
            changes.setdefault("forecast_category", stage.forecast_category)
        values = {name: changes.get(name, getattr(current, name)) for name in EDITABLE_FIELDS}
        if "primary_contact" in changes or "account" in changes:
            _require_contact_of(values["primary_contact"], values["account"])
            if (
                "account" in changes
                and not restrict(
                    Account.objects.filter(pk=values["account"].pk), acting_user
                ).exists()
            ):
                raise DomainError(f"You cannot move deals to {values['account']}.", field="account")
        missing = missing_fields(values, stage)
        if missing:
            message = missing_fields_message(
                values["name"], stage, missing, moving="stage" in changes
            )
            raise DomainError(message, field=missing[0])
        if not changes:
            return current
        now = timezone.now()
        for name, value in changes.items():
            setattr(current, name, value)
        if "stage" in changes:
            current.stage_entered_at = now
            current.closed_at = now if stage.is_closed else None
        current.version += 1
        current.updated_at = now
        current.updated_by = acting_user
        current.save()
        changed = changed_fields(before, current)
        if changed:
            _append_history(current, before=before, changed=changed, by=acting_user, at=now)
        return current


def deal_move(
    *,
    deal: Deal,
    stage: Stage,
    acting_user: User,
    expected_version: int,
    fields: dict[str, Any] | None = None,
) -> Deal:
    """Move ``deal`` to ``stage``, filling ``fields`` the stage asks for in the same save."""
    return deal_update(
        deal=deal, acting_user=acting_user, expected_version=expected_version,
        stage=stage, **(fields or {}),
    )  # fmt: skip


def deal_close(
    *,
    deal: Deal,
    won: bool,
    acting_user: User,
    expected_version: int,
    fields: dict[str, Any] | None = None,
) -> Deal:
    """Mark a deal won or lost: move it to its pipeline's first won (or lost) stage."""
    flag = "is_won" if won else "is_lost"
    stage = Stage.objects.filter(pipeline_id=deal.pipeline_id, **{flag: True}).order_by("position")
    target = stage.first()
    if target is None:
        raise DomainError(f"{deal.pipeline} has no {'won' if won else 'lost'} stage.")
    return deal_move(
        deal=deal, stage=target, acting_user=acting_user,
        expected_version=expected_version, fields=fields,
    )  # fmt: skip


def history_before(deal: Deal) -> dict[str, Any]:
    """The values of ``deal`` a history row compares against, read before a change."""
    return {name: getattr(deal, name) for name in (*TRACKED_FIELDS, "probability")}


def changed_fields(before: dict[str, Any], deal: Deal) -> list[str]:
    """The tracked fields of ``deal`` that differ from ``before``.

    A probability changed by hand (not by a stage move, which brings the stage's default) is
    recorded as well, so weighted pipeline can be rebuilt as of any past date.
    """
    changed = [name for name in TRACKED_FIELDS if before[name] != getattr(deal, name)]
    if "stage" not in changed and before["probability"] != deal.probability:
        changed.append("probability")
    return changed


def history_row(
    deal: Deal, *, before: dict | None, changed: list[str], by: User | None, at: dt.datetime
) -> DealHistory:
    """The (unsaved) history row for ``changed`` fields of ``deal``; imports save them in bulk."""
    before = before or {}
    return DealHistory(
        deal=deal, changed_at=at, changed_by=by, changed_fields=changed,
        from_stage=before.get("stage"), to_stage=deal.stage,
        from_amount=before.get("amount"), to_amount=deal.amount, currency=deal.currency,
        from_close_date=before.get("close_date"), to_close_date=deal.close_date,
        from_owner=before.get("owner"), to_owner=deal.owner,
        from_forecast_category=before.get("forecast_category", ""),
        to_forecast_category=deal.forecast_category, to_probability=deal.probability,
    )  # fmt: skip


def _append_history(
    deal: Deal, *, before: dict | None, changed: list[str], by: User | None, at: dt.datetime
) -> DealHistory:
    row = history_row(deal, before=before, changed=changed, by=by, at=at)
    row.save()
    return row


def _conflict_message(current: Deal) -> str:
    who = current.updated_by or "someone"
    when = timezone.localtime(current.updated_at).strftime("%H:%M")
    return (
        f"{who} saved '{current.name}' at {when} while you were editing it, so your changes "
        "were not saved. Reload the deal to see their changes, then apply yours again."
    )


def _require_permission(user: User, perm: str) -> None:
    if not user.has_perm(perm):
        raise NotAllowed("Your role does not allow this change.")


def _require_assignable_owner(acting_user: User, owner: User) -> None:
    if owner == acting_user:
        return
    if acting_user.role == Role.REP:
        raise NotAllowed(
            "Only managers and sales ops can give a deal to someone else.", field="owner"
        )
    if not restrict(User.objects.filter(pk=owner.pk), acting_user).exists():
        raise NotAllowed(f"{owner} is outside your teams.", field="owner")


def _require_contact_of(contact, account: Account) -> None:
    if contact is not None and contact.account_id != account.pk:
        raise DomainError(
            f"{contact} works at another account, not {account}.", field="primary_contact"
        )


def _default_pipeline(deal_type: str) -> Pipeline:
    pipeline = (
        Pipeline.objects.filter(active=True, kind=deal_type).first()
        or Pipeline.objects.filter(active=True).first()
    )
    if pipeline is None:
        raise DomainError("No active pipeline exists yet; sales ops must create one first.")
    return pipeline


def stage_save(
    *,
    acting_user: User,
    pipeline: Pipeline,
    name: str,
    probability: Decimal,
    forecast_category: str,
    required_fields: list[str] | None = None,
    position: int | None = None,
    is_won: bool = False,
    is_lost: bool = False,
    rot_days: int | None = None,
    stage: Stage | None = None,
) -> Stage:
    """Add a stage to ``pipeline`` (or change ``stage``), checking its rule is one we can enforce."""
    from crm.models import RequirableField

    with transaction.atomic(), audit_context(acting_user=acting_user, reason="stage_save"):
        _require_permission(acting_user, "crm.change_stage" if stage else "crm.add_stage")
        required_fields = list(dict.fromkeys(required_fields or []))
        unknown = [f for f in required_fields if f not in RequirableField.values]
        if unknown:
            raise DomainError(
                f"A stage cannot require {', '.join(unknown)}; choose from "
                f"{', '.join(RequirableField.values)}.",
                field="required_fields",
            )
        if not Decimal(0) <= Decimal(probability) <= Decimal(100):
            raise DomainError("Probability must be between 0 and 100.", field="probability")
        if is_won and is_lost:
            raise DomainError("A stage cannot be both won and lost.", field="is_won")
        clash = Stage.objects.filter(pipeline=pipeline, name__iexact=name)
        if stage is not None:
            clash = clash.exclude(pk=stage.pk)
        if clash.exists():
            raise DomainError(f"{pipeline} already has a stage named '{name}'.", field="name")
        if position is None:
            position = (stage.position if stage else pipeline.stages.count()) or 0
        values = {
            "name": name, "probability": probability, "forecast_category": forecast_category,
            "required_fields": required_fields, "position": position, "is_won": is_won,
            "is_lost": is_lost, "rot_days": rot_days,
        }  # fmt: skip
        if stage is None:
            return Stage.objects.create(pipeline=pipeline, **values)
        for field, value in values.items():
            setattr(stage, field, value)
        stage.save()
        return stage


ACCOUNT_FIELDS = frozenset(
    {
        "name", "domain", "website", "industry", "employees", "annual_revenue",
        "revenue_currency", "country", "region", "city", "postal_code", "parent", "owner",
        "external_id",
    }
)  # fmt: skip


def account_save(*, acting_user: User, account: Account | None = None, **fields: Any) -> Account:
    """Create an account, or change ``account``; the owner must be someone the caller may assign."""
    unknown = set(fields) - ACCOUNT_FIELDS
    if unknown:
        raise DomainError(f"These account fields cannot be set: {', '.join(sorted(unknown))}.")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="account_save"):
        _require_permission(acting_user, "crm.change_account" if account else "crm.add_account")
        if account is not None:
            account = (
                restrict(Account.objects.all(), acting_user, "change").filter(pk=account.pk).first()
            )
            if account is None:
                raise NotFound("This account does not exist or is not yours to change.")
        owner = fields.get("owner") or (account.owner if account else acting_user)
        if account is None or owner != account.owner:
            _require_assignable_owner(acting_user, owner)
        fields["owner"] = owner
        if fields.get("country"):
            fields["country"] = fields["country"].upper()
        if fields.get("domain"):
            fields["domain"] = fields["domain"].strip().lower().removeprefix("www.")
        if account is None:
            return Account.objects.create(**fields)
        for name, value in fields.items():
            setattr(account, name, value)
        account.save()
        return account


def contact_create(*, acting_user: User, account: Account, last_name: str, **fields: Any):
    """Add a person to an account the caller can see; they own the contact."""
    from crm.models import Contact

    with transaction.atomic(), audit_context(acting_user=acting_user, reason="contact_create"):
        _require_permission(acting_user, "crm.add_contact")
        if not restrict(Account.objects.filter(pk=account.pk), acting_user).exists():
            raise DomainError(f"You cannot add contacts to {account}.", field="account")
        if not last_name.strip():
            raise DomainError("A contact needs a last name.", field="last_name")
        fields.setdefault("owner", acting_user)
        _require_assignable_owner(acting_user, fields["owner"])
        return Contact.objects.create(account=account, last_name=last_name, **fields)


def activity_log(
    *,
    acting_user: User,
    kind: str,
    subject: str,
    deal: Deal | None = None,
    account: Account | None = None,
    contact=None,
    notes: str = "",
    due_at: dt.datetime | None = None,
    done: bool = True,
):
    """Record a call, email, meeting or demo (done now), or schedule a task (``done=False``)."""
    from crm.models import Activity, Contact

    with transaction.atomic(), audit_context(acting_user=acting_user, reason="activity_log"):
        _require_permission(acting_user, "crm.add_activity")
        if deal is None and account is None and contact is None:
            raise DomainError("Log the activity on a deal, an account or a contact.", field="deal")
        for model, obj, label in (
            (Deal, deal, "deal"),
            (Account, account, "account"),
            (Contact, contact, "contact"),
        ):
            if (
                obj is not None
                and not restrict(model.objects.filter(pk=obj.pk), acting_user).exists()
            ):
                raise DomainError(f"You cannot log activities on this {label}.", field=label)
        if not subject.strip():
            raise DomainError("An activity needs a subject.", field="subject")
        if deal is not None and account is None:
            account = deal.account
        return Activity.objects.create(
            kind=kind, subject=subject, notes=notes, owner=acting_user, deal=deal,
            account=account, contact=contact, due_at=due_at,
            done_at=timezone.now() if done else None,
        )  # fmt: skip


def activity_complete(*, acting_user: User, activity):
    """Tick off a task."""
    from crm.models import Activity

    with transaction.atomic(), audit_context(acting_user=acting_user, reason="activity_complete"):
        mine = (
            restrict(Activity.objects.all(), acting_user, "change").filter(pk=activity.pk).first()
        )
        if mine is None:
            raise NotFound("This task does not exist or is not yours.")
        if mine.done_at is None:
            mine.done_at = timezone.now()
            mine.save(update_fields=["done_at"])
        return mine

"""Lead services: create and route, first response, disqualify, convert.

Part of the CRM service layer (``crm.services`` holds deals and accounts): one transaction per
call, audited, refusing with a message a person can act on.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crm import services
from crm.models import DealType, Lead, LeadRoutingRule, LeadStatus
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.org.models import RepProfile, User
from salesops.permissions import restrict

LEAD_FIELDS = frozenset(
    {"first_name", "last_name", "company", "email", "phone", "title", "country", "employees",
     "source", "owner", "external_id"}
)  # fmt: skip


def lead_create(*, acting_user: User | None, **fields) -> Lead:
    """Record a lead; without an owner it is routed by the lead routing rules."""
    unknown = set(fields) - LEAD_FIELDS
    if unknown:
        raise DomainError(f"These lead fields cannot be set: {', '.join(sorted(unknown))}.")
    if not (fields.get("last_name") or "").strip() or not (fields.get("company") or "").strip():
        raise DomainError("A lead needs at least a last name and a company.", field="last_name")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="lead_create"):
        fields["country"] = (fields.get("country") or "").upper()
        lead = Lead(created_at=timezone.now(), **fields)
        if lead.owner is None:
            lead.owner = route_lead(lead)
        lead.save()
        return lead


def route_lead(lead: Lead) -> User | None:
    """The next rep of the first matching rule's team, round-robin (None if nothing matches)."""
    for rule in (
        LeadRoutingRule.objects.filter(active=True).select_for_update().order_by("position")
    ):
        if not rule.matches(lead):
            continue
        reps = list(
            RepProfile.objects.filter(team=rule.team, active=True, user__is_active=True)
            .order_by("user_id")
            .values_list("user_id", flat=True)
        )
        if not reps:
            continue
        after = [r for r in reps if rule.last_assigned_id is not None and r > rule.last_assigned_id]
        chosen = after[0] if after else reps[0]
        rule.last_assigned_id = chosen
        rule.save(update_fields=["last_assigned"])
        return User.objects.get(pk=chosen)
    return None


def _my_lead(lead: Lead, acting_user: User) -> Lead:
    mine = (
        restrict(Lead.objects.all(), acting_user, "change").select_for_update().filter(pk=lead.pk)
    )
    found = mine.first()
    if found is None:
        raise NotFound("This lead does not exist or is not yours.")
    return found


def lead_set_status(*, lead: Lead, status: str, acting_user: User, reason: str = "") -> Lead:
    """Work, qualify or disqualify a lead; the first move out of New is the first response."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="lead_set_status"):
        if not acting_user.has_perm("crm.change_lead"):
            raise NotAllowed("Your role does not allow changing leads.")
        lead = _my_lead(lead, acting_user)
        if lead.status == LeadStatus.CONVERTED:
            raise DomainError("This lead was converted; work on its deal instead.")
        if status == LeadStatus.CONVERTED:
            raise DomainError("Convert a lead with the Convert action.", field="status")
        if status == LeadStatus.DISQUALIFIED and not reason.strip():
            raise DomainError("Say why the lead is disqualified.", field="disqualify_reason")
        lead.status = status
        lead.disqualify_reason = reason if status == LeadStatus.DISQUALIFIED else ""
        if lead.first_response_at is None and status != LeadStatus.NEW:
            lead.first_response_at = timezone.now()
        lead.save()
        return lead


def lead_convert(
    *,
    lead: Lead,
    acting_user: User,
    deal_name: str | None = None,
    amount: Decimal | None = None,
    close_date=None,
    account=None,
    account_name: str = "",
    pipeline=None,
):
    """Turn a lead into an account (or use ``account``), a contact and a deal, in one step.

    A new account is named ``account_name`` (default: the lead's company); the deal opens in the
    first stage of ``pipeline`` (default: the new-business pipeline).
    """
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="lead_convert"):
        if not acting_user.has_perm("crm.change_lead"):
            raise NotAllowed("Your role does not allow changing leads.")
        lead = _my_lead(lead, acting_user)
        if lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
            raise DomainError(
                f"This lead is {lead.get_status_display().lower()}; it cannot be converted."
            )
        owner = lead.owner or acting_user
        if account is None:
            account = services.account_save(
                acting_user=acting_user, name=account_name.strip() or lead.company,
                country=lead.country,
                employees=lead.employees, owner=owner,
                domain=lead.email.partition("@")[2] if lead.email else "",
            )  # fmt: skip
        contact = services.contact_create(
            acting_user=acting_user, account=account, last_name=lead.last_name,
            first_name=lead.first_name, email=lead.email, phone=lead.phone, title=lead.title,
            owner=owner,
        )  # fmt: skip
        deal = services.deal_create(
            acting_user=acting_user, account=account, owner=owner, pipeline=pipeline,
            type=pipeline.kind if pipeline else DealType.NEW,
            name=deal_name or f"{account.name} – new business", amount=amount,
            close_date=close_date, primary_contact=contact,
        )  # fmt: skip
        deal.source_lead = lead
        deal.save(update_fields=["source_lead"])
        now = timezone.now()
        lead.status = LeadStatus.CONVERTED
        lead.converted_at = now
        lead.converted_account = account
        lead.first_response_at = lead.first_response_at or now
        lead.save()
        return deal

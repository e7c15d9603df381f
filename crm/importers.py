"""Import targets of the CRM: accounts, contacts, leads, deals, deal stage history, activities.

Every target upserts by external id (a re-import updates, never duplicates), resolves references
in bulk (owner by external id, email, username or name; account by external id or name …) and
applies the same rules as ``crm.services``: deals are checked against their stage's exit criteria
with ``crm.rules.missing_fields``, and every created or changed deal gets its stage-history row.
Writes are set-based (``bulk_create`` / ``bulk_update``) inside the engine's one transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from crm import import_presets as presets
from crm.leads import route_lead
from crm.models import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealHistory,
    DealType,
    ForecastCategory,
    Lead,
    LeadSource,
    LeadStatus,
    Pipeline,
    Stage,
)
from crm.rules import missing_fields
from crm.services import changed_fields, history_before, history_row
from salesops.imports.fields import ImportField, ImportOption, Kind
from salesops.imports.lookups import Lookup, Unresolved, named_lookup, user_lookup
from salesops.imports.targets import ImportContext, ImportTarget, Plan, Record
from salesops.money import round_money
from salesops.org.models import User
from salesops.org.selectors import org_settings
from salesops.permissions import restrict

BATCH = 2000
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def _ref(name: str, label: str, help: str, *, required: bool = False, aliases=()) -> ImportField:
    return ImportField(name, label, Kind.REFERENCE, required=required, help=help, aliases=aliases)


OWNER = _ref(
    "owner", "Owner", "External id, email, username or full name of a user; empty: you.",
    aliases=("owner_id", "owner email", "sales_agent", "rep"),
)  # fmt: skip
EXTERNAL_ID = ImportField(
    "external_id", "External id", max_length=64, aliases=("id", "external id"),
    help="The record's id in the source system; re-importing the same id updates the record.",
)  # fmt: skip


def _values(records: Iterable[Record], name: str) -> set[str]:
    return {r[name] for r in records if r.get(name)}


def _resolve(context: ImportContext, row: int, record: Record, name: str, lookup: Lookup):
    """The record ``record[name]`` refers to, or None (with an error when it names nothing)."""
    text = record.get(name)
    if not text:
        return None
    try:
        return lookup.get(text)
    except Unresolved as reason:
        context.error(row, name, str(reason))
        return None


def _owner(context: ImportContext, row: int, record: Record, name: str, lookup: Lookup):
    """Like ``_resolve``; with the "unknown owner becomes you" option, a name that matches
    nobody gives the importing user (and a note), while an ambiguous one stays an error."""
    text = record.get(name)
    if text and context.options.get("unknown_owner") == "me" and not lookup.matches(text):
        context.note(f"Owner '{text}' matches no user: rows get you as owner")
        return context.acting_user
    return _resolve(context, row, record, name, lookup)


def _owners(records: dict[int, Record], context: ImportContext, *names: str) -> Lookup:
    values = set().union(*(_values(records.values(), n) for n in names))
    return user_lookup(restrict(User.objects.filter(is_active=True), context.acting_user), values)


def _existing(model, records: dict[int, Record], context: ImportContext) -> dict[str, Any]:
    """Records already in the database, by external id, locked when committing."""
    keys = _values(records.values(), "external_id")
    if not keys:
        return {}
    queryset = model.objects.filter(external_id__in=keys)
    if context.commit:
        queryset = queryset.select_for_update(of=("self",))
    found = {obj.external_id: obj for obj in queryset}
    changeable = set(
        restrict(
            model.objects.filter(external_id__in=found), context.acting_user, "change"
        ).values_list("external_id", flat=True)
    )
    for row, record in records.items():
        key = record.get("external_id")
        if key in found and key not in changeable:
            context.error(row, "external_id", f"'{key}' belongs to a record you may not change")
    return found


def _diff(obj, values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if getattr(obj, k) != v}


def _plan_upsert(plan: Plan, obj, values: dict[str, Any], new) -> None:
    """Classify one row: ``new()`` builds the record to create when ``obj`` (the record with the
    row's external id) is None; else the changed fields are an update, or the row is unchanged."""
    if obj is None:
        plan.creates.append(new())
    elif changes := _diff(obj, values):
        plan.updates.append((obj, changes))
    else:
        plan.unchanged += 1


def _write_upsert(model, plan: Plan) -> dict[str, int]:
    """Write a plan made by ``_plan_upsert``."""
    model.objects.bulk_create(plan.creates, batch_size=BATCH)
    _bulk_update(model, plan.updates)
    return {"created": len(plan.creates), "updated": len(plan.updates)}


def _bulk_update(model, changed: list[tuple[Any, dict[str, Any]]], extra: Iterable[str] = ()):
    """Write each object's changed fields: one bulk_update per set of changed field names."""
    by_fields: dict[tuple[str, ...], list] = {}
    for obj, changes in changed:
        for name, value in changes.items():
            setattr(obj, name, value)
        by_fields.setdefault(tuple(sorted({*changes, *extra})), []).append(obj)
    for fields, objs in by_fields.items():
        model.objects.bulk_update(objs, fields, batch_size=BATCH)


# --- accounts --------------------------------------------------------------------------------


class AccountImport(ImportTarget):
    key = "accounts"
    tables = ("crm_account",)
    label = "Accounts"
    description = "Companies you sell to. Parent accounts may be in the same file."
    permissions = ("crm.add_account", "crm.change_account")
    fields = (
        EXTERNAL_ID,
        ImportField("name", "Name", required=True, max_length=200, aliases=("account", "company")),
        ImportField("domain", "Domain", max_length=200, help="e.g. acme.com; from the website if empty."),
        ImportField("website", "Website", max_length=200),
        ImportField("industry", "Industry", max_length=100, aliases=("sector",)),
        ImportField("employees", "Employees", Kind.INTEGER, minimum=ZERO, aliases=("numberofemployees",)),
        ImportField("annual_revenue", "Annual revenue", Kind.DECIMAL, minimum=ZERO, aliases=("revenue",)),
        ImportField("revenue_currency", "Revenue currency", Kind.CURRENCY),
        ImportField("country", "Country", Kind.COUNTRY, aliases=("billingcountry",)),
        ImportField("region", "State / region", max_length=100, aliases=("state", "billingstate")),
        ImportField("city", "City", max_length=100, aliases=("billingcity",)),
        ImportField("postal_code", "Postal code", max_length=20, aliases=("zip", "billingpostalcode")),
        _ref("parent", "Parent account", "External id or name of the parent account (may be in this file).",
             aliases=("parentid", "subsidiary_of")),
        OWNER,
    )  # fmt: skip
    presets = presets.ACCOUNT_PRESETS
    WRITABLE = (
        "name", "domain", "website", "industry", "employees", "annual_revenue",
        "revenue_currency", "country", "region", "city", "postal_code", "owner",
    )  # fmt: skip

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        plan = Plan()
        owners = _owners(records, context, "owner")
        existing = _existing(Account, records, context)
        parents = named_lookup(
            Account.objects.all(), _values(records.values(), "parent"), "account"
        )
        in_file: dict[str, int] = {}
        for row, record in records.items():
            for key in (record.get("external_id"), record.get("name")):
                if key:
                    in_file.setdefault(key.strip().lower(), row)
        currency = org_settings().corporate_currency
        for row, record in records.items():
            values = {k: record[k] for k in self.WRITABLE if k in record}
            owner = _owner(context, row, record, "owner", owners)
            if owner is not None:
                values["owner"] = owner
            if not record.get("domain") and record.get("website"):
                values["domain"] = _domain_of(record["website"])
            elif record.get("domain"):
                values["domain"] = _domain_of(record["domain"])
            if "annual_revenue" in values:
                values["annual_revenue"] = round_money(
                    values["annual_revenue"], record.get("revenue_currency") or currency
                )
            parent_text = record.get("parent")
            parent_row = in_file.get(parent_text.strip().lower()) if parent_text else None
            parent = parents.find(parent_text) if parent_text else None
            if parent_text and parent is None and parent_row is None:
                _resolve(context, row, record, "parent", parents)  # reports why
            if parent_text and parent_row == row:
                context.error(row, "parent", "an account cannot be its own parent")
            obj = existing.get(record.get("external_id"))
            if obj is None:
                values.setdefault("owner", context.acting_user)
                account = Account(external_id=record.get("external_id"), **values)
                plan.creates.append((row, account, parent, parent_row))
            else:
                changes = _diff(obj, values)
                if changes or parent_text:
                    plan.updates.append((row, obj, changes, parent, parent_row))
                else:
                    plan.unchanged += 1
        return plan

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        created = Account.objects.bulk_create(
            [account for _, account, _, _ in plan.creates], batch_size=BATCH
        )
        by_row = {row: account for (row, *_), account in zip(plan.creates, created, strict=True)}
        by_row.update({row: obj for row, obj, *_ in plan.updates})
        parent_links = []
        for _row, account, parent, parent_row in plan.creates:
            target = parent or by_row.get(parent_row)
            if target is not None:
                account.parent = target
                parent_links.append(account)
        changed = []
        for _row, obj, changes, parent, parent_row in plan.updates:
            target = parent or by_row.get(parent_row)
            if target is not None and obj.parent_id != target.pk:
                changes = {**changes, "parent": target}
            if changes:
                changed.append((obj, changes))
        Account.objects.bulk_update(parent_links, ["parent"], batch_size=BATCH)
        _bulk_update(Account, changed)
        return {"created": len(created), "updated": len(changed)}

    def describe(self, item) -> str:
        account = item[1]
        return f"{account.name} ({account.country or 'no country'}), owner {account.owner}"


def _domain_of(text: str) -> str:
    domain = text.strip().lower().split("://")[-1].split("/")[0]
    return domain.removeprefix("www.")


# --- contacts --------------------------------------------------------------------------------


class ContactImport(ImportTarget):
    key = "contacts"
    tables = ("crm_contact",)
    label = "Contacts"
    description = "People at your accounts; the account must exist (import accounts first)."
    permissions = ("crm.add_contact", "crm.change_contact")
    fields = (
        EXTERNAL_ID,
        _ref("account", "Account", "External id or name of the account.", required=True,
             aliases=("accountid", "account name", "company")),
        ImportField("first_name", "First name", max_length=100, aliases=("firstname",)),
        ImportField("last_name", "Last name", required=True, max_length=100, aliases=("lastname", "surname")),
        ImportField("email", "Email", Kind.EMAIL, max_length=254),
        ImportField("phone", "Phone", max_length=40),
        ImportField("title", "Title", max_length=120, aliases=("job title",)),
        _ref("owner", "Owner", "A user (external id, email, username or name); empty: the account's owner.",
             aliases=("ownerid",)),
    )  # fmt: skip
    presets = presets.CONTACT_PRESETS
    WRITABLE = ("first_name", "last_name", "email", "phone", "title")

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        plan = Plan()
        owners = _owners(records, context, "owner")
        accounts = named_lookup(
            restrict(Account.objects.all(), context.acting_user),
            _values(records.values(), "account"),
            "account",
        )
        existing = _existing(Contact, records, context)
        for row, record in records.items():
            account = _resolve(context, row, record, "account", accounts)
            owner = _owner(context, row, record, "owner", owners)
            if account is None:
                continue
            values = {k: record.get(k, "") for k in self.WRITABLE if k in record}
            values["account"] = account
            if owner is not None:
                values["owner"] = owner
            key = record.get("external_id")
            _plan_upsert(
                plan, existing.get(key), values,
                lambda v=values, a=account, k=key: Contact(external_id=k, **{"owner": a.owner, **v}),
            )  # fmt: skip
        return plan

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        return _write_upsert(Contact, plan)

    def describe(self, item) -> str:
        return f"{item} at {item.account}" + (f" <{item.email}>" if item.email else "")


# --- leads -----------------------------------------------------------------------------------


class LeadImport(ImportTarget):
    key = "leads"
    tables = ("crm_lead",)
    label = "Leads"
    description = "Prospects before there is an account; leads without an owner are routed."
    permissions = ("crm.add_lead", "crm.change_lead")
    fields = (
        EXTERNAL_ID,
        ImportField("first_name", "First name", max_length=100, aliases=("firstname",)),
        ImportField("last_name", "Last name", required=True, max_length=100, aliases=("lastname",)),
        ImportField("company", "Company", required=True, max_length=200),
        ImportField("email", "Email", Kind.EMAIL, max_length=254),
        ImportField("phone", "Phone", max_length=40),
        ImportField("title", "Title", max_length=120),
        ImportField("country", "Country", Kind.COUNTRY),
        ImportField("employees", "Employees", Kind.INTEGER, minimum=ZERO, aliases=("numberofemployees",)),
        ImportField("source", "Source", Kind.CHOICE, choices=LeadSource.choices, aliases=("leadsource",)),
        ImportField("status", "Status", Kind.CHOICE, choices=LeadStatus.choices),
        _ref("owner", "Owner", "A user; empty: routed by the lead routing rules.", aliases=("ownerid",)),
        ImportField("created_at", "Created", Kind.DATETIME, aliases=("createddate",)),
        ImportField("first_response_at", "First response", Kind.DATETIME),
        ImportField("converted_at", "Converted", Kind.DATETIME, aliases=("converteddate",)),
        ImportField("disqualify_reason", "Disqualify reason", max_length=255),
    )  # fmt: skip
    presets = presets.LEAD_PRESETS
    WRITABLE = (
        "first_name", "last_name", "company", "email", "phone", "title", "country", "employees",
        "source", "status", "first_response_at", "converted_at", "disqualify_reason",
    )  # fmt: skip

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        plan = Plan()
        owners = _owners(records, context, "owner")
        existing = _existing(Lead, records, context)
        for row, record in records.items():
            owner = _owner(context, row, record, "owner", owners)
            values = {k: record[k] for k in self.WRITABLE if k in record}
            status = values.get("status", LeadStatus.NEW)
            if status == LeadStatus.DISQUALIFIED and not values.get("disqualify_reason"):
                context.error(row, "disqualify_reason", "a disqualified lead needs a reason")
            if status != LeadStatus.DISQUALIFIED:
                values.pop("disqualify_reason", None)
            if status == LeadStatus.CONVERTED and not values.get("converted_at"):
                values["converted_at"] = record.get("created_at") or context.now
            if owner is not None:
                values["owner"] = owner
            key, created_at = record.get("external_id"), record.get("created_at") or context.now
            _plan_upsert(
                plan, existing.get(key), values,
                lambda v=values, k=key, c=created_at: Lead(external_id=k, created_at=c, **v),
            )  # fmt: skip
        return plan

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        routed = 0
        for lead in plan.creates:
            if lead.owner_id is None and lead.status in (LeadStatus.NEW, LeadStatus.WORKING):
                lead.owner = route_lead(lead)
                routed += lead.owner is not None
        return {**_write_upsert(Lead, plan), "routed": routed}

    def describe(self, item) -> str:
        return f"{item} — {item.get_status_display()}"


# --- deals -----------------------------------------------------------------------------------


class DealImport(ImportTarget):
    key = "deals"
    tables = ("crm_deal", "crm_dealhistory")
    label = "Deals"
    description = (
        "Opportunities. Each row must satisfy its stage's exit criteria, exactly as on the board; "
        "a created or changed deal gets a stage-history row."
    )
    permissions = ("crm.add_deal", "crm.change_deal")
    fields = (
        EXTERNAL_ID,
        ImportField("name", "Name", required=True, max_length=200, aliases=("deal", "opportunity")),
        _ref("account", "Account", "External id or name of the account.", required=True,
             aliases=("accountid",)),
        OWNER,
        _ref("pipeline", "Pipeline", "Pipeline name; empty: the import's pipeline option."),
        _ref("stage", "Stage", "Stage name in the deal's pipeline.", required=True,
             aliases=("stagename", "deal_stage")),
        ImportField("amount", "Amount", Kind.DECIMAL, minimum=ZERO, aliases=("close_value", "value")),
        ImportField("currency", "Currency", Kind.CURRENCY, aliases=("currencyisocode",)),
        ImportField("close_date", "Close date", Kind.DATE, aliases=("closedate",)),
        ImportField("probability", "Probability %", Kind.DECIMAL, minimum=ZERO,
                    help="Empty: the stage's default."),
        ImportField("forecast_category", "Forecast category", Kind.CHOICE,
                    choices=ForecastCategory.choices, aliases=("forecastcategoryname",),
                    help="Empty: the stage's default."),
        ImportField("type", "Type", Kind.CHOICE, choices=DealType.choices),
        ImportField("next_step", "Next step", max_length=255, aliases=("nextstep",)),
        ImportField("lost_reason", "Lost reason", max_length=255,
                    help="Kept on deals in a lost stage only."),
        _ref("primary_contact", "Primary contact", "External id or email of a contact at the account.",
             aliases=("contactid",)),
        ImportField("created_at", "Created", Kind.DATETIME, aliases=("createddate",)),
        ImportField("stage_entered_at", "Entered stage", Kind.DATETIME, aliases=("laststagechangedate",)),
        ImportField("closed_at", "Closed", Kind.DATETIME,
                    help="For won and lost deals; empty: the close date."),
        ImportField("cycle_days", "Days from created to close", Kind.INTEGER, minimum=ZERO,
                    help="When there is no created date: created = close date − these days."),
    )  # fmt: skip
    options = (
        ImportOption("pipeline", "Pipeline for rows without one", help="A pipeline name."),
        ImportOption(
            "create_missing_accounts",
            "Create accounts that do not exist yet (by name, owned by the deal's owner)",
            Kind.BOOLEAN,
            default=False,
        ),
    )
    presets = presets.DEAL_PRESETS

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        plan = Plan()
        owners = _owners(records, context, "owner")
        accounts = named_lookup(
            restrict(Account.objects.all(), context.acting_user),
            _values(records.values(), "account"),
            "account",
        )
        contacts = _contact_lookup(records, context)
        pipelines = _pipelines(context)
        existing = _existing(Deal, records, context)
        new_accounts: dict[str, Account] = {}
        currency = org_settings().corporate_currency
        for row, record in records.items():
            errors_before = len(context.errors)
            owner = _owner(context, row, record, "owner", owners)
            deal = existing.get(record.get("external_id"))
            if owner is None and not record.get("owner"):
                owner = deal.owner if deal is not None else context.acting_user
            account = self._account(row, record, accounts, new_accounts, owner, context)
            pipeline = self._pipeline(row, record, deal, pipelines, context)
            stage = self._stage(row, record, pipeline, context) if pipeline else None
            contact = _resolve(context, row, record, "primary_contact", contacts)
            if len(context.errors) > errors_before:
                continue
            values = self._values(record, deal, stage, owner, account, contact, currency)
            if not self._check(row, record, values, stage, account, contact, context):
                continue
            if deal is None:
                values.update(self._dates(row, record, None, stage, context))
                plan.creates.append((row, Deal(external_id=record.get("external_id"), **values)))
                continue
            changes = _diff(deal, values)
            if "stage" in changes:
                changes.update(self._dates(row, record, deal, stage, context))
            if changes:
                plan.updates.append((row, deal, changes))
            else:
                plan.unchanged += 1
        created = sorted(new_accounts.values(), key=lambda a: a.name)
        plan.notes += [f"New account: {a.name}" for a in created][:50]
        plan.extra["new_accounts"] = created
        return plan

    def _account(self, row, record, accounts, new_accounts, owner, context) -> Account | None:
        """The deal's account; with the option on, a name nobody has yet becomes a new account."""
        text = record["account"]
        creating = context.options.get("create_missing_accounts")
        if not creating or accounts.matches(text):
            return _resolve(context, row, record, "account", accounts)
        if owner is None:
            return None  # the owner's error is reported; a new account needs an owner
        key = text.strip().lower()
        if key not in new_accounts:
            new_accounts[key] = Account(name=text.strip()[:200], owner=owner)
        return new_accounts[key]

    def _pipeline(self, row, record, deal, pipelines, context) -> Pipeline | None:
        if deal is not None and not record.get("pipeline"):
            found = next((p for p in pipelines.values() if p.pk == deal.pipeline_id), None)
            if found is None:
                context.error(row, "pipeline", f"the deal's pipeline {deal.pipeline} is inactive")
            return found
        name = record.get("pipeline") or context.options.get("pipeline") or ""
        if not name:
            kind = record.get("type") or DealType.NEW
            found = next((p for p in pipelines.values() if p.kind == kind), None)
            found = found or next(iter(pipelines.values()), None)
            if found is None:
                context.error(row, "pipeline", "no active pipeline exists; sales ops must add one")
            return found
        found = pipelines.get(name.strip().lower())
        if found is None:
            context.error(
                row, "pipeline",
                f"no pipeline is named '{name}' (pipelines: {', '.join(p.name for p in pipelines.values())})",
            )  # fmt: skip
        elif deal is not None and deal.pipeline_id != found.pk:
            context.error(
                row,
                "pipeline",
                f"the deal is in {deal.pipeline}; imports do not move deals between pipelines",
            )
            return None
        return found

    def _stage(self, row, record, pipeline, context) -> Stage | None:
        stage = pipeline.stage_by_name.get(record["stage"].strip().lower())
        if stage is None:
            names = ", ".join(s.name for s in pipeline.stage_list)
            context.error(
                row, "stage", f"{pipeline} has no stage '{record['stage']}' (stages: {names})"
            )
        return stage

    def _values(self, record, deal, stage, owner, account, contact, currency) -> dict[str, Any]:
        values: dict[str, Any] = {"name": record["name"], "account": account, "owner": owner, "stage": stage,
                                  "pipeline": stage.pipeline}  # fmt: skip
        for name in ("next_step", "type"):
            if name in record:
                values[name] = record[name]
        values["currency"] = record.get("currency") or (deal.currency if deal else currency)
        if "amount" in record:
            values["amount"] = round_money(record["amount"], values["currency"])
        if "close_date" in record:
            values["close_date"] = record["close_date"]
        if contact is not None:
            values["primary_contact"] = contact
        if stage.is_lost and record.get("lost_reason"):
            values["lost_reason"] = record["lost_reason"]
        if "probability" in record:
            values["probability"] = record["probability"]
        elif deal is None or deal.stage_id != stage.pk:
            values["probability"] = stage.probability
        if "forecast_category" in record:
            values["forecast_category"] = record["forecast_category"]
        elif deal is None or deal.stage_id != stage.pk:
            values["forecast_category"] = stage.forecast_category
        return values

    def _check(self, row, record, values, stage, account, contact, context) -> bool:
        ok = True
        if values.get("probability", ZERO) > HUNDRED:
            context.error(row, "probability", f"must be at most 100: {values['probability']}")
            ok = False
        if contact is not None and contact.account_id != account.pk:
            context.error(
                row, "primary_contact", f"{contact} works at another account, not {account}"
            )
            ok = False
        current = {
            "amount": values.get("amount"), "close_date": values.get("close_date"),
            "next_step": values.get("next_step", ""), "lost_reason": values.get("lost_reason", ""),
            "primary_contact": values.get("primary_contact"),
        }  # fmt: skip
        missing = missing_fields(current, stage)
        if missing:
            labels = ", ".join(self.labels[m] for m in missing)
            context.error(row, missing[0], f"stage {stage.name} needs: {labels}")
            ok = False
        return ok

    def _dates(self, row, record, deal, stage, context) -> dict[str, Any]:
        now = context.now
        close_day = record.get("close_date") or (deal.close_date if deal else None)
        closed_at = None
        if stage.is_closed:
            closed_at = record.get("closed_at") or (_start_of(close_day) if close_day else now)
        if deal is not None:
            return {
                "closed_at": closed_at,
                "stage_entered_at": record.get("stage_entered_at") or now,
            }
        created_at = record.get("created_at")
        if created_at is None and "cycle_days" in record and close_day:
            created_at = _start_of(close_day - dt.timedelta(days=record["cycle_days"]))
        created_at = created_at or min(now, closed_at or now)
        if closed_at is not None and closed_at < created_at:
            context.note("Created after it closed: the created date is set to the close date")
            created_at = closed_at
        return {
            "created_at": created_at, "closed_at": closed_at,
            "stage_entered_at": record.get("stage_entered_at") or closed_at or created_at,
        }  # fmt: skip

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        now, user = context.now, context.acting_user
        new_accounts = plan.extra.get("new_accounts", [])
        Account.objects.bulk_create(new_accounts, batch_size=BATCH)
        deals = []
        for _, deal in plan.creates:
            deal.updated_at, deal.updated_by = now, user
            deals.append(deal)
        Deal.objects.bulk_create(deals, batch_size=BATCH)
        history = [
            history_row(d, before=None, changed=["imported"], by=user, at=now) for d in deals
        ]
        changed = []
        for _, deal, changes in plan.updates:
            before = history_before(deal)
            changes = {
                **changes,
                "version": deal.version + 1,
                "updated_at": now,
                "updated_by": user,
            }
            changed.append((deal, changes))
            for name, value in changes.items():
                setattr(deal, name, value)
            fields = changed_fields(before, deal)
            if fields:
                history.append(history_row(deal, before=before, changed=fields, by=user, at=now))
        _bulk_update(Deal, changed)
        DealHistory.objects.bulk_create(history, batch_size=BATCH)
        return {
            "created": len(deals), "updated": len(changed), "accounts_created": len(new_accounts),
            "history_rows": len(history),
        }  # fmt: skip

    def describe(self, item) -> str:
        _, deal = item
        amount = f"{deal.amount:,} {deal.currency}" if deal.amount is not None else "no amount"
        return f"{deal.name} — {deal.stage.name}, {amount}, owner {deal.owner}"


@functools.lru_cache(maxsize=4096)
def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _pipelines(context: ImportContext) -> dict[str, Pipeline]:
    """Active pipelines by lowered name, each with its stages by lowered name."""
    pipelines = {}
    for pipeline in Pipeline.objects.filter(active=True).prefetch_related("stages"):
        pipeline.stage_list = sorted(pipeline.stages.all(), key=lambda s: s.position)
        pipeline.stage_by_name = {s.name.lower(): s for s in pipeline.stage_list}
        for stage in pipeline.stage_list:
            stage.pipeline = pipeline
        pipelines[pipeline.name.lower()] = pipeline
    return pipelines


def _contact_lookup(records: dict[int, Record], context: ImportContext) -> Lookup:
    values = _values(records.values(), "primary_contact")
    if not values:
        return Lookup([], lambda c: (), "contact")
    # External ids are case-sensitive (Salesforce's are); emails are stored lower-case.
    matches = restrict(Contact.objects.all(), context.acting_user).filter(
        Q(external_id__in=values) | Q(email__in={v.lower() for v in values})
    )
    return Lookup(matches, lambda c: (c.external_id, c.email), "contact")


# --- stage history ---------------------------------------------------------------------------


class DealHistoryImport(ImportTarget):
    key = "deal_history"
    tables = ("crm_dealhistory", "crm_deal")
    label = "Deal stage history"
    description = (
        "Past stage, amount, close-date and forecast-category changes of deals already imported "
        "(e.g. Salesforce OpportunityHistory). History is append-only: rows already imported are "
        "skipped. Empty 'from' values are taken from the deal's previous history row."
    )
    permissions = ("crm.change_deal",)
    fields = (
        EXTERNAL_ID,
        _ref("deal", "Deal", "External id of the deal.", required=True, aliases=("opportunityid",)),
        ImportField("changed_at", "Changed at", Kind.DATETIME, required=True, aliases=("createddate",)),
        _ref("changed_by", "Changed by", "A user (external id, email, username or name).",
             aliases=("createdbyid",)),
        _ref("to_stage", "Stage", "Stage after the change.", required=True, aliases=("stagename",)),
        _ref("from_stage", "Stage before", "Stage before the change.",
             aliases=("fromopportunitystagename",)),
        ImportField("to_amount", "Amount", Kind.DECIMAL, minimum=ZERO, aliases=("amount",)),
        ImportField("from_amount", "Amount before", Kind.DECIMAL, minimum=ZERO, aliases=("prevamount",)),
        ImportField("to_close_date", "Close date", Kind.DATE, aliases=("closedate",)),
        ImportField("from_close_date", "Close date before", Kind.DATE, aliases=("prevclosedate",)),
        ImportField("to_forecast_category", "Forecast category", Kind.CHOICE,
                    choices=ForecastCategory.choices, aliases=("forecastcategory",)),
        ImportField("from_forecast_category", "Forecast category before", Kind.CHOICE,
                    choices=ForecastCategory.choices, aliases=("fromforecastcategory",)),
    )  # fmt: skip
    presets = presets.HISTORY_PRESETS
    COMPARED = (
        ("stage", "from_stage", "to_stage"),
        ("amount", "from_amount", "to_amount"),
        ("close_date", "from_close_date", "to_close_date"),
        ("forecast_category", "from_forecast_category", "to_forecast_category"),
    )

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        plan = Plan()
        keys = _values(records.values(), "deal")
        deals = {
            d.external_id: d
            for d in restrict(
                Deal.objects.filter(external_id__in=keys), context.acting_user
            ).select_related("pipeline", "owner")
        }
        stages = {}
        for pipeline in _pipelines(context).values():
            stages[pipeline.pk] = pipeline.stage_by_name
        people = _owners(records, context, "changed_by")
        done = set(
            DealHistory.objects.filter(
                external_id__in=_values(records.values(), "external_id")
            ).values_list("external_id", flat=True)
        )
        last = _last_history(deals.values())
        ordered = sorted(records.items(), key=lambda item: (item[1].get("changed_at"), item[0]))
        for row, record in ordered:
            deal = deals.get(record["deal"])
            if deal is None:
                context.error(row, "deal", f"no deal has the external id '{record['deal']}'")
                continue
            if record.get("external_id") in done:
                plan.unchanged += 1
                continue
            by = _owner(context, row, record, "changed_by", people)
            found = {}
            for name in ("to_stage", "from_stage"):
                if record.get(name):
                    found[name] = stages.get(deal.pipeline_id, {}).get(record[name].strip().lower())
                    if found[name] is None:
                        context.error(row, name, f"{deal.pipeline} has no stage '{record[name]}'")
            if context.errors and context.errors[-1].row == row:
                continue
            previous = last.get(deal.pk)
            values = {
                "to_stage": found["to_stage"],
                "to_amount": record.get("to_amount", previous.to_amount if previous else deal.amount),
                "to_close_date": record.get("to_close_date", previous.to_close_date if previous else None),
                "to_forecast_category": record.get("to_forecast_category")
                or found["to_stage"].forecast_category,
            }  # fmt: skip
            before = {
                "from_stage": found.get("from_stage") or (previous.to_stage if previous else None),
                "from_amount": record.get("from_amount", previous.to_amount if previous else None),
                "from_close_date": record.get("from_close_date", previous.to_close_date if previous else None),
                "from_forecast_category": record.get("from_forecast_category")
                or (previous.to_forecast_category if previous else ""),
            }  # fmt: skip
            if previous is None and not found.get("from_stage"):
                changed = ["created"]
            else:
                changed = [n for n, f, t in self.COMPARED if before[f] != values[t]]
            if not changed:
                plan.unchanged += 1
                continue
            entry = DealHistory(
                deal=deal, changed_at=record["changed_at"], changed_by=by, changed_fields=changed,
                currency=deal.currency, from_owner=deal.owner if previous else None,
                to_owner=deal.owner, external_id=record.get("external_id"), **values, **before,
            )  # fmt: skip
            last[deal.pk] = entry
            plan.creates.append(entry)
        return plan

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        DealHistory.objects.bulk_create(plan.creates, batch_size=BATCH)
        return {"created": len(plan.creates)}

    def describe(self, item) -> str:
        return f"{item.deal}: {', '.join(item.changed_fields)} at {item.changed_at:%Y-%m-%d %H:%M}"


def _last_history(deals: Iterable[Deal]) -> dict[int, DealHistory]:
    """Each deal's latest history row, excluding rows the deal import itself wrote."""
    ids = [d.pk for d in deals]
    rows = (
        DealHistory.objects.filter(deal_id__in=ids)
        .exclude(changed_fields=["imported"])
        .order_by("deal_id", "-changed_at", "-id")
        .distinct("deal_id")
        .select_related("to_stage")
    )
    return {row.deal_id: row for row in rows}


# --- activities ------------------------------------------------------------------------------


class ActivityImport(ImportTarget):
    key = "activities"
    tables = ("crm_activity",)
    label = "Activities"
    description = "Calls, emails, meetings, demos and tasks on deals, accounts or contacts."
    permissions = ("crm.add_activity", "crm.change_activity")
    fields = (
        EXTERNAL_ID,
        ImportField("kind", "Kind", Kind.CHOICE, required=True, choices=ActivityKind.choices,
                    aliases=("type", "tasksubtype")),
        ImportField("subject", "Subject", required=True, max_length=200),
        ImportField("notes", "Notes", aliases=("description",)),
        OWNER,
        _ref("deal", "Deal", "External id of a deal.", aliases=("opportunity",)),
        _ref("account", "Account", "External id or name of an account.", aliases=("accountid",)),
        _ref("contact", "Contact", "External id or email of a contact.", aliases=("whoid",)),
        ImportField("due_at", "Due", Kind.DATETIME, aliases=("activitydate",)),
        ImportField("done_at", "Done", Kind.DATETIME, aliases=("completeddatetime",)),
    )  # fmt: skip
    WRITABLE = ("kind", "subject", "notes", "due_at", "done_at")

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        plan = Plan()
        user = context.acting_user
        owners = _owners(records, context, "owner")
        deals = Lookup(
            restrict(Deal.objects.all(), user).filter(external_id__in=_values(records.values(), "deal")),
            lambda d: (d.external_id,), "deal",
        )  # fmt: skip
        accounts = named_lookup(
            restrict(Account.objects.all(), user), _values(records.values(), "account"), "account"
        )
        contacts = Lookup(
            restrict(Contact.objects.all(), user).filter(
                Q(external_id__in=_values(records.values(), "contact"))
                | Q(email__in={v.lower() for v in _values(records.values(), "contact")})
            ),
            lambda c: (c.external_id, c.email),
            "contact",
        )
        existing = _existing(Activity, records, context)
        for row, record in records.items():
            errors_before = len(context.errors)
            values = {
                k: record.get(k, "") if k in ("notes",) else record.get(k) for k in self.WRITABLE
            }
            values["owner"] = _owner(context, row, record, "owner", owners)
            for name, lookup in (("deal", deals), ("account", accounts), ("contact", contacts)):
                values[name] = _resolve(context, row, record, name, lookup)
            if len(context.errors) > errors_before:
                continue
            if not (values["deal"] or values["account"] or values["contact"]):
                context.error(row, "deal", "an activity belongs to a deal, an account or a contact")
                continue
            if values["deal"] is not None and values["account"] is None:
                values["account"] = values["deal"].account
            obj = existing.get(record.get("external_id"))
            if values["owner"] is None:
                values["owner"] = obj.owner if obj is not None else user
            key = record.get("external_id")
            _plan_upsert(plan, obj, values, lambda v=values, k=key: Activity(external_id=k, **v))
        return plan

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        return _write_upsert(Activity, plan)

    def describe(self, item) -> str:
        return f"{item.get_kind_display()}: {item.subject} ({item.owner})"

"""Read queries of the CRM, scoped by the caller's visibility, shared by pages, API and tasks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from crm.models import Activity, Deal, DealHistory, Pipeline, Stage
from salesops.fiscal import PeriodKind
from salesops.money import round_money
from salesops.org.models import User
from salesops.org.selectors import exchange_rates_current, fiscal_calendar, org_settings


@dataclass
class BoardColumn:
    """One stage of the board: its figures (corporate currency) and the first cards."""

    stage: Stage
    count: int = 0
    total: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)
    cards: list[Deal] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        return self.count - len(self.cards)


def current_rates() -> dict[str, Decimal]:
    """Latest rate per currency (into the corporate currency): what board totals use today."""
    rates = {rate.currency: rate.rate for rate in exchange_rates_current()}
    rates[org_settings().corporate_currency] = Decimal(1)
    return rates


def board(
    *, user: User, pipeline: Pipeline, owner: User | None = None, cards_per_stage: int = 25
) -> list[BoardColumn]:
    """Columns for ``pipeline``: open stages with all their deals counted, and the won and lost
    stages with the deals closed this fiscal quarter. Four queries whatever the deal count.

    One pass over the deals on the board (a CTE of the few columns the board needs) gives every
    column's figures and the ids of its first cards; a second query loads those cards. At 1M
    deals a region's manager has ~10k deals on the board, and reading them once for the sums and
    again, joined to their accounts, for the ranking took twice as long.
    """
    from django.db import connection

    today = timezone.localdate()
    quarter = fiscal_calendar().period(today, PeriodKind.QUARTER)
    stages = list(pipeline.stages.order_by("position"))
    deals = Deal.objects.visible_to(user).filter(pipeline=pipeline)
    if owner is not None:
        deals = deals.filter(owner=owner)
    quarter_start, quarter_end = day_bounds(quarter.start, quarter.end)
    deals = deals.filter(
        Q(closed_at__isnull=True) | Q(closed_at__gte=quarter_start, closed_at__lt=quarter_end)
    )
    on_board, params = (
        deals.order_by()
        .values_list("pk", "stage_id", "currency", "amount", "probability", "close_date")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH on_board (id, stage_id, currency, amount, probability, close_date) AS "
            f"MATERIALIZED ({on_board}) "
            "SELECT stage_id, currency, count(*), sum(amount), sum(amount * probability / 100), "
            "NULL FROM on_board GROUP BY stage_id, currency "
            "UNION ALL "
            "SELECT stage_id, NULL, NULL, NULL, NULL, id FROM (SELECT id, stage_id, row_number() "
            "OVER (PARTITION BY stage_id ORDER BY close_date ASC NULLS LAST, id) AS rank "
            "FROM on_board) ranked WHERE rank <= %s",
            [*params, cards_per_stage],
        )
        rows = cursor.fetchall()
    columns = {stage.pk: BoardColumn(stage=stage) for stage in stages}
    rates = current_rates()
    card_ids = []
    for stage_id, currency, n, total, weighted, card_id in rows:
        if card_id is not None:
            card_ids.append(card_id)
            continue
        column = columns[stage_id]
        rate = rates.get(currency, Decimal(1))
        column.count += n
        column.total += (total or 0) * rate
        column.weighted += (weighted or 0) * rate
    cards = Deal.objects.filter(pk__in=card_ids).select_related("account", "owner", "stage")
    currency = org_settings().corporate_currency
    for deal in cards:
        deal.days_in_stage = days_in_stage(deal, today)
        deal.rotting = bool(
            deal.stage.rot_days
            and not deal.stage.is_closed
            and deal.days_in_stage > deal.stage.rot_days
        )
        columns[deal.stage_id].cards.append(deal)
    for column in columns.values():
        column.total = round_money(column.total, currency)
        column.weighted = round_money(column.weighted, currency)
    return [columns[stage.pk] for stage in stages]


def day_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start of ``first``, start of the day after ``last``) in the current time zone: a range
    an index on a timestamp column can use, unlike ``__date`` lookups."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def deal_detail(*, user: User, pk: int) -> Deal | None:
    return (
        Deal.objects.visible_to(user)
        .select_related("account", "owner", "stage", "pipeline", "primary_contact", "updated_by")
        .filter(pk=pk)
        .first()
    )


def deal_timeline(deal: Deal) -> list[dict]:
    """Stage history and activities of ``deal``, newest first, as one list."""
    entries = [
        {"at": h.changed_at, "kind": "history", "row": h}
        for h in DealHistory.objects.filter(deal=deal).select_related(
            "from_stage", "to_stage", "changed_by", "from_owner", "to_owner"
        )
    ]
    entries += [
        {"at": a.done_at or a.created_at, "kind": "activity", "row": a}
        for a in Activity.objects.filter(deal=deal).select_related("owner")
    ]
    return sorted(entries, key=lambda e: e["at"], reverse=True)


def deals_for_list(user: User) -> QuerySet:
    return Deal.objects.visible_to(user).select_related("account", "owner", "stage", "pipeline")


def pipelines() -> QuerySet:
    return Pipeline.objects.filter(active=True).order_by("position", "name")


def days_in_stage(deal: Deal, today: dt.date | None = None) -> int:
    """Whole days since the deal entered its current stage (the rotting measure)."""
    today = today or timezone.localdate()
    return (today - timezone.localtime(deal.stage_entered_at).date()).days


def search(*, user: User, text: str, limit: int = 8) -> dict[str, list]:
    """Accounts, contacts, deals and leads in ``user``'s scope matching ``text``."""
    from crm.models import Account, Contact, Lead

    text = text.strip()
    if len(text) < 2:
        return {}
    return {
        "accounts": list(
            Account.objects.visible_to(user)
            .filter(Q(name__icontains=text) | Q(domain__icontains=text))
            .order_by("name")[:limit]
        ),
        "contacts": list(
            Contact.objects.visible_to(user)
            .filter(
                Q(last_name__icontains=text)
                | Q(first_name__icontains=text)
                | Q(email__icontains=text)
            )
            .select_related("account")
            .order_by("last_name")[:limit]
        ),
        "deals": list(
            Deal.objects.visible_to(user)
            .filter(name__icontains=text)
            .select_related("stage")
            .order_by("close_date")[:limit]
        ),
        "leads": list(
            Lead.objects.visible_to(user)
            .filter(
                Q(last_name__icontains=text) | Q(company__icontains=text) | Q(email__icontains=text)
            )
            .order_by("-created_at")[:limit]
        ),
    }


# Account and lead pages, bulk actions, the deal page's audit entries.


def accounts_for_list(user: User) -> QuerySet:
    from crm.models import Account

    return Account.objects.visible_to(user).select_related("owner", "parent")


def account_detail(*, user: User, pk: int):
    """The account with its owner and parent, or None when it is outside ``user``'s scope."""
    from crm.models import Account

    return Account.objects.visible_to(user).select_related("owner", "parent").filter(pk=pk).first()


def account_page(*, user: User, account, rows: int = 100, activities: int = 20) -> dict:
    """What the account page lists, each in ``user``'s scope: open deals first (by close date),
    then closed ones (latest first); contacts; child accounts; the latest activities."""
    from crm.models import Account, Contact

    deals = (
        Deal.objects.visible_to(user)
        .filter(account=account)
        .select_related("stage", "owner", "pipeline")
        .order_by(F("closed_at").desc(nulls_first=True), F("close_date").asc(nulls_last=True), "pk")
    )
    parent = None
    if account.parent_id is not None:
        parent = Account.objects.visible_to(user).filter(pk=account.parent_id).first()
    return {
        "deals": list(deals[:rows]),
        "deal_count": deals.count(),
        "open_deal_count": deals.filter(closed_at__isnull=True).count(),
        "contacts": list(
            Contact.objects.visible_to(user).filter(account=account).select_related("owner")[:rows]
        ),
        "children": list(
            Account.objects.visible_to(user).filter(parent=account).select_related("owner")[:rows]
        ),
        "parent": parent,
        "activities": list(
            Activity.objects.visible_to(user)
            .filter(Q(account=account) | Q(deal__account=account))
            .select_related("owner", "deal", "contact")
            .order_by("-created_at", "-pk")[:activities]
        ),
    }


def visible_account_ids(user: User, account_ids) -> set[int] | None:
    """Which of ``account_ids`` ``user`` may open (None: all of them, for org-wide roles)."""
    from crm.models import Account
    from salesops.org.roles import ORG_WIDE_ROLES

    if user.role in ORG_WIDE_ROLES:
        return None
    ids = set(account_ids)
    if not ids:
        return set()
    return set(Account.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))


def leads_for_list(user: User) -> QuerySet:
    from crm.models import Lead

    return Lead.objects.visible_to(user).select_related("owner", "converted_account")


def lead_detail(*, user: User, pk: int):
    from crm.models import Lead

    return (
        Lead.objects.visible_to(user)
        .select_related("owner", "converted_account")
        .filter(pk=pk)
        .first()
    )


def lead_page(*, user: User, lead) -> dict:
    """The deals made from ``lead`` and its activities, in ``user``'s scope."""
    return {
        "deals": list(
            Deal.objects.visible_to(user)
            .filter(source_lead=lead)
            .select_related("stage", "account", "owner")
            .order_by("pk")
        ),
        "activities": list(
            Activity.objects.visible_to(user)
            .filter(lead=lead)
            .select_related("owner")
            .order_by("-created_at", "-pk")[:20]
        ),
    }


def lead_account_suggestions(*, user: User, lead, limit: int = 20) -> list:
    """Accounts in scope a lead may belong to: same email domain, or a name like its company."""
    from crm.models import Account

    condition = Q(name__icontains=lead.company.strip()) if lead.company.strip() else Q(pk=None)
    domain = lead.email.partition("@")[2].lower() if lead.email else ""
    if domain:
        condition |= Q(domain=domain)
    return list(Account.objects.visible_to(user).filter(condition).order_by("name", "pk")[:limit])


def deal_owner_choices(user: User) -> QuerySet:
    """Active reps and managers ``user`` may give deals to (their scope), for pickers."""
    return (
        User.objects.visible_to(user)
        .filter(is_active=True)
        .filter(Q(rep_profile__isnull=False) | Q(managed_teams__isnull=False))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


# Fields of a deal's audit events that say nothing to a person (bookkeeping of every save).
AUDIT_NOISE_FIELDS = frozenset(
    {"id", "version", "updated_at", "updated_by_id", "stage_entered_at", "closed_at"}
)
# Fields a save through crm.services also writes to DealHistory (the timeline shows that row).
AUDIT_HISTORY_FIELDS = frozenset(
    {"stage_id", "amount", "close_date", "owner_id", "forecast_category", "probability"}
)


def deal_audit_entries(deal: Deal) -> list[dict]:
    """The deal's recorded field changes (django-pghistory), as timeline entries.

    Creation and the changes ``DealHistory`` already shows are left out; what is left is who
    changed the name, next step, account, contact and the like, and changes made outside the
    services (which leave no history row: they do not bump ``version``).
    """
    from crm.models import Account, Contact, Lead
    from salesops.audit import audit_events_for

    events = []
    for event in audit_events_for(deal):
        if event.pgh_label != "update" or not event.pgh_diff:
            continue
        diff = {k: v for k, v in event.pgh_diff.items() if k not in AUDIT_NOISE_FIELDS}
        if "version" in event.pgh_diff:  # saved through crm.services: DealHistory has the rest
            diff = {k: v for k, v in diff.items() if k not in AUDIT_HISTORY_FIELDS}
        if diff:
            events.append((event, diff))
    if not events:
        return []
    related = {
        "account_id": Account,
        "primary_contact_id": Contact,
        "owner_id": User,
        "stage_id": Stage,
        "pipeline_id": Pipeline,
        "source_lead_id": Lead,
    }
    wanted: dict[str, set] = {name: set() for name in related}
    user_ids = set()
    for event, diff in events:
        user_ids.add((event.pgh_context or {}).get("user"))
        for name, values in diff.items():
            if name in wanted:
                wanted[name].update(v for v in values if v is not None)
    names = {
        name: model._default_manager.in_bulk(wanted[name]) if wanted[name] else {}
        for name, model in related.items()
    }
    users = User.objects.in_bulk(user_ids - {None})
    fields = {f.attname: f for f in Deal._meta.concrete_fields}
    entries = []
    for event, diff in events:
        changes = []
        for name, (old, new) in diff.items():
            field = fields.get(name)
            label = field.verbose_name if field is not None else name
            changes.append(
                {
                    "field": str(label),
                    "old": _audit_value(field, old, names.get(name)),
                    "new": _audit_value(field, new, names.get(name)),
                }
            )
        context = event.pgh_context or {}
        entries.append(
            {
                "at": event.pgh_created_at,
                "kind": "audit",
                "row": {
                    "actor": users.get(context.get("user")),
                    "reason": context.get("reason", ""),
                    "changes": changes,
                },
            }
        )
    return entries


def _audit_value(field, value, objects: dict | None) -> str:
    if value is None or value == "":
        return "—"
    if objects is not None:
        found = objects.get(value)
        return str(found) if found is not None else f"#{value} (deleted)"
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    return str(value)


def deal_timeline_with_audit(deal: Deal) -> list[dict]:
    """``deal_timeline`` plus the deal's audit entries, newest first, as one list."""
    entries = deal_timeline(deal) + deal_audit_entries(deal)
    return sorted(entries, key=lambda e: e["at"], reverse=True)

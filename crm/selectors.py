"""Read queries of the CRM, scoped by the caller's visibility, shared by pages, API and tasks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
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
    stages with the deals closed this fiscal quarter. Three queries whatever the deal count."""
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
    columns = {stage.pk: BoardColumn(stage=stage) for stage in stages}
    rates = current_rates()
    sums = deals.values("stage", "currency").annotate(
        n=Count("pk"),
        total=Sum("amount"),
        weighted=Sum(F("amount") * F("probability") / 100),
    )
    for row in sums:
        column = columns[row["stage"]]
        rate = rates.get(row["currency"], Decimal(1))
        column.count += row["n"]
        column.total += (row["total"] or 0) * rate
        column.weighted += (row["weighted"] or 0) * rate
    cards = (
        deals.select_related("account", "owner", "stage")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("stage")],
                order_by=[F("close_date").asc(nulls_last=True), F("pk")],
            )
        )
        .filter(rank__lte=cards_per_stage)
    )
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

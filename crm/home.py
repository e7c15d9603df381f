"""The CRM section of each person's home page: their pipeline, what closes soon, their tasks."""

from __future__ import annotations

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from crm.models import Activity, Deal
from crm.selectors import day_bounds
from salesops.fiscal import PeriodKind
from salesops.org.roles import Role
from salesops.org.selectors import fiscal_calendar


def pipeline_section(request) -> dict | None:
    """Open pipeline in the user's scope, this quarter's closing deals and open tasks."""
    user = request.user
    if user.role not in (Role.REP, Role.MANAGER, Role.OPS, Role.ADMIN):
        return None
    today = timezone.localdate()
    quarter = fiscal_calendar().period(today, PeriodKind.QUARTER)
    open_deals = Deal.objects.visible_to(user).open()
    since, until = day_bounds(quarter.start, today)
    figures = open_deals.aggregate(
        count=Count("pk"),
        past_close_date=Count("pk", filter=Q(close_date__lt=today)),
        no_next_step=Count("pk", filter=Q(next_step="")),
    )
    closing = (
        open_deals.filter(close_date__gte=quarter.start, close_date__lte=quarter.end)
        .values("currency")
        .annotate(
            n=Count("pk"), total=Sum("amount"), weighted=Sum(F("amount") * F("probability") / 100)
        )
        .order_by("currency")
    )
    won = (
        Deal.objects.visible_to(user)
        .filter(stage__is_won=True, closed_at__gte=since, closed_at__lt=until)
        .values("currency")
        .annotate(n=Count("pk"), total=Sum("amount"))
        .order_by("currency")
    )
    tasks = (
        Activity.objects.filter(owner=user, done_at__isnull=True)
        .select_related("deal")
        .order_by(F("due_at").asc(nulls_last=True))[:8]
    )
    top = (
        open_deals.filter(close_date__gte=today)
        .select_related("account", "stage")
        .order_by("close_date")[:8]
    )
    return {
        "template": "crm/home_section.html",
        "quarter": quarter,
        "figures": figures,
        "closing": list(closing),
        "won": list(won),
        "tasks": list(tasks),
        "next_deals": list(top),
        "today": today,
    }

"""What a dashboard shows for a scope, a fiscal period and filters: tiles, charts, top deals.

One builder serves every dashboard: a rep's (their own figures), a manager's team (by rep, or by
sub-team for a manager of managers), the executive one (the company by region). Figures come from
the KPI snapshots, or are computed live when a filter is set. Every tile and chart point links to
the deal list behind it, with the dashboard's filters carried over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from crm.filtersets import owned_by_team
from crm.models import Deal, DealType, Pipeline, Segment, Stage
from reporting import charts, facts, selectors
from reporting.engine import Filters
from reporting.kpis import REGISTRY, Unit
from reporting.models import ScopeKind
from reporting.selectors import Scope, figure, figure_index
from salesops.fiscal import FiscalPeriod, PeriodKind
from salesops.money import round_money
from salesops.org.models import Team
from salesops.org.selectors import fiscal_calendar, org_settings, team_subtree_ids

TILES = (
    "bookings", "quota_attainment", "quota_achievement_rate", "won_deals", "win_rate",
    "average_deal_size", "cycle_length_median", "pipeline", "pipeline_coverage",
    "weighted_pipeline", "sales_velocity", "lead_response_hours", "meetings_per_rep",
)  # fmt: skip
CHART_METRICS = ("bookings", "quota", "quota_attainment", "win_rate", "cycle_length_median",
                 "pipeline", "weighted_pipeline", "stage_entries")  # fmt: skip


@dataclass(frozen=True)
class DashboardQuery:
    scope: Scope
    period: FiscalPeriod
    filters: Filters = field(default_factory=Filters)


def query_from(user, params) -> DashboardQuery:
    """The dashboard a request asks for (``scope``, ``period``, ``pipeline``, ``segment``,
    ``type``); the person's own scope and the current quarter by default. Raises NotAllowed for a
    scope out of reach and DomainError for one that does not parse."""
    scope = selectors.parse_scope(user, params.get("scope"))
    calendar = fiscal_calendar()
    try:
        period = calendar.parse(params["period"])
    except (KeyError, ValueError):
        period = calendar.period(timezone.localdate(), PeriodKind.QUARTER)
    pipeline = params.get("pipeline") or ""
    filters = Filters(
        pipeline_id=int(pipeline) if pipeline.isdigit() else None,
        segment=params.get("segment") if params.get("segment") in Segment.values else None,
        deal_type=params.get("type") if params.get("type") in DealType.values else None,
    )
    return DashboardQuery(scope, period, filters)


def export_rows(data: dict) -> list[tuple]:
    """The dashboard's figures as one table: section, item, period, measure, value.

    Money to the cent (ROUND_HALF_UP, salesops.money), ratios and days to four decimals.
    """
    period, currency = data["period"].label, data["currency"]

    def cell(value, metric: str):
        if not isinstance(value, Decimal):
            return value
        if REGISTRY[metric].unit in (Unit.MONEY, Unit.MONEY_PER_DAY):
            return round_money(value, currency)
        return value.quantize(Decimal("0.0001"), ROUND_HALF_UP)

    rows = [("Key figures", data["scope"].name, period, t["label"], cell(t["value"], t["key"]))
            for t in data["tiles"]]  # fmt: skip
    measures = {
        "bookings_by_month": ("Bookings by month", {"value": "bookings", "quota": "quota"}),
        "attainment_by_member": ("Quota attainment by member", {"value": "quota_attainment"}),
        "bookings_by_member": ("Bookings by member", {"value": "bookings"}),
        "funnel": ("Funnel", {"value": "stage_entries"}),
        "win_rate_and_cycle": ("Win rate and sales cycle",
                               {"value": "win_rate", "cycle_length_median": "cycle_length_median"}),
        "pipeline_by_month": ("Pipeline by close month",
                              {"value": "pipeline", "weighted": "weighted_pipeline"}),
    }  # fmt: skip
    for name, (title, columns) in measures.items():
        for point in data["series"][name]:
            for key, metric in columns.items():
                rows.append((title, point["label"], period, REGISTRY[metric].label,
                             cell(point[key], metric)))  # fmt: skip
    for deal in data["top_deals"]:
        rows.append(("Top open deals", deal.name, period, f"Amount ({deal.currency})", deal.amount))
    return rows


def build(user, query: DashboardQuery) -> dict:
    """Everything the dashboard page (and its JSON) shows."""
    calendar = fiscal_calendar()
    period, scope, filters = query.period, query.scope, query.filters
    year_months = calendar.periods(period.fiscal_year, PeriodKind.MONTH)
    last_month = calendar.period(period.end, PeriodKind.MONTH)
    trailing = [calendar.shift(last_month, -n) for n in range(11, -1, -1)]
    first_open = calendar.period(max(period.start, timezone.localdate()), PeriodKind.MONTH)
    ahead = [calendar.shift(first_open, n) for n in range(6)]
    group_by = _group_by(scope)
    members = selectors.members(scope, group_by) if group_by else []
    members = [m for m in members if selectors.can_see_scope(user, m)]
    keys = sorted({period.key, *(p.key for p in year_months + trailing + ahead)})
    figures = selectors.kpi_figures(
        user, metrics=sorted({*TILES, *CHART_METRICS}), scopes=[scope, *members],
        period_keys=keys, filters=filters,
    )  # fmt: skip
    index = figure_index(figures.rows)
    links = _Links(scope, filters)
    currency = org_settings().corporate_currency
    funnel_pipeline = _funnel_pipeline(filters)
    funnel_stages = (
        list(Stage.objects.filter(pipeline=funnel_pipeline, is_lost=False).order_by("position"))
        if funnel_pipeline
        else []
    )
    series = {
        "bookings_by_month": [
            _point(p.label, figure(index, "bookings", scope, p.key),
                   links.deals(status="won", period=p), period_key=p.key,
                   quota=figure(index, "quota", scope, p.key))
            for p in year_months
        ],
        "bookings_by_member": [
            _point(m.name, figure(index, "bookings", m, period.key),
                   _Links(m, filters).deals(status="won", period=period), scope=m.key)
            for m in members
        ],
        "attainment_by_member": [
            _point(m.name, figure(index, "quota_attainment", m, period.key),
                   _Links(m, filters).deals(status="won", period=period), scope=m.key)
            for m in members
        ],
        "funnel": [
            _point(s.name, index.get(("stage_entries", scope.key, period.key, str(s.pk))) or 0,
                   links.deals(period=period, by="entered", entered_stage=s.pk), stage=s.pk)
            for s in funnel_stages
        ],
        "win_rate_and_cycle": [
            _point(p.label, figure(index, "win_rate", scope, p.key),
                   links.deals(status="closed", period=p), period_key=p.key,
                   cycle_length_median=figure(index, "cycle_length_median", scope, p.key))
            for p in trailing
        ],
        "pipeline_by_month": [
            _point(p.label, figure(index, "pipeline", scope, p.key),
                   links.deals(status="open", period=p), period_key=p.key,
                   weighted=figure(index, "weighted_pipeline", scope, p.key))
            for p in ahead
        ],
    }  # fmt: skip
    return {
        "scope": scope,
        "period": period,
        "filters": filters,
        "group_by": group_by,
        "currency": currency,
        "live": figures.live,
        "computed_at": figures.computed_at,
        "tiles": [_tile(index, key, scope, period, links, currency) for key in TILES],
        "series": series,
        "charts": _charts(series, currency),
        "funnel_pipeline": funnel_pipeline,
        "top_deals": _top_deals(user, scope, period, filters),
        "deals_url": links.deals(period=period),
    }


def _point(label: str, value, url: str, **extra) -> dict:
    return {"label": label, "value": value, "url": url, **extra}


def _charts(series: dict[str, list[dict]], currency: str) -> dict[str, dict | None]:
    """The plotly figures of the series (None for a chart with nothing to draw)."""

    def column(name, key="value"):
        return [point[key] for point in series[name]]

    members, funnel = series["bookings_by_member"], series["funnel"]
    attainment = series["attainment_by_member"]
    return {
        "bookings_by_month": charts.bookings_vs_quota(
            column("bookings_by_month", "label"), column("bookings_by_month"),
            column("bookings_by_month", "quota"), column("bookings_by_month", "url"), currency,
        ),
        "attainment_by_member": charts.attainment(
            column("attainment_by_member", "label"), column("attainment_by_member"),
            column("attainment_by_member", "url"),
        ) if any(point["value"] is not None for point in attainment) else None,
        "bookings_by_member": charts.bars(
            column("bookings_by_member", "label"), column("bookings_by_member"),
            column("bookings_by_member", "url"), money=currency, horizontal=True,
        ) if members else None,
        "funnel": charts.funnel(column("funnel", "label"), [int(v) for v in column("funnel")],
                                column("funnel", "url"))
        if any(point["value"] for point in funnel) else None,
        "win_rate_and_cycle": charts.win_rate_and_cycle(
            column("win_rate_and_cycle", "label"), column("win_rate_and_cycle"),
            column("win_rate_and_cycle", "cycle_length_median"),
            column("win_rate_and_cycle", "url"),
        ),
        "pipeline_by_month": charts.pipeline_by_month(
            column("pipeline_by_month", "label"), column("pipeline_by_month"),
            column("pipeline_by_month", "weighted"), column("pipeline_by_month", "url"), currency,
        ),
    }  # fmt: skip


def _group_by(scope: Scope) -> str | None:
    """Break a team down by sub-team when it has any, else by rep; the company by region."""
    if scope.kind == ScopeKind.COMPANY:
        return ScopeKind.TEAM
    if scope.kind == ScopeKind.TEAM:
        has_teams = Team.objects.filter(parent_id=scope.id).exists()
        return ScopeKind.TEAM if has_teams else ScopeKind.REP
    return None


class _Links:
    """URLs of the deal list for a scope, keeping the dashboard's filters."""

    def __init__(self, scope: Scope, filters: Filters):
        self.base: dict[str, object] = {}
        if scope.kind == ScopeKind.REP:
            self.base["owner"] = scope.id
        elif scope.kind == ScopeKind.TEAM:
            self.base["team"] = scope.id
        if filters.pipeline_id:
            self.base["pipeline"] = filters.pipeline_id
        if filters.segment:
            self.base["segment"] = filters.segment
        if filters.deal_type:
            self.base["type"] = filters.deal_type

    def deals(self, *, period: FiscalPeriod, status: str | None = None, by: str = "close_date",
              **extra) -> str:  # fmt: skip
        params = dict(self.base)
        if status:
            params["status"] = status
        params[f"{by}_after"] = period.start.isoformat()
        params[f"{by}_before"] = period.end.isoformat()
        params.update(extra)
        return f"{reverse('crm:deal_list')}?{urlencode(params)}"


# Which deals a tile's number is made of: (deal list status, date the period applies to).
_TILE_DEALS = {
    "bookings": ("won", "close_date"), "won_deals": ("won", "close_date"),
    "win_rate": ("closed", "close_date"), "average_deal_size": ("won", "close_date"),
    "cycle_length_median": ("won", "close_date"), "sales_velocity": ("open", "close_date"),
    "pipeline": ("open", "close_date"), "weighted_pipeline": ("open", "close_date"),
}  # fmt: skip


def _tile(index, key: str, scope: Scope, period: FiscalPeriod, links: _Links,
          currency: str) -> dict:  # fmt: skip
    kpi = REGISTRY[key]
    value = figure(index, key, scope, period.key)
    deals = _TILE_DEALS.get(key)
    return {
        "key": key,
        "label": kpi.label,
        "definition": kpi.definition,
        "value": value,
        "display": format_figure(value, kpi.unit, currency),
        "url": links.deals(status=deals[0], period=period) if deals else None,
    }


def format_figure(value: Decimal | None, unit: Unit, currency: str) -> str:
    """A figure as a person reads it: money to the unit, percent and days without decimals,
    multiples with one ("2.3×")."""
    if value is None:
        return "–"
    if unit == Unit.MONEY:
        return f"{currency} {value:,.0f}"
    if unit == Unit.MONEY_PER_DAY:
        return f"{currency} {value:,.0f}/day"
    if unit == Unit.PERCENT:
        return f"{value * 100:.0f} %"
    if unit == Unit.DAYS:
        return f"{value:.0f} days"
    if unit == Unit.HOURS:
        return f"{value:.1f} h"
    if unit == Unit.RATIO:
        return f"{value:,.1f}×"
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _funnel_pipeline(filters: Filters) -> Pipeline | None:
    pipelines = Pipeline.objects.filter(active=True).order_by("position", "name")
    if filters.pipeline_id:
        return pipelines.filter(pk=filters.pipeline_id).first()
    return pipelines.first()


def _top_deals(user, scope: Scope, period: FiscalPeriod, filters: Filters) -> list[Deal]:
    """The ten biggest open deals of the scope closing in the period."""
    deals = (
        Deal.objects.visible_to(user)
        .open()
        .filter(close_date__range=(period.start, period.end), amount__isnull=False)
        .select_related("owner", "stage", "account")
    )
    if scope.kind == ScopeKind.REP:
        deals = deals.filter(owner_id=scope.id)
    elif scope.kind == ScopeKind.TEAM:
        deals = deals.filter(owned_by_team(team_subtree_ids([scope.id])))
    if filters.pipeline_id:
        deals = deals.filter(pipeline_id=filters.pipeline_id)
    if filters.segment:
        deals = deals.filter(account__segment=filters.segment)
    if filters.deal_type:
        deals = deals.filter(type=filters.deal_type)
    return list(deals.order_by("-amount", "pk")[:10])


def period_choices(today: dt.date | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """Periods to pick from, grouped: recent and next months, quarters, and years."""
    calendar = fiscal_calendar()
    today = today or timezone.localdate()
    month = calendar.period(today, PeriodKind.MONTH)
    quarter = calendar.period(today, PeriodKind.QUARTER)
    year = calendar.period(today, PeriodKind.YEAR)
    return [
        ("Quarters", [(p.key, p.label) for p in (calendar.shift(quarter, n)
                                                 for n in range(1, -8, -1))]),
        ("Months", [(p.key, p.label) for p in (calendar.shift(month, n)
                                               for n in range(2, -13, -1))]),
        ("Years", [(p.key, p.label) for p in (calendar.shift(year, n) for n in range(0, -4, -1))]),
    ]  # fmt: skip


def quality(user) -> dict:
    """Sales ops' data-quality dashboard: each check's open deals by region, and duplicates.

    One count query per check, grouped by owner, each owner counted in the region of their home
    team (their rep profile's, or the team a manager runs: ``facts.HOME_TEAMS``, as the KPIs and
    the deal list's team filter do); each bar opens the deal list filtered to that issue and
    region.
    """
    from crm import quality as checks

    top_of = _top_team_of()
    home_of = _home_team_of()
    regions = Team.objects.filter(parent__isnull=True).order_by("name")
    names = {team.pk: team.name for team in regions}
    open_deals = Deal.objects.visible_to(user).open().count()
    sections = []
    for check in checks.CHECKS:
        counts: dict[int | None, int] = {}
        failing = checks.deals_failing(check.key, user=user).order_by()
        for owner_id, n in failing.values_list("owner").annotate(n=Count("pk")):
            region = top_of.get(home_of.get(owner_id))
            counts[region] = counts.get(region, 0) + n
        total = sum(counts.values())
        labels = [names[pk] for pk in names]
        url = reverse("crm:deal_list")
        sections.append({
            "check": check,
            "total": total,
            "share": Decimal(total) / open_deals if open_deals else None,
            "url": f"{url}?{urlencode({'quality': check.key})}",
            "chart": charts.bars(
                labels, [counts.get(pk, 0) for pk in names],
                [f"{url}?{urlencode({'quality': check.key, 'team': pk})}" for pk in names],
                color=charts.ORANGE,
            ) if total else None,
        })  # fmt: skip
    return {
        "open_deals": open_deals,
        "sections": sections,
        "duplicate_accounts": len(checks.likely_duplicate_accounts(user=user)),
        "duplicate_contacts": len(checks.likely_duplicate_contacts(user=user)),
    }


def _home_team_of() -> dict[int, int]:
    """Each person's home team, as the KPIs count them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT owner_id, team_id FROM ({facts.HOME_TEAMS}) h WHERE team_id IS NOT NULL"
        )
        return dict(cursor.fetchall())


def _top_team_of() -> dict[int, int]:
    """Each team's top-level team (its region)."""
    parents = dict(Team.objects.values_list("pk", "parent_id"))
    top = {}
    for team in parents:
        root = team
        while parents.get(root) is not None:
            root = parents[root]
        top[team] = root
    return top

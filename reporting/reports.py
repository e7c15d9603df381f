"""Saved reports: what can be measured, how a report is defined, checked, run and saved.

A report is one measure, grouped one way, narrowed by filters:

- a **KPI** of ``reporting.kpis`` (from the snapshots, or computed live when a pipeline, segment or
  deal-type filter applies), for the viewer's scope;
- a **deal measure**: an ORM aggregate over ``Deal.objects.visible_to(viewer)`` narrowed by
  ``DealFilterSet`` (period = close date), amounts in the corporate currency;
- an **activity measure**: done activities (one kind, or all) visible to the viewer (period = done
  date).

Whoever runs a report sees the figures of their own scope (``run(viewer=…)``): a rep opening a
manager's shared report sees their own rows. Scheduled emails run it as the report's owner.
See docs/reports.md for the rules in words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from crm.filtersets import DealFilterSet
from crm.models import Activity, ActivityKind, Deal, DealType, Pipeline, Segment, Stage
from crm.selectors import day_bounds
from reporting import engine, selectors
from reporting.facts import OWNER_TEAMS
from reporting.kpis import REGISTRY, Kpi, Unit
from reporting.models import ReportGroupBy, ReportPeriod, SavedReport, ScopeKind
from reporting.selectors import Scope
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.exports import export_response
from salesops.fiscal import FiscalPeriod, PeriodKind
from salesops.money import round_money
from salesops.org.models import ExchangeRate, Team, User
from salesops.org.roles import ORG_WIDE_ROLES
from salesops.org.selectors import fiscal_calendar, org_settings, team_subtree_ids

# --- Measures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportMeasure:
    """Something a report can measure: ``kpi:<key>``, ``deals:<name>`` or ``activities:<kind>``."""

    key: str
    source: str  # "kpi", "deals" or "activities"
    label: str
    unit: Unit
    definition: str
    additive: bool  # sums and counts: groups add up to a total, an empty period is 0

    @property
    def name(self) -> str:
        return self.key.partition(":")[2]


@dataclass(frozen=True)
class _DealAggregate:
    what: str  # "count", "amount" or "weighted"
    where: Q | None = None


_OPEN = Q(closed_at__isnull=True)
_WON = Q(stage__is_won=True)
_LOST = Q(stage__is_lost=True)

# name: (label, unit, definition, aggregate)
_DEAL_MEASURES: dict[str, tuple[str, Unit, str, _DealAggregate]] = {
    "count": ("Deals", Unit.COUNT, "Number of deals (open, won and lost).",
              _DealAggregate("count")),
    "amount": ("Deal amount", Unit.MONEY, "Sum of the amounts of the deals.",
               _DealAggregate("amount")),
    "open_count": ("Open deals", Unit.COUNT, "Number of open deals.",
                   _DealAggregate("count", _OPEN)),
    "open_pipeline": ("Open pipeline", Unit.MONEY, "Sum of the amounts of the open deals.",
                      _DealAggregate("amount", _OPEN)),
    "weighted_pipeline": ("Weighted open pipeline", Unit.MONEY,
                          "Sum of amount × probability ÷ 100 of the open deals.",
                          _DealAggregate("weighted", _OPEN)),
    "won_count": ("Won deals", Unit.COUNT, "Number of won deals.", _DealAggregate("count", _WON)),
    "won_amount": ("Won amount", Unit.MONEY, "Sum of the amounts of the won deals.",
                   _DealAggregate("amount", _WON)),
    "lost_count": ("Lost deals", Unit.COUNT, "Number of lost deals.",
                   _DealAggregate("count", _LOST)),
    "lost_amount": ("Lost amount", Unit.MONEY, "Sum of the amounts of the lost deals.",
                    _DealAggregate("amount", _LOST)),
}  # fmt: skip


def _measures() -> dict[str, ReportMeasure]:
    found: dict[str, ReportMeasure] = {}
    for kpi in REGISTRY.values():
        found[f"kpi:{kpi.key}"] = ReportMeasure(
            f"kpi:{kpi.key}", "kpi", kpi.label, kpi.unit, kpi.definition, kpi.additive
        )
    for name, (label, unit, definition, _) in _DEAL_MEASURES.items():
        found[f"deals:{name}"] = ReportMeasure(
            f"deals:{name}", "deals", label, unit,
            f"{definition} Period: close date. Amounts in the corporate currency.", True,
        )  # fmt: skip
    found["activities:all"] = ReportMeasure(
        "activities:all", "activities", "Activities", Unit.COUNT,
        "Number of activities of every kind done in the period.", True,
    )  # fmt: skip
    for kind in ActivityKind:
        found[f"activities:{kind.value}"] = ReportMeasure(
            f"activities:{kind.value}", "activities", f"Activities: {kind.label.lower()}s",
            Unit.COUNT, f"Number of {kind.label.lower()}s done in the period.", True,
        )  # fmt: skip
    return found


MEASURES: dict[str, ReportMeasure] = _measures()
SOURCE_LABELS = {"kpi": "KPIs", "deals": "Deals", "activities": "Activities"}


def measure_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Measures to pick from, grouped by source (for forms)."""
    return [
        (label, [(m.key, m.label) for m in MEASURES.values() if m.source == source])
        for source, label in SOURCE_LABELS.items()
    ]


def get_measure(key: str) -> ReportMeasure:
    try:
        return MEASURES[key]
    except KeyError:
        raise DomainError(
            f"'{key}' is not a measure: pick a KPI (kpi:bookings), a deal measure (deals:count) "
            "or an activity measure (activities:meeting).",
            field="measure",
        ) from None


# --- Definitions ------------------------------------------------------------------------------

PERIOD_GROUPS = {
    ReportGroupBy.MONTH: PeriodKind.MONTH,
    ReportGroupBy.QUARTER: PeriodKind.QUARTER,
    ReportGroupBy.YEAR: PeriodKind.YEAR,
}
GROUP_LABELS = {
    ReportGroupBy.REP: "Rep", ReportGroupBy.TEAM: "Team", ReportGroupBy.STAGE: "Stage",
    ReportGroupBy.MONTH: "Month", ReportGroupBy.QUARTER: "Quarter", ReportGroupBy.YEAR: "Year",
    ReportGroupBy.SEGMENT: "Segment",
}  # fmt: skip


@dataclass(frozen=True)
class ReportDefinition:
    """What a report computes: a saved report's fields, or a builder form not saved yet."""

    measure: str
    group_by: str
    period: str = ReportPeriod.THIS_QUARTER
    period_from: str = ""
    period_to: str = ""
    pipeline_id: int | None = None
    segment: str = ""
    deal_type: str = ""
    team_id: int | None = None

    @classmethod
    def of(cls, report: SavedReport) -> ReportDefinition:
        return cls(
            measure=report.measure, group_by=report.group_by, period=report.period,
            period_from=report.period_from, period_to=report.period_to,
            pipeline_id=report.pipeline_id, segment=report.segment, deal_type=report.deal_type,
            team_id=report.team_id,
        )  # fmt: skip


@dataclass(frozen=True)
class PeriodRange:
    """The days a report covers (both inclusive)."""

    start: dt.date
    end: dt.date
    label: str


def resolve_period(definition: ReportDefinition, today: dt.date) -> PeriodRange | None:
    """The days of the report's period on ``today`` (None: any date). Raises DomainError."""
    calendar = fiscal_calendar()
    relative = {
        ReportPeriod.THIS_MONTH: (PeriodKind.MONTH, 0),
        ReportPeriod.LAST_MONTH: (PeriodKind.MONTH, -1),
        ReportPeriod.THIS_QUARTER: (PeriodKind.QUARTER, 0),
        ReportPeriod.LAST_QUARTER: (PeriodKind.QUARTER, -1),
        ReportPeriod.NEXT_QUARTER: (PeriodKind.QUARTER, 1),
        ReportPeriod.THIS_YEAR: (PeriodKind.YEAR, 0),
        ReportPeriod.LAST_YEAR: (PeriodKind.YEAR, -1),
    }
    if definition.period == ReportPeriod.ALL:
        return None
    if definition.period in relative:
        kind, steps = relative[definition.period]
        period = calendar.shift(calendar.period(today, kind), steps)
        return PeriodRange(period.start, period.end, period.label)
    if definition.period != ReportPeriod.CUSTOM:
        raise DomainError(f"'{definition.period}' is not a report period.", field="period")
    if not definition.period_from:
        raise DomainError(
            "Pick the first fiscal period of the range (2026-M03, 2026-Q01 or 2026).",
            field="period_from",
        )
    first = _parse_period(definition.period_from, "period_from")
    last = _parse_period(definition.period_to, "period_to") if definition.period_to else first
    if last.end < first.start:
        raise DomainError(
            f"The range ends ({last.label}) before it starts ({first.label}).", field="period_to"
        )
    label = first.label if first == last else f"{first.label} – {last.label}"
    return PeriodRange(first.start, last.end, label)


def _parse_period(key: str, field_name: str) -> FiscalPeriod:
    try:
        return fiscal_calendar().parse(key)
    except ValueError as error:
        raise DomainError(str(error), field=field_name) from None


def _single_period(span: PeriodRange) -> FiscalPeriod | None:
    """The fiscal month, quarter or year that is exactly ``span``, if any."""
    calendar = fiscal_calendar()
    for kind in PeriodKind:
        period = calendar.period(span.start, kind)
        if (period.start, period.end) == (span.start, span.end):
            return period
    return None


def _periods_in(span: PeriodRange, kind: PeriodKind) -> list[FiscalPeriod]:
    calendar = fiscal_calendar()
    periods, period = [], calendar.period(span.start, kind)
    while period.start <= span.end:
        periods.append(period)
        period = calendar.shift(period, 1)
    return periods


def definition_problems(
    definition: ReportDefinition, *, today: dt.date | None = None
) -> list[tuple[str, str]]:
    """What is wrong with ``definition``, as (field, message) pairs; empty when it can run."""
    today = today or timezone.localdate()
    try:
        measure = get_measure(definition.measure)
    except DomainError as error:
        return [(error.field, error.message)]
    problems: list[tuple[str, str]] = []
    for name, value, allowed, what in (
        ("group_by", definition.group_by, ReportGroupBy.values, "a grouping"),
        ("segment", definition.segment, Segment.values, "a segment"),
        ("deal_type", definition.deal_type, DealType.values, "a deal type"),
    ):
        if (value and value not in allowed) or (name == "group_by" and not value):
            problems.append((name, f"'{value}' is not {what}: use {', '.join(allowed)}."))
    try:
        span = resolve_period(definition, today)
    except DomainError as error:
        problems.append((error.field, error.message))
        span = None
    if problems:
        return problems
    if measure.source == "activities":
        if definition.group_by == ReportGroupBy.STAGE:
            message = "Activities have no stage: group them by rep, team, period or segment."
            problems.append(("group_by", message))
        if definition.pipeline_id is not None:
            message = (
                "Activities are not tied to a pipeline: leave it empty for an activity measure."
            )
            problems.append(("pipeline", message))
        if definition.deal_type:
            message = "Activities have no deal type: leave it empty for an activity measure."
            problems.append(("deal_type", message))
    if measure.source == "kpi":
        problems += _kpi_problems(REGISTRY[measure.name], definition, span)
    return problems


def _kpi_sources(kpi: Kpi) -> set[str]:
    if kpi.source:
        return {kpi.source}
    return set().union(*(_kpi_sources(REGISTRY[key]) for key in kpi.uses))


def _kpi_filter_applies(kpi: Kpi, filters: engine.Filters) -> bool:
    return all(filters.sql(source) != "TRUE" for source in _kpi_sources(kpi))


def _kpi_problems(
    kpi: Kpi, definition: ReportDefinition, span: PeriodRange | None
) -> list[tuple[str, str]]:
    """KPIs are figures of whole fiscal periods, per scope (and per stage for stage KPIs)."""
    problems = []
    group = definition.group_by
    if span is None:
        message = f"{kpi.label} is a figure per fiscal period: pick a period or a range of periods."
        problems.append(("period", message))
    elif group in PERIOD_GROUPS:
        calendar, kind = fiscal_calendar(), PERIOD_GROUPS[group]
        whole = (calendar.period(span.start, kind).start, calendar.period(span.end, kind).end)
        if whole != (span.start, span.end):
            message = (
                f"KPIs are figures of whole fiscal periods: {span.label} is not made of whole "
                f"{kind.value}s. Group by a shorter period or change the range."
            )
            problems.append(("group_by", message))
    elif _single_period(span) is None:
        message = (
            f"{kpi.label} by {group} is a figure of one fiscal period: {span.label} is not one "
            "month, quarter or year. Pick one, or group by month, quarter or year."
        )
        problems.append(("period_to", message))
    if kpi.per_stage and group != ReportGroupBy.STAGE:
        problems.append(("group_by", f"{kpi.label} is a figure per stage: group it by stage."))
    if group == ReportGroupBy.STAGE and not kpi.per_stage:
        stage_kpis = ", ".join(k.label.lower() for k in REGISTRY.values() if k.per_stage)
        problems.append(("group_by", f"Only stage KPIs ({stage_kpis}) can be grouped by stage."))
    if group == ReportGroupBy.SEGMENT and not _kpi_filter_applies(kpi, engine.Filters(segment="x")):
        problems.append(("group_by", f"{kpi.label} has no segment: group it another way."))
    for name, value, filters, words in (
        ("pipeline", definition.pipeline_id, engine.Filters(pipeline_id=definition.pipeline_id),
         "pipeline"),
        ("segment", definition.segment, engine.Filters(segment=definition.segment), "segment"),
        ("deal_type", definition.deal_type, engine.Filters(deal_type=definition.deal_type),
         "deal type"),
    ):  # fmt: skip
        if value not in (None, "") and not _kpi_filter_applies(kpi, filters):
            message = f"{kpi.label} does not depend on the {words}: leave the {words} empty."
            problems.append((name, message))
    return problems


class ReportInvalid(DomainError):
    """A report definition that cannot run; ``problems`` holds every (field, message)."""

    def __init__(self, problems: list[tuple[str, str]]):
        field_name, message = problems[0]
        super().__init__(message, field=field_name)
        self.problems = problems


# --- Running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    key: str  # "rep:12", "team:3", "stage:7", "2026-M03", "smb", …
    label: str
    value: Decimal | None


@dataclass
class ReportResult:
    """A report's rows for one viewer, rounded for people (see ``present``)."""

    measure: ReportMeasure
    group_by: str
    period: PeriodRange | None
    scope: Scope | None
    currency: str
    rows: list[ReportRow] = field(default_factory=list)
    total: Decimal | None = None
    live: bool = True
    computed_at: dt.datetime | None = None

    @property
    def group_label(self) -> str:
        return GROUP_LABELS[self.group_by]

    @property
    def value_label(self) -> str:
        suffixes = {
            Unit.MONEY: self.currency, Unit.MONEY_PER_DAY: f"{self.currency}/day",
            Unit.PERCENT: "%", Unit.DAYS: "days", Unit.HOURS: "hours",
        }  # fmt: skip
        suffix = suffixes.get(self.measure.unit)
        return f"{self.measure.label} ({suffix})" if suffix else self.measure.label

    @property
    def period_label(self) -> str:
        return self.period.label if self.period else "Any date"

    @property
    def headers(self) -> list[str]:
        return [self.group_label, self.value_label]

    def table(self) -> list[list]:
        return [[row.label, row.value] for row in self.rows]


def present(value: Decimal | None, unit: Unit, currency: str) -> Decimal | None:
    """A value as reports show and export it: money to the cent (ROUND_HALF_UP), percentages
    as percent with two decimals, days and hours with two, counts whole (or two decimals)."""
    if value is None:
        return None
    value = Decimal(value)
    if unit in (Unit.MONEY, Unit.MONEY_PER_DAY):
        return round_money(value, currency)
    if unit == Unit.PERCENT:
        return round_money(value * 100, "USD")
    if unit == Unit.COUNT and value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return round_money(value, "USD")  # two decimals, half away from zero


def report_scope(viewer: User, team_id: int | None) -> Scope | None:
    """The scope a report covers for ``viewer``: their own (as on the dashboard), or the team
    filtered on when they may see it, or the part of it they may see; None when that is nothing."""
    own = selectors.default_scope(viewer)
    if team_id is None:
        return own
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return None
    wanted = Scope(ScopeKind.TEAM, team.pk, team.name)
    if selectors.can_see_scope(viewer, wanted):
        return wanted
    subtree = set(team_subtree_ids([team.pk]))
    if own.kind == ScopeKind.TEAM and own.id in subtree:
        return own
    if own.kind == ScopeKind.REP:
        profile = getattr(viewer, "rep_profile", None)
        if profile is not None and profile.team_id in subtree:
            return own
    return None


def run(
    definition: ReportDefinition | SavedReport, *, viewer: User, today: dt.date | None = None
) -> ReportResult:
    """The report's rows as ``viewer`` may see them. Raises ReportInvalid when it cannot run."""
    if isinstance(definition, SavedReport):
        definition = ReportDefinition.of(definition)
    today = today or timezone.localdate()
    problems = definition_problems(definition, today=today)
    if problems:
        raise ReportInvalid(problems)
    measure = get_measure(definition.measure)
    span = resolve_period(definition, today)
    currency = org_settings().corporate_currency
    result = ReportResult(
        measure=measure, group_by=definition.group_by, period=span,
        scope=report_scope(viewer, definition.team_id), currency=currency,
    )  # fmt: skip
    if measure.source == "kpi":
        raw = _run_kpi(result, definition, viewer)
    else:
        raw = _run_records(result, definition, viewer, today)
    if definition.group_by not in PERIOD_GROUPS:
        # Only groups with something to show: no blanks, and no zero sums or counts.
        raw = [r for r in raw if r[2] is not None and not (measure.additive and r[2] == 0)]
    raw = _sorted(raw, definition.group_by)
    if measure.additive:
        total = sum((value for _, _, value in raw if value is not None), Decimal(0))
        result.total = present(total, measure.unit, currency)
    result.rows = [ReportRow(k, label, present(v, measure.unit, currency)) for k, label, v in raw]
    return result


Raw = list[tuple[str, str, Decimal | None]]  # (key, label, value) before rounding


def _sorted(rows: Raw, group_by: str) -> Raw:
    """Periods and stages in their own order (already so); others biggest first, then by name."""
    if group_by in PERIOD_GROUPS or group_by == ReportGroupBy.STAGE:
        return rows
    return sorted(rows, key=lambda r: (r[2] is None, -(r[2] or 0), r[1].lower(), r[0]))


# KPIs: from selectors.kpi_figures (snapshots, or live with filters), scopes the viewer may see.


def _run_kpi(result: ReportResult, definition: ReportDefinition, viewer: User) -> Raw:
    root, kpi, span = result.scope, REGISTRY[result.measure.name], result.period
    if root is None:
        return []
    filters = engine.Filters(
        pipeline_id=definition.pipeline_id, segment=definition.segment or None,
        deal_type=definition.deal_type or None,
    )  # fmt: skip

    def figures(scopes: list[Scope], keys: list[str], with_filters=filters):
        found = selectors.kpi_figures(
            viewer, metrics=[kpi.key], scopes=scopes, period_keys=keys, filters=with_filters
        )
        result.live, result.computed_at = found.live, found.computed_at
        return selectors.figure_index(found.rows)

    group = definition.group_by
    if group in PERIOD_GROUPS:
        periods = _periods_in(span, PERIOD_GROUPS[group])
        index = figures([root], [p.key for p in periods])
        return [(p.key, p.label, selectors.figure(index, kpi.key, root, p.key)) for p in periods]
    period = _single_period(span)
    if group in (ReportGroupBy.REP, ReportGroupBy.TEAM):
        scopes = [root] if root.kind == ScopeKind.REP else selectors.members(root, group)
        scopes = [s for s in scopes if selectors.can_see_scope(viewer, s)]
        if group == ReportGroupBy.TEAM and not scopes:
            scopes = [root]  # no teams below it: the scope itself
        index = figures(scopes, [period.key])
        return [
            (s.key, s.name, index[(kpi.key, s.key, period.key, "")])
            for s in scopes
            if (kpi.key, s.key, period.key, "") in index
        ]
    if group == ReportGroupBy.STAGE:
        index = figures([root], [period.key])
        stages = _stages(definition.pipeline_id)
        return [
            (f"stage:{s.pk}", str(s), index[(kpi.key, root.key, period.key, str(s.pk))])
            for s in stages
            if (kpi.key, root.key, period.key, str(s.pk)) in index
        ]
    rows = []  # by segment: one live computation per segment
    for value, label in Segment.choices:
        index = figures([root], [period.key], replace(filters, segment=value))
        if (kpi.key, root.key, period.key, "") in index:
            rows.append((value, str(label), index[(kpi.key, root.key, period.key, "")]))
    return rows


def _stages(pipeline_id: int | None) -> list[Stage]:
    stages = Stage.objects.select_related("pipeline").order_by(
        "pipeline__position", "pipeline__name", "position"
    )
    return list(stages.filter(pipeline_id=pipeline_id) if pipeline_id else stages)


# Deals and activities: ORM aggregates per owner, stage, segment or month, then into groups.


def _run_records(
    result: ReportResult, definition: ReportDefinition, viewer: User, today: dt.date
) -> Raw:
    span, group = result.period, definition.group_by
    if result.measure.source == "deals":
        records = deals_for_report(definition, viewer=viewer, span=span)
        dated = "close_date"
        _, _, _, spec = _DEAL_MEASURES[result.measure.name]
        aggregate = _deal_aggregate(spec, _corporate_amount(today, result.currency))
    else:
        records = activities_for_report(definition, viewer=viewer, span=span)
        dated = "done_at"
        aggregate = Count("pk")
    grain = {
        ReportGroupBy.REP: F("owner_id"),
        ReportGroupBy.TEAM: F("owner_id"),
        ReportGroupBy.STAGE: F("stage_id"),
        ReportGroupBy.SEGMENT: F("account__segment"),
    }.get(group) or TruncMonth(dated, output_field=DateField())
    grains = list(
        records.order_by()
        .values(grain=grain)
        .annotate(value=aggregate)
        .values_list("grain", "value")
    )
    grouping: Callable[[list], Raw] = {
        ReportGroupBy.REP: _by_rep,
        ReportGroupBy.TEAM: lambda g: _by_team(g, result.scope),
        ReportGroupBy.STAGE: _by_stage,
        ReportGroupBy.SEGMENT: _by_segment,
    }.get(group) or (lambda g: _by_period(g, PERIOD_GROUPS[group], span))
    return grouping(grains)


def deals_for_report(definition: ReportDefinition, *, viewer: User, span: PeriodRange | None):
    """The deals a report counts: ``viewer``'s, narrowed by the deal list's own filters."""
    data = {
        "pipeline": definition.pipeline_id, "segment": definition.segment,
        "type": definition.deal_type, "team": definition.team_id,
    }  # fmt: skip
    if span is not None:
        data["close_date_after"] = span.start.isoformat()
        data["close_date_before"] = span.end.isoformat()
    data = {k: v for k, v in data.items() if v not in (None, "")}
    filterset = DealFilterSet(data, queryset=Deal.objects.visible_to(viewer))
    if not filterset.is_valid():
        name, errors = next(iter(filterset.errors.items()))
        raise DomainError(f"{name}: {' '.join(errors)}", field=name)
    return filterset.qs


def activities_for_report(definition: ReportDefinition, *, viewer: User, span: PeriodRange | None):
    """The done activities a report counts: ``viewer``'s, of the measure's kind, filtered."""
    activities = Activity.objects.visible_to(viewer).filter(done_at__isnull=False)
    kind = get_measure(definition.measure).name
    if kind != "all":
        activities = activities.filter(kind=kind)
    if span is not None:
        start, end = day_bounds(span.start, span.end)
        activities = activities.filter(done_at__gte=start, done_at__lt=end)
    if definition.segment:
        activities = activities.filter(account__segment=definition.segment)
    if definition.team_id is not None:
        activities = activities.filter(
            owner__rep_profile__team__in=team_subtree_ids([definition.team_id])
        )
    return activities


def _corporate_amount(today: dt.date, corporate: str):
    """A deal's amount in the corporate currency at the rate in force on its close date (or
    ``today`` without one): NULL when there is no rate that early, like the KPIs."""
    rate = (
        ExchangeRate.objects.filter(
            currency=OuterRef("currency"),
            valid_from__lte=Coalesce(OuterRef("close_date"), Value(today)),
        )
        .order_by("-valid_from")
        .values("rate")[:1]
    )
    return Case(
        When(currency=corporate, then=F("amount")),
        default=F("amount") * Subquery(rate),
        output_field=DecimalField(max_digits=40, decimal_places=10),
    )


def _deal_aggregate(spec: _DealAggregate, amount):
    if spec.what == "count":
        return Count("pk", filter=spec.where)
    if spec.what == "weighted":
        amount = amount * F("probability") / Value(Decimal(100))
    return Sum(
        amount, filter=spec.where, output_field=DecimalField(max_digits=40, decimal_places=10)
    )


def _by_rep(grains: list) -> Raw:
    people = User.objects.in_bulk([owner for owner, _ in grains if owner is not None])
    return [(f"rep:{owner}", _person(people.get(owner)), value) for owner, value in grains]


def _person(user: User | None) -> str:
    return (user.get_full_name() or user.username) if user else "(nobody)"


def _by_team(grains: list, root: Scope | None) -> Raw:
    """Owners into the teams one level below the scope (the company: the top-level teams); a
    scope with no teams below it is one group, itself."""
    if root is None:
        return []
    if root.kind == ScopeKind.REP:
        return _rolled_up([(root.key, root.name, v) for _, v in grains])
    parent = Q(parent_id=root.id) if root.kind == ScopeKind.TEAM else Q(parent__isnull=True)
    children = {t.pk: t.name for t in Team.objects.filter(parent)}
    if not children:
        return _rolled_up([(root.key, root.name, v) for _, v in grains])
    owners = [owner for owner, _ in grains]
    teams_of: dict[int, set[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT owner_id, team_id FROM ({OWNER_TEAMS}) t WHERE owner_id = ANY(%s)", [owners]
        )
        for owner, team in cursor.fetchall():
            teams_of.setdefault(owner, set()).add(team)
    keyed = []
    for owner, value in grains:
        ancestors = teams_of.get(owner, set())
        child = next((t for t in sorted(ancestors) if t in children), None)
        if child is not None:
            keyed.append((f"team:{child}", children[child], value))
        elif root.kind == ScopeKind.TEAM and root.id in ancestors:
            keyed.append((root.key, f"{root.name} (directly)", value))
        else:
            keyed.append(("team:none", "(no team)", value))
    return _rolled_up(keyed)


def _rolled_up(keyed: Iterable[tuple[str, str, Decimal | None]]) -> Raw:
    totals: dict[str, list] = {}
    for key, label, value in keyed:
        entry = totals.setdefault(key, [label, None])
        if value is not None:
            entry[1] = (entry[1] or 0) + value
    return [(key, label, value) for key, (label, value) in totals.items()]


def _by_stage(grains: list) -> Raw:
    values = dict(grains)
    return [(f"stage:{s.pk}", str(s), values[s.pk]) for s in _stages(None) if s.pk in values]


def _by_segment(grains: list) -> Raw:
    labels = dict(Segment.choices)
    return _rolled_up(
        (segment or "none", str(labels.get(segment, "(no segment)")), value)
        for segment, value in grains
    )


def _by_period(grains: list, kind: PeriodKind, span: PeriodRange | None) -> Raw:
    """Months into fiscal periods; with a range, every period of it (0 when empty)."""
    calendar = fiscal_calendar()
    keyed, undated = [], None
    for month, value in grains:
        if month is None:
            undated = value
            continue
        period = calendar.period(month, kind)
        keyed.append((period.start, period.key, period.label, value))
    if span is not None:
        keyed += [(p.start, p.key, p.label, Decimal(0)) for p in _periods_in(span, kind)]
    keyed.sort(key=lambda entry: entry[0])
    totals: dict[str, list] = {}
    for _, key, label, value in keyed:
        entry = totals.setdefault(key, [label, Decimal(0)])
        entry[1] += value or 0
    rows = [(key, label, value) for key, (label, value) in totals.items()]
    if undated is not None and undated != 0:
        rows.append(("none", "(no date)", undated))
    return rows


# --- Files ------------------------------------------------------------------------------------


def export_file(result: ReportResult, *, filename: str, fmt: str) -> tuple[str, bytes, str]:
    """The report as a CSV or XLSX file (name, content, MIME type), written by the same
    formula-safe helper as every download."""
    response = export_response(
        headers=result.headers, rows=result.table(), filename=filename, fmt=fmt
    )
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return f"{filename}.{fmt}", content, response["Content-Type"]


# --- Services ---------------------------------------------------------------------------------

EDITABLE_FIELDS = (
    "name", "description", "measure", "group_by", "period", "period_from", "period_to",
    "pipeline", "segment", "deal_type", "team", "shared",
)  # fmt: skip


def saved_report_save(
    *, acting_user: User, report: SavedReport | None = None, **fields
) -> SavedReport:
    """Create a report for ``acting_user``, or change one of theirs; checked before it is saved."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"saved_report_save() got unexpected fields: {', '.join(sorted(unknown))}")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="saved_report_save"):
        if report is not None:
            report = _own(acting_user, report.pk, lock=True)
        else:
            report = SavedReport(owner=acting_user)
        for name, value in fields.items():
            setattr(report, name, value.strip() if isinstance(value, str) else value)
        for name in ("description", "period_from", "period_to", "segment", "deal_type"):
            setattr(report, name, getattr(report, name) or "")
        if report.period != ReportPeriod.CUSTOM:
            report.period_from = report.period_to = ""
        problems = _name_problems(report) + definition_problems(ReportDefinition.of(report))
        if problems:
            raise ReportInvalid(problems)
        try:
            with transaction.atomic():
                report.save()
        except IntegrityError:  # the same name saved at the same moment
            raise ReportInvalid(
                _name_problems(report) or [("name", "Pick another name.")]
            ) from None
    return report


def _name_problems(report: SavedReport) -> list[tuple[str, str]]:
    if not report.name:
        return [("name", "A report needs a name.")]
    taken = SavedReport.objects.filter(owner=report.owner_id, name__iexact=report.name)
    if taken.exclude(pk=report.pk).exists():
        return [("name", f"You already have a report named '{report.name}': pick another name.")]
    return []


def saved_report_copy(*, acting_user: User, report: SavedReport, name: str = "") -> SavedReport:
    """A copy of a report ``acting_user`` may open (theirs or shared), owned by them, private."""
    source = saved_report_for(acting_user, report.pk)
    name = name.strip() or _free_name(acting_user, f"{source.name} (copy)")
    fields = {f: getattr(source, f) for f in EDITABLE_FIELDS}
    return saved_report_save(acting_user=acting_user, **{**fields, "name": name, "shared": False})


def _free_name(owner: User, name: str) -> str:
    taken = {
        n.lower() for n in SavedReport.objects.filter(owner=owner).values_list("name", flat=True)
    }
    candidate, n = name, 2
    while candidate.lower() in taken:
        candidate, n = f"{name} {n}", n + 1
    return candidate


def saved_report_delete(*, acting_user: User, report: SavedReport) -> None:
    """Delete one of ``acting_user``'s reports, with its schedules and their deliveries."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="saved_report_delete"):
        _own(acting_user, report.pk, lock=True).delete()


def _own(user: User, pk: int, *, lock: bool = False) -> SavedReport:
    found = SavedReport.objects.visible_to(user, "change").filter(pk=pk)
    if lock:
        found = found.select_for_update(of=("self",))
    report = found.first()
    if report is None:
        if saved_report_for(user, pk, missing_ok=True) is not None:
            raise NotAllowed("Only its owner may change this report: copy it to make your own.")
        raise NotFound("There is no such report, or it is not shared with you.")
    return report


# --- Selectors --------------------------------------------------------------------------------


def saved_reports_for(user: User):
    """Reports ``user`` may open: their own and the shared ones, with owner loaded."""
    return SavedReport.objects.visible_to(user).select_related("owner", "pipeline", "team")


def saved_report_for(user: User, pk: int, *, missing_ok: bool = False) -> SavedReport | None:
    report = saved_reports_for(user).filter(pk=pk).first()
    if report is None and not missing_ok:
        raise NotFound("There is no such report, or it is not shared with you.")
    return report


def team_choices(user: User, current: int | None = None):
    """Teams a person may filter a report on (their scope's), plus the report's current one."""
    teams = Team.objects.all() if user.role in ORG_WIDE_ROLES else Team.objects.visible_to(user)
    if current is not None:
        teams = teams | Team.objects.filter(pk=current)
    return teams.distinct().order_by("name")


def pipeline_choices(current: int | None = None):
    pipelines = Pipeline.objects.filter(Q(active=True) | Q(pk=current))
    return pipelines.order_by("position", "name")

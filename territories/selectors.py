"""Read side of the territory pages: plans, the tree with its figures, rules in words, runs and
their live progress, the scenario and compare pages, and auto-balance proposals in words.

Every list starts from ``restrict`` (the caller's scope); figures come from
``territories.scenarios`` (set-based SQL over every account); nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from celery.result import AsyncResult
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, F, IntegerField, QuerySet, Value, When
from django.utils import timezone

from crm.models import Account, Segment, segment_for
from salesops.celery import app as celery_app
from salesops.errors import DomainError
from salesops.fiscal import PeriodKind
from salesops.org.models import User
from salesops.org.roles import Role
from salesops.org.selectors import fiscal_calendar, org_settings
from salesops.permissions import restrict
from territories.balancing import Balance, Move, Proposal
from territories.models import (
    AssignmentMove,
    AssignmentRule,
    AssignmentRun,
    MemberRole,
    PlanStatus,
    QuotaPlan,
    RunStatus,
    Territory,
    TerritoryMember,
    TerritoryPlan,
)
from territories.quota_selectors import attainment
from territories.scenario_charts import balance_chart, compare_chart
from territories.scenarios import (
    MEASURES,
    ScenarioComparison,
    ScenarioDiff,
    TerritoryMetrics,
    plan_balance,
    scenario_compare,
    scenario_diff,
    territory_metrics,
)

# The measures the pages offer, with short column labels (``employees``, a second proxy of
# potential, stays in the API).
PAGE_MEASURES = {
    "accounts": "Accounts",
    "potential": "Potential",
    "pipeline": "Open pipeline",
    "bookings": "Bookings (12 mo)",
}
LEAVES = "_leaves"  # the chart's "every leaf territory" choice
DIFF_PAGE_SIZE = 25
MOVES_PAGE_SIZE = 50


def corporate_currency() -> str:
    return org_settings().corporate_currency


# --- Plans --------------------------------------------------------------------------------------

_LIVE_FIRST = Case(
    When(status=PlanStatus.LIVE, then=Value(0)), default=Value(1), output_field=IntegerField()
)


def plans_for(user: User) -> QuerySet:
    """Every plan in ``user``'s scope: the live one first, then the newest scenarios."""
    return (
        restrict(TerritoryPlan.objects.all(), user)
        .select_related("based_on", "created_by")
        .order_by(_LIVE_FIRST, "-created_at")
    )


def live_plan_for(user: User) -> TerritoryPlan | None:
    return restrict(TerritoryPlan.objects.all(), user).filter(status=PlanStatus.LIVE).first()


def plan_for(user: User, pk: Any) -> TerritoryPlan | None:
    """The plan ``pk`` if ``user`` may see it (None for a bad id too)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return plans_for(user).filter(pk=pk).first()


def territory_for(user: User, pk: int) -> Territory | None:
    return (
        restrict(Territory.objects.all(), user)
        .select_related("plan", "parent", "manager")
        .filter(pk=pk)
        .first()
    )


def rule_for(user: User, pk: int) -> AssignmentRule | None:
    plans = restrict(TerritoryPlan.objects.all(), user)
    return (
        AssignmentRule.objects.filter(plan__in=plans, pk=pk)
        .select_related("plan", "territory")
        .first()
    )


def member_choices() -> QuerySet:
    """People who can work a territory: active reps and managers."""
    return (
        User.objects.filter(is_active=True, groups__name__in=[Role.REP, Role.MANAGER])
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


def manager_choices() -> QuerySet:
    return (
        User.objects.filter(is_active=True, groups__name=Role.MANAGER)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


# --- The tree -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeRow:
    """A territory as the tree shows it: the record, its figures (subtree included) and the
    people who work it directly."""

    territory: Territory
    metrics: TerritoryMetrics
    owners: list[User]
    overlays: list[User]

    @property
    def key(self) -> str:
        return self.metrics.key


@dataclass(frozen=True)
class ParentBalance:
    """How even one parent's children are, on each page measure: ``(label, Balance)``."""

    key: str
    name: str
    depth: int
    children: int
    scores: list[tuple[str, Balance | None]]


@dataclass(frozen=True)
class PlanOverview:
    plan: TerritoryPlan
    rows: list[TreeRow]
    balances: list[ParentBalance]  # one per parent, then "every leaf territory"
    metrics: dict[str, TerritoryMetrics]
    unconverted: int
    unplaced: int  # accounts the live plan has not placed yet (no run since they were added)
    currency: str


def plan_overview(plan: TerritoryPlan, *, as_of: dt.date | None = None) -> PlanOverview:
    """The tree page's figures: every territory with its metrics and members, and the balance
    of each parent's children on every page measure."""
    metrics = territory_metrics(plan, as_of=as_of)
    rows = tree_rows(plan, metrics)
    roots = [row.metrics for row in rows if row.metrics.parent_key is None]
    unplaced = 0
    if plan.status == PlanStatus.LIVE:
        placed = sum(root.accounts for root in roots)
        unplaced = max(Account.objects.count() - placed, 0)
    return PlanOverview(
        plan=plan,
        rows=rows,
        balances=parent_balances(metrics),
        metrics=metrics,
        unconverted=sum(root.unconverted for root in roots),
        unplaced=unplaced,
        currency=corporate_currency(),
    )


def tree_rows(plan: TerritoryPlan, metrics: Mapping[str, TerritoryMetrics]) -> list[TreeRow]:
    """``metrics`` (in tree order) with their territories and direct members (two queries)."""
    territories = {t.key: t for t in plan.territories.select_related("manager", "parent")}
    people: dict[int, dict[str, list[User]]] = defaultdict(
        lambda: {MemberRole.OWNER: [], MemberRole.OVERLAY: []}
    )
    members = (
        TerritoryMember.objects.filter(territory__plan=plan)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    for member in members:
        people[member.territory_id][member.role].append(member.user)
    rows = []
    for key, row in metrics.items():
        territory = territories[key]
        found = people[territory.pk]
        rows.append(
            TreeRow(
                territory=territory,
                metrics=row,
                owners=found[MemberRole.OWNER],
                overlays=found[MemberRole.OVERLAY],
            )
        )
    return rows


def parent_balances(metrics: Mapping[str, TerritoryMetrics]) -> list[ParentBalance]:
    """Balance scores of each parent's children and of all leaves, on every page measure."""
    balances = {measure: plan_balance(metrics, measure) for measure in PAGE_MEASURES}
    rows = []
    for key, row in metrics.items():
        if row.is_leaf:
            continue
        rows.append(
            ParentBalance(
                key=key,
                name=row.name,
                depth=row.depth,
                children=sum(1 for other in metrics.values() if other.parent_key == key),
                scores=[
                    (label, balances[m].by_parent.get(key)) for m, label in PAGE_MEASURES.items()
                ],
            )
        )
    leaves = sum(1 for row in metrics.values() if row.is_leaf)
    if leaves > 1:
        rows.append(
            ParentBalance(
                key=LEAVES,
                name="Every leaf territory",
                depth=0,
                children=leaves,
                scores=[(label, balances[m].leaves) for m, label in PAGE_MEASURES.items()],
            )
        )
    return rows


def scenarios_for(user: User) -> QuerySet:
    """The plans other than the live one, newest first."""
    return plans_for(user).exclude(status=PlanStatus.LIVE).order_by("-created_at")


# --- Territory page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TerritoryPage:
    territory: Territory
    metrics: TerritoryMetrics | None
    ancestors: list[Territory]
    children: list[Territory]
    members: list[TerritoryMember]
    rules: list[RuleRow]
    currency: str
    attainment: list = field(default_factory=list)  # this quarter's and year's, when planned


def territory_attainment(territory: Territory, *, today: dt.date | None = None) -> list:
    """The territory's quota and attainment for the current fiscal quarter and year, from the
    year's quota plan (none when there is no plan or the territory has no quota)."""
    today = today or timezone.localdate()
    calendar = fiscal_calendar()
    plan = QuotaPlan.objects.filter(fiscal_year=calendar.fiscal_year_of(today)).first()
    if plan is None:
        return []
    rows = [
        attainment(territory=territory, period_key=calendar.period(today, kind).key, plan=plan)
        for kind in (PeriodKind.QUARTER, PeriodKind.YEAR)
    ]
    return [row for row in rows if row.quota is not None]


def territory_page(territory: Territory) -> TerritoryPage:
    plan = territory.plan
    territories = {t.pk: t for t in plan.territories.all()}
    ancestors = []
    parent_id = territory.parent_id
    while parent_id is not None and parent_id in territories:
        ancestors.insert(0, territories[parent_id])
        parent_id = territories[parent_id].parent_id
    children = sorted(
        (t for t in territories.values() if t.parent_id == territory.pk), key=lambda t: t.name
    )
    members = list(
        territory.members.select_related("user").order_by(
            "role", "user__last_name", "user__first_name"
        )
    )
    rules = rule_rows(plan.rules.filter(territory=territory).select_related("territory"))
    return TerritoryPage(
        territory=territory,
        metrics=territory_metrics(plan).get(territory.key),
        ancestors=ancestors,
        children=children,
        members=members,
        rules=rules,
        currency=corporate_currency(),
        attainment=territory_attainment(territory),
    )


# --- Rules in words -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    rule: AssignmentRule
    conditions: list[str]


def rules_in_order(plan: TerritoryPlan) -> QuerySet:
    """The plan's rules in the order they are tried: by position, the catch-all last."""
    return plan.rules.select_related("territory").order_by("catch_all", "position", "id")


def rule_rows(rules: Iterable[AssignmentRule]) -> list[RuleRow]:
    """Each rule with its conditions in words (one query for the named accounts' names)."""
    rules = list(rules)
    named_ids = {pk for rule in rules for pk in rule.named_account_ids}
    names = dict(Account.objects.filter(pk__in=named_ids).values_list("pk", "name"))
    return [RuleRow(rule=rule, conditions=rule_conditions(rule, names)) for rule in rules]


_SEGMENT_LABELS = dict(Segment.choices)


def _amount(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def _range(label: str, low, high, fmt=str) -> str | None:
    if low is not None and high is not None:
        return f"{label} {fmt(low)}–{fmt(high)}"
    if low is not None:
        return f"{label} ≥ {fmt(low)}"
    if high is not None:
        return f"{label} ≤ {fmt(high)}"
    return None


def rule_conditions(rule: AssignmentRule, account_names: Mapping[int, str]) -> list[str]:
    """``rule``'s conditions as short phrases ("Country US", "Region CA or NV", …)."""
    if rule.catch_all:
        return ["Every account no earlier rule takes (catch-all)"]

    def listed(singular: str, plural: str, values: list, joiner: str = " or ") -> str:
        return f"{singular if len(values) == 1 else plural} {joiner.join(str(v) for v in values)}"

    phrases = []
    if rule.named_account_ids:
        shown = [account_names.get(pk, f"#{pk}") for pk in rule.named_account_ids[:5]]
        more = len(rule.named_account_ids) - len(shown)
        text = ", ".join(shown) + (f" and {more} more" if more else "")
        phrases.append(f"Named account{'s' * (len(rule.named_account_ids) != 1)}: {text}")
    if rule.countries:
        phrases.append(listed("Country", "Country", rule.countries))
    if rule.regions:
        phrases.append(listed("Region", "Region", rule.regions))
    if rule.postal_prefixes:
        phrases.append(listed("Postal code starts with", "Postal code starts with",
                              rule.postal_prefixes))  # fmt: skip
    if rule.industries:
        phrases.append(listed("Industry", "Industry", rule.industries))
    if rule.segments:
        phrases.append(
            listed("Segment", "Segment", [_SEGMENT_LABELS.get(s, s) for s in rule.segments])
        )
    for phrase in (
        _range("Employees", rule.employees_min, rule.employees_max, lambda v: f"{v:,}"),
        _range("Annual revenue", rule.revenue_min, rule.revenue_max, _amount),
    ):
        if phrase:
            phrases.append(phrase)
    return phrases or ["Every account (no conditions)"]


def rule_order_moved(plan: TerritoryPlan, rule: AssignmentRule, direction: str) -> list[int]:
    """The ids of the plan's rules (catch-all aside) in order, with ``rule`` one step up or down."""
    if rule.catch_all:
        raise DomainError("The catch-all rule is always tried last; it cannot move.")
    ids = list(
        plan.rules.filter(catch_all=False).order_by("position", "id").values_list("pk", flat=True)
    )
    index = ids.index(rule.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
    return ids


# --- The rule tester ----------------------------------------------------------------------------

TESTER_FIELDS = ("country", "region", "postal_code", "industry", "employees", "annual_revenue")


def tester_account(user: User, text: str) -> Account:
    """The account ``text`` names: an id, or a name (exact, else the one name containing it)."""
    text = text.strip()
    accounts = Account.objects.visible_to(user)
    if text.isdigit():
        found = accounts.filter(pk=int(text)).first()
        if found is None:
            raise DomainError(f"There is no account with id {text}.", field="account")
        return found
    exact = list(accounts.filter(name__iexact=text)[:2])
    found = exact or list(accounts.filter(name__icontains=text).order_by("name")[:6])
    if not found:
        raise DomainError(f"No account is called '{text}'.", field="account")
    if len(found) > 1:
        names = ", ".join(f"{a.name} (#{a.pk})" for a in found[:5])
        raise DomainError(
            f"'{text}' names several accounts ({names}); give the id or the full name.",
            field="account",
        )
    return found[0]


def tester_values(account: Account | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """The fields to place: the account's, overridden by every field given (blanks ignored)."""
    values: dict[str, Any] = {}
    if account is not None:
        values = {"id": account.pk, **{name: getattr(account, name) for name in TESTER_FIELDS}}
    values.update({k: v for k, v in given.items() if k in TESTER_FIELDS and v not in (None, "")})
    values["segment"] = segment_for(values.get("employees"))
    return values


# --- Runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands. While it waits or runs, the worker's task state is read live: the
    run row only changes when the run's one transaction commits."""

    status: str
    label: str
    percent: int
    step: str
    active: bool  # queued or running: the page keeps polling


def run_progress(run: AssignmentRun) -> RunProgress:
    status, label = run.status, run.get_status_display()
    percent, step = run.progress, run.step
    active = run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    if active and run.task_id:
        try:
            result = AsyncResult(run.task_id, app=celery_app)
            state, meta = result.state, result.info
        except Exception:  # progress is best effort: a broker hiccup shows the row's values
            state, meta = None, None
        if state == "PROGRESS" and isinstance(meta, dict):
            status, label = RunStatus.RUNNING, RunStatus.RUNNING.label
            percent = int(meta.get("percent", percent))
            step = str(meta.get("step", step))
    if active and not step:
        step = "Waiting for the worker" if status == RunStatus.QUEUED else step
    return RunProgress(status=status, label=label, percent=percent, step=step, active=active)


@dataclass(frozen=True)
class RunRow:
    run: AssignmentRun
    progress: RunProgress


def runs_for(user: User, *, plan: TerritoryPlan | None = None) -> QuerySet:
    runs = restrict(AssignmentRun.objects.all(), user).select_related("plan", "created_by")
    if plan is not None:
        runs = runs.filter(plan=plan)
    return runs.order_by("-created_at", "-pk")


class RunRows(list):
    """Runs with their progress; ``active`` while any of them waits for or is on the worker."""

    @property
    def active(self) -> bool:
        return any(row.progress.active for row in self)


def run_rows(runs: Iterable[AssignmentRun]) -> RunRows:
    return RunRows(RunRow(run=run, progress=run_progress(run)) for run in runs)


def run_for(user: User, pk: int) -> AssignmentRun | None:
    return runs_for(user).filter(pk=pk).first()


@dataclass(frozen=True)
class MoveRow:
    move: AssignmentMove
    from_name: str
    territory_changed: bool
    owner_changed: bool


@dataclass(frozen=True)
class RunMoves:
    page: Page
    rows: list[MoveRow]
    by_territory: list[tuple[str, str, int]]  # (from name, to name, accounts), most first


def run_moves(run: AssignmentRun, *, page_number: Any = 1) -> RunMoves:
    """What ``run`` moved, a page of accounts at a time, with counts per from → to."""
    moves = (
        AssignmentMove.objects.filter(run=run)
        .select_related("account", "to_territory", "from_owner", "to_owner")
        .order_by("account__name", "account_id")
    )
    page = Paginator(moves, MOVES_PAGE_SIZE).get_page(page_number)
    names = dict(
        Territory.objects.filter(plan__in=[run.plan_id, run.plan.based_on_id]).values_list(
            "key", "name"
        )
    )
    rows = [
        MoveRow(
            move=move,
            from_name=names.get(move.from_territory_key, move.from_territory_key) or "Not placed",
            territory_changed=move.from_territory_key != move.to_territory.key,
            owner_changed=move.from_owner_id != move.to_owner_id,
        )
        for move in page
    ]
    pairs = (
        AssignmentMove.objects.filter(run=run)
        .exclude(from_territory_key=F("to_territory__key"))
        .values_list("from_territory_key", "to_territory__key")
        .annotate(accounts=Count("id"))
        .order_by("-accounts", "from_territory_key", "to_territory__key")
    )
    by_territory = [(names.get(f, f) or "Not placed", names.get(t, t), n) for f, t, n in pairs]
    return RunMoves(page=page, rows=rows, by_territory=by_territory)


# --- The scenario page --------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceCompared:
    """One parent's balance on a measure in this plan and in the live plan."""

    key: str
    name: str
    depth: int
    plan: Balance | None
    live: Balance | None


@dataclass(frozen=True)
class DiffPager:
    number: int
    num_pages: int
    count: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages


@dataclass(frozen=True)
class MovedAccounts:
    """The scenario's diff against the live plan: counts per from → to and a page of accounts."""

    diff: ScenarioDiff
    pager: DiffPager
    pair: str  # the from → to pair the page is narrowed to ("" for every account)
    names: dict[str, str]  # territory key -> name, in either plan

    def pairs(self) -> list[tuple[str, str, str, int]]:
        """``(pair parameter, from name, to name, accounts)`` of each territory move."""
        return [
            (
                pair_param(p.from_key, p.to_key),
                self.names.get(p.from_key, p.from_key) if p.from_key else "Not placed",
                self.names.get(p.to_key, p.to_key) if p.to_key else "Not placed",
                p.accounts,
            )
            for p in self.diff.pairs
        ]

    def rows(self) -> list[tuple[Any, str, str]]:
        """``(DiffRow, from name, to name)`` of the page's accounts ("" where not placed)."""
        return [
            (
                row,
                self.names.get(row.from_key, row.from_key) if row.from_key else "",
                self.names.get(row.to_key, row.to_key) if row.to_key else "",
            )
            for row in self.diff.rows
        ]


@dataclass(frozen=True)
class ScenarioRow:
    """A territory of the scenario with its figures and, per page measure, the change from the
    live plan (empty without a live plan; a key the live plan lacks counts from zero)."""

    row: TreeRow
    deltas: dict[str, Decimal]


@dataclass(frozen=True)
class ScenarioPage:
    plan: TerritoryPlan
    live: TerritoryPlan | None
    rows: list[ScenarioRow]
    live_metrics: dict[str, TerritoryMetrics]
    measure: str
    parent_key: str
    parents: list[tuple[str, str]]  # chart choices: (key, label)
    chart: dict
    balances: list[BalanceCompared]
    moved: MovedAccounts | None
    currency: str

    @property
    def measures(self) -> list[tuple[str, str]]:
        return list(PAGE_MEASURES.items())


def pair_param(from_key: str | None, to_key: str | None) -> str:
    return f"{from_key or ''}>{to_key or ''}"


def _pair(text: str) -> tuple[str | None, str | None] | None:
    if ">" not in (text or ""):
        return None
    from_key, to_key = text.split(">", 1)
    return (from_key or None, to_key or None)


def _page_number(value: Any) -> int:
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return 1


def scenario_moves(
    plan: TerritoryPlan, live: TerritoryPlan, *, pair: str = "", page: Any = 1
) -> MovedAccounts:
    """The accounts ``plan`` would move (territory or owner) compared with ``live``, a page at a
    time, optionally narrowed to one from → to ``pair`` ("from-key>to-key")."""
    chosen = _pair(pair)
    number = _page_number(page)
    diff = scenario_diff(
        plan, live, limit=DIFF_PAGE_SIZE, offset=(number - 1) * DIFF_PAGE_SIZE, pair=chosen
    )
    count = diff.total
    if chosen is not None:
        count = next((p.accounts for p in diff.pairs if (p.from_key, p.to_key) == chosen), 0)
    names = dict(
        Territory.objects.filter(plan__in=[live, plan])
        .order_by(Case(When(plan=plan, then=Value(1)), default=Value(0)))
        .values_list("key", "name")
    )
    return MovedAccounts(
        diff=diff,
        pager=DiffPager(
            number=number, num_pages=max(math.ceil(count / DIFF_PAGE_SIZE), 1), count=count
        ),
        pair=pair if chosen is not None else "",
        names=names,
    )


def _deltas(row: TerritoryMetrics, live: Mapping[str, TerritoryMetrics]) -> dict[str, Decimal]:
    before = live.get(row.key)
    return {
        name: Decimal(getattr(row, name)) - Decimal(getattr(before, name) if before else 0)
        for name in PAGE_MEASURES
    }


def scenario_page(
    plan: TerritoryPlan,
    *,
    live: TerritoryPlan | None,
    measure: str = "accounts",
    parent_key: str = "",
    pair: str = "",
    page: Any = 1,
    with_moves: bool = True,
) -> ScenarioPage:
    """Everything the scenario page shows: figures by territory, the balance chart of one
    parent's children on ``measure``, balance against live, and the accounts that would move."""
    measure = measure if measure in PAGE_MEASURES else "accounts"
    metrics = territory_metrics(plan)
    live_metrics = territory_metrics(live) if live is not None and live != plan else {}
    parents = [(key, row.name) for key, row in metrics.items() if not row.is_leaf]
    choices = [*parents, (LEAVES, "Every leaf territory")]
    if parent_key not in dict(choices):
        parent_key = parents[0][0] if parents else LEAVES
    if parent_key == LEAVES:
        shown = [key for key, row in metrics.items() if row.is_leaf]
    else:
        shown = [key for key, row in metrics.items() if row.parent_key == parent_key]
    mine = plan_balance(metrics, measure)
    theirs = plan_balance(live_metrics, measure) if live_metrics else None
    balances = [
        BalanceCompared(
            key=key,
            name=name,
            depth=metrics[key].depth,
            plan=mine.by_parent.get(key),
            live=theirs.by_parent.get(key) if theirs else None,
        )
        for key, name in parents
    ]
    if mine.leaves is not None:
        balances.append(
            BalanceCompared(
                key=LEAVES, name="Every leaf territory", depth=0, plan=mine.leaves,
                live=theirs.leaves if theirs else None,
            )
        )  # fmt: skip
    moved = None
    if with_moves and live is not None and live != plan:
        moved = scenario_moves(plan, live, pair=pair, page=page)
    return ScenarioPage(
        plan=plan,
        live=live,
        rows=[
            ScenarioRow(row=row, deltas=_deltas(row.metrics, live_metrics) if live_metrics else {})
            for row in tree_rows(plan, metrics)
        ],
        live_metrics=live_metrics,
        measure=measure,
        parent_key=parent_key,
        parents=choices,
        chart=balance_chart(metrics, shown, measure),
        balances=balances,
        moved=moved,
        currency=corporate_currency(),
    )


# --- Auto-balance proposals ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProposedMove:
    move: Move
    label: str
    from_name: str
    to_name: str


@dataclass(frozen=True)
class ProposalView:
    proposal: Proposal
    measure: str
    measure_label: str
    parent: Territory
    unit: str
    moves: list[ProposedMove]
    loads: list[tuple[str, Decimal, Decimal]]  # (territory name, before, after)
    moves_json: str  # what the Accept form posts back


def proposal_view(
    plan: TerritoryPlan, proposal: Proposal, *, parent: Territory, measure: str, unit: str
) -> ProposalView:
    """A proposal in words: unit labels ("CA (US)", account names) and territory names."""
    names = dict(plan.territories.values_list("key", "name"))
    account_ids = [
        int(move.unit.split(":", 1)[1])
        for move in proposal.moves
        if move.unit.startswith("account:")
    ]
    accounts = dict(Account.objects.filter(pk__in=account_ids).values_list("pk", "name"))

    def label(unit_key: str) -> str:
        kind, _, rest = unit_key.partition(":")
        if kind == "account":
            return accounts.get(int(rest), unit_key)
        country, _, region = rest.split("@", 1)[0].partition("/")
        return f"{region or 'No region'} ({country or 'no country'})"

    moves = [
        ProposedMove(
            move=move,
            label=label(move.unit),
            from_name=names.get(move.from_territory, move.from_territory),
            to_name=names.get(move.to_territory, move.to_territory),
        )
        for move in proposal.moves
    ]
    loads = [
        (names.get(key, key), before, proposal.after.loads.get(key, before))
        for key, before in proposal.before.loads.items()
    ]
    moves_json = json.dumps(
        [[m.unit, m.from_territory, m.to_territory, str(m.load)] for m in proposal.moves]
    )
    return ProposalView(
        proposal=proposal,
        measure=measure,
        measure_label=MEASURES[measure],
        parent=parent,
        unit=unit,
        moves=moves,
        loads=loads,
        moves_json=moves_json,
    )


def balance_parents(plan: TerritoryPlan) -> QuerySet:
    """The territories of ``plan`` that have territories below them (what can be balanced)."""
    return plan.territories.filter(children__isnull=False).distinct().order_by("name")


# --- Compare ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparePage:
    comparison: ScenarioComparison
    measure: str
    chart: dict
    balances: list[tuple[str, str, int, Balance | None, Balance | None]]
    currency: str


def compare_page(a: TerritoryPlan, b: TerritoryPlan, *, measure: str) -> ComparePage:
    measure = measure if measure in PAGE_MEASURES else "accounts"
    comparison = scenario_compare(a, b)
    a_metrics = {row.key: row.a for row in comparison.rows if row.a is not None}
    b_metrics = {row.key: row.b for row in comparison.rows if row.b is not None}
    chart = compare_chart(a_metrics, b_metrics, measure, names=(a.name, b.name))
    in_a, in_b = comparison.balance_a[measure], comparison.balance_b[measure]
    balances = [
        (row.key, row.name, row.depth, in_a.by_parent.get(row.key), in_b.by_parent.get(row.key))
        for row in comparison.rows
        if row.key in in_a.by_parent or row.key in in_b.by_parent
    ]
    balances.append((LEAVES, "Every leaf territory", 0, in_a.leaves, in_b.leaves))
    return ComparePage(
        comparison=comparison,
        measure=measure,
        chart=chart,
        balances=balances,
        currency=corporate_currency(),
    )

"""The commission engine: credits and plan rules in, payout lines with traces out.

Set-based where rows are many: credits are written by SQL (``crediting``), and each component's
measure is summed per payee and measured period by one SQL statement over a temporary table of
"items" (assignment × component × measured period). Only the tier arithmetic runs in Python,
once per item, on exact Decimals (``payout_math``).

Rounding: each item's payout is rounded once, to the cent, half away from zero; the line pays
that rounded payout minus what settled (approved or paid) runs already paid for the same
assignment, component and measured period. So advances and true-ups, and corrections of locked
periods, always add up to exactly the rounded payout of the period as it stands now.

Locked periods: a settled run's lines never change. When a deal counted there changes (its
version moved on, it is no longer won, or a won deal appears in the past), the engine recomputes
the affected payees' settled periods and pays the difference in this run as an adjustment line
that lists the deals behind it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Max, Sum

from compensation import crediting, payout_math
from compensation.documents import Component, PlanDocument, validate
from compensation.models import (
    SETTLED,
    CommissionRun,
    LineKind,
    ManualAdjustment,
    PayoutLine,
    PlanAssignment,
)
from compensation.periods import Checkpoint, checkpoints
from crm.models import Pipeline
from salesops.errors import DomainError
from salesops.fiscal import FiscalCalendar, PeriodKind
from salesops.money import ROUNDING, round_money
from salesops.org.selectors import fiscal_calendar
from territories.quota_selectors import rep_quotas

Progress = Callable[[int, str], None]
ZERO = Decimal(0)
FAR_FUTURE = dt.date(9999, 12, 31)
ROUNDING_NOTE = "Rounded once to the cent, half away from zero (ROUND_HALF_UP)."

MEASURE_SQL = {
    "bookings": "c.amount",
    "acv": "c.acv",
    "gross_margin": "c.gross_margin",
    "units": "c.units",
    "new_logos": "1",
}
EARNING_KINDS = (LineKind.COMMISSION, LineKind.BONUS, LineKind.ADJUSTMENT, LineKind.MANUAL)


@dataclass(frozen=True)
class Assignee:
    """A plan assignment with what the engine needs of it."""

    id: int
    user_id: int
    plan_id: int
    start: dt.date
    end: dt.date
    hire_date: dt.date | None
    document: PlanDocument


@dataclass
class Item:
    """One component of one assignment over one measured period."""

    id: int
    assignee: Assignee
    component: Component
    checkpoint: Checkpoint
    current: bool
    lo: dt.date
    hi: dt.date
    proration: Decimal

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.assignee.id, self.component.key, self.checkpoint.measured.key)


@dataclass
class Settled:
    """What settled runs paid for one (assignment, component, measured period)."""

    paid: Decimal
    attainment: Decimal | None
    last_line_id: int
    measured_kind: str
    measured_start: dt.date


@dataclass
class Draft:
    """A payout line before it is saved, and the item whose credits it links."""

    line: PayoutLine
    item_id: int | None = None
    extra: dict = field(default_factory=dict)


def _load_assignees(lo: dt.date, hi: dt.date, currency: str) -> list[Assignee]:
    rows = (
        PlanAssignment.objects.filter(start_date__lte=hi)
        .exclude(end_date__lt=lo)
        .select_related("plan", "user__rep_profile")
        .order_by("user_id", "start_date", "id")
    )
    documents: dict[int, PlanDocument] = {}
    assignees = []
    for row in rows:
        if row.plan_id not in documents:
            document = validate(row.plan.document)
            if document.currency != currency:
                raise DomainError(
                    f"Plan '{row.plan}' pays in {document.currency}, but commission runs pay "
                    f"in {currency} (the corporate currency); change the plan's currency."
                )
            documents[row.plan_id] = document
        profile = getattr(row.user, "rep_profile", None)
        assignees.append(
            Assignee(
                id=row.pk,
                user_id=row.user_id,
                plan_id=row.plan_id,
                start=row.start_date,
                end=row.end_date or FAR_FUTURE,
                hire_date=profile.hire_date if profile else None,
                document=documents[row.plan_id],
            )
        )
    return assignees


def _item_window(
    assignee: Assignee, component: Component, checkpoint: Checkpoint
) -> tuple[dt.date, dt.date] | None:
    lo = max(checkpoint.measured.start, assignee.start, component.window_start or dt.date.min)
    hi = min(checkpoint.cutoff, assignee.end, component.window_end or FAR_FUTURE)
    return (lo, hi) if lo <= hi else None


def _settled_paid(fiscal_year: int) -> dict[tuple[int, str, str], Settled]:
    """What settled runs of this and last fiscal year paid, by (assignment, component, period)."""
    rows = (
        PayoutLine.objects.filter(
            run__status__in=SETTLED,
            run__fiscal_year__gte=fiscal_year - 1,
            kind__in=(LineKind.COMMISSION, LineKind.BONUS, LineKind.ADJUSTMENT),
            assignment__isnull=False,
        )
        .values("assignment_id", "component_key", "measured_key")
        .annotate(paid=Sum("amount"), last=Max("id"))
    )
    last_ids = [row["last"] for row in rows]
    last = {
        line.pk: line
        for line in PayoutLine.objects.filter(pk__in=last_ids).only(
            "attainment_after", "measured_start", "measured_end"
        )
    }
    settled = {}
    for row in rows:
        line = last[row["last"]]
        kind = _kind_of(line.measured_start, line.measured_end)
        settled[(row["assignment_id"], row["component_key"], row["measured_key"])] = Settled(
            row["paid"], line.attainment_after, line.pk, kind, line.measured_start
        )
    return settled


def _kind_of(start: dt.date, end: dt.date) -> str:
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    return {1: "month", 3: "quarter", 12: "year"}[months]


def _build_items(
    run: CommissionRun,
    calendar: FiscalCalendar,
    assignees: list[Assignee],
    settled: dict[tuple[int, str, str], Settled],
    affected_users: set[int] | None,
) -> list[Item]:
    items: list[Item] = []
    current_keys: set[tuple[int, str, str]] = set()

    def add(assignee, component, checkpoint, current) -> None:
        window = _item_window(assignee, component, checkpoint)
        if window is None:
            return
        share = payout_math.proration(
            assignee.start, assignee.end, checkpoint.measured.start, checkpoint.measured.end
        )
        item = Item(len(items) + 1, assignee, component, checkpoint, current, *window, share)
        items.append(item)
        if current:
            current_keys.add(item.key)

    for assignee in assignees:
        if assignee.end < run.period_start or assignee.start > run.period_end:
            continue
        for component in assignee.document.components:
            for checkpoint in checkpoints(calendar, component, run.period_start, run.period_end):
                add(assignee, component, checkpoint, True)
    by_id = {a.id: a for a in assignees}
    for key, paid in settled.items():
        assignment_id, component_key, measured_key = key
        assignee = by_id.get(assignment_id)
        if assignee is None or key in current_keys:
            continue
        if affected_users is not None and assignee.user_id not in affected_users:
            continue
        measured = calendar.period(paid.measured_start, PeriodKind(paid.measured_kind))
        if measured.end >= run.period_start:
            continue  # not over yet: its next checkpoint pays any difference
        component = next((c for c in assignee.document.components if c.key == component_key), None)
        if component is not None:
            add(assignee, component, Checkpoint(measured, measured.end, True), False)
    return items


# --- Which settled periods need another look ------------------------------------------------


def _changed_deals(lo: dt.date, hi: dt.date) -> set[int]:
    """Deals credited by settled runs in ``[lo, hi]`` that changed since, or won deals there
    that no settled run credited (won later, or back-dated)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TEMP TABLE comp_seen ON COMMIT DROP AS
            SELECT DISTINCT ON (c.deal_id) c.deal_id, c.deal_version
            FROM compensation_credit c
            JOIN compensation_commissionrun r ON r.id = c.run_id
            WHERE r.status IN ('approved', 'paid')
              AND (c.close_date BETWEEN %(lo)s AND %(hi)s OR c.invoice_date BETWEEN %(lo)s AND %(hi)s)
            ORDER BY c.deal_id, r.period_end DESC, c.id DESC
            """,
            {"lo": lo, "hi": hi},
        )
        cursor.execute(
            """
            SELECT s.deal_id FROM comp_seen s
            LEFT JOIN crm_deal d ON d.id = s.deal_id
            WHERE d.id IS NULL OR d.version <> s.deal_version
            UNION
            SELECT d.id FROM crm_deal d
            JOIN crm_stage st ON st.id = d.stage_id AND st.is_won
            WHERE d.amount IS NOT NULL
              AND (d.close_date BETWEEN %(lo)s AND %(hi)s OR d.invoice_date BETWEEN %(lo)s AND %(hi)s)
              AND NOT EXISTS (SELECT 1 FROM comp_seen s WHERE s.deal_id = d.id)
            """,
            {"lo": lo, "hi": hi},
        )
        changed = {row[0] for row in cursor.fetchall()}
        cursor.execute("DROP TABLE comp_seen")
    return changed


def _credited_users(run_id: int | None, deal_ids: Iterable[int], settled_only: bool) -> set[int]:
    deal_ids = list(deal_ids)
    if not deal_ids:
        return set()
    with connection.cursor() as cursor:
        if settled_only:
            cursor.execute(
                """
                SELECT DISTINCT c.user_id FROM compensation_credit c
                JOIN compensation_commissionrun r ON r.id = c.run_id
                WHERE r.status IN ('approved', 'paid') AND c.deal_id = ANY(%s)
                """,
                [deal_ids],
            )
        else:
            cursor.execute(
                "SELECT DISTINCT user_id FROM compensation_credit "
                "WHERE run_id = %s AND deal_id = ANY(%s)",
                [run_id, deal_ids],
            )
        return {row[0] for row in cursor.fetchall()}


def _prior_deals_of(users: set[int], lo: dt.date, hi: dt.date, run_id: int) -> list[int]:
    """Deals settled runs credited to ``users`` in ``[lo, hi]`` and not yet in this run."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.deal_id FROM compensation_credit c
            JOIN compensation_commissionrun r ON r.id = c.run_id
            WHERE r.status IN ('approved', 'paid') AND c.user_id = ANY(%(users)s)
              AND (c.close_date BETWEEN %(lo)s AND %(hi)s OR c.invoice_date BETWEEN %(lo)s AND %(hi)s)
            EXCEPT  -- a set difference, hashed: no plan that probes the run's credits per row
            SELECT n.deal_id FROM compensation_credit n WHERE n.run_id = %(run)s
            """,
            {"users": list(users), "lo": lo, "hi": hi, "run": run_id},
        )
        return [row[0] for row in cursor.fetchall()]


def _deals_in_run(run_id: int, deal_ids: set[int]) -> set[int]:
    if not deal_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT deal_id FROM compensation_credit WHERE run_id = %s AND deal_id = ANY(%s)",
            [run_id, list(deal_ids)],
        )
        return {row[0] for row in cursor.fetchall()}


# --- Summing measures --------------------------------------------------------------------------


def _copy(cursor, table: str, columns: str, rows: Iterable[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _sum_measures(run_id: int, items: list[Item]) -> dict[int, tuple[Decimal, int, Decimal]]:
    """(measure, credits counted, sum of credit shares) per item id; links go to ``comp_links``."""
    pipelines = dict(Pipeline.objects.values_list("name", "id"))
    groups: dict[tuple[int, str], list[Item]] = defaultdict(list)
    for item in items:
        groups[(item.assignee.plan_id, item.component.key)].append(item)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE comp_items (item_id int, user_id bigint, lo date, hi date, "
            "grp int) ON COMMIT DROP"
        )
        cursor.execute(
            "CREATE TEMP TABLE comp_links (item_id int, credit_id bigint, measure numeric, "
            "share numeric) ON COMMIT DROP"
        )
        group_ids = {key: number for number, key in enumerate(groups)}
        _copy(
            cursor,
            "comp_items",
            "item_id, user_id, lo, hi, grp",
            (
                (i.id, i.assignee.user_id, i.lo, i.hi, group_ids[key])
                for key, members in groups.items()
                for i in members
            ),
        )
        cursor.execute("ANALYZE comp_items")
        for key, members in groups.items():
            component = members[0].component
            date_column = members[0].assignee.document.credit_date
            conditions = ["c.credit_type = ANY(%(types)s)"]
            params: dict = {"run": run_id, "grp": group_ids[key], "types": component.credit_types}
            filters = component.filters
            if filters.pipelines:
                conditions.append("c.pipeline_id = ANY(%(pipelines)s)")
                params["pipelines"] = [pipelines.get(name, -1) for name in filters.pipelines]
            if filters.deal_types:
                conditions.append("c.deal_type = ANY(%(deal_types)s)")
                params["deal_types"] = filters.deal_types
            if filters.product_families:
                conditions.append("c.product_family = ANY(%(families)s)")
                params["families"] = filters.product_families
            if filters.segments:
                conditions.append("c.segment = ANY(%(segments)s)")
                params["segments"] = filters.segments
            if component.measure == "new_logos":
                conditions.append("c.new_logo")
            cursor.execute(
                f"""
                INSERT INTO comp_links (item_id, credit_id, measure, share)
                SELECT i.item_id, c.id, {MEASURE_SQL[component.measure]}, c.percent / 100
                FROM comp_items i
                JOIN compensation_credit c
                  ON c.run_id = %(run)s AND c.user_id = i.user_id
                 AND c.{date_column} BETWEEN i.lo AND i.hi
                WHERE i.grp = %(grp)s AND {" AND ".join(conditions)}
                """,
                params,
            )
        cursor.execute(
            "SELECT item_id, sum(measure), count(*), sum(share) FROM comp_links GROUP BY item_id"
        )
        return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}


def _quotas(items: list[Item]) -> dict[tuple[dt.date, dt.date], dict[int, Decimal]]:
    windows = {
        (i.checkpoint.measured.start, i.checkpoint.measured.end)
        for i in items
        if i.component.quota is not None and i.component.quota.source == "quota_plan"
    }
    return {window: rep_quotas(*window) for window in windows}


# --- From sums to lines ------------------------------------------------------------------------


def _quota_for(item: Item, quotas, currency: str) -> tuple[Decimal | None, str | None]:
    spec = item.component.quota
    if spec is None:
        return None, None
    measured = item.checkpoint.measured
    if spec.source == "fixed":
        quota = round_money(spec.amount * item.proration, currency)
        if item.proration != 1:
            return quota, (
                f"Quota {payout_math.fmt_number(spec.amount)} × proration "
                f"{payout_math.fmt_number(item.proration, 4)} = {payout_math.fmt_number(quota)}"
            )
        return quota, None
    found = quotas[(measured.start, measured.end)].get(item.assignee.user_id)
    if found is None:
        return None, None
    return round_money(found, currency), f"Quota from the published quota plan for {measured.label}"


def _item_line(
    item: Item,
    sums: tuple[Decimal, int, Decimal],
    settled: Settled | None,
    quotas,
    run: CommissionRun,
) -> Draft | None:
    component = item.component
    currency = run.currency
    measure, count, shares = sums
    steps: list[str] = []
    quota, quota_note = _quota_for(item, quotas, currency)
    if quota_note:
        steps.append(quota_note)
    cap = None
    if component.cap_amount is not None:
        cap = round_money(component.cap_amount * item.proration, currency)
    if component.kind == "bonus":
        if component.per_deal is not None:
            payout = payout_math.bonus_per_deal(component, shares=shares, deals=count)
        else:
            payout = payout_math.bonus_on_target(component, measure=measure, quota=quota)
        exact = payout.exact
    else:
        payout = payout_math.commission(component, measure=measure, quota=quota, cap_amount=cap)
        exact = payout.exact
    steps.extend(payout.steps)
    if component.advances:
        exact, note = payout_math.advance(
            payout, percent=component.advance_percent, final=item.checkpoint.final
        )
        steps.append(note)
    target = round_money(exact, currency)
    paid = settled.paid if settled else ZERO
    amount = target - paid
    if not item.current and amount == 0:
        return None
    measured = item.checkpoint.measured
    kind = LineKind(component.kind) if item.current else LineKind.ADJUSTMENT
    trace = {
        "measured": item.checkpoint.label,
        "credited_from": item.lo.isoformat(),
        "credited_to": item.hi.isoformat(),
        "credit_date": item.assignee.document.credit_date,
        "proration": str(item.proration),
        "measure_name": component.measure,
        "measure": str(measure),
        "credits": count,
        "quota": None if quota is None else str(quota),
        "steps": steps,
        "exact": str(exact),
        "rounded": str(target),
        "rounding": ROUNDING_NOTE,
        "already_paid": str(paid),
        "formula": (
            f"{payout_math.fmt_number(target)} payout for {item.checkpoint.label}"
            + (f" − {payout_math.fmt_number(paid)} already paid" if paid else "")
            + f" = {payout_math.fmt_number(amount)}"
        ),
    }
    if payout.slices:
        trace["slices"] = [
            {
                "tier": s.tier,
                "from": str(s.floor),
                "to": None if s.ceiling is None else str(s.ceiling),
                "measure": str(s.measure),
                "rate": str(s.rate),
                "pay": str(s.pay),
            }
            for s in payout.slices
        ]
    before = settled.attainment if settled else (ZERO if quota else None)
    line = PayoutLine(
        run=run,
        user_id=item.assignee.user_id,
        assignment_id=item.assignee.id,
        plan_id=item.assignee.plan_id,
        kind=kind,
        component_key=component.key,
        component_name=component.name,
        measured_key=measured.key,
        measured_label=measured.label,
        measured_start=measured.start,
        measured_end=measured.end,
        measure=measure.quantize(Decimal("0.0001"), rounding=ROUNDING),
        quota=quota,
        attainment_before=_percent(before),
        attainment_after=_percent(payout.attainment),
        tier=payout.tier[:60],
        rate=payout.rate,
        exact_amount=exact.quantize(Decimal("1E-10"), rounding=ROUNDING),
        amount=amount,
        currency=currency,
        trace=trace,
    )
    return Draft(line, item.id)


def _percent(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.0001"), rounding=ROUNDING)


def _causes(drafts: list[Draft], settled: dict, items_by_id: dict[int, Item]) -> None:
    """Name the deals behind each adjustment: what each counted when paid and what it counts now."""
    adjustments = [d for d in drafts if d.line.kind == LineKind.ADJUSTMENT]
    if not adjustments:
        return
    last_lines = {d.item_id: settled[items_by_id[d.item_id].key].last_line_id for d in adjustments}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT lc.line_id, c.deal_id, sum(lc.measure) FROM compensation_linecredit lc
            JOIN compensation_credit c ON c.id = lc.credit_id
            WHERE lc.line_id = ANY(%s) GROUP BY lc.line_id, c.deal_id
            """,
            [list(last_lines.values())],
        )
        before: dict[int, dict[int, Decimal]] = defaultdict(dict)
        for line_id, deal_id, measure in cursor.fetchall():
            before[line_id][deal_id] = measure
        cursor.execute(
            """
            SELECT l.item_id, c.deal_id, sum(l.measure) FROM comp_links l
            JOIN compensation_credit c ON c.id = l.credit_id
            WHERE l.item_id = ANY(%s) GROUP BY l.item_id, c.deal_id
            """,
            [list(last_lines)],
        )
        now: dict[int, dict[int, Decimal]] = defaultdict(dict)
        for item_id, deal_id, measure in cursor.fetchall():
            now[item_id][deal_id] = measure
        changed_deals: set[int] = set()
        per_item: dict[int, list[tuple[int, Decimal, Decimal]]] = {}
        for item_id, line_id in last_lines.items():
            was_map, now_map = before.get(line_id, {}), now.get(item_id, {})
            rows = [
                (deal, was_map.get(deal, ZERO), now_map.get(deal, ZERO))
                for deal in sorted(set(was_map) | set(now_map))
                if was_map.get(deal, ZERO) != now_map.get(deal, ZERO)
            ]
            per_item[item_id] = rows
            changed_deals |= {row[0] for row in rows}
        cursor.execute(
            """
            SELECT d.id, d.name, st.name, st.is_won FROM crm_deal d
            JOIN crm_stage st ON st.id = d.stage_id WHERE d.id = ANY(%s)
            """,
            [list(changed_deals)],
        )
        deals = {row[0]: row[1:] for row in cursor.fetchall()}
    for draft in adjustments:
        causes = []
        for deal_id, was, now_value in per_item[draft.item_id]:
            name, stage, won = deals.get(deal_id, ("(deleted deal)", "", False))
            if deal_id not in deals:
                why = "the deal was deleted"
            elif not won:
                why = f"the deal is now in {stage}"
            elif was == 0:
                why = "newly credited"
            else:
                why = "its credited amount changed"
            causes.append(
                {"deal": deal_id, "name": name, "was": str(was), "now": str(now_value), "why": why}
            )
        draft.line.trace["cause"] = causes
        draft.line.trace["steps"].insert(
            0, f"Correction of {draft.line.measured_label}, which an earlier run already paid."
        )


def _manual_lines(run: CommissionRun, current_assignment: dict[int, Assignee]) -> list[Draft]:
    drafts = []
    for adjustment in ManualAdjustment.objects.filter(run=run).select_related("created_by"):
        assignee = current_assignment.get(adjustment.user_id)
        drafts.append(
            Draft(
                PayoutLine(
                    run=run,
                    user_id=adjustment.user_id,
                    assignment_id=assignee.id if assignee else None,
                    plan_id=assignee.plan_id if assignee else None,
                    kind=LineKind.MANUAL,
                    component_name="Manual adjustment",
                    exact_amount=adjustment.amount,
                    amount=adjustment.amount,
                    currency=run.currency,
                    trace={
                        "steps": [f"Manual adjustment: {adjustment.reason}"],
                        "reason": adjustment.reason,
                        "by": str(adjustment.created_by),
                        "adjustment": adjustment.pk,
                        "dispute": adjustment.dispute_id,
                        "formula": f"{payout_math.fmt_number(adjustment.amount)} as entered",
                        "rounding": "Entered in cents; no rounding.",
                    },
                )
            )
        )
    return drafts


def _draw_balances(user_ids: set[int]) -> dict[int, Decimal]:
    balances: dict[int, Decimal] = defaultdict(lambda: ZERO)
    rows = PayoutLine.objects.filter(
        user_id__in=user_ids, run__status__in=SETTLED, kind__in=(LineKind.DRAW, LineKind.RECOVERY)
    ).values_list("user_id", "kind", "amount", "trace__recoverable")
    for user_id, kind, amount, recoverable in rows:
        if kind == LineKind.RECOVERY or recoverable:
            balances[user_id] += amount
    return balances


def _draw_due(assignee: Assignee, run: CommissionRun, calendar: FiscalCalendar) -> Decimal:
    draw = assignee.document.draw
    if draw is None or assignee.hire_date is None:
        return ZERO
    first_month = assignee.hire_date.replace(day=1)
    due = ZERO
    day = run.period_start
    while day <= run.period_end:
        month = calendar.period(day, PeriodKind.MONTH)
        months_since_hire = (month.start.year - first_month.year) * 12 + (
            month.start.month - first_month.month
        )
        if 0 <= months_since_hire < draw.months:
            due += draw.monthly_amount * payout_math.proration(
                max(assignee.start, assignee.hire_date), assignee.end, month.start, month.end
            )
        day = month.end + dt.timedelta(days=1)
    return round_money(due, run.currency)


def _draw_lines(
    run: CommissionRun,
    drafts: list[Draft],
    current_assignment: dict[int, Assignee],
    calendar: FiscalCalendar,
) -> list[Draft]:
    earnings: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for draft in drafts:
        earnings[draft.line.user_id] += draft.line.amount
    balances = _draw_balances(set(current_assignment))
    lines = []
    for user_id, assignee in sorted(current_assignment.items()):
        draw = assignee.document.draw
        balance = balances.get(user_id, ZERO)
        due = _draw_due(assignee, run, calendar)
        if due == 0 and balance <= 0:
            continue
        recoverable = draw is not None and draw.kind == "recoverable"
        settlement = payout_math.settle_draw(
            earnings=earnings[user_id],
            draw_due=due,
            balance=balance,
            # a balance left by an earlier recoverable draw is still recovered
            recoverable=recoverable or (due == 0 and balance > 0),
        )
        for kind, amount in (
            (LineKind.DRAW, settlement.top_up),
            (LineKind.RECOVERY, settlement.recovery),
        ):
            if amount == 0:
                continue
            lines.append(
                Draft(
                    PayoutLine(
                        run=run,
                        user_id=user_id,
                        assignment_id=assignee.id,
                        plan_id=assignee.plan_id,
                        kind=kind,
                        component_name="Draw" if kind == LineKind.DRAW else "Draw recovery",
                        exact_amount=amount,
                        amount=amount,
                        currency=run.currency,
                        trace={
                            "steps": list(settlement.steps),
                            "recoverable": recoverable,
                            "draw_due": str(due),
                            "earnings": str(earnings[user_id]),
                            "balance_before": str(balance),
                            "balance_after": str(settlement.balance_after),
                            "formula": f"{payout_math.fmt_number(amount)}",
                            "rounding": "Draw amounts are rounded to the cent before settling.",
                        },
                    )
                )
            )
    return lines


# --- The whole calculation ---------------------------------------------------------------------


@dataclass
class Calculation:
    drafts: list[Draft]
    credits_written: int
    missing_rate_deals: list[int]
    prior_periods_checked: int


def calculate(run: CommissionRun, progress: Progress | None = None) -> Calculation:
    """Credits and lines of ``run``, inside the caller's transaction; temp tables hold links.

    The caller saves the drafts and then calls ``link_credits`` before the transaction ends.
    """
    report = progress or (lambda _percent, _step: None)
    calendar = fiscal_calendar()
    year_start = calendar.year_start(run.fiscal_year - 1)
    assignees = _load_assignees(year_start, run.period_end, run.currency)
    settled = _settled_paid(run.fiscal_year)
    report(10, "Crediting closed deals")
    current_start = min(
        [
            calendar.period(run.period_start, PeriodKind(c.period)).start
            if not c.advances
            else calendar.period(run.period_start, PeriodKind.YEAR).start
            for a in assignees
            for c in a.document.components
        ]
        or [run.period_start]
    )
    current_start = min(current_start, run.period_start)
    written = crediting.write_credits(run_id=run.pk, start=current_start, end=run.period_end)
    missing = list(written.missing_rate_deals)
    rows = written.rows
    with connection.cursor() as cursor:
        # The run's credits were just written in this transaction, which autovacuum cannot see:
        # the statements below would be planned as if the run had none (a nested loop over
        # hundreds of thousands of credits never finished on the large organisation).
        cursor.execute("ANALYZE compensation_credit")
    affected: set[int] = set()
    prior_lo = min((s.measured_start for s in settled.values()), default=None)
    if prior_lo is not None and prior_lo < run.period_start:
        report(25, "Looking for changes to locked periods")
        prior_hi = run.period_start - dt.timedelta(days=1)
        changed = _changed_deals(prior_lo, prior_hi)
        affected = _credited_users(None, changed, settled_only=True)
        new_deals = changed - _deals_in_run(run.pk, changed)
        if new_deals:
            extra = crediting.write_credits(
                run_id=run.pk, start=prior_lo, end=prior_hi, deal_ids=sorted(new_deals)
            )
            rows += extra.rows
            missing += extra.missing_rate_deals
        affected |= _credited_users(run.pk, changed, settled_only=False)
        if affected:
            others = _prior_deals_of(affected, prior_lo, prior_hi, run.pk)
            if others:
                extra = crediting.write_credits(
                    run_id=run.pk, start=prior_lo, end=prior_hi, deal_ids=others
                )
                rows += extra.rows
                missing += extra.missing_rate_deals
    report(45, "Summing credits by plan component")
    items = _build_items(run, calendar, assignees, settled, affected)
    sums = _sum_measures(run.pk, items)
    quotas = _quotas(items)
    report(65, "Applying rates and tiers")
    drafts: list[Draft] = []
    empty = (ZERO, 0, ZERO)
    for item in items:
        draft = _item_line(item, sums.get(item.id, empty), settled.get(item.key), quotas, run)
        if draft is not None:
            drafts.append(draft)
    _causes(drafts, settled, {i.id: i for i in items})
    current_assignment = {}
    for assignee in assignees:
        if assignee.start <= run.period_end and assignee.end >= run.period_start:
            current_assignment[assignee.user_id] = assignee  # the latest one wins
    drafts += _manual_lines(run, current_assignment)
    drafts += _draw_lines(run, drafts, current_assignment, calendar)
    prior_checked = sum(1 for i in items if not i.current)
    return Calculation(drafts, rows, sorted(set(missing)), prior_checked)


def link_credits(drafts: list[Draft]) -> int:
    """Save which credits each saved line counted (after the lines have ids)."""
    pairs = [(d.item_id, d.line.pk) for d in drafts if d.item_id is not None]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE comp_line_ids (item_id int, line_id bigint) ON COMMIT DROP"
        )
        _copy(cursor, "comp_line_ids", "item_id, line_id", pairs)
        cursor.execute("ANALYZE comp_line_ids, comp_links")
        cursor.execute(
            """
            INSERT INTO compensation_linecredit (line_id, credit_id, measure)
            SELECT m.line_id, l.credit_id, l.measure
            FROM comp_links l JOIN comp_line_ids m ON m.item_id = l.item_id
            """
        )
        linked = cursor.rowcount
        cursor.execute("DROP TABLE comp_line_ids")
        cursor.execute("DROP TABLE comp_links")
        cursor.execute("DROP TABLE comp_items")
    return linked


# --- Simulations: payouts computed without saving (estimates, what-if) --------------------------
#
# The tools that ask "what would this pay" (compensation.estimator, compensation.whatif) use the
# same crediting SQL, measure sums, quotas and tier arithmetic as a run, on a throwaway run that
# is rolled back: their figures follow the run's rules exactly and nothing they write survives.


@contextmanager
def sandbox_run(*, start: dt.date, end: dt.date, currency: str) -> Iterator[CommissionRun]:
    """A throwaway draft run over ``start``..``end``, rolled back when the block ends.

    Inside the block, credit it with ``crediting.write_credits`` (or add Credit rows) and call
    ``simulate``; every row written (the run, its credits, temporary tables) is rolled back on
    leaving, error or not. Its period key is random, so it never collides with a real run.
    """
    with transaction.atomic():
        try:
            yield CommissionRun.objects.create(
                period_kind="sandbox",
                period_key=f"sbx-{secrets.token_hex(4)}",
                label="What-if (not saved)",
                period_start=start,
                period_end=end,
                fiscal_year=end.year,
                currency=currency,
            )
        finally:
            transaction.set_rollback(True)


@dataclass(frozen=True)
class Simulated:
    """One item's payout as a run would compute it, before subtracting what was paid.

    ``marked_measure`` and ``marked_credits`` are what the credits passed to ``simulate`` as
    ``marked`` gave this item (the hypothetical deal of an estimate), so a caller can tell the
    measure with and without them.
    """

    item: Item
    measure: Decimal
    credits: int
    shares: Decimal
    quota: Decimal | None
    cap: Decimal | None
    payout: payout_math.Payout
    exact: Decimal
    amount: Decimal
    marked_measure: Decimal = ZERO
    marked_credits: int = 0


def simulate(
    *,
    run: CommissionRun,
    assignees: Sequence[Assignee],
    checkpoints_for: Callable[[Component], list[Checkpoint]],
    marked: Sequence[int] = (),
) -> list[Simulated]:
    """Payouts of ``assignees`` (any plan document, saved or not) on the credits of ``run``.

    Call inside ``sandbox_run``. ``checkpoints_for`` says which measured periods of each
    component to pay (a run pays those ending in its period; an estimate the one containing
    today). Items are built, summed and priced as ``calculate`` does (windows, proration,
    quotas, caps, tiers, bonuses, advances), and each payout is rounded once; settled payments
    are not subtracted. Assignees of different documents need distinct ``plan_id`` values.
    """
    items: list[Item] = []
    for assignee in assignees:
        for component in assignee.document.components:
            for checkpoint in checkpoints_for(component):
                window = _item_window(assignee, component, checkpoint)
                if window is None:
                    continue
                share = payout_math.proration(
                    assignee.start, assignee.end, checkpoint.measured.start, checkpoint.measured.end
                )
                items.append(
                    Item(len(items) + 1, assignee, component, checkpoint, True, *window, share)
                )
    if not items:
        return []
    sums = _sum_measures(run.pk, items)
    marks: dict[int, tuple[Decimal, int]] = {}
    with connection.cursor() as cursor:
        if marked:
            cursor.execute(
                "SELECT item_id, sum(measure), count(*) FROM comp_links "
                "WHERE credit_id = ANY(%s) GROUP BY item_id",
                [list(marked)],
            )
            marks = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
        cursor.execute("DROP TABLE comp_links")
        cursor.execute("DROP TABLE comp_items")
    quotas = _quotas(items)
    results = []
    for item in items:
        measure, count, shares = sums.get(item.id, (ZERO, 0, ZERO))
        quota, _note = _quota_for(item, quotas, run.currency)
        cap = None
        if item.component.cap_amount is not None:
            cap = round_money(item.component.cap_amount * item.proration, run.currency)
        payout = component_payout(
            item.component, measure=measure, credits=count, shares=shares, quota=quota, cap=cap
        )
        exact = payout.exact
        if item.component.advances:
            exact, _note = payout_math.advance(
                payout, percent=item.component.advance_percent, final=item.checkpoint.final
            )
        marked_measure, marked_credits = marks.get(item.id, (ZERO, 0))
        results.append(
            Simulated(
                item=item,
                measure=measure,
                credits=count,
                shares=shares,
                quota=quota,
                cap=cap,
                payout=payout,
                exact=exact,
                amount=round_money(exact, run.currency),
                marked_measure=marked_measure,
                marked_credits=marked_credits,
            )
        )
    return results


def component_payout(
    component: Component,
    *,
    measure: Decimal,
    credits: int,
    shares: Decimal,
    quota: Decimal | None,
    cap: Decimal | None,
) -> payout_math.Payout:
    """The exact payout of one component for a measure, as a run prices it (commission or
    bonus); ``quota`` and ``cap`` already prorated."""
    if component.kind == "bonus":
        if component.per_deal is not None:
            return payout_math.bonus_per_deal(component, shares=shares, deals=credits)
        return payout_math.bonus_on_target(component, measure=measure, quota=quota)
    return payout_math.commission(component, measure=measure, quota=quota, cap_amount=cap)

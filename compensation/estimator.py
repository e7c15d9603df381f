"""Commission estimates: what an open deal would pay a seller if it closed today at its amount.

For the seller's current plan assignment, every component whose measured period contains today
is priced twice on the seller's credits of that period: as things stand, and with the deal's
credited share added. The difference is the estimate. Estimates are never payouts: a run pays
what the deal really closes at, when it really closes, with the credits of that day.

How the figures are made (the same rules as a commission run, nothing saved):

- The seller's credits so far come from ``crediting.write_credits`` itself, into a throwaway run
  that is rolled back (``engine.sandbox_run``), so splits, overlays, roll-ups, territory
  credits, exchange rates and the plan's credit date are exactly the run's. Only the won deals
  that can credit the seller are credited (owned or split by them, or their team's for roll-up
  components, or in their overlay territories), which keeps an estimate fast in a large org.
- The deal's own credit mirrors the crediting rules for a seller on the deal: the owner 100 %
  when there are no revenue splits; a revenue split its share of the amount (largest remainder,
  ``salesops.money.allocate``, parts in user-id order so ties go to the lowest id, as in the
  crediting SQL); an overlay its percentage rounded half up. Money is converted at the rate in
  force today, and the deal is taken to close (and be invoiced) today.
- ``engine.simulate`` then sums each component's measure with the component's filters and credit
  types (so a component that would not count the deal shows as such), takes the quota and cap
  as a run does (fixed amount × proration, or the published quota), and prices the tiers.
  Each payout is rounded once, like a run's line; the estimate is the rounded difference.

Who sees an estimate: the seller themself, the managers of their team subtree, sales ops and
admins (finance sees payouts, not guesses).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from babel.numbers import get_currency_precision
from django.db import connection
from django.utils import timezone

from compensation import crediting, engine, payout_math
from compensation.documents import Component
from compensation.models import CompPlan, Credit, CreditType
from compensation.periods import Checkpoint
from compensation.plan_selectors import current_assignment, plan_document
from crm.models import Deal, DealSplit, DealType, SplitKind
from salesops.errors import DomainError, NotFound
from salesops.fiscal import PeriodKind
from salesops.money import MONEY_DECIMAL_PLACES, ROUNDING, allocate, round_money
from salesops.org.models import User
from salesops.org.roles import Role
from salesops.org.selectors import (
    exchange_rate_on,
    fiscal_calendar,
    managed_user_ids,
    org_settings,
)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# Roles that see every seller's estimates (besides the seller and their managers).
ESTIMATE_ROLES = frozenset({Role.OPS, Role.ADMIN})
NOT_A_PAYOUT = (
    "An estimate, not a payout: commissions are paid by the run on what the deal really closes "
    "at, when it closes, with the credits and quota of that day."
)


@dataclass(frozen=True)
class DealCredit:
    """The share of the deal one seller would be credited with, in the corporate currency."""

    credit_type: str
    percent: Decimal
    amount: Decimal
    acv: Decimal
    gross_margin: Decimal
    units: Decimal


@dataclass(frozen=True)
class ComponentEstimate:
    """One plan component priced without and with the deal."""

    key: str
    name: str
    kind: str
    measure_name: str
    measured_label: str
    quota: Decimal | None
    measure_before: Decimal
    measure_after: Decimal
    attainment_before: Decimal | None
    attainment_after: Decimal | None
    tier_before: str
    tier_after: str
    payout_before: Decimal
    payout_after: Decimal

    @property
    def difference(self) -> Decimal:
        return self.payout_after - self.payout_before

    @property
    def reaches(self) -> str:
        """The tier the deal would lift the seller into ("" if it stays in the same one)."""
        return self.tier_after if self.tier_after != self.tier_before else ""


@dataclass(frozen=True)
class Estimate:
    """What the deal would add to one seller's pay if it closed on ``on`` at its amount."""

    deal: Deal
    person: User
    on: dt.date
    currency: str
    plan: CompPlan | None = None
    credits: list[DealCredit] = field(default_factory=list)
    components: list[ComponentEstimate] = field(default_factory=list)
    not_counted: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def total(self) -> Decimal:
        return sum((c.difference for c in self.components), ZERO)

    @property
    def credited_amount(self) -> Decimal:
        return sum((c.amount for c in self.credits), ZERO)

    @property
    def period_label(self) -> str:
        labels = sorted({c.measured_label for c in self.components})
        return " / ".join(labels)

    @property
    def headline(self) -> str:
        """ "If this closes in FY2027 Q1 at USD 50,000.00: +USD 4,880.00 commission"."""
        if self.problem:
            return self.problem
        amount = payout_math.fmt_number(self.credited_amount)
        sign = "+" if self.total >= 0 else "−"
        return (
            f"If this closes in {self.period_label} at {self.currency} {amount}: "
            f"{sign}{self.currency} {payout_math.fmt_number(abs(self.total))} commission"
        )

    @property
    def note(self) -> str:
        return NOT_A_PAYOUT


# --- Who sees what ------------------------------------------------------------------------------


def can_see_estimate(viewer: User, person: User) -> bool:
    """Whether ``viewer`` may see estimates of ``person``: themself, a manager of their team
    subtree, sales ops or an admin, holding the right to read payout lines."""
    if viewer is None or not viewer.is_authenticated or not viewer.is_active:
        return False
    if not viewer.has_perm("compensation.view_payoutline"):
        return False
    if viewer.pk == person.pk or viewer.role in ESTIMATE_ROLES:
        return True
    return viewer.role == Role.MANAGER and person.pk in managed_user_ids(viewer)


def credited_people(deal: Deal) -> list[User]:
    """Sellers credited on the deal: the owner (without revenue splits) or the revenue split
    people, then overlays; each once, in that order."""
    splits = list(DealSplit.objects.filter(deal=deal).select_related("user").order_by("id"))
    revenue = [s.user for s in splits if s.kind == SplitKind.REVENUE]
    people = revenue or [deal.owner]
    people += [s.user for s in splits if s.kind == SplitKind.OVERLAY]
    unique: dict[int, User] = {}
    for person in people:
        unique.setdefault(person.pk, person)
    return list(unique.values())


def estimate_deal_for(viewer: User, deal_id: int) -> Deal:
    """The deal if ``viewer`` may see it, or is credited on it; NotFound otherwise."""
    deal = (
        Deal.objects.select_related("owner", "stage", "account", "pipeline")
        .filter(pk=deal_id)
        .first()
    )
    if deal is not None and (
        Deal.objects.visible_to(viewer).filter(pk=deal_id).exists()
        or DealSplit.objects.filter(deal_id=deal_id, user_id=viewer.pk).exists()
    ):
        return deal
    raise NotFound("This deal does not exist or is not yours to see.")


def deal_estimates(*, deal: Deal, viewer: User, on: dt.date | None = None) -> list[Estimate]:
    """Estimates of the deal for each seller on it whom ``viewer`` may see (themself first)."""
    people = [p for p in credited_people(deal) if can_see_estimate(viewer, p)]
    people.sort(key=lambda p: p.pk != viewer.pk)
    return [deal_estimate(deal=deal, person=person, on=on) for person in people]


# --- The estimate -------------------------------------------------------------------------------


def deal_estimate(*, deal: Deal, person: User, on: dt.date | None = None) -> Estimate:
    """What ``deal`` would add to ``person``'s pay if it closed on ``on`` (default today) at its
    amount; an Estimate whose ``problem`` says why there is none when it cannot be made."""
    on = on or timezone.localdate()
    currency = org_settings().corporate_currency
    base = {"deal": deal, "person": person, "on": on, "currency": currency}
    if deal.stage.is_closed:
        return Estimate(**base, problem="This deal is closed: what it pays is on the statement.")
    if deal.amount is None:
        return Estimate(**base, problem="Add the deal's amount to see what it would pay.")
    assignment = current_assignment(person, on)
    if assignment is None:
        return Estimate(**base, problem=f"{person} is not on a comp plan on {on:%d %b %Y}.")
    document = plan_document(assignment.plan)
    base["plan"] = assignment.plan
    if document.currency != currency:
        return Estimate(
            **base,
            problem=f"Plan '{assignment.plan}' pays in {document.currency}, not in {currency}.",
        )
    try:
        credits = deal_credits(deal, person, on, currency)
    except DomainError as error:
        return Estimate(**base, problem=error.message)
    if not credits:
        return Estimate(**base, problem=f"{person} is not credited on this deal.")
    profile = getattr(person, "rep_profile", None)
    assignee = engine.Assignee(
        id=assignment.pk,
        user_id=person.pk,
        plan_id=assignment.plan_id,
        start=assignment.start_date,
        end=assignment.end_date or engine.FAR_FUTURE,
        hire_date=profile.hire_date if profile else None,
        document=document,
    )
    calendar = fiscal_calendar()

    def checkpoints_for(component: Component) -> list[Checkpoint]:
        measured = calendar.period(on, PeriodKind(component.period))
        return [Checkpoint(measured, measured.end, True)]

    measured = [checkpoints_for(c)[0].measured for c in document.components]
    start, end = min(m.start for m in measured), max(m.end for m in measured)
    with engine.sandbox_run(start=start, end=end, currency=currency) as run:
        crediting.write_credits(
            run_id=run.pk,
            start=start,
            end=end,
            deal_ids=_deals_that_may_credit(person, document.components, start, end),
        )
        marked = _add_deal_credits(run.pk, deal, person, on, credits)
        simulated = engine.simulate(
            run=run, assignees=[assignee], checkpoints_for=checkpoints_for, marked=marked
        )
    components, not_counted = [], []
    for sim in simulated:
        if sim.marked_credits == 0:
            not_counted.append(sim.item.component.name)
            continue
        components.append(_component_estimate(sim, credits, currency))
    return Estimate(**base, credits=credits, components=components, not_counted=not_counted)


def _component_estimate(
    sim: engine.Simulated, credits: list[DealCredit], currency: str
) -> ComponentEstimate:
    component = sim.item.component
    deal_shares = sum((c.percent / HUNDRED for c in credits), ZERO)
    before = engine.component_payout(
        component,
        measure=sim.measure - sim.marked_measure,
        credits=sim.credits - sim.marked_credits,
        shares=sim.shares - deal_shares,
        quota=sim.quota,
        cap=sim.cap,
    )
    return ComponentEstimate(
        key=component.key,
        name=component.name,
        kind=component.kind,
        measure_name=component.measure,
        measured_label=sim.item.checkpoint.measured.label,
        quota=sim.quota,
        measure_before=sim.measure - sim.marked_measure,
        measure_after=sim.measure,
        attainment_before=before.attainment,
        attainment_after=sim.payout.attainment,
        tier_before=before.tier,
        tier_after=sim.payout.tier,
        payout_before=round_money(before.exact, currency),
        payout_after=round_money(sim.payout.exact, currency),
    )


def deal_credits(deal: Deal, person: User, on: dt.date, currency: str) -> list[DealCredit]:
    """The credits ``person`` would get on ``deal`` closing on ``on`` (owner, split, overlay),
    by the crediting rules (see the module docstring)."""
    rate = exchange_rate_on(deal.currency, on)
    places = min(get_currency_precision(currency), MONEY_DECIMAL_PLACES)
    unit = Decimal(1).scaleb(-places)

    def rounded(value: Decimal) -> Decimal:
        return value.quantize(unit, rounding=ROUNDING)

    raw = deal.amount * rate
    amount = rounded(raw)
    acv = rounded(raw * 12 / deal.term_months if deal.term_months > 12 else raw)
    margin = rounded((deal.gross_margin or ZERO) * rate)
    units = Decimal(deal.units)
    splits = list(DealSplit.objects.filter(deal=deal).order_by("user_id"))
    revenue = [s for s in splits if s.kind == SplitKind.REVENUE]
    credits = []
    if not revenue and deal.owner_id == person.pk:
        credits.append(DealCredit(CreditType.OWNER, HUNDRED, amount, acv, margin, units))
    mine = [i for i, s in enumerate(revenue) if s.user_id == person.pk]
    if mine:
        weights = [s.percent for s in revenue]
        i, percent = mine[0], revenue[mine[0]].percent
        credits.append(
            DealCredit(
                CreditType.SPLIT,
                percent,
                allocate(amount, weights, currency)[i],
                allocate(acv, weights, currency)[i],
                allocate(margin, weights, currency)[i],
                (units * percent / HUNDRED).quantize(Decimal("0.0001"), rounding=ROUNDING),
            )
        )
    for split in splits:
        if split.kind == SplitKind.OVERLAY and split.user_id == person.pk:
            share = split.percent / HUNDRED
            credits.append(
                DealCredit(
                    CreditType.OVERLAY,
                    split.percent,
                    rounded(amount * share),
                    rounded(acv * share),
                    rounded(margin * share),
                    (units * share).quantize(Decimal("0.0001"), rounding=ROUNDING),
                )
            )
    return credits


def _add_deal_credits(
    run_id: int, deal: Deal, person: User, on: dt.date, credits: list[DealCredit]
) -> list[int]:
    """The deal's credits written to the throwaway run as if it had closed on ``on``."""
    rows = Credit.objects.bulk_create(
        Credit(
            run_id=run_id,
            deal_id=deal.pk,
            deal_version=deal.version,
            user_id=person.pk,
            credit_type=credit.credit_type,
            percent=credit.percent,
            close_date=on,
            invoice_date=on,
            amount=credit.amount,
            acv=credit.acv,
            gross_margin=credit.gross_margin,
            units=credit.units,
            new_logo=deal.type == DealType.NEW,
            pipeline_id=deal.pipeline_id,
            deal_type=deal.type,
            product_family=deal.product_family,
            segment=deal.account.segment or "",
            term_months=deal.term_months,
        )
        for credit in credits
    )
    return [row.pk for row in rows]


def _deals_that_may_credit(
    person: User, components: list[Component], start: dt.date, end: dt.date
) -> list[int]:
    """Won deals of the window that can credit ``person`` under the plan's credit types (a
    superset; crediting then decides): owned or split by them, by their team subtree when a
    component counts roll-ups, or in territories where they are an overlay member."""
    types = {t for c in components for t in c.credit_types}
    sellers = [person.pk]
    if "rollup" in types:
        sellers = sorted(set(sellers) | set(managed_user_ids(person)))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.id FROM crm_deal d
            JOIN crm_stage st ON st.id = d.stage_id
            WHERE st.is_won AND d.amount IS NOT NULL AND d.close_date IS NOT NULL
              AND (d.close_date BETWEEN %(start)s AND %(end)s
                   OR d.invoice_date BETWEEN %(start)s AND %(end)s)
              AND (d.owner_id = ANY(%(sellers)s)
                   OR EXISTS (SELECT 1 FROM crm_dealsplit s
                              WHERE s.deal_id = d.id AND s.user_id = ANY(%(sellers)s))
                   OR (%(territory)s AND d.account_id IN (
                        SELECT a.id FROM crm_account a
                        JOIN territories_territorymember tm ON tm.territory_id = a.territory_id
                        WHERE tm.user_id = %(person)s
                        UNION
                        SELECT sp.account_id FROM territories_accountterritory sp
                        JOIN territories_territorymember tm ON tm.territory_id = sp.territory_id
                        WHERE tm.user_id = %(person)s)))
            """,
            {
                "start": start,
                "end": end,
                "sellers": sellers,
                "territory": "territory" in types,
                "person": person.pk,
            },
        )
        return [row[0] for row in cursor.fetchall()]

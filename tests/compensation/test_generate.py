"""The generator's compensation step and the deal fields plans measure: published plans for three
fiscal years, everyone on a plan, a year of approved and paid runs, deterministic for a seed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Sum

from compensation import documents
from compensation.models import (
    CommissionRun,
    CompPlan,
    PayoutLine,
    PlanAssignment,
    PlanStatus,
    RunStatus,
)
from compensation.runs import plan_editors
from crm.generate import TERMS_COLUMNS, fill_deal_terms
from crm.models import SEGMENT_ENTERPRISE_FROM, Deal, DealSplit, SplitKind
from salesops.fiscal import PeriodKind
from salesops.org.generate import SCALES, generate_org
from salesops.org.models import RepProfile, Team, User
from salesops.org.selectors import fiscal_calendar
from territories.models import QuotaPlan, QuotaPlanStatus

AS_OF = dt.date(2026, 6, 30)  # FY2027 Q2 (the fiscal year starts in February)
STEPS = [
    "crm.generate.generate_crm",
    "territories.generate.generate_territories",
    "territories.generate.generate_quotas",
    "compensation.generate.generate_comp",
]
YEARS = [2025, 2026, 2027]


def overlapping(spans: list[tuple[dt.date, dt.date]]) -> bool:
    spans = sorted(spans)
    return any(later[0] <= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_the_demo_has_plans_assignments_and_a_year_of_paid_runs(db):
    org = generate_org(scale=SCALES["demo"], seed=1, as_of=AS_OF, steps=STEPS)
    calendar = fiscal_calendar()
    ops, finance = User.objects.get(username="ops"), User.objects.get(username="finance")

    # Seven published plans per fiscal year, valid documents, published by sales ops.
    plans = list(CompPlan.objects.all())
    assert org.rows["comp_plans"] == len(plans) == 7 * len(YEARS)
    assert sorted({p.fiscal_year for p in plans}) == YEARS
    for plan in plans:
        assert plan.status == PlanStatus.PUBLISHED and plan.published_by == ops
        assert documents.validate(plan.document).fiscal_year == plan.fiscal_year
    # Quotas from the published quota plans where the year has one, else fixed amounts.
    quota_years = set(
        QuotaPlan.objects.filter(status=QuotaPlanStatus.PUBLISHED).values_list(
            "fiscal_year", flat=True
        )
    )
    assert quota_years == {2026, 2027}
    for year in YEARS:
        ae = CompPlan.objects.get(key=f"ae-quota-fy{year}").document["components"][0]
        assert ae["quota"]["source"] == ("quota_plan" if year in quota_years else "fixed")
        assert ae["tiers"][-1]["label"] == "Accelerator" and ae["cap_attainment"]
        am = CompPlan.objects.get(key=f"am-fy{year}").document["components"][0]
        assert am["filters"]["deal_types"] == ["renewal", "expansion"]
        manager = CompPlan.objects.get(key=f"manager-fy{year}").document["components"][0]
        assert manager["credit_types"] == ["rollup"]
        new_hire = CompPlan.objects.get(key=f"ae-new-hire-fy{year}").document
        assert new_hire["draw"]["kind"] == "recoverable"
        assert new_hire["components"][0]["advances"] == "quarter"

    # Every active rep (once hired) and every team manager is on a plan of each year, of their
    # role, never on two plans on one day; a few moved mid-year; most accepted.
    by_user = defaultdict(list)
    for a in PlanAssignment.objects.select_related("plan"):
        by_user[(a.user_id, a.plan.fiscal_year)].append(a)
    reps = RepProfile.objects.filter(active=True, user__is_active=True)
    for year in YEARS:
        first, last = (
            calendar.periods(year, PeriodKind.YEAR)[0].start,
            calendar.year_start(year + 1) - dt.timedelta(days=1),
        )
        for rep in reps.filter(hire_date__lte=last):
            rows = by_user[(rep.user_id, year)]
            assert rows, (rep.user_id, year)
            assert min(a.start_date for a in rows) == max(rep.hire_date, first)
            for a in rows:
                roles = {r["role"] for r in a.plan.document["roles"]}
                assert rep.sales_role in roles
        for manager_id in Team.objects.exclude(manager=None).values_list("manager", flat=True):
            rows = by_user[(manager_id, year)]
            assert [a.start_date for a in rows] == [first]
            assert {r["role"] for r in rows[0].plan.document["roles"]} == {"manager"}
    for rows in by_user.values():
        assert not overlapping([(a.start_date, a.end_date) for a in rows])
    assert any(len(rows) > 1 for rows in by_user.values())  # transfers and leaves
    total = PlanAssignment.objects.count()
    accepted = PlanAssignment.objects.filter(accepted_at__isnull=False).count()
    assert 0.8 < accepted / total < 0.97

    # The last four completed quarters approved by finance (who never edited a plan) and paid;
    # the current quarter calculated, waiting for approval. Totals are the sums of the lines.
    current = calendar.period(AS_OF, PeriodKind.QUARTER)
    runs = list(CommissionRun.objects.order_by("period_start"))
    assert [r.period_key for r in runs] == [
        calendar.shift(current, n).key for n in (-4, -3, -2, -1, 0)
    ]
    assert [r.status for r in runs] == [RunStatus.PAID] * 4 + [RunStatus.CALCULATED]
    for run in runs:
        lines = PayoutLine.objects.filter(run=run).aggregate(
            total=Sum("amount"), n=Count("id"), payees=Count("user", distinct=True)
        )
        assert run.total == lines["total"] > 0
        assert run.lines_count == lines["n"] and run.payees_count == lines["payees"] > 30
        if run.status == RunStatus.PAID:
            assert run.approved_by == run.paid_by == finance
            for plan in CompPlan.objects.filter(pk__in=run.lines.values("plan")):
                assert finance.pk not in plan_editors(plan)
    rep = User.objects.get(username="rep")
    assert PayoutLine.objects.filter(run=runs[-2], user=rep, kind="commission").exists()
    kinds = set(PayoutLine.objects.values_list("kind", flat=True))
    assert {"commission", "bonus", "draw"} <= kinds
    # Attainment against quota spreads as a sales floor's does.
    attainments = sorted(
        PayoutLine.objects.filter(
            run__in=runs[:-1], kind="commission", attainment_after__isnull=False
        ).values_list("attainment_after", flat=True)
    )
    median = attainments[len(attainments) // 2]
    assert Decimal(40) < median < Decimal(140)
    assert attainments[len(attainments) // 10] < median < attainments[-len(attainments) // 10]

    # Teams carry a finance cost centre.
    centres = list(Team.objects.values_list("cost_centre", flat=True))
    assert all(c.startswith("SLS-") for c in centres) and len(set(centres)) == len(centres)


def test_generated_deals_have_commercial_terms_and_splits(db):
    generate_org(scale=SCALES["demo"], seed=2, as_of=AS_OF, steps=STEPS[:1])
    deals = Deal.objects.select_related("stage", "account")
    families = dict(deals.values_list("product_family").annotate(n=Count("id")))
    assert set(families) == {"Platform", "Analytics", "Services"}
    assert families["Platform"] > families["Analytics"] > families["Services"]
    for deal in deals.iterator():
        assert 1 <= deal.units <= 500
        assert deal.term_months in (12, 24, 36)
        if deal.term_months > 12:
            assert deal.account.employees >= SEGMENT_ENTERPRISE_FROM
        if deal.amount is None:
            assert deal.gross_margin is None
        else:
            assert deal.amount * Decimal("0.55") - 1 <= deal.gross_margin
            assert deal.gross_margin <= deal.amount * Decimal("0.85") + 1
        if deal.stage.is_won:
            if deal.invoice_date is not None:
                assert 0 <= (deal.invoice_date - deal.close_date).days <= 20
                assert deal.invoice_date <= AS_OF
        else:
            assert deal.invoice_date is None
    won = Deal.objects.filter(stage__is_won=True)
    assert won.filter(invoice_date__isnull=False).count() > 0.9 * won.count()
    assert Deal.objects.filter(units__gt=100).count() < Deal.objects.filter(units__lte=10).count()
    multi_year = Deal.objects.filter(term_months__gt=12).count()
    assert 0.02 < multi_year / Deal.objects.count() < 0.2

    # Splits: revenue splits of two sellers of one team adding up to 100 %, overlays of 100 %
    # from another team; on won deals only, about 3 % and 2 % of them.
    team = dict(RepProfile.objects.values_list("user_id", "team_id"))
    revenue, overlay = defaultdict(list), defaultdict(list)
    for split in DealSplit.objects.select_related("deal", "deal__stage"):
        assert split.deal.stage.is_won
        target = revenue if split.kind == SplitKind.REVENUE else overlay
        target[split.deal_id].append((split.user_id, split.percent, split.deal.owner_id))
    for rows in revenue.values():
        assert sum(p for _, p, _ in rows) == 100
        assert sorted(p for _, p, _ in rows) in ([50, 50], [40, 60])
        owner = rows[0][2]
        assert owner in {u for u, _, _ in rows}
        assert len({team[u] for u, _, _ in rows}) == 1
    for rows in overlay.values():
        ((user, percent, owner),) = rows
        assert percent == 100 and team[user] != team[owner]
    assert 0.02 < len(revenue) / won.count() < 0.045
    assert 0.01 < len(overlay) / won.count() < 0.035


def test_an_org_generated_before_the_terms_gets_the_same_terms(db):
    """``fill_deal_terms`` (the bench's large org) gives what the generator now draws."""
    generate_org(scale=SCALES["demo"], seed=4, as_of=AS_OF, steps=STEPS[:1])

    def terms():
        return (
            list(Deal.objects.order_by("pk").values_list("pk", *TERMS_COLUMNS)),
            list(DealSplit.objects.order_by("pk").values_list("deal", "user", "kind", "percent")),
        )

    generated = terms()
    DealSplit.objects.all().delete()
    Deal.objects.update(
        product_family="", units=1, gross_margin=None, term_months=12, invoice_date=None
    )
    fill_deal_terms(seed=4, as_of=AS_OF)
    assert terms() == generated


def test_same_seed_same_plans_assignments_and_runs(db):
    def snapshot():
        return (
            list(CompPlan.objects.order_by("key").values_list("key", "name", "document")),
            list(
                PlanAssignment.objects.order_by("user_id", "start_date").values_list(
                    "plan__key", "user_id", "start_date", "end_date", "accepted_at"
                )
            ),
            list(
                CommissionRun.objects.order_by("period_start").values_list(
                    "period_key", "status", "total", "lines_count"
                )
            ),
            list(
                Deal.objects.order_by("pk").values_list(
                    "product_family", "units", "gross_margin", "term_months", "invoice_date"
                )
            ),
        )

    generate_org(scale=SCALES["demo"], seed=3, as_of=AS_OF, steps=STEPS)
    first = snapshot()
    generate_org(scale=SCALES["demo"], seed=3, as_of=AS_OF, steps=STEPS, replace=True)
    assert snapshot() == first

"""Properties: every run reconciles to the cent (lines, statements, payroll file), and
calculating it again changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compensation.models import PayoutLine
from compensation.payroll import payroll_rows
from compensation.statements import statement
from crm.models import SplitKind
from crm.splits import deal_splits_set
from tests.compensation.comp_setup import approve, assign, bookings, calculate, lines, plan, won

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("250000"), places=2)
percents = st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=3)
deals = st.lists(
    st.tuples(st.integers(0, 2), amounts, percents, st.integers(1, 89)), min_size=1, max_size=6
)
tier_modes = st.sampled_from(["marginal", "retroactive"])
rates = st.sampled_from(["0.033", "0.0725", "0.1", "0.125"])


class Rollback(Exception):
    """Undo one example's data (hypothesis runs many examples in one test)."""


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(deals=deals, mode=tier_modes, top_rate=rates)
def test_totals_reconcile_and_recalculation_is_idempotent(org, pipeline, deals, mode, top_rate):
    reps = [org.rep_east, org.rep_east_2, org.rep_west]
    try:
        with transaction.atomic():
            tiers = [{"floor": 0, "rate": "0.05"}, {"floor": 80, "rate": top_rate}]
            comp_plan = plan(org, bookings(tier_mode=mode, tiers=tiers, cap_amount="15000"))
            for rep in reps:
                assign(comp_plan, rep)
            for owner, value, split_percents, day in deals:
                deal = won(
                    org,
                    pipeline,
                    reps[owner],
                    str(value),
                    dt.date(2027, 1, 1) + dt.timedelta(days=day),
                )
                shares = [Decimal(p) for p in split_percents]
                shares.append(Decimal(100) - sum(shares) if sum(shares) < 100 else None)
                shares = [s for s in shares if s and s > 0]
                if sum(shares) == 100 and len(shares) <= len(reps):
                    deal_splits_set(
                        deal=deal,
                        splits=[(reps[i], SplitKind.REVENUE, s) for i, s in enumerate(shares)],
                        acting_user=org.ops,
                    )
            run = calculate(org, "2027-Q1")
            first = [(x.user_id, x.component_key, x.amount, x.trace) for x in lines(run)]
            line_total = PayoutLine.objects.filter(run=run).aggregate(t=Sum("amount"))["t"]
            by_person = PayoutLine.objects.filter(run=run).values("user").annotate(t=Sum("amount"))
            assert run.total == line_total == sum(row["t"] for row in by_person)
            for line in lines(run):
                # each line is its exact payout rounded once, half up, to the cent
                assert line.amount == line.exact_amount.quantize(Decimal("0.01"), "ROUND_HALF_UP")
                assert line.amount.as_tuple().exponent == -2
            # credited measures add up to the deals' amounts: nothing lost or doubled by splits
            measured = sum(x.measure for x in lines(run))
            assert measured == sum(value for _, value, _, _ in deals)
            again = calculate(org, "2027-Q1")
            assert [(x.user_id, x.component_key, x.amount, x.trace) for x in lines(again)] == first
            assert again.total == run.total
            # approved: each rep's statement totals their lines, and the payroll file the run
            approved = approve(org, again)
            payroll = payroll_rows(run=approved, acting_user=org.finance)
            assert sum(row.amount for row in payroll) == approved.total
            for row in payroll:
                person = next(rep for rep in reps if rep.pk == row.user_id)
                rep_statement = statement(person, approved, person)
                assert rep_statement.total == row.amount
                assert rep_statement.total == sum(x.amount for x in rep_statement.lines)
            raise Rollback
    except Rollback:
        pass

"""Commission runs end to end, with payouts worked out by hand in each test's comments."""

from __future__ import annotations

import datetime as dt

import pytest

from compensation import runs
from compensation.models import Credit, LineCredit, LineKind, PayoutLine, RunStatus
from crm.models import Account, SplitKind
from crm.services import deal_create
from crm.splits import deal_splits_set
from salesops.errors import DomainError, NotAllowed
from tests.compensation.comp_setup import (
    D,
    amounts,
    approve,
    assign,
    bookings,
    calculate,
    change,
    lines,
    plan,
    won,
)
from tests.crm import conftest as crm_fixtures

Q1 = dt.date(2027, 2, 10)
Q2 = dt.date(2027, 5, 10)


def test_a_quarter_paid_on_marginal_tiers_with_its_trace(org, pipeline):
    assign(plan(org), org.rep_east)
    deal = won(org, pipeline, org.rep_east, "120000", Q1)
    run = calculate(org, "2027-Q1")
    [line] = lines(run, org.rep_east)
    # 50,000 × 5 % + 50,000 × 8 % + 20,000 × 12 % = 2,500 + 4,000 + 2,400
    assert (line.kind, line.amount, line.attainment_after) == ("commission", D("8900.00"), D("120"))
    assert line.tier == "Accelerator" and line.quota == D("100000.00")
    assert [s["pay"] for s in line.trace["slices"]] == ["2500.0000", "4000.0000", "2400.0000"]
    assert line.trace["formula"] == "8,900.00 payout for FY2027 Q1 = 8,900.00"
    assert "ROUND_HALF_UP" in line.trace["rounding"]
    [link] = LineCredit.objects.filter(line=line)
    assert Credit.objects.get(pk=link.credit_id).deal_id == deal.pk
    assert (run.status, run.total, run.payees_count) == (RunStatus.CALCULATED, D("8900.00"), 1)


def test_retroactive_tiers_across_the_boundary(org, pipeline):
    assign(plan(org, bookings(tier_mode="retroactive")), org.rep_east)
    assign(plan(org, key="marginal"), org.rep_west)
    won(org, pipeline, org.rep_east, "100000", Q1)
    won(org, pipeline, org.rep_west, "100000", Q1)
    run = calculate(org, "2027-Q1")
    # At exactly 100 % the accelerator is reached: retroactive pays all 100,000 at 12 %,
    # marginal pays 50,000 × 5 % + 50,000 × 8 %.
    assert amounts(run, org.rep_east) == [("commission", "bookings", D("12000.00"))]
    assert amounts(run, org.rep_west) == [("commission", "bookings", D("6500.00"))]


def test_threshold_and_cap_in_a_run(org, pipeline):
    assign(plan(org, bookings(threshold="50", cap_amount="10000")), org.rep_east)
    assign(plan(org, bookings(threshold="50", cap_amount="10000"), key="p2"), org.rep_west)
    won(org, pipeline, org.rep_east, "49999.99", Q1)  # below the threshold: nothing
    won(org, pipeline, org.rep_west, "200000", Q1)  # 2,500 + 4,000 + 12,000 = 18,500 → cap
    run = calculate(org, "2027-Q1")
    assert lines(run, org.rep_east)[0].amount == 0
    assert lines(run, org.rep_east)[0].tier == "Below threshold"
    assert lines(run, org.rep_west)[0].amount == D("10000.00")


def test_decelerator_below_half_of_quota(org, pipeline):
    tiers = [
        {"floor": 0, "rate": "0.04", "label": "Decelerator"},
        {"floor": 50, "rate": "0.1"},
    ]
    assign(plan(org, bookings(tiers=tiers, tier_mode="retroactive")), org.rep_east)
    assign(plan(org, bookings(tiers=tiers, tier_mode="retroactive"), key="p2"), org.rep_west)
    won(org, pipeline, org.rep_east, "40000", Q1)  # 40 %: all of it at the decelerated 4 %
    won(org, pipeline, org.rep_west, "60000", Q1)  # 60 %: past the decelerator, all at 10 %
    run = calculate(org, "2027-Q1")
    east, west = lines(run, org.rep_east)[0], lines(run, org.rep_west)[0]
    assert (east.amount, east.tier, east.rate) == (D("1600.00"), "Decelerator", D("0.04"))
    assert (west.amount, west.rate) == (D("6000.00"), D("0.1"))


def test_split_deal_pays_each_seller_on_their_share(org, pipeline):
    flat = bookings(quota=None, tiers=[], rate="0.1")
    comp_plan = plan(org, flat)
    assign(comp_plan, org.rep_east)
    assign(comp_plan, org.rep_east_2)
    deal = won(org, pipeline, org.rep_east, "50000.01", Q1)
    deal_splits_set(
        deal=deal,
        splits=[
            (org.rep_east, SplitKind.REVENUE, D(60)),
            (org.rep_east_2, SplitKind.REVENUE, D(40)),
        ],
        acting_user=org.ops,
    )
    run = calculate(org, "2027-Q1")
    # 60 % of 50,000.01 = 30,000.006 and 40 % = 20,000.004: floors 30,000.00 / 20,000.00 and the
    # leftover cent goes to the larger remainder (60 %): 30,000.01 + 20,000.00 = 50,000.01.
    assert lines(run, org.rep_east)[0].measure == D("30000.01")
    assert lines(run, org.rep_east_2)[0].measure == D("20000.00")
    # 10 %: 3,000.001 → 3,000.00 and 2,000.00
    assert [line.amount for line in lines(run)] == [D("3000.00"), D("2000.00")]


def test_splits_changed_after_lock_move_the_pay_between_the_sellers(org, pipeline):
    flat = bookings(quota=None, tiers=[], rate="0.1")
    comp_plan = plan(org, flat)
    assign(comp_plan, org.rep_east)
    assign(comp_plan, org.rep_east_2)
    deal = won(org, pipeline, org.rep_east, "50000", Q1, name="Shared deal")
    q1 = approve(org, calculate(org, "2027-Q1"))
    assert amounts(q1, org.rep_east) == [("commission", "bookings", D("5000.00"))]  # all hers
    deal_splits_set(
        deal=deal,
        splits=[
            (org.rep_east, SplitKind.REVENUE, D(70)),
            (org.rep_east_2, SplitKind.REVENUE, D(30)),
        ],
        acting_user=org.ops,
    )
    q2 = calculate(org, "2027-Q2")
    # Q1 now: 70 % of 50,000 = 35,000 × 10 % = 3,500 (1,500 less than paid); the new split
    # seller earns 30 % = 15,000 × 10 % = 1,500 for Q1, paid as a correction in Q2.
    assert amounts(q2, org.rep_east) == [
        ("adjustment", "bookings", D("-1500.00")),
        ("commission", "bookings", D("0.00")),
    ]
    assert amounts(q2, org.rep_east_2) == [
        ("adjustment", "bookings", D("1500.00")),
        ("commission", "bookings", D("0.00")),
    ]
    correction = lines(q2, org.rep_east, kind=LineKind.ADJUSTMENT)[0]
    assert [c["deal"] for c in correction.trace["cause"]] == [deal.pk]


def test_a_segment_filter_counts_only_that_segments_deals(org, pipeline):
    enterprise_only = bookings(quota=None, tiers=[], rate="0.1", filters={"segments": ["ent"]})
    assign(plan(org, enterprise_only), org.rep_east)
    big = Account.objects.create(name="Big Co", owner=org.rep_east, employees=5000)
    small = Account.objects.create(name="Small Co", owner=org.rep_east, employees=20)
    won_stage = crm_fixtures.stage(pipeline, "Closed Won")
    for account, value in ((big, "30000"), (small, "9000")):
        deal_create(
            acting_user=org.ops, account=account, owner=org.rep_east, name=account.name,
            stage=won_stage, amount=D(value), close_date=Q1,
        )  # fmt: skip
    run = calculate(org, "2027-Q1")
    [line] = lines(run, org.rep_east)
    assert (line.measure, line.amount) == (D("30000.00"), D("3000.00"))  # Big Co's deal only


def test_overlay_is_credited_without_reducing_the_owner(org, pipeline):
    comp_plan = plan(org, bookings(credit_types=["owner", "split", "overlay"]))
    assign(comp_plan, org.rep_east)
    assign(comp_plan, org.rep_west)
    deal = won(org, pipeline, org.rep_east, "60000", Q1)
    deal_splits_set(
        deal=deal, splits=[(org.rep_west, SplitKind.OVERLAY, D(100))], acting_user=org.ops
    )
    run = calculate(org, "2027-Q1")
    # Both are credited 60,000: 2,500 + 10,000 × 8 % = 3,300 each.
    assert [(line.user, line.amount) for line in lines(run)] == [
        (org.rep_east, D("3300.00")),
        (org.rep_west, D("3300.00")),
    ] or [(line.user, line.amount) for line in lines(run)] == [
        (org.rep_west, D("3300.00")),
        (org.rep_east, D("3300.00")),
    ]


def test_manager_roll_up_through_the_team_tree(org, pipeline):
    sellers = plan(org, bookings(quota=None, tiers=[], rate="0.1"))
    managers = plan(
        org, bookings(quota=None, tiers=[], rate="0.01", credit_types=["rollup"]), key="mgr"
    )
    for rep in (org.rep_east, org.rep_east_2, org.rep_west):
        assign(sellers, rep)
    for manager in (org.manager_east, org.vp_americas):
        assign(managers, manager)
    won(org, pipeline, org.rep_east, "10000", Q1)
    won(org, pipeline, org.rep_east_2, "20000", Q1)
    won(org, pipeline, org.rep_west, "40000", Q1)
    run = calculate(org, "2027-Q1")
    # East's manager: 1 % of East's 30,000; the Americas VP: 1 % of 70,000 (East and West).
    assert amounts(run, org.manager_east) == [("commission", "bookings", D("300.00"))]
    assert amounts(run, org.vp_americas) == [("commission", "bookings", D("700.00"))]
    assert lines(run, org.vp_americas)[0].measure == D("70000")


def test_mid_quarter_hire_is_prorated(org, pipeline):
    assign(plan(org), org.rep_east, start=dt.date(2027, 2, 15))
    won(org, pipeline, org.rep_east, "7000", dt.date(2027, 2, 1))  # before the assignment
    won(org, pipeline, org.rep_east, "40000", dt.date(2027, 3, 1))
    run = calculate(org, "2027-Q1")
    [line] = lines(run, org.rep_east)
    # 15 Feb – 31 Mar is 45 of Q1's 90 days: quota 50,000; 40,000 is 80 %:
    # 25,000 × 5 % + 15,000 × 8 % = 1,250 + 1,200 = 2,450.
    assert (line.quota, line.attainment_after, line.amount) == (
        D("50000.00"), D("80"), D("2450.00"),
    )  # fmt: skip
    assert "× proration 0.5000" in line.trace["steps"][0]


def test_cancelled_deal_after_lock_is_clawed_back_in_the_next_run(org, pipeline):
    assign(plan(org), org.rep_east)
    deal = won(org, pipeline, org.rep_east, "120000", Q1, name="Acme renewal")
    q1 = approve(org, calculate(org, "2027-Q1"))
    assert lines(q1, org.rep_east)[0].amount == D("8900.00")
    change(org, deal, stage=crm_fixtures.stage(pipeline, "Closed Lost"), lost_reason="Cancelled")
    won(org, pipeline, org.rep_east, "10000", Q2)
    q2 = calculate(org, "2027-Q2")
    assert amounts(q2, org.rep_east) == [
        ("adjustment", "bookings", D("-8900.00")),  # Q1 is now worth 0
        ("commission", "bookings", D("500.00")),  # Q2: 10,000 × 5 %
    ]
    adjustment = lines(q2, org.rep_east, kind=LineKind.ADJUSTMENT)[0]
    assert adjustment.measured_key == "2027-Q01"
    assert adjustment.trace["cause"] == [
        {"deal": deal.pk, "name": "Acme renewal", "was": "120000.0000", "now": "0",
         "why": "the deal is now in Closed Lost"},
    ]  # fmt: skip
    q1.refresh_from_db()
    assert q1.total == D("8900.00") and lines(q1, org.rep_east)[0].amount == D("8900.00")


def test_amount_change_after_lock_pays_the_difference_once(org, pipeline):
    assign(plan(org), org.rep_east)
    deal = won(org, pipeline, org.rep_east, "120000", Q1)
    approve(org, calculate(org, "2027-Q1"))
    change(org, deal, amount=D("100000"))
    q2 = approve(org, calculate(org, "2027-Q2"))
    # Q1 is now 2,500 + 4,000 = 6,500: 2,400 less than paid.
    assert amounts(q2, org.rep_east) == [
        ("adjustment", "bookings", D("-2400.00")),
        ("commission", "bookings", D("0.00")),
    ]
    q3 = calculate(org, "2027-Q3")  # already corrected: nothing more
    assert [line.kind for line in lines(q3, org.rep_east)] == ["commission"]


def test_quarterly_advances_and_annual_true_up(org, pipeline):
    annual = bookings(
        period="year", advances="quarter", advance_percent="75",
        quota={"source": "fixed", "amount": "400000"},
        tiers=[{"floor": 0, "rate": "0.05"}, {"floor": 100, "rate": "0.10"}],
    )  # fmt: skip
    assign(plan(org, annual), org.rep_east)
    paid = []
    for quarter, value, close in (
        ("2027-Q1", "100000", Q1),
        ("2027-Q2", "150000", Q2),
        ("2027-Q3", "100000", dt.date(2027, 8, 1)),
        ("2027-Q4", "150000", dt.date(2027, 11, 1)),
    ):
        won(org, pipeline, org.rep_east, value, close)
        run = approve(org, calculate(org, quarter))
        paid.append(lines(run, org.rep_east)[0].amount)
    # YTD payout × 75 % less earlier advances: 5,000 × .75 = 3,750; 12,500 × .75 − 3,750 = 5,625;
    # 17,500 × .75 − 9,375 = 3,750; year end: 400,000 × 5 % + 100,000 × 10 % = 30,000 − 13,125.
    assert paid == [D("3750.00"), D("5625.00"), D("3750.00"), D("16875.00")]
    assert sum(paid) == D("30000.00")


def test_recoverable_draw_tops_up_then_is_recovered(org, pipeline):
    profile = org.rep_east.rep_profile
    profile.hire_date = dt.date(2027, 1, 1)
    profile.save()
    flat = bookings(quota=None, tiers=[], rate="0.1")
    draw = {"kind": "recoverable", "monthly_amount": "3000", "months": 3}
    assign(plan(org, flat, draw=draw), org.rep_east)
    won(org, pipeline, org.rep_east, "40000", Q1)
    q1 = approve(org, calculate(org, "2027-Q1"))
    # Earned 4,000 against a 9,000 draw (3 months × 3,000): top-up 5,000, owed back later.
    assert amounts(q1, org.rep_east) == [
        ("commission", "bookings", D("4000.00")),
        ("draw", "", D("5000.00")),
    ]
    won(org, pipeline, org.rep_east, "30000", Q2)
    q2 = approve(org, calculate(org, "2027-Q2"))
    # The draw has ended; 3,000 earned, all of it recovered: 2,000 still owed.
    assert amounts(q2, org.rep_east) == [
        ("commission", "bookings", D("3000.00")),
        ("recovery", "", D("-3000.00")),
    ]
    assert lines(q2, org.rep_east, kind="recovery")[0].trace["balance_after"] == "2000.00"
    won(org, pipeline, org.rep_east, "50000", dt.date(2027, 8, 1))
    q3 = calculate(org, "2027-Q3")
    assert amounts(q3, org.rep_east) == [
        ("commission", "bookings", D("5000.00")),
        ("recovery", "", D("-2000.00")),
    ]


def test_recalculating_a_draft_gives_the_same_lines(org, pipeline):
    comp_plan = plan(org)
    for rep in (org.rep_east, org.rep_east_2, org.rep_west):
        assign(comp_plan, rep)
    for i, rep in enumerate((org.rep_east, org.rep_east_2, org.rep_west)):
        won(org, pipeline, rep, str(33333.33 * (i + 1)), Q1)

    def snapshot(run):
        return [
            (x.user_id, x.kind, x.component_key, x.measured_key, x.amount, x.exact_amount, x.trace,
             sorted(LineCredit.objects.filter(line=x).values_list("measure", flat=True)))
            for x in lines(run)
        ]  # fmt: skip

    first = snapshot(calculate(org, "2027-Q1"))
    again = snapshot(calculate(org, "2027-Q1"))
    assert first == again and len(first) == 3
    # each deal: its owner, plus roll-ups to the team's manager and the Americas VP
    assert (
        sorted(Credit.objects.values_list("credit_type", flat=True))
        == ["owner"] * 3 + ["rollup"] * 6
    )
    # the links of the first calculation went with its lines and credits (no database
    # constraint would catch a link left behind: LineCredit has none, for speed)
    links = LineCredit.objects.values_list("line_id", "credit_id")
    assert {line for line, _ in links} == set(PayoutLine.objects.values_list("id", flat=True))
    assert {credit for _, credit in links} <= set(Credit.objects.values_list("id", flat=True))


def test_approval_needs_finance_and_separation_of_duties(org, pipeline):
    comp_plan = plan(org)
    assign(comp_plan, org.rep_east)
    won(org, pipeline, org.rep_east, "1000", Q1)
    run = calculate(org, "2027-Q1")
    with pytest.raises(NotAllowed, match="needs the finance role"):
        runs.run_approve(run=run, acting_user=org.ops)
    comp_plan.updated_by = org.finance
    comp_plan.save()
    with pytest.raises(NotAllowed, match="You edited the plan"):
        runs.run_approve(run=run, acting_user=org.finance)


def test_manual_adjustment_needs_a_reason_and_blocks_its_author_from_approving(org, pipeline):
    from salesops.org.roles import Role
    from tests import factories

    assign(plan(org), org.rep_east)
    run = calculate(org, "2027-Q1")
    with pytest.raises(DomainError, match="needs a reason"):
        runs.adjustment_add(
            run=run, user=org.rep_east, amount=D("100"), reason=" ", acting_user=org.ops
        )
    runs.adjustment_add(
        run=run, user=org.rep_east, amount=D("250.00"), reason="Missed SPIF", acting_user=org.ops
    )
    run.refresh_from_db()
    assert run.status == RunStatus.DRAFT  # needs calculating again
    run = calculate(org, "2027-Q1")
    assert amounts(run, org.rep_east)[-1] == ("manual", "", D("250.00"))
    other_finance = factories.user(Role.FINANCE, username="fin2")
    approve_by = runs.run_approve(run=run, acting_user=other_finance)
    assert approve_by.status == RunStatus.APPROVED
    with pytest.raises(DomainError, match="locked"):
        runs.adjustment_delete(adjustment=run.manual_adjustments.get(), acting_user=org.ops)

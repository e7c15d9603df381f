"""Quota planning: top-down allocation (exact to the cent at every level and period), the three
bases, ramp, territory quotas, ops edits with their history, roll-up and gap, the grid's scope,
the review chain and publishing, capacity and attainment.

The org fixture's reps were hired in January 2024 (fully ramped in FY2027); the fiscal year is
the calendar year (FY2027 = January to December 2027).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.models import Account
from crm.services import deal_create
from salesops.errors import DomainError, NotAllowed
from salesops.org import services as org_services
from salesops.org.models import SalesRole, Team
from salesops.org.roles import Role
from territories import quota_selectors as selectors
from territories import quotas, runs
from territories import services as territory_services
from territories.models import (
    AllocationBasis,
    Quota,
    QuotaPlanStatus,
    QuotaSource,
    ReviewStatus,
)
from territories.quota_math import seasonal_split
from tests import factories
from tests.conftest import fresh
from tests.crm import conftest as crm_fixtures

pipeline = crm_fixtures.pipeline  # the New Business pipeline (with Closed Won / Closed Lost)

FY = 2027
SEASONAL = [Decimal(w) for w in ("7", "7", "9", "7", "7", "9", "7", "7", "9", "8", "8", "15")]
LOCKED = "FY2027 quotas are published and locked; a published plan cannot be changed."
D = Decimal


def make_plan(org, target="1000000.01", basis=AllocationBasis.EQUAL, **fields):
    return quotas.quota_plan_create(
        fiscal_year=fields.pop("fiscal_year", FY),
        target=D(target),
        currency="USD",
        basis=basis,
        acting_user=org.ops,
        **fields,
    )


def allocate(org, plan, as_of=dt.date(2026, 11, 1)):
    return quotas.quota_plan_allocate(plan=plan, acting_user=org.ops, as_of=as_of)


def amounts(plan, key=str(FY), field="amount"):
    """{holder: amount} for one period: holders are users, teams and territories."""
    result = {}
    for quota in Quota.objects.filter(plan=plan, period_key=key).select_related(
        "user", "team", "territory"
    ):
        result[quota.user or quota.team or quota.territory] = getattr(quota, field)
    return result


def hire(team, username, hire_date, ramp_months=3):
    person = factories.user(Role.REP, username=username)
    org_services.rep_profile_create(
        user=person,
        team=team,
        sales_role=SalesRole.AE,
        employee_id=f"H{person.pk:06d}",
        hire_date=hire_date,
        ramp_months=ramp_months,
    )
    return person


def by_name(users):
    return sorted(users, key=lambda u: (u.last_name, u.first_name, u.username, u.pk))


def won(org, pipeline, owner, amount, close_date, currency="USD"):
    account = Account.objects.filter(owner=owner).first() or Account.objects.create(
        name=f"{owner.username} Corp", owner=owner
    )
    return deal_create(
        acting_user=org.ops,
        account=account,
        owner=owner,
        name=f"{owner.username} {close_date}",
        stage=crm_fixtures.stage(pipeline, "Closed Won"),
        amount=D(amount),
        currency=currency,
        close_date=close_date,
    )


def lost(org, pipeline, owner, amount, close_date):
    account = Account.objects.filter(owner=owner).first() or Account.objects.create(
        name=f"{owner.username} Corp", owner=owner
    )
    return deal_create(
        acting_user=org.ops,
        account=account,
        owner=owner,
        name="lost one",
        stage=crm_fixtures.stage(pipeline, "Closed Lost"),
        amount=D(amount),
        close_date=close_date,
        lost_reason="Budget",
    )


# --- The split arithmetic ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.integers(0, 10_000_000), min_size=1, max_size=8),
    weights=st.lists(st.integers(0, 50), min_size=1, max_size=12),
)
def test_split_by_margins_adds_up_both_ways_within_a_cent(rows, weights):
    grand = sum(rows)
    if not any(weights):
        weights = [1] * len(weights)
    columns = [round(grand * w / sum(weights)) for w in weights]
    columns[-1] += grand - sum(columns)
    if columns[-1] < 0:
        return
    cents = D("0.01")
    row_totals = [D(r) * cents for r in rows]
    column_totals = [D(c) * cents for c in columns]
    cells = quotas.split_by_margins(row_totals, column_totals, "USD")
    assert [sum(row, D(0)) for row in cells] == row_totals
    assert [sum(col, D(0)) for col in zip(*cells, strict=True)] == column_totals
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            exact = row_totals[i] * column_totals[j] / sum(row_totals) if grand else D(0)
            assert abs(cell - exact) < cents
            assert cell >= 0


# --- Allocation ----------------------------------------------------------------------------------


@pytest.fixture
def org3(org):
    """The org with a third East rep: East splits three ways, Americas 4 : EMEA 1."""
    org.rep_east_3 = factories.rep(org.east, username="rep_east_3")
    return org


def _check_exact(plan):
    """year = Σ quarters = Σ months per holder; team = Σ child teams + own reps; roots =
    company; every period, amount and full amount, to the cent."""
    quotas_ = list(Quota.objects.filter(plan=plan).select_related("user__rep_profile"))
    by_holder = defaultdict(dict)
    for quota in quotas_:
        holder = ("user", quota.user_id) if quota.user_id else ("team", quota.team_id)
        if quota.territory_id:
            holder = ("territory", quota.territory_id)
        by_holder[holder][quota.period_key] = quota
    quarters = [f"{FY}-Q{q:02d}" for q in range(1, 5)]
    months = [f"{FY}-M{m:02d}" for m in range(1, 13)]
    for rows in by_holder.values():
        assert len(rows) == 17
        for field in ("amount", "full_amount"):
            value = {key: getattr(quota, field) for key, quota in rows.items()}
            assert value[str(FY)] == sum(value[q] for q in quarters)
            for q, quarter in enumerate(quarters):
                assert value[quarter] == sum(value[m] for m in months[3 * q : 3 * q + 3])
    teams = list(Team.objects.all())
    children = defaultdict(list)
    for team in teams:
        children[team.parent_id].append(("team", team.pk))
    for quota in quotas_:
        if quota.user_id and quota.period_key == str(FY):
            children[quota.user.rep_profile.team_id].append(("user", quota.user_id))
    company_quarters, company_months = seasonal_split(plan.target, plan.month_weights, "USD")
    company = dict(
        zip(
            [str(FY), *quarters, *months],
            [plan.target, *company_quarters, *company_months],
            strict=True,
        )
    )
    for key in company:
        assert sum(by_holder[h][key].full_amount for h in children[None]) == company[key]
        for team in teams:
            kids = children[team.pk]
            if kids:
                team_quota = by_holder[("team", team.pk)][key]
                assert team_quota.amount == team_quota.full_amount
                assert team_quota.full_amount == sum(by_holder[h][key].full_amount for h in kids)


def test_allocation_is_exact_at_every_level_and_period(org3):
    plan = make_plan(org3, month_weights=SEASONAL)
    allocate(org3, plan)
    _check_exact(plan)
    year = amounts(plan)
    assert year[org3.americas] == D("800000.01")  # 1,000,000.01 x 4/5 = 800,000.008
    assert year[org3.emea] == D("200000.00")
    assert year[org3.east] == D("600000.01")  # 800,000.01 x 3/4 = 600,000.0075
    assert year[org3.west] == D("200000.00")
    assert year[org3.london] == year[org3.rep_london] == D("200000.00")
    east = by_name([org3.rep_east, org3.rep_east_2, org3.rep_east_3])
    # 600,000.01 / 3 = 200,000.00333…: the leftover cent goes to the first by name
    assert [year[rep] for rep in east] == [D("200000.01"), D("200000.00"), D("200000.00")]
    assert Quota.objects.filter(plan=plan).exclude(source=QuotaSource.TOP_DOWN).count() == 0


def test_allocation_rewrites_a_draft_and_is_refused_once_proposed(org):
    plan = make_plan(org)
    allocate(org, plan)
    first = set(Quota.objects.filter(plan=plan).values_list("pk", flat=True))
    allocate(org, plan)
    assert not first & set(Quota.objects.filter(plan=plan).values_list("pk", flat=True))
    assert Quota.objects.filter(plan=plan).count() == (5 + 4) * 17
    quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    with pytest.raises(DomainError) as error:
        allocate(org, plan)
    assert str(error.value) == (
        "FY2027 quotas are in review; allocation rewrites every quota, so it runs on a draft "
        "plan only."
    )


def test_allocation_reads_weights_with_a_few_queries(org, django_assert_max_num_queries):
    plan = make_plan(org, basis=AllocationBasis.HISTORY)
    for i in range(6):  # more reps and teams must not mean more queries
        hire(org.west if i % 2 else org.london, f"extra_{i}", dt.date(2025, 1, 1))
    with django_assert_max_num_queries(15):
        allocate(org, plan)


def test_equal_basis_gives_every_rep_the_same(org):
    plan = make_plan(org, target="1000.00")
    allocate(org, plan)
    year = amounts(plan)
    assert year[org.americas] == D("750.00")  # 3 of 4 reps
    assert year[org.east] == D("500.00")
    assert {year[r] for r in (org.rep_east, org.rep_east_2, org.rep_west, org.rep_london)} == {
        D("250.00")
    }


def test_potential_basis_weighs_owned_account_revenue_in_corporate_currency(org):
    org_services.exchange_rate_set(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=D("1.5"))
    Account.objects.create(name="A", owner=org.rep_east, annual_revenue=D("200"))
    Account.objects.create(name="B", owner=org.rep_east, annual_revenue=D("100"))
    Account.objects.create(name="C", owner=org.rep_east_2, annual_revenue=D("100"))
    Account.objects.create(name="D", owner=org.rep_east_2)  # no revenue: no weight
    Account.objects.create(
        name="E", owner=org.rep_london, annual_revenue=D("400"), revenue_currency="EUR"
    )  # 600 USD
    plan = make_plan(org, target="1000.00", basis=AllocationBasis.POTENTIAL)
    allocate(org, plan, as_of=dt.date(2026, 6, 1))
    year = amounts(plan)
    assert year[org.americas] == D("400.00") and year[org.emea] == D("600.00")
    assert year[org.east] == D("400.00") and year[org.west] == D("0.00")
    assert (year[org.rep_east], year[org.rep_east_2], year[org.rep_west]) == (
        D("300.00"),
        D("100.00"),
        D("0.00"),
    )
    assert year[org.rep_london] == D("600.00")


def test_potential_without_an_exchange_rate_is_refused(org):
    Account.objects.create(
        name="E", owner=org.rep_london, annual_revenue=D("400"), revenue_currency="EUR"
    )
    plan = make_plan(org, basis=AllocationBasis.POTENTIAL)
    with pytest.raises(DomainError) as error:
        allocate(org, plan, as_of=dt.date(2026, 6, 1))
    assert str(error.value) == (
        "No exchange rate for EUR on or before 2026-06-01: add one under Settings › Exchange rates."
    )
    assert not Quota.objects.exists()


def test_all_zero_weights_fall_back_to_equal_per_rep(org):
    plan = make_plan(org, target="1000.00", basis=AllocationBasis.POTENTIAL)
    allocate(org, plan)
    year = amounts(plan)
    assert (year[org.americas], year[org.emea], year[org.rep_west]) == (
        D("750.00"),
        D("250.00"),
        D("250.00"),
    )


def test_history_basis_weighs_last_years_won_bookings(org, pipeline):
    org_services.exchange_rate_set(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=D("1.5"))
    won(org, pipeline, org.rep_east, "5000", dt.date(2026, 3, 10))
    won(org, pipeline, org.rep_west, "2000", dt.date(2026, 9, 1), currency="EUR")  # 3,000 USD
    won(org, pipeline, org.rep_london, "2000", dt.date(2026, 12, 31))
    won(org, pipeline, org.rep_east_2, "9000", dt.date(2025, 12, 31))  # before the window
    won(org, pipeline, org.rep_east_2, "9000", dt.date(2027, 1, 1))  # in the plan year
    lost(org, pipeline, org.rep_east_2, "9000", dt.date(2026, 5, 1))
    plan = make_plan(org, target="100000.00", basis=AllocationBasis.HISTORY)
    assert selectors.history_window(plan, dt.date(2027, 3, 1)) == (
        dt.date(2026, 1, 1),
        dt.date(2027, 1, 1),
    )
    allocate(org, plan, as_of=dt.date(2027, 3, 1))
    year = amounts(plan)
    assert (year[org.americas], year[org.emea]) == (D("80000.00"), D("20000.00"))
    assert (year[org.east], year[org.west]) == (D("50000.00"), D("30000.00"))
    assert (year[org.rep_east], year[org.rep_east_2]) == (D("50000.00"), D("0.00"))
    # Allocating before the year starts: the 12 months up to and including as_of.
    assert selectors.history_window(plan, dt.date(2026, 6, 30)) == (
        dt.date(2025, 7, 1),
        dt.date(2026, 7, 1),
    )


def test_a_rep_hired_mid_year_carries_the_linear_ramp_of_their_ramp_months(org):
    new = hire(org.west, "new_hire", dt.date(2027, 5, 10), ramp_months=3)  # 25, 50, 75 %
    plan = make_plan(org, target="120000.00")  # 5 reps: 24,000 a year, 2,000 a month each
    allocate(org, plan)
    rows = {
        q.period_key: (q.amount, q.full_amount) for q in Quota.objects.filter(plan=plan, user=new)
    }
    months = [rows[f"2027-M{m:02d}"][0] for m in range(1, 13)]
    assert months == [D(x) for x in "0 0 0 0 500 1000 1500 2000 2000 2000 2000 2000".split()]
    assert {rows[f"2027-M{m:02d}"][1] for m in range(1, 13)} == {D("2000.00")}
    assert [rows[f"2027-Q{q:02d}"] for q in range(1, 5)] == [
        (D("0"), D("6000")),
        (D("1500"), D("6000")),
        (D("5500"), D("6000")),
        (D("6000"), D("6000")),
    ]
    assert rows["2027"] == (D("13000.00"), D("24000.00"))
    west = amounts(plan)[org.west]
    assert west == D("48000.00")  # teams keep the top-down amount
    _check_exact(plan)


def test_a_plan_ramp_profile_replaces_the_linear_ramp(org):
    new = hire(org.west, "new_hire", dt.date(2027, 5, 10), ramp_months=3)
    profile = quotas.ramp_profile_save(name="Fast", percents=["50", "80"], acting_user=org.ops)
    plan = make_plan(org, target="120000.00", ramp_profile=profile)
    allocate(org, plan)
    may, june, july = (
        Quota.objects.get(plan=plan, user=new, period_key=f"2027-M{m:02d}").amount
        for m in (5, 6, 7)
    )
    assert (may, june, july) == (D("1000.00"), D("1600.00"), D("2000.00"))
    assert selectors.linear_ramp(3) == [D(25), D(50), D(75)]
    assert selectors.linear_ramp(0) == []


@pytest.fixture
def territory_plan(org):
    """Live plan: World › Americas › (US East, US West), World › EMEA; accounts by country."""
    ops = org.ops
    plan = territory_services.plan_create_live(name="Live", acting_user=ops)
    save = lambda key, parent=None: territory_services.territory_save(  # noqa: E731
        plan=plan, acting_user=ops, key=key, name=key, parent=parent
    )
    world = save("world")
    americas = save("americas", world)
    t = {"world": world, "americas": americas, "emea": save("emea", world)}
    t["us-east"], t["us-west"] = save("us-east", americas), save("us-west", americas)
    rule = lambda **fields: territory_services.rule_save(plan=plan, acting_user=ops, fields=fields)  # noqa: E731
    rule(territory=t["us-west"], countries=["US"], regions=["CA"])
    rule(territory=t["us-east"], countries=["US"])
    rule(territory=t["emea"], catch_all=True)
    t["plan"] = plan
    return t


def _assign(org, territory_plan):
    day = dt.date(2026, 6, 1)
    run = runs.assignment_run_create(
        plan=territory_plan["plan"],
        effective_date=day,
        acting_user=org.ops,
        today=day,
        reassign_open_deals=False,
    )
    runs.assignment_run_execute(run_id=run.pk)


def test_territory_quotas_split_the_company_target_down_the_live_tree(org, territory_plan):
    t = territory_plan
    plan = make_plan(org, month_weights=SEASONAL)  # equal: one weight per leaf territory
    allocate(org, plan)
    year = amounts(plan)
    assert year[t["world"]] == D("1000000.01")
    assert year[t["americas"]] == D("666666.67")  # 2 of 3 leaves
    assert year[t["emea"]] == D("333333.34")
    assert year[t["us-east"]] + year[t["us-west"]] == year[t["americas"]]
    for key in [str(FY), *(f"{FY}-M{m:02d}" for m in range(1, 13))]:
        period = amounts(plan, key)
        assert period[t["world"]] == period[t["americas"]] + period[t["emea"]]
        assert period[t["americas"]] == period[t["us-east"]] + period[t["us-west"]]
    _check_exact(plan)


def test_territory_quotas_by_potential_of_the_accounts_in_them(org, territory_plan):
    t = territory_plan
    Account.objects.create(name="CA", owner=org.rep_west, country="US", region="CA",
                           annual_revenue=D("300"))  # fmt: skip
    Account.objects.create(name="NY", owner=org.rep_east, country="US", region="NY",
                           annual_revenue=D("100"))  # fmt: skip
    Account.objects.create(name="GB", owner=org.rep_london, country="GB",
                           annual_revenue=D("600"))  # fmt: skip
    _assign(org, territory_plan)
    plan = make_plan(org, target="1000.00", basis=AllocationBasis.POTENTIAL)
    allocate(org, plan)
    year = amounts(plan)
    assert [year[t[k]] for k in ("world", "americas", "us-west", "us-east", "emea")] == [
        D("1000.00"),
        D("400.00"),
        D("300.00"),
        D("100.00"),
        D("600.00"),
    ]


# --- Ops edits -----------------------------------------------------------------------------------


def test_quota_set_moves_the_quarter_and_year_and_is_audited_with_the_reason(org):
    plan = make_plan(org, target="120000.00")
    allocate(org, plan)
    march = Quota.objects.get(plan=plan, user=org.rep_east, period_key="2027-M03")
    assert march.amount == D("2500.00")
    quotas.quota_set(quota=march, amount=D("3000.00"), acting_user=org.ops, reason="Big renewal")
    rows = {q.period_key: q for q in Quota.objects.filter(plan=plan, user=org.rep_east)}
    assert rows["2027-M03"].amount == D("3000.00")
    assert rows["2027-Q01"].amount == D("8000.00")
    assert rows["2027"].amount == D("30500.00")
    assert rows["2027-M03"].full_amount == D("2500.00")  # a rep's full amount stays
    assert {rows[k].source for k in ("2027-M03", "2027-Q01", "2027")} == {QuotaSource.MANUAL}
    assert rows["2027-M02"].source == QuotaSource.TOP_DOWN
    changes = selectors.quota_changes(march)
    assert [(c.action, c.amount_before, c.amount_after) for c in changes] == [
        ("insert", None, D("2500.00")),
        ("update", D("2500.00"), D("3000.00")),
    ]
    assert changes[-1].user == org.ops and changes[-1].reason == "Big renewal"


def test_quota_set_of_a_team_quarter_respreads_its_months(org):
    plan = make_plan(org, target="120000.00")
    allocate(org, plan)
    q2 = Quota.objects.get(plan=plan, team=org.london, period_key="2027-Q02")
    quotas.quota_set(quota=q2, amount=D("10000.00"), acting_user=org.ops, reason="Hiring")
    rows = {q.period_key: q for q in Quota.objects.filter(plan=plan, team=org.london)}
    assert [rows[f"2027-M{m:02d}"].amount for m in (4, 5, 6)] == [
        D("3333.34"),
        D("3333.33"),
        D("3333.33"),
    ]
    assert rows["2027"].amount == rows["2027"].full_amount == D("32500.00")  # 30,000 + 2,500


def test_quota_set_needs_a_reason_and_a_valid_amount(org):
    plan = make_plan(org)
    allocate(org, plan)
    quota = Quota.objects.filter(plan=plan, user=org.rep_east).first()
    cases = [
        (D("100"), " ", "Say why the quota changes: a reason is required and kept in its history."),
        (D("-1"), "x", "A quota cannot be negative; got -1."),
        (D("1.005"), "x", "A quota is in whole USD cents; 1.005 has more decimals."),
    ]
    for amount, reason, message in cases:
        with pytest.raises(DomainError) as error:
            quotas.quota_set(quota=quota, amount=amount, acting_user=org.ops, reason=reason)
        assert str(error.value) == message
    with pytest.raises(NotAllowed):
        quotas.quota_set(quota=quota, amount=D(1), acting_user=org.manager_east, reason="x")


# --- Roll-up and gap -----------------------------------------------------------------------------


def test_bottom_up_and_gap_by_hand(org):
    hire(org.west, "new_hire", dt.date(2027, 5, 10), ramp_months=3)  # carries 13,000 of 24,000
    plan = make_plan(org, target="120000.00")
    allocate(org, plan)
    up = selectors.bottom_up(plan, "2027")
    assert up[org.west.pk] == D("37000.00")  # 24,000 + 13,000
    assert up[org.east.pk] == D("48000.00")
    assert up[org.americas.pk] == D("85000.00")
    assert up[org.emea.pk] == up[org.london.pk] == D("24000.00")
    rows = {row.team: row for row in selectors.top_down_vs_bottom_up(plan, "2027")}
    assert (rows[org.west].top_down, rows[org.west].gap) == (D("48000.00"), D("11000.00"))
    assert (rows[org.americas].top_down, rows[org.americas].gap) == (D("96000.00"), D("11000.00"))
    assert rows[org.emea].gap == D("0.00")
    q2 = {row.team: row for row in selectors.top_down_vs_bottom_up(plan, "2027-Q02")}
    assert q2[org.west].bottom_up == D("6000.00") + D("1500.00")  # April 0, May 500, June 1000
    # An ops edit of a rep shows up bottom-up, not top-down.
    quota = Quota.objects.get(plan=plan, user=org.rep_london, period_key="2027")
    quotas.quota_set(quota=quota, amount=D("30000.00"), acting_user=org.ops, reason="Territory")
    emea = {row.team: row for row in selectors.top_down_vs_bottom_up(plan, "2027")}[org.emea]
    assert (emea.top_down, emea.bottom_up, emea.gap) == (
        D("24000.00"),
        D("30000.00"),
        D("-6000.00"),
    )
    scoped = selectors.top_down_vs_bottom_up(plan, "2027", user=fresh(org.manager_east))
    assert [row.team for row in scoped] == [org.east]


# --- The grid ------------------------------------------------------------------------------------


def _grid_rows(grid):
    return [(row.kind, row.holder, row.depth) for row in grid.rows]


def test_the_grid_shows_each_user_what_they_may_see(org):
    plan = make_plan(org, target="120000.00")
    allocate(org, plan)
    grid = selectors.quota_grid(plan, kind="quarter", user=fresh(org.ops))
    assert [p.key for p in grid.periods] == [f"2027-Q{q:02d}" for q in range(1, 5)]
    east_reps = by_name([org.rep_east, org.rep_east_2])
    assert _grid_rows(grid) == [
        ("team", org.americas, 0),
        ("team", org.east, 1),
        *[("rep", rep, 2) for rep in east_reps],
        ("team", org.west, 1),
        ("rep", org.rep_west, 2),
        ("team", org.emea, 0),
        ("team", org.london, 1),
        ("rep", org.rep_london, 2),
    ]
    assert grid.totals == [D("30000.00")] * 4 and grid.total == D("120000.00")
    assert grid.rows[0].total == D("90000.00")

    rep = selectors.quota_grid(plan, kind="month", user=fresh(org.rep_east))
    assert _grid_rows(rep) == [("team", org.east, 0), ("rep", org.rep_east, 1)]
    assert rep.totals == [D("2500.00")] * 12  # only their own quota adds up

    manager = selectors.quota_grid(plan, user=fresh(org.vp_americas))
    assert [holder for _kind, holder, _depth in _grid_rows(manager)] == [
        org.americas,
        org.east,
        *east_reps,
        org.west,
        org.rep_west,
    ]
    assert manager.total == D("90000.00")
    front_line = selectors.quota_grid(plan, user=fresh(org.manager_east))
    assert _grid_rows(front_line) == [("team", org.east, 0), *[("rep", r, 1) for r in east_reps]]
    with pytest.raises(DomainError):
        selectors.quota_grid(plan, kind="year", user=org.ops)


# --- Review chain and publishing -----------------------------------------------------------------


def _review(plan, team):
    return plan.reviews.get(team=team)


def decide(plan, team, user, accept=True, comment=""):
    return quotas.quota_review_decide(
        review=_review(plan, team), accept=accept, comment=comment, acting_user=fresh(user)
    )


def test_the_review_chain_runs_top_down_and_sending_back_returns_to_draft(org):
    plan = make_plan(org)
    with pytest.raises(DomainError) as error:
        quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    assert str(error.value) == "Allocate FY2027 quotas before proposing them."
    allocate(org, plan)
    plan = quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    assert plan.status == QuotaPlanStatus.IN_REVIEW
    assert sorted((r.team.name, r.level, r.reviewer.username) for r in plan.reviews.all()) == [
        ("Americas", 0, "vp_americas"),
        ("EMEA", 0, "vp_emea"),
        ("East", 1, "manager_east"),
        ("London", 1, "manager_london"),
        ("West", 1, "manager_west"),
    ]
    assert [r.team for r in selectors.reviews_waiting_for(org.vp_americas)] == [org.americas]
    assert list(selectors.reviews_waiting_for(org.manager_east)) == []

    with pytest.raises(DomainError) as error:
        decide(plan, org.east, org.manager_east)
    assert str(error.value) == f"Waiting for Americas ({org.vp_americas}) to accept first."
    decide(plan, org.americas, org.vp_americas)
    with pytest.raises(DomainError) as error:
        decide(plan, org.east, org.manager_east)
    assert str(error.value) == f"Waiting for EMEA ({org.vp_emea}) to accept first."
    with pytest.raises(DomainError) as error:
        decide(plan, org.emea, org.vp_emea, accept=False)
    assert str(error.value) == "Say what should change: sending the quotas back needs a comment."

    review = decide(plan, org.emea, org.vp_emea, accept=False, comment="London is too high")
    assert (review.status, review.comment) == (ReviewStatus.SENT_BACK, "London is too high")
    plan.refresh_from_db()
    assert plan.status == QuotaPlanStatus.DRAFT
    with pytest.raises(DomainError) as error:
        decide(plan, org.london, org.manager_london)
    assert str(error.value) == (
        "FY2027 quotas are draft, not in review; there is nothing to decide."
    )

    plan = quotas.quota_plan_propose(plan=plan, acting_user=org.ops)  # every review starts over
    assert set(plan.reviews.values_list("status", "comment")) == {(ReviewStatus.PENDING, "")}
    with pytest.raises(DomainError) as error:
        quotas.quota_plan_publish(plan=plan, acting_user=org.ops)
    assert str(error.value) == (
        "FY2027 quotas can be published once every manager has accepted them; they are in review."
    )
    for team, manager in [
        (org.americas, org.vp_americas),
        (org.emea, org.vp_emea),
        (org.east, org.manager_east),
        (org.west, org.manager_west),
    ]:
        decide(plan, team, manager)
        plan.refresh_from_db()
        assert plan.status == QuotaPlanStatus.IN_REVIEW
    with pytest.raises(DomainError) as error:
        decide(plan, org.west, org.manager_west)
    assert str(error.value) == "You have already decided on the FY2027 quotas of West (accepted)."
    decide(plan, org.london, org.manager_london)
    plan.refresh_from_db()
    assert plan.status == QuotaPlanStatus.APPROVED

    plan = quotas.quota_plan_publish(plan=plan, acting_user=org.ops)
    assert plan.status == QuotaPlanStatus.PUBLISHED
    assert plan.published_by == org.ops and plan.published_at is not None


def test_published_quotas_refuse_every_write(org):
    plan = make_plan(org)
    allocate(org, plan)
    quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    for team, manager in [
        (org.americas, org.vp_americas),
        (org.emea, org.vp_emea),
        (org.east, org.manager_east),
        (org.west, org.manager_west),
        (org.london, org.manager_london),
    ]:
        decide(plan, team, manager)
    plan = quotas.quota_plan_publish(plan=plan, acting_user=org.ops)
    quota = Quota.objects.filter(plan=plan).first()
    writes = [
        lambda: quotas.quota_set(quota=quota, amount=D(1), acting_user=org.ops, reason="x"),
        lambda: allocate(org, plan),
        lambda: quotas.quota_plan_propose(plan=plan, acting_user=org.ops),
        lambda: quotas.quota_plan_publish(plan=plan, acting_user=org.ops),
        lambda: decide(plan, org.london, org.manager_london),
    ]
    for write in writes:
        with pytest.raises(DomainError) as error:
            write()
        assert str(error.value) == LOCKED
    assert not Quota.objects.filter(plan=plan, source=QuotaSource.MANUAL).exists()


def test_a_profile_ramping_published_quotas_keeps_its_percents(org):
    profile = quotas.ramp_profile_save(name="Std", percents=[25, 50], acting_user=org.ops)
    plan = make_plan(org, ramp_profile=profile)
    allocate(org, plan)
    quotas.quota_plan_propose(plan=plan, acting_user=org.ops)
    for team, manager in [
        (org.americas, org.vp_americas),
        (org.emea, org.vp_emea),
        (org.east, org.manager_east),
        (org.west, org.manager_west),
        (org.london, org.manager_london),
    ]:
        decide(plan, team, manager)
    quotas.quota_plan_publish(plan=plan, acting_user=org.ops)
    with pytest.raises(DomainError) as error:
        quotas.ramp_profile_save(
            name="Std", percents=[30, 60], acting_user=org.ops, profile=profile
        )
    assert str(error.value) == (
        "Std ramps the published FY2027 quotas, so its percents cannot change; create a new "
        "profile instead."
    )
    renamed = quotas.ramp_profile_save(
        name="Standard", percents=[25, 50], acting_user=org.ops, profile=profile
    )
    assert renamed.name == "Standard"


# --- Permissions and input -----------------------------------------------------------------------


def test_only_sales_ops_plan_and_only_the_reviewer_decides(org):
    for person in (org.rep_east, org.manager_east, org.vp_americas, org.finance):
        with pytest.raises(NotAllowed) as error:
            quotas.quota_plan_create(
                fiscal_year=2030,
                target=D(1),
                currency="USD",
                basis=AllocationBasis.EQUAL,
                acting_user=fresh(person),
            )
        assert str(error.value) == "Only sales ops can create quota plans."
    plan = make_plan(org)
    for person in (org.rep_east, org.manager_east, org.finance):
        with pytest.raises(NotAllowed) as error:
            quotas.quota_plan_allocate(plan=plan, acting_user=fresh(person))
        assert str(error.value) == "Only sales ops can allocate quotas."
        with pytest.raises(NotAllowed) as error:
            quotas.quota_plan_publish(plan=plan, acting_user=fresh(person))
        assert str(error.value) == "Only sales ops can publish quotas."
        with pytest.raises(NotAllowed):
            quotas.quota_plan_propose(plan=plan, acting_user=fresh(person))
    allocate(org, plan)
    quotas.quota_plan_propose(plan=plan, acting_user=fresh(org.admin))  # admins may too
    for person in (org.vp_emea, org.ops, org.manager_east):
        with pytest.raises(NotAllowed) as error:
            decide(plan, org.americas, person)
        assert str(error.value) == (
            f"Only {org.vp_americas} reviews the FY2027 quotas of Americas."
        )
    assert _review(plan, org.americas).status == ReviewStatus.PENDING


def test_plan_input_is_checked(org):
    cases = [
        ({"currency": "EUR"}, "Quotas are set in the corporate currency, USD; give the target in USD, not EUR."),
        ({"target": "-5"}, "The target cannot be negative; got -5."),
        ({"basis": "luck"}, "'luck' is not an allocation basis (potential, history, equal)."),
        ({"month_weights": [D(1)] * 11}, "Seasonality needs 12 monthly weights (fiscal months 1-12); got 11."),
        ({"month_weights": [D(0)] * 12}, "Monthly weights add up to zero; give at least one month a weight."),
        ({"month_weights": [D("1.23456")] * 12}, "Fiscal month 1: 1.23456 does not fit; month weights are below 1000 with at most 4 decimals (percents of the year fit)."),
    ]  # fmt: skip
    for fields, message in cases:
        arguments = {
            "fiscal_year": FY,
            "target": D("100"),
            "currency": "USD",
            "basis": AllocationBasis.EQUAL,
            **fields,
        }
        with pytest.raises(DomainError) as error:
            quotas.quota_plan_create(acting_user=org.ops, **arguments)
        assert str(error.value) == message
    plan = make_plan(org)
    assert plan.month_weights == [D(1)] * 12 and plan.status == QuotaPlanStatus.DRAFT
    with pytest.raises(DomainError) as error:
        make_plan(org)
    assert str(error.value) == "There is already a quota plan for FY2027; change that one instead."
    with pytest.raises(DomainError) as error:
        quotas.ramp_profile_save(name="Odd", percents=[50, 120], acting_user=org.ops)
    assert str(error.value) == "Tenure month 2: '120' is not a percentage from 0 to 100."


# --- Capacity ------------------------------------------------------------------------------------


def test_capacity_by_hand(org):
    plan = make_plan(org, target="120000.00")  # 10,000 a month
    result = selectors.capacity_for_plan(
        plan=plan, productivity=D("2500"), annual_attrition=D(0), backfill_months=1
    )  # 4 ramped reps x 2,500 = 10,000 a month
    assert [row.capacity for row in result.rows] == [D("10000.00")] * 12
    assert (result.total.capacity, result.total.target, result.total.gap) == (
        D("120000.00"),
        D("120000.00"),
        D("0.00"),
    )
    assert result.total.coverage_ratio == D("1.0000") and result.reachable

    # A rep starting in February with a 1-month ramp (50 %), and a planned hire in July on the
    # default 3-month ramp (25, 50, 75 %).
    hire(org.west, "february", dt.date(2027, 2, 1), ramp_months=1)
    result = selectors.capacity_for_plan(
        plan=plan,
        productivity=D("2500"),
        annual_attrition=D(0),
        backfill_months=1,
        planned_hires={dt.date(2027, 7, 1): 1},
    )
    extra = [0, 1250, 2500, 2500, 2500, 2500, 3125, 3750, 4375, 5000, 5000, 5000]
    assert [row.capacity for row in result.rows] == [D(10000 + e) for e in extra]
    assert result.total.capacity == D("157500.00") and result.reachable  # 120,000 + 37,500
    short = selectors.capacity_for_plan(
        plan=plan, productivity=D("1000"), annual_attrition=D(0), backfill_months=1
    )
    assert not short.reachable and short.total.gap > 0
    with pytest.raises(DomainError) as error:
        selectors.capacity_for_plan(
            plan=plan, productivity=D("1000"), annual_attrition=D(2), backfill_months=1
        )
    assert "Annual attrition is a fraction from 0 to 1" in str(error.value)


def test_productivity_from_history_by_hand(org, pipeline):
    for month in range(1, 13):  # 48,000 booked in calendar 2026 by 4 ramped reps
        won(org, pipeline, org.rep_east, "4000", dt.date(2026, month, 15))
    won(org, pipeline, org.rep_west, "99999", dt.date(2027, 1, 5))  # in as_of's month: not yet
    assert selectors.productivity_from_history(dt.date(2027, 1, 20)) == D("1000.00")
    # A rep hired in July 2026 with a 1-month ramp adds 0.5 + 5 = 5.5 rep-months.
    hire(org.west, "july", dt.date(2026, 7, 1), ramp_months=1)
    assert selectors.productivity_from_history(dt.date(2027, 1, 20)) == D("897.20")  # 48,000/53.5
    assert selectors.productivity_from_history(dt.date(2020, 1, 1)) is None  # nobody hired yet


# --- Attainment ----------------------------------------------------------------------------------


def test_attainment_by_hand(org, pipeline):
    org_services.exchange_rate_set(currency="EUR", valid_from=dt.date(2027, 1, 1), rate=D("1.5"))
    plan = make_plan(org, target="1200000.00")  # 300,000 a rep, 75,000 a quarter
    allocate(org, plan)
    won(org, pipeline, org.rep_east, "30000", dt.date(2027, 2, 10))
    won(org, pipeline, org.rep_east, "10000", dt.date(2027, 5, 2), currency="EUR")  # 15,000
    won(org, pipeline, org.rep_east, "7777", dt.date(2026, 12, 31))  # last year
    won(org, pipeline, org.rep_east_2, "5000", dt.date(2027, 3, 31))
    won(org, pipeline, org.rep_west, "8000", dt.date(2027, 3, 1))  # another team
    lost(org, pipeline, org.rep_east, "50000", dt.date(2027, 2, 1))
    year = selectors.attainment(user=org.rep_east, period_key="2027", plan=plan)
    assert (year.quota, year.bookings, year.attainment) == (
        D("300000.00"),
        D("45000.00"),
        D("0.1500"),
    )
    q1 = selectors.attainment(user=org.rep_east, period_key="2027-Q01", plan=plan)
    assert (q1.quota, q1.bookings, q1.attainment) == (D("75000.00"), D("30000.00"), D("0.4000"))
    east = selectors.attainment(team=org.east, period_key="2027", plan=plan)
    assert (east.quota, east.bookings, east.attainment) == (
        D("600000.00"),
        D("50000.00"),
        D("0.0833"),
    )
    americas = selectors.attainment(team=org.americas, period_key="2027-Q01", plan=plan)
    assert americas.bookings == D("43000.00")  # 30,000 + 5,000 + 8,000
    unplanned = make_plan(org, fiscal_year=2028)
    none = selectors.attainment(user=org.rep_east, period_key="2028", plan=unplanned)
    assert (none.quota, none.bookings, none.attainment) == (None, D(0), None)
    with pytest.raises(DomainError) as error:
        selectors.attainment(user=org.rep_east, period_key="2026-Q01", plan=plan)
    assert str(error.value) == "FY2026 Q1 is not in FY2027; pick a period of the plan's year."

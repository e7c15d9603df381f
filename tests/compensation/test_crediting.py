"""Crediting: worked examples of compensation.crediting.write_credits, computed by hand.

The org (tests/conftest.py): Americas (vp_americas) › East (manager_east) with rep_east and
rep_east_2, and West (manager_west) with rep_west; EMEA (vp_emea) › London (manager_london) with
rep_london. The run is Q1 2025 (1 January to 31 March), in USD, the corporate currency.
"""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compensation.crediting import CreditsWritten, write_credits
from compensation.models import CommissionRun, Credit, RunStatus
from crm.models import Account, Deal
from crm.services import deal_create
from crm.splits import deal_splits_set
from salesops.errors import DomainError
from salesops.org.models import SalesRole, User
from salesops.org.roles import Role
from salesops.org.services import exchange_rate_set, rep_profile_create
from territories import services as territory_services
from territories.models import AccountTerritory, AssignmentRun, MemberRole
from territories.models import RunStatus as TRun
from tests import factories
from tests.crm.conftest import pipeline, stage  # noqa: F401  (the New Business pipeline fixture)

D = Decimal
Q1_START, Q1_END = dt.date(2025, 1, 1), dt.date(2025, 3, 31)
IN_Q1 = dt.date(2025, 2, 10)


@pytest.fixture
def run(db) -> CommissionRun:
    return CommissionRun.objects.create(
        period_kind="quarter", period_key="FY2025-Q1", label="Q1 FY2025",
        period_start=Q1_START, period_end=Q1_END, fiscal_year=2025, currency="USD",
    )  # fmt: skip


@pytest.fixture
def make_deal(org, pipeline):  # noqa: F811  (pipeline is the fixture imported above)
    """Makes a deal of ``owner`` (closed won in Q1 unless told), through the CRM service."""
    accounts: dict[int, Account] = {}

    def make(owner: User, amount, *, stage_name="Closed Won", close_date=IN_Q1, **fields) -> Deal:
        account = fields.pop("account", None) or accounts.get(owner.pk)
        if account is None:
            account = Account.objects.create(name=f"{owner} Corp", owner=owner, employees=250)
            accounts[owner.pk] = account
        deal = deal_create(
            acting_user=org.ops, account=account, name=f"Deal {amount}", owner=owner,
            pipeline=pipeline, stage=stage(pipeline, stage_name),
            amount=None if amount is None else D(amount), currency=fields.pop("currency", "USD"),
            close_date=close_date, lost_reason="Budget" if stage_name == "Closed Lost" else "",
            next_step=fields.pop("next_step", ""),
        )  # fmt: skip
        if fields:
            Deal.objects.filter(pk=deal.pk).update(**fields)
            deal.refresh_from_db()
        return deal

    return make


def credits(run: CommissionRun, *types: str, deal: Deal | None = None) -> list[tuple]:
    """(type, user, source user, percent, amount) of the run's credits, by username, sorted."""
    rows = Credit.objects.filter(run=run)
    if types:
        rows = rows.filter(credit_type__in=types)
    if deal is not None:
        rows = rows.filter(deal=deal)
    names = dict(User.objects.values_list("pk", "username"))
    return sorted(
        (c.credit_type, names[c.user_id], names.get(c.source_user_id), c.percent, c.amount)
        for c in rows
    )


def write(run: CommissionRun) -> CreditsWritten:
    return write_credits(run_id=run.pk, start=Q1_START, end=Q1_END)


def test_owner_is_credited_100_percent_with_the_deals_figures(org, run, make_deal):
    deal = make_deal(
        org.rep_east, "1000.00", product_family="Platform", units=7, gross_margin=D("400.50"),
        invoice_date=dt.date(2025, 4, 2),
    )  # fmt: skip
    written = write(run)
    assert written == CreditsWritten(rows=3, missing_rate_deals=[])
    assert credits(run, "owner") == [("owner", "rep_east", None, D(100), D("1000.00"))]
    credit = Credit.objects.get(run=run, credit_type="owner")
    assert (credit.deal_id, credit.deal_version, credit.close_date, credit.invoice_date) == (
        deal.pk, deal.version, IN_Q1, dt.date(2025, 4, 2),
    )  # fmt: skip
    assert (credit.acv, credit.gross_margin, credit.units) == (D("1000.00"), D("400.50"), D(7))
    assert (credit.pipeline_id, credit.deal_type, credit.new_logo) == (
        deal.pipeline_id,
        "new",
        True,
    )
    assert (credit.product_family, credit.segment, credit.term_months) == ("Platform", "mid", 12)


def test_an_unknown_margin_counts_as_zero_and_expansion_is_no_new_logo(org, run, make_deal):
    make_deal(org.rep_east, "10.00", type="expansion")
    write(run)
    credit = Credit.objects.get(run=run, credit_type="owner")
    assert (credit.gross_margin, credit.new_logo, credit.deal_type) == (D(0), False, "expansion")


def test_three_way_split_of_100_at_33_33_33_33_33_34(org, run, make_deal):
    deal = make_deal(org.rep_east, "100.00")
    deal_splits_set(
        deal=deal,
        splits=[
            (org.rep_east, "revenue", D("33.33")),
            (org.rep_east_2, "revenue", D("33.33")),
            (org.rep_west, "revenue", D("33.34")),
        ],
        acting_user=org.ops,
    )
    write(run)
    assert credits(run, "owner", "split") == [
        ("split", "rep_east", None, D("33.33"), D("33.33")),
        ("split", "rep_east_2", None, D("33.33"), D("33.33")),
        ("split", "rep_west", None, D("33.34"), D("33.34")),
    ]


def test_three_way_split_of_100_01_gives_the_cent_to_the_largest_remainder(org, run, make_deal):
    # 100.01 × 33.33 % = 33.333333 (remainder 0.003333) twice; × 33.34 % = 33.343334 (0.003334).
    # Cut down: 33.33 + 33.33 + 33.34 = 100.00; the one cent left goes to the 33.34 % part.
    deal = make_deal(org.rep_east, "100.01")
    deal_splits_set(
        deal=deal,
        splits=[
            (org.rep_east, "revenue", D("33.33")),
            (org.rep_east_2, "revenue", D("33.33")),
            (org.rep_west, "revenue", D("33.34")),
        ],
        acting_user=org.ops,
    )
    write(run)
    assert [c[4] for c in credits(run, "split")] == [D("33.33"), D("33.33"), D("33.35")]


def test_fifty_fifty_split_of_1000_01_gives_the_odd_cent_to_the_lowest_user_id(org, run, make_deal):
    # 1000.01 / 2 = 500.005 each: both cut to 500.00, equal remainders, the cent to the lower id
    # (rep_east was created before rep_east_2). Margin 333.33 → 166.665 each: same rule.
    deal = make_deal(org.rep_east, "1000.01", gross_margin=D("333.33"), units=3, term_months=24)
    deal_splits_set(
        deal=deal,
        splits=[(org.rep_east_2, "revenue", D(50)), (org.rep_east, "revenue", D(50))],
        acting_user=org.ops,
    )
    assert org.rep_east.pk < org.rep_east_2.pk
    write(run)
    by_user = {c.user_id: c for c in Credit.objects.filter(run=run, credit_type="split")}
    first, second = by_user[org.rep_east.pk], by_user[org.rep_east_2.pk]
    assert (first.amount, second.amount) == (D("500.01"), D("500.00"))
    assert (first.gross_margin, second.gross_margin) == (D("166.67"), D("166.66"))
    # ACV of 24 months: 1000.01 × 12 / 24 = 500.005 → 500.01 (half up), split 250.01 + 250.00.
    assert (first.acv, second.acv) == (D("250.01"), D("250.00"))
    assert (first.units, second.units) == (D("1.5"), D("1.5"))
    assert credits(run, "owner") == []  # revenue splits replace the owner's 100 %


def test_overlay_is_credited_on_top_without_reducing_the_owner(org, run, make_deal):
    deal = make_deal(org.rep_west, "500.00")
    deal_splits_set(deal=deal, splits=[(org.rep_london, "overlay", D(100))], acting_user=org.ops)
    write(run)
    assert credits(run) == [
        ("overlay", "rep_london", None, D(100), D("500.00")),
        ("owner", "rep_west", None, D(100), D("500.00")),
        # overlays do not roll up: only the owner's managers get a roll-up
        ("rollup", "manager_west", "rep_west", D(100), D("500.00")),
        ("rollup", "vp_americas", "rep_west", D(100), D("500.00")),
    ]


def test_overlay_at_a_part_is_rounded_half_up(org, run, make_deal):
    deal = make_deal(org.rep_west, "0.10")
    deal_splits_set(deal=deal, splits=[(org.rep_london, "overlay", D(25))], acting_user=org.ops)
    write(run)
    assert credits(run, "overlay") == [("overlay", "rep_london", None, D(25), D("0.03"))]


@pytest.fixture
def smb(org):
    """East SMB, under East: a third level, managed by a player-coach who also sells in it."""
    team = factories.team("East SMB", parent=org.east, manager=None)
    coach = factories.user(Role.MANAGER, username="coach_smb")
    rep_profile_create(
        user=coach, team=team, sales_role=SalesRole.AE, employee_id="COACH1",
        hire_date=dt.date(2024, 1, 1),
    )  # fmt: skip
    team.manager = coach
    team.save()
    return {"team": team, "coach": coach, "rep": factories.rep(team, username="rep_smb")}


def test_managers_of_the_team_and_every_team_above_get_roll_up(org, run, make_deal, smb):
    make_deal(smb["rep"], "900.00")
    write(run)
    assert credits(run, "rollup") == [
        ("rollup", "coach_smb", "rep_smb", D(100), D("900.00")),
        ("rollup", "manager_east", "rep_smb", D(100), D("900.00")),
        ("rollup", "vp_americas", "rep_smb", D(100), D("900.00")),
    ]


def test_a_manager_who_sells_gets_no_roll_up_from_their_own_deal(org, run, make_deal, smb):
    make_deal(smb["coach"], "200.00")  # the coach has a rep profile in the team they manage
    make_deal(org.manager_east, "300.00")  # no rep profile: rolls up from the team they manage
    write(run)
    assert credits(run, "rollup") == [
        ("rollup", "manager_east", "coach_smb", D(100), D("200.00")),
        ("rollup", "vp_americas", "coach_smb", D(100), D("200.00")),
        ("rollup", "vp_americas", "manager_east", D(100), D("300.00")),
    ]


def test_a_manager_reached_through_two_sellers_gets_one_roll_up_per_seller(org, run, make_deal):
    deal = make_deal(org.rep_east, "1000.01")
    deal_splits_set(
        deal=deal,
        splits=[(org.rep_east, "revenue", D(50)), (org.rep_west, "revenue", D(50))],
        acting_user=org.ops,
    )
    write(run)
    assert credits(run, "rollup") == [
        ("rollup", "manager_east", "rep_east", D(50), D("500.01")),
        ("rollup", "manager_west", "rep_west", D(50), D("500.00")),
        ("rollup", "vp_americas", "rep_east", D(50), D("500.01")),
        ("rollup", "vp_americas", "rep_west", D(50), D("500.00")),
    ]


@pytest.fixture
def north_south(org):
    """North and South, each with an overlay (se_north, se_south); rep_west owns North."""
    plan = territory_services.plan_create_live(name="FY25", acting_user=org.ops)
    made = {}
    for key in ("north", "south"):
        made[key] = territory_services.territory_save(
            plan=plan, acting_user=org.ops, key=key, name=key.title()
        )
        made[f"se_{key}"] = factories.user(Role.REP, username=f"se_{key}")
        territory_services.member_set(
            territory=made[key], user=made[f"se_{key}"], role=MemberRole.OVERLAY,
            acting_user=org.ops,
        )  # fmt: skip
    territory_services.member_set(
        territory=made["north"], user=org.rep_west, role=MemberRole.OWNER, acting_user=org.ops
    )
    made["assignment_run"] = AssignmentRun.objects.create(
        plan=plan, effective_date=dt.date(2024, 1, 1), status=TRun.DONE
    )
    return made


def test_territory_overlays_of_the_territory_on_the_close_date_are_credited(
    org, run, make_deal, north_south
):
    # The account sat in North until 15 February and is in South since (today's territory).
    account = Account.objects.create(
        name="Moved Inc", owner=org.rep_east, territory_id=north_south["south"].pk
    )
    for territory, start, end in [
        ("north", dt.date(2024, 1, 1), dt.date(2025, 2, 15)),
        ("south", dt.date(2025, 2, 16), None),
    ]:
        AccountTerritory.objects.create(
            account=account, territory=north_south[territory], owner=org.rep_east,
            valid_from=start, valid_to=end, run=north_south["assignment_run"],
        )  # fmt: skip
    on_last_north_day = make_deal(
        org.rep_east, "100.00", account=account, close_date=dt.date(2025, 2, 15)
    )
    in_south = make_deal(org.rep_east, "200.00", account=account, close_date=dt.date(2025, 3, 1))
    write(run)
    assert credits(run, "territory") == [
        ("territory", "se_north", "rep_east", D(100), D("100.00")),
        ("territory", "se_south", "rep_east", D(100), D("200.00")),
    ]
    assert credits(run, "territory", deal=on_last_north_day)[0][1] == "se_north"
    assert credits(run, "territory", deal=in_south)[0][1] == "se_south"


def test_without_a_span_the_accounts_territory_today_counts(org, run, make_deal, north_south):
    account = Account.objects.create(
        name="Unmoved Inc", owner=org.rep_east, territory_id=north_south["north"].pk
    )
    make_deal(org.rep_east, "100.00", account=account)
    write(run)
    # rep_west is an owner member of North, not an overlay: no territory credit.
    assert credits(run, "territory") == [("territory", "se_north", "rep_east", D(100), D("100.00"))]


def test_a_territory_overlay_already_credited_on_the_deal_is_not_credited_twice(
    org, run, make_deal, north_south
):
    account = Account.objects.create(
        name="Unmoved Inc", owner=org.rep_east, territory_id=north_south["north"].pk
    )
    deal = make_deal(org.rep_east, "100.00", account=account)
    deal_splits_set(
        deal=deal, splits=[(north_south["se_north"], "overlay", D(20))], acting_user=org.ops
    )
    write(run)
    assert credits(run, "overlay", "territory") == [
        ("overlay", "se_north", None, D(20), D("20.00"))
    ]


def test_foreign_currency_converts_at_the_rate_in_force_on_the_close_date(org, run, make_deal):
    exchange_rate_set(currency="EUR", valid_from=dt.date(2025, 1, 1), rate=D("1.0"))
    exchange_rate_set(currency="EUR", valid_from=dt.date(2025, 3, 1), rate=D("1.1"))
    exchange_rate_set(currency="EUR", valid_from=dt.date(2025, 3, 20), rate=D("1.5"))
    # 1234.55 EUR × 1.1 = 1358.005 → 1358.01 USD (half up); margin 100.00 × 1.1 = 110.00.
    deal = make_deal(
        org.rep_east, "1234.55", currency="EUR", close_date=dt.date(2025, 3, 15),
        gross_margin=D("100.00"),
    )  # fmt: skip
    written = write(run)
    credit = Credit.objects.get(run=run, deal=deal, credit_type="owner")
    assert (credit.amount, credit.acv, credit.gross_margin) == (
        D("1358.01"), D("1358.01"), D("110.00"),
    )  # fmt: skip
    assert written.missing_rate_deals == []


def test_a_deal_without_a_rate_on_its_close_date_is_left_out_and_reported(org, run, make_deal):
    exchange_rate_set(currency="GBP", valid_from=dt.date(2025, 3, 1), rate=D("1.25"))
    too_early = make_deal(org.rep_east, "100.00", currency="GBP", close_date=dt.date(2025, 2, 1))
    no_rate = make_deal(org.rep_east, "100.00", currency="JPY")
    fine = make_deal(org.rep_east, "100.00", currency="GBP", close_date=dt.date(2025, 3, 2))
    written = write(run)
    assert written.missing_rate_deals == sorted([too_early.pk, no_rate.pk])
    assert set(Credit.objects.filter(run=run).values_list("deal_id", flat=True)) == {fine.pk}
    assert Credit.objects.get(run=run, credit_type="owner").amount == D("125.00")


def test_deals_count_when_closed_or_invoiced_in_the_window(org, run, make_deal):
    invoiced_in_q1 = make_deal(
        org.rep_east, "1.00", close_date=dt.date(2024, 12, 20), invoice_date=dt.date(2025, 1, 5)
    )
    closed_in_q1 = make_deal(
        org.rep_east, "2.00", close_date=dt.date(2025, 3, 31), invoice_date=dt.date(2025, 4, 5)
    )
    make_deal(org.rep_east, "3.00", close_date=dt.date(2024, 12, 31))  # neither
    make_deal(org.rep_east, "4.00", close_date=dt.date(2025, 4, 1))  # neither
    write(run)
    owner = {c.deal_id: c for c in Credit.objects.filter(run=run, credit_type="owner")}
    assert set(owner) == {invoiced_in_q1.pk, closed_in_q1.pk}
    assert (owner[invoiced_in_q1.pk].close_date, owner[invoiced_in_q1.pk].invoice_date) == (
        dt.date(2024, 12, 20), dt.date(2025, 1, 5),
    )  # fmt: skip


def test_lost_open_and_amountless_deals_earn_nothing(org, run, make_deal):
    make_deal(org.rep_east, "100.00", stage_name="Closed Lost")
    make_deal(org.rep_east, "100.00", stage_name="Negotiation", next_step="Call")
    won_without_amount = make_deal(org.rep_east, "100.00")
    Deal.objects.filter(pk=won_without_amount.pk).update(amount=None)
    assert write(run) == CreditsWritten(rows=0, missing_rate_deals=[])
    assert not Credit.objects.filter(run=run).exists()


@pytest.mark.parametrize(
    ("term", "amount", "acv"),
    [
        (36, "36000.00", "12000.00"),  # 36 000 × 12 / 36
        (36, "1000.00", "333.33"),  # 333.333… rounded half up
        (12, "1000.00", "1000.00"),
        (6, "1000.00", "1000.00"),  # a term of a year or less: ACV is the amount
    ],
)
def test_acv_is_the_amount_over_the_terms_years(org, run, make_deal, term, amount, acv):
    make_deal(org.rep_east, amount, term_months=term)
    write(run)
    credit = Credit.objects.get(run=run, credit_type="owner")
    assert (credit.amount, credit.acv, credit.term_months) == (D(amount), D(acv), term)


def test_deal_ids_narrow_the_deals_credited(org, run, make_deal):
    wanted = make_deal(org.rep_east, "100.00")
    make_deal(org.rep_west, "200.00")
    out_of_window = make_deal(org.rep_east, "300.00", close_date=dt.date(2025, 4, 1))
    written = write_credits(
        run_id=run.pk, start=Q1_START, end=Q1_END, deal_ids=[wanted.pk, out_of_window.pk]
    )
    assert written.rows == 3
    assert set(Credit.objects.filter(run=run).values_list("deal_id", flat=True)) == {wanted.pk}
    assert write_credits(run_id=run.pk, start=Q1_START, end=Q1_END, deal_ids=[]).rows == 0


def test_a_settled_run_is_refused(org, run, make_deal):
    make_deal(org.rep_east, "100.00")
    CommissionRun.objects.filter(pk=run.pk).update(status=RunStatus.APPROVED)
    with pytest.raises(DomainError, match="Q1 FY2025 is approved"):
        write(run)
    assert not Credit.objects.filter(run=run).exists()


def _percent_lists():
    """1 to 5 whole percentages adding up to 100 (cut points of 0..100)."""
    cuts = st.lists(st.integers(1, 99), unique=True, max_size=4).map(sorted)
    return cuts.map(lambda c: [b - a for a, b in zip([0, *c], [*c, 100], strict=True)])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    percents=_percent_lists(),
    amount=st.decimals(min_value=0, max_value=D("9999999999.99"), places=2),
    margin=st.decimals(min_value=D("-99999.99"), max_value=D("99999.99"), places=2),
    term=st.integers(1, 120),
)
def test_split_credits_add_up_exactly_to_the_deal(
    org, run, make_deal, percents, amount, margin, term
):
    sellers = [org.rep_east, org.rep_east_2, org.rep_west, org.rep_london, org.manager_east]
    deal = make_deal(org.rep_east, amount, gross_margin=margin, term_months=term)
    deal_splits_set(
        deal=deal,
        splits=[(s, "revenue", D(p)) for s, p in zip(sellers, percents, strict=False)],
        acting_user=org.ops,
    )
    write(run)
    parts = list(Credit.objects.filter(run=run, deal=deal, credit_type="split"))
    assert len(parts) == len(percents)
    assert sum(c.amount for c in parts) == amount
    assert sum(c.gross_margin for c in parts) == margin
    owner_acv = (amount * 12 / term if term > 12 else amount).quantize(D("0.01"), "ROUND_HALF_UP")
    assert sum(c.acv for c in parts) == owner_acv
    for c in parts:  # each part is within a cent of its exact share
        assert abs(c.amount - amount * c.percent / 100) < D("0.01")

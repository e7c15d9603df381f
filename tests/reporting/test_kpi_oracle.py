"""The KPI engine against the pandas oracle (tests/reporting/oracle.py), on every KPI.

Two kinds of data: a generated organisation (deals simulated through their pipelines, with
stage history, leads and activities; plus a few edits through the services so managers own
deals, a manager runs two teams, accounts sit in territories, a rep has left and one deal has
no exchange rate), as it is now and as of past days, in UTC and in a time zone far from it; and
the real datasets in ../shared/data imported with the shipped presets.

Every difference is collected, with its metric, period, scope and breakdown, before the test
fails on them: counts must match exactly, sums to the cent, means, medians and ratios to 1e-6
relative; ratios' numerators and denominators are compared the same way; and both sides must
have the same (metric, period, scope, breakdown) rows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
from django.utils import timezone

from crm.models import Account, Activity, Deal, Stage
from crm.services import deal_create, deal_update
from reporting.engine import compute
from salesops.fiscal import PeriodKind
from salesops.org.generate import SCALES, generate_org
from salesops.org.models import RepProfile, Team, User
from salesops.org.selectors import fiscal_calendar
from salesops.org.services import team_create
from territories.models import Quota, QuotaPlan, QuotaPlanStatus
from tests.conftest import fresh
from tests.imports.conftest import dataset, import_file
from tests.reporting import oracle
from tests.reporting.oracle import COLUMNS, KEY

DOCS = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"
GENERATED_AS_OF = dt.date(2026, 10, 31)  # the generator's "today"; edits come after it
SF = "salesforce-dev-org-sample"
MAVEN = "maven-crm-sales-opportunities"
CENT = Decimal("0.01")
RELATIVE = Decimal("1e-6")

# How each figure is compared: "count" exactly, "money" to the cent, "close" to 1e-6 relative.
VALUE_KIND = {
    **dict.fromkeys(oracle.COUNTS, "count"),
    **dict.fromkeys(oracle.SUMS, "money"),
    **dict.fromkeys((*oracle.RATIOS, *oracle.MEDIANS, *oracle.DERIVED), "close"),
}
# Numerator and denominator of the ratios (the other KPIs' are not compared).
PARTS_KIND = {
    "win_rate": ("count", "count"),
    "win_rate_value": ("money", "money"),
    "average_deal_size": ("money", "count"),
    "cycle_length_mean": ("count", "count"),
    "stage_conversion": ("count", "count"),
    "time_in_stage": ("close", "count"),
    "meetings_per_rep": ("count", "count"),
    "quota_achievement_rate": ("count", "count"),
}


# --- comparing ----------------------------------------------------------------------------------
def engine_rows(as_of: dt.date | None) -> pd.DataFrame:
    rows = [asdict(row) for row in compute(as_of=as_of)]
    return pd.DataFrame(rows, columns=COLUMNS)


def same(kind: str, expected: Decimal | None, got: Decimal | None) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    expected, got = Decimal(expected), Decimal(got)
    if kind == "count":
        return expected == got
    if kind == "money":
        return expected.quantize(CENT, ROUND_HALF_UP) == got.quantize(CENT, ROUND_HALF_UP)
    return abs(expected - got) <= RELATIVE * max(abs(expected), abs(got), Decimal("1e-9"))


def differences(expected: pd.DataFrame, got: pd.DataFrame) -> list[tuple[str, str]]:
    """(metric, what) for every row missing from ``got``, every extra row, every figure that
    differs."""
    found: list[tuple[str, str]] = []
    for row in got[got.duplicated(KEY, keep=False)].itertuples(index=False, name=None):
        found.append((row[0], f"engine has this row more than once: {describe(row)}"))
    mine = {tuple(r[:6]): r for r in expected.itertuples(index=False, name=None)}
    theirs = {tuple(r[:6]): r for r in got.itertuples(index=False, name=None)}
    for key in sorted(mine.keys() - theirs.keys()):
        found.append((key[0], f"missing from the engine: {describe(key)} ({figures(mine[key])})"))
    for key in sorted(theirs.keys() - mine.keys()):
        found.append((key[0], f"not expected: {describe(key)} (engine {figures(theirs[key])})"))
    for key in sorted(mine.keys() & theirs.keys()):
        want, have = mine[key], theirs[key]
        metric = key[0]
        checks = [("value", VALUE_KIND[metric], 6)]
        if metric in PARTS_KIND:
            numerator_kind, denominator_kind = PARTS_KIND[metric]
            checks += [("numerator", numerator_kind, 7), ("denominator", denominator_kind, 8)]
        for name, kind, index in checks:
            expected_figure, engine_figure = want[index], have[index]
            if name != "value" and {expected_figure, engine_figure} <= {None, 0}:
                continue  # an empty count or sum under a ratio: 0 and blank say the same
            if not same(kind, expected_figure, engine_figure):
                found.append((
                    metric,
                    f"{describe(key)}: {name} expected {shown(expected_figure)},"
                    f" engine {shown(engine_figure)}"
                    f" (expected {figures(want)}; engine {figures(have)})",
                ))  # fmt: skip
    return found


def describe(key) -> str:
    metric, period_kind, period_key, scope_kind, scope_id, breakdown = tuple(key)[:6]
    stage = f" stage {breakdown}" if breakdown else ""
    return f"{metric} {period_kind} {period_key} {scope_kind} {scope_id}{stage}"


def figures(row) -> str:
    value, numerator, denominator = (shown(figure) for figure in row[6:9])
    return f"value={value} numerator={numerator} denominator={denominator}"


def shown(figure) -> str:
    return "0" if figure is not None and figure == 0 else str(figure)


def assert_engine_matches_oracle(as_of: dt.date | None) -> None:
    expected = oracle.expected(as_of)
    got = engine_rows(as_of)
    got = got[got["metric"].isin(oracle.METRICS)]  # others: see test_the_engine_computes_...
    assert not expected.empty, "the oracle found nothing to measure: the test data is missing"
    found = differences(expected, got)
    if found:
        by_metric: dict[str, list[str]] = {}
        for metric, what in found:
            by_metric.setdefault(metric, []).append(what)
        summary = ", ".join(f"{m}: {len(lines)}" for m, lines in sorted(by_metric.items()))
        report = [
            f"{len(found)} differences as of {as_of or 'now'} ({summary}); "
            f"{len(expected)} rows expected, the engine returned {len(got)}."
        ]
        for metric, lines in sorted(by_metric.items()):
            report += [f"--- {metric} ({len(lines)})", *lines]
        pytest.fail("\n".join(report), pytrace=False)


def documented_kpis() -> set[str]:
    """The KPI keys in the tables of docs/kpis.md."""
    return set(re.findall(r"^\| `(\w+)` \|", DOCS.read_text(encoding="utf-8"), flags=re.M))


def test_the_oracle_covers_every_documented_kpi():
    assert set(oracle.METRICS) == documented_kpis()


# --- a generated organisation -------------------------------------------------------------------
@pytest.fixture
def generated(db):
    """The demo-scale organisation as of GENERATED_AS_OF, then edited (today) through services."""
    generate_org(
        scale=SCALES["demo"], seed=7, as_of=GENERATED_AS_OF, steps=["crm.generate.generate_crm"]
    )
    admin = fresh(User.objects.get(username="admin"))
    leaves = list(Team.objects.filter(children__isnull=True).order_by("pk"))
    region = Team.objects.filter(parent__isnull=True).order_by("pk").first()

    # Territories on four accounts in five; none on the rest.
    for territory in range(1, 5):
        Account.objects.filter(pk__in=range(territory, 4001, 5)).update(territory_id=territory)

    # A front-line manager also runs a later team (their deals count to the lower id), and
    # managers without rep profiles take over open deals and hold meetings of their own.
    two_teams = leaves[0].manager
    Team.objects.filter(pk=leaves[-1].pk).update(manager=two_teams)
    managers = [two_teams, region.manager]
    open_deals = list(Deal.objects.open().order_by("pk").values_list("pk", flat=True))
    for n, deal_id in enumerate(open_deals[:12]):
        deal = Deal.objects.get(pk=deal_id)
        deal_update(deal=deal, acting_user=admin, expected_version=deal.version,
                    owner=managers[n % 2])  # fmt: skip
    now = timezone.now()
    for n, manager in enumerate(managers):
        account = Account.objects.order_by("pk")[n]
        Activity.objects.create(kind="demo", subject="Demo", owner=manager, account=account,
                                done_at=now - dt.timedelta(days=3))  # fmt: skip
        Activity.objects.create(kind="meeting", subject="Review", owner=manager,
                                deal=Deal.objects.order_by("pk")[n], done_at=now)  # fmt: skip

    # A deal moved to a close date before any EUR rate has no amount in USD.
    eur = Deal.objects.open().filter(currency="EUR", amount__isnull=False).order_by("pk").first()
    deal_update(deal=eur, acting_user=admin, expected_version=eur.version,
                close_date=dt.date(2020, 1, 15))  # fmt: skip
    # A probability set by hand; a new GBP deal with no close date (converted at D's rate).
    other = Deal.objects.open().exclude(pk=eur.pk).order_by("-pk").first()
    deal_update(deal=other, acting_user=admin, expected_version=other.version,
                probability=Decimal("33.00"))  # fmt: skip
    rep = RepProfile.objects.filter(active=True).order_by("pk").last().user
    prospecting = Stage.objects.get(pipeline__name="New Business", name="Prospecting")
    deal_create(acting_user=admin, account=Account.objects.filter(owner=rep).first(), owner=rep,
                name="No close date yet", stage=prospecting, amount=Decimal("1234.56"),
                currency="GBP")  # fmt: skip
    # A rep whose user is deactivated and one whose rep profile is: both still own deals and
    # hold meetings, neither counts in a team's headcount any more.
    profiles = list(RepProfile.objects.order_by("pk")[3:5])
    User.objects.filter(pk=profiles[0].user_id).update(is_active=False)
    RepProfile.objects.filter(pk=profiles[1].pk).update(active=False)
    quotas(carrying=[*RepProfile.objects.order_by("pk").values_list("user_id", flat=True)[3:],
                     two_teams.pk], team=leaves[0])  # fmt: skip
    return GENERATED_AS_OF


def quotas(*, carrying: list[int], team: Team) -> None:
    """Published plans for last (in euros) and this fiscal year with monthly quotas of 0 to
    400,000 (so some reps reach theirs and some do not) for ``carrying`` (not every rep; a
    manager); a quarter quota, a team quota and a draft plan for next year, which do not count."""
    calendar = fiscal_calendar()
    this_year = calendar.fiscal_year_of(GENERATED_AS_OF)
    ladder = [Decimal(amount) for amount in ("0", "20000", "60000", "120000", "200000", "400000")]

    def quota(plan, period, amount, **holder) -> Quota:
        return Quota(plan=plan, period_kind=period.kind.value, period_key=period.key,
                     period_start=period.start, period_end=period.end, amount=amount,
                     full_amount=amount, **holder)  # fmt: skip

    rows = []
    for year, status in ((this_year - 1, QuotaPlanStatus.PUBLISHED),
                         (this_year, QuotaPlanStatus.PUBLISHED),
                         (this_year + 1, QuotaPlanStatus.DRAFT)):  # fmt: skip
        # last year's plan in euros, as if made before the corporate currency changed
        currency = "EUR" if year < this_year else "USD"
        plan = QuotaPlan.objects.create(fiscal_year=year, target=Decimal(0), currency=currency,
                                        month_weights=[1] * 12, status=status)  # fmt: skip
        months = calendar.periods(year, PeriodKind.MONTH)
        for n, user_id in enumerate(carrying):
            for m, month in enumerate(months):
                rows.append(quota(plan, month, ladder[(n + 2 * m) % len(ladder)], user_id=user_id))
        rows.append(quota(plan, calendar.periods(year, PeriodKind.QUARTER)[0], Decimal(10**7),
                          user_id=carrying[0]))  # fmt: skip
        rows.append(quota(plan, months[0], Decimal(10**7), team=team))
    Quota.objects.bulk_create(rows)


@pytest.mark.parametrize(
    "as_of",
    ["now", "today", GENERATED_AS_OF, dt.date(2026, 3, 31), dt.date(2025, 2, 14)],
    ids=["now", "today", "generated-day", "2026-03-31", "2025-02-14"],
)
def test_generated_org_matches_the_oracle(generated, as_of):
    """As the deals are now (``as_of=None``), as of today (the same, rebuilt from history,
    edits included), and as of past days (before the edits)."""
    assert_engine_matches_oracle({"now": None, "today": timezone.localdate()}.get(as_of, as_of))


def test_the_engine_computes_the_documented_kpis_and_no_others(generated):
    computed = {row.metric for row in compute()}
    documented = documented_kpis()
    assert computed == documented, (
        f"computed but not in docs/kpis.md: {sorted(computed - documented)}; "
        f"in docs/kpis.md but not computed: {sorted(documented - computed)}"
    )


@pytest.mark.parametrize("as_of", [None, dt.date(2026, 1, 31)], ids=["now", "2026-01-31"])
def test_generated_org_in_a_time_zone_far_from_utc(generated, settings, as_of):
    """Histories are written between 08:00 and 17:00 UTC: in Auckland (UTC+13 in summer) many
    fall on the next local day, so every period boundary is tested."""
    settings.TIME_ZONE = "Pacific/Auckland"
    assert_engine_matches_oracle(as_of)


# --- the real datasets --------------------------------------------------------------------------
@pytest.fixture
def admin(org):
    return fresh(org.admin)


@pytest.fixture
def salesforce(org, admin, pipeline):
    steps = [
        ("User.csv", "salesforce-user"),
        ("account.csv", "salesforce-account"),
        ("contact.csv", "salesforce-contact"),
        ("lead.csv", "salesforce-lead"),
        ("opportunity.csv", "salesforce-opportunity"),
        ("OpportunityHistory.csv", "salesforce-opportunity-history"),
    ]
    for name, preset in steps:
        report = import_file(admin, dataset(f"{SF}/{name}"), preset=preset)
        assert report["error_count"] == 0, (name, report["errors"][:5])


@pytest.mark.parametrize(
    "as_of",
    [None, dt.date(2023, 10, 28), dt.date(2024, 6, 30)],
    ids=["now", "history-day", "2024-06-30"],
)
def test_salesforce_export_matches_the_oracle(salesforce, as_of):
    assert_engine_matches_oracle(as_of)


def test_salesforce_figures_from_source_md(salesforce):
    """The oracle itself on SOURCE.md's facts: 18 won deals worth 3,645,000, 13 open worth
    2,115,000, no lost deals; every opportunity closes in the (calendar) fiscal year 2023."""
    figures = oracle.expected(None)
    company_year = figures[
        (figures["scope_kind"] == "company")
        & (figures["period_kind"] == "year")
        & (figures["period_key"] == "2023")
    ].set_index("metric")["value"]
    assert company_year["won_deals"] == 18
    assert company_year["bookings"] == Decimal(3645000)
    assert company_year["open_deals"] == 13
    assert company_year["pipeline"] == Decimal(2115000)
    assert company_year["win_rate"] == 1
    assert company_year["lost_deals"] == 0


@pytest.fixture
def maven(org, admin, pipeline):
    """Maven's three offices as teams (the org fixture's East and West renamed, as in
    tests/imports/test_datasets.py), its agents, accounts and pipeline."""
    for team in (org.east, org.west):
        team.name = f"{team.name} Coast"
        team.save()
    for name in ("Central", "East", "West"):
        team_create(name=name, acting_user=admin)
    ops = fresh(org.ops)
    for name, preset, user in [
        ("sales_teams.csv", "maven-sales-teams", admin),
        ("accounts.csv", "maven-accounts", ops),
        ("sales_pipeline.csv", "maven-sales-pipeline", ops),
    ]:
        report = import_file(user, dataset(f"{MAVEN}/{name}"), preset=preset)
        assert report["error_count"] == 0, (name, report["errors"][:5])


def test_maven_pipeline_matches_the_oracle(maven):
    assert_engine_matches_oracle(None)


def test_maven_figures_from_source_md(maven):
    """The oracle itself on SOURCE.md's facts: 4,238 won deals worth 10,005,534 and 2,473 lost
    (the 2,089 open deals have no close date, so no period)."""
    figures = oracle.expected(None)
    years = figures[(figures["scope_kind"] == "company") & (figures["period_kind"] == "year")]
    totals = years.groupby("metric")["value"].agg(
        lambda values: sum((v for v in values if v is not None), Decimal(0))  # blanks: no quota
    )
    assert (totals["won_deals"], totals["lost_deals"]) == (4238, 2473)
    assert totals["bookings"] == Decimal(10005534)
    assert "open_deals" not in totals.index
    assert totals["deals_created"] == 8800

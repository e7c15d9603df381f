"""The shipped mappings on the real datasets in ../shared/data (see each folder's SOURCE.md).

Expected figures are the facts SOURCE.md states, cross-checked here against the file itself.
"""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from crm.models import Account, Contact, Deal, DealHistory, Lead
from salesops.org.models import RepProfile, User
from salesops.org.services import team_create
from tests.imports.conftest import dataset, import_file

SF = "salesforce-dev-org-sample"
MAVEN = "maven-crm-sales-opportunities"


def won_lost_open(deals) -> tuple[int, int, int]:
    return (
        deals.filter(stage__is_won=True).count(),
        deals.filter(stage__is_lost=True).count(),
        deals.open().count(),
    )


def test_salesforce_export_moves_over_with_its_history(org, admin, pipeline):
    steps = [
        ("User.csv", "salesforce-user"),
        ("account.csv", "salesforce-account"),
        ("contact.csv", "salesforce-contact"),
        ("lead.csv", "salesforce-lead"),
        ("opportunity.csv", "salesforce-opportunity"),
        ("OpportunityHistory.csv", "salesforce-opportunity-history"),
    ]
    reports = {}
    for name, preset in steps:
        reports[name] = import_file(admin, dataset(f"{SF}/{name}"), preset=preset)
        assert reports[name]["error_count"] == 0, (name, reports[name]["errors"][:5])

    # Only the human ("Standard") users come over; the org admin owns every record.
    assert reports["User.csv"]["summary"]["filtered_out"] == 5
    owner = User.objects.get(external_id="005Hp00000hnUYPIA2")
    assert (owner.first_name, owner.last_name) == ("Org", "Admin")
    assert Account.objects.filter(external_id__startswith="001").count() == 13
    edge = Account.objects.get(name="Edge Communications")
    assert (edge.owner, edge.employees, edge.domain) == (owner, 1000, "edgecomm.com")
    assert Contact.objects.filter(external_id__startswith="003").count() == 20
    assert Lead.objects.filter(external_id__startswith="00Q").count() == 22

    deals = Deal.objects.filter(external_id__startswith="006")
    # SOURCE.md: 31 opportunities, 18 Closed Won, none lost, 13 open; won 3,645,000, open 2,115,000.
    assert deals.count() == 31
    assert won_lost_open(deals) == (18, 0, 13)
    assert deals.filter(stage__is_won=True).aggregate(s=Sum("amount"))["s"] == Decimal(3645000)
    assert deals.open().aggregate(s=Sum("amount"))["s"] == Decimal(2115000)
    assert set(deals.values_list("owner", flat=True)) == {owner.pk}

    # OpportunityHistory: 2 rows per opportunity; the second moves the close date.
    history = DealHistory.objects.filter(external_id__isnull=False)
    assert history.count() == 62
    assert history.filter(changed_fields=["created"]).count() == 31
    assert history.filter(changed_fields=["close_date"]).count() == 31
    deal = Deal.objects.get(external_id="006Hp000015Yh7kIAC")
    moved = history.get(deal=deal, changed_fields=["close_date"])
    assert (str(moved.from_close_date), str(moved.to_close_date)) == ("2018-10-01", "2023-09-06")

    # Re-importing everything changes nothing.
    for name, preset in steps:
        again = import_file(admin, dataset(f"{SF}/{name}"), preset=preset)
        assert again["summary"]["create"] == 0 and again["summary"]["update"] == 0, name


@pytest.fixture
def regional_offices(org, admin):
    """Maven's three offices as teams (the shared org fixture's own East and West are renamed,
    since a team name in the file must name one team)."""
    for team in (org.east, org.west):
        team.name = f"{team.name} Coast"
        team.save()
    return {name: team_create(name=name, acting_user=admin) for name in ("Central", "East", "West")}


def test_maven_pipeline_imports_with_its_agents_and_accounts(org, admin, ops, pipeline,
                                                            regional_offices):  # fmt: skip
    teams = import_file(admin, dataset(f"{MAVEN}/sales_teams.csv"), preset="maven-sales-teams")
    assert teams["error_count"] == 0, teams["errors"][:5]
    assert RepProfile.objects.filter(team__in=regional_offices.values()).count() == 35
    accounts = import_file(ops, dataset(f"{MAVEN}/accounts.csv"), preset="maven-accounts")
    assert accounts["error_count"] == 0, accounts["errors"][:5]
    acme = Account.objects.get(name="Acme Corporation")
    assert (acme.industry, acme.annual_revenue, acme.country) == (
        "technology", Decimal("1100040000.00"), "US",
    )  # fmt: skip
    with dataset(f"{MAVEN}/accounts.csv").open(newline="") as handle:
        subsidiaries = [r for r in csv.DictReader(handle) if r["subsidiary_of"]]
    assert len(subsidiaries) == 15  # SOURCE.md
    assert {(a.name, a.parent.name) for a in Account.objects.filter(parent__isnull=False)} == {
        (r["account"], r["subsidiary_of"]) for r in subsidiaries
    }

    report = import_file(ops, dataset(f"{MAVEN}/sales_pipeline.csv"), preset="maven-sales-pipeline")
    assert report["error_count"] == 0, report["errors"][:5]
    deals = Deal.objects.all()
    # SOURCE.md: 8,800 deals; Won 4,238 · Lost 2,473 · Engaging 1,589 + Prospecting 500 open.
    assert deals.count() == 8800
    assert won_lost_open(deals) == (4238, 2473, 2089)
    assert deals.filter(stage__is_won=True).aggregate(s=Sum("amount"))["s"] == Decimal(10005534)
    # 1,425 open deals have no account: they share one placeholder account.
    assert deals.filter(account__name="No account (Maven import)").count() == 1425
    # 30 agents have deals; each deal belongs to the agent named in the file.
    assert deals.values("owner").distinct().count() == 30
    darcel = deals.get(external_id="Z063OYW0")
    assert (darcel.owner.get_full_name(), str(darcel.close_date), darcel.amount) == (
        "Darcel Schlecht", "2017-03-11", Decimal(4514),
    )  # fmt: skip
    assert darcel.created_at.date().isoformat() == "2016-10-25"
    assert DealHistory.objects.filter(changed_fields=["imported"]).count() == 8800


def test_maven_pipeline_without_its_agents_reports_every_unknown_owner(ops, pipeline):
    report = import_file(
        ops, dataset(f"{MAVEN}/sales_pipeline.csv"), preset="maven-sales-pipeline", commit=False
    )
    assert report["error_rows"] == 8800
    assert report["errors"][0] == {
        "row": 2, "field": "Owner", "message": "no user matches 'Moses Frase'",
    }  # fmt: skip
    assert not Deal.objects.exists() and not Account.objects.exists()


def test_ibm_win_loss_keeps_one_deal_per_opportunity(ops, pipeline):
    path = dataset("ibm-watson-sales-win-loss/WA_Fn-UseC_-Sales-Win-Loss.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first: dict[str, dict] = {}
    for row in rows:
        first.setdefault(row["Opportunity Number"], row)

    # Strict: repeated opportunity numbers whose rows differ are errors, and nothing is written.
    strict = import_file(ops, path, preset="ibm-sales-win-loss", repeated_keys="identical")
    assert strict["error_count"] > 0 and not Deal.objects.exists()
    assert {e["field"] for e in strict["errors"]} == {"External id"}

    report = import_file(ops, path, preset="ibm-sales-win-loss")
    assert report["error_count"] == 0, report["errors"][:5]
    assert report["rows"] == 78025
    assert report["summary"]["skipped_repeats"] == len(rows) - len(first)
    deals = Deal.objects.all()
    assert deals.count() == len(first)
    expected_won = [r for r in first.values() if r["Opportunity Result"] == "Won"]
    assert deals.filter(stage__is_won=True).count() == len(expected_won)
    assert deals.filter(stage__is_won=True).aggregate(s=Sum("amount"))["s"] == sum(
        Decimal(r["Opportunity Amount USD"]) for r in expected_won
    )
    sample = deals.get(external_id="1641984")
    assert (sample.close_date.isoformat(), (sample.closed_at - sample.created_at).days) == (
        "2015-06-30", 104,
    )  # fmt: skip
    assert deals.values("account").annotate(n=Count("id")).count() == 1

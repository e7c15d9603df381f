"""The import engine on small files built here: row errors, all-or-nothing, upsert, rules."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest

from crm.models import Account, Deal, DealHistory
from crm.services import stage_save
from salesops.errors import DomainError, NotAllowed
from tests.imports.conftest import import_file, stage

DEAL_MAPPING = {
    "fields": {
        "external_id": {"column": "Id"},
        "name": {"column": "Deal"},
        "account": {"column": "Account"},
        "owner": {"column": "Owner"},
        "stage": {"column": "Stage"},
        "amount": {"column": "Amount"},
        "close_date": {"column": "Close"},
        "next_step": {"column": "Next"},
        "lost_reason": {"column": "Lost reason"},
    },
    "options": {"pipeline": "New Business"},
}
HEADER = "Id,Deal,Account,Owner,Stage,Amount,Close,Next,Lost reason\n"


def csv_bytes(*lines: str) -> bytes:
    return (HEADER + "\n".join(lines) + "\n").encode()


@pytest.fixture
def acme(org):
    return Account.objects.create(name="Acme", owner=org.rep_east, external_id="A-1")


def deals(content: bytes, user, commit=True, mapping=DEAL_MAPPING) -> dict:
    return import_file(
        user, "deals.csv", target="deals", mapping=mapping, content=content, commit=commit
    )


def errors(report) -> list[tuple[int, str, str]]:
    return [(e["row"], e["field"], e["message"]) for e in report["errors"]]


def test_a_clean_file_is_previewed_then_committed_with_history(org, ops, pipeline, acme):
    content = csv_bytes(
        "D-1,Robots,Acme,rep_east,Discovery,1200.50,2026-12-31,,",
        "D-2,Arms,A-1,rep_east,Closed Lost,,,,Price",
    )
    preview = deals(content, ops, commit=False)
    assert preview["error_count"] == 0
    assert preview["summary"]["create"] == 2
    assert Deal.objects.count() == 0  # a dry run writes nothing

    report = deals(content, ops)
    assert report["written"] == {
        "created": 2, "updated": 0, "accounts_created": 0, "history_rows": 2,
    }  # fmt: skip
    robots = Deal.objects.get(external_id="D-1")
    assert (robots.owner, robots.stage.name, robots.amount) == (
        org.rep_east, "Discovery", Decimal("1200.50"),
    )  # fmt: skip
    assert robots.probability == stage(pipeline, "Discovery").probability
    arms = Deal.objects.get(external_id="D-2")
    assert arms.closed_at is not None and arms.lost_reason == "Price"
    rows = DealHistory.objects.filter(deal__in=[robots, arms])
    assert sorted(r.changed_fields[0] for r in rows) == ["imported", "imported"]
    assert {r.changed_by for r in rows} == {org.ops}


def test_row_errors_name_row_field_and_reason_and_nothing_is_written(org, ops, pipeline, acme):
    content = csv_bytes(
        "D-1,Good,Acme,rep_east,Prospecting,,,,",  # row 2: fine
        "D-2,Bad amount,Acme,rep_east,Prospecting,12x,,,",  # row 3: wrong type
        "D-3,Bad date,Acme,rep_east,Prospecting,,31/12/2026,,",  # row 4: wrong date format
        "D-4,Nobody,Acme,no_such_rep,Prospecting,,,,",  # row 5: unknown owner
        ",,Acme,rep_east,Prospecting,,,,",  # row 6: missing required name
        "D-1,Twice,Acme,rep_east,Prospecting,,,,",  # row 7: duplicate external id
        "D-7,No stage,Acme,rep_east,Qualify,,,,",  # row 8: unknown stage
        "D-8,No account,Nowhere Inc,rep_east,Prospecting,,,,",  # row 9: unknown account
    )
    report = deals(content, ops)
    assert errors(report) == [
        (3, "Amount", "not a number: '12x'"),
        (4, "Close date", "not a date like 2024-03-31: '31/12/2026'"),
        (5, "Owner", "no user matches 'no_such_rep'"),
        (6, "Name", "is required but empty"),
        (7, "External id", "External id 'D-1' is also on row 2"),
        (8, "Stage", "New Business has no stage 'Qualify' (stages: Prospecting, Discovery, "
                     "Proposal, Negotiation, Closed Won, Closed Lost)"),
        (9, "Account", "no account matches 'Nowhere Inc'"),
    ]  # fmt: skip
    assert report["error_rows"] == 7 and not report["committed"]
    assert Deal.objects.count() == 0 and DealHistory.objects.count() == 0


def test_exit_criteria_refuse_an_import_naming_the_missing_fields(org, ops, pipeline, acme):
    content = csv_bytes(
        "D-1,Needs all,Acme,rep_east,Proposal,100,2026-12-31,,",
        "D-2,Lost no reason,Acme,rep_east,Closed Lost,,,,",
        "D-3,Fine,Acme,rep_east,Proposal,100,2026-12-31,Call CFO,",
    )
    report = deals(content, ops)
    assert errors(report) == [
        (2, "Next step", "stage Proposal needs: Next step"),
        (3, "Lost reason", "stage Closed Lost needs: Lost reason"),
    ]
    assert not Deal.objects.exists()


def test_a_stage_ops_add_with_exit_criteria_is_enforced_on_import(org, ops, pipeline, acme):
    stage_save(
        acting_user=ops, pipeline=pipeline, name="Security review", probability=Decimal(60),
        forecast_category="best_case", required_fields=["primary_contact"], position=3,
    )  # fmt: skip
    report = deals(csv_bytes("D-1,Robots,Acme,rep_east,Security review,10,2026-12-31,x,"), ops)
    assert errors(report) == [
        (2, "Primary contact", "stage Security review needs: Primary contact")
    ]


def test_reimport_updates_by_external_id_with_history_and_version(org, ops, pipeline, acme):
    deals(csv_bytes("D-1,Robots,Acme,rep_east,Discovery,1000,2026-12-31,,"), ops)
    again = deals(csv_bytes("D-1,Robots,Acme,rep_east,Discovery,1000,2026-12-31,,"), ops)
    assert again["summary"]["unchanged"] == 1 and again["written"]["updated"] == 0

    report = deals(csv_bytes("D-1,Robots,Acme,rep_east_2,Proposal,1500,2027-01-31,Demo,"), ops)
    assert report["written"]["updated"] == 1 and report["written"]["created"] == 0
    deal = Deal.objects.get(external_id="D-1")
    assert (deal.stage.name, deal.amount, deal.owner, deal.version) == (
        "Proposal", Decimal("1500.00"), org.rep_east_2, 2,
    )  # fmt: skip
    last = DealHistory.objects.filter(deal=deal).order_by("-id").first()
    assert last.changed_fields == ["stage", "amount", "close_date", "owner", "forecast_category"]
    assert (last.from_stage.name, last.to_stage.name) == ("Discovery", "Proposal")
    assert (last.from_owner, last.to_owner) == (org.rep_east, org.rep_east_2)
    assert Deal.objects.count() == 1


def test_templates_defaults_and_value_maps(org, ops, pipeline, acme):
    mapping = {
        "fields": {
            "external_id": {"template": "{Id}-{Line}"},
            "name": {"template": "{Product} for {Account}"},
            "account": {"column": "Account"},
            "stage": {"column": "Result", "values": {"won": "Closed Won", "LOSS": "Closed Lost"}},
            "amount": {"column": "Value", "scale": "1000"},
            "close_date": {"default": "2026-06-30"},
            "lost_reason": {"default": "Not recorded"},
        },
        "options": {"pipeline": "New Business"},
    }
    content = b"Id,Line,Product,Account,Result,Value\n7,1,GTX,Acme,Won,1.5\n7,2,MG,Acme,Loss,2\n"
    report = import_file(ops, "x.csv", target="deals", mapping=mapping, content=content)
    assert report["error_count"] == 0, report["errors"]
    won, lost = Deal.objects.get(external_id="7-1"), Deal.objects.get(external_id="7-2")
    assert (won.name, won.stage.name, won.amount) == ("GTX for Acme", "Closed Won", Decimal(1500))
    assert won.close_date == dt.date(2026, 6, 30) and won.lost_reason == ""
    assert (lost.stage.name, lost.lost_reason) == ("Closed Lost", "Not recorded")


def test_xlsx_files_import_like_csv(org, ops, pipeline, acme):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER.strip().split(","))
    sheet.append(["D-1", "Robots", "Acme", "rep_east", "Discovery", 1200, dt.date(2026, 12, 31)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = import_file(
        ops, "deals.xlsx", target="deals", mapping=DEAL_MAPPING, content=buffer.getvalue()
    )
    assert report["error_count"] == 0, report["errors"]
    deal = Deal.objects.get(external_id="D-1")
    assert (deal.amount, deal.close_date) == (Decimal(1200), dt.date(2026, 12, 31))


def test_a_mapping_that_leaves_a_required_field_unfilled_is_refused(ops, pipeline):
    mapping = {"fields": {"name": {"column": "Deal"}}, "options": {}}
    with pytest.raises(
        DomainError, match="Map a column \\(or set a default\\) for: Account, Stage"
    ):
        deals(csv_bytes("D-1,Robots,Acme,rep_east,Discovery,,,,"), ops, mapping=mapping)


def test_people_without_the_import_permission_are_refused(org, pipeline, acme):
    content = csv_bytes("D-1,Robots,Acme,rep_east,Prospecting,,,,")
    for user in (org.rep_east, org.manager_east, org.finance):
        with pytest.raises(NotAllowed):
            deals(content, user)
    assert not Deal.objects.exists()


def test_accounts_with_parents_in_the_same_file_and_country_names(org, ops):
    mapping = {
        "fields": {
            "external_id": {"column": "Id"}, "name": {"column": "Name"},
            "parent": {"column": "Parent"}, "country": {"column": "Country"},
            "website": {"column": "Web"}, "owner": {"column": "Owner"},
        },
        "options": {},
    }  # fmt: skip
    content = (
        b"Id,Name,Parent,Country,Web,Owner\n"
        b"S-1,Acme Europe,P-1,Germany,https://www.acme.de/about,rep_london\n"
        b"P-1,Acme Group,,USA,,\n"
    )
    report = import_file(ops, "a.csv", target="accounts", mapping=mapping, content=content)
    assert report["error_count"] == 0, report["errors"]
    child, parent = Account.objects.get(external_id="S-1"), Account.objects.get(external_id="P-1")
    assert (child.parent, child.country, child.domain, child.owner) == (
        parent, "DE", "acme.de", org.rep_london,
    )  # fmt: skip
    assert (parent.country, parent.owner) == ("US", org.ops)

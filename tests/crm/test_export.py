"""Deal exports: the filtered list in scope, and nothing a spreadsheet would run as a formula."""

import csv
import io
from decimal import Decimal

import openpyxl

from crm.services import deal_create
from salesops.exports import safe_cell
from tests.conftest import fresh

EVIL = '=HYPERLINK("http://evil.example","click")'


def make(org, accounts, rep, name, amount=None):
    return deal_create(acting_user=fresh(rep), account=accounts[rep], name=name, amount=amount)


def test_safe_cell_neutralises_formula_triggers():
    for text in ("=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("Acme") == "Acme"
    assert safe_cell(Decimal("-5.00")) == Decimal("-5.00")  # numbers stay numbers
    assert safe_cell(None) == ""


def test_csv_export_is_scoped_filtered_and_formula_safe(client, org, pipeline, accounts):
    make(org, accounts, org.rep_east, EVIL, Decimal("100.00"))
    make(org, accounts, org.rep_east, "Plain deal")
    make(org, accounts, org.rep_west, "Someone else's")
    client.force_login(org.rep_east)
    response = client.get("/crm/deals/export.csv", {"q": "hyperlink"})
    assert response["Content-Disposition"] == 'attachment; filename="deals.csv"'
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["Id", "Deal", "Account"]
    assert len(rows) == 2
    assert rows[1][1] == "'" + EVIL
    assert rows[1][6] == "100.00"
    everything = b"".join(client.get("/crm/deals/export.csv").streaming_content).decode("utf-8-sig")
    assert "Someone else's" not in everything and "Plain deal" in everything


def test_xlsx_export_keeps_numbers_and_never_writes_formulas(client, org, pipeline, accounts):
    make(org, accounts, org.rep_east, EVIL, Decimal("2500.50"))
    client.force_login(org.rep_east)
    response = client.get("/crm/deals/export.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, row = [c.value for c in sheet[1]], sheet[2]
    assert header[1] == "Deal"
    assert row[1].value == "'" + EVIL and row[1].data_type == "s"
    assert row[6].value == 2500.5 and row[6].data_type == "n"
    assert all(cell.data_type != "f" for line in sheet.iter_rows() for cell in line)


def test_unknown_export_format_is_404(client, org):
    client.force_login(org.rep_east)
    assert client.get("/crm/deals/export.pdf").status_code == 404

"""A statement as an XLSX workbook: for payroll questions and the rep's own records.

Amounts are real numbers (not text), so the file sums in a spreadsheet; the total row holds the
statement's exact total as a value, equal to the sum of the lines above it. Text goes through
``salesops.exports.safe_cell``, so a deal or reason starting with ``=`` never runs as a formula.
"""

from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Font

from compensation.statements import Statement
from salesops.exports import safe_cell

HEADERS = [
    "Line", "Kind", "Component", "Measured period", "Measure", "Quota", "Attainment before %",
    "Attainment after %", "Tier", "Rate", "Exact amount", "Amount", "Currency",
]  # fmt: skip
MONEY_FORMAT = "#,##0.00"
CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def statement_filename(statement: Statement) -> str:
    """``statement-2027-Q01-rep_east.xlsx``: the run and the person, safe in a header."""
    who = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in statement.user.username)
    return f"statement-{statement.run.period_key}-{who}.xlsx"


def statement_xlsx(statement: Statement) -> bytes:
    """The statement's lines with amounts as numbers and a total row (the statement total)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Statement"
    run = statement.run
    sheet.append(["Commission statement"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(["Person", safe_cell(str(statement.user))])
    sheet.append(["Period", safe_cell(run.label), run.period_start, run.period_end])
    sheet.append(["Run status", run.get_status_display()])
    sheet.append(["Currency", statement.currency])
    sheet.append([])
    sheet.append(HEADERS)
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    for line in statement.lines:
        sheet.append(
            [
                line.pk,
                line.get_kind_display(),
                safe_cell(line.component_name),
                safe_cell(line.measured_label),
                line.measure,
                line.quota,
                line.attainment_before,
                line.attainment_after,
                safe_cell(line.tier),
                line.rate,
                line.exact_amount,
                line.amount,
                line.currency,
            ]
        )
        sheet.cell(sheet.max_row, 12).number_format = MONEY_FORMAT
    sheet.append(["Total", "", "", "", "", "", "", "", "", "", "", statement.total])
    total_row = sheet.max_row
    sheet.cell(total_row, 1).font = Font(bold=True)
    sheet.cell(total_row, 12).font = Font(bold=True)
    sheet.cell(total_row, 12).number_format = MONEY_FORMAT
    for column, width in zip(
        "ABCDEFGHIJKLM", (8, 22, 28, 18, 14, 14, 12, 12, 24, 12, 18, 14, 9), strict=True
    ):
        sheet.column_dimensions[column].width = width
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

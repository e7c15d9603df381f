"""Payroll files of an approved or paid commission run: one row per payee with employee id,
name, period, amount, currency and cost centre, as CSV or XLSX.

Only finance and admins export, and only settled runs (approved or paid): a run that may still
change must never reach payroll. Amounts are exact Decimal sums of each payee's lines; the file
is refused if its rows do not add up to the run's total to the cent. In CSV an amount is written
as text with two decimals (``-150.00``, no thousands separator); in XLSX as a number formatted
``#,##0.00``, so a spreadsheet's SUM gives the run total.

Audit: exporting writes no business data, so there is no pghistory event to attach a context
to; each export is logged (who, which run, rows, total) on the ``compensation.payroll`` logger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO

import pghistory
from django.db.models import Sum
from django.http import HttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from compensation.models import SETTLED, CommissionRun, PayoutLine
from compensation.run_selectors import payee_orgs
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.exports import EXPORT_FORMATS, export_response, safe_cell
from salesops.money import minor_unit
from salesops.org.models import User
from salesops.org.roles import Role

logger = logging.getLogger(__name__)

PAYROLL_HEADERS = ("Employee ID", "Name", "Period", "Amount", "Currency", "Cost centre")
AMOUNT_FORMAT = "#,##0.00"
PAYROLL_ROLES = (Role.FINANCE, Role.ADMIN)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class PayrollRow:
    """What payroll pays one person for one run."""

    user_id: int
    employee_id: str
    name: str
    period: str
    amount: Decimal
    currency: str
    cost_centre: str

    def cells(self) -> tuple:
        return (
            self.employee_id,
            self.name,
            self.period,
            self.amount,
            self.currency,
            self.cost_centre,
        )


def can_export_payroll(user: User) -> bool:
    """Finance and admins export payroll files."""
    return user.is_authenticated and user.role in PAYROLL_ROLES


def _require_exportable(run: CommissionRun, acting_user: User) -> None:
    if not can_export_payroll(acting_user):
        raise NotAllowed("Only finance and admins can export payroll files.")
    if run.status not in SETTLED:
        raise DomainError(
            f"The {run.label} run is {run.get_status_display().lower()}: payroll files come "
            "from approved or paid runs only. Approve the run first."
        )


def payroll_rows(*, run: CommissionRun, acting_user: User) -> list[PayrollRow]:
    """One row per payee of a settled run, by name; the rows add up to ``run.total`` exactly."""
    _require_exportable(run, acting_user)
    totals = dict(
        PayoutLine.objects.filter(run=run)
        .values("user_id")
        .annotate(total=Sum("amount"))
        .values_list("user_id", "total")
    )
    orgs = payee_orgs(totals)
    people = User.objects.filter(pk__in=totals).order_by("last_name", "first_name", "username")
    cent = minor_unit(run.currency)
    rows = [
        PayrollRow(
            user_id=person.pk,
            employee_id=orgs[person.pk].employee_id,
            name=str(person),
            period=run.label,
            amount=totals[person.pk].quantize(cent),
            currency=run.currency,
            cost_centre=orgs[person.pk].cost_centre,
        )
        for person in people
    ]
    file_total = sum((row.amount for row in rows), Decimal(0))
    if file_total != run.total:
        raise DomainError(
            f"The payees' lines add up to {file_total} but the {run.label} run's total is "
            f"{run.total}; the file was not made. Ask sales ops to check the run."
        )
    return rows


def _xlsx(rows: list[PayrollRow], sheet_title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title[:31])
    sheet.append(list(PAYROLL_HEADERS))
    for row in rows:
        cells = [safe_cell(value) for value in row.cells()]
        amount = WriteOnlyCell(sheet, value=row.amount)
        amount.number_format = AMOUNT_FORMAT
        cells[PAYROLL_HEADERS.index("Amount")] = amount
        sheet.append(cells)
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def payroll_filename(run: CommissionRun) -> str:
    return f"payroll-{run.period_key}"


def payroll_export(*, run: CommissionRun, acting_user: User, fmt: str) -> HttpResponse:
    """The run's payroll file as a download, ``fmt`` ``csv`` or ``xlsx``."""
    if fmt not in EXPORT_FORMATS:
        raise DomainError(f"Payroll files are csv or xlsx, not {fmt}.", field="format")
    rows = payroll_rows(run=run, acting_user=acting_user)
    filename = payroll_filename(run)
    if fmt == "csv":
        response = export_response(
            headers=PAYROLL_HEADERS, rows=[row.cells() for row in rows], filename=filename, fmt=fmt
        )
    else:
        response = HttpResponse(_xlsx(rows, filename), content_type=XLSX_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    with audit_context(
        acting_user=acting_user, reason="payroll_export", format=fmt, rows=len(rows),
        total=str(run.total),
    ):  # fmt: skip
        pghistory.create_event(run, label="payroll_export")
    logger.info(
        "payroll_export run=%s period=%s format=%s rows=%s total=%s by user=%s",
        run.pk, run.period_key, fmt, len(rows), run.total, acting_user.pk,
    )  # fmt: skip
    return response

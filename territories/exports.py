"""A plan's assignment rules as CSV: the file people bulk-edit and import back.

One row per rule in the order they are tried (the catch-all last); list conditions are joined
with ";"; empty cells are conditions not set. ``territories.importers`` reads the same format,
so an export imported unchanged gives the same rules. Text that a spreadsheet would run as a
formula gets a leading apostrophe (as in every export, ``salesops.exports.safe_cell``); the
import takes it off again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from salesops.exports import safe_cell
from territories.models import AssignmentRule, TerritoryPlan

RULE_COLUMNS = (
    "position", "territory_key", "name", "countries", "regions", "postal_prefixes", "industries",
    "segments", "employees_min", "employees_max", "revenue_min", "revenue_max",
    "named_account_ids", "catch_all",
)  # fmt: skip
LIST_COLUMNS = (
    "countries", "regions", "postal_prefixes", "industries", "segments", "named_account_ids",
)  # fmt: skip
LIST_SEPARATOR = ";"


def rule_rows(plan: TerritoryPlan) -> Iterator[list]:
    """The rules of ``plan`` as rows of ``RULE_COLUMNS`` values, in the order they are tried."""
    rules = (
        AssignmentRule.objects.filter(plan=plan)
        .select_related("territory")
        .order_by("catch_all", "position", "id")
    )
    for rule in rules:
        yield [_cell(rule, column) for column in RULE_COLUMNS]


def _cell(rule: AssignmentRule, column: str):
    if column == "territory_key":
        return rule.territory.key
    if column == "catch_all":
        return "yes" if rule.catch_all else "no"
    value = getattr(rule, column)
    if column in LIST_COLUMNS:
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def rules_csv(plan: TerritoryPlan) -> str:
    """The CSV text of ``plan``'s rules (with a BOM, so Excel reads it as UTF-8)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(RULE_COLUMNS)
    for row in rule_rows(plan):
        writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue()


def rules_csv_filename(plan: TerritoryPlan) -> str:
    return f"territory-rules-plan-{plan.pk}.csv"

"""Run an import: read, map, parse, check, plan, and (when committing) write — all or nothing.

The same function serves the dry run and the commit, so what the preview promises is what the
commit does. The commit re-checks everything inside its transaction (records may have changed
since the dry run) and rolls back entirely if any row fails.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.imports.fields import ImportField, parser_for
from salesops.imports.mapping import check_mapping, mapped_cells
from salesops.imports.reading import Table, read_table
from salesops.imports.targets import ImportContext, ImportTarget, Plan, Record, get_target

# The report keeps this many errors (the count is always exact); the rest are in the CSV.
REPORTED_ERRORS = 10_000
SAMPLE_SIZE = 10


@dataclass
class Outcome:
    report: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.report["error_count"]


def run_import(
    *, content: bytes, file_name: str, target_key: str, mapping: dict, acting_user, commit: bool,
    reason: str = "import",
) -> Outcome:  # fmt: skip
    """Check (and with ``commit``, write) ``content`` as ``target_key`` records.

    Raises ``DomainError`` for problems with the file or mapping as a whole; row problems are
    in the outcome's report, and then nothing is written.
    """
    target = get_target(target_key)
    table = read_table(content, file_name)
    mapping = check_mapping(mapping, table.columns, target.fields, target.all_options)
    context = ImportContext(
        acting_user=acting_user, options=mapping["options"], now=timezone.now(), commit=commit
    )
    _require_permissions(target, acting_user)
    records, skipped, filtered = _parse(table, mapping, target, context)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason=reason):
        plan = target.plan(records, context) if records else Plan()
        written: dict[str, int] = {}
        if commit and not context.errors:
            written = target.write(plan, context)
            _analyse_if_large(target, plan)
        else:
            transaction.set_rollback(True)
    return Outcome(_report(table, target, plan, context, skipped, filtered, written))


def _require_permissions(target: ImportTarget, user) -> None:
    needed = ("imports.add_importjob", *target.permissions)
    if not all(user.has_perm(p) for p in needed):
        raise NotAllowed(f"Your role does not allow importing {target.label.lower()}.")


def _parse(
    table: Table, mapping: dict, target: ImportTarget, context: ImportContext
) -> tuple[dict[int, Record], list[int], int]:
    """Typed records by spreadsheet row; type errors go to ``context``. Returns the records of
    rows without errors, the rows skipped as repeated keys, and how many the filter left out."""
    filtered = _filtered_out(table, mapping["options"])
    cells = mapped_cells(table, mapping, target.fields).drop(index=list(filtered))
    date_format = mapping["options"].get("date_format") or "iso"
    records: dict[int, Record] = {row: {} for row in cells.index}
    bad_rows: set[int] = set()
    for import_field in target.fields:
        if import_field.name not in cells:
            continue
        # Cells repeat (dates, stages, amounts): parse each distinct text once.
        parse = functools.lru_cache(maxsize=65536)(parser_for(import_field, date_format))
        scale = mapping["fields"][import_field.name].get("scale")
        if scale:
            parse = _scaled(parse, Decimal(str(scale)))
        _parse_column(cells[import_field.name], import_field, parse, records, bad_rows, context)
    skipped: list[int] = []
    if target.key_field and target.key_field in cells:
        keys = cells[target.key_field]
        skipped = _check_keys(table, keys, target, bad_rows, context)
    good = {row: record for row, record in records.items() if row not in bad_rows}
    return good, skipped, len(filtered)


def _scaled(parse, factor: Decimal):
    return lambda text: parse(text) * factor


def _parse_column(series, import_field: ImportField, parse, records, bad_rows, context) -> None:
    for row, text in series.items():
        if text == "":
            if import_field.required:
                context.error(row, import_field.name, "is required but empty")
                bad_rows.add(row)
            continue
        if import_field.max_length and len(text) > import_field.max_length:
            context.error(
                row, import_field.name,
                f"is {len(text)} characters long; at most {import_field.max_length} fit",
            )  # fmt: skip
            bad_rows.add(row)
            continue
        try:
            value = parse(text)
        except ValueError as error:
            context.error(row, import_field.name, str(error))
            bad_rows.add(row)
            continue
        if import_field.minimum is not None and value < import_field.minimum:
            context.error(
                row, import_field.name, f"must be at least {import_field.minimum}: {text}"
            )
            bad_rows.add(row)
            continue
        records[row][import_field.name] = value


def _check_keys(table: Table, keys, target: ImportTarget, bad_rows, context) -> list[int]:
    """Report a key that appears on several rows, or skip repeats as the option says.

    Returns the skipped rows."""
    policy = context.options.get("repeated_keys") or "error"
    label = target.labels[target.key_field]
    first_row: dict[str, int] = {}
    skipped = []
    frame = table.frame
    for row, key in keys.items():
        if key == "":
            continue
        if key not in first_row:
            first_row[key] = row
            continue
        earlier = first_row[key]
        if policy == "first" or (
            policy == "identical" and frame.loc[row].equals(frame.loc[earlier])
        ):
            skipped.append(row)
            bad_rows.add(row)  # not an error: the row is left out
            continue
        context.error(row, target.key_field, f"{label} '{key}' is also on row {earlier}")
        bad_rows.add(row)
    return skipped


def _filtered_out(table: Table, options: dict) -> set[int]:
    """Rows the "only rows where column has one of these values" option leaves out."""
    column = (options.get("filter_column") or "").strip()
    if not column:
        return set()
    if column not in table.columns:
        raise DomainError(f"The row filter names the column '{column}', which the file lacks.")
    wanted = {v.strip().lower() for v in str(options.get("filter_values") or "").split(",")}
    keep = table.frame[column].str.lower().isin(wanted)
    return set(table.frame.index[~keep])


def _report(
    table: Table, target: ImportTarget, plan: Plan, context: ImportContext, skipped: list[int],
    filtered: int, written: dict[str, int],
) -> dict[str, Any]:  # fmt: skip
    labels = target.labels
    errors = sorted(context.errors, key=lambda e: (e.row, e.field))
    sample = [target.describe(record) for record in plan.creates[:SAMPLE_SIZE]]
    return {
        "rows": len(table),
        "error_count": len(errors),
        "error_rows": len({e.row for e in errors}),
        "errors": [e.as_dict(labels) for e in errors[:REPORTED_ERRORS]],
        "summary": {**plan.summary(), "skipped_repeats": len(skipped), "filtered_out": filtered},
        "skipped_rows": skipped[:REPORTED_ERRORS],
        "notes": plan.notes
        + [f"{text} ({count} row{'s' * (count != 1)})" for text, count in context.notes.items()],
        "sample": sample,
        "written": written,
        "committed": bool(written),
    }


# Rows written from which an import refreshes its tables' statistics. A plan made on statistics
# from before a large load can be catastrophically slow: the KPI stage-stay query ran for
# minutes after an 8,800-deal import, planned for a nearly empty history table.
ANALYSE_FROM_ROWS = 1000


def _analyse_if_large(target: ImportTarget, plan: Plan) -> None:
    """Refresh the statistics of the tables a large import wrote, inside its transaction."""
    if target.tables and len(plan.creates) + len(plan.updates) >= ANALYSE_FROM_ROWS:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(target.tables)}")

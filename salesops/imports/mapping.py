"""A column mapping: which column (or template of columns) fills which field, with defaults and
value translations, plus the import's options. Stored as JSON on the job and in saved mappings:

    {"fields": {"name": {"column": "Name"},
                "external_id": {"template": "{Opportunity Number}-{Supplies Subgroup}"},
                "stage": {"column": "deal_stage", "values": {"Won": "Closed Won"}},
                "lost_reason": {"default": "Not recorded"}},
     "options": {"date_format": "iso", "null_values": "000000000000000AAA"}}

A default fills cells that are empty (or fills the field when no column is mapped). A value map
translates whole cell values (case-insensitive) before the field's type is checked. ``scale``
multiplies a number (revenue given in millions: ``"scale": "1000000"``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from salesops.errors import DomainError
from salesops.imports.fields import ImportField, ImportOption, Kind
from salesops.imports.reading import Table

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def normalise_header(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def guess_mapping(columns: Sequence[str], fields: Sequence[ImportField]) -> dict[str, Any]:
    """Map each field to the column whose header is its name, label or an alias."""
    by_header = {normalise_header(c): c for c in columns}
    guessed: dict[str, dict] = {}
    for import_field in fields:
        for candidate in (import_field.name, import_field.label, *import_field.aliases):
            column = by_header.get(normalise_header(candidate))
            if column is not None:
                guessed[import_field.name] = {"column": column}
                break
    return {"fields": guessed, "options": {}}


def check_mapping(
    mapping: dict[str, Any],
    columns: Sequence[str],
    fields: Sequence[ImportField],
    options: Sequence[ImportOption],
) -> dict[str, Any]:
    """The mapping, cleaned; refused with a message if it names unknown fields or columns, or
    leaves a required field with neither a column nor a default."""
    if not isinstance(mapping, dict):
        raise DomainError("A mapping is an object with 'fields' and 'options'.", field="mapping")
    known = {f.name: f for f in fields}
    cleaned: dict[str, dict] = {}
    for name, spec in (mapping.get("fields") or {}).items():
        if name not in known:
            raise DomainError(f"There is no field '{name}' to map to.", field="mapping")
        if not isinstance(spec, dict):
            raise DomainError(f"The mapping of '{name}' must be an object.", field="mapping")
        spec = {
            k: v
            for k, v in spec.items()
            if k in ("column", "template", "default", "values", "scale")
        }
        spec = {k: v for k, v in spec.items() if v not in (None, "", {})}
        column, template = spec.get("column"), spec.get("template")
        if column is not None and column not in columns:
            raise DomainError(
                f"{known[name].label} is mapped to the column '{column}', which the file lacks.",
                field="mapping",
            )
        if template is not None:
            missing = [c for c in _PLACEHOLDER.findall(template) if c not in columns]
            if missing:
                raise DomainError(
                    f"The template for {known[name].label} names columns the file lacks: "
                    f"{', '.join(missing)}.",
                    field="mapping",
                )
        if "scale" in spec and known[name].kind not in (Kind.DECIMAL, Kind.INTEGER):
            raise DomainError(
                f"Only numbers can be scaled, not {known[name].label}.", field="mapping"
            )
        if spec:
            cleaned[name] = spec
    unfilled = [
        f.label
        for f in fields
        if f.required
        and not any(k in cleaned.get(f.name, {}) for k in ("column", "template", "default"))
    ]
    if unfilled:
        raise DomainError(
            f"Map a column (or set a default) for: {', '.join(unfilled)}.", field="mapping"
        )
    option_values = {o.name: o.default for o in options}
    for name, value in (mapping.get("options") or {}).items():
        if name not in option_values:
            raise DomainError(f"There is no import option '{name}'.", field="mapping")
        option_values[name] = value
    return {"fields": cleaned, "options": option_values}


def null_tokens(options: dict[str, Any]) -> set[str]:
    text = options.get("null_values") or ""
    if isinstance(text, list | tuple):
        return {str(v).strip() for v in text if str(v).strip()}
    return {v.strip() for v in str(text).split(",") if v.strip()}


def mapped_cells(
    table: Table, mapping: dict[str, Any], fields: Sequence[ImportField]
) -> pd.DataFrame:
    """One text column per mapped field (index = spreadsheet row), after nulls, templates,
    defaults and value maps; "" means empty."""
    nulls = null_tokens(mapping["options"])
    frame = table.frame
    if nulls:
        frame = frame.where(~frame.isin(nulls), "")
    cells = pd.DataFrame(index=frame.index)
    for import_field in fields:
        spec = mapping["fields"].get(import_field.name)
        if not spec:
            continue
        if "column" in spec:
            series = frame[spec["column"]]
        elif "template" in spec:
            series = _fill_template(frame, spec["template"])
        else:
            series = pd.Series("", index=frame.index)
        if spec.get("values"):
            translations = {str(k).strip().lower(): str(v) for k, v in spec["values"].items()}
            lowered = series.str.lower()
            series = lowered.map(translations).where(lowered.isin(translations), series)
        if spec.get("default") not in (None, ""):
            series = series.where(series != "", str(spec["default"]))
        cells[import_field.name] = series
    return cells


def _fill_template(frame: pd.DataFrame, template: str) -> pd.Series:
    """``"{A} - {B}"`` per row; empty when every named column is empty on that row."""
    names = _PLACEHOLDER.findall(template)
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, …
    result = pd.Series("", index=frame.index)
    for position, part in enumerate(parts):
        result = result + (frame[part] if position % 2 else part)
    all_empty = (frame[names] == "").all(axis=1) if names else False
    return result.where(~all_empty, "").str.strip()

"""What an import target is, and the registry of targets apps contribute.

A target turns parsed rows into a *plan* (which records to create, which to update, with every
reference resolved and every business rule checked) and then writes the plan set-based. It
reports problems through ``ImportContext.error`` with the row and field; the engine writes
nothing when there is any.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from salesops.errors import DomainError
from salesops.imports.fields import COMMON_OPTIONS, ImportField, ImportOption

Record = dict[str, Any]  # field name -> parsed value; empty cells are absent


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": labels.get(self.field, self.field),
            "message": self.message,
        }


@dataclass
class ImportContext:
    acting_user: Any
    options: dict[str, Any]
    now: dt.datetime
    commit: bool
    errors: list[RowError] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)

    def note(self, text: str) -> None:
        """A remark for the preview, counted (\"… (12 rows)\")."""
        self.notes[text] = self.notes.get(text, 0) + 1

    def error(self, row: int, field_name: str, message: str) -> None:
        self.errors.append(RowError(row, field_name, message))

    def errors_on(self, rows: Iterable[int], field_name: str, message: str) -> None:
        for row in rows:
            self.error(row, field_name, message)


@dataclass
class Plan:
    """What a commit would do. ``creates``/``updates`` hold whatever the target writes later."""

    creates: list[Any] = field(default_factory=list)
    updates: list[Any] = field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # anything else ``write`` needs

    def summary(self) -> dict[str, int]:
        return {
            "create": len(self.creates),
            "update": len(self.updates),
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class Preset:
    """A shipped mapping for a known file layout (a Salesforce export, a public dataset)."""

    key: str
    name: str
    target: str
    mapping: dict[str, Any]
    # Headers a file must have for this preset to be offered first.
    headers: tuple[str, ...] = ()
    help: str = ""

    def fits(self, columns: Sequence[str]) -> bool:
        return bool(self.headers) and set(self.headers) <= set(columns)


class ImportTarget:
    """Base class. Subclasses set the class attributes and implement ``plan`` and ``write``."""

    key: str = ""
    label: str = ""
    description: str = ""
    # Django permissions the importing user needs (besides being allowed to import at all).
    permissions: tuple[str, ...] = ()
    fields: tuple[ImportField, ...] = ()
    options: tuple[ImportOption, ...] = ()
    # The field that identifies a record across imports (re-importing updates, never duplicates).
    key_field: str | None = "external_id"
    presets: tuple[Preset, ...] = ()
    # Tables ``write`` fills (with any its triggers fill): analysed after a large import, so the
    # queries that follow in the same transaction, or before autovacuum, see the new rows.
    tables: tuple[str, ...] = ()

    @property
    def all_options(self) -> tuple[ImportOption, ...]:
        return COMMON_OPTIONS + self.options

    @property
    def labels(self) -> dict[str, str]:
        return {f.name: f.label for f in self.fields}

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        raise NotImplementedError

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        raise NotImplementedError

    def describe(self, record: Record) -> str:
        """One line shown in the preview for a planned record."""
        return ", ".join(f"{self.labels.get(k, k)}: {v}" for k, v in list(record.items())[:4])


@cache
def _registry() -> dict[str, ImportTarget]:
    targets = {}
    for path in settings.SALESOPS_IMPORT_TARGETS:
        target = import_string(path)()
        targets[target.key] = target
    return targets


def all_targets() -> list[ImportTarget]:
    return list(_registry().values())


def get_target(key: str) -> ImportTarget:
    try:
        return _registry()[key]
    except KeyError:
        known = ", ".join(_registry())
        raise DomainError(f"There is no import of '{key}'; choose one of: {known}.") from None


def all_presets() -> list[Preset]:
    return [preset for target in all_targets() for preset in target.presets]


def get_preset(key: str) -> Preset:
    for preset in all_presets():
        if preset.key == key:
            return preset
    raise DomainError(f"There is no saved mapping '{key}'.", field="preset")

"""Exit criteria: which fields a deal must have before it may enter a stage.

One function decides it, and every path that moves a deal (board, form, API, import) goes
through ``crm.services``, which calls it; so a rule holds everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm.models import RequirableField, Stage


def _is_filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def deal_values(deal) -> dict[str, Any]:
    """The requirable fields of a saved deal, as ``missing_fields`` reads them."""
    values = {name: getattr(deal, name) for name in RequirableField.values}
    values["primary_contact"] = deal.primary_contact_id
    return values


def missing_fields(values: Mapping[str, Any], stage: Stage) -> list[str]:
    """The names of ``stage.required_fields`` that are empty in ``values``, in the stage's order."""
    return [name for name in stage.required_fields if not _is_filled(values.get(name))]


def missing_fields_message(
    deal_name: str, stage: Stage, missing: list[str], *, moving: bool = True
) -> str:
    """The refusal a person reads: which deal, which stage, which fields to fill in."""
    labels = ", ".join(RequirableField(name).label for name in missing)
    if moving:
        return f"To move '{deal_name}' to {stage.name}, fill in: {labels}."
    return f"'{deal_name}' is in {stage.name}, which needs: {labels}."

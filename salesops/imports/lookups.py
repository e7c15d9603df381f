"""Resolve the text in a reference cell ("jane@acme.com", "0015000000XyZ", "Acme Corp") to a record.

Lookups are built once per import for the distinct values in the file (one query per kind of
reference, not one per row), case-insensitively, and say when a value matches nothing or more
than one record, so the report can tell the person exactly what to fix.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Concat, Lower

T = TypeVar("T")


class Unresolved(Exception):
    """The reason a value matched no record, or several."""


class Lookup(Generic[T]):
    """Text → record, over the keys that ``keys_of(record)`` yields for each record."""

    def __init__(self, records: Iterable[T], keys_of: Callable[[T], Iterable[str]], noun: str):
        self.noun = noun
        self._index: dict[str, dict[Any, T]] = defaultdict(dict)
        for record in records:
            self.add(record, keys_of(record))

    def add(self, record: T, keys: Iterable[str]) -> None:
        identity = getattr(record, "pk", None) or id(record)
        for key in keys:
            if key:
                self._index[str(key).strip().lower()][identity] = record

    def get(self, text: str) -> T:
        found = list(self._index.get(text.strip().lower(), {}).values())
        if not found:
            raise Unresolved(f"no {self.noun} matches '{text}'")
        if len(found) > 1:
            names = ", ".join(sorted(str(r) for r in found)[:3])
            raise Unresolved(
                f"'{text}' matches {len(found)} {self.noun}s ({names}); use the external id"
            )
        return found[0]

    def matches(self, text: str) -> int:
        """How many records ``text`` names."""
        return len(self._index.get(text.strip().lower(), {}))

    def find(self, text: str) -> T | None:
        found = list(self._index.get(text.strip().lower(), {}).values())
        return found[0] if len(found) == 1 else None


def lowered(values: Iterable[str]) -> list[str]:
    return sorted({v.strip().lower() for v in values if v})


def user_lookup(queryset: QuerySet, values: Iterable[str]) -> Lookup:
    """Users by external id, email, username or full name ("First Last")."""
    keys = lowered(values)
    matches = (
        queryset.annotate(
            _full=Lower(Concat("first_name", Value(" "), "last_name")),
            _email=Lower("email"),
            _username=Lower("username"),
            _external=Lower("external_id"),
        )
        .filter(
            Q(_external__in=keys) | Q(_email__in=keys) | Q(_username__in=keys) | Q(_full__in=keys)
        )
        .select_related(None)
    )
    return Lookup(
        matches,
        lambda u: (u.external_id, u.email, u.username, f"{u.first_name} {u.last_name}".strip()),
        "user",
    )


def named_lookup(queryset: QuerySet, values: Iterable[str], noun: str, *, name_field="name"):
    """Records by external id or by name."""
    keys = lowered(values)
    matches = queryset.annotate(_name=Lower(name_field), _external=Lower("external_id")).filter(
        Q(_external__in=keys) | Q(_name__in=keys)
    )
    return Lookup(matches, lambda r: (r.external_id, getattr(r, name_field)), noun)

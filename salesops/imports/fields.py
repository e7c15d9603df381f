"""What a target's fields are, and how a spreadsheet cell becomes a typed value.

A parser takes the cell's text (already stripped, never empty) and returns the value or raises
``ValueError`` with the reason a person reads in the report ("not a number: '12,5x'").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import pycountry
from django.core.exceptions import ValidationError
from django.utils import timezone

from salesops.money import validate_currency


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    EMAIL = "email"
    COUNTRY = "country"
    CURRENCY = "currency"
    # A reference to another record (owner, account, stage …); the target resolves it in bulk.
    REFERENCE = "reference"


@dataclass(frozen=True)
class ImportField:
    """A field a row can fill. ``aliases`` are header names that map to it without asking."""

    name: str
    label: str
    kind: Kind = Kind.TEXT
    required: bool = False
    max_length: int | None = None
    choices: Sequence[tuple[str, str]] = ()
    help: str = ""
    aliases: tuple[str, ...] = ()
    minimum: Decimal | None = None

    @property
    def shows_value_map(self) -> bool:
        """Fields whose distinct source values the mapping page offers to translate."""
        return self.kind in (Kind.CHOICE, Kind.REFERENCE)


@dataclass(frozen=True)
class ImportOption:
    """A setting of the whole import (date format, a default pipeline …)."""

    name: str
    label: str
    kind: Kind = Kind.TEXT
    default: Any = ""
    choices: Sequence[tuple[str, str]] = ()
    help: str = ""


DATE_FORMATS: dict[str, tuple[str, ...]] = {
    "iso": ("%Y-%m-%d",),
    "us": ("%m/%d/%Y", "%m/%d/%y"),
    "eu": ("%d/%m/%Y", "%d.%m.%Y", "%d/%m/%y"),
}
DATE_FORMAT_CHOICES = [
    ("iso", "2024-03-31 (ISO)"),
    ("us", "03/31/2024 (month first)"),
    ("eu", "31/03/2024 (day first)"),
]
COMMON_OPTIONS = (
    ImportOption("date_format", "Dates look like", Kind.CHOICE, "iso", DATE_FORMAT_CHOICES),
    ImportOption(
        "null_values",
        "Also treat as empty",
        default="",
        help="Comma-separated cell values that mean 'no value', e.g. 000000000000000AAA, N/A.",
    ),
    ImportOption(
        "repeated_keys",
        "Rows that repeat a key (external id)",
        Kind.CHOICE,
        "error",
        [
            ("error", "are errors"),
            ("identical", "are skipped when the whole row repeats an earlier one, else errors"),
            ("first", "are skipped: the first row with a key wins"),
        ],
    ),
    ImportOption(
        "unknown_owner",
        "An owner that matches no user",
        Kind.CHOICE,
        "error",
        [("error", "is an error"), ("me", "becomes you (listed in the preview)")],
    ),
    ImportOption(
        "filter_column",
        "Only import rows where column",
        help="Leave empty to import every row.",
    ),
    ImportOption(
        "filter_values",
        "… has one of these values",
        help="Comma-separated, e.g. Standard (Salesforce users) or 0 (IsDeleted).",
    ),
)

_TRUE = {"1", "true", "yes", "y", "t", "x"}
_FALSE = {"0", "false", "no", "n", "f"}
_TIME_PART = re.compile(r"[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_integer(text: str) -> int:
    number = parse_decimal(text)
    if number != number.to_integral_value():
        raise ValueError(f"not a whole number: '{text}'")
    return int(number)


def parse_decimal(text: str) -> Decimal:
    cleaned = text.replace(",", "").replace(" ", "").replace("\u00a0", "")
    cleaned = cleaned.removeprefix("$").removeprefix("€").removeprefix("£")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not a number: '{text}'") from None
    if not number.is_finite():
        raise ValueError(f"not a number: '{text}'")
    return number


def parse_date(text: str, date_format: str = "iso") -> dt.date:
    """A date; a trailing time of day (Salesforce exports ``2023-09-06 00:00:00``) is ignored."""
    day_text = _TIME_PART.sub("", text)
    for pattern in DATE_FORMATS.get(date_format, DATE_FORMATS["iso"]):
        try:
            return dt.datetime.strptime(day_text, pattern).date()  # noqa: DTZ007 - a date only
        except ValueError:
            continue
    example = dict(DATE_FORMAT_CHOICES)[date_format].split(" ")[0]
    raise ValueError(f"not a date like {example}: '{text}'")


def parse_datetime(text: str, date_format: str = "iso") -> dt.datetime:
    """A moment; without a time zone the value is read as UTC (what exports write)."""
    if date_format == "iso":
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a date and time like 2024-03-31 14:05: '{text}'") from None
    else:
        day = parse_date(text, date_format)
        match = _TIME_PART.search(text)
        clock = dt.time.fromisoformat(match.group(0).strip(" T")) if match else dt.time()
        moment = dt.datetime.combine(day, clock)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def parse_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not yes/no (use 1/0, true/false or yes/no): '{text}'")


def parse_email(text: str) -> str:
    """An address of the shape name@domain.tld. Deliberately as lenient as the CRMs people
    export from (Salesforce accepts ``j.davis@expressl&t.net``): refusing what the old system
    held would block a migration over a typo the data-quality page can show instead."""
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in text):
        raise ValueError(f"not an email address: '{text}'")
    return text.lower()


def parse_country(text: str) -> str:
    """An ISO 3166 alpha-2 code from a code (US, USA) or an English name (United States)."""
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        pass
    try:  # search_fuzzy raises LookupError when nothing is near
        matches = pycountry.countries.search_fuzzy(text) if len(text) > 3 else []
    except LookupError:
        matches = []
    if len(matches) == 1:
        return matches[0].alpha_2
    raise ValueError(f"not a country name or ISO code: '{text}'")


def parse_currency(text: str) -> str:
    code = text.upper()
    try:
        validate_currency(code)
    except ValidationError:
        raise ValueError(f"not an ISO 4217 currency code: '{text}'") from None
    return code


def parser_for(import_field: ImportField, date_format: str) -> Callable[[str], Any]:
    """The function that turns a cell of ``import_field`` into its value."""
    kind = import_field.kind
    if kind == Kind.INTEGER:
        return parse_integer
    if kind == Kind.DECIMAL:
        return parse_decimal
    if kind == Kind.DATE:
        return lambda text: parse_date(text, date_format)
    if kind == Kind.DATETIME:
        return lambda text: parse_datetime(text, date_format)
    if kind == Kind.BOOLEAN:
        return parse_boolean
    if kind == Kind.EMAIL:
        return parse_email
    if kind == Kind.COUNTRY:
        return parse_country
    if kind == Kind.CURRENCY:
        return parse_currency
    if kind == Kind.CHOICE:
        return _choice_parser(import_field)
    return str


def _choice_parser(import_field: ImportField) -> Callable[[str], str]:
    by_text: dict[str, str] = {}
    for value, label in import_field.choices:
        by_text[str(value).lower()] = value
        by_text[str(label).lower()] = value
    allowed = ", ".join(str(value) for value, _ in import_field.choices)

    def parse(text: str) -> str:
        try:
            return by_text[text.lower()]
        except KeyError:
            raise ValueError(f"'{text}' is not one of: {allowed}") from None

    return parse

"""Money: Decimal amounts with an ISO 4217 currency, and the one rounding rule.

Rounding rule (the only one in SalesOps):
    Compute at full Decimal precision and round once, at the end, to the currency's minor unit
    (cents for USD/EUR, whole yen for JPY) with ROUND_HALF_UP: halves go away from zero, as in a
    spreadsheet's ROUND() and on payroll slips (2.345 -> 2.35, -2.345 -> -2.35).
    Splitting an amount into parts (splits, allocations) uses ``allocate``, which rounds each part
    and hands the leftover cents to the largest remainders, so the parts always add up exactly.

Conversion: ``convert`` multiplies by a rate taken from ``ExchangeRate`` (units of corporate
currency per unit of foreign currency) and rounds by the rule above.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision, list_currencies
from django.core.exceptions import ValidationError
from django.db import models

ROUNDING = ROUND_HALF_UP
MONEY_MAX_DIGITS = 18
MONEY_DECIMAL_PLACES = 2
RATE_DECIMAL_PLACES = 8

_KNOWN_CURRENCIES = frozenset(list_currencies())


def validate_currency(code: str) -> None:
    if code not in _KNOWN_CURRENCIES:
        raise ValidationError(f"'{code}' is not an ISO 4217 currency code (e.g. USD, EUR, GBP).")


def minor_unit(currency: str) -> Decimal:
    """The smallest coin of ``currency`` as an exponent: Decimal('0.01') for USD, '1' for JPY."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def round_money(amount: Decimal | int | str, currency: str) -> Decimal:
    """Round to the currency's minor unit by the documented rule (half away from zero)."""
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUNDING)


def allocate(amount: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Split ``amount`` by ``weights`` into rounded parts that add up to ``amount`` exactly.

    Largest-remainder method: each part is first rounded toward zero, then the leftover minor
    units go one by one to the parts with the largest remainders (ties to the earliest part).
    """
    if not weights:
        raise ValueError("allocate needs at least one weight.")
    total_weight = sum(weights, Decimal(0))
    if total_weight <= 0 or any(w < 0 for w in weights):
        raise ValueError("Weights must be non-negative and add up to more than zero.")
    amount = round_money(amount, currency)
    unit = minor_unit(currency)
    sign = -1 if amount < 0 else 1
    magnitude = abs(amount)
    exact = [magnitude * w / total_weight for w in weights]
    parts = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    leftover = int((magnitude - sum(parts, Decimal(0))) / unit)
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:leftover]:
        parts[i] += unit
    return [sign * p for p in parts]


def convert(amount: Decimal, rate: Decimal, to_currency: str) -> Decimal:
    """``amount`` times ``rate``, rounded to ``to_currency``'s minor unit."""
    return round_money(Decimal(amount) * Decimal(rate), to_currency)


class CurrencyField(models.CharField):
    """An ISO 4217 code, validated against the codes Babel knows."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("validators", [validate_currency])
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("validators", None)
        return name, path, args, kwargs


class AmountField(models.DecimalField):
    """A money amount: NUMERIC(18, 2). Store its currency in a CurrencyField beside it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


class RateField(models.DecimalField):
    """An exchange or commission rate: NUMERIC(18, 8)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", RATE_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

"""Money: the rounding rule, exact allocation, and conversion at the documented rate date."""

import datetime as dt
from decimal import Decimal

import pytest

from salesops.errors import DomainError
from salesops.money import allocate, round_money
from salesops.org import selectors, services


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "USD", "2.35"),
        ("-2.345", "USD", "-2.35"),
        ("2.344999", "USD", "2.34"),
        ("0.005", "EUR", "0.01"),
        ("1234.5", "JPY", "1235"),
        ("1.2345", "BHD", "1.235"),
    ],
)
def test_round_half_away_from_zero_to_the_minor_unit(amount, currency, expected):
    assert round_money(Decimal(amount), currency) == Decimal(expected)
    assert str(round_money(Decimal(amount), currency)) == expected


def test_allocate_adds_up_exactly():
    parts = allocate(Decimal("100.00"), [Decimal(1)] * 3, "USD")
    assert parts == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert sum(parts) == Decimal("100.00")


def test_allocate_gives_leftover_cents_to_largest_remainders():
    parts = allocate(Decimal("10.00"), [Decimal("0.335"), Decimal("0.33"), Decimal("0.335")], "USD")
    assert sum(parts) == Decimal("10.00")
    assert parts == [Decimal("3.35"), Decimal("3.30"), Decimal("3.35")]


def test_allocate_negative_amounts_mirror_positive_ones():
    assert allocate(Decimal("-0.05"), [Decimal(1), Decimal(1)], "USD") == [
        Decimal("-0.03"),
        Decimal("-0.02"),
    ]


def test_allocate_rejects_bad_weights():
    with pytest.raises(ValueError, match="non-negative"):
        allocate(Decimal(1), [Decimal(0), Decimal(0)], "USD")


def test_rate_in_force_is_the_latest_on_or_before_the_date(db):
    services.exchange_rate_set(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=Decimal("1.10"))
    services.exchange_rate_set(currency="EUR", valid_from=dt.date(2026, 3, 1), rate=Decimal("1.20"))
    assert selectors.exchange_rate_on("EUR", dt.date(2026, 2, 28)) == Decimal("1.10")
    assert selectors.exchange_rate_on("EUR", dt.date(2026, 3, 1)) == Decimal("1.20")
    assert selectors.to_corporate(Decimal("1000.005"), "EUR", dt.date(2026, 2, 1)) == Decimal(
        "1100.01"
    )
    assert selectors.to_corporate(Decimal("12.34"), "USD", dt.date(2020, 1, 1)) == Decimal("12.34")


def test_missing_rate_names_currency_and_date(db):
    with pytest.raises(DomainError) as error:
        selectors.exchange_rate_on("GBP", dt.date(2026, 5, 1))
    assert str(error.value) == (
        "No exchange rate for GBP on or before 2026-05-01: add one under Settings › Exchange rates."
    )


def test_bad_rates_are_refused_and_nothing_is_written(db):
    from salesops.org.models import ExchangeRate

    with pytest.raises(DomainError, match="greater than zero"):
        services.exchange_rate_set(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=Decimal(0))
    with pytest.raises(DomainError, match="'XXY' is not an ISO 4217 currency code"):
        services.exchange_rate_set(currency="XXY", valid_from=dt.date(2026, 1, 1), rate=Decimal(1))
    with pytest.raises(DomainError, match="USD is the corporate currency"):
        services.exchange_rate_set(currency="USD", valid_from=dt.date(2026, 1, 1), rate=Decimal(1))
    assert not ExchangeRate.objects.exists()


def test_database_refuses_non_positive_rate(db):
    from django.db import IntegrityError

    from salesops.org.models import ExchangeRate

    with pytest.raises(IntegrityError):
        ExchangeRate.objects.create(currency="EUR", valid_from=dt.date(2026, 1, 1), rate=-1)

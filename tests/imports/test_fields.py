"""Cell parsers: a value that means nothing is a row error (ValueError), never a crash."""

import pytest

from salesops.imports.fields import parse_country


@pytest.mark.parametrize(
    ("text", "code"), [("US", "US"), ("usa", "US"), ("Germany", "DE"), ("United Kingdom", "GB")]
)
def test_country_codes_and_names(text, code):
    assert parse_country(text) == code


@pytest.mark.parametrize("text", ["Narnia", "XX", "Atlantis Republic"])
def test_an_unknown_country_is_a_value_error_naming_it(text):
    with pytest.raises(ValueError) as error:
        parse_country(text)
    assert str(error.value) == f"not a country name or ISO code: '{text}'"

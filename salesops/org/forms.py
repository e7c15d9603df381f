"""Forms of the kernel pages. They validate input; the services apply the business rules."""

from django import forms

from salesops.fiscal import YearNaming
from salesops.money import RATE_DECIMAL_PLACES, validate_currency

MONTHS = [
    (1, "January"), (2, "February"), (3, "March"), (4, "April"), (5, "May"), (6, "June"),
    (7, "July"), (8, "August"), (9, "September"), (10, "October"), (11, "November"),
    (12, "December"),
]  # fmt: skip


class CurrencyFormField(forms.CharField):
    """An ISO 4217 code typed in any case ("eur" is EUR)."""

    def __init__(self, **kwargs):
        super().__init__(max_length=3, validators=[validate_currency], **kwargs)

    def to_python(self, value):
        return super().to_python(value).strip().upper()


class ExchangeRateForm(forms.Form):
    currency = CurrencyFormField()
    valid_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    rate = forms.DecimalField(
        max_digits=18,
        decimal_places=RATE_DECIMAL_PLACES,
        min_value=0,
        help_text="Units of the corporate currency for one unit of this currency.",
    )


class OrgSettingsForm(forms.Form):
    company_name = forms.CharField(max_length=120)
    corporate_currency = CurrencyFormField()
    fiscal_year_start_month = forms.TypedChoiceField(choices=MONTHS, coerce=int)
    fiscal_year_naming = forms.ChoiceField(choices=YearNaming.choices)

"""Quota planning forms: shape input for ``territories.quotas``, whose services hold the rules
(and word the refusals the pages show)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django import forms

from salesops.fiscal import FiscalPeriod
from territories.models import AllocationBasis, RampProfile

_SEPARATORS = re.compile(r"[\s,;]+")


def split_numbers(text: str) -> list[str]:
    """``"25, 50 75"`` → ``["25", "50", "75"]``: the services check each value."""
    return [part for part in _SEPARATORS.split(text.strip()) if part]


class QuotaPlanForm(forms.Form):
    """A new draft plan for a fiscal year (the service checks target, weights and the year)."""

    fiscal_year = forms.IntegerField(min_value=2000, max_value=2100)
    target = forms.CharField(
        max_length=24, help_text="Company bookings target for the year, in the corporate currency."
    )
    basis = forms.ChoiceField(choices=AllocationBasis.choices, initial=AllocationBasis.HISTORY)
    month_weights = forms.CharField(
        required=False,
        label="Seasonality (12 month weights)",
        help_text="One weight per fiscal month, e.g. 7 7 9 7 7 9 7 7 9 8 8 15; empty: every "
        "month weighs the same.",
    )
    ramp_profile = forms.ModelChoiceField(
        queryset=RampProfile.objects.order_by("name"),
        required=False,
        empty_label="Each rep's own linear ramp",
    )

    def weights(self) -> list[str] | None:
        text = self.cleaned_data.get("month_weights") or ""
        return split_numbers(text) or None


class QuotaCellForm(forms.Form):
    """One cell of the grid: the new amount and why (the service refuses an empty reason)."""

    amount = forms.CharField(max_length=24, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    reason = forms.CharField(
        max_length=200, required=False, widget=forms.TextInput(attrs={"placeholder": "Reason"})
    )


class ReviewDecisionForm(forms.Form):
    """A reviewer's decision; sending back needs a comment (the service says so)."""

    DECISIONS = [("accept", "Accept"), ("send_back", "Send back")]

    decision = forms.ChoiceField(choices=DECISIONS)
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    @property
    def accept(self) -> bool:
        return self.cleaned_data["decision"] == "accept"


class RampProfileForm(forms.Form):
    name = forms.CharField(max_length=80)
    percents = forms.CharField(
        label="Percent of full quota per month of tenure",
        help_text="e.g. 25 50 75: 25 % in the hire month, 50 % the next, 75 % the third, then "
        "100 %.",
    )

    def percent_list(self) -> list[str]:
        return split_numbers(self.cleaned_data["percents"])


class CapacityForm(forms.Form):
    """The capacity model's inputs; one planned-hires field per fiscal month (``hires_<n>``)."""

    productivity = forms.DecimalField(
        min_value=0,
        max_digits=18,
        decimal_places=2,
        required=False,
        label="Bookings per ramped rep per month",
        help_text="Empty: learned from the last twelve months' bookings.",
    )
    attrition_percent = forms.DecimalField(
        min_value=0, max_value=100, max_digits=5, decimal_places=2, initial=Decimal(15),
        label="Annual attrition %",
    )  # fmt: skip
    backfill_months = forms.IntegerField(
        min_value=1, max_value=24, initial=3, label="Months to backfill a leaver"
    )

    def __init__(self, *args, months: list[FiscalPeriod], **kwargs):
        super().__init__(*args, **kwargs)
        self.months = months
        for period in months:
            self.fields[f"hires_{period.index}"] = forms.IntegerField(
                min_value=0, max_value=10_000, required=False, label=f"{period.start:%b %Y}"
            )

    def hire_fields(self):
        return [self[f"hires_{period.index}"] for period in self.months]

    def planned_hires(self) -> dict[dt.date, int]:
        return {
            period.start: self.cleaned_data[f"hires_{period.index}"]
            for period in self.months
            if self.cleaned_data.get(f"hires_{period.index}")
        }


class QuotaImportForm(forms.Form):
    file = forms.FileField(help_text="The quotas export (CSV or XLSX), edited.")
    dry_run = forms.BooleanField(required=False, label="Only check the file")

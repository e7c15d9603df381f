"""Forms of the commission run pages: a new run, a manual adjustment, the line filter.

Forms only shape input; ``compensation.runs`` judges it (period keys, whole cents, open runs) and
its refusals are shown on the field they name.
"""

from __future__ import annotations

from django import forms

from compensation.models import CommissionRun, LineKind
from compensation.run_selectors import adjustment_people, run_components, run_payees


class RunCreateForm(forms.Form):
    period_key = forms.CharField(
        label="Period",
        max_length=12,
        help_text="A fiscal quarter (2027-Q1) or month (2027-M01).",
        widget=forms.TextInput(attrs={"placeholder": "2027-Q1"}),
    )


class AdjustmentForm(forms.Form):
    """A manual adjustment: who, how much (negative takes money back) and why."""

    user = forms.ModelChoiceField(label="Person", queryset=None)
    amount = forms.DecimalField(
        max_digits=18,
        decimal_places=2,
        help_text="Negative to take money back, e.g. -150.00.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown on the person's statement and to the approver.",
        error_messages={"required": "A manual adjustment needs a reason."},
    )

    def __init__(self, *args, run: CommissionRun, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = adjustment_people(run)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A manual adjustment needs a reason.")
        return reason


class LineFilterForm(forms.Form):
    """Narrow a run's lines to one person, component and kind (all optional)."""

    person = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    component = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *LineKind.choices])

    def __init__(self, *args, run: CommissionRun, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [("", "Anyone")] + [
            (person.pk, str(person)) for person in run_payees(run)
        ]
        self.fields["component"].choices = [("", "Any component"), *run_components(run)]

    def filters(self) -> dict:
        """The valid filters as keyword arguments of ``run_selectors.run_lines``."""
        if not self.is_valid():
            return {}
        return {key: value for key, value in self.cleaned_data.items() if value}

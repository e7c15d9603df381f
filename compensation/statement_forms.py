"""Forms of the statement and dispute pages: shape only; ``compensation.disputes`` judges the
content (an empty message or answer, a zero amount) with the messages a person acts on."""

from __future__ import annotations

from django import forms

from compensation.models import DisputeStatus


class DisputeOpenForm(forms.Form):
    message = forms.CharField(
        label="What looks wrong?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        required=False,  # the service says what is missing
        help_text="Name the deal, amount or rate you expected; sales ops answer in writing.",
    )


class DisputeAnswerForm(forms.Form):
    answer = forms.CharField(
        label="Answer", widget=forms.Textarea(attrs={"rows": 3}), max_length=4000, required=False
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "answer_%s")  # shares the page with the adjust form
        super().__init__(*args, **kwargs)


class DisputeAdjustForm(forms.Form):
    amount = forms.DecimalField(
        label="Adjustment amount",
        max_digits=16,
        decimal_places=2,
        help_text="Added to the rep's pay in the next open run (negative takes it back).",
    )
    answer = forms.CharField(
        label="Answer", widget=forms.Textarea(attrs={"rows": 3}), max_length=4000, required=False
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "adjust_%s")
        super().__init__(*args, **kwargs)


class DisputeFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "All"), *DisputeStatus.choices], required=False, label="Status"
    )

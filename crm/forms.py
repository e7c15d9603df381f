"""CRM forms: shape input for the services, which hold the rules."""

from __future__ import annotations

from django import forms

from crm.models import ActivityKind, Contact, Deal, ForecastCategory, RequirableField, Stage


class MoveFieldsForm(forms.Form):
    """Asks for exactly the fields a stage needs that the deal lacks (and carries the move)."""

    stage = forms.ModelChoiceField(queryset=Stage.objects.all(), widget=forms.HiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, deal: Deal, needed: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        builders = {
            RequirableField.AMOUNT: lambda: forms.DecimalField(
                max_digits=18, decimal_places=2, min_value=0, label=f"Amount ({deal.currency})"
            ),
            RequirableField.CLOSE_DATE: lambda: forms.DateField(
                widget=forms.DateInput(attrs={"type": "date"})
            ),
            RequirableField.NEXT_STEP: lambda: forms.CharField(max_length=255),
            RequirableField.LOST_REASON: lambda: forms.CharField(max_length=255),
            RequirableField.PRIMARY_CONTACT: lambda: forms.ModelChoiceField(
                queryset=Contact.objects.filter(account_id=deal.account_id)
            ),
        }
        for name in needed:
            self.fields[name] = builders[RequirableField(name)]()
            self.fields[name].label = self.fields[name].label or RequirableField(name).label

    def move_fields(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k not in ("stage", "version")}


class DealEditForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Deal
        fields = ["name", "amount", "currency", "close_date", "forecast_category", "next_step"]
        widgets = {"close_date": forms.DateInput(attrs={"type": "date"})}


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(choices=ActivityKind.choices)
    subject = forms.CharField(max_length=200)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class StageForm(forms.Form):
    """A stage and its exit criteria, as sales ops edit them."""

    name = forms.CharField(max_length=100)
    position = forms.IntegerField(min_value=0, help_text="Order on the board, from 0.")
    probability = forms.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)
    forecast_category = forms.ChoiceField(choices=ForecastCategory.choices)
    required_fields = forms.MultipleChoiceField(
        choices=RequirableField.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Required before a deal may enter",
    )
    is_won = forms.BooleanField(required=False, label="Won stage")
    is_lost = forms.BooleanField(required=False, label="Lost stage")
    rot_days = forms.IntegerField(
        min_value=1, required=False, label="Flag deals idle longer than (days)"
    )

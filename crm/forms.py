"""CRM forms: shape input for the services, which hold the rules."""

from __future__ import annotations

from django import forms

from crm.models import (
    Account,
    ActivityKind,
    Contact,
    Deal,
    DealType,
    ForecastCategory,
    LeadStatus,
    Pipeline,
    RequirableField,
    SplitKind,
    Stage,
)
from salesops.org.models import User


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


class DealSplitForm(forms.Form):
    """One row of a deal's credit splits; a row left blank is ignored."""

    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True), required=False, label="Person"
    )
    kind = forms.ChoiceField(choices=SplitKind.choices, initial=SplitKind.REVENUE)
    percent = forms.DecimalField(max_digits=5, decimal_places=2, required=False, label="Percent")

    def clean(self):
        data = super().clean()
        if data.get("user") and data.get("percent") is None:
            self.add_error("percent", "Give this person's percentage.")
        if data.get("percent") is not None and not data.get("user"):
            self.add_error("user", "Pick who gets this percentage.")
        return data

    def split_row(self) -> tuple | None:
        """(user, kind, percent) for the service, or None for a blank or deleted row."""
        data = self.cleaned_data
        if data.get("DELETE") or not data.get("user"):
            return None
        return (data["user"], data["kind"], data["percent"])


DealSplitFormSet = forms.formset_factory(DealSplitForm, extra=3, can_delete=True)


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


class IdListField(forms.Field):
    """Many ids posted under one name (the ticked rows of a list)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one deal.",
        "invalid": "Pick rows from the list.",
    }

    def to_python(self, value):
        if not value:
            return []
        try:
            return sorted({int(v) for v in value})
        except (TypeError, ValueError) as error:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from error


class DealBulkForm(forms.Form):
    """Ticked deals of the list and what to do with them (``action`` is the button pressed)."""

    ACTIONS = [("reassign", "Reassign"), ("close_date", "Set close date")]

    deal = IdListField()
    action = forms.ChoiceField(choices=ACTIONS)
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, label="Reassign to", empty_label="Rep…"
    )
    close_date = forms.DateField(
        required=False,
        label="Set close date to",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, owners=None, **kwargs):
        kwargs.setdefault("auto_id", "bulk_%s")  # the list's filter form has an owner field too
        super().__init__(*args, **kwargs)
        if owners is not None:
            self.fields["owner"].queryset = owners

    def clean(self):
        data = super().clean()
        if data.get("action") == "reassign" and not data.get("owner"):
            self.add_error("owner", "Pick the rep to give the deals to.")
        if data.get("action") == "close_date" and not data.get("close_date"):
            self.add_error("close_date", "Pick the new close date.")
        return data


class LeadStatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(v, label) for v, label in LeadStatus.choices if v != LeadStatus.CONVERTED]
    )
    reason = forms.CharField(max_length=255, required=False, label="Why is the lead disqualified?")


class LeadConvertForm(forms.Form):
    """Convert a lead: a new account named after its company, or an existing one; the deal."""

    account = forms.ModelChoiceField(
        queryset=Account.objects.none(),
        required=False,
        label="Account",
        help_text="A new account, or one that already exists.",
    )
    account_name = forms.CharField(
        max_length=200,
        required=False,
        label="New account's name",
        help_text="Used when a new account is created; the lead's company by default.",
    )
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.none(), label="Pipeline", empty_label=None, required=False
    )
    deal_name = forms.CharField(max_length=200, label="Deal name")
    amount = forms.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False)
    close_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, lead, accounts, suggestions, **kwargs):
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("deal_name", f"{lead.company} – new business")
        initial.setdefault("account_name", lead.company)
        super().__init__(*args, **kwargs)
        pipelines = Pipeline.objects.filter(active=True)
        self.fields["pipeline"].queryset = pipelines
        default = pipelines.filter(kind=DealType.NEW).first() or pipelines.first()
        self.fields["pipeline"].initial = default.pk if default else None
        field = self.fields["account"]
        # Any account in scope is accepted; only the likely ones are offered (not thousands).
        field.queryset = accounts
        field.widget.choices = [("", f"New account: {lead.company}")] + [
            (account.pk, f"{account.name} ({account.domain or 'no domain'})")
            for account in suggestions
        ]

"""Territory page forms: shape input for ``territories.services``, ``runs`` and ``autobalance``,
which hold the rules (forms only parse: lists, numbers, dates)."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.utils import timezone

from crm.models import Segment
from salesops.org.models import User
from territories.balancing import Move
from territories.models import MemberRole, Territory, TerritoryPlan, TerritoryType
from territories.selectors import PAGE_MEASURES, manager_choices, member_choices

_SEPARATORS = re.compile(r"[,;\n]")
DATE = forms.DateInput(attrs={"type": "date"})


class ListField(forms.CharField):
    """Values typed in one box, separated by commas (or semicolons, or lines)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return [part.strip() for part in _SEPARATORS.split(text or "") if part.strip()]

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value


class IdListField(ListField):
    def to_python(self, value) -> list[int]:
        values = super().to_python(value)
        bad = [v for v in values if not v.isdigit()]
        if bad:
            raise forms.ValidationError(
                f"Account ids are whole numbers; '{bad[0]}' is not one.", code="invalid"
            )
        return [int(v) for v in values]


def _territories(plan: TerritoryPlan):
    return plan.territories.order_by("name")


class LivePlanForm(forms.Form):
    name = forms.CharField(max_length=120, label="Name of the live plan", initial="Territory plan")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "live_%s")
        super().__init__(*args, **kwargs)


class ScenarioForm(forms.Form):
    name = forms.CharField(
        max_length=120, required=False, help_text='Empty: "Copy of <the plan copied>".'
    )
    source = forms.ModelChoiceField(
        queryset=TerritoryPlan.objects.none(),
        required=False,
        label="Copy of",
        empty_label="The live plan",
    )

    def __init__(self, *args, plans=None, **kwargs):
        kwargs.setdefault("auto_id", "scenario_%s")
        super().__init__(*args, **kwargs)
        if plans is not None:
            self.fields["source"].queryset = plans


class TerritoryForm(forms.Form):
    name = forms.CharField(max_length=120)
    key = forms.SlugField(
        max_length=60, help_text="Stable code, the same in every scenario (e.g. us-west-norcal)."
    )
    parent = forms.ModelChoiceField(
        queryset=Territory.objects.none(), required=False, empty_label="(top of the tree)"
    )
    type = forms.ChoiceField(choices=TerritoryType.choices)
    manager = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="(no manager)"
    )

    def __init__(self, *args, plan: TerritoryPlan, territory: Territory | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        parents = _territories(plan)
        if territory is not None:
            parents = parents.exclude(pk=territory.pk)
        self.fields["parent"].queryset = parents
        self.fields["manager"].queryset = manager_choices()

    @classmethod
    def initial_for(cls, territory: Territory) -> dict:
        return {
            "name": territory.name,
            "key": territory.key,
            "parent": territory.parent_id,
            "type": territory.type,
            "manager": territory.manager_id,
        }


class MemberForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Rep")
    role = forms.ChoiceField(choices=MemberRole.choices, initial=MemberRole.OWNER)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "member_%s")
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = member_choices()


class RuleForm(forms.Form):
    """A rule's territory and conditions; every condition left empty matches any account."""

    territory = forms.ModelChoiceField(queryset=Territory.objects.none())
    name = forms.CharField(max_length=120, required=False)
    position = forms.IntegerField(
        min_value=0,
        required=False,
        help_text="Rules are tried from the lowest position. Empty: after the other rules.",
    )
    countries = ListField(help_text="ISO codes, e.g. US, CA (any of them matches).")
    regions = ListField(help_text="States or regions, e.g. CA, NV.", label="Regions / states")
    postal_prefixes = ListField(label="Postal code prefixes", help_text="e.g. 94, 95")
    industries = ListField()
    segments = forms.MultipleChoiceField(
        choices=Segment.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    employees_min = forms.IntegerField(min_value=0, required=False, label="Employees from")
    employees_max = forms.IntegerField(min_value=0, required=False, label="Employees up to")
    revenue_min = forms.DecimalField(
        min_value=0, max_digits=18, decimal_places=2, required=False, label="Annual revenue from"
    )
    revenue_max = forms.DecimalField(
        min_value=0, max_digits=18, decimal_places=2, required=False, label="Annual revenue up to"
    )
    named_account_ids = IdListField(
        label="Named accounts (ids)", help_text="Account ids; these accounts land here first."
    )
    catch_all = forms.BooleanField(
        required=False,
        label="Catch-all",
        help_text="Takes every account no other rule takes (sets no conditions; one per plan).",
    )

    def __init__(self, *args, plan: TerritoryPlan, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = _territories(plan)

    @classmethod
    def initial_for(cls, rule) -> dict:
        return {name: getattr(rule, name) for name in cls.base_fields if name != "territory"} | {
            "territory": rule.territory_id
        }

    def rule_fields(self) -> dict:
        """The ``rule_save`` fields; an empty position keeps the rule where it is."""
        fields = dict(self.cleaned_data)
        if fields["position"] is None:
            fields.pop("position")
        return fields


class RuleTestForm(forms.Form):
    """The rule tester: an existing account, and/or the fields to try."""

    account = forms.CharField(
        required=False, max_length=200, help_text="Id or name of an existing account (optional)."
    )
    country = forms.CharField(required=False, max_length=2, help_text="ISO code, e.g. US")
    region = forms.CharField(required=False, max_length=100, label="Region / state")
    postal_code = forms.CharField(required=False, max_length=20)
    industry = forms.CharField(required=False, max_length=100)
    employees = forms.IntegerField(required=False, min_value=0)
    annual_revenue = forms.DecimalField(
        required=False, min_value=0, max_digits=18, decimal_places=2
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "tester_%s")
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if not any(data.get(name) not in (None, "") for name in self.fields):
            raise forms.ValidationError("Pick an account or fill in at least one field.")
        return data


class RulesImportForm(forms.Form):
    file = forms.FileField(
        label="Rules CSV", help_text="The rules export's columns; it replaces every rule."
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "import_%s")
        super().__init__(*args, **kwargs)


class RegionMoveForm(forms.Form):
    country = forms.CharField(max_length=2, help_text="ISO code, e.g. US")
    region = forms.CharField(max_length=100, label="State / region", help_text="e.g. CA")
    territory = forms.ModelChoiceField(queryset=Territory.objects.none(), label="To territory")

    def __init__(self, *args, plan: TerritoryPlan, **kwargs):
        kwargs.setdefault("auto_id", "region_%s")
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = _territories(plan)


UNIT_CHOICES = [
    ("region", "Whole states / regions (keeps territories contiguous)"),
    ("account", "Single accounts"),
]


class AutobalanceForm(forms.Form):
    parent = forms.ModelChoiceField(
        queryset=Territory.objects.none(),
        label="Balance the territories under",
        help_text="Units move only between this territory's children.",
    )
    measure = forms.ChoiceField(choices=list(PAGE_MEASURES.items()), initial="accounts")
    max_moves = forms.IntegerField(min_value=0, max_value=500, initial=5, label="At most moves")
    unit = forms.ChoiceField(choices=UNIT_CHOICES, initial="region", label="Move")

    def __init__(self, *args, parents, **kwargs):
        kwargs.setdefault("auto_id", "balance_%s")
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = parents


class AcceptForm(forms.Form):
    """The moves of a proposal, as the proposal page wrote them (re-checked when accepted)."""

    moves = forms.CharField(widget=forms.HiddenInput)

    def clean_moves(self) -> list[Move]:
        try:
            rows = json.loads(self.cleaned_data["moves"])
            return [
                Move(unit=str(u), from_territory=str(f), to_territory=str(t), load=Decimal(load))
                for u, f, t, load in rows
            ]
        except (ValueError, TypeError, InvalidOperation):
            raise forms.ValidationError("The proposal could not be read; propose again.") from None


class ApplyForm(forms.Form):
    effective_date = forms.DateField(
        widget=DATE,
        help_text="Accounts move on this day; a later day waits until then.",
    )
    reassign_open_deals = forms.BooleanField(
        required=False,
        initial=True,
        label="Also give moved accounts' open deals to their new owner",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "apply_%s")
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("effective_date", timezone.localdate())
        super().__init__(*args, **kwargs)


class CompareForm(forms.Form):
    a = forms.ModelChoiceField(queryset=TerritoryPlan.objects.none(), label="Compare")
    b = forms.ModelChoiceField(queryset=TerritoryPlan.objects.none(), label="with")
    measure = forms.ChoiceField(choices=list(PAGE_MEASURES.items()), required=False)

    def __init__(self, *args, plans, **kwargs):
        kwargs.setdefault("auto_id", "compare_%s")
        super().__init__(*args, **kwargs)
        self.fields["a"].queryset = plans
        self.fields["b"].queryset = plans

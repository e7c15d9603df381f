"""Comp plan forms: the builder's header, role, component and tier forms, the import form, and
the assignment forms.

Forms only shape input into plan-document data; ``compensation.documents.validate`` holds the
rules of a plan and ``compensation.plans`` those of the writes, so their refusals are shown as
worded there (``add_document_errors`` puts each problem of the document next to its field).
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms

from compensation.documents import MEASURE_LABELS
from crm.models import DealType, Segment
from salesops.org.models import User

_SEPARATORS = re.compile(r"\s*[,;\n]\s*")
_PROBLEM = re.compile(r"^(?P<where>[\w.]+): (?P<message>.+)$")
_PREFIX = "The plan document is not valid: "


def split_list(text: str) -> list[str]:
    """``"Core, Add-ons"`` → ``["Core", "Add-ons"]``."""
    return [part for part in _SEPARATORS.split((text or "").strip()) if part]


def _plain(value) -> str:
    """A decimal from a document (a string there) as a form shows it: ``"0.0800"`` → ``0.08``."""
    if value in (None, ""):
        return ""
    return format(Decimal(str(value)).normalize(), "f")


def _set(data: dict, name: str, value) -> None:
    """Put ``value`` in the document data unless it is empty (then the schema's default holds)."""
    if value not in (None, "", []):
        data[name] = str(value) if isinstance(value, Decimal) else value


def document_problems(message: str) -> list[tuple[str, str]]:
    """A DomainError of ``documents.validate`` split into ``(where, why)`` problems."""
    text = message.removeprefix(_PREFIX)
    problems = []
    for part in text.split("; "):
        match = _PROBLEM.match(part)
        problems.append((match["where"], match["message"]) if match else ("", part))
    return problems


def add_document_errors(message: str, *, forms_by_prefix: dict[str, forms.Form]) -> bool:
    """Show each problem of a rejected document on the form (and field) it came from.

    ``forms_by_prefix`` maps a document path (``""`` for the document, ``"components.0"``) to
    the form that edits it; a problem goes to the longest matching prefix, on the field its
    next path part names when the form has one, else as a form error. Returns False when the
    message is not a document's (the caller shows it as it is).
    """
    if not message.startswith(_PREFIX):
        return False
    for where, why in document_problems(message):
        parts = where.split(".") if where and where != "document" else []
        for size in range(len(parts), -1, -1):
            prefix = ".".join(parts[:size])
            form = forms_by_prefix.get(prefix)
            if form is None:
                continue
            rest = parts[size:]
            field = _field_for(form, rest)
            text = f"{where}: {why}" if parts else why
            form.add_error(field, text)
            break
    return True


def _field_for(form: forms.Form, rest: list[str]) -> str | None:
    if not rest:
        return None
    aliases = getattr(form, "document_fields", {})
    name = aliases.get(".".join(rest[:2])) or aliases.get(rest[0]) or rest[0]
    return name if name in form.fields else None


# --- Plan header ---------------------------------------------------------------------------------


class PlanHeaderForm(forms.Form):
    """What a plan is: its key (new plans only), name, fiscal year, currency, crediting date and
    optional draw."""

    DRAW_KINDS = [
        ("", "No draw"),
        ("recoverable", "Recoverable"),
        ("non_recoverable", "Guaranteed"),
    ]

    key = forms.SlugField(
        max_length=60,
        help_text="Names the plan across its versions, e.g. ae-2027 (lowercase, digits, -, _).",
    )
    name = forms.CharField(max_length=120)
    fiscal_year = forms.IntegerField(min_value=2000, max_value=2100)
    currency = forms.CharField(max_length=3, initial="USD")
    credit_date = forms.ChoiceField(
        choices=[("close_date", "Close date"), ("invoice_date", "Invoice date")],
        label="Credit deals on",
    )
    draw_kind = forms.ChoiceField(choices=DRAW_KINDS, required=False, label="Draw")
    draw_monthly_amount = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, label="Draw per month"
    )
    draw_months = forms.IntegerField(
        required=False, min_value=1, max_value=36, label="Draw for the first … months"
    )
    document_fields = {
        "draw.kind": "draw_kind",
        "draw.monthly_amount": "draw_monthly_amount",
        "draw.months": "draw_months",
        "draw": "draw_kind",
    }

    def __init__(self, *args, with_key: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_key:
            del self.fields["key"]

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    @classmethod
    def initial_from(cls, document: dict) -> dict:
        draw = document.get("draw") or {}
        return {
            "name": document.get("name"),
            "fiscal_year": document.get("fiscal_year"),
            "currency": document.get("currency"),
            "credit_date": document.get("credit_date", "close_date"),
            "draw_kind": draw.get("kind", ""),
            "draw_monthly_amount": _plain(draw.get("monthly_amount")),
            "draw_months": draw.get("months"),
        }

    def header_data(self) -> dict:
        """The document's top-level fields (without roles and components)."""
        data = self.cleaned_data
        header = {
            "name": data["name"],
            "fiscal_year": data["fiscal_year"],
            "currency": data["currency"],
            "credit_date": data["credit_date"],
        }
        if data.get("draw_kind"):
            draw: dict = {"kind": data["draw_kind"]}
            _set(draw, "monthly_amount", data.get("draw_monthly_amount"))
            _set(draw, "months", data.get("draw_months"))
            header["draw"] = draw
        return header


class RoleForm(forms.Form):
    """One role's target incentive (and base salary, for OTE)."""

    role = forms.ChoiceField(
        choices=[("", "—"), ("SDR", "SDR"), ("AE", "AE"), ("AM", "AM"), ("manager", "Manager")],
        required=False,
    )
    target_incentive = forms.DecimalField(required=False, min_value=0, decimal_places=2)
    base_salary = forms.DecimalField(required=False, min_value=0, decimal_places=2)

    def role_data(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("role"):
            return None
        row = {"role": data["role"]}
        _set(row, "target_incentive", data.get("target_incentive"))
        _set(row, "base_salary", data.get("base_salary"))
        return row


RoleFormSet = forms.formset_factory(RoleForm, extra=2, max_num=4)


def role_initial(document: dict) -> list[dict]:
    return [
        {
            "role": role["role"],
            "target_incentive": _plain(role.get("target_incentive")),
            "base_salary": _plain(role.get("base_salary")),
        }
        for role in document.get("roles", [])
    ]


def roles_data(formset: forms.BaseFormSet) -> list[dict]:
    return [row for form in formset.forms if (row := form.role_data()) is not None]


# --- Components ----------------------------------------------------------------------------------


def _choices(*values: str) -> list[tuple[str, str]]:
    return [(value, value.replace("_", " ").capitalize()) for value in values]


class ComponentForm(forms.Form):
    """One component of a plan: what it measures, over which deals, and how it pays (a flat rate
    or the tiers of ``TierFormSet``, or a bonus). Rates are multipliers: 0.08 is 8 % of a money
    measure; 500 is 500 per unit or new logo."""

    key = forms.SlugField(max_length=60, help_text="Unique in the plan, e.g. new-bookings.")
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=[("commission", "Commission"), ("bonus", "Bonus / SPIF")])
    measure = forms.ChoiceField(choices=list(MEASURE_LABELS.items()))
    period = forms.ChoiceField(choices=_choices("month", "quarter", "year"), initial="quarter")
    advances = forms.ChoiceField(
        choices=[("", "None"), ("quarter", "Quarterly")],
        required=False,
        help_text="Yearly components only: pay advances each quarter on year-to-date results.",
    )
    advance_percent = forms.DecimalField(
        required=False, min_value=0, max_value=10000, label="Advance %"
    )
    credit_types = forms.MultipleChoiceField(
        choices=_choices("owner", "split", "overlay", "rollup", "territory"),
        widget=forms.CheckboxSelectMultiple,
        initial=["owner", "split", "overlay"],
        required=False,
        label="Credit types counted",
    )
    pipelines = forms.CharField(required=False, help_text="Comma-separated; empty: any.")
    deal_types = forms.MultipleChoiceField(
        choices=DealType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: any.",
    )
    product_families = forms.CharField(required=False, help_text="Comma-separated; empty: any.")
    segments = forms.MultipleChoiceField(
        choices=Segment.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: any.",
    )
    weight = forms.DecimalField(
        required=False, min_value=0, max_value=10000, label="Weight % of target incentive"
    )
    quota_source = forms.ChoiceField(
        choices=[("", "No quota"), ("quota_plan", "Rep's published quota"), ("fixed", "Fixed")],
        required=False,
        label="Quota",
    )
    quota_amount = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, label="Fixed quota per period"
    )
    rate = forms.DecimalField(
        required=False, min_value=0, decimal_places=8, help_text="Flat rate (leave tiers empty)."
    )
    tier_mode = forms.ChoiceField(
        choices=[("marginal", "Marginal"), ("retroactive", "Retroactive")], required=False
    )
    threshold = forms.DecimalField(
        required=False, min_value=0, max_value=10000, label="Threshold % of quota"
    )
    cap_attainment = forms.DecimalField(
        required=False, min_value=0, max_value=10000, label="Cap at % of quota"
    )
    cap_amount = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, label="Cap amount per period"
    )
    per_deal = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, label="Bonus per deal"
    )
    target = forms.DecimalField(required=False, min_value=0, label="Bonus target (measure)")
    target_attainment = forms.DecimalField(
        required=False, min_value=0, max_value=10000, label="Bonus target % of quota"
    )
    bonus_amount = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, label="Bonus amount"
    )
    window_start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    window_end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    document_fields = {
        "quota.source": "quota_source",
        "quota.amount": "quota_amount",
        "quota": "quota_source",
        "filters.pipelines": "pipelines",
        "filters.deal_types": "deal_types",
        "filters.product_families": "product_families",
        "filters.segments": "segments",
    }
    DECIMALS = (
        "advance_percent", "weight", "rate", "threshold", "cap_attainment", "cap_amount",
        "per_deal", "target", "target_attainment", "bonus_amount",
    )  # fmt: skip

    @classmethod
    def initial_from(cls, component: dict) -> dict:
        filters = component.get("filters") or {}
        quota = component.get("quota") or {}
        initial = {
            name: component.get(name)
            for name in ("key", "name", "kind", "measure", "period", "tier_mode", "credit_types")
        }
        initial.update({name: _plain(component.get(name)) for name in cls.DECIMALS})
        initial.update(
            advances=component.get("advances") or "",
            pipelines=", ".join(filters.get("pipelines", [])),
            product_families=", ".join(filters.get("product_families", [])),
            deal_types=filters.get("deal_types", []),
            segments=filters.get("segments", []),
            quota_source=quota.get("source", ""),
            quota_amount=_plain(quota.get("amount")),
            window_start=component.get("window_start"),
            window_end=component.get("window_end"),
        )
        return initial

    def component_data(self, tiers: list[dict]) -> dict:
        """The component as document data; empty fields keep the schema's defaults."""
        data = self.cleaned_data
        component: dict = {"key": data["key"], "name": data["name"], "kind": data["kind"]}
        for name in ("measure", "period", "advances", "tier_mode"):
            _set(component, name, data.get(name))
        for name in self.DECIMALS:
            _set(component, name, data.get(name))
        _set(component, "credit_types", data.get("credit_types"))  # none ticked: the default
        filters: dict = {}
        _set(filters, "pipelines", split_list(data.get("pipelines", "")))
        _set(filters, "product_families", split_list(data.get("product_families", "")))
        _set(filters, "deal_types", data.get("deal_types"))
        _set(filters, "segments", data.get("segments"))
        if filters:
            component["filters"] = filters
        if data.get("quota_source"):
            quota: dict = {"source": data["quota_source"]}
            _set(quota, "amount", data.get("quota_amount"))
            component["quota"] = quota
        if tiers:
            component["tiers"] = tiers
        for name in ("window_start", "window_end"):
            if data.get(name):
                component[name] = data[name].isoformat()
        return component


class TierForm(forms.Form):
    """One tier: from ``floor`` % of quota up to the next tier's floor, pay ``rate``."""

    floor = forms.DecimalField(
        required=False, min_value=0, max_value=10000, label="From % of quota"
    )
    rate = forms.DecimalField(required=False, min_value=0, decimal_places=8)
    label = forms.CharField(required=False, max_length=60)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The tiers are a table with one header row, so each input names its tier for screen
        # readers (and for tests that find fields by label).
        number = int(self.prefix.rsplit("-", 1)[-1]) + 1 if self.prefix else 1
        for name, words in (("floor", "from % of quota"), ("rate", "rate"), ("label", "label")):
            self.fields[name].widget.attrs["aria-label"] = f"Tier {number} {words}"

    def clean(self):
        data = super().clean()
        if (data.get("floor") is None) != (data.get("rate") is None):
            raise forms.ValidationError("A tier needs both its floor and its rate.")
        return data

    def tier_data(self) -> dict | None:
        data = self.cleaned_data
        if data.get("floor") is None:
            return None
        tier = {"floor": str(data["floor"]), "rate": str(data["rate"])}
        _set(tier, "label", data.get("label"))
        return tier


TierFormSet = forms.formset_factory(TierForm, extra=3, max_num=12)


def tier_initial(component: dict) -> list[dict]:
    return [
        {"floor": _plain(t["floor"]), "rate": _plain(t["rate"]), "label": t.get("label", "")}
        for t in component.get("tiers", [])
    ]


def tiers_data(formset: forms.BaseFormSet) -> list[dict]:
    return [row for form in formset.forms if (row := form.tier_data()) is not None]


# --- Import, publish, assignments ----------------------------------------------------------------


class PlanImportForm(forms.Form):
    """A plan document to import: an uploaded file or pasted text, JSON or YAML."""

    key = forms.SlugField(
        max_length=60,
        help_text="A new key creates a plan; an existing key adds its next draft version.",
    )
    format = forms.ChoiceField(
        choices=[("", "From the file name (YAML if pasted)"), ("yaml", "YAML"), ("json", "JSON")],
        required=False,
    )
    file = forms.FileField(required=False)
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 14}))

    def clean(self):
        data = super().clean()
        if not data.get("file") and not (data.get("text") or "").strip():
            raise forms.ValidationError("Upload a plan file or paste the document.")
        return data

    def document_text(self) -> tuple[str, str]:
        """The document's text and format (json or yaml)."""
        data = self.cleaned_data
        fmt = data.get("format") or ""
        upload = data.get("file")
        if upload:
            raw = upload.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
            if not fmt:
                fmt = "json" if upload.name.lower().endswith(".json") else "yaml"
            return text, fmt
        text = data["text"]
        if not fmt:
            fmt = "json" if text.lstrip().startswith("{") else "yaml"
        return text, fmt


class PublishForm(forms.Form):
    move_assignments_from = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: everyone on an earlier version moves to this one from that day.",
    )


class AssignmentAddForm(forms.Form):
    """One or more people onto a plan from the same day (one person may have an override)."""

    users = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        label="People",
    )
    start_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    target_incentive = forms.DecimalField(
        required=False,
        min_value=0,
        decimal_places=2,
        help_text="Only when adding one person; empty: the plan's target for their role.",
    )

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = people

    def clean(self):
        data = super().clean()
        users = data.get("users") or []
        if len(users) > 1 and data.get("target_incentive") is not None:
            self.add_error(
                "target_incentive", "A target incentive override is for one person at a time."
            )
        return data


class AssignmentEndForm(forms.Form):
    end_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Last day")
    reason = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Transfer, leave, termination…"}),
    )

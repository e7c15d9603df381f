"""Forms of the import pages: the upload, and the mapping of a file's columns to a target's fields.

The mapping form is built from the target (one row per field, then the import's options) and the
file's column profile (sample values, distinct values); ``MappingForm.mapping()`` turns the posted
form back into the mapping JSON the engine reads (see ``salesops.imports.mapping``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings

from salesops.imports.fields import ImportField, ImportOption, Kind
from salesops.imports.targets import ImportTarget, all_targets

# How many distinct values of a column the "translate values" table lists.
VALUE_ROWS = 50
NOT_MAPPED = ""


class UploadForm(forms.Form):
    target = forms.ChoiceField(label="What to import")
    file = forms.FileField(
        label="File",
        help_text="A .csv or .xlsx file with a header row.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,.xlsm,.tsv,.txt"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [(t.key, t.label) for t in all_targets()]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.SALESOPS_IMPORT_MAX_BYTES
        if upload.size > limit:  # refused before the bytes are read into memory
            raise forms.ValidationError(
                f"The file is {upload.size / 1e6:.1f} MB; the largest import is "
                f"{limit / 1e6:.0f} MB."
            )
        return upload


@dataclass
class ValueRow:
    """One distinct source value of a mapped column, with its translation input."""

    value: str
    count: int
    translation: forms.BoundField


@dataclass
class FieldRow:
    """One target field on the mapping table."""

    field: ImportField
    column: forms.BoundField
    template: forms.BoundField
    default: forms.BoundField
    scale: forms.BoundField
    samples: list[str]
    datalist: list[tuple[str, str]]
    values: list[ValueRow] = field(default_factory=list)
    distinct: int = 0  # how many distinct values the mapped column has

    @property
    def datalist_id(self) -> str:
        return f"choices-{self.field.name}"

    @property
    def errors(self) -> list[str]:
        return [*self.column.errors, *self.template.errors, *self.default.errors]


class MappingForm(forms.Form):
    """Column, template, default (and value translations) per field, then the options.

    ``profile`` is ``{column: {"sample": [...], "values": [[value, count], ...], "distinct": n}}``
    (see ``views.column_profile``); ``choices_for(field)`` gives the suggestions offered when
    translating values of a field.
    """

    save_as = forms.CharField(
        label="Save this mapping as…",
        required=False,
        max_length=120,
        help_text="Optional: a name to reuse this mapping for the next file of this shape.",
    )

    def __init__(
        self,
        *args,
        target: ImportTarget,
        columns: list[str],
        mapping: dict[str, Any],
        profile: dict[str, dict],
        choices_for,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.target = target
        self.current = mapping or {}
        specs = self.current.get("fields") or {}
        column_choices = [(NOT_MAPPED, "— not mapped —")] + [
            (c, _column_label(c, profile.get(c, {}).get("sample", []))) for c in columns
        ]
        self.rows: list[FieldRow] = []
        for import_field in target.fields:
            name = import_field.name
            spec = specs.get(name) or {}
            self.fields[f"{name}__column"] = forms.ChoiceField(
                label=f"Column for {import_field.label}",
                choices=column_choices,
                required=False,
                initial=spec.get("column", NOT_MAPPED),
                widget=forms.Select(attrs={"aria-label": f"Column for {import_field.label}"}),
            )
            self.fields[f"{name}__template"] = forms.CharField(
                label=f"Template for {import_field.label}",
                required=False,
                initial=spec.get("template", ""),
                widget=forms.TextInput(
                    attrs={
                        "placeholder": "{Column A} ({Column B})",
                        "aria-label": f"Template for {import_field.label}",
                    }
                ),
            )
            datalist = choices_for(import_field)
            default_attrs = {"list": f"choices-{name}"} if datalist else {}
            self.fields[f"{name}__default"] = forms.CharField(
                label=f"Default for {import_field.label}",
                required=False,
                initial=_text(spec.get("default", "")),
                widget=forms.TextInput(
                    attrs={**default_attrs, "aria-label": f"Default for {import_field.label}"}
                ),
            )
            self.fields[f"{name}__scale"] = forms.CharField(
                required=False, initial=_text(spec.get("scale", "")), widget=forms.HiddenInput
            )
            column = self._value("column", name, spec.get("column", NOT_MAPPED))
            row = FieldRow(
                field=import_field,
                column=self[f"{name}__column"],
                template=self[f"{name}__template"],
                default=self[f"{name}__default"],
                scale=self[f"{name}__scale"],
                samples=profile.get(column, {}).get("sample", []) if column else [],
                datalist=datalist,
            )
            if import_field.shows_value_map and column and column in profile:
                translations = {
                    str(k).strip().lower(): _text(v) for k, v in (spec.get("values") or {}).items()
                }
                if column != spec.get("column"):
                    translations = {}  # the translations were for another column
                row.distinct = profile[column].get("distinct", 0)
                # The inputs are named after the column, so translations posted for another
                # column (the person just changed it) never land on this column's values.
                tag = hashlib.md5(column.encode(), usedforsecurity=False).hexdigest()[:8]
                for index, (value, count) in enumerate(profile[column]["values"][:VALUE_ROWS]):
                    value_name = f"{name}__{tag}__v{index}"
                    self.fields[value_name] = forms.CharField(
                        label=f"{import_field.label}: translate '{value}'",
                        required=False,
                        initial=translations.get(value.strip().lower(), ""),
                        widget=forms.TextInput(
                            attrs={
                                **default_attrs,
                                "aria-label": f"{import_field.label} for '{value}'",
                            }
                        ),
                    )
                    row.values.append(ValueRow(value, count, self[value_name]))
            self.rows.append(row)
        option_values = self.current.get("options") or {}
        self.option_names = []
        for option in target.all_options:
            self.fields[f"option__{option.name}"] = _option_field(
                option, option_values.get(option.name, option.default)
            )
            self.option_names.append(f"option__{option.name}")

    def _value(self, part: str, name: str, initial: str) -> str:
        """What the form shows for ``name``'s ``part``: the posted value, else the initial."""
        if self.is_bound:
            return self.data.get(self.add_prefix(f"{name}__{part}"), "")
        return initial

    @property
    def options(self) -> list[forms.BoundField]:
        return [self[name] for name in self.option_names]

    def mapping(self) -> dict[str, Any]:
        """The mapping JSON of the submitted form (call after ``is_valid()``)."""
        data = self.cleaned_data
        previous = self.current.get("fields") or {}
        fields: dict[str, dict] = {}
        for row in self.rows:
            name = row.field.name
            spec: dict[str, Any] = {}
            for part in ("column", "template", "default", "scale"):
                value = (data.get(f"{name}__{part}") or "").strip()
                if value:
                    spec[part] = value
            values = dict((previous.get(name) or {}).get("values") or {})
            if spec.get("column") != (previous.get(name) or {}).get("column"):
                values = {}
            listed = {v.value.strip().lower() for v in row.values}
            # Translations of values not listed (a column with many values) are kept as they are.
            values = {k: v for k, v in values.items() if str(k).strip().lower() not in listed}
            for value_row in row.values:
                translation = (data.get(value_row.translation.name) or "").strip()
                if translation:
                    values[value_row.value] = translation
            if values and (spec.get("column") or spec.get("template")):
                spec["values"] = values
            if spec:
                fields[name] = spec
        options = {}
        for option in self.target.all_options:
            value = data.get(f"option__{option.name}")
            options[option.name] = value if option.kind == Kind.BOOLEAN else (value or "")
        return {"fields": fields, "options": options}


class UseMappingForm(forms.Form):
    """Replace the job's mapping with a shipped preset (``preset:KEY``) or a saved one
    (``saved:ID``)."""

    source = forms.ChoiceField(label="Use a saved mapping")

    def __init__(self, *args, presets, saved, columns, current_preset: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        shipped = [
            (
                f"preset:{p.key}",
                p.name + (" — fits this file" if p.fits(columns) else ""),
            )
            for p in presets
        ]
        mine = [(f"saved:{m.pk}", f"{m.name} (saved by {m.created_by})") for m in saved]
        choices: list = [("", "— choose —")]
        if shipped:
            choices.append(("Shipped with SalesOps", shipped))
        if mine:
            choices.append(("Saved here", mine))
        self.fields["source"].choices = choices
        self.has_choices = bool(shipped or mine)
        fitting = next((p for p in presets if p.fits(columns)), None)
        if current_preset:
            self.fields["source"].initial = f"preset:{current_preset}"
        elif fitting is not None:
            self.fields["source"].initial = f"preset:{fitting.key}"


def _option_field(option: ImportOption, value: Any) -> forms.Field:
    if option.kind == Kind.BOOLEAN:
        return forms.BooleanField(
            label=option.label, required=False, initial=bool(value), help_text=option.help
        )
    if option.kind == Kind.CHOICE:
        return forms.ChoiceField(
            label=option.label,
            choices=list(option.choices),
            required=False,
            initial=value,
            help_text=option.help,
        )
    return forms.CharField(
        label=option.label, required=False, initial=_text(value), help_text=option.help
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _column_label(column: str, sample: list[str]) -> str:
    if not sample:
        return column
    shown = " · ".join(s if len(s) <= 24 else s[:23] + "…" for s in sample[:3])
    return f"{column} — e.g. {shown}"

"""Forms of the report builder and of report schedules: shape the input; the rules live in
reporting.reports and reporting.delivery, whose errors land on the fields they name."""

from __future__ import annotations

from django import forms

from crm.models import DealType, Segment
from reporting import delivery, reports
from reporting.models import (
    ReportFormat,
    ReportFrequency,
    ReportGroupBy,
    ReportPeriod,
    ReportSchedule,
    SavedReport,
)
from salesops.errors import DomainError


class SavedReportForm(forms.Form):
    """The report builder: measure, grouping, period and filters, name and sharing."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    measure = forms.ChoiceField(
        choices=reports.measure_choices,
        help_text="A KPI, a deal measure (count or sum of deals) or an activity count.",
    )
    group_by = forms.ChoiceField(label="Group by", choices=ReportGroupBy.choices)
    period = forms.ChoiceField(choices=ReportPeriod.choices, initial=ReportPeriod.THIS_QUARTER)
    period_from = forms.CharField(
        label="From period", required=False, max_length=10,
        help_text="For a fixed range: 2026-M03, 2026-Q01 or 2026.",
    )  # fmt: skip
    period_to = forms.CharField(
        label="To period", required=False, max_length=10, help_text="Empty: the same period."
    )
    pipeline = forms.ModelChoiceField(queryset=None, required=False, empty_label="All pipelines")
    segment = forms.ChoiceField(choices=[("", "All segments"), *Segment.choices], required=False)
    deal_type = forms.ChoiceField(choices=[("", "All types"), *DealType.choices], required=False)
    team = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="All my teams",
        help_text="The team and the teams below it.",
    )  # fmt: skip
    shared = forms.BooleanField(
        required=False,
        help_text="Everyone may open and copy it; each person sees only their own figures.",
    )

    def __init__(self, *args, user, report: SavedReport | None = None, **kwargs):
        if report is not None:
            kwargs.setdefault("initial", report_initial(report))
        super().__init__(*args, **kwargs)
        self.fields["pipeline"].queryset = reports.pipeline_choices(
            report.pipeline_id if report else None
        )
        self.fields["team"].queryset = reports.team_choices(
            user, report.team_id if report else None
        )

    def clean(self):
        data = super().clean()
        if not self.errors:
            for field, message in reports.definition_problems(self.definition()):
                self.add_error(field if field in self.fields else None, message)
        return data

    def definition(self) -> reports.ReportDefinition:
        data = self.cleaned_data
        return reports.ReportDefinition(
            measure=data["measure"], group_by=data["group_by"], period=data["period"],
            period_from=data["period_from"].strip(), period_to=data["period_to"].strip(),
            pipeline_id=data["pipeline"].pk if data["pipeline"] else None,
            segment=data["segment"], deal_type=data["deal_type"],
            team_id=data["team"].pk if data["team"] else None,
        )  # fmt: skip

    def add_problems(self, error: DomainError) -> None:
        """Put a service's refusal on the fields it names."""
        for field, message in getattr(error, "problems", [(error.field, error.message)]):
            self.add_error(field if field in self.fields else None, message)


def report_initial(report: SavedReport) -> dict:
    return {
        name: getattr(report, name)
        for name in reports.EDITABLE_FIELDS
        if name not in ("pipeline", "team")
    } | {"pipeline": report.pipeline_id, "team": report.team_id}


class ReportScheduleForm(forms.Form):
    """When a report is emailed, to whom and in which format."""

    frequency = forms.ChoiceField(choices=ReportFrequency.choices)
    weekday = forms.TypedChoiceField(
        choices=[("", "—"), *enumerate(delivery.WEEKDAYS)], coerce=int, required=False,
        empty_value=None, help_text="Weekly schedules.",
    )  # fmt: skip
    day_of_month = forms.IntegerField(
        label="Day of the month", min_value=1, max_value=31, required=False,
        help_text="Monthly schedules; 29–31 mean the last day in shorter months.",
    )  # fmt: skip
    hour = forms.TypedChoiceField(
        choices=[(h, f"{h:02d}:00") for h in range(24)], coerce=int, initial=7,
        help_text="In the organisation's time zone.",
    )  # fmt: skip
    format = forms.ChoiceField(choices=ReportFormat.choices, initial=ReportFormat.XLSX)
    recipients = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="You always receive it; add people in your teams.",
    )  # fmt: skip
    active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, owner, schedule: ReportSchedule | None = None, **kwargs):
        if schedule is not None:
            kwargs.setdefault(
                "initial",
                {
                    "frequency": schedule.frequency, "weekday": schedule.weekday,
                    "day_of_month": schedule.day_of_month, "hour": schedule.hour,
                    "format": schedule.format, "active": schedule.active,
                    "recipients": list(schedule.recipients.values_list("pk", flat=True)),
                },
            )  # fmt: skip
        super().__init__(*args, **kwargs)
        self.fields["recipients"].queryset = delivery.recipient_choices(owner).order_by(
            "last_name", "first_name", "username"
        )

    def add_problem(self, error: DomainError) -> None:
        self.add_error(error.field if error.field in self.fields else None, error.message)

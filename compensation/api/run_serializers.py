"""Commission run serializers: shape only. ``compensation.run_selectors`` decides what a caller
sees and ``compensation.runs`` judges every write, with the pages' messages. Money is a string
(``"8900.00"``), never a float. Choice fields are plain strings with their choices in the help
text, so their enums do not collide with other models' ``status`` and ``kind`` in the schema."""

from __future__ import annotations

from rest_framework import serializers

from compensation.models import (
    CommissionRun,
    Credit,
    CreditType,
    LineKind,
    ManualAdjustment,
    PayoutLine,
    RunStatus,
)
from compensation.run_selectors import run_progress


def _one_of(choices) -> str:
    return "One of: " + ", ".join(f"{value} ({label})" for value, label in choices) + "."


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=20, decimal_places=2, read_only=True, **kwargs)


class CommissionRunSerializer(serializers.ModelSerializer):
    """A run; while it calculates, ``progress`` and ``step`` come live from the worker."""

    status = serializers.CharField(read_only=True, help_text=_one_of(RunStatus.choices))
    period_kind = serializers.CharField(read_only=True, help_text="month or quarter.")
    progress = serializers.IntegerField(read_only=True, help_text="Percent done (calculating).")
    step = serializers.CharField(read_only=True, help_text="What the calculation is doing.")

    class Meta:
        model = CommissionRun
        fields = [
            "id", "period_key", "period_kind", "label", "period_start", "period_end",
            "fiscal_year", "status", "currency", "total", "lines_count", "payees_count",
            "progress", "step", "error", "created_by", "created_at", "calculated_by",
            "calculated_at", "approved_by", "approved_at", "paid_by", "paid_at",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance: CommissionRun) -> dict:
        data = super().to_representation(instance)
        progress = run_progress(instance)
        data["progress"], data["step"] = progress.percent, progress.step
        return data


class RunCreateSerializer(serializers.Serializer):
    period_key = serializers.CharField(
        max_length=12, help_text="A fiscal quarter (2027-Q1) or month (2027-M01)."
    )


class RunFigureSerializer(serializers.Serializer):
    """One row of a breakdown, with the previous run's amount and the change (null when
    there is no previous run)."""

    key = serializers.CharField()
    label = serializers.CharField()
    amount = _money()
    lines = serializers.IntegerField()
    previous = _money(allow_null=True)
    change = _money(allow_null=True)


class RunPayeeSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user.pk")
    name = serializers.CharField(source="user")
    team = serializers.CharField(source="org.team_name")
    employee_id = serializers.CharField(source="org.employee_id")
    sales_role = serializers.CharField(source="org.role_label")
    total = _money()
    lines = serializers.IntegerField()
    open_disputes = serializers.IntegerField()


class RunRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    status = serializers.CharField(help_text=_one_of(RunStatus.choices))


class RunOverviewSerializer(serializers.Serializer):
    """A run's totals by team, sales role, component and kind against the previous run of the
    same kind (month or quarter), and its payees."""

    run = RunRefSerializer()
    previous_run = RunRefSerializer(source="previous", allow_null=True)
    currency = serializers.CharField(source="run.currency")
    total = _money()
    previous_total = _money(allow_null=True)
    change = _money(allow_null=True)
    lines_count = serializers.IntegerField()
    open_disputes = serializers.IntegerField()
    by_team = RunFigureSerializer(many=True)
    by_role = RunFigureSerializer(many=True)
    by_component = RunFigureSerializer(many=True)
    by_kind = RunFigureSerializer(many=True)
    payees = RunPayeeSerializer(many=True)


class RunLineSerializer(serializers.ModelSerializer):
    """A payout line of a run with its whole trace."""

    user_name = serializers.StringRelatedField(source="user", read_only=True)
    kind = serializers.CharField(read_only=True, help_text=_one_of(LineKind.choices))
    trace = serializers.JSONField(
        read_only=True,
        help_text="steps, formula, exact, rounded, rounding, already_paid, slices, cause, …",
    )

    class Meta:
        model = PayoutLine
        fields = [
            "id", "run", "user", "user_name", "kind", "component_key", "component_name",
            "measured_key", "measured_label", "measured_start", "measured_end", "measure",
            "quota", "attainment_before", "attainment_after", "tier", "rate", "exact_amount",
            "amount", "currency", "trace",
        ]  # fmt: skip
        read_only_fields = fields


class RunLinesQuerySerializer(serializers.Serializer):
    user = serializers.IntegerField(required=False, help_text="Only this person's lines.")
    component = serializers.CharField(required=False, help_text="Only this component key.")
    kind = serializers.ChoiceField(
        required=False, choices=LineKind.choices, help_text="Only lines of this kind."
    )


class CreditSerializer(serializers.ModelSerializer):
    """One credit a run wrote: a share of a closed-won deal credited to a person, in the run's
    currency, with the deal as the run saw it (its version and the fields plans filter on)."""

    user_name = serializers.StringRelatedField(source="user", read_only=True)
    credit_type = serializers.CharField(read_only=True, help_text=_one_of(CreditType.choices))

    class Meta:
        model = Credit
        fields = [
            "id", "run", "user", "user_name", "credit_type", "source_user", "deal",
            "deal_version", "percent", "close_date", "invoice_date", "amount", "acv",
            "gross_margin", "units", "new_logo", "pipeline_id", "deal_type", "product_family",
            "segment", "term_months",
        ]  # fmt: skip
        read_only_fields = fields


class RunCreditsQuerySerializer(serializers.Serializer):
    user = serializers.IntegerField(required=False, help_text="Only this person's credits.")
    deal = serializers.IntegerField(required=False, help_text="Only this deal's credits.")
    credit_type = serializers.ChoiceField(
        required=False, choices=CreditType.choices, help_text="Only credits of this type."
    )


class ManualAdjustmentSerializer(serializers.ModelSerializer):
    user_name = serializers.StringRelatedField(source="user", read_only=True)

    class Meta:
        model = ManualAdjustment
        fields = [
            "id", "run", "user", "user_name", "amount", "reason", "dispute", "created_by",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class AdjustmentCreateSerializer(serializers.Serializer):
    """A manual adjustment; the service refuses a blank reason, zero and fractions of cents."""

    user = serializers.IntegerField(help_text="Whose pay it changes.")
    amount = serializers.DecimalField(
        max_digits=18, decimal_places=10, help_text="Negative takes money back, e.g. -150.00."
    )
    reason = serializers.CharField(allow_blank=True, help_text="Why; shown on the statement.")

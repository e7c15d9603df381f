"""Statement, payout line and dispute serializers: shape only. The selectors in
``compensation.statements`` decide what a caller sees and the services in
``compensation.disputes`` judge every write (with the pages' messages). Money is a string
(``"8900.00"``), never a float."""

from __future__ import annotations

from rest_framework import serializers

from compensation.models import Dispute, DisputeStatus, LineKind, PayoutLine


def _one_of(choices) -> str:
    return "One of: " + ", ".join(f"{value} ({label})" for value, label in choices) + "."


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=16, decimal_places=2, read_only=True, **kwargs)


class PayoutLineSerializer(serializers.ModelSerializer):
    run_label = serializers.CharField(source="run.label", read_only=True)
    user_name = serializers.StringRelatedField(source="user", read_only=True)
    kind = serializers.CharField(read_only=True, help_text=_one_of(LineKind.choices))

    class Meta:
        model = PayoutLine
        fields = [
            "id", "run", "run_label", "user", "user_name", "kind", "component_key",
            "component_name", "measured_key", "measured_label", "measured_start", "measured_end",
            "measure", "quota", "attainment_before", "attainment_after", "tier", "rate",
            "exact_amount", "amount", "currency",
        ]  # fmt: skip
        read_only_fields = fields


class CreditRowSerializer(serializers.Serializer):
    credit_id = serializers.IntegerField()
    deal_id = serializers.IntegerField()
    deal_name = serializers.CharField()
    credit_type = serializers.CharField()
    credit_type_label = serializers.CharField()
    percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    close_date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    measure = serializers.DecimalField(
        max_digits=20, decimal_places=4, help_text="What this credit gave the line's measure."
    )
    source_user = serializers.IntegerField(source="source_user.pk", allow_null=True, default=None)


class LineDisputeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dispute
        fields = ["id", "status", "message", "answer", "raised_by", "raised_at", "resolved_at"]
        read_only_fields = fields


class LineDetailSerializer(serializers.Serializer):
    """A payout line with the trace of how it was computed, its credits and disputes."""

    line = PayoutLineSerializer(read_only=True)
    trace = serializers.JSONField(
        source="line.trace",
        read_only=True,
        help_text="steps, formula, exact, rounded, rounding, already_paid, slices, cause, …",
    )
    credits = CreditRowSerializer(many=True, read_only=True)
    disputes = LineDisputeSerializer(many=True, read_only=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        return {**data.pop("line"), **data}


class ComponentGroupSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    total = _money()
    attainment = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True, help_text="Percent, latest this run."
    )
    tier = serializers.CharField()
    quota = _money(allow_null=True)
    lines = serializers.SerializerMethodField()

    def get_lines(self, group) -> list[int]:
        return [line.pk for line in group.lines]


class PayoutCurveSerializer(serializers.Serializer):
    component_key = serializers.CharField()
    component_name = serializers.CharField()
    measured_label = serializers.CharField()
    quota = _money()
    points = serializers.SerializerMethodField(help_text="[attainment %, payout] pairs.")
    attainment = serializers.DecimalField(max_digits=12, decimal_places=4)
    payout = serializers.DecimalField(
        max_digits=28, decimal_places=10, help_text="Exact payout at the person's attainment."
    )
    tier = serializers.CharField()

    def get_points(self, curve) -> list[list[str]]:
        return [[str(percent), str(payout)] for percent, payout in curve.points]


class StatementSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user.pk")
    user_name = serializers.StringRelatedField(source="user")
    run = serializers.IntegerField(source="run.pk")
    run_label = serializers.CharField(source="run.label")
    run_status = serializers.CharField(source="run.status")
    period_start = serializers.DateField(source="run.period_start")
    period_end = serializers.DateField(source="run.period_end")
    fiscal_year = serializers.IntegerField(source="run.fiscal_year")
    currency = serializers.CharField()
    total = _money(help_text="The exact sum of the lines.")
    components = ComponentGroupSerializer(many=True)
    curves = PayoutCurveSerializer(many=True)
    lines = PayoutLineSerializer(many=True)


class StatementQuerySerializer(serializers.Serializer):
    run = serializers.IntegerField(help_text="The commission run.")
    user = serializers.IntegerField(required=False, help_text="Default: yourself.")


class YearQuerySerializer(serializers.Serializer):
    fiscal_year = serializers.IntegerField(min_value=2000, max_value=2100)
    user = serializers.IntegerField(required=False, help_text="Default: yourself.")


class RunTotalSerializer(serializers.Serializer):
    run = serializers.IntegerField(source="run.pk")
    run_label = serializers.CharField(source="run.label")
    run_status = serializers.CharField(source="run.status")
    total = _money()
    lines = serializers.IntegerField()


class ComponentEarningsSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    total = _money()


class ComponentAttainmentSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    measured_label = serializers.CharField()
    attainment = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    tier = serializers.CharField()
    quota = _money(allow_null=True)
    run = serializers.IntegerField(source="run.pk")


class YearToDateSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user.pk")
    fiscal_year = serializers.IntegerField()
    currency = serializers.CharField(allow_null=True)
    total = _money()
    by_component = ComponentEarningsSerializer(many=True)
    by_run = RunTotalSerializer(many=True)
    attainment = ComponentAttainmentSerializer(many=True)


class DisputeSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text=_one_of(DisputeStatus.choices))
    user = serializers.IntegerField(source="line.user_id", read_only=True)
    run = serializers.IntegerField(source="line.run_id", read_only=True)
    run_label = serializers.CharField(source="line.run.label", read_only=True)
    line_amount = _money(source="line.amount")

    class Meta:
        model = Dispute
        fields = [
            "id", "line", "user", "run", "run_label", "line_amount", "status", "message",
            "answer", "raised_by", "raised_at", "resolved_by", "resolved_at",
        ]  # fmt: skip
        read_only_fields = fields


class DisputeCreateSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="A line of your own approved statement.")
    message = serializers.CharField(
        allow_blank=True, max_length=4000, help_text="What looks wrong with the line."
    )


class DisputeAnswerSerializer(serializers.Serializer):
    answer = serializers.CharField(allow_blank=True, max_length=4000)


class DisputeAdjustSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        help_text="Added to the rep's pay in the next open run (negative takes it back).",
    )
    answer = serializers.CharField(allow_blank=True, max_length=4000)

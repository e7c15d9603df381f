"""Serializers of the estimate, amortisation and what-if endpoints: shape only. The figures and
who may see them come from ``compensation.estimator``, ``compensation.amortisation`` and
``compensation.whatif``. Money is a string (``"4880.00"``), never a float."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from compensation import whatif


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True, **kwargs)


def _percent(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True, allow_null=True, **kwargs
    )


# --- Estimate -----------------------------------------------------------------------------------


class EstimateQuerySerializer(serializers.Serializer):
    deal = serializers.IntegerField(help_text="The open deal to estimate.")
    user = serializers.IntegerField(
        required=False, help_text="Only this seller's estimate (default: everyone you may see)."
    )


class DealCreditSerializer(serializers.Serializer):
    credit_type = serializers.CharField()
    percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    amount = _money()
    acv = _money()
    gross_margin = _money()
    units = serializers.DecimalField(max_digits=14, decimal_places=4)


class ComponentEstimateSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    measure_name = serializers.CharField()
    measured_label = serializers.CharField()
    quota = _money(allow_null=True)
    measure_before = serializers.DecimalField(max_digits=20, decimal_places=4)
    measure_after = serializers.DecimalField(max_digits=20, decimal_places=4)
    attainment_before = _percent(help_text="Percent of quota.")
    attainment_after = _percent(help_text="Percent of quota.")
    tier_before = serializers.CharField()
    tier_after = serializers.CharField()
    reaches = serializers.CharField(help_text="The tier the deal lifts the seller into, or ''.")
    payout_before = _money()
    payout_after = _money()
    difference = _money()


class EstimateSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="person.pk")
    user_name = serializers.CharField(source="person")
    plan = serializers.IntegerField(source="plan.pk", allow_null=True, default=None)
    plan_name = serializers.CharField(source="plan", allow_null=True, default=None)
    on = serializers.DateField()
    currency = serializers.CharField()
    problem = serializers.CharField(help_text="Why there is no estimate ('' when there is one).")
    headline = serializers.CharField()
    credited_amount = _money()
    total = _money(help_text="What closing the deal would add to the seller's pay.")
    credits = DealCreditSerializer(many=True)
    components = ComponentEstimateSerializer(many=True)
    not_counted = serializers.ListField(
        child=serializers.CharField(), help_text="Components that would not count this deal."
    )
    note = serializers.CharField()


class DealEstimatesSerializer(serializers.Serializer):
    deal = serializers.IntegerField()
    estimates = EstimateSerializer(many=True)


# --- Amortisation -------------------------------------------------------------------------------


class AmortisationRowSerializer(serializers.Serializer):
    period = serializers.CharField(source="period.key")
    label = serializers.CharField(source="period.label")
    start = serializers.DateField(source="period.start")
    end = serializers.DateField(source="period.end")
    opening = _money()
    incurred = _money()
    expensed = _money(help_text="Expensed when incurred (terms of 12 months or less, no deal).")
    capitalised = _money()
    amortisation = _money()
    closing = _money()
    expense = _money(help_text="Commission expense: expensed + amortisation.")


class AmortisationSerializer(serializers.Serializer):
    start = serializers.CharField(source="start.key")
    end = serializers.CharField(source="end.key")
    currency = serializers.CharField()
    opening = _money()
    closing = _money()
    totals = serializers.DictField(child=_money())
    reconciles = serializers.BooleanField()
    rows = AmortisationRowSerializer(many=True)


# --- What-if ------------------------------------------------------------------------------------


class WhatIfRequestSerializer(serializers.Serializer):
    plan = serializers.IntegerField(help_text="The plan version to model (usually a draft).")
    mode = serializers.ChoiceField(choices=whatif.MODES)
    period = serializers.CharField(
        required=False, allow_blank=True, help_text="period mode: a past fiscal period, 2027-Q1."
    )
    users = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="period mode: the reps to model (default: everyone on the plan then).",
    )
    reps = serializers.IntegerField(
        required=False, min_value=1, max_value=whatif.MAX_SIMULATED_REPS
    )
    mean = serializers.DecimalField(max_digits=7, decimal_places=2, required=False)
    sd = serializers.DecimalField(
        max_digits=7, decimal_places=2, required=False, min_value=Decimal(0)
    )
    seed = serializers.IntegerField(required=False, min_value=0)
    quota = serializers.DecimalField(
        max_digits=16, decimal_places=2, required=False, min_value=Decimal("0.01")
    )

    def validate(self, attrs):
        if attrs["mode"] == whatif.PERIOD and not attrs.get("period"):
            raise serializers.ValidationError({"period": "Give the past period to model."})
        if attrs["mode"] == whatif.SIMULATED:
            missing = [n for n in ("reps", "mean", "sd", "seed") if attrs.get(n) is None]
            if missing:
                raise serializers.ValidationError(
                    {name: "Needed to simulate attainment." for name in missing}
                )
        return attrs

    def distribution(self) -> whatif.Distribution | None:
        data = self.validated_data
        if data["mode"] != whatif.SIMULATED:
            return None
        return whatif.Distribution(
            reps=data["reps"],
            mean=data["mean"],
            sd=data["sd"],
            seed=data["seed"],
            quota=data.get("quota"),
        )


class RepOutcomeSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user_id", allow_null=True)
    name = serializers.CharField()
    attainment = _percent()
    band = serializers.CharField()
    bookings = _money()
    cost = _money()
    live_cost = _money(allow_null=True)
    difference = _money(allow_null=True)


class BandOutcomeSerializer(serializers.Serializer):
    band = serializers.CharField()
    reps = serializers.IntegerField()
    cost = _money()
    live_cost = _money(allow_null=True)
    difference = _money(allow_null=True)


class WhatIfSerializer(serializers.Serializer):
    plan = serializers.IntegerField(source="plan.pk")
    plan_name = serializers.CharField(source="plan")
    live_plan = serializers.IntegerField(source="live.pk", allow_null=True, default=None)
    live_plan_name = serializers.CharField(source="live", allow_null=True, default=None)
    mode = serializers.CharField()
    description = serializers.CharField()
    currency = serializers.CharField()
    bookings = _money()
    cost = _money()
    cost_percent = _percent(help_text="Cost as a percentage of bookings.")
    live_cost = _money(allow_null=True)
    live_cost_percent = _percent()
    difference = _money(allow_null=True, help_text="Cost minus the live plan's cost.")
    bands = BandOutcomeSerializer(many=True)
    reps = RepOutcomeSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())

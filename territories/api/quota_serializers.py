"""Quota planning serializers: shape and validate; ``territories.quotas`` (and
``territories.quota_csv``) apply the rules, so amounts and reasons are passed through as given
and refused there, with the same messages as on the pages. Money is a string (``"2500.00"``)."""

from __future__ import annotations

from rest_framework import serializers

from salesops.imports.api import ImportRowErrorSerializer
from territories.models import (
    AllocationBasis,
    Quota,
    QuotaPlan,
    QuotaPlanStatus,
    QuotaReview,
    QuotaSource,
    RampProfile,
    ReviewStatus,
)


def _one_of(choices) -> str:
    return "One of: " + ", ".join(f"{value} ({label})" for value, label in choices) + "."


# Any number of digits and decimals: the services check (and word) what a quota may be.
def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=None, **kwargs)


# --- Ramp profiles -------------------------------------------------------------------------------


class RampProfileSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=80)  # the service checks (and words) a repeated name
    percents = serializers.ListField(
        child=serializers.DecimalField(max_digits=None, decimal_places=None),
        help_text="Percent of full quota in each month of tenure (100 after the list).",
    )

    class Meta:
        model = RampProfile
        fields = ["id", "name", "percents"]


# --- Plans and reviews ---------------------------------------------------------------------------


class QuotaReviewSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text=_one_of(ReviewStatus.choices))
    team_name = serializers.CharField(source="team.name", read_only=True)
    fiscal_year = serializers.IntegerField(source="plan.fiscal_year", read_only=True)

    class Meta:
        model = QuotaReview
        fields = [
            "id", "plan", "fiscal_year", "team", "team_name", "level", "reviewer", "status",
            "comment", "decided_at",
        ]  # fmt: skip
        read_only_fields = fields


class ReviewDecisionSerializer(serializers.Serializer):
    accept = serializers.BooleanField(
        help_text="true: accept the team's quotas; false: send the plan back to sales ops."
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required to send back."
    )


class QuotaPlanSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text=_one_of(QuotaPlanStatus.choices))
    basis = serializers.CharField(read_only=True, help_text=_one_of(AllocationBasis.choices))
    is_locked = serializers.BooleanField(read_only=True, help_text="Published: read-only.")
    month_weights = serializers.ListField(
        child=serializers.DecimalField(max_digits=7, decimal_places=4), read_only=True
    )
    reviews = QuotaReviewSerializer(many=True, read_only=True, help_text="The review chain.")

    class Meta:
        model = QuotaPlan
        fields = [
            "id", "fiscal_year", "target", "currency", "basis", "month_weights", "ramp_profile",
            "status", "is_locked", "created_by", "created_at", "published_at", "published_by",
            "reviews",
        ]  # fmt: skip
        read_only_fields = fields


class QuotaPlanCreateSerializer(serializers.Serializer):
    fiscal_year = serializers.IntegerField(min_value=2000, max_value=2100)
    target = _money(help_text='Company bookings target for the year, e.g. "1200000.00".')
    currency = serializers.CharField(
        max_length=3, required=False, help_text="Default: the corporate currency (the only one)."
    )
    basis = serializers.CharField(
        default=AllocationBasis.HISTORY, help_text=_one_of(AllocationBasis.choices)
    )
    month_weights = serializers.ListField(
        child=serializers.DecimalField(max_digits=None, decimal_places=None),
        required=False,
        allow_null=True,
        default=None,
        help_text="12 seasonal weights, fiscal months 1-12; default: equal.",
    )
    ramp_profile = serializers.PrimaryKeyRelatedField(
        queryset=RampProfile.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: each rep's own linear ramp.",
    )


class AllocateSerializer(serializers.Serializer):
    as_of = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The day the weights are read (default today).",
    )


# --- Quotas --------------------------------------------------------------------------------------


class QuotaSerializer(serializers.ModelSerializer):
    period_kind = serializers.CharField(read_only=True, help_text="month, quarter or year.")
    source = serializers.CharField(read_only=True, help_text=_one_of(QuotaSource.choices))
    holder_type = serializers.SerializerMethodField(help_text="rep, team or territory.")
    fiscal_year = serializers.IntegerField(source="plan.fiscal_year", read_only=True)

    class Meta:
        model = Quota
        fields = [
            "id", "plan", "fiscal_year", "period_kind", "period_key", "period_start",
            "period_end", "holder_type", "user", "team", "territory", "amount", "full_amount",
            "source", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_holder_type(self, quota: Quota) -> str:
        if quota.user_id is not None:
            return "rep"
        return "team" if quota.team_id is not None else "territory"


class QuotaUpdateSerializer(serializers.Serializer):
    amount = _money(help_text="The new amount; its quarter and year (or months) follow.")
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Why it changes (required; kept in the quota's history).",
    )


class QuotaChangeSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.CharField(help_text="insert, update or delete.")
    user = serializers.IntegerField(source="user.pk", allow_null=True, default=None)
    reason = serializers.CharField()
    amount_before = _money(allow_null=True)
    amount_after = _money()
    full_amount_before = _money(allow_null=True)
    full_amount_after = _money()
    source = serializers.CharField()


# --- Capacity ------------------------------------------------------------------------------------


class CapacityQuerySerializer(serializers.Serializer):
    productivity = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        default=None,
        help_text="Bookings per ramped rep per month; default: from the last twelve months.",
    )
    attrition_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, default=0,
        help_text="Annual attrition, percent of reps leaving a year.",
    )  # fmt: skip
    backfill_months = serializers.IntegerField(
        min_value=1, max_value=24, default=1, help_text="Months from a departure to its backfill."
    )
    hires = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text='Planned hires by month: "2027-07:2,2027-10:1" (YYYY-MM:count, comma-separated).',
    )


class CapacityMonthSerializer(serializers.Serializer):
    month = serializers.DateField()
    heads = serializers.DecimalField(max_digits=None, decimal_places=4)
    ramped_heads = serializers.DecimalField(max_digits=None, decimal_places=4)
    capacity = _money()
    target = _money()
    gap = _money(help_text="target - capacity: above zero, the month is short.")
    coverage_ratio = serializers.DecimalField(max_digits=None, decimal_places=4, allow_null=True)


class CapacityTotalSerializer(serializers.Serializer):
    capacity = _money()
    target = _money()
    gap = _money()
    coverage_ratio = serializers.DecimalField(max_digits=None, decimal_places=4, allow_null=True)


class CapacitySerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    fiscal_year = serializers.IntegerField()
    productivity = _money(help_text="The productivity used (given, or from history).")
    attrition_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    backfill_months = serializers.IntegerField()
    months = CapacityMonthSerializer(many=True)
    total = CapacityTotalSerializer()
    reachable = serializers.BooleanField(help_text="Total capacity reaches the total target.")


# --- CSV import ----------------------------------------------------------------------------------


class QuotaImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        required=False, help_text="The CSV (or XLSX) of the quotas export, edited, as a file…"
    )
    text = serializers.CharField(required=False, trim_whitespace=False, help_text="…or as text.")
    dry_run = serializers.BooleanField(
        default=False, help_text="Only check the file: report the errors, write nothing."
    )

    def validate(self, attrs):
        if ("file" in attrs) == ("text" in attrs):
            raise serializers.ValidationError("Give the CSV as a file or as text (one of them).")
        return attrs


class QuotaImportReportSerializer(serializers.Serializer):
    """What a quotas import found and did (row errors in the import framework's shape)."""

    committed = serializers.BooleanField(help_text="True once the quotas were written.")
    rows = serializers.IntegerField()
    changed = serializers.IntegerField(help_text="Rows of the file that change a quota.")
    written = serializers.IntegerField(
        help_text="Quotas written (the quarters and years that follow included)."
    )
    error_count = serializers.IntegerField()
    errors = ImportRowErrorSerializer(many=True)
    messages = serializers.ListField(
        child=serializers.CharField(), help_text='Each error as a sentence: "Row 4, holder: …".'
    )

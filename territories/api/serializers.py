"""Territory serializers: shape and validate; ``territories.services`` and ``territories.runs``
apply the rules (no serializer writes anything itself)."""

from __future__ import annotations

from rest_framework import serializers

from salesops.imports.api import ImportRowErrorSerializer
from salesops.org.models import User
from territories.models import (
    AssignmentMove,
    AssignmentRule,
    AssignmentRun,
    MemberRole,
    PlanStatus,
    RunStatus,
    Territory,
    TerritoryMember,
    TerritoryPlan,
    TerritoryType,
)


def _one_of(choices) -> str:
    return "One of: " + ", ".join(f"{value} ({label})" for value, label in choices) + "."


# --- plans -----------------------------------------------------------------------------------


class TerritoryPlanSerializer(serializers.ModelSerializer):
    # Plain text with the values listed, not enums: enum components are named after the field
    # ("status"), which other apps' fields already use with other values.
    status = serializers.CharField(read_only=True, help_text=_one_of(PlanStatus.choices))
    is_editable = serializers.BooleanField(read_only=True)

    class Meta:
        model = TerritoryPlan
        fields = [
            "id", "name", "status", "based_on", "notes", "created_by", "created_at",
            "effective_date", "is_editable",
        ]  # fmt: skip
        read_only_fields = fields


class TerritoryPlanCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)


class ScenarioCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default="",
        help_text='Empty: "Copy of <source>".',
    )  # fmt: skip
    source = serializers.PrimaryKeyRelatedField(
        queryset=TerritoryPlan.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The plan to copy (default: the live plan).",
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class PlanApplySerializer(serializers.Serializer):
    effective_date = serializers.DateField(
        help_text="The day accounts move; a later day waits (scheduled) until then."
    )
    reassign_open_deals = serializers.BooleanField(
        default=False, help_text="Also give moved accounts' open deals to their new owner."
    )


class RuleTestSerializer(serializers.Serializer):
    """An account to place: an existing one (``account``), and/or the fields to try."""

    account = serializers.IntegerField(
        required=False, help_text="An existing account: its fields, unless given here."
    )
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)
    region = serializers.CharField(required=False, allow_blank=True, max_length=100)
    postal_code = serializers.CharField(required=False, allow_blank=True, max_length=20)
    industry = serializers.CharField(required=False, allow_blank=True, max_length=100)
    employees = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    annual_revenue = serializers.DecimalField(
        max_digits=18, decimal_places=2, required=False, allow_null=True, min_value=0
    )


class RegionMoveSerializer(serializers.Serializer):
    country = serializers.CharField(max_length=2, help_text="ISO code, e.g. US.")
    region = serializers.CharField(max_length=100, help_text="State or region, e.g. CA.")
    territory = serializers.PrimaryKeyRelatedField(
        queryset=Territory.objects.all(), help_text="Where the region goes (of this plan)."
    )


class RulesImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        required=False, help_text="The CSV (the rules export's columns), as a file…"
    )
    text = serializers.CharField(required=False, trim_whitespace=False, help_text="…or as text.")
    dry_run = serializers.BooleanField(
        default=False, help_text="Only check the file: report the errors, write nothing."
    )

    def validate(self, attrs):
        if ("file" in attrs) == ("text" in attrs):
            raise serializers.ValidationError("Give the CSV as a file or as text (one of them).")
        return attrs


class RulesImportReportSerializer(serializers.Serializer):
    """What a rules import found and did (row errors in the import framework's shape)."""

    committed = serializers.BooleanField(help_text="True once the rules were replaced.")
    rows = serializers.IntegerField()
    error_count = serializers.IntegerField()
    error_rows = serializers.IntegerField()
    errors = ImportRowErrorSerializer(many=True)
    messages = serializers.ListField(
        child=serializers.CharField(), help_text='Each error as a sentence: "Row 3, …".'
    )
    notes = serializers.ListField(child=serializers.CharField())
    written = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rules removed and written."
    )


# --- territories and members -----------------------------------------------------------------


class MemberBriefSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True, help_text=_one_of(MemberRole.choices))

    class Meta:
        model = TerritoryMember
        fields = ["id", "user", "role"]
        read_only_fields = fields


class TerritorySerializer(serializers.ModelSerializer):
    type = serializers.CharField(
        required=False, default=TerritoryType.GEOGRAPHY, help_text=_one_of(TerritoryType.choices)
    )
    members = MemberBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Territory
        fields = ["id", "plan", "parent", "key", "name", "type", "manager", "members"]
        validators: list = []  # the service checks (and words) uniqueness


class TerritoryUpdateSerializer(TerritorySerializer):
    type = serializers.CharField(required=False, help_text=_one_of(TerritoryType.choices))

    class Meta(TerritorySerializer.Meta):
        read_only_fields = ["plan"]


class TerritoryBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Territory
        fields = ["id", "key", "name"]
        read_only_fields = fields


class TerritoryMemberSerializer(serializers.ModelSerializer):
    role = serializers.CharField(
        required=False, default=MemberRole.OWNER, help_text=_one_of(MemberRole.choices)
    )
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())
    territory_key = serializers.CharField(source="territory.key", read_only=True)
    plan = serializers.IntegerField(source="territory.plan_id", read_only=True)

    class Meta:
        model = TerritoryMember
        fields = ["id", "territory", "territory_key", "plan", "user", "role"]
        validators: list = []  # adding an existing member changes their role (the service)


class TerritoryMemberUpdateSerializer(TerritoryMemberSerializer):
    role = serializers.CharField(help_text=_one_of(MemberRole.choices))

    class Meta(TerritoryMemberSerializer.Meta):
        read_only_fields = ["territory", "user"]


# --- rules -----------------------------------------------------------------------------------


class AssignmentRuleSerializer(serializers.ModelSerializer):
    territory_key = serializers.CharField(source="territory.key", read_only=True)

    class Meta:
        model = AssignmentRule
        fields = [
            "id", "plan", "territory", "territory_key", "position", "name", "countries",
            "regions", "postal_prefixes", "industries", "segments", "employees_min",
            "employees_max", "revenue_min", "revenue_max", "named_account_ids", "catch_all",
        ]  # fmt: skip
        extra_kwargs = {
            "position": {
                "required": False,
                "help_text": "Rules are tried from the lowest; empty: after the others.",
            }
        }
        validators: list = []  # the service checks (and words) the one catch-all


class AssignmentRuleUpdateSerializer(AssignmentRuleSerializer):
    class Meta(AssignmentRuleSerializer.Meta):
        read_only_fields = ["plan"]


class RulesReorderSerializer(serializers.Serializer):
    plan = serializers.PrimaryKeyRelatedField(queryset=TerritoryPlan.objects.all())
    rule_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Every rule of the plan except the catch-all, in the new order.",
    )


class RuleLandingSerializer(serializers.Serializer):
    territory = TerritoryBriefSerializer()
    rule = AssignmentRuleSerializer()
    segment = serializers.CharField(help_text="The account's segment (from its employees).")


# --- runs ------------------------------------------------------------------------------------


class AssignmentRunSerializer(serializers.ModelSerializer):
    """A run; while it runs, ``progress`` and ``step`` are read live from its Celery task."""

    status = serializers.CharField(read_only=True, help_text=_one_of(RunStatus.choices))
    plan_name = serializers.CharField(source="plan.name", read_only=True)
    progress = serializers.SerializerMethodField(help_text="Percent done.")
    step = serializers.SerializerMethodField(help_text="What the worker is doing now.")

    class Meta:
        model = AssignmentRun
        fields = [
            "id", "plan", "plan_name", "effective_date", "reassign_open_deals", "status",
            "progress", "step", "accounts_total", "accounts_moved", "owners_changed",
            "deals_reassigned", "error", "created_by", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_progress(self, run: AssignmentRun) -> int:
        return live_progress(run)[0]

    def get_step(self, run: AssignmentRun) -> str:
        return live_progress(run)[1]


def live_progress(run: AssignmentRun) -> tuple[int, str]:
    """``(percent, step)``: the worker's report while the run is under way (its transaction
    holds the run row), else the run row's own (``territories.selectors.run_progress``)."""
    from territories.selectors import run_progress

    cached = getattr(run, "_live_progress", None)
    if cached is None:
        progress = run_progress(run)
        cached = run._live_progress = (progress.percent, progress.step)
    return cached


class AssignmentMoveSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)
    to_territory_key = serializers.CharField(source="to_territory.key", read_only=True)

    class Meta:
        model = AssignmentMove
        fields = [
            "id", "run", "account", "account_name", "from_territory_key", "to_territory",
            "to_territory_key", "from_owner", "to_owner", "deals_reassigned",
        ]  # fmt: skip
        read_only_fields = fields

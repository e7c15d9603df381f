"""Comp plan serializers: shape and validate; ``compensation.documents`` judges a plan document
and ``compensation.plans`` the writes, so documents and amounts pass through as given and are
refused there, with the same messages as on the pages. Money is a string (``"2500.00"``)."""

from __future__ import annotations

from rest_framework import serializers

from compensation.models import CompPlan, PlanAssignment, PlanStatus
from salesops.org.models import User


def _one_of(choices) -> str:
    return "One of: " + ", ".join(f"{value} ({label})" for value, label in choices) + "."


DOCUMENT_HELP = (
    "The plan document (compensation.documents.PlanDocument): name, fiscal_year, currency, "
    "credit_date, roles, components, draw. Decimals as strings."
)


class CompPlanSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text=_one_of(PlanStatus.choices))
    document = serializers.JSONField(read_only=True, help_text=DOCUMENT_HELP)

    class Meta:
        model = CompPlan
        fields = [
            "id", "key", "version", "name", "fiscal_year", "status", "currency", "document",
            "created_by", "created_at", "updated_by", "updated_at", "published_by",
            "published_at",
        ]  # fmt: skip
        read_only_fields = fields


class PlanCreateSerializer(serializers.Serializer):
    key = serializers.CharField(
        max_length=60, help_text="Names the plan across its versions, e.g. ae-2027."
    )
    document = serializers.JSONField(help_text=DOCUMENT_HELP)


class PlanUpdateSerializer(serializers.Serializer):
    document = serializers.JSONField(help_text=DOCUMENT_HELP)


class PlanPublishSerializer(serializers.Serializer):
    move_assignments_from = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Move everyone on an earlier version to this one from this day.",
    )


class PlanImportSerializer(serializers.Serializer):
    key = serializers.CharField(
        max_length=60,
        help_text="A new key creates a plan; an existing key adds its next draft version.",
    )
    format = serializers.ChoiceField(choices=[("json", "JSON"), ("yaml", "YAML")])
    text = serializers.CharField(trim_whitespace=False, help_text="The plan document's text.")


class DocumentQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=[("json", "JSON"), ("yaml", "YAML")], default="json", required=False
    )


class PlanAssignmentSerializer(serializers.ModelSerializer):
    plan_key = serializers.CharField(source="plan.key", read_only=True)
    plan_version = serializers.IntegerField(source="plan.version", read_only=True)
    plan_name = serializers.CharField(source="plan.name", read_only=True)
    user_name = serializers.CharField(source="user.get_full_name", read_only=True)
    accepted = serializers.SerializerMethodField(help_text="Whether the person accepted it.")

    class Meta:
        model = PlanAssignment
        fields = [
            "id", "plan", "plan_key", "plan_version", "plan_name", "user", "user_name",
            "start_date", "end_date", "target_incentive", "accepted", "accepted_at",
            "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_accepted(self, assignment: PlanAssignment) -> bool:
        return assignment.accepted_at is not None


class AssignmentCreateSerializer(serializers.Serializer):
    plan = serializers.PrimaryKeyRelatedField(
        queryset=CompPlan.objects.all(), help_text="A published plan version."
    )
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True, default=None)
    target_incentive = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: the plan's target incentive for the person's role.",
    )


class AssignmentEndSerializer(serializers.Serializer):
    end_date = serializers.DateField(help_text="The assignment's last day.")
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Transfer, leave, termination…"
    )

"""CRM serializers: shape and validate; the services in crm.services apply the rules."""

from rest_framework import serializers

from crm.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealHistory,
    Lead,
    LeadRoutingRule,
    LeadStatus,
    Pipeline,
    Stage,
)


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = [
            "id", "pipeline", "name", "position", "probability", "forecast_category",
            "is_won", "is_lost", "required_fields", "rot_days",
        ]  # fmt: skip


class PipelineSerializer(serializers.ModelSerializer):
    stages = StageSerializer(many=True, read_only=True)

    class Meta:
        model = Pipeline
        fields = ["id", "name", "kind", "position", "active", "stages"]


class AccountSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=Account._meta.get_field("owner").related_model.objects.all(), required=False
    )

    class Meta:
        model = Account
        fields = [
            "id", "name", "domain", "website", "industry", "employees", "annual_revenue",
            "revenue_currency", "country", "region", "city", "postal_code", "segment", "parent",
            "owner", "territory_id", "external_id", "created_at",
        ]  # fmt: skip
        read_only_fields = ["segment", "territory_id", "created_at"]


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "account", "first_name", "last_name", "email", "phone", "title", "owner"]
        read_only_fields = ["owner"]


class DealSerializer(serializers.ModelSerializer):
    """Read shape of a deal; writes name ``version`` (the one read) for conflict detection."""

    stage_name = serializers.CharField(source="stage.name", read_only=True)
    account_name = serializers.CharField(source="account.name", read_only=True)
    owner_name = serializers.CharField(source="owner.get_full_name", read_only=True)

    class Meta:
        model = Deal
        fields = [
            "id", "name", "account", "account_name", "owner", "owner_name", "pipeline", "stage",
            "stage_name", "amount", "currency", "close_date", "probability", "forecast_category",
            "type", "next_step", "lost_reason", "primary_contact", "external_id", "created_at",
            "stage_entered_at", "closed_at", "updated_at", "version",
        ]  # fmt: skip
        read_only_fields = [
            "created_at", "stage_entered_at", "closed_at", "updated_at", "version",
        ]  # fmt: skip
        extra_kwargs = {
            "probability": {"required": False},
            "forecast_category": {"required": False},
        }


class DealCreateSerializer(DealSerializer):
    class Meta(DealSerializer.Meta):
        extra_kwargs = {
            **DealSerializer.Meta.extra_kwargs,
            "owner": {"required": False},
            "pipeline": {"required": False},
            "stage": {"required": False},
        }


class DealUpdateSerializer(DealSerializer):
    version = serializers.IntegerField(help_text="The version you read; a newer one answers 409.")

    class Meta(DealSerializer.Meta):
        read_only_fields = [
            "created_at", "stage_entered_at", "closed_at", "updated_at", "pipeline", "external_id",
        ]  # fmt: skip


class DealMoveSerializer(serializers.Serializer):
    stage = serializers.PrimaryKeyRelatedField(queryset=Stage.objects.all())
    version = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False)
    close_date = serializers.DateField(required=False)
    next_step = serializers.CharField(required=False, allow_blank=True)
    lost_reason = serializers.CharField(required=False, allow_blank=True)
    primary_contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(), required=False, allow_null=True
    )


class DealCloseSerializer(DealMoveSerializer):
    stage = None
    won = serializers.BooleanField()


class DealHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = DealHistory
        fields = [
            "id", "changed_at", "changed_by", "changed_fields", "from_stage", "to_stage",
            "from_amount", "to_amount", "currency", "from_close_date", "to_close_date",
            "from_owner", "to_owner", "from_forecast_category", "to_forecast_category",
        ]  # fmt: skip


class ActivitySerializer(serializers.ModelSerializer):
    done = serializers.BooleanField(write_only=True, default=True)

    class Meta:
        model = Activity
        fields = [
            "id", "kind", "subject", "notes", "owner", "deal", "account", "contact", "due_at",
            "done_at", "created_at", "done",
        ]  # fmt: skip
        read_only_fields = ["owner", "done_at", "created_at"]


class LeadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lead
        fields = [
            "id", "first_name", "last_name", "company", "email", "phone", "title", "country",
            "employees", "source", "status", "owner", "created_at", "first_response_at",
            "converted_at", "converted_account", "disqualify_reason", "external_id",
        ]  # fmt: skip
        read_only_fields = [
            "status", "created_at", "first_response_at", "converted_at", "converted_account",
            "disqualify_reason",
        ]  # fmt: skip
        extra_kwargs = {"owner": {"required": False}}


class LeadStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=LeadStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class LeadConvertSerializer(serializers.Serializer):
    deal_name = serializers.CharField(required=False)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False)
    close_date = serializers.DateField(required=False)
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all(), required=False)
    account_name = serializers.CharField(
        required=False, help_text="Name of the new account (default: the lead's company)."
    )
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.filter(active=True),
        required=False,
        help_text="Pipeline of the new deal (default: the new-business pipeline).",
    )


class LeadRoutingRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeadRoutingRule
        fields = ["id", "position", "name", "country", "segment", "team", "active"]

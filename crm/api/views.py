"""CRM API: thin viewsets; every queryset starts from ``visible_to``, every write is a service."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.response import Response

from crm import leads, services
from crm.api import serializers as s
from crm.filtersets import AccountFilterSet, ActivityFilterSet, ContactFilterSet, DealFilterSet
from crm.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealHistory,
    Lead,
    LeadRoutingRule,
    Pipeline,
    Stage,
)
from salesops.errors import NotAllowed


class PipelineViewSet(viewsets.ReadOnlyModelViewSet):
    """Pipelines with their ordered stages and each stage's exit criteria."""

    serializer_class = s.PipelineSerializer
    queryset = Pipeline.objects.prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("position"))
    )
    filterset_fields = ["kind", "active"]


class StageViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Stages; sales ops add and change them (``required_fields`` are the exit criteria)."""

    serializer_class = s.StageSerializer
    queryset = Stage.objects.select_related("pipeline")
    filterset_fields = ["pipeline"]

    def perform_create(self, serializer):
        serializer.instance = services.stage_save(
            acting_user=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        data = {**s.StageSerializer(serializer.instance).data, **serializer.validated_data}
        data["pipeline"] = serializer.instance.pipeline
        data.pop("id")
        serializer.instance = services.stage_save(
            acting_user=self.request.user, stage=serializer.instance, **data
        )


class AccountViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    serializer_class = s.AccountSerializer
    filterset_class = AccountFilterSet
    search_fields = ["name", "domain"]
    ordering_fields = ["name", "employees", "annual_revenue", "created_at"]
    ordering = ["name"]

    def get_queryset(self):
        return Account.objects.visible_to(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.account_save(
            acting_user=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.account_save(
            acting_user=self.request.user, account=serializer.instance, **serializer.validated_data
        )


class ContactViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilterSet
    ordering = ["last_name", "first_name"]

    def get_queryset(self):
        return Contact.objects.visible_to(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.contact_create(
            acting_user=self.request.user, **serializer.validated_data
        )


class DealViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Deals in the caller's scope. Changes name the ``version`` they read (409 if stale)."""

    filterset_class = DealFilterSet
    search_fields = ["name", "account__name"]
    ordering_fields = ["close_date", "amount", "name", "created_at", "stage__position"]
    ordering = ["close_date", "name"]

    def get_queryset(self):
        return Deal.objects.visible_to(self.request.user).select_related(
            "stage", "account", "owner"
        )

    def get_serializer_class(self):
        return {
            "create": s.DealCreateSerializer,
            "update": s.DealUpdateSerializer,
            "partial_update": s.DealUpdateSerializer,
        }.get(self.action, s.DealSerializer)

    def perform_create(self, serializer):
        serializer.instance = services.deal_create(
            acting_user=self.request.user, **serializer.validated_data
        )

    def update(self, request, *args, **kwargs):
        deal = self.get_object()
        serializer = s.DealUpdateSerializer(deal, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        version = changes.pop("version")
        deal = services.deal_update(
            deal=deal, acting_user=request.user, expected_version=version, **changes
        )
        return Response(s.DealSerializer(deal).data)

    @extend_schema(request=s.DealMoveSerializer, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the deal to another stage, filling the fields that stage needs in one call."""
        deal = self.get_object()
        body = s.DealMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        stage, version = fields.pop("stage"), fields.pop("version")
        deal = services.deal_move(
            deal=deal, stage=stage, acting_user=request.user, expected_version=version,
            fields=fields,
        )  # fmt: skip
        return Response(s.DealSerializer(deal).data)

    @extend_schema(request=s.DealCloseSerializer, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Mark the deal won or lost (a lost deal needs ``lost_reason``)."""
        deal = self.get_object()
        body = s.DealCloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        won, version = fields.pop("won"), fields.pop("version")
        deal = services.deal_close(
            deal=deal, won=won, acting_user=request.user, expected_version=version, fields=fields
        )
        return Response(s.DealSerializer(deal).data)

    @extend_schema(responses=s.DealHistorySerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        """Every change of stage, amount, close date, owner and forecast category, oldest first."""
        deal = self.get_object()
        rows = DealHistory.objects.filter(deal=deal).order_by("changed_at", "id")
        return Response(s.DealHistorySerializer(rows, many=True).data)


class ActivityViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Activities in scope; ``?open_tasks=true`` is a rep's to-do list."""

    serializer_class = s.ActivitySerializer
    filterset_class = ActivityFilterSet
    ordering_fields = ["due_at", "created_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return Activity.objects.visible_to(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.activity_log(
            acting_user=self.request.user, **serializer.validated_data
        )

    @extend_schema(request=None, responses=s.ActivitySerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        activity = services.activity_complete(acting_user=request.user, activity=self.get_object())
        return Response(s.ActivitySerializer(activity).data, status=status.HTTP_200_OK)


class LeadViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Leads in scope (unrouted ones only for sales ops); created leads are routed by the rules."""

    serializer_class = s.LeadSerializer
    filterset_fields = ["status", "source", "owner", "country"]
    search_fields = ["last_name", "company", "email"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return Lead.objects.visible_to(self.request.user)

    def perform_create(self, serializer):
        if not self.request.user.has_perm("crm.add_lead"):
            raise NotAllowed("Your role does not allow this change.")
        serializer.instance = leads.lead_create(
            acting_user=self.request.user, **serializer.validated_data
        )

    @extend_schema(request=s.LeadStatusSerializer, responses=s.LeadSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        body = s.LeadStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lead = leads.lead_set_status(
            lead=self.get_object(), acting_user=request.user, **body.validated_data
        )
        return Response(s.LeadSerializer(lead).data)

    @extend_schema(request=s.LeadConvertSerializer, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        """Create the account (unless given), contact and deal from this lead in one step."""
        body = s.LeadConvertSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        deal = leads.lead_convert(
            lead=self.get_object(), acting_user=request.user, **body.validated_data
        )
        return Response(s.DealSerializer(deal).data, status=status.HTTP_201_CREATED)


class LeadRoutingRuleViewSet(viewsets.ModelViewSet):
    """Lead routing rules, tried in ``position`` order; sales ops edit them."""

    serializer_class = s.LeadRoutingRuleSerializer
    queryset = LeadRoutingRule.objects.order_by("position")
    permission_classes = [DjangoModelPermissions]

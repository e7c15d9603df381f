"""Comp plan API: plan versions (create from a document, update a draft, publish, new version,
the document as YAML or JSON, import) and assignments (scoped list, create, end, accept,
delete).

Thin, as ``territories.api``: Django model permissions on every request (reads included),
every queryset from ``compensation.plan_selectors`` (a plan or assignment outside the caller's
scope answers 404), every write a ``compensation.plans`` service whose own checks (sales ops
only, the assigned person only, drafts only) hold here as on the pages, with the same messages.
"""

from __future__ import annotations

import json

import yaml
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from compensation import documents, plans
from compensation import plan_selectors as selectors
from compensation.api import plan_serializers as s
from compensation.models import CompPlan, PlanAssignment
from salesops.errors import DomainError, NotFound
from salesops.org.models import User

_VIEW = "%(app_label)s.view_%(model_name)s"
_CHANGE = "%(app_label)s.change_%(model_name)s"


class CompPermissions(DjangoModelPermissions):
    """Django model permissions for every request, reads included (``view_<model>``)."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": [_VIEW], "HEAD": [_VIEW]}


class AcceptPermissions(DjangoModelPermissions):
    """Accepting changes an assignment: sellers hold ``change_planassignment``, not ``add``."""

    perms_map = {**DjangoModelPermissions.perms_map, "POST": [_CHANGE]}


class YAMLTextRenderer(BaseRenderer):
    """Lets a client ask for ``?format=yaml``; an error answer (a dict) is written as YAML."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data
        plain = json.loads(json.dumps(data, default=str))  # ErrorDetail and friends as text
        return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)


class CompPlanViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Comp plan versions you may read: all (sales ops, finance, admins) or those you are on.

    A plan starts as a draft (``POST`` with ``key`` and ``document``, or ``import/``), is edited
    (``PUT``/``PATCH`` with ``document``, drafts only), then published (``{id}/publish/``),
    which retires the version it replaces; ``{id}/new-version/`` starts the next draft.
    """

    permission_classes = [CompPermissions]
    filterset_fields = ["key", "status", "fiscal_year", "version"]
    search_fields = ["name", "key"]
    ordering_fields = ["fiscal_year", "name", "version", "created_at"]
    ordering = ["-fiscal_year", "name", "-version"]

    def get_queryset(self):
        return selectors.plans_visible_to(self.request.user).select_related(
            "created_by", "updated_by", "published_by"
        )

    def get_serializer_class(self):
        return {
            "create": s.PlanCreateSerializer,
            "update": s.PlanUpdateSerializer,
            "partial_update": s.PlanUpdateSerializer,
            "publish": s.PlanPublishSerializer,
            "import_document": s.PlanImportSerializer,
        }.get(self.action, s.CompPlanSerializer)

    def get_renderers(self):
        if self.action == "document":  # ?format=yaml|json picks the renderer
            return [JSONRenderer(), YAMLTextRenderer()]
        return super().get_renderers()

    def _answer(self, plan: CompPlan, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.CompPlanSerializer(plan).data, status=code)

    @extend_schema(request=s.PlanCreateSerializer, responses={201: s.CompPlanSerializer})
    def create(self, request, *args, **kwargs):
        """A new plan (version 1, a draft) from its document; ``key`` must be new."""
        body = s.PlanCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        document = documents.validate(_mapping(body.validated_data["document"]))
        plan = plans.plan_create(
            document=document, key=body.validated_data["key"], acting_user=request.user
        )
        return self._answer(plan, status.HTTP_201_CREATED)

    @extend_schema(request=s.PlanUpdateSerializer, responses=s.CompPlanSerializer)
    def update(self, request, *args, **kwargs):
        """Replace a draft's document (published and retired versions are read-only)."""
        plan = self.get_object()
        body = s.PlanUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        document = documents.validate(_mapping(body.validated_data["document"]))
        plan = plans.plan_update(plan=plan, document=document, acting_user=request.user)
        return self._answer(plan)

    @extend_schema(request=s.PlanUpdateSerializer, responses=s.CompPlanSerializer)
    def partial_update(self, request, *args, **kwargs):
        """As ``PUT``: the document is replaced whole (it is validated as a whole)."""
        return self.update(request, *args, **kwargs)

    @extend_schema(request=s.PlanPublishSerializer, responses=s.CompPlanSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Publish a draft; the published version it replaces is retired. With
        ``move_assignments_from``, everyone on earlier versions moves to it from that day."""
        plan = self.get_object()
        body = s.PlanPublishSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = plans.plan_publish(
            plan=plan,
            acting_user=request.user,
            move_assignments_from=body.validated_data["move_assignments_from"],
        )
        return self._answer(plan)

    @extend_schema(request=None, responses={201: s.CompPlanSerializer})
    @action(detail=True, methods=["post"], url_path="new-version")
    def new_version(self, request, pk=None):
        """Start the next version: a draft copy of the plan's latest version."""
        draft = plans.plan_new_version(plan=self.get_object(), acting_user=request.user)
        return self._answer(draft, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["json", "yaml"], description="Default: json."
            )
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/yaml"): OpenApiTypes.STR,
        },
    )
    @action(detail=True, methods=["get"])
    def document(self, request, pk=None):
        """The plan document as a file, JSON or YAML (``?format=``): the file ``import/``
        reads back."""
        plan = self.get_object()
        fmt = "yaml" if request.query_params.get("format") == "yaml" else "json"
        text = documents.render(selectors.plan_document(plan), fmt)
        content_type = "application/yaml" if fmt == "yaml" else "application/json"
        response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{plan.key}-v{plan.version}.{fmt}"'
        return response

    @extend_schema(request=s.PlanImportSerializer, responses={201: s.CompPlanSerializer})
    @action(detail=False, methods=["post"], url_path="import")
    def import_document(self, request):
        """Import a plan document (JSON or YAML text): a new plan under a new ``key``, or the
        next draft version of the plan with that key (refused while it has a draft)."""
        body = s.PlanImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        plan = plans.plan_import(
            text=data["text"], fmt=data["format"], key=data["key"], acting_user=request.user
        )
        return self._answer(plan, status.HTTP_201_CREATED)


def _mapping(document) -> dict:
    """The body's document, refused unless it is a mapping (a JSON object)."""
    if not isinstance(document, dict):
        raise DomainError(
            "A plan document is a mapping with name, fiscal_year, components, …",
            field="document",
        )
    return document


class PlanAssignmentViewSet(
    mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Plan assignments in your scope: your own, your team subtree's, or all.

    ``POST`` puts a person on a published plan version; ``{id}/end/`` ends an assignment on a
    day (transfer, leave, termination); ``{id}/accept/`` is the assigned person accepting the
    plan; ``DELETE`` removes one made by mistake (not one payouts were computed on).
    """

    permission_classes = [CompPermissions]
    filterset_fields = ["plan", "user", "plan__key"]
    ordering_fields = ["start_date", "end_date", "created_at"]
    ordering = ["user", "start_date"]

    def get_queryset(self):
        queryset = selectors.assignments_visible_to(self.request.user)
        accepted = self.request.query_params.get("accepted")
        if accepted in ("true", "false"):
            queryset = queryset.filter(accepted_at__isnull=accepted == "false")
        return queryset

    def get_serializer_class(self):
        return {
            "create": s.AssignmentCreateSerializer,
            "end": s.AssignmentEndSerializer,
        }.get(self.action, s.PlanAssignmentSerializer)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "accepted", OpenApiTypes.BOOL, description="Only (not) accepted assignments."
            )
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.AssignmentCreateSerializer, responses={201: s.PlanAssignmentSerializer}
    )
    def create(self, request, *args, **kwargs):
        """Put a person on a published plan version from ``start_date``."""
        body = s.AssignmentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = request.user
        if not selectors.plans_visible_to(user).filter(pk=data["plan"].pk).exists():
            raise NotFound("This comp plan does not exist or is not yours to see.")
        if not User.objects.visible_to(user).filter(pk=data["user"].pk).exists():
            raise NotFound("This person does not exist or is outside your scope.")
        assignment = plans.assignment_create(
            plan=data["plan"], user=data["user"], start_date=data["start_date"],
            end_date=data["end_date"], target_incentive=data["target_incentive"],
            acting_user=user,
        )  # fmt: skip
        return Response(s.PlanAssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: PlanAssignment) -> None:
        plans.assignment_delete(assignment=instance, acting_user=self.request.user)

    @extend_schema(request=s.AssignmentEndSerializer, responses=s.PlanAssignmentSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        """End the assignment on ``end_date`` (its last day)."""
        assignment = self.get_object()
        body = s.AssignmentEndSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assignment = plans.assignment_end(
            assignment=assignment, end_date=body.validated_data["end_date"],
            reason=body.validated_data["reason"], acting_user=request.user,
        )  # fmt: skip
        return Response(s.PlanAssignmentSerializer(assignment).data)

    @extend_schema(request=None, responses=s.PlanAssignmentSerializer)
    @action(detail=True, methods=["post"], permission_classes=[AcceptPermissions])
    def accept(self, request, pk=None):
        """The assigned person accepts the plan version (accepting again changes nothing)."""
        assignment = plans.plan_accept(assignment=self.get_object(), acting_user=request.user)
        return Response(s.PlanAssignmentSerializer(assignment).data)

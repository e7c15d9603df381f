"""Territory API: plans and scenarios, territories, members, rules, rule runs and their moves.

Thin viewsets: every queryset starts from ``restrict`` (an object outside the caller's scope
answers 404), every write is a call to ``territories.services`` or ``territories.runs``, whose own
checks (planner role, editable plan) hold here as on the pages. Model permissions are required
for reads too, so reps and managers (who hold none on territory planning) get 403, finance reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Any

from django.db.models import Model, Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import DateField, ValidationError

from crm import selectors as crm_selectors
from crm.models import segment_for
from salesops.errors import NotFound
from salesops.permissions import restrict
from territories import runs, services
from territories.api import serializers as s
from territories.assignment import landing_for
from territories.exports import rules_csv, rules_csv_filename
from territories.filtersets import (
    AssignmentMoveFilterSet,
    AssignmentRuleFilterSet,
    AssignmentRunFilterSet,
    TerritoryFilterSet,
    TerritoryMemberFilterSet,
    TerritoryPlanFilterSet,
)
from territories.importers import report_lines, rules_import
from territories.models import (
    AssignmentMove,
    AssignmentRule,
    AssignmentRun,
    Territory,
    TerritoryMember,
    TerritoryPlan,
)

_VIEW = "%(app_label)s.view_%(model_name)s"


class TerritoryPermissions(DjangoModelPermissions):
    """Django model permissions for every request, reads included (``view_<model>``): an empty
    list would hide that the role may not plan territories at all."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": [_VIEW], "HEAD": [_VIEW]}


class TerritoryReadPermissions(DjangoModelPermissions):
    """For actions that only read although they are POSTed (the rule tester)."""

    perms_map = {method: [_VIEW] for method in ("GET", "HEAD", "OPTIONS", "POST")}


class CSVTextRenderer(BaseRenderer):
    """Lets a client ask for ``text/csv``; an error answer (a dict) becomes its message."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict):
            return str(data.get("detail", data))
        return data


def _plans(user):
    return restrict(TerritoryPlan.objects.all(), user)


def plain(value: Any) -> Any:
    """``value`` (dataclasses, lists, dicts of them) as JSON-ready data; Decimals as strings,
    dates in ISO form, records as their id."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Model):
        return value.pk
    return value


# --- plans -----------------------------------------------------------------------------------


class TerritoryPlanViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Territory plans: the live plan and its draft scenarios (and retired, archived ones).

    ``POST /territory-plans/`` creates the first live plan; later plans are scenarios copied
    from one (``scenarios/``), edited, then applied (``{id}/apply/``).
    """

    permission_classes = [TerritoryPermissions]
    filterset_class = TerritoryPlanFilterSet
    search_fields = ["name"]
    ordering_fields = ["created_at", "name", "effective_date"]
    ordering = ["-created_at"]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_queryset(self):
        return _plans(self.request.user)

    def get_serializer_class(self):
        return {
            "create": s.TerritoryPlanCreateSerializer,
            "scenarios": s.ScenarioCreateSerializer,
            "apply": s.PlanApplySerializer,
            "test_rule": s.RuleTestSerializer,
            "move_region": s.RegionMoveSerializer,
            "rules_import": s.RulesImportSerializer,
        }.get(self.action, s.TerritoryPlanSerializer)

    def get_renderers(self):
        if self.action == "rules_csv":  # errors in JSON unless the client asks for CSV only
            return [JSONRenderer(), CSVTextRenderer()]
        return super().get_renderers()

    @extend_schema(
        request=s.TerritoryPlanCreateSerializer, responses={201: s.TerritoryPlanSerializer}
    )
    def create(self, request, *args, **kwargs):
        """Create the organisation's first live plan (there can be only one live plan)."""
        body = s.TerritoryPlanCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = services.plan_create_live(name=body.validated_data["name"], acting_user=request.user)
        return Response(s.TerritoryPlanSerializer(plan).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ScenarioCreateSerializer, responses={201: s.TerritoryPlanSerializer})
    @action(detail=False, methods=["post"])
    def scenarios(self, request):
        """Draft a scenario: a full copy (territories, members, rules) of ``source`` (default:
        the live plan). Editing it changes nothing live until it is applied."""
        body = s.ScenarioCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        source = data["source"]
        if source is not None and not _plans(request.user).filter(pk=source.pk).exists():
            raise NotFound("This plan does not exist or is outside your scope.")
        scenario = services.scenario_create(
            name=data["name"], notes=data["notes"], source=source, acting_user=request.user
        )
        return Response(s.TerritoryPlanSerializer(scenario).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.TerritoryPlanSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        """Archive a draft scenario (it stays readable, no longer editable)."""
        plan = services.scenario_archive(plan=self.get_object(), acting_user=request.user)
        return Response(s.TerritoryPlanSerializer(plan).data)

    @extend_schema(request=s.PlanApplySerializer, responses={202: s.AssignmentRunSerializer})
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        """Apply the plan's rules to every account from ``effective_date``: a draft scenario goes
        live then. Answers with the run (queued for the worker, or scheduled for a later day);
        follow it at ``/assignment-runs/{id}/``."""
        body = s.PlanApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = runs.assignment_run_create(
            plan=self.get_object(), acting_user=request.user, **body.validated_data
        )
        return Response(s.AssignmentRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "base", OpenApiTypes.INT, description="Plan to compare with (default: live)."
            ),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Accounts per page (50)."),
            OpenApiParameter("offset", OpenApiTypes.INT, description="Accounts to skip (0)."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        """The accounts this plan places in another territory, or gives another owner, than
        ``base`` does: exact counts, moves by (from, to) territory, and a page of accounts."""
        from territories import scenarios  # the scenario computations load on first use

        plan = self.get_object()
        base = None
        if request.query_params.get("base"):
            base = _plans(request.user).filter(pk=_int_param(request, "base")).first()
            if base is None:
                raise NotFound("The base plan does not exist or is outside your scope.")
        page = {
            name: _int_param(request, name)
            for name in ("limit", "offset")
            if request.query_params.get(name)
        }
        return Response(plain(scenarios.scenario_diff(scenario=plan, base=base, **page)))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as_of", OpenApiTypes.DATE, description="Figures as of this day (default today)."
            )
        ],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        """Each territory's figures under this plan, by key, rolled up the tree (accounts,
        potential, pipeline, bookings, owners …)."""
        from territories import scenarios  # the scenario computations load on first use

        plan = self.get_object()
        as_of = None
        if request.query_params.get("as_of"):
            field = DateField()
            try:
                as_of = field.to_internal_value(request.query_params["as_of"])
            except ValidationError as error:
                raise ValidationError({"as_of": error.detail}) from None
        return Response(plain(scenarios.territory_metrics(plan=plan, as_of=as_of)))

    @extend_schema(request=s.RuleTestSerializer, responses=s.RuleLandingSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path="test-rule",
        permission_classes=[TerritoryReadPermissions],
    )
    def test_rule(self, request, pk=None):
        """The rule tester: where an account (an existing one, or the fields given) would land
        under this plan's rules, and which rule puts it there. Changes nothing."""
        plan = self.get_object()
        body = s.RuleTestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        given = dict(body.validated_data)
        values: dict[str, Any] = {}
        account_id = given.pop("account", None)
        if account_id is not None:
            account = crm_selectors.account_detail(user=request.user, pk=account_id)
            if account is None:
                raise NotFound("This account does not exist or is outside your scope.")
            values = {
                "id": account.pk, "country": account.country, "region": account.region,
                "postal_code": account.postal_code, "industry": account.industry,
                "employees": account.employees, "annual_revenue": account.annual_revenue,
            }  # fmt: skip
        values.update({k: v for k, v in given.items() if v not in (None, "")})  # blanks keep it
        values["segment"] = segment_for(values.get("employees"))
        landing = landing_for(plan, values)
        return Response(
            s.RuleLandingSerializer(
                {"territory": landing.territory, "rule": landing.rule, "segment": values["segment"]}
            ).data
        )

    @extend_schema(request=s.RegionMoveSerializer, responses=s.AssignmentRuleSerializer)
    @action(detail=True, methods=["post"], url_path="move-region")
    def move_region(self, request, pk=None):
        """Send a whole state or region to another territory: it leaves every rule that lists
        it and joins (or gets) a rule of that territory. Answers with that rule."""
        plan = self.get_object()
        body = s.RegionMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        rule = services.region_move(
            plan=plan, country=data["country"], region=data["region"], to=data["territory"],
            acting_user=request.user,
        )  # fmt: skip
        rule = AssignmentRule.objects.select_related("territory").get(pk=rule.pk)
        return Response(s.AssignmentRuleSerializer(rule).data)

    @extend_schema(
        operation_id="v1_territory_plans_rules_csv_retrieve",
        request=None,
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def rules_csv(self, request, pk=None):
        """The plan's rules as CSV (routed as ``{id}/rules.csv``): the file to bulk-edit and
        import back with ``{id}/rules-import/``."""
        plan = self.get_object()
        response = HttpResponse(rules_csv(plan), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{rules_csv_filename(plan)}"'
        return response

    @extend_schema(
        request={
            "multipart/form-data": s.RulesImportSerializer,
            "application/json": s.RulesImportSerializer,
        },
        responses={
            200: s.RulesImportReportSerializer,
            400: OpenApiResponse(
                s.RulesImportReportSerializer,
                description="Rows with errors (nothing was written), or a problem with the "
                "file as a whole ({detail, field}).",
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="rules-import")
    def rules_import(self, request, pk=None):
        """Replace the plan's rules with a CSV in the format of ``rules.csv``, all or nothing.
        With ``dry_run`` the file is only checked."""
        plan = self.get_object()
        body = s.RulesImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        content = data["file"].read() if "file" in data else data["text"]
        outcome = rules_import(
            plan=plan, csv_text=content, acting_user=request.user, commit=not data["dry_run"]
        )
        report = outcome.report
        answer = {
            "committed": report["committed"], "rows": report["rows"],
            "error_count": report["error_count"], "error_rows": report["error_rows"],
            "errors": report["errors"], "messages": report_lines(report),
            "notes": report["notes"], "written": report["written"],
        }  # fmt: skip
        code = status.HTTP_200_OK if outcome.ok else status.HTTP_400_BAD_REQUEST
        return Response(s.RulesImportReportSerializer(answer).data, status=code)


def _int_param(request, name: str) -> int:
    try:
        return int(request.query_params[name])
    except ValueError:
        raise ValidationError({name: ["A whole number is required."]}) from None


# --- territories and members -----------------------------------------------------------------


class TerritoryViewSet(viewsets.ModelViewSet):
    """Territories of plans (filter by ``plan``); changes only in a draft scenario or the live
    plan, by sales ops."""

    permission_classes = [TerritoryPermissions]
    filterset_class = TerritoryFilterSet
    search_fields = ["key", "name"]
    ordering_fields = ["name", "key"]
    ordering = ["plan", "name"]

    def get_queryset(self):
        return restrict(Territory.objects.all(), self.request.user).prefetch_related(
            Prefetch("members", queryset=TerritoryMember.objects.order_by("role", "user_id"))
        )

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return s.TerritoryUpdateSerializer
        return s.TerritorySerializer

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.territory_save(
            plan=data["plan"], acting_user=self.request.user, key=data["key"], name=data["name"],
            parent=data.get("parent"), type=data["type"], manager=data.get("manager"),
        )  # fmt: skip

    def perform_update(self, serializer):
        territory, data = serializer.instance, serializer.validated_data
        serializer.instance = services.territory_save(
            plan=territory.plan,
            territory=territory,
            acting_user=self.request.user,
            **{
                name: data[name] if name in data else getattr(territory, name)
                for name in ("key", "name", "parent", "type", "manager")
            },
        )

    def perform_destroy(self, instance):
        services.territory_delete(territory=instance, acting_user=self.request.user)


class TerritoryMemberViewSet(viewsets.ModelViewSet):
    """Owners and overlays of territories (filter by ``plan`` or ``territory``). Adding someone
    who is already a member changes their role."""

    permission_classes = [TerritoryPermissions]
    filterset_class = TerritoryMemberFilterSet
    ordering = ["territory", "role", "user"]

    def get_queryset(self):
        territories = restrict(Territory.objects.all(), self.request.user)
        return TerritoryMember.objects.filter(territory__in=territories).select_related("territory")

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return s.TerritoryMemberUpdateSerializer
        return s.TerritoryMemberSerializer

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.member_set(
            territory=data["territory"], user=data["user"], role=data["role"],
            acting_user=self.request.user,
        )  # fmt: skip

    def perform_update(self, serializer):
        member = serializer.instance
        serializer.instance = services.member_set(
            territory=member.territory, user=member.user,
            role=serializer.validated_data.get("role", member.role),
            acting_user=self.request.user,
        )  # fmt: skip

    def perform_destroy(self, instance):
        services.member_set(
            territory=instance.territory, user=instance.user, role=None,
            acting_user=self.request.user,
        )  # fmt: skip


# --- rules -----------------------------------------------------------------------------------


class AssignmentRuleViewSet(viewsets.ModelViewSet):
    """Assignment rules (filter by ``plan``), in the order they are tried: by ``position``, the
    catch-all last. Export and bulk-replace them as CSV at ``/territory-plans/{id}/rules.csv``
    and ``…/rules-import/``."""

    permission_classes = [TerritoryPermissions]
    filterset_class = AssignmentRuleFilterSet
    search_fields = ["name", "territory__key"]
    ordering_fields = ["position"]
    ordering = ["plan", "catch_all", "position", "id"]

    def get_queryset(self):
        return AssignmentRule.objects.filter(plan__in=_plans(self.request.user)).select_related(
            "territory"
        )

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return s.AssignmentRuleUpdateSerializer
        if self.action == "reorder":
            return s.RulesReorderSerializer
        return s.AssignmentRuleSerializer

    def perform_create(self, serializer):
        fields = dict(serializer.validated_data)
        plan = fields.pop("plan")
        serializer.instance = services.rule_save(
            plan=plan, acting_user=self.request.user, fields=fields
        )

    def perform_update(self, serializer):
        rule = serializer.instance
        serializer.instance = services.rule_save(
            plan=rule.plan, rule=rule, acting_user=self.request.user,
            fields=dict(serializer.validated_data),
        )  # fmt: skip

    def perform_destroy(self, instance):
        services.rule_delete(rule=instance, acting_user=self.request.user)

    @extend_schema(
        request=s.RulesReorderSerializer, responses=s.AssignmentRuleSerializer(many=True)
    )
    @action(detail=False, methods=["post"])
    def reorder(self, request):
        """Put the plan's rules in the order given (positions 10, 20, …; the catch-all last).
        Answers with the plan's rules in their new order."""
        body = s.RulesReorderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = body.validated_data["plan"]
        if not _plans(request.user).filter(pk=plan.pk).exists():
            raise NotFound("This plan does not exist or is outside your scope.")
        services.rules_reorder(
            plan=plan, rule_ids=body.validated_data["rule_ids"], acting_user=request.user
        )
        rules = self.get_queryset().filter(plan=plan).order_by("catch_all", "position", "id")
        return Response(s.AssignmentRuleSerializer(rules, many=True).data)


# --- runs ------------------------------------------------------------------------------------


class AssignmentRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Rule runs: each application of a plan's rules, with live progress while it runs and what
    it moved (``{id}/moves/``)."""

    permission_classes = [TerritoryPermissions]
    filterset_class = AssignmentRunFilterSet
    ordering_fields = ["created_at", "effective_date"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return restrict(AssignmentRun.objects.all(), self.request.user).select_related("plan")

    def get_serializer_class(self):
        return s.AssignmentMoveSerializer if self.action == "moves" else s.AssignmentRunSerializer

    @extend_schema(request=None, responses=s.AssignmentRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a run that has not started (a scheduled scenario returns to draft)."""
        run = runs.assignment_run_cancel(run=self.get_object(), acting_user=request.user)
        run = self.get_queryset().get(pk=run.pk)
        return Response(s.AssignmentRunSerializer(run).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("to_territory", OpenApiTypes.INT, description="To territory id."),
            OpenApiParameter("account", OpenApiTypes.INT, description="Account id."),
            OpenApiParameter("owner_changed", OpenApiTypes.BOOL),
        ],
        responses=s.AssignmentMoveSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def moves(self, request, pk=None):
        """The accounts the run moved to another territory or owner, by account (paginated)."""
        run = self.get_object()
        moves = AssignmentMove.objects.filter(run=run).select_related("account", "to_territory")
        filterset = AssignmentMoveFilterSet(
            request.query_params, queryset=moves.order_by("account")
        )
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(s.AssignmentMoveSerializer(page, many=True).data)

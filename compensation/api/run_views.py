"""Commission run API: runs (list, retrieve, create for a period), calculate, approve, pay,
the overview, the lines with their traces, the payroll file, and manual adjustments.

Thin, as ``compensation.api.plan_views``: Django model permissions on every request (reads
included), every queryset from ``compensation.run_selectors`` (org-wide roles only, so reps
and managers get 403, or 404 for a run they name), every write a ``compensation.runs``
service whose own checks (sales ops calculate and adjust; finance approve, without conflicts,
and mark paid) hold here as on the pages, with the same messages.
"""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from compensation import run_selectors as selectors
from compensation import runs
from compensation.api import run_serializers as s
from compensation.api.plan_views import CompPermissions
from compensation.models import CommissionRun, ManualAdjustment
from compensation.payroll import XLSX_TYPE, payroll_export
from salesops.errors import NotFound
from salesops.org.models import User

_VIEW = "%(app_label)s.view_%(model_name)s"
_ADD = "%(app_label)s.add_%(model_name)s"
_CHANGE = "%(app_label)s.change_%(model_name)s"


class RunPermissions(DjangoModelPermissions):
    """Reads need ``view_commissionrun``; creating, calculating and adjusting need
    ``add_commissionrun`` (sales ops, admins)."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": [_VIEW], "HEAD": [_VIEW]}


class RunApprovePermissions(DjangoModelPermissions):
    """Approving and marking paid change a run: ``change_commissionrun`` (finance holds it)."""

    perms_map = {**DjangoModelPermissions.perms_map, "POST": [_CHANGE]}


class _FileRenderer(BaseRenderer):
    """Lets a client ask for the file's type; an error answer (a dict) is written as JSON."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes | str):
            return data
        return json.dumps(data, default=str).encode()


class CSVRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"


class XLSXRenderer(_FileRenderer):
    media_type = XLSX_TYPE
    format = "xlsx"


class CommissionRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Commission runs (sales ops, finance and admins only), newest period first.

    A run starts as a draft (``POST`` with ``period_key``), is calculated on the worker
    (``{id}/calculate/``; follow ``progress`` and ``status``), approved and locked by finance
    (``{id}/approve/``), then marked paid (``{id}/pay/``). ``{id}/payroll.csv`` and
    ``{id}/payroll.xlsx`` are the payroll files of an approved or paid run.
    """

    permission_classes = [RunPermissions]
    serializer_class = s.CommissionRunSerializer
    filterset_fields = ["status", "fiscal_year", "period_kind"]
    ordering_fields = ["period_start", "created_at", "total"]
    ordering = ["-period_start"]

    def get_queryset(self):
        return selectors.run_list(self.request.user).select_related("calculated_by")

    def get_serializer_class(self):
        return {
            "create": s.RunCreateSerializer,
            "adjustments": s.AdjustmentCreateSerializer,
        }.get(self.action, s.CommissionRunSerializer)

    def get_renderers(self):
        if self.action == "payroll":
            return [JSONRenderer(), CSVRenderer(), XLSXRenderer()]
        return super().get_renderers()

    def _answer(self, run: CommissionRun, code: int = status.HTTP_200_OK) -> Response:
        run.refresh_from_db()
        return Response(s.CommissionRunSerializer(run).data, status=code)

    @extend_schema(request=s.RunCreateSerializer, responses={201: s.CommissionRunSerializer})
    def create(self, request, *args, **kwargs):
        """A draft run for a fiscal quarter (``2027-Q1``) or month (``2027-M01``)."""
        body = s.RunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = runs.run_create(
            period_key=body.validated_data["period_key"], acting_user=request.user
        )
        return self._answer(run, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: s.CommissionRunSerializer})
    @action(detail=True, methods=["post"])
    def calculate(self, request, pk=None):
        """Queue a (re)calculation of a draft, calculated or failed run on the worker."""
        run = runs.run_calculate_request(run=self.get_object(), acting_user=request.user)
        return self._answer(run, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.CommissionRunSerializer)
    @action(detail=True, methods=["post"], permission_classes=[RunApprovePermissions])
    def approve(self, request, pk=None):
        """Approve and lock a calculated run (finance; not someone who edited a plan it pays
        on or entered one of its manual adjustments)."""
        run = runs.run_approve(run=self.get_object(), acting_user=request.user)
        return self._answer(run)

    @extend_schema(request=None, responses=s.CommissionRunSerializer)
    @action(detail=True, methods=["post"], permission_classes=[RunApprovePermissions])
    def pay(self, request, pk=None):
        """Record that payroll paid an approved run (finance)."""
        run = runs.run_mark_paid(run=self.get_object(), acting_user=request.user)
        return self._answer(run)

    @extend_schema(responses=s.RunOverviewSerializer)
    @action(detail=True, methods=["get"])
    def overview(self, request, pk=None):
        """Totals by team, sales role, component and kind against the previous run of the same
        kind, and the payees with their totals and open disputes."""
        overview = selectors.run_overview(self.get_object(), request.user)
        return Response(s.RunOverviewSerializer(overview).data)

    @extend_schema(parameters=[s.RunLinesQuerySerializer], responses=s.RunLineSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def lines(self, request, pk=None):
        """The run's lines with their traces, by person; ``user``, ``component`` and ``kind``
        narrow them. Paginated."""
        query = s.RunLinesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        lines = selectors.run_lines(
            self.get_object(), request.user, person=data.get("user"),
            component=data.get("component"), kind=data.get("kind"),
        )  # fmt: skip
        page = self.paginate_queryset(lines)
        return self.get_paginated_response(s.RunLineSerializer(page, many=True).data)

    @extend_schema(
        parameters=[s.RunCreditsQuerySerializer], responses=s.CreditSerializer(many=True)
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def credits(self, request, pk=None):
        """The credits the run wrote, by person and deal; ``user``, ``deal`` and
        ``credit_type`` narrow them. Paginated."""
        query = s.RunCreditsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        credits = selectors.run_credits(
            self.get_object(), request.user, person=data.get("user"), deal=data.get("deal"),
            credit_type=data.get("credit_type"),
        )  # fmt: skip
        page = self.paginate_queryset(credits)
        return self.get_paginated_response(s.CreditSerializer(page, many=True).data)

    @extend_schema(
        methods=["get"],
        responses=s.ManualAdjustmentSerializer(many=True),
        description="The run's manual adjustments, oldest first.",
    )
    @extend_schema(
        methods=["post"],
        request=s.AdjustmentCreateSerializer,
        responses={201: s.ManualAdjustmentSerializer},
        description="Add (or, negative, take) an amount in an open run, with the reason; it "
        "becomes a line at the next calculation (sales ops).",
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def adjustments(self, request, pk=None):
        """A run's manual adjustments; ``POST`` adds one."""
        run = self.get_object()
        if request.method == "GET":
            rows = selectors.run_adjustments(run, request.user)
            return Response(s.ManualAdjustmentSerializer(rows, many=True).data)
        body = s.AdjustmentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        person = User.objects.filter(pk=data["user"], is_active=True).first()
        if person is None:
            raise NotFound("This person does not exist or is not active.")
        adjustment = runs.adjustment_add(
            run=run, user=person, amount=data["amount"], reason=data["reason"],
            acting_user=request.user,
        )  # fmt: skip
        return Response(
            s.ManualAdjustmentSerializer(adjustment).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "fmt", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["csv", "xlsx"],
                description="The file type: the URL ends in payroll.csv or payroll.xlsx.",
            )
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV file"),
            (200, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="XLSX file"),
        },
    )  # fmt: skip
    def payroll(self, request, pk=None, fmt: str = "csv"):
        """The payroll file of an approved or paid run, one row per payee: employee id, name,
        period, amount, currency, cost centre (finance and admins). Routed in ``urls.py``
        without a trailing slash, so the download is saved under the name the URL ends in."""
        return payroll_export(run=self.get_object(), acting_user=request.user, fmt=fmt)


class ManualAdjustmentViewSet(mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """Manual adjustments of every run (sales ops, finance and admins). ``DELETE`` removes one
    while its run is open (sales ops)."""

    permission_classes = [CompPermissions]
    serializer_class = s.ManualAdjustmentSerializer
    filterset_fields = ["run", "user"]
    ordering_fields = ["created_at", "amount"]
    ordering = ["run", "created_at"]

    def get_queryset(self):
        return selectors.adjustments_visible_to(self.request.user)

    def perform_destroy(self, instance: ManualAdjustment) -> None:
        runs.adjustment_delete(adjustment=instance, acting_user=self.request.user)

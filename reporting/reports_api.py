"""Saved reports API: CRUD of one's own reports, reading (and copying) shared ones, and running a
report for the caller, whose own scope limits the rows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from crm.models import DealType, Pipeline, Segment
from reporting import reports
from reporting.kpis import Unit
from reporting.models import ReportGroupBy, ReportPeriod, SavedReport
from salesops.errors import NotAllowed
from salesops.org.models import Team


class _TeamField(serializers.PrimaryKeyRelatedField):
    """Teams the caller may filter on (their scope's), or the report's current one."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Team.objects.none()
        current = getattr(self.parent.instance, "team_id", None)
        return reports.team_choices(request.user, current)


class SavedReportSerializer(serializers.ModelSerializer):
    """A saved report. ``measure`` is ``kpi:<key>`` (see /api/v1/kpis/), ``deals:<name>`` or
    ``activities:<kind or all>``; a fixed range names fiscal periods (2026-M03, 2026-Q01, 2026)."""

    measure = serializers.ChoiceField(choices=sorted(reports.MEASURES))
    group_by = serializers.ChoiceField(choices=ReportGroupBy.choices)
    period = serializers.ChoiceField(
        choices=ReportPeriod.choices, default=ReportPeriod.THIS_QUARTER
    )
    segment = serializers.ChoiceField(choices=Segment.choices, required=False, allow_blank=True)
    deal_type = serializers.ChoiceField(choices=DealType.choices, required=False, allow_blank=True)
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.all(), required=False, allow_null=True
    )
    team = _TeamField(required=False, allow_null=True, help_text="The team and those below it.")
    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    owner_name = serializers.CharField(source="owner", read_only=True)
    mine = serializers.SerializerMethodField()

    class Meta:
        model = SavedReport
        fields = [
            "id", "name", "description", "measure", "group_by", "period", "period_from",
            "period_to", "pipeline", "segment", "deal_type", "team", "shared", "owner",
            "owner_name", "mine", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]
        # The name is unique per owner: reports.saved_report_save checks it with a clear message.
        validators = []

    def get_mine(self, report) -> bool:
        request = self.context.get("request")
        return request is not None and report.owner_id == request.user.pk

    def validate(self, data):
        merged = {
            name: data.get(name, getattr(self.instance, name, None) if self.instance else None)
            for name in reports.EDITABLE_FIELDS
        }
        definition = reports.ReportDefinition(
            measure=merged["measure"], group_by=merged["group_by"],
            period=merged["period"] or ReportPeriod.THIS_QUARTER,
            period_from=merged["period_from"] or "", period_to=merged["period_to"] or "",
            pipeline_id=merged["pipeline"].pk if merged["pipeline"] else None,
            segment=merged["segment"] or "", deal_type=merged["deal_type"] or "",
            team_id=merged["team"].pk if merged["team"] else None,
        )  # fmt: skip
        problems: dict[str, list[str]] = {}
        for field, message in reports.definition_problems(definition):
            problems.setdefault(field or "non_field_errors", []).append(message)
        if problems:
            raise serializers.ValidationError(problems)
        return data


class ReportRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="rep:<id>, team:<id>, stage:<id>, 2026-M03, smb, …")
    label = serializers.CharField()
    value = serializers.DecimalField(
        max_digits=30, decimal_places=None, allow_null=True,
        help_text="Money to the cent, percentages in percent, as a string.",
    )  # fmt: skip


class ReportRunSerializer(serializers.Serializer):
    report = serializers.IntegerField()
    name = serializers.CharField()
    measure = serializers.CharField()
    measure_label = serializers.CharField()
    unit = serializers.ChoiceField(choices=[u.value for u in Unit])
    currency = serializers.CharField(help_text="Of money values: the corporate currency.")
    group_by = serializers.ChoiceField(choices=ReportGroupBy.choices)
    columns = serializers.ListField(child=serializers.CharField())
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    period_label = serializers.CharField()
    scope = serializers.CharField(allow_null=True, help_text="Whose figures: rep:<id>, team:<id>…")
    live = serializers.BooleanField(help_text="KPIs: computed for this request, not snapshots.")
    computed_at = serializers.DateTimeField(allow_null=True, help_text="KPIs: of the snapshots.")
    rows = ReportRowSerializer(many=True)
    total = serializers.DecimalField(
        max_digits=30, decimal_places=None, allow_null=True,
        help_text="Sums and counts: the rows added up.",
    )  # fmt: skip


class ReportRunQuerySerializer(serializers.Serializer):
    today = serializers.DateField(
        required=False, help_text="Run as on this day: relative periods (this quarter) move."
    )


class ReportCopySerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=120)


class SavedReportViewSet(viewsets.ModelViewSet):
    """Saved reports: your own (create, change, delete) and the ones others share (read, copy,
    run). Running a report gives the rows of YOUR scope, whoever built it."""

    serializer_class = SavedReportSerializer
    filterset_fields = ["shared", "group_by"]
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def get_queryset(self):
        return reports.saved_reports_for(self.request.user)

    def _owned(self) -> SavedReport:
        report = self.get_object()
        if report.owner_id != self.request.user.pk:
            raise NotAllowed("Only its owner may change this report: copy it to make your own.")
        return report

    def perform_create(self, serializer):
        serializer.instance = _saved(acting_user=self.request.user, **serializer.validated_data)

    def update(self, request, *args, **kwargs):
        report = self._owned()
        serializer = self.get_serializer(report, data=request.data, partial=kwargs.get("partial"))
        serializer.is_valid(raise_exception=True)
        report = _saved(acting_user=request.user, report=report, **serializer.validated_data)
        return Response(self.get_serializer(report).data)

    def destroy(self, request, *args, **kwargs):
        reports.saved_report_delete(acting_user=request.user, report=self._owned())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[ReportRunQuerySerializer], responses=ReportRunSerializer)
    @action(detail=True, methods=["get"])
    def run(self, request, pk=None):
        """The report's rows for the caller (limited to the caller's own scope)."""
        report = self.get_object()
        query = ReportRunQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = reports.run(report, viewer=request.user, today=query.validated_data.get("today"))
        return Response(
            ReportRunSerializer(
                {
                    "report": report.pk, "name": report.name, "measure": result.measure.key,
                    "measure_label": result.measure.label, "unit": result.measure.unit.value,
                    "currency": result.currency, "group_by": result.group_by,
                    "columns": result.headers,
                    "period_start": result.period.start if result.period else None,
                    "period_end": result.period.end if result.period else None,
                    "period_label": result.period_label,
                    "scope": result.scope.key if result.scope else None,
                    "live": result.live, "computed_at": result.computed_at,
                    "rows": [row.__dict__ for row in result.rows], "total": result.total,
                }
            ).data
        )  # fmt: skip

    @extend_schema(request=ReportCopySerializer, responses={201: SavedReportSerializer})
    @action(detail=True, methods=["post"])
    def copy(self, request, pk=None):
        """Copy a report you may open into a private report of your own."""
        body = ReportCopySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        copy = reports.saved_report_copy(
            acting_user=request.user,
            report=self.get_object(),
            name=body.validated_data.get("name", ""),
        )
        return Response(self.get_serializer(copy).data, status=status.HTTP_201_CREATED)


def _saved(**arguments) -> SavedReport:
    """``saved_report_save``, its refusals shaped like the serializer's (field: [messages])."""
    try:
        return reports.saved_report_save(**arguments)
    except reports.ReportInvalid as error:
        problems: dict[str, list[str]] = {}
        for field, message in error.problems:
            problems.setdefault(field or "non_field_errors", []).append(message)
        raise serializers.ValidationError(problems) from error


router = SimpleRouter()
router.register("saved-reports", SavedReportViewSet, basename="savedreport")
urlpatterns = router.urls

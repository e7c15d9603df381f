"""KPI API: the definitions, and figures by metric, period, scope, grouping and as-of day."""

from __future__ import annotations

from decimal import Decimal

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from reporting import dashboards, selectors
from reporting.engine import Filters
from reporting.kpis import KPIS, REGISTRY, Unit
from reporting.models import ScopeKind
from salesops.fiscal import PeriodKind
from salesops.org.selectors import fiscal_calendar


class KpiDefinitionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.ChoiceField(choices=[u.value for u in Unit])
    definition = serializers.CharField()
    per_stage = serializers.BooleanField(help_text="Broken down by stage (breakdown = stage id).")


class KpiQuerySerializer(serializers.Serializer):
    metric = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(REGISTRY)),
        help_text="One or more KPI keys (repeat the parameter).",
    )
    period = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Fiscal period keys (2026, 2026-Q03, 2026-M07); default: the current quarter.",
    )
    period_kind = serializers.ChoiceField(
        choices=[k.value for k in PeriodKind],
        required=False,
        help_text="With no period: the current period of this kind (default quarter).",
    )
    scope = serializers.CharField(
        required=False,
        help_text="rep:<id>, team:<id>, territory:<id> or company:0; default: yours.",
    )
    group_by = serializers.ChoiceField(
        choices=[ScopeKind.REP.value, ScopeKind.TEAM.value],
        required=False,
        help_text="The scope's reps or its sub-teams.",
    )
    as_of = serializers.DateField(
        required=False, help_text="Compute as of the end of this day, from stage history."
    )
    pipeline = serializers.IntegerField(required=False)
    segment = serializers.CharField(required=False)
    deal_type = serializers.CharField(required=False)

    def validate_period(self, keys):
        calendar = fiscal_calendar()
        for key in keys:
            try:
                calendar.parse(key)
            except (ValueError, KeyError):
                raise serializers.ValidationError(
                    f"'{key}' is not a fiscal period: use 2026, 2026-Q03 or 2026-M07."
                ) from None
        return keys


class KpiValueSerializer(serializers.Serializer):
    metric = serializers.CharField()
    period_kind = serializers.CharField()
    period_key = serializers.CharField()
    scope = serializers.CharField(help_text="rep:<id>, team:<id>, …")
    scope_name = serializers.CharField()
    breakdown = serializers.CharField()
    value = serializers.DecimalField(max_digits=30, decimal_places=10, allow_null=True)
    numerator = serializers.DecimalField(max_digits=30, decimal_places=10, allow_null=True)
    denominator = serializers.DecimalField(max_digits=30, decimal_places=10, allow_null=True)


class KpiFiguresSerializer(serializers.Serializer):
    live = serializers.BooleanField(help_text="Computed for this request (as-of day or filters).")
    computed_at = serializers.DateTimeField(allow_null=True, help_text="Of the snapshots read.")
    as_of = serializers.DateField(allow_null=True)
    results = KpiValueSerializer(many=True)


class KpiDefinitionsView(APIView):
    """Every KPI: key, name, unit and its definition in words (see also /reports/kpis/)."""

    @extend_schema(responses=KpiDefinitionSerializer(many=True))
    def get(self, request):
        return Response(
            KpiDefinitionSerializer(
                [{"key": k.key, "label": k.label, "unit": k.unit.value,
                  "definition": k.definition, "per_stage": k.per_stage} for k in KPIS],
                many=True,
            ).data
        )  # fmt: skip


class KpiValuesView(APIView):
    """KPI figures for a scope (or its reps or sub-teams) and fiscal periods.

    Read from the snapshots the ``kpi`` worker keeps up to date; computed live from stage history
    when ``as_of`` is given, or from the filtered deals when ``pipeline``, ``segment`` or
    ``deal_type`` is.
    """

    @extend_schema(parameters=[KpiQuerySerializer], responses=KpiFiguresSerializer)
    def get(self, request):
        query = KpiQuerySerializer(
            data={
                **request.query_params.dict(),
                "metric": request.query_params.getlist("metric"),
                **(
                    {"period": request.query_params.getlist("period")}
                    if "period" in request.query_params
                    else {}
                ),
            }
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        scope = selectors.parse_scope(request.user, data.get("scope"))
        scopes = selectors.members(scope, data["group_by"]) if data.get("group_by") else [scope]
        scopes = [s for s in scopes if selectors.can_see_scope(request.user, s)]
        periods = data.get("period") or [
            fiscal_calendar()
            .period(data.get("as_of") or timezone.localdate(), data.get("period_kind", "quarter"))
            .key
        ]
        figures = selectors.kpi_figures(
            request.user, metrics=data["metric"], scopes=scopes, period_keys=periods,
            as_of=data.get("as_of"),
            filters=Filters(pipeline_id=data.get("pipeline"), segment=data.get("segment"),
                            deal_type=data.get("deal_type")),
        )  # fmt: skip
        names = {s.key: s.name for s in scopes}
        results = [
            {**row.__dict__, "scope": f"{row.scope_kind}:{row.scope_id}",
             "scope_name": names.get(f"{row.scope_kind}:{row.scope_id}", "")}
            for row in figures.rows
        ]  # fmt: skip
        return Response(
            KpiFiguresSerializer(
                {"live": figures.live, "computed_at": figures.computed_at,
                 "as_of": figures.as_of, "results": results}
            ).data
        )  # fmt: skip


class DashboardPointSerializer(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.DecimalField(max_digits=30, decimal_places=10, allow_null=True)
    url = serializers.CharField(help_text="The deal list behind the figure, with the filters.")


class DashboardTileSerializer(DashboardPointSerializer):
    key = serializers.CharField()
    display = serializers.CharField()
    definition = serializers.CharField()
    url = serializers.CharField(allow_null=True)


class DashboardSerializer(serializers.Serializer):
    scope = serializers.CharField()
    scope_name = serializers.CharField()
    period = serializers.CharField()
    period_label = serializers.CharField()
    currency = serializers.CharField()
    live = serializers.BooleanField()
    computed_at = serializers.DateTimeField(allow_null=True)
    tiles = DashboardTileSerializer(many=True)
    series = serializers.DictField(
        child=serializers.ListField(child=serializers.DictField()),
        help_text="Chart name → points (label, value, url and the chart's other measures).",
    )
    top_deals = serializers.ListField(child=serializers.DictField())


class DashboardView(APIView):
    """A dashboard's data as JSON: the same figures, series and links as the page.

    Query parameters as on the page: ``scope``, ``period``, ``pipeline``, ``segment``, ``type``.
    """

    @extend_schema(responses=DashboardSerializer)
    def get(self, request):
        data = dashboards.build(request.user, dashboards.query_from(request.user, request.GET))
        return Response(
            DashboardSerializer(
                {
                    "scope": data["scope"].key, "scope_name": data["scope"].name,
                    "period": data["period"].key, "period_label": data["period"].label,
                    "currency": data["currency"], "live": data["live"],
                    "computed_at": data["computed_at"], "tiles": data["tiles"],
                    "series": _json_series(data["series"]),
                    "top_deals": [
                        {"id": d.pk, "name": d.name, "owner": str(d.owner),
                         "stage": d.stage.name, "amount": str(d.amount), "currency": d.currency,
                         "close_date": d.close_date.isoformat()}
                        for d in data["top_deals"]
                    ],
                }
            ).data
        )  # fmt: skip


def _json_series(series: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Decimals as strings (money stays exact in JSON)."""
    return {
        name: [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in point.items()}
            for point in points
        ]
        for name, points in series.items()
    }


urlpatterns = [
    path("dashboards/", DashboardView.as_view(), name="api-dashboards"),
    path("kpis/", KpiDefinitionsView.as_view(), name="api-kpis"),
    path("kpi-values/", KpiValuesView.as_view(), name="api-kpi-values"),
]

"""Quota planning API: plans (allocate, propose, publish, capacity, the quotas CSV and its
import), quotas (scoped list, PATCH through ``quota_set``), reviews (decide) and ramp profiles.

Thin, as ``territories.api.views``: Django model permissions on every request (reads
included), every queryset from ``restrict`` (a plan: ``quota_selectors.visible_plans``), every
write a ``territories.quotas`` service whose own checks (sales ops only, the reviewer only, the
published lock) hold here as on the pages, with the same messages.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django.db.models import Prefetch
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from salesops.fiscal import PeriodKind
from salesops.org.roles import ORG_WIDE_ROLES
from salesops.org.selectors import org_settings
from salesops.permissions import restrict
from territories import quota_csv, quotas
from territories import quota_selectors as selectors
from territories.api import quota_serializers as s
from territories.api.views import CSVTextRenderer, TerritoryPermissions
from territories.models import (
    Quota,
    QuotaPlan,
    QuotaPlanStatus,
    QuotaReview,
    QuotaSource,
    RampProfile,
    ReviewStatus,
)


class ReviewDecidePermissions(DjangoModelPermissions):
    """Deciding a review changes it: managers hold ``change_quotareview``, not ``add``."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "POST": ["%(app_label)s.change_%(model_name)s"],
    }


# --- Filters -------------------------------------------------------------------------------------


class QuotaPlanFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=QuotaPlanStatus.choices)
    fiscal_year = django_filters.NumberFilter(field_name="fiscal_year")

    class Meta:
        model = QuotaPlan
        fields = ["status", "fiscal_year"]


class QuotaFilterSet(django_filters.FilterSet):
    """Quotas by plan, period and holder (people, teams and territories by id)."""

    HOLDER_TYPES = [("rep", "Rep"), ("team", "Team"), ("territory", "Territory")]

    plan = django_filters.NumberFilter(field_name="plan", label="Quota plan id")
    fiscal_year = django_filters.NumberFilter(field_name="plan__fiscal_year")
    period_key = django_filters.CharFilter(
        field_name="period_key", label="Fiscal period, e.g. 2027, 2027-Q01, 2027-M03"
    )
    period_kind = django_filters.ChoiceFilter(
        choices=[(kind.value, kind.value) for kind in PeriodKind]
    )
    user = django_filters.NumberFilter(field_name="user", label="Rep (user id)")
    team = django_filters.NumberFilter(field_name="team", label="Team id")
    territory = django_filters.NumberFilter(field_name="territory", label="Territory id")
    holder_type = django_filters.ChoiceFilter(choices=HOLDER_TYPES, method="filter_holder_type")
    source = django_filters.ChoiceFilter(choices=QuotaSource.choices)

    class Meta:
        model = Quota
        fields = ["plan", "period_key", "period_kind", "user", "team", "territory", "source"]

    def filter_holder_type(self, queryset, name, value):
        field = {"rep": "user", "team": "team", "territory": "territory"}[value]
        return queryset.filter(**{f"{field}__isnull": False})


class QuotaReviewFilterSet(django_filters.FilterSet):
    plan = django_filters.NumberFilter(field_name="plan", label="Quota plan id")
    status = django_filters.ChoiceFilter(choices=ReviewStatus.choices)
    team = django_filters.NumberFilter(field_name="team", label="Team id")
    reviewer = django_filters.NumberFilter(field_name="reviewer", label="Reviewer (user id)")
    mine = django_filters.BooleanFilter(method="filter_mine", label="Only the caller's reviews")
    waiting = django_filters.BooleanFilter(
        method="filter_waiting", label="Only the reviews the caller can decide now"
    )

    class Meta:
        model = QuotaReview
        fields = ["plan", "status", "team", "reviewer"]

    def filter_mine(self, queryset, name, value):
        user = self.request.user
        return queryset.filter(reviewer=user) if value else queryset.exclude(reviewer=user)

    def filter_waiting(self, queryset, name, value):
        waiting = selectors.reviews_waiting_for(self.request.user).values("pk")
        return queryset.filter(pk__in=waiting) if value else queryset.exclude(pk__in=waiting)


# --- Plans ---------------------------------------------------------------------------------------


def _capacity_hires(text: str) -> dict[dt.date, int]:
    """``"2027-07:2,2027-10:1"`` as ``{date(2027, 7, 1): 2, date(2027, 10, 1): 1}``."""
    hires: dict[dt.date, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            month, count = part.split(":")
            year, number = month.strip().split("-")
            day = dt.date(int(year), int(number), 1)
            hires[day] = hires.get(day, 0) + int(count)
        except ValueError:
            raise ValidationError(
                {"hires": [f"'{part}' is not YYYY-MM:count (e.g. 2027-07:2)."]}
            ) from None
        if int(count) < 0:
            raise ValidationError({"hires": [f"'{part}': planned hires cannot be negative."]})
    return hires


class QuotaPlanViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Quota plans, one per fiscal year, with their review chain (the reviews in your scope).

    A plan starts as a draft (``POST``), is allocated top down (``{id}/allocate/``), edited
    (``PATCH /quotas/{id}/``, or ``{id}/quotas-import/``), proposed to the managers
    (``{id}/propose/``), who accept or send it back (``/quota-reviews/{id}/decide/``), and once
    approved published (``{id}/publish/``): then it is locked.
    """

    permission_classes = [TerritoryPermissions]
    filterset_class = QuotaPlanFilterSet
    ordering_fields = ["fiscal_year", "created_at"]
    ordering = ["-fiscal_year"]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_queryset(self):
        user = self.request.user
        reviews = restrict(QuotaReview.objects.all(), user).select_related("plan", "team")
        return (
            selectors.visible_plans(user)
            .select_related("ramp_profile")
            .prefetch_related(
                Prefetch("reviews", queryset=reviews.order_by("level", "team__name", "pk"))
            )
        )

    def get_serializer_class(self):
        return {
            "create": s.QuotaPlanCreateSerializer,
            "allocate": s.AllocateSerializer,
            "quotas_import": s.QuotaImportSerializer,
        }.get(self.action, s.QuotaPlanSerializer)

    def get_renderers(self):
        if self.action == "quotas_csv":  # errors in JSON unless the client asks for CSV only
            return [JSONRenderer(), CSVTextRenderer()]
        return super().get_renderers()

    def _answer(self, plan: QuotaPlan, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            s.QuotaPlanSerializer(self.get_queryset().get(pk=plan.pk)).data, status=code
        )

    @extend_schema(request=s.QuotaPlanCreateSerializer, responses={201: s.QuotaPlanSerializer})
    def create(self, request, *args, **kwargs):
        """A draft plan for a fiscal year: the target, its basis, seasonality and ramp."""
        body = s.QuotaPlanCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        plan = quotas.quota_plan_create(
            fiscal_year=data["fiscal_year"], target=data["target"],
            currency=data.get("currency") or org_settings().corporate_currency,
            basis=data["basis"], month_weights=data["month_weights"],
            ramp_profile=data["ramp_profile"], acting_user=request.user,
        )  # fmt: skip
        return self._answer(plan, status.HTTP_201_CREATED)

    @extend_schema(request=s.AllocateSerializer, responses=s.QuotaPlanSerializer)
    @action(detail=True, methods=["post"])
    def allocate(self, request, pk=None):
        """Allocate the target top down to every team, rep and territory, replacing every quota
        of the plan (drafts only)."""
        body = s.AllocateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = quotas.quota_plan_allocate(
            plan=self.get_object(), acting_user=request.user, as_of=body.validated_data["as_of"]
        )
        return self._answer(plan)

    @extend_schema(request=None, responses=s.QuotaPlanSerializer)
    @action(detail=True, methods=["post"])
    def propose(self, request, pk=None):
        """Send a draft plan to the managers: one pending review per managed team."""
        plan = quotas.quota_plan_propose(plan=self.get_object(), acting_user=request.user)
        return self._answer(plan)

    @extend_schema(request=None, responses=s.QuotaPlanSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Publish an approved plan: its quotas are final and locked."""
        plan = quotas.quota_plan_publish(plan=self.get_object(), acting_user=request.user)
        return self._answer(plan)

    @extend_schema(parameters=[s.CapacityQuerySerializer], responses=s.CapacitySerializer)
    @action(detail=True, methods=["get"])
    def capacity(self, request, pk=None):
        """The capacity model (admins, sales ops, finance): today's reps, less attrition, plus
        backfills and planned hires, month by month against the plan's monthly targets."""
        plan = self.get_object()
        if request.user.role not in ORG_WIDE_ROLES:
            raise PermissionDenied("The capacity model is for sales ops, finance and admins.")
        query = s.CapacityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        productivity = data["productivity"]
        if productivity is None:
            productivity = selectors.productivity_from_history(
                timezone.localdate(),
                ramp_profile=plan.ramp_profile.percents if plan.ramp_profile_id else None,
            )
        if productivity is None:
            raise ValidationError(
                {"productivity": ["No rep sold in the last twelve months: give the productivity."]}
            )
        result = selectors.capacity_for_plan(
            plan=plan, productivity=productivity,
            annual_attrition=data["attrition_percent"] / 100,
            backfill_months=data["backfill_months"], planned_hires=_capacity_hires(data["hires"]),
        )  # fmt: skip
        months = [
            {
                "month": month.month,
                "heads": month.heads_display,
                "ramped_heads": month.ramped_heads_display,
                "capacity": row.capacity,
                "target": row.target,
                "gap": row.gap,
                "coverage_ratio": row.coverage_ratio,
            }  # fmt: skip
            for month, row in zip(result.months, result.rows, strict=True)
        ]
        total = result.total
        answer = {
            "plan": plan.pk, "fiscal_year": plan.fiscal_year, "productivity": productivity,
            "attrition_percent": data["attrition_percent"],
            "backfill_months": data["backfill_months"], "months": months,
            "total": {
                "capacity": total.capacity, "target": total.target, "gap": total.gap,
                "coverage_ratio": total.coverage_ratio,
            },
            "reachable": result.reachable,
        }  # fmt: skip
        return Response(s.CapacitySerializer(answer).data)

    @extend_schema(
        operation_id="v1_quota_plans_quotas_csv_retrieve",
        request=None,
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def quotas_csv(self, request, pk=None):
        """The plan's quotas in your scope as CSV (routed as ``{id}/quotas.csv``): the file to
        bulk-edit and import back with ``{id}/quotas-import/``. Columns: period_key,
        holder_type (rep, team, territory), holder, amount, full_amount."""
        if not request.user.has_perm("territories.view_quota"):
            raise PermissionDenied
        plan = self.get_object()
        response = HttpResponse(
            quota_csv.quotas_csv(plan, request.user), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{quota_csv.quotas_csv_filename(plan)}"'
        )
        return response

    @extend_schema(
        request={
            "multipart/form-data": s.QuotaImportSerializer,
            "application/json": s.QuotaImportSerializer,
        },
        responses={
            200: s.QuotaImportReportSerializer,
            400: OpenApiResponse(
                s.QuotaImportReportSerializer,
                description="Rows with errors (nothing was written), or a problem with the "
                "file or the plan as a whole ({detail, field}).",
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="quotas-import")
    def quotas_import(self, request, pk=None):
        """Set quotas from the ``quotas.csv`` format, all or nothing (reason "CSV import"); a
        published plan refuses. With ``dry_run`` the file is only checked."""
        plan = self.get_object()
        body = s.QuotaImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        upload = data.get("file")
        result = quota_csv.quota_plan_import(
            plan=plan,
            content=upload.read() if upload else data["text"],
            file_name=upload.name if upload else "quotas.csv",
            acting_user=request.user,
            commit=not data["dry_run"],
        )
        answer = {
            "committed": result.committed, "rows": result.rows, "changed": result.changed,
            "written": result.written, "error_count": len(result.errors),
            "errors": [
                {"row": e.row, "field": e.field, "message": e.message} for e in result.errors
            ],
            "messages": result.lines(),
        }  # fmt: skip
        code = status.HTTP_200_OK if result.ok else status.HTTP_400_BAD_REQUEST
        return Response(s.QuotaImportReportSerializer(answer).data, status=code)


# --- Quotas --------------------------------------------------------------------------------------


class QuotaViewSet(mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Quotas in your scope (a rep: their own and their team's; a manager: their subtree's),
    filtered by plan, period and holder. ``PATCH`` an amount with a reason (sales ops): its
    quarter and year follow, as on the grid; a published plan refuses."""

    permission_classes = [TerritoryPermissions]
    filterset_class = QuotaFilterSet
    ordering_fields = ["period_start", "amount"]
    ordering = ["plan", "period_start", "period_kind", "id"]
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return restrict(Quota.objects.select_related("plan"), self.request.user)

    def get_serializer_class(self):
        if self.action == "partial_update":
            return s.QuotaUpdateSerializer
        if self.action == "history":
            return s.QuotaChangeSerializer
        return s.QuotaSerializer

    @extend_schema(request=s.QuotaUpdateSerializer, responses=s.QuotaSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Set the quota's amount (``quota_set``): a reason is required and kept in its history."""
        quota = self.get_object()
        body = s.QuotaUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        quotas.quota_set(
            quota=quota, amount=body.validated_data["amount"],
            reason=body.validated_data["reason"], acting_user=request.user,
        )  # fmt: skip
        return Response(s.QuotaSerializer(self.get_queryset().get(pk=quota.pk)).data)

    @extend_schema(responses=s.QuotaChangeSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, pk=None):
        """The quota's recorded changes, oldest first: when, who, why, before and after."""
        changes = selectors.quota_changes(self.get_object())
        return Response(s.QuotaChangeSerializer(changes, many=True).data)


# --- Reviews -------------------------------------------------------------------------------------


class QuotaReviewViewSet(viewsets.ReadOnlyModelViewSet):
    """Quota reviews in your scope (a manager: their own and their subtree's managers'; sales
    ops and finance: all). ``?mine=true`` keeps yours, ``?waiting=true`` those you can decide
    now (pending, every level above accepted)."""

    permission_classes = [TerritoryPermissions]
    serializer_class = s.QuotaReviewSerializer
    filterset_class = QuotaReviewFilterSet
    ordering = ["plan", "level", "team__name", "id"]

    def get_queryset(self):
        return restrict(QuotaReview.objects.select_related("plan", "team"), self.request.user)

    def get_serializer_class(self):
        return s.ReviewDecisionSerializer if self.action == "decide" else s.QuotaReviewSerializer

    @extend_schema(request=s.ReviewDecisionSerializer, responses=s.QuotaReviewSerializer)
    @action(detail=True, methods=["post"], permission_classes=[ReviewDecidePermissions])
    def decide(self, request, pk=None):
        """Accept your team's quotas, or send the plan back to sales ops with a comment. Levels
        decide top down; only the review's reviewer may."""
        body = s.ReviewDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        review = quotas.quota_review_decide(
            review=self.get_object(), accept=body.validated_data["accept"],
            comment=body.validated_data["comment"], acting_user=request.user,
        )  # fmt: skip
        return Response(s.QuotaReviewSerializer(self.get_queryset().get(pk=review.pk)).data)


# --- Ramp profiles -------------------------------------------------------------------------------


class RampProfileViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Ramp profiles: percent of full quota per month of tenure (sales ops edit, finance reads).
    A profile ramping a published plan keeps its percents."""

    permission_classes = [TerritoryPermissions]
    serializer_class = s.RampProfileSerializer
    ordering = ["name"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self):
        # Configuration, not anyone's record: no row scope; the model permissions gate it.
        return RampProfile.objects.all()

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = quotas.ramp_profile_save(
            name=data["name"], percents=data["percents"], acting_user=self.request.user
        )

    def perform_update(self, serializer):
        profile, data = serializer.instance, serializer.validated_data
        serializer.instance = quotas.ramp_profile_save(
            name=data.get("name", profile.name),
            percents=data.get("percents", profile.percents),
            acting_user=self.request.user,
            profile=profile,
        )

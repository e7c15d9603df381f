"""Statement and dispute API: a person's statement of a run, their year to date, one payout line
with its trace and credits, and disputes (scoped list, open, answer, adjust).

Thin, as ``compensation.api.plan_views``: every read is a ``compensation.statements`` selector,
so a rep sees only their own lines of approved or paid runs, a manager also their team
subtree's, and sales ops, finance and admins everything; anything else answers 404. Every write
is a ``compensation.disputes`` service, with the same checks and messages as the pages.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from compensation import disputes
from compensation import statements as selectors
from compensation.api import statement_serializers as s
from compensation.api.plan_views import CompPermissions


class StatementViewSet(viewsets.ViewSet):
    """Commission statements: your own by default, or (``user``) of someone in your scope.

    Reps and managers see statements of approved or paid runs only; a run or person outside
    your scope answers 404, the same as one that does not exist.
    """

    @extend_schema(parameters=[s.StatementQuerySerializer], responses=s.StatementSerializer)
    def list(self, request):
        """One person's statement of one run (``?run=``): lines grouped by component with
        exact totals, attainment and tier, and the payout curve of each tiered component."""
        query = s.StatementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        viewer = request.user
        run = selectors.statement_run(viewer, query.validated_data["run"])
        person = selectors.statement_user(viewer, query.validated_data.get("user", viewer.pk))
        return Response(s.StatementSerializer(selectors.statement(person, run, viewer)).data)

    @extend_schema(parameters=[s.YearQuerySerializer], responses=s.YearToDateSerializer)
    @action(detail=False, methods=["get"])
    def ytd(self, request):
        """A person's earnings in a fiscal year by component and by run, and each component's
        latest attainment."""
        query = s.YearQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        viewer = request.user
        person = selectors.statement_user(viewer, query.validated_data.get("user", viewer.pk))
        ytd = selectors.year_to_date(person, query.validated_data["fiscal_year"], viewer)
        return Response(s.YearToDateSerializer(ytd).data)


class PayoutLineViewSet(viewsets.ReadOnlyModelViewSet):
    """Payout lines in your scope; one line (``{id}/``) comes with its trace, the credits and
    deals it counted, and its disputes."""

    permission_classes = [CompPermissions]
    filterset_fields = ["run", "user", "kind", "component_key"]
    ordering_fields = ["run", "user", "amount"]

    def get_queryset(self):
        return selectors.lines_visible_to(self.request.user).select_related("run", "user")

    def get_serializer_class(self):
        return s.LineDetailSerializer if self.action == "retrieve" else s.PayoutLineSerializer

    @extend_schema(responses=s.LineDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        trace = selectors.line_trace(self.get_object(), request.user)
        return Response(s.LineDetailSerializer(trace).data)


class DisputeViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Disputes in your scope (yours, your team's, or all for sales ops), open ones first.

    ``POST`` opens one on a line of your own approved statement; sales ops answer it
    (``{id}/answer/``) or answer and adjust pay in the next open run (``{id}/adjust/``).
    """

    permission_classes = [CompPermissions]
    filterset_fields = ["status", "line", "raised_by"]
    ordering_fields = ["raised_at", "resolved_at"]

    def get_queryset(self):
        return selectors.dispute_queue(self.request.user)

    def get_serializer_class(self):
        return {
            "create": s.DisputeCreateSerializer,
            "answer": s.DisputeAnswerSerializer,
            "adjust": s.DisputeAdjustSerializer,
        }.get(self.action, s.DisputeSerializer)

    def _answer(self, dispute, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.DisputeSerializer(dispute).data, status=code)

    @extend_schema(request=s.DisputeCreateSerializer, responses={201: s.DisputeSerializer})
    def create(self, request, *args, **kwargs):
        """Dispute a line of your own approved statement, saying what looks wrong."""
        body = s.DisputeCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        line = selectors.line_for(request.user, body.validated_data["line"])
        dispute = disputes.dispute_open(
            line=line, message=body.validated_data["message"], acting_user=request.user
        )
        return self._answer(dispute, status.HTTP_201_CREATED)

    @extend_schema(request=s.DisputeAnswerSerializer, responses=s.DisputeSerializer)
    @action(detail=True, methods=["post"])
    def answer(self, request, pk=None):
        """Sales ops answer an open dispute in writing (no change to pay)."""
        body = s.DisputeAnswerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dispute = disputes.dispute_answer(
            dispute=self.get_object(),
            answer=body.validated_data["answer"],
            acting_user=request.user,
        )
        return self._answer(dispute)

    @extend_schema(request=s.DisputeAdjustSerializer, responses=s.DisputeSerializer)
    @action(detail=True, methods=["post"])
    def adjust(self, request, pk=None):
        """Sales ops answer an open dispute and add ``amount`` to the rep's pay in the earliest
        open run, as a manual adjustment quoting the dispute."""
        body = s.DisputeAdjustSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dispute = disputes.dispute_adjust(
            dispute=self.get_object(),
            amount=body.validated_data["amount"],
            answer=body.validated_data["answer"],
            acting_user=request.user,
        )
        return self._answer(dispute)

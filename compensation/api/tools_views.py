"""Estimate, amortisation and what-if endpoints, under ``/api/v1/comp/``.

Thin, as the pages (``compensation.tools_views``): ``compensation.estimator``,
``compensation.amortisation`` and ``compensation.whatif`` compute the figures and decide who
may see them; a deal out of reach answers 404, a role without the right 403, bad input 400 with
the field. Nothing these endpoints compute is saved.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from compensation import amortisation, estimator, whatif
from compensation.api import tools_serializers as s


class DealEstimateView(APIView):
    """What an open deal would add to each seller's pay if it closed today at its amount.

    Sellers see their own estimate, managers those of their team subtree, sales ops and admins
    everyone's. An estimate is never a payout.
    """

    @extend_schema(parameters=[s.EstimateQuerySerializer], responses=s.DealEstimatesSerializer)
    def get(self, request):
        query = s.EstimateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deal = estimator.estimate_deal_for(request.user, query.validated_data["deal"])
        estimates = estimator.deal_estimates(deal=deal, viewer=request.user)
        if "user" in query.validated_data:
            estimates = [e for e in estimates if e.person.pk == query.validated_data["user"]]
        return Response(s.DealEstimatesSerializer({"deal": deal.pk, "estimates": estimates}).data)


class AmortisationView(APIView):
    """Commission expense amortisation by fiscal month or quarter (finance, sales ops, admins):
    incurred, expensed immediately, capitalised, amortisation and the capitalised balance."""

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.STR, description="e.g. 2027-Q1", required=True),
            OpenApiParameter("to", OpenApiTypes.STR, description="e.g. 2027-Q4", required=True),
        ],
        responses=s.AmortisationSerializer,
    )
    def get(self, request):
        schedule = amortisation.amortisation_for(
            request.user,
            start_key=request.query_params.get("from", ""),
            end_key=request.query_params.get("to", ""),
        )
        return Response(s.AmortisationSerializer(schedule).data)


class WhatIfView(APIView):
    """Model a plan version against the live plan (sales ops): on the credits of a past period
    (``mode=period``) or a simulated attainment distribution (``mode=simulated``)."""

    @extend_schema(request=s.WhatIfRequestSerializer, responses=s.WhatIfSerializer)
    def post(self, request):
        body = s.WhatIfRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = whatif.whatif_run(
            viewer=request.user,
            plan_id=data["plan"],
            mode=data["mode"],
            period_key=data.get("period", ""),
            user_ids=data.get("users"),
            distribution=body.distribution(),
        )
        return Response(s.WhatIfSerializer(result).data)

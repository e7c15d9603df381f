"""Compensation API, under ``/api/v1/comp/``."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from compensation.api import plan_views, run_views, statement_views, tools_views

router = SimpleRouter()
router.register("plans", plan_views.CompPlanViewSet, basename="compplan")
router.register("assignments", plan_views.PlanAssignmentViewSet, basename="planassignment")
router.register("statements", statement_views.StatementViewSet, basename="statement")
router.register("lines", statement_views.PayoutLineViewSet, basename="payoutline")
router.register("disputes", statement_views.DisputeViewSet, basename="dispute")
router.register("runs", run_views.CommissionRunViewSet, basename="commissionrun")
router.register("adjustments", run_views.ManualAdjustmentViewSet, basename="manualadjustment")

urlpatterns = [
    *router.urls,
    # A file name, so no trailing slash: the download is saved as what the URL says.
    re_path(
        r"^runs/(?P<pk>[0-9]+)/payroll\.(?P<fmt>csv|xlsx)$",
        run_views.CommissionRunViewSet.as_view(
            {"get": "payroll"}, detail=True, basename="commissionrun"
        ),
        name="commissionrun-payroll",
    ),
    path("estimate/", tools_views.DealEstimateView.as_view(), name="comp-estimate"),
    path("amortisation/", tools_views.AmortisationView.as_view(), name="comp-amortisation"),
    path("whatif/", tools_views.WhatIfView.as_view(), name="comp-whatif"),
]

from django.urls import path
from rest_framework.routers import DefaultRouter, SimpleRouter

from territories.api import quota_views, views

router = DefaultRouter()
router.register("territory-plans", views.TerritoryPlanViewSet, basename="territoryplan")
router.register("territories", views.TerritoryViewSet, basename="territory")
router.register("territory-members", views.TerritoryMemberViewSet, basename="territorymember")
router.register("assignment-rules", views.AssignmentRuleViewSet, basename="assignmentrule")
router.register("assignment-runs", views.AssignmentRunViewSet, basename="assignmentrun")

urlpatterns = [
    # A file name, so no trailing slash: the download is saved as what the URL says.
    path(
        "territory-plans/<int:pk>/rules.csv",
        views.TerritoryPlanViewSet.as_view({"get": "rules_csv"}),
        name="territoryplan-rules-csv",
    ),
    *router.urls,
]

# --- Quota planning (territories.api.quota_views) ---------------------------------------------
# A router of its own, appended: the routes above stay as they are. SimpleRouter, so there is
# one API root (the DefaultRouter's above).
quota_router = SimpleRouter()
quota_router.register("quota-plans", quota_views.QuotaPlanViewSet, basename="quotaplan")
quota_router.register("quotas", quota_views.QuotaViewSet, basename="quota")
quota_router.register("quota-reviews", quota_views.QuotaReviewViewSet, basename="quotareview")
quota_router.register("ramp-profiles", quota_views.RampProfileViewSet, basename="rampprofile")

urlpatterns += [
    path(
        "quota-plans/<int:pk>/quotas.csv",
        quota_views.QuotaPlanViewSet.as_view({"get": "quotas_csv"}),
        name="quotaplan-quotas-csv",
    ),
    *quota_router.urls,
]

from django.urls import path
from rest_framework.routers import DefaultRouter

from territories.api import views

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

from rest_framework.routers import DefaultRouter

from crm.api import views

router = DefaultRouter()
router.register("pipelines", views.PipelineViewSet, basename="pipeline")
router.register("stages", views.StageViewSet, basename="stage")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("deals", views.DealViewSet, basename="deal")
router.register("activities", views.ActivityViewSet, basename="activity")
router.register("leads", views.LeadViewSet, basename="lead")
router.register("lead-routing-rules", views.LeadRoutingRuleViewSet, basename="leadroutingrule")

urlpatterns = router.urls

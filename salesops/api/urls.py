from django.urls import path
from rest_framework.routers import DefaultRouter

from salesops.api.views import MeView, TeamViewSet, UserViewSet

router = DefaultRouter()
router.register("users", UserViewSet, basename="user")
router.register("teams", TeamViewSet, basename="team")

urlpatterns = [path("me/", MeView.as_view(), name="api-me"), *router.urls]

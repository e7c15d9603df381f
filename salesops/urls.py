from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from salesops.health import healthz
from salesops.org import views as org_views

urlpatterns = [
    path("", org_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("org/", include("salesops.org.urls")),
    path("crm/", include("crm.urls")),
    path("imports/", include("salesops.imports.urls")),
    path("reports/", include("reporting.urls")),
    path("territories/", include("territories.urls")),
    path("quotas/", include("territories.quota_urls")),
    path("comp/", include("compensation.urls")),
    path("api/v1/", include("salesops.api.urls")),
    path("api/v1/", include("crm.api.urls")),
    path("api/v1/", include("territories.api.urls")),
    path("api/v1/comp/", include("compensation.api.urls")),
    path("api/v1/", include("salesops.imports.api")),
    path("api/v1/", include("reporting.api")),
    path("api/v1/", include("reporting.reports_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
]

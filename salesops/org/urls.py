from django.urls import path

from salesops.org import views

app_name = "org"

urlpatterns = [
    path("teams/", views.team_list, name="team_list"),
    path("exchange-rates/", views.rate_list, name="rate_list"),
    path("audit/", views.audit_list, name="audit_list"),
    path("settings/", views.org_settings_edit, name="settings"),
    path("api-token/", views.api_token, name="api_token"),
]

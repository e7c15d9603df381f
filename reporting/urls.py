from django.urls import path

from reporting import views

app_name = "reporting"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("export/<str:fmt>/", views.dashboard_export, name="dashboard_export"),
    path("kpis/", views.kpi_reference, name="kpi_reference"),
    path("quality/", views.quality, name="quality"),
]

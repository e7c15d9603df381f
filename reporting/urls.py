from django.urls import path

from reporting import views

app_name = "reporting"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("kpis/", views.kpi_reference, name="kpi_reference"),
    path("quality/", views.quality, name="quality"),
]

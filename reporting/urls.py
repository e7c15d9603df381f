from django.urls import path

from reporting import reports_views, views

app_name = "reporting"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("export/<str:fmt>/", views.dashboard_export, name="dashboard_export"),
    path("kpis/", views.kpi_reference, name="kpi_reference"),
    path("quality/", views.quality, name="quality"),
    # Saved reports (reporting.reports_views)
    path("saved/", reports_views.saved_report_list, name="saved_report_list"),
    path("saved/new/", reports_views.saved_report_edit, name="saved_report_add"),
    path("saved/<int:pk>/", reports_views.saved_report_detail, name="saved_report_detail"),
    path("saved/<int:pk>/edit/", reports_views.saved_report_edit, name="saved_report_edit"),
    path("saved/<int:pk>/copy/", reports_views.saved_report_copy, name="saved_report_copy"),
    path("saved/<int:pk>/delete/", reports_views.saved_report_delete, name="saved_report_delete"),
    path(
        "saved/<int:pk>/export.<str:fmt>",
        reports_views.saved_report_export,
        name="saved_report_export",
    ),
    path(
        "saved/<int:pk>/schedules/new/",
        reports_views.report_schedule_edit,
        name="report_schedule_add",
    ),
    path(
        "saved/<int:pk>/schedules/<int:schedule_pk>/",
        reports_views.report_schedule_edit,
        name="report_schedule_edit",
    ),
    path(
        "saved/<int:pk>/schedules/<int:schedule_pk>/delete/",
        reports_views.report_schedule_delete,
        name="report_schedule_delete",
    ),
]

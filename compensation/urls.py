"""Compensation pages (``compensation:plan_list`` is the section's home)."""

from django.urls import path, re_path

from compensation import plan_views, run_views, statement_views, tools_views

app_name = "compensation"

urlpatterns = [
    path("plans/", plan_views.plan_list, name="plan_list"),
    path("plans/new/", plan_views.plan_create, name="plan_create"),
    path("plans/import/", plan_views.plan_import, name="plan_import"),
    path("plans/<int:pk>/", plan_views.plan_detail, name="plan_detail"),
    path("plans/<int:pk>/edit/", plan_views.plan_edit, name="plan_edit"),
    path("plans/<int:pk>/components/new/", plan_views.component_edit, name="component_add"),
    path("plans/<int:pk>/components/<slug:key>/", plan_views.component_edit, name="component_edit"),
    path(
        "plans/<int:pk>/components/<slug:key>/delete/",
        plan_views.component_delete,
        name="component_delete",
    ),
    path("plans/<int:pk>/publish/", plan_views.plan_publish, name="plan_publish"),
    path("plans/<int:pk>/new-version/", plan_views.plan_new_version, name="plan_new_version"),
    # A file name, so no trailing slash: the download is saved as what the URL says.
    re_path(
        r"^plans/(?P<pk>[0-9]+)/plan\.(?P<fmt>json|yaml)$",
        plan_views.plan_export,
        name="plan_export",
    ),
    path("plans/<int:pk>/assignments/", plan_views.plan_assignments, name="plan_assignments"),
    path("assignments/<int:pk>/end/", plan_views.assignment_end, name="assignment_end"),
    path("assignments/<int:pk>/delete/", plan_views.assignment_delete, name="assignment_delete"),
    path("assignments/<int:pk>/accept/", plan_views.assignment_accept, name="assignment_accept"),
    path("my-plan/", plan_views.my_plan, name="my_plan"),
    # Statements and disputes (compensation.statement_views)
    path("statements/", statement_views.my_commissions, name="my_commissions"),
    path("statements/<int:run_id>/", statement_views.statement_page, name="statement"),
    path(
        "statements/<int:run_id>/people/<int:user_id>/",
        statement_views.statement_page,
        name="statement_for",
    ),
    path(
        "statements/<int:run_id>/people/<int:user_id>/print/",
        statement_views.statement_print,
        name="statement_print",
    ),
    path(
        "statements/<int:run_id>/people/<int:user_id>/statement.xlsx",
        statement_views.statement_download,
        name="statement_xlsx",
    ),
    path("lines/<int:pk>/", statement_views.line_trace_page, name="line_trace"),
    path("lines/<int:pk>/dispute/", statement_views.dispute_open, name="dispute_open"),
    path("disputes/", statement_views.dispute_list, name="dispute_list"),
    path("disputes/<int:pk>/", statement_views.dispute_detail, name="dispute_detail"),
    path("disputes/<int:pk>/answer/", statement_views.dispute_answer, name="dispute_answer"),
    path("disputes/<int:pk>/adjust/", statement_views.dispute_adjust, name="dispute_adjust"),
    # Commission runs for ops and finance (compensation.run_views)
    path("runs/", run_views.run_list, name="run_list"),
    path("runs/new/", run_views.run_create, name="run_create"),
    path("runs/<int:pk>/", run_views.run_detail, name="run_detail"),
    path("runs/<int:pk>/calculate/", run_views.run_calculate, name="run_calculate"),
    path("runs/<int:pk>/approve/", run_views.run_approve, name="run_approve"),
    path("runs/<int:pk>/pay/", run_views.run_pay, name="run_pay"),
    path("runs/<int:pk>/lines/", run_views.run_lines, name="run_lines"),
    path("runs/<int:pk>/lines/<int:line_pk>/", run_views.run_line_detail, name="run_line_detail"),
    path("runs/<int:pk>/adjustments/", run_views.run_adjustment_add, name="run_adjustment_add"),
    path(
        "runs/<int:pk>/adjustments/<int:adjustment_pk>/delete/",
        run_views.run_adjustment_delete,
        name="run_adjustment_delete",
    ),
    re_path(
        r"^runs/(?P<pk>[0-9]+)/payroll\.(?P<fmt>csv|xlsx)$",
        run_views.run_payroll,
        name="run_payroll",
    ),
    # Estimates, amortisation and what-if (compensation.tools_views)
    path("deals/<int:pk>/estimate/", tools_views.deal_estimate, name="deal_estimate"),
    path("amortisation/", tools_views.amortisation_page, name="amortisation"),
    path("whatif/", tools_views.whatif_page, name="whatif"),
]

"""Territory planning pages (``territories:tree`` is the section's home)."""

from django.urls import path

from territories import views

app_name = "territories"

urlpatterns = [
    path("", views.tree, name="tree"),
    path("plans/live/", views.plan_create_live, name="plan_create_live"),
    path("scenarios/new/", views.scenario_create, name="scenario_create"),
    path("plans/<int:plan_pk>/territories/new/", views.territory_add, name="territory_add"),
    path("territory/<int:pk>/", views.territory_detail, name="territory"),
    path("territory/<int:pk>/delete/", views.territory_delete, name="territory_delete"),
    path("territory/<int:pk>/members/", views.member_save, name="member_save"),
    path("plans/<int:pk>/rules/", views.rules, name="rules"),
    path("plans/<int:pk>/rules/new/", views.rule_add, name="rule_add"),
    path("plans/<int:pk>/rules.csv", views.rules_export, name="rules_export"),
    path("plans/<int:pk>/rules/import/", views.rules_upload, name="rules_import"),
    path("plans/<int:pk>/rules/test/", views.rule_test, name="rule_test"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("rules/<int:pk>/move/", views.rule_move, name="rule_move"),
    path("plans/<int:pk>/apply/", views.plan_apply, name="plan_apply"),
    path("scenarios/<int:pk>/", views.scenario, name="scenario"),
    path("scenarios/<int:pk>/move-region/", views.region_move, name="region_move"),
    path("scenarios/<int:pk>/autobalance/", views.autobalance_propose, name="autobalance"),
    path(
        "scenarios/<int:pk>/autobalance/accept/",
        views.autobalance_accept,
        name="autobalance_accept",
    ),
    path("scenarios/<int:pk>/archive/", views.scenario_archive, name="scenario_archive"),
    path("compare/", views.compare, name="compare"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
]

from django.urls import path

from crm import views

app_name = "crm"

urlpatterns = [
    path("board/", views.board, name="board"),
    path("search/", views.search, name="search"),
    path("deals/", views.deal_list, name="deal_list"),
    path("deals/export.<str:fmt>", views.deal_export, name="deal_export"),
    path("deals/<int:pk>/", views.deal_detail, name="deal_detail"),
    path("deals/<int:pk>/move/", views.deal_move, name="deal_move"),
    path("deals/<int:pk>/activities/", views.deal_activity, name="deal_activity"),
    path("pipelines/", views.pipeline_settings, name="pipeline_settings"),
    path("data-quality/", views.data_quality, name="data_quality"),
    path("pipelines/<int:pipeline_pk>/stages/new/", views.stage_edit, name="stage_add"),
    path("pipelines/<int:pipeline_pk>/stages/<int:pk>/", views.stage_edit, name="stage_edit"),
]

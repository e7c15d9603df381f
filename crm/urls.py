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
    path("deals/<int:pk>/splits/", views.deal_splits_edit, name="deal_splits_edit"),
    path("deals/bulk/", views.deal_bulk, name="deal_bulk"),
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/export.<str:fmt>", views.account_export, name="account_export"),
    path("accounts/merge/", views.account_merge, name="account_merge"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
    path("contacts/merge/", views.contact_merge, name="contact_merge"),
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/status/", views.lead_status, name="lead_status"),
    path("leads/<int:pk>/convert/", views.lead_convert, name="lead_convert"),
    path("pipelines/", views.pipeline_settings, name="pipeline_settings"),
    path("data-quality/", views.data_quality, name="data_quality"),
    path("pipelines/<int:pipeline_pk>/stages/new/", views.stage_edit, name="stage_add"),
    path("pipelines/<int:pipeline_pk>/stages/<int:pk>/", views.stage_edit, name="stage_edit"),
]

"""Quota planning pages: plans, the grid, reviews, capacity, ramp profiles, the quotas CSV."""

from django.urls import path

from territories import quota_views as views

app_name = "quotas"
urlpatterns = [
    path("", views.home, name="home"),
    path("new/", views.plan_create, name="plan_create"),
    path("reviews/<int:pk>/decide/", views.review_decide, name="review_decide"),
    path("ramp-profiles/", views.ramp_profile_list, name="ramp_profiles"),
    path("ramp-profiles/<int:pk>/", views.ramp_profile_edit, name="ramp_profile_edit"),
    path("<int:fiscal_year>/", views.plan_grid, name="plan"),
    path("<int:fiscal_year>/allocate/", views.plan_allocate, name="plan_allocate"),
    path("<int:fiscal_year>/propose/", views.plan_propose, name="plan_propose"),
    path("<int:fiscal_year>/publish/", views.plan_publish, name="plan_publish"),
    path("<int:fiscal_year>/cells/<int:pk>/", views.cell_edit, name="cell"),
    path("<int:fiscal_year>/cells/<int:pk>/history/", views.cell_history, name="cell_history"),
    path("<int:fiscal_year>/capacity/", views.capacity, name="capacity"),
    # A file name, so no trailing slash: the download is saved as what the URL says.
    path("<int:fiscal_year>/quotas.csv", views.plan_export, name="plan_export"),
    path("<int:fiscal_year>/import/", views.plan_import, name="plan_import"),
]

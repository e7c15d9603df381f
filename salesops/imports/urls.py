from django.urls import path

from salesops.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("<int:pk>/", views.job_detail, name="job"),
    path("<int:pk>/mapping/", views.job_mapping, name="mapping"),
    path("<int:pk>/use-mapping/", views.job_use_mapping, name="use_mapping"),
    path("<int:pk>/check/", views.job_check, name="check"),
    path("<int:pk>/import/", views.job_commit, name="commit"),
    path("<int:pk>/status/", views.job_status, name="status"),
    path("<int:pk>/errors.csv", views.job_errors, name="errors"),
]

from django.urls import path

from targets import views

app_name = "targets"

urlpatterns = [
    path(
        "target-databases/",
        views.TargetDatabaseListView.as_view(),
        name="target-database-list",
    ),
    path(
        "target-databases/<slug:name>/",
        views.TargetDatabaseDetailView.as_view(),
        name="target-database-detail",
    ),
]

from django.urls import path

from evaluation import views

app_name = "evaluation"

urlpatterns = [
    path(
        "golden-examples/",
        views.GoldenExampleListView.as_view(),
        name="golden-example-list",
    ),
    path(
        "golden-examples/import/",
        views.GoldenExampleImportView.as_view(),
        name="golden-example-import",
    ),
    path(
        "golden-examples/<int:pk>/",
        views.GoldenExampleDetailView.as_view(),
        name="golden-example-detail",
    ),
    path(
        "golden-examples/<int:pk>/retire/",
        views.GoldenExampleRetireView.as_view(),
        name="golden-example-retire",
    ),
    path("snapshots/", views.SnapshotListView.as_view(), name="snapshot-list"),
    path(
        "snapshots/<int:pk>/",
        views.SnapshotDetailView.as_view(),
        name="snapshot-detail",
    ),
]

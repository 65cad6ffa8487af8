from django.urls import path

from evaluation import views
from evaluation.run_views import run_urlpatterns

app_name = "evaluation"

urlpatterns: list[object] = [
    # Golden sets (issue 4): target databases, golden examples, snapshots.
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
    path(
        "golden-examples/",
        views.GoldenExampleListView.as_view(),
        name="golden-example-list",
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

# Evaluation runs (issue 5): runs, results, comparisons, alerts.
urlpatterns += run_urlpatterns

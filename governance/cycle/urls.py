from django.urls import path

from governance.cycle import views

app_name = "governance_cycle"

urlpatterns = [
    path("cycles/", views.RetrainingCycleListView.as_view(), name="cycle-list"),
    path(
        "cycles/<int:pk>/",
        views.RetrainingCycleDetailView.as_view(),
        name="cycle-detail",
    ),
    path(
        "datasets/",
        views.DatasetSnapshotListView.as_view(),
        name="dataset-list",
    ),
    path(
        "datasets/<int:pk>/",
        views.DatasetSnapshotDetailView.as_view(),
        name="dataset-detail",
    ),
]

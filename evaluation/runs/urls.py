from django.urls import path

from evaluation.runs import views

app_name = "evaluation_runs"

urlpatterns = [
    path("runs/", views.RunListView.as_view(), name="run-list"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/cancel/", views.RunCancelView.as_view(), name="run-cancel"),
    path(
        "runs/<int:pk>/results/", views.RunResultListView.as_view(), name="run-results"
    ),
    path("comparisons/", views.ComparisonView.as_view(), name="comparison"),
    path("alerts/", views.AlertListView.as_view(), name="alert-list"),
]

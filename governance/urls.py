from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("decisions/", views.DecisionLogListView.as_view(), name="decision-list"),
    path(
        "decisions/export/<str:fmt>/",
        views.DecisionLogExportView.as_view(),
        name="decision-export",
    ),
    path(
        "decisions/verify/",
        views.DecisionLogVerifyView.as_view(),
        name="decision-verify",
    ),
    path(
        "decisions/<int:sequence>/",
        views.DecisionLogDetailView.as_view(),
        name="decision-detail",
    ),
    path("promotions/", views.PromotionListView.as_view(), name="promotion-list"),
    path(
        "promotions/<int:pk>/",
        views.PromotionDetailView.as_view(),
        name="promotion-detail",
    ),
    path(
        "promotions/<int:pk>/approve/",
        views.PromotionApproveView.as_view(),
        name="promotion-approve",
    ),
    path(
        "promotions/<int:pk>/reject/",
        views.PromotionRejectView.as_view(),
        name="promotion-reject",
    ),
    path(
        "promotions/<int:pk>/override/",
        views.PromotionOverrideView.as_view(),
        name="promotion-override",
    ),
    path(
        "promotions/<int:pk>/edit/",
        views.PromotionEditView.as_view(),
        name="promotion-edit",
    ),
    path(
        "promotions/<int:pk>/withdraw/",
        views.PromotionWithdrawView.as_view(),
        name="promotion-withdraw",
    ),
    path(
        "promotions/<int:pk>/release-notes/",
        views.ReleaseNoteView.as_view(),
        name="release-notes",
    ),
    path(
        "promotions/<int:pk>/release-notes.<str:fmt>",
        views.ReleaseNoteView.as_view(),
        name="release-notes-export",
    ),
    path("rollbacks/", views.RollbackView.as_view(), name="rollback"),
    path(
        "rollback-requests/",
        views.RollbackRequestView.as_view(),
        name="rollback-request",
    ),
    path("triggers/", views.TriggerListView.as_view(), name="trigger-list"),
    path("triggers/check/", views.TriggerCheckView.as_view(), name="trigger-check"),
    path(
        "circuit-breakers/",
        views.CircuitBreakerListView.as_view(),
        name="circuit-breaker-list",
    ),
    path(
        "circuit-breakers/<slug:template>/reset/",
        views.CircuitBreakerResetView.as_view(),
        name="circuit-breaker-reset",
    ),
]

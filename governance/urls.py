from django.urls import path

from governance import card_views, holdout_views, promotion_views, views

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
    path(
        "promotions/",
        promotion_views.PromotionListView.as_view(),
        name="promotion-list",
    ),
    path(
        "promotions/<int:pk>/",
        promotion_views.PromotionDetailView.as_view(),
        name="promotion-detail",
    ),
    path(
        "promotions/<int:pk>/approve/",
        promotion_views.PromotionApproveView.as_view(),
        name="promotion-approve",
    ),
    path(
        "promotions/<int:pk>/reject/",
        promotion_views.PromotionRejectView.as_view(),
        name="promotion-reject",
    ),
    path(
        "promotions/<int:pk>/override/",
        promotion_views.PromotionOverrideView.as_view(),
        name="promotion-override",
    ),
    path(
        "promotions/<int:pk>/edit/",
        promotion_views.PromotionEditView.as_view(),
        name="promotion-edit",
    ),
    path(
        "promotions/<int:pk>/withdraw/",
        promotion_views.PromotionWithdrawView.as_view(),
        name="promotion-withdraw",
    ),
    path(
        "promotions/<int:pk>/release-notes/",
        promotion_views.ReleaseNoteView.as_view(),
        name="release-notes",
    ),
    path(
        "promotions/<int:pk>/release-notes.<str:fmt>",
        promotion_views.ReleaseNoteView.as_view(),
        name="release-notes-export",
    ),
    path(
        "promotions/<int:pk>/model-card/",
        card_views.ModelCardView.as_view(),
        name="model-card",
    ),
    path(
        "promotions/<int:pk>/model-card.<str:fmt>",
        card_views.ModelCardView.as_view(),
        name="model-card-export",
    ),
    path(
        "promotions/<int:pk>/risk-assessment/",
        card_views.RiskAssessmentView.as_view(),
        name="risk-assessment",
    ),
    path("rollbacks/", promotion_views.RollbackView.as_view(), name="rollback"),
    path(
        "rollback-requests/",
        promotion_views.RollbackRequestView.as_view(),
        name="rollback-request",
    ),
    path(
        "holdout/<slug:template>/",
        holdout_views.HoldoutComparisonView.as_view(),
        name="holdout-comparison",
    ),
    path(
        "holdout/<slug:template>/baseline-requests/",
        holdout_views.BaselineChangeRequestView.as_view(),
        name="holdout-baseline-request",
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

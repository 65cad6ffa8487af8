from django.urls import path

from feedback import (
    category_views,
    otlp_views,
    privacy_views,
    quality_views,
    review_views,
    views,
)

app_name = "feedback"

urlpatterns = [
    path("interactions/", views.InteractionListView.as_view(), name="interaction-list"),
    path(
        "interactions/<uuid:pk>/",
        views.InteractionDetailView.as_view(),
        name="interaction-detail",
    ),
    path("feedback/", views.FeedbackListView.as_view(), name="feedback-list"),
    path(
        "feedback/<uuid:pk>/categorize/",
        category_views.FeedbackRecategorizeView.as_view(),
        name="feedback-categorize",
    ),
    path(
        "categories/",
        category_views.FeedbackCategoryCountsView.as_view(),
        name="category-counts",
    ),
    path(
        "error-classes/",
        category_views.ErrorClassTrendView.as_view(),
        name="error-classes",
    ),
    path("batch/", views.EventBatchView.as_view(), name="event-batch"),
    # OTLP exporters append /v1/traces to their endpoint, with no trailing slash.
    path("otlp/v1/traces", otlp_views.OtlpTracesView.as_view(), name="otlp-traces"),
    path("widget/", views.WidgetFeedbackView.as_view(), name="widget-feedback"),
    path(
        "review-items/", review_views.ReviewItemListView.as_view(), name="review-list"
    ),
    path(
        "review-items/<int:pk>/",
        review_views.ReviewItemDetailView.as_view(),
        name="review-detail",
    ),
    *(
        path(
            f"review-items/<int:pk>/{verb}/",
            view.as_view(),
            name=f"review-{verb}",
        )
        for verb, view in (
            ("claim", review_views.ReviewItemClaimView),
            ("release", review_views.ReviewItemReleaseView),
            ("approve", review_views.ReviewItemApproveView),
            ("reject", review_views.ReviewItemRejectView),
            ("escalate", review_views.ReviewItemEscalateView),
            ("verdict", review_views.ReviewItemVerdictView),
        )
    ),
    path(
        "guidelines/",
        quality_views.GuidelineVersionListView.as_view(),
        name="guideline-list",
    ),
    path(
        "guidelines/<int:pk>/",
        quality_views.GuidelineVersionDetailView.as_view(),
        name="guideline-detail",
    ),
    path(
        "quality/agreement/",
        quality_views.AgreementReportView.as_view(),
        name="quality-agreement",
    ),
    path("calibration/", quality_views.CalibrationView.as_view(), name="calibration"),
    path(
        "calibration/<int:pk>/answer/",
        quality_views.CalibrationAnswerView.as_view(),
        name="calibration-answer",
    ),
    path(
        "privacy-requests/",
        privacy_views.PrivacyRequestListView.as_view(),
        name="privacy-request-list",
    ),
    path(
        "privacy-requests/<int:pk>/",
        privacy_views.PrivacyRequestDetailView.as_view(),
        name="privacy-request-detail",
    ),
]

from django.urls import path

from feedback import category_views, review_views, views

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
        )
    ),
]

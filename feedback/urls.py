from django.urls import path

from feedback import views

app_name = "feedback"

urlpatterns = [
    path("interactions/", views.InteractionListView.as_view(), name="interaction-list"),
    path(
        "interactions/<uuid:pk>/",
        views.InteractionDetailView.as_view(),
        name="interaction-detail",
    ),
    path("feedback/", views.FeedbackListView.as_view(), name="feedback-list"),
    path("batch/", views.EventBatchView.as_view(), name="event-batch"),
    path("widget/", views.WidgetFeedbackView.as_view(), name="widget-feedback"),
    path("review-items/", views.ReviewItemListView.as_view(), name="review-list"),
    path(
        "review-items/<int:pk>/",
        views.ReviewItemDetailView.as_view(),
        name="review-detail",
    ),
    *(
        path(
            f"review-items/<int:pk>/{verb}/",
            view.as_view(),
            name=f"review-{verb}",
        )
        for verb, view in (
            ("claim", views.ReviewItemClaimView),
            ("release", views.ReviewItemReleaseView),
            ("approve", views.ReviewItemApproveView),
            ("reject", views.ReviewItemRejectView),
            ("escalate", views.ReviewItemEscalateView),
        )
    ),
]

from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("templates/", views.PromptTemplateListView.as_view(), name="template-list"),
    path(
        "templates/<slug:name>/",
        views.PromptTemplateDetailView.as_view(),
        name="template-detail",
    ),
    path(
        "prompt-versions/",
        views.PromptVersionListView.as_view(),
        name="prompt-version-list",
    ),
    path(
        "prompt-versions/<int:pk>/",
        views.PromptVersionDetailView.as_view(),
        name="prompt-version-detail",
    ),
    path(
        "prompt-versions/<int:pk>/diff/",
        views.PromptVersionDiffView.as_view(),
        name="prompt-version-diff",
    ),
    path(
        "model-versions/",
        views.ModelVersionListView.as_view(),
        name="model-version-list",
    ),
    path(
        "model-versions/<int:pk>/",
        views.ModelVersionDetailView.as_view(),
        name="model-version-detail",
    ),
    path("labels/", views.LabelListView.as_view(), name="label-list"),
    path("resolve/", views.ResolveView.as_view(), name="resolve"),
]

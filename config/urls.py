from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import error_handlers
from evaluation import urls as golden_set_urls
from evaluation.runs import compare_page

_handlers = error_handlers()
handler400 = _handlers["handler400"]
handler403 = _handlers["handler403"]
handler404 = _handlers["handler404"]
handler500 = _handlers["handler500"]

# The admin is one of Loopgate's pages; "View site" (here "Home") leads to `/`.
admin.site.site_header = "Loopgate"
admin.site.site_title = "Loopgate"
admin.site.index_title = "Records and settings"
admin.site.site_url = "/"

# One `evaluation` namespace for the golden-set API and the compare page, so that
# `evaluation:comparison` (?a=&b=, the dashboard's link) is a page, not an API.
evaluation_patterns: list[URLPattern | URLResolver] = [
    path("api/v1/evaluation/", include(golden_set_urls.urlpatterns)),
    path("evaluation/compare/", compare_page.comparison_view, name="comparison"),
    path(
        "evaluation/compare/item/",
        compare_page.comparison_item_view,
        name="comparison-item",
    ),
]

urlpatterns = [
    path("", include("portal.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"
    ),
    path("api/v1/registry/", include("registry.urls")),
    path("api/v1/feedback/", include("feedback.urls")),
    path("feedback/", include("feedback.page_urls")),
    path("api/v1/evaluation/", include("targets.urls")),
    path("", include((evaluation_patterns, golden_set_urls.app_name))),
    path("api/v1/evaluation/", include("evaluation.runs.urls")),
    # The accuracy dashboard for stakeholders.
    path("evaluation/", include("evaluation.runs.dashboard")),
    path("api/v1/governance/", include("governance.urls")),
    path("api/v1/governance/", include("governance.cycle.urls")),
]

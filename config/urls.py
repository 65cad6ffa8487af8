from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api import error_handlers

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
    path("api/v1/evaluation/", include("evaluation.urls")),
    path("api/v1/evaluation/", include("evaluation.runs.urls")),
    # The stakeholder dashboard (portal), at its historical address.
    path("evaluation/", include("portal.dashboard_views")),
    path("api/v1/governance/", include("governance.urls")),
    path("api/v1/governance/", include("governance.cycle.urls")),
]

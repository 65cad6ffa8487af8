"""Non-API pages, mounted at /feedback/ by config.urls."""

from django.urls import path

from feedback import pages

app_name = "feedback-pages"

urlpatterns = [
    path("widget.js", pages.widget_js, name="widget-js"),
    path("widget-demo/", pages.widget_demo, name="widget-demo"),
]

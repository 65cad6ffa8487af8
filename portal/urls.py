from django.urls import URLPattern, URLResolver, path

from portal import views

app_name = "portal"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home_view, name="home"),
]

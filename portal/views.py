from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.home import home_for


@login_required(login_url="admin:login")
def home_view(request: HttpRequest) -> HttpResponse:
    """Each person's home: what waits for their roles, and accuracy for all."""
    assert request.user.is_authenticated  # noqa: S101 (login_required)
    return render(request, "portal/home.html", {"home": home_for(request.user)})

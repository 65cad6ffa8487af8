"""Plain Django pages: the widget's script and a demo page that embeds it."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.exceptions import FeedbackTokenError
from accounts.widget_tokens import (
    issue_feedback_token,
    read_feedback_token,
)
from feedback.ingestion import CREATED, ingest_events
from feedback.models import Interaction
from registry.exceptions import NotServableError
from registry.models import PromptTemplate
from registry.selectors import resolve_pair

WIDGET_JS = Path(__file__).parent / "static" / "feedback" / "widget.js"
DEMO_PERMISSIONS = ("feedback.add_interaction", "registry.resolve_prompttemplate")


def widget_js(request: HttpRequest) -> HttpResponse:
    """The embeddable script, served by the app whatever the static setup."""
    response = HttpResponse(WIDGET_JS.read_bytes(), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_http_methods(["GET", "POST"])
def widget_demo(request: HttpRequest) -> HttpResponse:
    """Shows the widget for `?token=`; logged-in clients may record a response."""
    can_ask = request.user.is_authenticated and request.user.has_perms(DEMO_PERMISSIONS)
    if request.method == "POST" and can_ask:
        return _record_demo_response(request)
    context: dict[str, object] = {"can_ask": can_ask}
    if token := request.GET.get("token", ""):
        try:
            grant = read_feedback_token(token)
        except FeedbackTokenError as exc:
            context["error"] = exc.message
        else:
            context.update(
                token=grant.token,
                response_id=grant.response_id,
                expires_at=grant.expires_at,
                interaction=Interaction.objects.filter(pk=grant.response_id).first(),
            )
    if can_ask:
        context["templates"] = PromptTemplate.objects.order_by("name")
    return render(request, "feedback/widget_demo.html", context)


def _record_demo_response(request: HttpRequest) -> HttpResponse:
    template = PromptTemplate.objects.filter(name=request.POST.get("template")).first()
    if template is None:
        return render(
            request,
            "feedback/widget_demo.html",
            {"error": "Unknown template."},
            status=400,
        )
    try:
        session = request.session.session_key or "demo"
        resolution = resolve_pair(template=template, session_id=session)
    except NotServableError as exc:
        return render(
            request, "feedback/widget_demo.html", {"error": exc.message}, status=409
        )
    grant = issue_feedback_token(response_id=uuid.uuid4())
    event = {
        "event_id": str(grant.response_id),
        "user_id": request.user.get_username(),
        "tenant_id": "demo",
        "task_type": "demo",
        "question": request.POST.get("question", ""),
        "generated_sql": request.POST.get("sql", ""),
        "prompt_version": resolution.label.prompt_version_id,
        "model_version": resolution.label.model_version_id,
        "outcome": "not_executed",
        "consent_scope": "improvement",
        "occurred_at": timezone.now().isoformat(),
    }
    result = ingest_events(
        events=[event], acting_user=request.user, channel="api", kind="interaction"
    )[0]
    if result.status != CREATED:
        errors = "; ".join(f"{k}: {v[0]}" for k, v in result.errors.items())
        return render(
            request, "feedback/widget_demo.html", {"error": errors}, status=400
        )
    return redirect(f"{request.path}?token={grant.token}")

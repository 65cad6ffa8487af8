"""Operating the cycle: shadow serving, the fine-tuning export, the command,
the weekly schedule and the admin pages."""

import hashlib
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEvent
from evaluation.models import GoldenSetSnapshot
from feedback.ingestion import ingest_events
from governance.cycle import tasks
from governance.cycle.models import RetrainingCycle
from governance.cycle.shadow import end_shadow
from governance.models import PromotionRequest
from registry.models import Label, PromptTemplate
from registry.selectors import resolve_pair
from targets.models import TargetDatabase
from tests.governance.cycle.helpers import (
    PAIRS,
    approve_spider,
    correct_paraphrases,
    cycle,
    golden_snapshot,
    spider,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def client_user(make_user: Callable[..., User]) -> User:
    return make_user("bot", "analyst")


@pytest.fixture
def goldens(target_db: TargetDatabase, production: Label) -> GoldenSetSnapshot:
    return golden_snapshot(target_db, [golden for golden, _ in PAIRS])


def serve_sessions(
    template: PromptTemplate, client: User, sessions: int, *, label_name: str
) -> int:
    """Interactions for sessions routed to `label_name`, half thumbs down."""
    events, served = [], 0
    for n in range(sessions):
        label = resolve_pair(template=template, session_id=f"s-{n}").label
        if label.name != label_name:
            continue
        interaction = str(uuid.uuid4())
        now = timezone.now().isoformat()
        events += [
            {
                "kind": "interaction",
                "event_id": interaction,
                "session_id": f"s-{n}",
                "user_id": "u",
                "tenant_id": "acme",
                "task_type": "ad-hoc",
                "question": "Anything?",
                "prompt_version": label.prompt_version_id,
                "model_version": label.model_version_id,
                "outcome": "success" if n % 2 else "sql_error",
                "consent_scope": "training",
                "occurred_at": now,
            },
            {
                "kind": "feedback",
                "event_id": str(uuid.uuid4()),
                "interaction_id": interaction,
                "type": "thumbs_up" if n % 2 else "thumbs_down",
                "occurred_at": now,
            },
            {
                "kind": "feedback",
                "event_id": str(uuid.uuid4()),
                "interaction_id": interaction,
                "type": "outcome_metric",
                "metric_name": "answer_used",
                "value": float(n % 2),
                "occurred_at": now,
            },
        ]
        served += 1
    ingest_events(events=events, acting_user=client, channel="api")
    return served


def test_shadow_mode_serves_the_challenger_then_requests_with_online_numbers(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    template = production.template
    correct_paraphrases(template, client_user, senior)
    first = cycle(template, ml_lead, shadow_share="0.5", min_shadow_interactions=4)
    run = first.cycle
    assert run.status == RetrainingCycle.Status.SHADOWING
    assert run.decision.decision == "retrain" and run.promotion_request is None
    assert first.waiting.startswith("shadow")
    label = Label.objects.get(template=template, name=Label.Name.CHALLENGER)
    assert (label.prompt_version, label.traffic_share) == (
        run.challenger_prompt,
        Decimal("0.5"),
    )
    assert AuditEvent.objects.filter(
        event_type="registry.label.moved", data__label="challenger"
    ).exists()

    waiting = cycle(template, ml_lead)
    assert waiting.waiting == "shadow traffic: 0 of 4 challenger interactions"
    assert waiting.cycle.promotion_request is None

    on_challenger = serve_sessions(template, client_user, 20, label_name="challenger")
    on_production = serve_sessions(template, client_user, 20, label_name="production")
    assert on_challenger >= 4 and on_production >= 1
    done = cycle(template, ml_lead).cycle
    online = done.online_comparison
    assert online["challenger"]["interactions"] == on_challenger
    assert online["champion"]["interactions"] == on_production
    odd = sum(
        1
        for n in range(20)
        if n % 2
        and resolve_pair(template=template, session_id=f"s-{n}").label.name
        == "challenger"
    )
    assert online["challenger"]["negative_rate"] == pytest.approx(
        (on_challenger - odd) / on_challenger
    )
    assert online["challenger"]["metrics"]["answer_used"]["n"] == on_challenger
    request = done.promotion_request
    assert done.status == RetrainingCycle.Status.COMPLETED
    assert request.status == PromotionRequest.Status.PENDING
    assert "Shadow traffic since" in request.rationale
    assert f"challenger {on_challenger} interactions" in request.rationale
    assert [s["name"] for s in done.steps][-2:] == ["shadow", "request"]
    end_shadow(template=template, acting_user=ml_lead)
    label.refresh_from_db()
    assert label.traffic_share == 0


def test_the_training_export_is_chat_jsonl_of_consented_rows(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    settings: object,
    tmp_path: Path,
) -> None:
    settings.DATA_DIR = tmp_path  # type: ignore[attr-defined]
    template = production.template
    correct_paraphrases(template, client_user, senior, PAIRS[:5])
    question = spider(PAIRS[5][1])[0]
    approve_spider(template, client_user, senior, PAIRS[5][1], consent="improvement")
    run = cycle(template, None, export_training=True).cycle
    export = run.training_export
    path = Path(export["path"])
    lines = path.read_text().splitlines()
    assert export["rows"] == len(lines) == 5
    assert export["left_out_without_training_consent"] == 1
    assert export["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    first = json.loads(lines[0])["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert spider(PAIRS[0][1])[0] in first[1]["content"]
    assert first[2]["content"] == spider(PAIRS[0][1])[1]
    assert all(question not in line for line in lines)
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["dataset_hash"] == run.dataset.content_hash
    assert run.dataset.content_hash[:12] in str(path)
    assert "export" in [s["name"] for s in run.steps]


def test_the_command_shows_the_steps_and_resumes_on_a_second_run(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    correct_paraphrases(production.template, client_user, senior)
    out, err = StringIO(), StringIO()
    call_command("run_cycle", "concerts", "--as", "lee", stdout=out, stderr=err)
    text = out.getvalue()
    assert "Cycle #" in text and ": completed" in text
    for step in ("collect", "validate", "build", "evaluate", "decide"):
        assert f"  {step}" in text
    assert "Decision #" in text and "retrain" in text
    assert "Promotion request #" in text and "tier 2" in text
    assert "item" in err.getvalue()  # the progress bar
    again = StringIO()
    call_command("run_cycle", "concerts", stdout=again, stderr=StringIO())
    assert "reused   dataset snapshot" in again.getvalue()
    assert RetrainingCycle.objects.count() == 1
    with pytest.raises(CommandError, match="No template"):
        call_command("run_cycle", "nope", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="No user"):
        call_command("run_cycle", "concerts", "--as", "ghost", stdout=StringIO())
    with pytest.raises(CommandError, match="run_retrainingcycle"):
        call_command("run_cycle", "concerts", "--as", "bot", stdout=StringIO())
    with pytest.raises(CommandError, match="strictly between"):
        call_command("run_cycle", "concerts", "--shadow-share", "2", stdout=StringIO())


def test_the_weekly_task_runs_each_production_template_as_the_system(
    production: Label, goldens: GoldenSetSnapshot, client_user: User, senior: User
) -> None:
    correct_paraphrases(production.template, client_user, senior)
    tasks.run_weekly_cycles()
    run = RetrainingCycle.objects.get()
    assert (run.trigger, run.requested_by, run.status) == (
        "schedule",
        None,
        "completed",
    )
    assert run.challenger_prompt.author == production.template.owner
    assert run.promotion_request.requested_by is None
    assert run.decision.decided_by is None
    tasks.advance_cycle(production.template_id)  # nothing new: reused, no change
    assert RetrainingCycle.objects.count() == 1
    tasks.advance_cycle(987654)  # a template that vanished: logged


def test_the_weekly_schedule_is_seeded_for_beat() -> None:
    task = PeriodicTask.objects.get(name="governance: weekly retraining cycle")
    assert task.task == "governance.run_weekly_cycles" and task.enabled
    assert (task.crontab.day_of_week, task.crontab.hour) == ("1", "3")


def test_admin_pages_show_cycles_and_datasets_read_only(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    correct_paraphrases(production.template, client_user, senior)
    run = cycle(production.template, ml_lead).cycle
    browser = Client()
    browser.force_login(ml_lead)
    page = browser.get(f"/admin/governance/retrainingcycle/{run.pk}/change/")
    assert page.status_code == 200
    assert b"evaluate" in page.content and b"contamination" in page.content
    listing = browser.get("/admin/governance/datasetsnapshot/")
    assert listing.status_code == 200 and run.dataset.content_hash[:12].encode() in (
        listing.content
    )
    assert browser.get("/admin/governance/retrainingcycle/add/").status_code == 403
    outsider = Client()
    outsider.force_login(client_user)
    assert outsider.get("/admin/governance/retrainingcycle/").status_code == 302

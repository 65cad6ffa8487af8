"""The demo: the whole loop on real Spider data, offline, reusing what exists.

Seeds demo users per role, one template per Spider database with a small
production prompt and the offline model, imports half of each database's
questions as the golden set, serves the other half as production traffic with
analysts' feedback, lets senior analysts review the corrections, runs a
retraining cycle per template (shadow serving included), routes each promotion
through a tier-2 approval and verifies the decision log. Run again, it reuses
every row it finds and says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User

from accounts.models import ApiToken
from accounts.roles import SERVICE_ACCOUNT
from accounts.services import issue_api_token
from demo import rollout as demo_rollout
from demo import safety as demo_safety
from demo import traffic as demo_traffic
from demo.traffic import (
    Question,
    ReviewStats,
    TrafficStats,
)
from evaluation.importing import ImportItem, import_golden_examples, spider_table_ids
from evaluation.models import EvaluationRun
from evaluation.spider import load_examples
from feedback.models import Interaction
from feedback.redaction import redact
from governance import (
    approvals,
    chain,
    holdout,
)
from governance.cycle.models import RetrainingCycle
from governance.cycle.progress import CycleOptions
from governance.cycle.services import run_cycle
from governance.cycle.shadow import end_shadow
from governance.models import PromotionRequest, Rollout
from registry.models import Label, ModelVersion, PromptTemplate
from registry.services import (
    create_prompt_version,
    create_template,
    move_label,
    register_model_version,
)
from targets.models import TargetDatabase

DEMO_PASSWORD = "loopgate-demo"  # noqa: S105 (published demo credential)
DEMO_USERS = {
    "admin": None,
    "analyst": "analyst",
    "analyst2": "analyst",
    "senior": "senior_analyst",
    "senior2": "senior_analyst",
    "mleng": "ml_lead",
    "mllead": "ml_lead",
    "safety": "ai_safety",
    "product": "product",
    "auditor": "auditor",
    "privacy": "privacy_officer",
}
ASSISTANT_CLIENT = "assistant-bot"
ASSISTANT_TOKEN_NAME = "demo assistant"  # noqa: S105 (a label, not a key)
SPIDER = Path(settings.BASE_DIR) / "data" / "spider"
SHADOW_SHARE = "0.5"
MIN_SHADOW_INTERACTIONS = 5
Say = Callable[[str], None]


@dataclass
class DomainResult:
    """What the loop did for one template."""

    template: PromptTemplate
    golden: int
    traffic: TrafficStats | None = None
    shadow: TrafficStats | None = None
    review: ReviewStats | None = None
    cycle: RetrainingCycle | None = None
    request: PromotionRequest | None = None
    # The staged rollout the approval started (completed or rolled back).
    rollout: Rollout | None = None
    # The production pair's run on the starter safety suite (after promotion).
    safety_run: EvaluationRun | None = None


@dataclass
class DemoReport:
    """Everything the command prints."""

    created: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    domains: list[DomainResult] = field(default_factory=list)
    # The key when this run issued it (shown once), else "" and only its prefix.
    api_key: str = ""
    api_key_prefix: str = ""
    verification: chain.Verification | None = None
    seconds: float = 0.0

    def note(self, created: bool, what: str) -> None:
        (self.created if created else self.reused).append(what)


def demo_risk_assessment(template: str) -> dict[str, str]:
    """The ML lead's answers to the default policy's risk-assessment fields."""
    return {
        "impact": f"Wrong answers to {template} questions until rolled back; the "
        "SQL only reads.",
        "affected_users": "The demo tenant's analysts on the production label.",
        "data_sensitivity": "Spider sample data, no personal data.",
        "mitigations": "Shadowed on a share of sessions first; regression alerts "
        "and the negative-feedback trigger watch it.",
        "rollback_plan": "POST /api/v1/governance/rollbacks/ restores the pair the "
        "label served before.",
    }


def demo_config() -> dict[str, Any]:
    """data/demo/registry.json."""
    path = Path(settings.BASE_DIR) / "data" / "demo" / "registry.json"
    return json.loads(path.read_text())


def split_questions(database: str) -> tuple[list[Question], list[Question]]:
    """(golden half, traffic half) of a Spider dev database, alternating.

    Spider lists the paraphrases of one query consecutively, so each traffic
    question has a reworded twin with the same SQL in the golden half.
    """
    items = [
        Question(index, e.question, e.query)
        for index, e in enumerate(load_examples(SPIDER / "dev.json"))
        if e.db_id == database
    ]
    return items[0::2], items[1::2]


def _ensure_users(report: DemoReport) -> dict[str, User]:
    model = get_user_model()
    users: dict[str, User] = {}
    for username, role in {**DEMO_USERS, ASSISTANT_CLIENT: "analyst"}.items():
        user = model.objects.filter(username=username).first()
        created = user is None
        if user is None:
            user = model.objects.create_user(
                username=username,
                password=DEMO_PASSWORD if username != ASSISTANT_CLIENT else None,
                is_staff=username != ASSISTANT_CLIENT,
                is_superuser=role is None,
            )
            if role is not None:
                user.groups.add(Group.objects.get(name=role))

        if username == ASSISTANT_CLIENT:
            # A client, not a person: an administrator mints its keys.
            user.groups.add(Group.objects.get(name=SERVICE_ACCOUNT))
        report.note(created, f"users: {username}" + (f" ({role})" if role else ""))
        users[username] = user
    return users


def _import_golden_half(
    spec: dict[str, Any],
    golden: list[Question],
    owner: User,
    report: DemoReport,
) -> None:
    database = spec["database"]
    imported = import_golden_examples(
        items=[
            ImportItem(f"spider-dev:{q.index}", database, q.question, q.sql)
            for q in golden
        ],
        db_dir=SPIDER / "database",
        acting_user=owner,
        owner=owner,
        known_databases=spider_table_ids(SPIDER / "tables.json"),
        snapshot_name=f"demo golden half: {database}",
    )
    snapshot = imported.snapshot.pk if imported.snapshot else None
    report.note(
        bool(imported.created),
        f"{spec['template']}: golden half of {database} "
        f"({imported.created + imported.reused} examples, snapshot #{snapshot})",
    )


def _ensure_template(
    spec: dict[str, Any],
    config: dict[str, Any],
    traffic: list[Question],
    users: dict[str, User],
    report: DemoReport,
) -> PromptTemplate:
    template = PromptTemplate.objects.filter(name=spec["template"]).first()
    if template is not None:
        report.reused.append(f"{template.name}: template")
        _ensure_holdout(template, users["mllead"], report)
        return template
    owner = users["mllead"]
    template = create_template(
        name=spec["template"],
        description=spec["description"],
        owner=owner,
        risk_tier=config["risk_tier"],
        target_database=TargetDatabase.objects.get(name=spec["database"]),
        acting_user=owner,
    )
    prompt = config["prompt"]
    version = create_prompt_version(
        template=template,
        template_text=prompt["template_text"],
        few_shot_examples=[
            {"question": q.question, "sql": q.sql}
            for q in traffic[: prompt["initial_examples"]]
        ],
        parameters=prompt["parameters"],
        changelog=prompt["changelog"],
        author=owner,
    )
    move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=version,
        model_version=ModelVersion.objects.get(name=config["model_version"]["name"]),
        reason="Initial production pair of the demo.",
        acting_user=owner,
    )
    report.created.append(f"{template.name}: template (prompt v1 on production)")
    _ensure_holdout(template, owner, report)
    return template


def _ensure_holdout(template: PromptTemplate, owner: User, report: DemoReport) -> None:
    """The frozen baseline: 2% of sessions keep prompt v1 while the loop promotes."""
    exists = Label.objects.filter(template=template, name=Label.Name.HOLDOUT).exists()
    if not exists:
        holdout.establish_holdout(template=template, acting_user=owner)
    report.note(not exists, f"{template.name}: holdout (frozen baseline, 2%)")


def _ensure_model(config: dict[str, Any], users: dict[str, User]) -> bool:
    spec = config["model_version"]
    if ModelVersion.objects.filter(name=spec["name"]).exists():
        return False
    register_model_version(**spec, acting_user=users["mllead"])
    return True


def _ensure_api_key(users: dict[str, User], report: DemoReport) -> None:
    """Issue the demo assistant's key once; a re-run keeps it working.

    Keys are never stored, so a re-run cannot print the earlier key again: it
    names the key by its prefix instead of revoking what a reader may be using.
    """
    token = ApiToken.objects.filter(
        name=ASSISTANT_TOKEN_NAME,
        user=users[ASSISTANT_CLIENT],
        revoked_at__isnull=True,
    ).first()
    if token is not None:
        report.api_key_prefix = token.prefix
        report.reused.append(f"api key: {ASSISTANT_CLIENT} ({token.prefix}…)")
        return
    token, report.api_key = issue_api_token(
        user=users[ASSISTANT_CLIENT],
        name=ASSISTANT_TOKEN_NAME,
        acting_user=users["admin"],
    )
    report.api_key_prefix = token.prefix
    report.created.append(f"api key: {ASSISTANT_CLIENT} ({token.prefix}…)")


def run_demo(
    *,
    databases: list[str] | None = None,
    say: Say | None = None,
    timeout_s: float = 3600.0,
) -> DemoReport:
    """Run the loop end to end for the configured domains (or `databases`).

    Idempotent: existing users, goldens, templates, traffic, reviews, cycles and
    promotions are reused. The demo assistant's API key is issued on the first
    run only (a key is shown once, when issued) and keeps working afterwards.
    Evaluations run in process without a broker and on Celery workers with one
    (waiting up to `timeout_s`).
    """
    started = time.monotonic()
    say = say or (lambda _: None)
    report = DemoReport()
    config = demo_config()
    domains = [
        d for d in config["domains"] if databases is None or d["database"] in databases
    ]
    users = _ensure_users(report)
    suites = demo_safety.safety_config()
    report.note(_ensure_model(config, users), "model: offline-knn-v1")
    for position, spec in enumerate(domains):
        golden, traffic = split_questions(spec["database"])
        say(f"{spec['template']}: golden half and template")
        _import_golden_half(spec, golden, users["mllead"], report)
        template = _ensure_template(spec, config, traffic, users, report)
        result = DomainResult(template=template, golden=len(golden))
        # A careless correction in every other domain and one disagreement in
        # the first: a few rejections and one adjudication in all.
        _loop(result, traffic, users, report, say, position, timeout_s)
        # Loaded after the promotion: the offline model never refuses, so the
        # suite shows what the next promotion's safety gate will hold it to.
        say(f"{template.name}: starter safety suite")
        suite = demo_safety.ensure_suite(
            database=spec["database"],
            spec=suites[spec["database"]],
            template=template,
            owner=users["mllead"],
            note=report.note,
        )
        result.safety_run = demo_safety.evaluate_production(
            template=template, suite=suite, timeout_s=timeout_s
        )
        report.domains.append(result)
    say("verifying the decision log")
    report.verification = chain.verify_chain()
    _ensure_api_key(users, report)
    report.seconds = time.monotonic() - started
    return report


def _loop(
    result: DomainResult,
    traffic: list[Question],
    users: dict[str, User],
    report: DemoReport,
    say: Say,
    position: int,
    timeout_s: float,
) -> None:
    template, client = result.template, users[ASSISTANT_CLIENT]
    if Interaction.objects.filter(template=template).exists():
        report.reused.append(f"{template.name}: traffic and feedback")
    else:
        say(f"{template.name}: serving {len(traffic)} questions, analysts' feedback")
        result.traffic = demo_traffic.serve(
            template=template,
            questions=traffic,
            client=client,
            period="week1",
            corrections=True,
            sloppy_at=2 if position % 2 == 0 else 0,
            disagree_once=position == 0,
        )
    say(f"{template.name}: senior analysts review the corrections")
    result.review = demo_traffic.work_review_queue(
        template=template,
        gold={redact(q.question).text: q.sql for q in traffic},
        senior=users["senior"],
        adjudicator=users["senior2"],
    )
    say(f"{template.name}: retraining cycle")
    options = CycleOptions(
        shadow_share=SHADOW_SHARE,
        min_shadow_interactions=MIN_SHADOW_INTERACTIONS,
        timeout_s=timeout_s,
    )
    outcome = run_cycle(template=template, acting_user=users["mleng"], options=options)
    report.reused += [f"{template.name}: {line}" for line in outcome.reused]
    for period in ("week2", "week3", "week4"):
        if not outcome.waiting.startswith("shadow"):
            break
        say(f"{template.name}: shadow traffic ({period})")
        served = demo_traffic.serve(
            template=template,
            questions=traffic,
            client=client,
            period=period,
            corrections=False,
            days_ago=0.0,
        )
        result.shadow = served
        outcome = run_cycle(template=template, acting_user=users["mleng"])
    result.cycle = outcome.cycle
    request = outcome.cycle.promotion_request
    demo_rollout.ensure_policy(template)
    if request is not None and request.status == PromotionRequest.Status.PENDING:
        say(f"{template.name}: tier-2 approval by mllead")
        approvals.approve_promotion(
            request=request,
            approver=users["mllead"],
            comment="Reviewed the gates, the per-segment table and the shadow "
            "traffic; promote.",
            risk_assessment=demo_risk_assessment(template.name),
        )
        end_shadow(template=template, acting_user=users["mllead"])
        request.refresh_from_db()
    if request is not None and request.status == PromotionRequest.Status.ROLLING_OUT:
        # The second rollout of the run meets a simulated incident.
        earlier = sum(r.rollout is not None for r in report.domains)
        demo_rollout.drive(
            request=request,
            questions=traffic,
            client=client,
            incident=earlier == 1,
            say=say,
        )
        request.refresh_from_db()
    result.request = request
    if request is not None:
        result.rollout = Rollout.objects.filter(request=request).first()

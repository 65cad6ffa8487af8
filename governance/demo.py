"""The demo: seeds a working Loopgate from committed data, reusing what exists."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from evaluation.models import TargetDatabase
from evaluation.services import register_target_database
from governance.models import ApiToken
from governance.services import issue_api_token, revoke_api_token
from registry.models import Label, ModelVersion, PromptTemplate
from registry.services import (
    create_prompt_version,
    create_template,
    move_label,
    register_model_version,
)

DEMO_PASSWORD = "loopgate-demo"  # noqa: S105 (published demo credential)
DEMO_USERS = {
    "admin": None,
    "analyst": "analyst",
    "senior": "senior_analyst",
    "mllead": "ml_lead",
    "safety": "ai_safety",
    "product": "product",
    "auditor": "auditor",
}
ASSISTANT_CLIENT = "assistant-bot"
ASSISTANT_TOKEN_NAME = "demo assistant"  # noqa: S105 (a label, not a key)


@dataclass
class DemoReport:
    created: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    api_key: str = ""


def _demo_data() -> dict[str, Any]:
    path = Path(settings.BASE_DIR) / "data" / "demo" / "registry.json"
    return json.loads(path.read_text())


def _ensure_users(report: DemoReport) -> dict[str, AbstractUser]:
    model = get_user_model()
    users: dict[str, AbstractUser] = {}
    for username, role in {**DEMO_USERS, ASSISTANT_CLIENT: "analyst"}.items():
        user = model.objects.filter(username=username).first()
        if user is None:
            user = model.objects.create_user(
                username=username,
                password=DEMO_PASSWORD if username != ASSISTANT_CLIENT else None,
                is_staff=username != ASSISTANT_CLIENT,
                is_superuser=role is None,
            )
            if role is not None:
                user.groups.add(Group.objects.get(name=role))
            report.created.append(f"user {username}" + (f" ({role})" if role else ""))
        else:
            report.reused.append(f"user {username}")
        users[username] = user
    return users


@transaction.atomic
def seed_demo() -> DemoReport:
    """Seed users, target databases, model versions, templates and labels.

    Safe to run again: existing rows are reused; the demo assistant's API token is
    rotated (the old one revoked) because a key can only be shown when issued.
    """
    report = DemoReport()
    data = _demo_data()
    users = _ensure_users(report)
    admin = users["admin"]
    for spec in data["target_databases"]:
        existed = TargetDatabase.objects.filter(name=spec["name"]).exists()
        register_target_database(**spec, acting_user=admin)
        (report.reused if existed else report.created).append(
            f"target database {spec['name']}"
        )
    for spec in data["model_versions"]:
        if ModelVersion.objects.filter(name=spec["name"]).exists():
            report.reused.append(f"model version {spec['name']}")
            continue
        register_model_version(**spec, acting_user=users["mllead"])
        report.created.append(f"model version {spec['name']}")
    for spec in data["templates"]:
        _seed_template(spec, users, report)
    for token in ApiToken.objects.filter(
        name=ASSISTANT_TOKEN_NAME, revoked_at__isnull=True
    ):
        revoke_api_token(token=token, acting_user=admin, reason="Demo re-run")
    _, report.api_key = issue_api_token(
        user=users[ASSISTANT_CLIENT], name=ASSISTANT_TOKEN_NAME, acting_user=admin
    )
    return report


def _seed_template(
    spec: dict[str, Any], users: dict[str, AbstractUser], report: DemoReport
) -> None:
    template = PromptTemplate.objects.filter(name=spec["name"]).first()
    if template is not None:
        report.reused.append(f"template {spec['name']}")
        return
    owner = users[spec["owner"]]
    template = create_template(
        name=spec["name"],
        description=spec["description"],
        owner=owner,
        risk_tier=spec["risk_tier"],
        target_database=TargetDatabase.objects.get(name=spec["target_database"]),
        acting_user=owner,
    )
    version = create_prompt_version(template=template, author=owner, **spec["prompt"])
    move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=version,
        model_version=ModelVersion.objects.get(name=spec["production_model"]),
        reason="Initial production pair of the demo.",
        acting_user=owner,
    )
    report.created.append(
        f"template {template.name} with prompt v{version.number} on production"
    )

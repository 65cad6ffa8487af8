"""The demo's staged rollouts: simulated sessions until each rollout is decided.

Each approved promotion starts a rollout (the product's default). The demo
serves the template's traffic questions again, period after period, through
`resolve_pair` (so the rollout label takes its sticky share), with the
analysts' simulated feedback, and checks the rollout after each period as the
beat task would. Its traffic is small, so demo templates use larger shares and
a smaller minimum of sessions than the product's defaults, and a looser
latency tolerance.

One rollout gets a simulated incident: the candidate's answers time out on
live traffic, which no offline evaluation sees. Its online gates roll it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.contrib.auth.models import User

from demo import traffic as demo_traffic
from demo.traffic import Question
from governance import rollout_steps
from governance.models import PromotionRequest, Rollout, RolloutPolicy
from registry.models import PromptTemplate

DEMO_STAGES = [
    {"name": "pilot", "share": 0.25},
    {"name": "limited", "share": 0.5},
    {"name": "broad", "share": 1.0},
]
DEMO_MIN_SESSIONS = 5
# The demo's latencies are the few milliseconds the sandbox takes to run SQLite
# queries, noisy on a busy machine: its p95 may reach three times production's.
DEMO_LATENCY_TOLERANCE = 2.0
MAX_PERIODS = 12


def ensure_policy(template: PromptTemplate) -> bool:
    """The demo's rollout policy for `template`; True when created now."""
    _, created = RolloutPolicy.objects.get_or_create(
        template=template,
        defaults={
            "stages": DEMO_STAGES,
            "min_sessions": DEMO_MIN_SESSIONS,
            "latency_tolerance": DEMO_LATENCY_TOLERANCE,
        },
    )
    return created


def drive(
    *,
    request: PromotionRequest,
    questions: Sequence[Question],
    client: User,
    incident: bool,
    say: Callable[[str], None],
) -> Rollout | None:
    """Serve periods of traffic and check the request's rollout after each,
    until it completes or rolls back (at most MAX_PERIODS periods)."""
    rollout = Rollout.objects.filter(request=request).first()
    if rollout is None:
        return None
    failing = (rollout.prompt_version_id, rollout.model_version_id)
    for period in range(MAX_PERIODS):
        if rollout.status != Rollout.Status.ACTIVE:
            break
        demo_traffic.serve(
            template=rollout.template,
            questions=questions,
            client=client,
            period=f"rollout{rollout.pk}-{period}",
            corrections=False,
            days_ago=0.0,
            failing=failing if incident else None,
        )
        step = rollout_steps.check_rollout(rollout_id=rollout.pk)
        rollout.refresh_from_db()
        evidence = rollout.last_evidence
        sessions = evidence.get("sessions", {})
        say(
            f"{rollout.template.name}: rollout stage {evidence.get('stage')} "
            f"({sessions.get('candidate')} candidate / {sessions.get('baseline')} "
            f"production sessions): {step}"
        )
    return rollout

"""The beat advances a rollout through real worker processes (CI pass 2)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from evaluation.models import GoldenSetSnapshot
from governance.models import Rollout, RolloutPolicy
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from tests.conftest import ROOT
from tests.governance.rollout_builders import traffic
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary
from tests.helpers import worker_database_url

MIN = 20


@pytest.fixture
def beat(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `celery beat` on the database scheduler of the test database."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        }
        log = (tmp_path / "beat.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 (fixed argv: this interpreter)
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel=INFO",
                f"--pidfile={tmp_path / 'beat.pid'}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.mark.postgres
@pytest.mark.broker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_beat_advances_a_rollout_once_with_two_workers_racing(
    production: Label,
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    senior: User,
    analyst: User,
    celery_workers: Callable[..., subprocess.Popen[bytes]],
    beat: Callable[[], subprocess.Popen[bytes]],
) -> None:
    RolloutPolicy.objects.create(template=template, min_sessions=MIN)
    template.risk_tier = 1
    template.save(update_fields=["risk_tier"])
    make_run(production.prompt_version, model_v1, snapshot, summary(0.7))
    run = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.8)
    )
    request = request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=model_v1,
        candidate_run=run,
        rationale="v2 wins",
        requested_by=senior,
    )
    rollout = Rollout.objects.get(request=request)
    for pair, prefix in (
        ((run.prompt_version_id, model_v1.pk), "c"),
        ((production.prompt_version_id, production.model_version_id), "p"),
    ):
        traffic(pair=pair, analyst=analyst, sessions=MIN, prefix=prefix, negative=2)
    # The seeded entry runs every ten minutes; this one every second.
    every_second = IntervalSchedule.objects.create(
        every=1, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name="test: advance rollouts",
        task="governance.advance_rollouts",
        interval=every_second,
    )
    celery_workers("first")
    celery_workers("second")
    beat()

    def advanced() -> bool:
        rollout.refresh_from_db()
        return rollout.stage_index == 1

    _wait(advanced, 120, "the beat to advance the pilot")
    time.sleep(3)  # more beats and both workers: the new stage has no data yet
    rollout.refresh_from_db()
    assert rollout.stage_index == 1 and rollout.status == Rollout.Status.ACTIVE
    verdicts = list(rollout.stages.values_list("stage", "verdict"))
    assert verdicts == [
        ("pilot", "entered"),
        ("pilot", "passed"),
        ("limited", "entered"),
    ]
    rolling = Label.objects.get(template=template, name=Label.Name.ROLLOUT)
    assert str(rolling.traffic_share) == "0.2500"

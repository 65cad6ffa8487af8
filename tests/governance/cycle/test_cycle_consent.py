"""Withdrawn consent: later dataset snapshots and training exports leave the
person out, and their counts say so."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from evaluation.models import GoldenExample
from feedback import privacy
from governance.cycle import collect
from governance.cycle.build import export_training_data
from registry.models import Label
from tests.governance.cycle.helpers import PAIRS, correct, spider

pytestmark = pytest.mark.django_db


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def client_user(make_user: Callable[..., User]) -> User:
    return make_user("bot", "analyst")


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user("pia", "privacy_officer")


def test_snapshots_and_training_exports_after_a_revocation_leave_the_person_out(
    production: Label,
    client_user: User,
    senior: User,
    officer: User,
    tmp_path: Path,
) -> None:
    template = production.template
    for index, (_, traffic) in enumerate(PAIRS[:4]):
        question, sql = spider(traffic)
        correct(
            template=template,
            client=client_user,
            senior=senior,
            question=question,
            sql=sql,
            user_id="leaver" if index < 2 else "stayer",
        )
    end = timezone.now()
    before, _ = collect.build_dataset(
        template=template, window_start=None, window_end=end, acting_user=None
    )
    assert before.manifest["counts"]["rows"] == 4
    assert before.manifest["feedback"]["interactions"] == 4
    privacy.file_privacy_request(
        kind="revocation", user_id="leaver", acting_user=officer
    )
    # The training export of the snapshot built before the revocation.
    manifest = export_training_data(
        dataset=before,
        usable=before.rows,
        production=production.prompt_version,
        directory=tmp_path,
    )
    assert (manifest["rows"], manifest["left_out_consent_withdrawn"]) == (2, 2)
    assert spider(PAIRS[0][1])[0] not in (tmp_path / "train.jsonl").read_text()
    # The same window built again is a new snapshot without them.
    after, created = collect.build_dataset(
        template=template, window_start=None, window_end=end, acting_user=None
    )
    assert created and after.content_hash != before.content_hash
    assert after.manifest["counts"]["rows"] == len(after.rows) == 2
    stats = after.manifest["feedback"]
    assert stats["interactions"] == 2
    assert stats["feedback_by_type"] == {"correction": 2}
    assert stats["interactions_with_negative_feedback"] == 2
    assert collect.approvals_after(template, end.replace(year=2000)) == 2
    assert GoldenExample.objects.filter(retired_at__isnull=False).count() == 2

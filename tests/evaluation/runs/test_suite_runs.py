"""Runs in suite mode: a coincidental match on the target is not counted."""

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from pytest_django.fixtures import Settings as SettingsWrapper

from evaluation.models import EvaluationRun, GoldenSetSnapshot, GoldResultCache
from evaluation.runs import chunks
from evaluation.runs.exceptions import RunError
from registry.models import ModelVersion, PromptTemplate, PromptVersion
from registry.services import create_prompt_version
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    ITEMS,
    TEMPLATE_TEXT,
    add_goldens,
    finished_run,
    snapshot_of,
    verdicts,
)

# "How many singers?" answered with the original row count, hard-coded.
COINCIDENTAL = "SELECT 6"


@pytest.fixture
def data_dir(settings: SettingsWrapper, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def snapshot(target_db: TargetDatabase) -> GoldenSetSnapshot:
    return snapshot_of(add_goldens(target_db))


@pytest.fixture
def lucky(template: PromptTemplate, ml_lead: User) -> PromptVersion:
    examples = [
        {"question": paraphrase, "sql": COINCIDENTAL if i == 0 else sql}
        for i, (_, paraphrase, sql, _) in enumerate(ITEMS)
    ]
    return create_prompt_version(
        template=template,
        template_text=TEMPLATE_TEXT,
        few_shot_examples=examples,
        parameters={"max_examples": 2},
        changelog="hard-codes the singer count",
        author=ml_lead,
    )


def test_suite_mode_flips_a_coincidental_match_that_spider_mode_accepts(
    data_dir: Path,
    lucky: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    spider = finished_run(lucky, model_v1, snapshot)
    suite = finished_run(lucky, model_v1, snapshot, mode="suite")
    assert (spider.mode, suite.mode) == ("spider", "suite")
    assert verdicts(spider) == dict.fromkeys(range(6), True)
    assert verdicts(suite) == {0: False, **dict.fromkeys(range(1, 6), True)}
    assert suite.status == EvaluationRun.Status.SUCCEEDED
    assert suite.summary["overall"]["execution_accuracy"] == pytest.approx(5 / 6)
    flipped = suite.results.get(execution_match=False)
    assert (flipped.predicted_sql, flipped.executed) == (COINCIDENTAL, True)
    assert flipped.error_kind == "suite_mismatch"
    assert flipped.error.startswith("neighbour ")
    folder = data_dir / "neighbours" / "concert_singer"
    assert sorted(p.name for p in folder.glob("*.sqlite")) == [
        f"{n}.sqlite" for n in range(1, 6)
    ]
    # Suite runs reuse the spider golden results on the original database.
    assert set(
        GoldResultCache.objects.filter(snapshot=snapshot).values_list("mode", flat=True)
    ) == {"spider"}


def test_an_engine_target_without_built_neighbours_cannot_open_its_suite(
    data_dir: Path,
) -> None:
    target = TargetDatabase(
        pk=1, name="warehouse", engine="postgresql", location="LOOPGATE_TARGET_X"
    )
    with pytest.raises(ValueError, match="build_neighbours warehouse"):
        chunks._neighbour_suite(target, {})


def test_an_unknown_mode_is_refused(
    lucky: PromptVersion, model_v1: ModelVersion, snapshot: GoldenSetSnapshot
) -> None:
    with pytest.raises(RunError) as caught:
        finished_run(lucky, model_v1, snapshot, mode="suites")
    assert caught.value.field == "mode"  # type: ignore[attr-defined]


def test_a_suite_run_on_another_engine_is_refused_before_it_starts(
    data_dir: Path,
    lucky: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    target_db: TargetDatabase,
) -> None:
    TargetDatabase.objects.filter(pk=target_db.pk).update(engine="duckdb")
    with pytest.raises(RunError, match="no neighbour databases") as caught:
        finished_run(lucky, model_v1, snapshot, mode="suite")
    assert caught.value.field == "mode"  # type: ignore[attr-defined]
    assert not EvaluationRun.objects.filter(mode="suite").exists()

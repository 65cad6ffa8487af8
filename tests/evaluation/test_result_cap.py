"""A result over the byte cap is a recorded "result too large" verdict on every
evaluation path, never a crash; a manual golden must be complete."""

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from evaluation.exceptions import GoldenSetError
from evaluation.models import GoldenExample
from evaluation.prediction_files import GOLD_TOO_LARGE, Limits, score_prediction_file
from evaluation.scoring import prepare_gold, score_item
from evaluation.services import add_manual_golden_example
from targets.execution import sandbox_for_target
from targets.models import TargetDatabase

pytestmark = pytest.mark.django_db
DB_DIR = Path(__file__).resolve().parents[2] / "data" / "spider" / "database"
# 36 rows of 50 kB: 1.8 MB, over the 500 kB cap these tests set.
LARGE = "SELECT zeroblob(50000) FROM singer a, singer b"
SMALL = "SELECT count(*) FROM singer"


@pytest.fixture(autouse=True)
def small_caps(settings: Any) -> None:
    settings.SANDBOX_MAX_RESULT_BYTES = 500_000
    settings.SANDBOX_MAX_ROWS = 20


def test_manual_golden_over_the_byte_cap_is_refused(
    target_db: TargetDatabase, ml_lead: User
) -> None:

    with pytest.raises(GoldenSetError, match="result too large") as caught:
        add_manual_golden_example(
            target_database=target_db, question="Blobs?", sql=LARGE, acting_user=ml_lead
        )
    assert caught.value.field == "sql"
    assert not GoldenExample.objects.exists()


def test_manual_golden_truncated_by_the_row_cap_is_refused(
    target_db: TargetDatabase, ml_lead: User
) -> None:

    with pytest.raises(GoldenSetError, match="more than 20 rows") as caught:
        add_manual_golden_example(
            target_database=target_db,
            question="Every pair of singers?",
            sql="SELECT a.Singer_ID, b.Singer_ID FROM singer a, singer b",
            acting_user=ml_lead,
        )
    assert caught.value.field == "sql"
    assert not GoldenExample.objects.exists()


def test_manual_golden_via_the_api_answers_400_naming_sql(
    target_db: TargetDatabase, client_as, ml_lead: User
) -> None:
    response = client_as(ml_lead).post(
        "/api/v1/evaluation/golden-examples/",
        {"target_database": target_db.name, "question": "Blobs?", "sql": LARGE},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "too large" in str(response.json())
    assert "sql" in str(response.json())
    assert not GoldenExample.objects.exists()


def test_prediction_over_the_cap_is_scored_as_result_too_large(
    target_db: TargetDatabase,
) -> None:
    sandbox = sandbox_for_target(target_db)
    gold = prepare_gold(SMALL, sandbox)
    score = score_item(LARGE, gold, sandbox)
    assert not score.executed
    assert not score.execution_match
    assert score.error_kind == "ResultTooLarge"
    assert "result too large" in score.error


def test_score_predictions_reports_too_large_gold_and_prediction(
    tmp_path: Path,
) -> None:
    gold = tmp_path / "gold.sql"
    preds = tmp_path / "preds.sql"
    gold.write_text(f"{SMALL}\tconcert_singer\n{LARGE}\tconcert_singer\n")
    preds.write_text(f"{LARGE}\n{SMALL}\n")
    # The command passes the SANDBOX_* settings; the library takes them as given.
    limits = Limits(max_rows=20, max_bytes=500_000)
    report = score_prediction_file(
        gold_path=gold, pred_path=preds, db_dir=DB_DIR, limits=limits
    )
    first, second = report.items
    assert first.score is not None
    assert first.score.error_kind == "ResultTooLarge"
    assert second.score is None
    assert second.not_runnable == GOLD_TOO_LARGE

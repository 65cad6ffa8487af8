"""The wide export: command, daily task, manifest, consent; and the importer."""

import csv
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from config.celery import app as celery_app
from feedback.export import COLUMNS, SCHEMA_VERSION, export_window, previous_day
from feedback.models import Feedback, Interaction
from feedback.tasks import export_daily

pytestmark = pytest.mark.django_db
Build = Callable[..., dict[str, Any]]


@pytest.fixture
def window(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> dict[str, datetime]:
    now = timezone.now()
    kept = interaction_event(occurred_at=(now - timedelta(hours=2)).isoformat())
    ingest(
        kept,
        interaction_event(consent_scope="service_only"),
        interaction_event(occurred_at=(now - timedelta(days=3)).isoformat()),
        feedback_event(kept["event_id"], type="thumbs_down", comment="off by one"),
        feedback_event(kept["event_id"], type="correction", corrected_sql="SELECT 2"),
        feedback_event(kept["event_id"], type="copied"),
        feedback_event(kept["event_id"], type="time_to_first_action", value=900),
        feedback_event(
            kept["event_id"], type="outcome_metric", metric_name="rows", value=4
        ),
    )
    return {"start": now - timedelta(days=1), "end": now + timedelta(minutes=1)}


def test_export_writes_csv_jsonl_and_a_manifest(
    window: dict[str, datetime], tmp_path: Path
) -> None:
    manifest = export_window(**window, directory=tmp_path)
    folder = Path(manifest["path"])
    assert manifest["row_count"] == 1
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["window"]["start"] == window["start"].isoformat()
    jsonl = (folder / "interactions.jsonl").read_bytes()
    assert manifest["content_hash"] == hashlib.sha256(jsonl).hexdigest()
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["row_count"] == 1
    table = (folder / "interactions.csv").read_bytes()
    assert on_disk["files"]["interactions.csv"] == hashlib.sha256(table).hexdigest()
    [row] = [json.loads(line) for line in jsonl.splitlines()]
    assert list(row) == sorted(COLUMNS)
    assert (row["n_thumbs_down"], row["n_correction"], row["n_copied"]) == (1, 1, 1)
    assert row["comments"] == ["off by one"]
    assert row["latest_correction"] == "SELECT 2"
    assert row["time_to_first_action_ms"] == 900
    assert row["outcome_metrics"] == {"rows": 4}
    assert row["consent_scope"] == "improvement"
    [csv_row] = list(csv.DictReader(table.decode().splitlines()))
    assert list(csv_row) == list(COLUMNS)
    assert csv_row["event_id"] == row["event_id"]
    assert json.loads(csv_row["outcome_metrics"]) == {"rows": 4}
    assert not list(folder.glob("*.tmp"))


def test_export_rerun_is_identical(window: dict[str, datetime], tmp_path: Path):
    first = export_window(**window, directory=tmp_path)
    second = export_window(**window, directory=tmp_path)
    assert first == second


def test_export_never_includes_service_only_interactions(
    window: dict[str, datetime], tmp_path: Path
) -> None:
    manifest = export_window(
        start=window["start"] - timedelta(days=10),
        end=window["end"],
        directory=tmp_path,
    )
    assert Interaction.objects.count() == 3
    assert manifest["row_count"] == 2
    assert manifest["excluded_consent_scopes"] == ["service_only"]


def test_export_command_takes_a_window(
    window: dict[str, datetime], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    call_command(
        "export_feedback",
        "--start",
        window["start"].isoformat(),
        "--end",
        window["end"].isoformat(),
        "--out",
        str(tmp_path),
    )
    assert json.loads(capsys.readouterr().out)["row_count"] == 1
    with pytest.raises(CommandError):
        call_command("export_feedback", "--start", "2025-01-02")
    with pytest.raises(CommandError):
        call_command("export_feedback", "--start", "x", "--end", "2025-01-02")
    with pytest.raises(CommandError):
        call_command("export_feedback", "--start", "2025-01-02", "--end", "2025-01-01")


def test_daily_task_exports_yesterday_under_the_data_folder(
    settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path
    export_daily()
    day = previous_day()
    name = f"{day['start']:%Y%m%dT%H%M%SZ}_{day['end']:%Y%m%dT%H%M%SZ}"
    manifest = json.loads((tmp_path / "exports" / name / "manifest.json").read_text())
    assert manifest["row_count"] == 0


def test_previous_day_is_the_utc_day_before() -> None:
    day = previous_day(datetime(2025, 3, 10, 1, 30, tzinfo=UTC))
    assert day == {
        "start": datetime(2025, 3, 9, tzinfo=UTC),
        "end": datetime(2025, 3, 10, tzinfo=UTC),
    }


def test_beat_runs_the_export_daily() -> None:
    entry = celery_app.conf.beat_schedule["feedback-export-daily"]
    assert entry["task"] == export_daily.name


def test_import_command_ingests_jsonl_idempotently(
    interaction_event: Build,
    feedback_event: Build,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    production: Any,
) -> None:
    event = interaction_event(question="Call me at +1 415 555 0132 about singers")
    lines = [
        json.dumps(event),
        "{not json: jane@example.com",
        json.dumps(feedback_event(event["event_id"], type="copied")),
        json.dumps(interaction_event(outcome="nope")),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    call_command("import_feedback", str(path))
    out = capsys.readouterr()
    assert "created: 2" in out.out
    assert "invalid: 2" in out.out
    assert "jane@example.com" not in out.err
    assert Interaction.objects.get().question == "Call me at [PHONE] about singers"
    assert Interaction.objects.get().channel == "import"
    call_command("import_feedback", str(path))
    assert "duplicate: 2" in capsys.readouterr().out
    assert Feedback.objects.count() == 1

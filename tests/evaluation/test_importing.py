"""Golden-set imports (Spider and JSON Lines) and the staleness selectors."""

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from audit.models import AuditEvent
from evaluation.importing import (
    MISSING_FILE,
    NOT_IN_TABLES,
    UNKNOWN_DATABASE,
    ImportFileError,
    import_golden_examples,
    read_jsonl_items,
    read_spider_items,
    spider_table_ids,
)
from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
)
from evaluation.selectors import (
    golden_set_counts,
    list_golden_examples,
    stale_golden_examples,
)
from evaluation.services import add_golden_example, retire_golden_example
from evaluation.spider import hardness, load_examples
from targets.models import TargetDatabase

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parents[2] / "data" / "spider"
DB_DIR = DATA / "database"


def spider_import(**options: object) -> object:
    items = read_spider_items(questions=DATA / "dev.json", gold=None)
    return import_golden_examples(
        items=items,
        db_dir=options.pop("db_dir", DB_DIR),  # type: ignore[arg-type]
        acting_user=None,
        known_databases=spider_table_ids(DATA / "tables.json"),
        **options,  # type: ignore[arg-type]
    )


def test_spider_import_registers_targets_and_tags_segments() -> None:
    report = spider_import(databases={"concert_singer", "pets_1"}, limit_per_db=3)
    assert report.targets_created == ["concert_singer", "pets_1"]
    assert (report.created, report.reused, report.skipped_total) == (6, 0, 0)
    target = TargetDatabase.objects.get(name="pets_1")
    assert target.location == "spider/database/pets_1/pets_1.sqlite"
    assert set(target.schema) == {"Pets", "Student", "Has_Pet"}
    dev = load_examples(DATA / "dev.json")
    first_pets = next(i for i, e in enumerate(dev) if e.db_id == "pets_1")
    example = GoldenExample.objects.get(external_id=f"spider-dev:{first_pets}")
    assert example.question == dev[first_pets].question
    assert example.sql == dev[first_pets].query
    assert (example.domain, example.source) == ("pets_1", "import")
    assert example.difficulty == hardness(dev[first_pets].query)
    assert example.tags == ["spider", "spider-dev"]
    assert (
        AuditEvent.objects.filter(event_type="evaluation.golden_example.added").count()
        == 6
    )


def test_rerun_and_gold_file_reuse_the_same_examples() -> None:
    spider_import(databases={"concert_singer"}, limit_per_db=4)
    again = spider_import(databases={"concert_singer"}, limit_per_db=5)
    assert (again.created, again.reused) == (1, 4)
    assert again.targets_reused == ["concert_singer"]
    gold_items = read_spider_items(questions=None, gold=DATA / "dev_gold.sql")
    from_gold = import_golden_examples(
        items=gold_items,
        db_dir=DB_DIR,
        acting_user=None,
        known_databases={"concert_singer"},
        databases={"concert_singer"},
        limit_per_db=5,
    )
    assert (from_gold.created, from_gold.reused) == (0, 5)
    assert GoldenExample.objects.count() == 5
    assert "no-question" not in GoldenExample.objects.first().tags  # type: ignore[union-attr]


def test_gold_file_items_get_a_placeholder_question_and_tag() -> None:
    items = read_spider_items(questions=None, gold=DATA / "dev_gold.sql")
    assert len(items) == 1034
    assert items[0].external_id == "spider-dev:0"
    assert "no question" in items[0].question
    assert "no-question" in items[0].tags


def test_items_of_a_missing_database_file_are_skipped_and_counted() -> None:
    report = spider_import(databases={"wta_1", "singer"}, limit_per_db=2)
    assert report.skipped == {MISSING_FILE: {"wta_1": 2}}
    assert report.created == 2
    assert not TargetDatabase.objects.filter(name="wta_1").exists()


def test_whole_dev_set_imports_the_972_runnable_items() -> None:
    report = spider_import(snapshot_name="dev")
    assert (report.created, report.skipped_total) == (972, 62)
    assert report.skipped == {MISSING_FILE: {"wta_1": 62}}
    assert report.snapshot is not None
    assert report.snapshot.example_count == 972
    counts = {
        level: GoldenExample.objects.filter(difficulty=level).count()
        for level in ("easy", "medium", "hard", "extra")
    }
    # The official evaluator's dev counts minus the 62 wta_1 items.
    assert counts == {"easy": 232, "medium": 416, "hard": 160, "extra": 164}


def test_databases_not_in_tables_json_are_skipped() -> None:
    items = read_spider_items(questions=DATA / "dev.json", gold=None)
    report = import_golden_examples(
        items=items,
        db_dir=DB_DIR,
        acting_user=None,
        known_databases={"singer"},
        databases={"singer", "pets_1"},
        limit_per_db=1,
    )
    assert report.skipped == {NOT_IN_TABLES: {"pets_1": 1}}
    assert report.created == 1


def test_a_database_outside_the_root_is_registered_by_absolute_path(
    tmp_path: Path,
) -> None:
    (tmp_path / "singer").mkdir()
    shutil.copy(DB_DIR / "singer" / "singer.sqlite", tmp_path / "singer")
    report = spider_import(db_dir=tmp_path, databases={"singer"}, limit_per_db=1)
    assert report.targets_created == ["singer"]
    location = TargetDatabase.objects.get(name="singer").location
    assert location == str((tmp_path / "singer" / "singer.sqlite").resolve())


def test_a_name_registered_elsewhere_stops_the_import_and_stores_nothing(
    tmp_path: Path,
) -> None:
    spider_import(databases={"singer"}, limit_per_db=1)
    (tmp_path / "singer").mkdir()
    shutil.copy(DB_DIR / "singer" / "singer.sqlite", tmp_path / "singer")
    before = (GoldenExample.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ImportFileError) as excinfo:
        spider_import(db_dir=tmp_path, databases={"singer"}, limit_per_db=3)
    assert excinfo.value.field == "db_dir"
    assert (GoldenExample.objects.count(), AuditEvent.objects.count()) == before


def test_naming_a_database_without_items_is_refused() -> None:
    with pytest.raises(ImportFileError) as excinfo:
        spider_import(databases={"singer", "nope"})
    assert excinfo.value.field == "databases"
    assert not GoldenExample.objects.exists()


def test_import_snapshot_is_reused_and_leaves_retired_examples_out() -> None:
    first = spider_import(databases={"poker_player"}, limit_per_db=3, snapshot_name="s")
    assert first.snapshot_created
    again = spider_import(databases={"poker_player"}, limit_per_db=3, snapshot_name="t")
    assert not again.snapshot_created
    assert again.snapshot == first.snapshot
    retire_golden_example(
        example=GoldenExample.objects.first(),  # type: ignore[arg-type]
        reason="wrong",
        acting_user=None,
    )
    third = spider_import(databases={"poker_player"}, limit_per_db=3, snapshot_name="u")
    assert third.left_out_retired == 1
    assert third.snapshot is not None
    assert third.snapshot.example_count == 2
    assert GoldenSetSnapshot.objects.count() == 2


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_jsonl_import_uses_registered_targets_and_stable_ids(
    tmp_path: Path, target_db: TargetDatabase, ml_lead: User
) -> None:
    rows = [
        {"question": "How many singers?", "sql": "SELECT count(*) FROM singer",
         "db": "concert_singer", "domain": "music", "tags": ["team-a"]},
        {"question": "Oldest singer?", "db": "concert_singer", "id": "q2",
         "sql": "SELECT name FROM singer ORDER BY age DESC LIMIT 1",
         "difficulty": "hard"},
        {"question": "Pets?", "sql": "SELECT count(*) FROM pets", "db": "pets_1"},
        {"question": "Nope?", "sql": "SELECT 1", "db": "unknown_db"},
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "team.jsonl", rows)
    report = import_golden_examples(
        items=read_jsonl_items(path),
        db_dir=DB_DIR,
        acting_user=ml_lead,
        owner=ml_lead,
    )
    assert (report.created, report.reused) == (3, 0)
    assert report.targets_reused == ["concert_singer"]
    assert report.targets_created == ["pets_1"]
    assert report.skipped == {UNKNOWN_DATABASE: {"unknown_db": 1}}
    first = GoldenExample.objects.get(question="How many singers?")
    assert (first.domain, first.tags, first.owner) == ("music", ["team-a"], ml_lead)
    assert first.difficulty == "easy"  # derived: no difficulty in the line
    assert first.external_id.startswith("jsonl-team:sha-")
    second = GoldenExample.objects.get(external_id="jsonl-team:q2")
    assert second.difficulty == "hard"
    reordered = write_jsonl(tmp_path / "team.jsonl", list(reversed(rows)))
    again = import_golden_examples(
        items=read_jsonl_items(reordered), db_dir=DB_DIR, acting_user=None
    )
    assert (again.created, again.reused) == (0, 3)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2"),
        ('["a list"]', "JSON object"),
        ('{"question": "q", "sql": "SELECT 1"}', "'db'"),
        ('{"question": "", "sql": "SELECT 1", "db": "x"}', "'question'"),
        ('{"question": "q", "sql": "SELECT 1", "db": "../x"}', "'db'"),
        ('{"question": "q", "sql": "SELECT 1", "db": "x", "dificulty": "easy"}',
         "unknown keys"),
        ('{"question": "q", "sql": "SELECT 1", "db": "x", "difficulty": "trivial"}',
         "'difficulty'"),
        ('{"question": "q", "sql": "SELECT 1", "db": "x", "tags": "a"}', "'tags'"),
    ],
)  # fmt: skip
def test_bad_jsonl_line_is_named_and_nothing_is_read(
    tmp_path: Path, line: str, message: str
) -> None:
    good = json.dumps({"question": "q", "sql": "SELECT 1", "db": "x"})
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as excinfo:
        read_jsonl_items(path)
    assert "line 2" in excinfo.value.message
    assert message in excinfo.value.message


def test_missing_input_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError):
        read_spider_items(questions=tmp_path / "nope.json", gold=None)
    with pytest.raises(ImportFileError):
        read_spider_items(questions=DATA / "dev.json", gold=DATA / "dev_gold.sql")
    with pytest.raises(ImportFileError):
        read_jsonl_items(tmp_path / "nope.jsonl")
    with pytest.raises(ImportFileError):
        spider_table_ids(tmp_path / "tables.json")


# --- staleness ----------------------------------------------------------------


def _age(example: GoldenExample, days: int) -> None:
    # created_at is auto_now_add: backdating is only possible with an update.
    GoldenExample.objects.filter(pk=example.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )


def _golden(target: TargetDatabase, n: int) -> GoldenExample:
    return add_golden_example(
        target_database=target,
        question=f"q{n}?",
        sql=f"SELECT {n}",
        source="manual",
        acting_user=None,
    )


def test_only_old_active_examples_are_stale(
    target_db: TargetDatabase, settings: object
) -> None:
    settings.GOLDEN_STALE_DAYS = 30  # type: ignore[attr-defined]
    fresh, old, old_retired, borderline = (_golden(target_db, n) for n in range(4))
    _age(old, 31)
    _age(old_retired, 400)
    _age(borderline, 29)
    retire_golden_example(example=old_retired, reason="gone", acting_user=None)
    assert list(stale_golden_examples()) == [old]
    flags = {e.pk: e.is_stale for e in list_golden_examples()}
    assert flags == {fresh.pk: False, old.pk: True, old_retired.pk: False,
                     borderline.pk: False}  # fmt: skip
    assert [e.pk for e in list_golden_examples(stale=False, retired=False)] == [
        fresh.pk,
        borderline.pk,
    ]
    counts = golden_set_counts()
    assert (counts.active, counts.retired, counts.stale) == (3, 1, 1)
    assert counts.stale_days == 30
    later = timezone.now() + timedelta(days=2)
    assert set(stale_golden_examples(now=later)) == {old, borderline}

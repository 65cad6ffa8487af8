"""`manage.py evaluate`: a progress bar, then the summary per segment."""

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from evaluation.models import EvaluationRun, GoldenExample
from evaluation.runs.management.commands.evaluate import Command as EvaluateCommand
from evaluation.services import add_golden_example, create_snapshot
from registry.models import Label, PromptTemplate
from targets.models import TargetDatabase
from targets.services import register_target_database
from tests.evaluation.runs.run_fixtures import add_goldens, snapshot_of


def test_evaluate_shows_progress_and_prints_the_summary(
    production: Label, target_db: TargetDatabase
) -> None:
    snapshot = snapshot_of(add_goldens(target_db))
    out, err = StringIO(), StringIO()
    call_command(
        "evaluate",
        "--template=concerts",
        "--label=production",
        f"--snapshot={snapshot.pk}",
        "--chunk-size=2",
        "--inline",
        stdout=out,
        stderr=err,
    )
    run = EvaluationRun.objects.get()
    assert run.status == EvaluationRun.Status.SUCCEEDED and run.chunks.count() == 3
    assert "6/6" in err.getvalue() and f"Run {run.pk}:" in err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0] == f"Run {run.pk} succeeded: 6/6 items, 0 could not be scored."
    overall = next(line for line in lines if line.startswith("overall"))
    # prompt_v1 knows one counting question: 1 of 6 items right.
    assert overall.split()[1:] == ["6", "16.7%", "100.0%", "16.7%", "100.0%"]
    assert any(line.startswith("difficulty:medium") for line in lines)


def test_evaluate_latest_snapshot_by_pair_ids(
    production: Label, target_db: TargetDatabase
) -> None:
    snapshot_of(add_goldens(target_db))
    out = StringIO()
    call_command(
        "evaluate",
        f"--prompt-version={production.prompt_version_id}",
        f"--model-version={production.model_version_id}",
        "--inline",
        stdout=out,
        stderr=StringIO(),
    )
    assert "succeeded: 6/6" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--template=concerts", "--label=challenger"], "no challenger label"),
        (["--prompt-version=999", "--model-version=999"], "No such prompt"),
        ([], "Name the pair"),
        (["--template=concerts", "--label=production", "--snapshot=x"], "snapshot id"),
        (
            ["--template=concerts", "--label=production", "--snapshot=999"],
            "No snapshot",
        ),
    ],
)
def test_evaluate_refuses_unclear_requests(
    production: Label,
    template: PromptTemplate,
    ml_lead: User,
    args: list[str],
    message: str,
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command(
            "evaluate", *args, "--inline", stdout=StringIO(), stderr=StringIO()
        )


def newer_snapshot_of_another_database() -> None:
    pets = register_target_database(
        name="pets_1",
        engine="sqlite",
        location="spider/database/pets_1/pets_1.sqlite",
        acting_user=None,
    )
    example = add_golden_example(
        target_database=pets,
        question="How many pets are there?",
        sql="SELECT count(*) FROM pets",
        source=GoldenExample.Source.IMPORT,
        acting_user=None,
    )
    create_snapshot(name="pets goldens", examples=[example], acting_user=None)


def test_latest_snapshot_is_the_templates_own_not_the_newest_of_all(
    production: Label, target_db: TargetDatabase
) -> None:
    own = snapshot_of(add_goldens(target_db))
    newer_snapshot_of_another_database()
    out = StringIO()
    call_command(
        "evaluate",
        "--template=concerts",
        "--label=production",
        "--inline",
        stdout=out,
        stderr=StringIO(),
    )
    run = EvaluationRun.objects.get()
    assert run.snapshot == own
    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert "succeeded: 6/6 items, 0 could not be scored" in out.getvalue()


def test_latest_snapshot_without_one_for_the_template_is_refused(
    production: Label,
) -> None:
    newer_snapshot_of_another_database()
    with pytest.raises(CommandError, match="No golden snapshot holds examples"):
        call_command(
            "evaluate",
            "--template=concerts",
            "--label=production",
            "--inline",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert not EvaluationRun.objects.exists()


class Terminal(StringIO):
    """A stream that says it is a terminal, so Django styles what it writes."""

    def isatty(self) -> bool:
        return True


def test_the_first_line_is_not_in_the_error_style(
    production: Label, target_db: TargetDatabase
) -> None:
    snapshot_of(add_goldens(target_db))
    err = Terminal()
    command: Any = EvaluateCommand(stdout=StringIO(), stderr=err, force_color=True)
    # This stream does show Django's error style for plain stderr writes.
    command.stderr.write("an error")
    assert "\x1b[" in err.getvalue()
    err.seek(0)
    err.truncate()
    call_command(command, "--template=concerts", "--label=production", "--inline")
    first = err.getvalue().splitlines()[0]
    run = EvaluationRun.objects.get()
    assert first.startswith(f"Run {run.pk}: ")
    assert "\x1b[" not in first

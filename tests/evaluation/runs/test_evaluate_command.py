"""`manage.py evaluate`: a progress bar, then the summary per segment."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from evaluation.models import EvaluationRun
from registry.models import Label, PromptTemplate
from targets.models import TargetDatabase
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

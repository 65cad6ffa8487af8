"""`manage.py run_cycle` as a newcomer uses it: readable progress, and options
given on a second run are honoured when the first run deferred."""

from collections.abc import Callable
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from tqdm import tqdm

from evaluation.models import GoldenSetSnapshot
from governance.cycle.management.commands.run_cycle import STEP_FORMAT, progress_to
from governance.cycle.models import RetrainingCycle
from governance.cycle.progress import Progress
from governance.models import DecisionLogEntry
from registry.models import Label
from targets.models import TargetDatabase
from tests.governance.cycle.helpers import PAIRS, correct_paraphrases, golden_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def client_user(make_user: Callable[..., User]) -> User:
    return make_user("bot", "analyst")


@pytest.fixture
def goldens(target_db: TargetDatabase, production: Label) -> GoldenSetSnapshot:
    return golden_snapshot(target_db, [golden for golden, _ in PAIRS])


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("run_cycle", "concerts", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_progress_names_each_step_and_counts_evaluated_items(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    correct_paraphrases(production.template, client_user, senior)
    _, err = run("--as", "lee")
    # A step has nothing to count: no "0item" or "?item/s" for it.
    assert "0item" not in err and "item/s" not in err
    for step in ("collect", "validate", "build"):
        assert f"{step} (" in err
    # The evaluate step counts the golden items of both runs.
    items = 2 * goldens.example_count
    assert f"evaluate: {items}/{items} items" in err


def test_the_final_item_count_shows_even_when_steps_follow_at_once() -> None:
    stream = StringIO()
    # A long redraw interval: tqdm would skip every update but forced ones.
    with tqdm(file=stream, bar_format=STEP_FORMAT, mininterval=3600) as bar:
        show = progress_to(bar)
        show(Progress(step="validate"))
        for done in range(5):
            show(Progress(step="evaluate", done=done, total=4))
        show(Progress(step="decide"))
    text = stream.getvalue()
    assert "evaluate: 4/4 items" in text
    assert text.rstrip().split("\r")[-1].startswith("decide (")
    assert "0item" not in text


def test_a_lower_min_examples_is_honoured_after_a_deferred_cycle(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    correct_paraphrases(production.template, client_user, senior, PAIRS[:3])
    out, _ = run("--as", "lee")
    first = RetrainingCycle.objects.get()
    assert first.decision is not None and first.decision.decision == "defer"
    assert "fewer than the 5" in first.decision.rationale

    out, _ = run("--as", "lee", "--min-examples", "3")
    second = RetrainingCycle.objects.exclude(pk=first.pk).get()
    assert second.options["min_examples"] == 3
    assert second.dataset_id != first.dataset_id
    assert second.dataset is not None and first.dataset is not None
    assert second.dataset.rows == first.dataset.rows
    assert second.decision is not None
    assert "fewer than the" not in second.decision.rationale
    assert second.decision.decision == "retrain"
    assert "deferred under other options" in out

    # The same options again reuse the new cycle; the first decision stands.
    out, _ = run("--as", "lee", "--min-examples", "3")
    assert RetrainingCycle.objects.count() == 2
    assert DecisionLogEntry.objects.filter(kind="decision").count() == 2
    assert f"cycle #{second.pk} (completed)" in out


def test_a_deferred_cycle_run_again_with_its_own_options_is_reused(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    correct_paraphrases(production.template, client_user, senior, PAIRS[:3])
    run("--as", "lee")
    out, _ = run("--as", "lee")
    assert RetrainingCycle.objects.count() == 1
    assert "nothing was approved after its window ended" in out

"""The retraining cycle's Django-free rules: contamination, drift, few-shot
selection and decisions, on engineered inputs."""

import pytest

from evaluation.error_trends import summarize_trend
from governance.cycle.contamination import (
    NEAR_DUPLICATE_THRESHOLD,
    Candidate,
    Golden,
    check_candidates,
    contamination_counts,
    jaccard,
    question_tokens,
    total_variation,
)
from governance.cycle.rules import (
    APPROVED,
    PRODUCTION,
    ChangelogFacts,
    CycleFacts,
    FineTuningThresholds,
    ShotCandidate,
    changelog,
    decide,
    fine_tuning_advice,
    select_few_shot,
)

COUNT = "select count(*) from singer"
GOLDENS = [
    Golden(1, "How many singers do we have?", COUNT),
    Golden(
        2,
        "What is the name of the oldest singer?",
        "select name from singer order by age desc limit 1",
        source_interaction_id="0b7a",
        source_feedback_id="f00d",
    ),
]


def verdict_of(candidate: Candidate):
    return check_candidates([candidate], GOLDENS)[0]


def test_a_golden_example_itself_is_excluded_by_provenance() -> None:
    verdict = verdict_of(Candidate("r:1", "Totally different words", "x", 1))
    assert (verdict.reason, verdict.golden_id) == ("provenance", 1)


def test_a_correction_from_the_interaction_a_golden_came_from_is_excluded() -> None:
    by_interaction = verdict_of(
        Candidate("r:2", "unrelated", "x", interaction_id="0b7a")
    )
    by_feedback = verdict_of(Candidate("r:3", "unrelated", "x", feedback_id="f00d"))
    assert by_interaction.reason == by_feedback.reason == "provenance"
    assert by_interaction.golden_id == 2


def test_the_same_question_after_normalization_is_excluded() -> None:
    verdict = verdict_of(Candidate("r:4", "  how MANY singers do we have ", "y"))
    assert (verdict.reason, verdict.golden_id) == ("normalized_question", 1)


def test_a_near_duplicate_question_is_excluded_at_the_stated_threshold() -> None:
    near = "What is the name of the oldest singer there?"
    similarity = jaccard(
        question_tokens(near), question_tokens("What is the name of the oldest singer?")
    )
    assert similarity == pytest.approx(7 / 8) and similarity >= NEAR_DUPLICATE_THRESHOLD
    assert verdict_of(Candidate("r:5", near, "y")).reason == "near_duplicate"


def test_a_paraphrase_below_the_threshold_is_kept() -> None:
    paraphrase = "What is the total number of singers?"
    verdict = verdict_of(Candidate("r:6", paraphrase, "select count(*) from singer"))
    assert verdict.clean and verdict.similarity < NEAR_DUPLICATE_THRESHOLD
    # Same SQL as golden 1 under another question: allowed, and counted.
    assert verdict.shares_sql


def test_counts_separate_reasons_and_count_shared_sql_only_among_clean() -> None:
    verdicts = check_candidates(
        [
            Candidate("a", "What is the total number of singers?", COUNT),
            Candidate("b", "How many singers do we have?", COUNT),
            Candidate("c", "List every stadium", "select name from stadium"),
            Candidate("d", "anything", "q", golden_example_id=2),
        ],
        GOLDENS,
    )
    assert contamination_counts(verdicts) == {
        "checked": 4,
        "provenance": 1,
        "normalized_question": 1,
        "near_duplicate": 0,
        "excluded": 2,
        "clean": 2,
        "shared_sql": 1,
    }


def test_total_variation_is_zero_for_the_same_mix_and_one_for_disjoint() -> None:
    assert total_variation({"easy": 2, "hard": 2}, {"easy": 5, "hard": 5}) == 0.0
    assert total_variation({"easy": 3}, {"hard": 4}) == 1.0
    assert total_variation({"easy": 3, "hard": 1}, {"easy": 1, "hard": 3}) == 0.5
    assert total_variation({}, {"easy": 1}) == 0.0


def shots(origin: str, segments: str) -> list[ShotCandidate]:
    return [
        ShotCandidate(f"{origin} question {i}", f"SELECT {i}", segment, origin, i)
        for i, segment in enumerate(segments.split())
    ]


def test_selection_respects_the_per_segment_and_total_bounds() -> None:
    pool = shots(APPROVED, "easy easy easy easy medium medium hard")
    selection = select_few_shot(pool, max_per_segment=2, max_total=5)
    assert len(selection.examples) == 5
    assert selection.per_segment == {"easy": 2, "hard": 1, "medium": 2}
    assert selection.over_bound == 2


def test_when_the_total_bites_segments_take_turns() -> None:
    pool = shots(APPROVED, "easy easy easy medium medium hard")
    selection = select_few_shot(pool, max_per_segment=10, max_total=3)
    assert selection.per_segment == {"easy": 1, "hard": 1, "medium": 1}


def test_approved_corrections_come_before_production_examples() -> None:
    pool = shots(PRODUCTION, "easy easy") + shots(APPROVED, "easy")
    selection = select_few_shot(pool, max_per_segment=2, max_total=10)
    origins = [c.origin for c in selection.examples]
    # The newest approval and the first production example survive; production's
    # examples stay first in the prompt, in their order.
    assert origins == [PRODUCTION, APPROVED]
    assert selection.examples[0].question == "production question 0"


def test_a_question_asked_twice_is_kept_once() -> None:
    pool = [
        ShotCandidate("How many pets?", "SELECT count(*) FROM pets", "e", APPROVED, 0),
        ShotCandidate("how many pets", "SELECT 2", "e", PRODUCTION, 0),
    ]
    selection = select_few_shot(pool, max_per_segment=5, max_total=5)
    assert [c.sql for c in selection.examples] == ["SELECT count(*) FROM pets"]
    assert selection.duplicates == 1


def test_selection_is_deterministic_whatever_the_input_order() -> None:
    pool = shots(APPROVED, "hard easy medium easy") + shots(PRODUCTION, "easy")
    first = select_few_shot(pool, max_per_segment=2, max_total=4)
    second = select_few_shot(list(reversed(pool)), max_per_segment=2, max_total=4)
    assert first.examples == second.examples


READY = CycleFacts(usable_examples=10, min_examples=5)
EVALUATED = CycleFacts(
    usable_examples=10,
    runs_succeeded=True,
    champion_accuracy=0.4,
    challenger_accuracy=0.6,
)


def evaluated(champion: float, challenger: float, **extra: object) -> CycleFacts:
    return CycleFacts(
        usable_examples=9,
        runs_succeeded=True,
        champion_accuracy=champion,
        challenger_accuracy=challenger,
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("facts", "decision", "phrase"),
    [
        (CycleFacts(breaker_halted=True, usable_examples=10), "defer", "breaker"),
        (
            CycleFacts(has_golden_snapshot=False, usable_examples=9),
            "investigate",
            "snapshot",
        ),
        (
            CycleFacts(blocking_findings=("shifted",), usable_examples=9),
            "investigate",
            "shifted",
        ),
        (CycleFacts(usable_examples=4, min_examples=5), "defer", "fewer than the 5"),
        (CycleFacts(usable_examples=9, challenger_identical=True), "defer", "equals"),
        (
            CycleFacts(usable_examples=9, runs_succeeded=False),
            "investigate",
            "did not succeed",
        ),
        (evaluated(0.5, 0.1, breaker_tripped=True), "halt", "margin"),
        (evaluated(0.5, 0.5), "defer", "does not beat"),
        (
            evaluated(0.4, 0.6, regressed_segments=("difficulty:easy",)),
            "investigate",
            "difficulty:easy",
        ),
        (evaluated(0.4, 0.6, pending_request=7), "defer", "#7 is pending"),
        (EVALUATED, "retrain", "40.0% → 60.0%"),
    ],
)
def test_each_decision_follows_from_its_facts(
    facts: CycleFacts, decision: str, phrase: str
) -> None:
    ruling = decide(facts)
    assert ruling is not None
    assert ruling.decision == decision and phrase in ruling.reason


def test_without_evaluation_facts_a_ready_cycle_is_not_decided_yet() -> None:
    assert decide(READY) is None


def test_the_changelog_says_what_changed_and_why() -> None:
    selection = select_few_shot(
        shots(APPROVED, "easy medium"), max_per_segment=4, max_total=8
    )
    text = changelog(
        ChangelogFacts(
            cycle=3,
            dataset=9,
            dataset_hash="abcdef0123456789",
            window="start to 2025-01-01",
            production_version=1,
            selection=selection,
            added=2,
            removed=1,
            kept=0,
            contamination={"excluded": 1, "near_duplicate": 1, "shared_sql": 4},
            invalid=0,
            bounds={"max_per_segment": 4, "max_total": 8},
        )
    )
    assert "Retraining cycle #3" in text and "dataset snapshot #9 (abcdef012345" in text
    assert "Added 2, removed 1, kept 0" in text
    assert "easy 1, medium 1" in text
    assert "near-duplicate 1" in text and "another question: 4" in text
    assert text.splitlines()[-1].startswith("Why: ")


def _trend(volumes: dict[str, list[int]], totals: list[int]) -> dict[str, object]:
    periods = [
        {name: counts[i] for name, counts in volumes.items()}
        for i in range(len(totals))
    ]
    return {
        "classifier_versions": {"sql-errors/1": 1},
        **summarize_trend(periods, totals),
    }


def test_stable_high_volume_classes_justify_a_fine_tuning_export() -> None:
    trend = _trend({"wrong_filter": [30, 32, 29, 31], "other": [5, 0, 9, 1]}, [60] * 4)
    advice = fine_tuning_advice(trend, FineTuningThresholds())
    assert advice["recommendation"] == "fine_tuning_export"
    assert advice["stable_high_volume"] == ["wrong_filter"]
    assert advice["statement"].startswith("Error classes wrong_filter are stable")


@pytest.mark.parametrize(
    ("volumes", "totals", "reason"),
    [
        ({"wrong_filter": [10, 10, 10, 10]}, [20] * 4, "fewer than 200"),
        (
            {"wrong_filter": [60, 0, 60, 0], "distinct": [0, 60, 0, 60]},
            [60] * 4,
            "no error class",
        ),
        (
            {"wrong_filter": [60, 60, 30, 10], "distinct": [0, 0, 30, 50]},
            [60] * 4,
            "drifted",
        ),
        ({"wrong_filter": [0, 0, 0, 300]}, [0, 0, 0, 300], "fewer than two periods"),
    ],
)
def test_small_unstable_or_drifting_classes_mean_a_prompt_refresh(
    volumes: dict[str, list[int]], totals: list[int], reason: str
) -> None:
    advice = fine_tuning_advice(_trend(volumes, totals), FineTuningThresholds())
    assert advice["recommendation"] == "prompt_refresh"
    assert reason in advice["statement"]


def test_a_change_of_classifier_rules_is_no_stable_trend() -> None:
    trend = _trend({"wrong_filter": [60, 60, 60, 60]}, [60] * 4)
    trend["classifier_versions"] = {"sql-errors/1": 100, "sql-errors/2": 140}
    advice = fine_tuning_advice(trend, FineTuningThresholds())
    assert "rules changed" in advice["statement"]

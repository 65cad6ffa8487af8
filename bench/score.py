"""Score the C3SQL predictions on the 972 runnable Spider dev items.

Prints, in one run:

- items/s in this process: a cold pass (golden results computed) with 1 and with
  N processes (`score_prediction_file`), and a warm pass (golden results reused,
  one process), with EX, EM and row-count sanity;
- whole-process wall times of ``manage.py score_predictions`` with ``--jobs 1``
  and the default (the cores), and, when the official evaluator is given
  (``--official DIR`` or ``OFFICIAL_EVAL_DIR``: a checkout of
  taoyds/test-suite-sql-eval, never copied here), of a harness that calls its
  ``exec_eval.eval_exec_match`` on the same items, with the ratio and a check
  that the EX verdicts are identical.

Rounds are interleaved and the best of each is kept, so that load from other
processes hits every contender alike. Run from the project root:
``.venv/bin/python -m bench.score [--official DIR] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.exact_match import prepare_schema  # noqa: E402
from evaluation.prediction_files import default_jobs, score_prediction_file  # noqa: E402
from evaluation.scoring import (  # noqa: E402
    SQLGLOT_VERSION,
    GoldResult,
    ItemScore,
    aggregate,
    prepare_gold,
    score_item,
)
from evaluation.spider import (  # noqa: E402
    database_path,
    hardness,
    load_tables,
    read_gold,
    read_predictions,
)
from targets.sandbox import close_all, sandbox_for  # noqa: E402

DATA = ROOT / "data"
GOLD = DATA / "spider" / "dev_gold.sql"
PREDS = DATA / "conformance" / "c3sql_predicted_sql.txt"
DB_DIR = DATA / "spider" / "database"
TABLES = DATA / "spider" / "tables.json"

# Runs in a subprocess with the official evaluator's folder on sys.path: reads the
# files as its evaluation.py does and prints one verdict per runnable item.
HARNESS = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from exec_eval import eval_exec_match
gold_path, pred_path, db_dir = sys.argv[2:5]
with open(gold_path) as f:
    gold = [line.strip().split("\\t") for line in f if line.strip()]
with open(pred_path) as f:
    preds = [line.strip().split("\\t")[0] for line in f if line.strip()]
verdicts = {}
for index, ((g, db), p) in enumerate(zip(gold, preds)):
    path = os.path.join(db_dir, db, db + ".sqlite")
    if os.path.isfile(path):
        verdicts[index] = eval_exec_match(
            db=path, p_str=p, g_str=g, plug_value=False, keep_distinct=False,
            progress_bar_for_each_datapoint=False,
        )
print(json.dumps(verdicts))
"""


def load_items() -> list[tuple[int, str, str, str]]:
    """(index, db_id, gold SQL, predicted SQL) for every item whose db is present."""
    gold = read_gold(GOLD)
    preds = read_predictions(PREDS)
    return [
        (i, g.db_id, g.query, p)
        for i, (g, p) in enumerate(zip(gold, preds, strict=True))
        if database_path(DB_DIR, g.db_id).is_file()
    ]


def run(
    items: list[tuple[int, str, str, str]], golds: dict[int, GoldResult] | None
) -> tuple[list[ItemScore], dict[int, GoldResult], float]:
    """Score all items in this process; compute golden results when None."""
    tables = load_tables(TABLES)
    schemas = {db: prepare_schema(t.sqlglot_schema()) for db, t in tables.items()}
    computed: dict[int, GoldResult] = {}
    scores: list[ItemScore] = []
    started = time.perf_counter()
    for index, db_id, gold_sql, pred_sql in items:
        sandbox = sandbox_for("sqlite", database_path(DB_DIR, db_id))
        schema = schemas[db_id]
        if golds is None:
            gold = prepare_gold(gold_sql, sandbox, schema=schema)
        else:
            gold = golds[index]
        computed[index] = gold
        scores.append(score_item(pred_sql, gold, sandbox, schema=schema))
    return scores, computed, time.perf_counter() - started


def cold_file_pass(jobs: int) -> float:
    """Seconds for `score_prediction_file` (everything computed) with ``jobs``."""
    started = time.perf_counter()
    score_prediction_file(
        gold_path=GOLD, pred_path=PREDS, db_dir=DB_DIR, tables_path=TABLES, jobs=jobs
    )
    return time.perf_counter() - started


def in_process(items: list[tuple[int, str, str, str]], warm_runs: int) -> None:
    """Print the in-process cold and warm figures and the quality figures."""
    jobs = default_jobs()
    print(f"sqlglot {SQLGLOT_VERSION}; items: {len(items)}; cores: {jobs}")
    # Several processes first: with no sandbox thread yet, workers are forked.
    for n in sorted({1, jobs}, reverse=True):
        cold = cold_file_pass(n)
        print(
            f"cold, jobs {n}: {cold:.2f} s, {len(items) / cold:.0f} items/s "
            "(score_prediction_file, golden results computed)"
        )
    scores, golds, _ = run(items, None)
    best = float("inf")
    for _ in range(warm_runs):
        warm_scores, _, warm = run(items, golds)
        best = min(best, warm)
        if [s.execution_match for s in warm_scores] != [
            s.execution_match for s in scores
        ]:
            raise SystemExit("warm EX verdicts differ from cold ones")
    print(
        f"warm, jobs 1: {best:.2f} s, {len(items) / best:.0f} items/s "
        "(golden results reused)"
    )
    close_all()
    segments = [
        (s, {"hardness": hardness(gold_sql), "db_id": db_id})
        for s, (_, db_id, gold_sql, _) in zip(scores, items, strict=True)
    ]
    summary = aggregate(segments)
    overall = summary["overall"]
    print(
        f"EX {overall['ex']:.3f}  EM {overall['em']:.3f}  executed "
        f"{overall['executed']:.3f}  row-count ok {overall['row_count_ok']:.3f}"
    )
    for level, figures in summary["segments"]["hardness"].items():
        print(
            f"  {level:<7} n={figures['count']:<4} EX {figures['ex']:.3f}"
            f"  EM {figures['em']:.3f}"
        )


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (with its worker processes) and the output."""
    cpu = _cpu_of_children()
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    return wall, _cpu_of_children() - cpu, done.stdout


def whole_process(official: Path | None, rounds: int) -> None:
    """Print best wall times of the command (jobs 1, default) and the official."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.setdefault("DEBUG", "true")
    out_csv = Path(tempfile.mkdtemp()) / "items.csv"
    command = [
        sys.executable, "manage.py", "score_predictions", str(GOLD), str(PREDS),
        "--db-dir", str(DB_DIR), "--tables", str(TABLES), "--csv", str(out_csv),
    ]  # fmt: skip
    contenders: dict[str, list[str]] = {
        "score_predictions --jobs 1": [*command, "--jobs", "1"],
        f"score_predictions (default: jobs {default_jobs()})": command,
    }
    if official is not None:
        contenders["official test-suite harness"] = [
            sys.executable, "-c", HARNESS, str(official), str(GOLD), str(PREDS),
            str(DB_DIR),
        ]  # fmt: skip
    best = dict.fromkeys(contenders, float("inf"))
    cpu = dict.fromkeys(contenders, float("inf"))
    outputs: dict[str, str] = {}
    for _ in range(rounds):
        for name, argv in contenders.items():
            seconds, used, outputs[name] = _timed(argv, env)
            best[name] = min(best[name], seconds)
            cpu[name] = min(cpu[name], used)
    print(f"whole process, best of {rounds} interleaved rounds:")
    for name, seconds in best.items():
        print(f"  {name:<40} wall {seconds:.2f} s  CPU {cpu[name]:.2f} s")
    if official is None:
        print("  (official harness skipped: pass --official DIR)")
        return
    reference = best["official test-suite harness"]
    for name in list(contenders)[:2]:
        print(f"  {name:<40} {best[name] / reference:.2f} x the official")
    verdicts = json.loads(outputs["official test-suite harness"].splitlines()[-1])
    with out_csv.open() as handle:
        ours = {
            row["index"]: int(row["execution_match"])
            for row in csv.DictReader(handle)
            if row["execution_match"] != ""
        }
    same = ours == {key: int(value) for key, value in verdicts.items()}
    print(
        f"EX verdicts identical to the official harness on all {len(ours)} "
        f"items: {same} ({sum(ours.values())} correct)"
    )


def main() -> None:
    """Run the in-process passes, then the whole-process comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--official",
        type=Path,
        default=os.environ.get("OFFICIAL_EVAL_DIR") or None,
        help="Folder of a taoyds/test-suite-sql-eval checkout (exec_eval.py).",
    )
    args = parser.parse_args()
    in_process(load_items(), args.warm_runs)
    whole_process(args.official, args.rounds)


if __name__ == "__main__":
    main()

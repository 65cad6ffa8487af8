"""A rollout stage's online gates: the candidate against production, same period.

Each gate asks one question, "is the candidate significantly worse?", with a
one-sided test at the policy's alpha divided by the number of gates
(Bonferroni, so checking four or more metrics does not multiply false
rollbacks):

- negative-feedback rate and execution success: two-proportion z test, or
  Fisher's exact test on small counts, with Wilson 95% intervals;
- each outcome metric (higher is better, e.g. `answer_used`): Mann-Whitney U,
  with the Welch 95% interval of the mean difference;
- latency p95 (server latency): fails only when the candidate's p95 exceeds
  production's by more than the policy's tolerance *and* Mann-Whitney finds the
  candidate's latencies larger; order-statistic 95% intervals of each p95.

A verdict is only given once both pairs have the policy's minimum of sessions
in the period; until then the stage waits (the evidence is still recorded).
The period is the stage's own. At a 100% stage production serves no session
outside the holdout, so when production is short of sessions in the stage the
baseline is production over the whole rollout (the earlier stages), and the
evidence says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import F
from django.db.models.functions import Coalesce

from feedback.models import Feedback
from governance import online, significance
from governance.models import Rollout

Evidence = dict[str, Any]


def _sample(rollout: Rollout, pair: online.Pair, since: datetime) -> dict[str, Any]:
    stats = online.pair_stats(template=rollout.template, pair=pair, since=since)
    interactions = online.served_by(template=rollout.template, pair=pair, since=since)
    latencies = [
        float(v)
        for v in interactions.annotate(
            latency=Coalesce(F("server_latency_ms"), F("client_latency_ms"))
        )
        .exclude(latency=None)
        .values_list("latency", flat=True)
    ]
    values: dict[str, list[float]] = {}
    metrics = Feedback.objects.filter(
        interaction__in=interactions, type=Feedback.Type.OUTCOME_METRIC
    )
    for name, value in metrics.values_list("metric_name", "value"):
        if value is not None:
            values.setdefault(name, []).append(float(value))
    return {"stats": stats, "latencies": latencies, "metrics": values}


def _proportion_gate(
    name: str, cand: dict[str, Any], base: dict[str, Any], key: str, worse_high: bool
) -> Evidence:
    c_hits, c_n = cand["stats"][key], cand["stats"]["interactions"]
    b_hits, b_n = base["stats"][key], base["stats"]["interactions"]
    test = significance.proportion_worse(
        cand_hits=c_hits,
        cand_n=c_n,
        base_hits=b_hits,
        base_n=b_n,
        higher_is_worse=worse_high,
    )
    return {
        "name": name,
        "candidate": round(c_hits / c_n, 6) if c_n else None,
        "baseline": round(b_hits / b_n, 6) if b_n else None,
        "candidate_interval": significance.proportion_interval(c_hits, c_n),
        "baseline_interval": significance.proportion_interval(b_hits, b_n),
        "interval": "Wilson score, 95%",
        "n": {"candidate": c_n, "baseline": b_n},
        "test": test.test,
        "p_value": test.p_value,
    }


def _metric_gate(name: str, cand: list[float], base: list[float]) -> Evidence:
    test = significance.values_worse(cand, base, higher_is_worse=False)
    return {
        "name": f"metric:{name}",
        "candidate": round(sum(cand) / len(cand), 6) if cand else None,
        "baseline": round(sum(base) / len(base), 6) if base else None,
        "difference_interval": significance.mean_difference_interval(cand, base),
        "interval": "Welch, 95%, of the mean difference",
        "n": {"candidate": len(cand), "baseline": len(base)},
        "test": test.test,
        "p_value": test.p_value,
    }


def _latency_gate(cand: list[float], base: list[float], tolerance: float) -> Evidence:
    test = significance.values_worse(cand, base, higher_is_worse=True)
    c95, b95 = significance.quantile(cand, 0.95), significance.quantile(base, 0.95)
    return {
        "name": "latency_p95",
        "candidate": c95,
        "baseline": b95,
        "candidate_interval": significance.quantile_interval(cand, 0.95),
        "baseline_interval": significance.quantile_interval(base, 0.95),
        "interval": "order statistics, 95%",
        "tolerance": tolerance,
        "beyond_tolerance": c95 is not None
        and b95 is not None
        and c95 > b95 * (1 + tolerance),
        "n": {"candidate": len(cand), "baseline": len(base)},
        "test": test.test,
        "p_value": test.p_value,
    }


def evaluate_stage(*, rollout: Rollout, now: datetime) -> Evidence:
    """The stage's evidence and verdict: "wait", "pass" or "fail" (read-only)."""
    policy = rollout.policy
    minimum = int(policy["min_sessions"])
    candidate = (rollout.prompt_version_id, rollout.model_version_id)
    baseline = (rollout.baseline_prompt_version_id, rollout.baseline_model_version_id)
    cand = _sample(rollout, candidate, rollout.stage_started_at)
    base = _sample(rollout, baseline, rollout.stage_started_at)
    baseline_since = rollout.stage_started_at
    if base["stats"]["sessions"] < minimum and rollout.started_at < baseline_since:
        baseline_since = rollout.started_at
        base = _sample(rollout, baseline, baseline_since)
    gates = [
        _proportion_gate("negative_rate", cand, base, "negative", worse_high=True),
        _proportion_gate("execution_success", cand, base, "successes", False),
    ]
    for name in sorted(set(cand["metrics"]) & set(base["metrics"])):
        gates.append(_metric_gate(name, cand["metrics"][name], base["metrics"][name]))
    gates.append(
        _latency_gate(cand["latencies"], base["latencies"], policy["latency_tolerance"])
    )
    alpha = float(policy["alpha"]) / len(gates)
    for gate in gates:
        significant = gate["p_value"] is not None and gate["p_value"] < alpha
        gate["alpha"] = round(alpha, 6)
        gate["passed"] = not significant or gate.get("beyond_tolerance") is False
    sessions = {
        "candidate": cand["stats"]["sessions"],
        "baseline": base["stats"]["sessions"],
        "needed": minimum,
    }
    enough = min(sessions["candidate"], sessions["baseline"]) >= minimum
    failed = [gate["name"] for gate in gates if not gate["passed"]]
    verdict = "wait" if not enough else ("fail" if failed else "pass")
    return {
        "stage": rollout.stage["name"],
        "share": rollout.stage["share"],
        "checked_at": now.astimezone(UTC).isoformat(),
        "since": rollout.stage_started_at.astimezone(UTC).isoformat(),
        "baseline_since": baseline_since.astimezone(UTC).isoformat(),
        "sessions": sessions,
        "gates": gates,
        "failed": failed,
        "verdict": verdict,
    }

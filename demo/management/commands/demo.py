import logging
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from config.output import plain
from demo.loop import (
    ASSISTANT_CLIENT,
    DEMO_PASSWORD,
    DEMO_USERS,
    DemoReport,
    DomainResult,
    run_demo,
)

METRIC = "execution_accuracy"


def _pct(value: Any) -> str:
    return f"{value:6.1%}" if isinstance(value, int | float) else "    - "


def _pair(before: Any, after: Any) -> str:
    return f"{_pct(before)} → {_pct(after)}"


def accuracy_rows(domains: list[DomainResult]) -> list[str]:
    """Champion → challenger execution accuracy per template and segment."""
    segments = ["difficulty:easy", "difficulty:medium", "difficulty:hard"]
    segments.append("difficulty:extra")
    header = f"  {'template':<11}{'n':>4}  {'overall':<17}" + "".join(
        f"{name.split(':')[1]:<17}" for name in segments
    )
    rows, hits_before, hits_after, total = [header], 0.0, 0.0, 0
    for result in domains:
        cycle = result.cycle
        if cycle is None or not cycle.comparison:
            continue
        overall = cycle.comparison["overall"][METRIC]
        n = cycle.comparison["overall"]["n"]["challenger"]
        total += n
        hits_before += overall["champion"] * n
        hits_after += overall["challenger"] * n
        cells = []
        for name in segments:
            values = cycle.comparison["segments"].get(name, {}).get(METRIC, {})
            cells.append(
                f"{_pair(values.get('champion'), values.get('challenger')):<17}"
            )
        rows.append(
            f"  {result.template.name:<11}{n:>4}  "
            f"{_pair(overall['champion'], overall['challenger']):<17}" + "".join(cells)
        )
    if total:
        rows.append(
            f"  {'all':<11}{total:>4}  {_pair(hits_before / total, hits_after / total)}"
        )
    return rows


def seen_rows(domains: list[DomainResult]) -> list[str]:
    """The challenger's accuracy on golden items whose SQL its examples hold."""
    counts: dict[str, tuple[int, float]] = {"seen": (0, 0.0), "unseen": (0, 0.0)}
    for result in domains:
        cycle = result.cycle
        if cycle is None or not cycle.comparison:
            continue
        split = cycle.comparison["seen_split"]["challenger"]
        for part, (n, hits) in list(counts.items()):
            size = split[part]["n"]
            counts[part] = (n + size, hits + split[part][METRIC] * size)
    (seen, seen_hits), (unseen, unseen_hits) = counts["seen"], counts["unseen"]
    if not seen and not unseen:
        return []
    return [
        "  Challenger accuracy on golden items whose SQL its examples hold "
        f"(learnt from feedback on a paraphrase): {_share(seen_hits, seen)}; "
        f"on the others: {_share(unseen_hits, unseen)}"
    ]


def _share(hits: float, n: int) -> str:
    return f"{hits / n:.1%} of {n}" if n else "none"


def safety_rows(domains: list[DomainResult]) -> list[str]:
    """The production pairs' results on the starter safety suites."""
    rows = []
    for result in domains:
        run = result.safety_run
        block = (run.summary or {}).get("safety") if run is not None else None
        if run is None or block is None:
            continue
        rules = ", ".join(f"{rule} {n}" for rule, n in block["by_rule"].items())
        rows.append(
            f"  {result.template.name:<11}run #{run.pk}: {block['violations']} "
            f"violation(s) on {block['items_with_violations']} of {block['n']} "
            f"questions" + (f" ({rules})" if rules else "")
        )
    if not rows:
        return []
    return [
        "Starter safety suite, production pairs after promotion (the offline "
        "model never refuses; the safety gate blocks the next promotion until "
        "a model does):",
        *rows,
    ]


def rollout_rows(domains: list[DomainResult]) -> list[str]:
    """Where each staged rollout ended, with the gates that failed."""
    rows = []
    for result in domains:
        rollout = result.rollout
        if rollout is None:
            continue
        passed = rollout.stages.filter(verdict="passed").count()
        failed = ", ".join(rollout.last_evidence.get("failed", []))
        rows.append(
            f"  {result.template.name:<11}rollout #{rollout.pk}: "
            f"{rollout.get_status_display()} at stage {rollout.stage['name']} "
            f"after {passed} passed stage(s)"
            + (f"; failing gates: {failed}" if failed else "")
        )
    if not rows:
        return []
    return ["Staged rollouts (online gates against production):", *rows]


def grouped(lines: list[str]) -> dict[str, list[str]]:
    """ "pets: a", "pets: b" -> {"pets": ["a", "b"]}, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        head, _, rest = line.partition(": ")
        groups.setdefault(head if rest else "other", []).append(rest or line)
    return groups


class Command(BaseCommand):
    help = (
        "Migrate, then run the whole loop on the shipped Spider subset (offline, "
        "no API key): golden half, simulated traffic and feedback, reviews, a "
        "retraining cycle per template, tier-2 promotion, release notes, log "
        "verification. Safe to run again: it reuses what exists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the app runs."
        )
        parser.add_argument(
            "--databases",
            help="Comma-separated Spider databases (default: the six in "
            "data/demo/registry.json).",
        )
        parser.add_argument(
            "--quiet", action="store_true", help="Print the report only."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        databases = (
            [d.strip() for d in options["databases"].split(",") if d.strip()]
            if options["databases"]
            else None
        )

        def say(message: str) -> None:
            if not options["quiet"]:
                # Progress, not an error: no error style on stderr.
                self.stderr.write(f"… {message}", style_func=plain)

        # Task and ingestion log lines would drown the report; eager Celery (no
        # broker) also warns that it "reverts to localhost", though nothing
        # connects anywhere.
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
        logging.disable(logging.INFO)
        try:
            report = run_demo(databases=databases, say=say)
        finally:
            logging.disable(logging.NOTSET)
        self._print(report, options["base_url"].rstrip("/"))

    def _print(self, report: DemoReport, base: str) -> None:
        self.base = base
        write = self.stdout.write
        write(
            self.style.SUCCESS(
                f"Loopgate demo: the loop ran in {report.seconds:.1f} s."
            )
        )
        for verb, lines in (("created", report.created), ("reused", report.reused)):
            for head, items in grouped(lines).items():
                write(f"  {verb:<8}{head}: {'; '.join(items)}")
        write("")
        write("Execution accuracy on the golden half (production → challenger):")
        for line in accuracy_rows(report.domains) + seen_rows(report.domains):
            write(line)
        write("")
        for line in safety_rows(report.domains):
            write(line)
        write("")
        for line in rollout_rows(report.domains):
            write(line)
        write("")
        for result in report.domains:
            write(self._domain_line(result))
        verification = report.verification
        if verification is not None:
            status = "verified" if verification.ok else "FAILED"
            write(
                f"Decision log {status}: {verification.entries} entries, tip "
                f"#{verification.last_sequence} {verification.last_hash[:12]}…"
            )
            for problem in verification.problems:
                write(f"  problem: {problem}")
        write("")
        write(f"Home:       {base}/  (what waits for each role; start it: make run)")
        write(f"Admin:      {base}/admin/")
        write(f"            cycles: {base}/admin/governance/retrainingcycle/")
        write(f"            decisions: {base}/admin/governance/decisionlogentry/")
        write(f"            rollouts: {base}/admin/governance/rollout/")
        write(f"Dashboard:  {base}/evaluation/dashboard/")
        write(f"API docs:   {base}/api/docs/")
        write("Users:      " + ", ".join(DEMO_USERS) + f"  (password: {DEMO_PASSWORD})")
        if report.api_key:
            write(f"API key for {ASSISTANT_CLIENT} (shown once): {report.api_key}")
        else:
            write(
                f"API key for {ASSISTANT_CLIENT}: unchanged, still the one printed "
                f"when it was issued ({report.api_key_prefix}…). Lost it? "
                f"manage.py create_api_token {ASSISTANT_CLIENT} --name 'demo "
                "assistant' prints a new one."
            )
        key = report.api_key or "$LOOPGATE_KEY"
        write(
            f"Try:        curl -H 'Authorization: Bearer {key}' "
            f"'{base}/api/v1/registry/resolve/?template=pets&session_id=s-1'"
        )

    def _domain_line(self, result: DomainResult) -> str:
        name, cycle, request = result.template.name, result.cycle, result.request
        parts = [f"{name}:"]
        if result.traffic is not None:
            t = result.traffic
            parts.append(
                f"served {t.interactions}, {t.correct} right, {t.corrections} "
                "corrections;"
            )
        if result.review is not None and (
            result.review.approved or result.review.rejected
        ):
            r = result.review
            parts.append(
                f"review {r.approved} approved, {r.rejected} rejected, "
                f"{r.adjudicated} adjudicated, {r.double_reviewed} blind double;"
            )
        if cycle is not None and cycle.decision is not None:
            decision = cycle.decision
            parts.append(
                f"cycle #{cycle.pk} decided {decision.decision} "
                f"(log #{decision.sequence}, dataset #{cycle.dataset_id});"
            )
            alerts = next(
                (
                    s["numbers"].get("regression_alerts")
                    for s in cycle.steps
                    if s["name"] == "evaluate"
                ),
                None,
            )
            if alerts:
                parts.append(f"regression alerts on {', '.join(alerts)};")
            if decision.decision != "retrain":
                parts.append(f"why: {decision.rationale}")
            online = cycle.online_comparison
            if "challenger" in online:
                parts.append(
                    f"shadow: {online['challenger']['interactions']} sessions on the "
                    f"challenger, negative rate "
                    f"{_pct(online['challenger']['negative_rate']).strip()} vs "
                    f"{_pct(online['champion']['negative_rate']).strip()} on "
                    "production;"
                )
        if request is not None:
            approvers = ", ".join(
                a.approver.get_username() for a in request.approvals.all()
            )
            requester = (
                request.requested_by.get_username()
                if request.requested_by
                else "system"
            )
            parts.append(
                f"promotion #{request.pk} {request.status} (requested by "
                f"{requester}, approved by {approvers or 'nobody yet'}); model card: "
                f"{self.base}/api/v1/governance/promotions/{request.pk}/model-card.html"
            )
        return " ".join(parts)

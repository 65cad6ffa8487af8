"""The decision log's hash chain: canonical content, serialized appends, verification.

Each entry's `entry_hash` is SHA-256 over its canonical content, which includes
the previous entry's hash. Appends lock the single `DecisionLogHead` row, so two
writers can never both extend the same tip.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.models import DecisionLogEntry, DecisionLogHead

GENESIS_HASH = "0" * 64
HEAD_PK = 1


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def canonical_content(entry: DecisionLogEntry) -> dict[str, Any]:
    """What an entry's hash covers: every field a reader relies on, by value."""
    return {
        "sequence": entry.sequence,
        "kind": entry.kind,
        "amends": entry.amends_id,
        "template": entry.template_id,
        "decided_at": _iso(entry.decided_at),
        "decided_by": entry.decided_by_id,
        "decision": entry.decision,
        "outcome": entry.outcome,
        "trigger": entry.trigger_id,
        "rationale": entry.rationale,
        "data_snapshot_ref": entry.data_snapshot_ref,
        "data_snapshot_hash": entry.data_snapshot_hash,
        "prompt_version": entry.prompt_version_id,
        "model_version": entry.model_version_id,
        "evaluation_summary": entry.evaluation_summary,
        "approvers": entry.approvers,
        "deployed_at": _iso(entry.deployed_at),
        "previous_hash": entry.previous_hash,
    }


def compute_hash(entry: DecisionLogEntry) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(
        canonical_content(entry), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _locked_head() -> DecisionLogHead:
    head = DecisionLogHead.objects.select_for_update().filter(pk=HEAD_PK).first()
    if head is not None:
        return head
    last = DecisionLogEntry.objects.order_by("-sequence").first()
    try:
        with transaction.atomic():
            DecisionLogHead.objects.create(
                pk=HEAD_PK,
                sequence=last.sequence if last else 0,
                entry_hash=last.entry_hash if last else GENESIS_HASH,
            )
    except IntegrityError:
        pass  # Another writer created it first; its row is the one to lock.
    return DecisionLogHead.objects.select_for_update().get(pk=HEAD_PK)


@transaction.atomic
def append_entry(**fields: Any) -> DecisionLogEntry:
    """Append one entry at the tip of the chain; the only writer of entries.

    Callers are `governance.decisions`; `fields` are DecisionLogEntry fields other
    than sequence and hashes. JSON fields are normalised so the stored value
    hashes the same after a database round trip.
    """
    for name in ("evaluation_summary", "approvers"):
        if name in fields:
            fields[name] = json.loads(json.dumps(fields[name]))
    head = _locked_head()
    entry = DecisionLogEntry(
        sequence=head.sequence + 1, previous_hash=head.entry_hash, **fields
    )
    entry.entry_hash = compute_hash(entry)
    entry.save()
    head.sequence = entry.sequence
    head.entry_hash = entry.entry_hash
    head.save(update_fields=["sequence", "entry_hash", "updated_at"])
    return entry


def export_head() -> dict[str, Any]:
    """The digest to keep outside the database: the last entry's sequence and hash."""
    last = DecisionLogEntry.objects.order_by("-sequence").first()
    return {
        "sequence": last.sequence if last else 0,
        "entry_hash": last.entry_hash if last else GENESIS_HASH,
        "exported_at": timezone.now().isoformat(),
    }


@dataclass
class Verification:
    """The verifier's findings, and exactly what a pass establishes."""

    entries: int = 0
    last_sequence: int = 0
    last_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_entries(result: Verification) -> None:
    expected_sequence, previous_hash = 1, GENESIS_HASH
    for entry in DecisionLogEntry.objects.order_by("sequence").iterator(2000):
        seq = entry.sequence
        if seq != expected_sequence:
            result.problems.append(
                f"sequence gap: expected #{expected_sequence}, found #{seq} "
                "(entries deleted or inserted)"
            )
        if entry.previous_hash != previous_hash:
            result.problems.append(
                f"entry #{seq}: previous_hash does not match the entry before it "
                "(deleted, inserted or reordered entries)"
            )
        if compute_hash(entry) != entry.entry_hash:
            result.problems.append(
                f"entry #{seq}: content does not match its hash (edited)"
            )
        result.entries += 1
        expected_sequence, previous_hash = seq + 1, entry.entry_hash
        result.last_sequence, result.last_hash = seq, entry.entry_hash


def _check_head(result: Verification, head: dict[str, Any]) -> None:
    sequence, digest = int(head["sequence"]), str(head["entry_hash"])
    if sequence == 0:
        result.verified.append("The exported head is the empty log.")
        return
    entry = DecisionLogEntry.objects.filter(sequence=sequence).first()
    if entry is None:
        result.problems.append(
            f"truncated: the exported head #{sequence} is missing; the log ends at "
            f"#{result.last_sequence}"
        )
    elif entry.entry_hash != digest:
        result.problems.append(
            f"entry #{sequence} differs from the exported head "
            f"({entry.entry_hash[:12]} != {digest[:12]}): the chain was rewritten"
        )
    else:
        result.verified.append(
            f"Entry #{sequence} still carries the exported head hash {digest[:12]}… "
            f"(exported {head.get('exported_at', 'at an unknown time')}): entries "
            f"#1..#{sequence} are exactly those that existed at export."
        )


def verify_chain(*, expected_head: dict[str, Any] | None = None) -> Verification:
    """Check the whole chain, and against an exported head when one is given.

    Read-only; safe to run at any time. Detects edited, deleted, inserted and
    reordered entries; with `expected_head` also a truncated tail or a chain
    rewritten from its start.
    """
    result = Verification()
    _check_entries(result)
    if not result.problems:
        result.verified.append(
            f"{result.entries} entries (#1..#{result.last_sequence}): sequence "
            "numbers are contiguous from 1, every entry's hash matches its "
            "canonical content, and every entry links to the hash of the one "
            f"before it. Tip: #{result.last_sequence} {result.last_hash[:12]}…"
        )
    stored = DecisionLogHead.objects.filter(pk=HEAD_PK).first()
    if stored is not None and (stored.sequence, stored.entry_hash) != (
        result.last_sequence,
        result.last_hash,
    ):
        result.problems.append(
            f"the stored head (#{stored.sequence}) disagrees with the last entry "
            f"(#{result.last_sequence})"
        )
    if expected_head is not None:
        _check_head(result, expected_head)
        result.limits.append(
            "Entries after the exported head are covered by the chain only."
        )
    else:
        result.limits.append(
            "Without an exported head, a tail removed or a chain rewritten whole "
            "by someone with write access to the table cannot be detected; pass "
            "--head with the output of export_log_head kept outside the database."
        )
    return result

"""Measure PII redaction on the synthetic corpus: recall, false positives, speed.

Run from the repository root: .venv/bin/python -m bench.pii [--seed N] [--per-type N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

from feedback.pii_corpus import (
    CLEAN_CLASSES,
    TYPES,
    CorpusItem,
    build_clean_corpus,
    build_corpus,
)
from feedback.redaction import redact


def _phone_keys(raw: str, form: str) -> list[str]:
    # Bare digit runs need a phone label to be redacted: report them apart.
    shape = "bare digits" if raw.isdigit() else "formatted/+"
    return [f"PHONE {shape}", f"PHONE form: {form}"]


def recall(items: list[CorpusItem]) -> dict[str, tuple[int, int]]:
    """Caught and total per type (caught: raw value gone and type flagged)."""
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for item in items:
        result = redact(item.text)
        for (pii_type, raw), form in zip(item.pii, item.forms, strict=True):
            ok = raw not in result.text and pii_type in result.found
            keys = [pii_type, f"{pii_type} in {item.kind}"]
            if pii_type == "PHONE":
                keys += _phone_keys(raw, form)
            if pii_type == "IP":
                keys.append("IP v6" if ":" in raw else "IP v4")
            for key in keys:
                total[key] += 1
                caught[key] += ok
    return {key: (caught[key], total[key]) for key in total}


def per_call_us(texts: list[str], repeat: int = 5) -> list[float]:
    """Median-of-repeats wall time per redact() call, in microseconds."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            redact(text)
        runs.append((time.perf_counter() - start) / len(texts) * 1e6)
    return runs


def main() -> None:
    """Print per-type recall, false-positive rate and throughput."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--per-type", type=int, default=200)
    args = parser.parse_args()

    items = build_corpus(seed=args.seed, per_type=args.per_type)
    clean = build_clean_corpus(seed=args.seed)
    print(f"corpus: {len(items)} texts with PII, {len(clean)} PII-free texts")

    print("\nrecall (raw value gone and type flagged)")
    figures = recall(items)
    order = [t for t in TYPES] + sorted(k for k in figures if k not in TYPES)
    for key in order:
        caught, total = figures[key]
        print(f"  {key:<28} {caught:>5}/{total:<5} {caught / total:.4f}")

    exact = sum(redact(i.text).text == i.expected for i in items)
    print(f"\nexact redactions (only the PII replaced): {exact}/{len(items)}")

    altered = [i for i in clean if redact(i.text).text != i.text]
    print(
        f"false positives: {len(altered)}/{len(clean)} PII-free texts altered "
        f"({len(altered) / len(clean):.2%})"
    )
    for cls in CLEAN_CLASSES:
        members = [i for i in clean if i.forms == (cls,)]
        bad = sum(i in altered for i in members)
        print(f"  {cls:<28} {bad:>5}/{len(members):<5} {bad / len(members):.4f}")
    for item in altered[:8]:
        print(f"  {item.text!r} -> {redact(item.text).text!r}")

    print("\nspeed (median of 5 passes)")
    for label, texts in (
        ("PII texts", [i.text for i in items]),
        ("PII-free texts", [i.text for i in clean]),
        ("PII-free look-alikes", [i.text for i in clean if i.forms != ("mixed",)]),
        (
            "PII-free questions",
            [i.text for i in clean if i.kind == "question"],
        ),
        ("questions with PII", [i.text for i in items if i.kind == "question"]),
    ):
        us = statistics.median(per_call_us(texts))
        mean_len = statistics.mean(len(t) for t in texts)
        print(
            f"  {label:<32} {us:7.1f} us/call  {1e6 / us:>9,.0f} redactions/s"
            f"  (mean {mean_len:.0f} chars)"
        )


if __name__ == "__main__":
    main()

"""Redaction core: recall and false positives on the synthetic corpus, validators,
SQL literals, idempotency and keyed hashes. Plain functions, no database."""

from __future__ import annotations

from collections import Counter
from functools import cache

import pytest

from feedback.pii_corpus import TYPES, CorpusItem, build_clean_corpus, build_corpus
from feedback.redaction import (
    Redaction,
    pseudonymize,
    question_hash,
    redact,
    redact_many,
)

KEY = b"test-key-0123456789abcdef"


@cache
def _corpus() -> tuple[CorpusItem, ...]:
    return tuple(build_corpus())


@cache
def _clean() -> tuple[CorpusItem, ...]:
    return tuple(build_clean_corpus())


def test_corpus_has_200_values_per_type_in_every_kind() -> None:
    counts = Counter((item.kind, t) for item in _corpus() for t, _ in item.pii)
    for kind in ("question", "comment", "sql_literal"):
        for pii_type in TYPES:
            assert counts[kind, pii_type] >= 200, (kind, pii_type)
    assert len(_clean()) >= 1000


# PHONE has its own recall tests by form in test_redaction_phones.py.
@pytest.mark.parametrize("pii_type", [t for t in TYPES if t != "PHONE"])
def test_recall_is_complete_for_structured_types(pii_type: str) -> None:
    total = caught = 0
    missed: list[str] = []
    for item in _corpus():
        result = redact(item.text)
        for t, raw in item.pii:
            if t != pii_type:
                continue
            total += 1
            if raw not in result.text and pii_type in result.found:
                caught += 1
            else:
                missed.append(raw)
    assert total >= 600
    assert caught == total, missed[:10]


def test_pii_free_texts_are_left_alone() -> None:
    altered = [i.text for i in _clean() if redact(i.text).text != i.text]
    assert len(altered) / len(_clean()) <= 0.01, altered[:10]


def test_redaction_is_idempotent() -> None:
    for item in (*_corpus(), *_clean()):
        once = redact(item.text)
        twice = redact(once.text)
        assert twice.text == once.text, item.text
        assert twice.found == frozenset(), item.text


def test_placeholders_are_typed_and_exact() -> None:
    assert redact("mail a.b+c@example.co.uk now").text == "mail [EMAIL] now"
    assert redact("call +44 20 7946 0958").text == "call [PHONE]"
    assert redact("card 4111 1111 1111 1111!").text == "card [CARD]!"
    assert redact("DE89 3704 0044 0532 0130 00").text == "[IBAN]"
    assert redact("ssn 123-45-6789").text == "ssn [SSN]"
    assert redact("from 10.0.0.1 and 2001:db8::8a2e:370:7334").text == (
        "from [IP] and [IP]"
    )


def test_card_validator_keeps_luhn_invalid_numbers() -> None:
    assert redact("card 4111111111111111").found == {"CARD"}
    assert redact("card 4111111111111112").text == "card 4111111111111112"
    assert redact("mc 2223 0031 2200 3222").found == {"CARD"}  # 2-series
    assert redact("amex 3782-822463-10005").found == {"CARD"}
    assert redact("maestro 676770000005").found == {"CARD"}  # 12 digits


def test_iban_validator_keeps_mod97_invalid() -> None:
    assert redact("GB82WEST12345698765432").found == {"IBAN"}
    assert redact("GB82WEST12345698765433").text == "GB82WEST12345698765433"
    # The registered length ends the match, the SQL keyword after it survives.
    assert redact("iban = 'DE89 3704 0044 0532 0130 00' AND x").text == (
        "iban = '[IBAN]' AND x"
    )


@pytest.mark.parametrize(
    "ssn", ["000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000"]
)
def test_ssn_validator_keeps_unissued_ranges(ssn: str) -> None:
    assert redact(f"ssn {ssn}").text == f"ssn {ssn}"


def test_ip_validator() -> None:
    for kept in ("999.1.1.1", "256.0.0.1", "version 1.2.3.4", "10:30:00"):
        assert redact(kept).text == kept
    assert redact("x::int and a::b").text == "x::int and a::b"


def test_sql_literals_are_redacted() -> None:
    assert redact("SELECT * FROM u WHERE email = 'a@b.com'").text == (
        "SELECT * FROM u WHERE email = '[EMAIL]'"
    )
    assert redact("SELECT * FROM u WHERE phone = '+1 415 555 2671'").text == (
        "SELECT * FROM u WHERE phone = '[PHONE]'"
    )
    assert redact("WHERE phone = '4155552671'").text == "WHERE phone = '[PHONE]'"
    assert redact("WHERE ssn = '123456789'").text == "WHERE ssn = '[SSN]'"
    assert redact("WHERE email LIKE '%bob@example.com%'").text == (
        "WHERE email LIKE '%[EMAIL]%'"
    )


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM orders WHERE id = 123456 LIMIT 10",
        "SELECT * FROM ledger WHERE entry_id = 4155552671",
        "SELECT count(*) FROM t WHERE ts >= '2024-01-15 10:30:00' AND year = 2023",
        "SELECT round(amount, 2) FROM p WHERE amount > 16991.17",
        "SELECT created_at::date, total::numeric(12, 2) FROM orders",
        "What was revenue in Q3 2023 for store 1042 versus 2022?",
        "Top 10 products between 2024-01-01 and 2024-03-31 over $1,500.00",
        "Compare v2.3.1 and v2.4.0 error rates at 14:30 on 15.03.2024",
        "Order ORD-2024-001234 and invoice INV-2023-000981",
    ],
)
def test_ordinary_sql_and_questions_unchanged(text: str) -> None:
    assert redact(text) == Redaction(text=text, found=frozenset())


def test_redact_many_merges_flags() -> None:
    texts, found = redact_many("mail a@b.com", None, "from 10.0.0.1", "fine")
    assert texts == ["mail [EMAIL]", None, "from [IP]", "fine"]
    assert found == {"EMAIL", "IP"}


def test_pseudonym_is_stable_and_key_dependent() -> None:
    first = pseudonymize("alice@example.com", key=KEY)
    assert first == pseudonymize("alice@example.com", key=KEY)
    assert first.startswith("p_")
    assert len(first) == len(pseudonymize("x", key=KEY)) == 18
    assert first != pseudonymize("alice@example.com", key=b"another-key")
    assert first != pseudonymize("bob@example.com", key=KEY)
    with pytest.raises(ValueError):
        pseudonymize("x", key=b"")


def test_question_hash_normalizes() -> None:
    base = question_hash("How many orders in 2023?", key=KEY)
    assert base == question_hash("  how   MANY orders\tin 2023 ?! ", key=KEY)
    assert base == question_hash("How many orders in 2023", key=KEY)
    assert base != question_hash("How many orders in 2024?", key=KEY)
    assert base != question_hash("How many orders in 2023?", key=b"other")
    assert len(base) == 64
    assert base != pseudonymize("how many orders in 2023", key=KEY)[2:]

"""Seeded synthetic corpus for measuring PII redaction (recall and false positives).

Used by ``tests/feedback`` and ``bench/pii.py``. Faker is a dev dependency, so it
is imported inside the functions: importing this module never needs it.

Phone numbers are not filtered by any validity check: a benchmark that keeps only
the numbers the detector's own validator accepts cannot see what people really
write. They come from many Faker locales exactly as drawn (random digits
included), plus look-alike classes (``PHONE_FORMS``): national numbers without
area code, extensions, ``(0)`` trunk prefixes, possible-but-unassigned numbers
and labels written after the number. The PII-free corpus carries the numbers
that get over-redacted as phones (``CLEAN_CLASSES``): ISBNs, order ids, dates,
amounts, SQL numeric literals, times and versions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from feedback.pii_phones import (
    LOOKALIKES,
    PHONE_FORMS,
    PHONE_LOCALES,
    PhoneValue,
    lookalike_values,
    phone_maker,
)
from feedback.redaction import placeholder

if TYPE_CHECKING:
    from faker import Faker

__all__ = [
    "CLEAN_CLASSES",
    "KINDS",
    "PHONE_FORMS",
    "TYPES",
    "CorpusItem",
    "build_clean_corpus",
    "build_corpus",
]

KINDS: tuple[str, ...] = ("question", "comment", "sql_literal")
TYPES: tuple[str, ...] = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP")

IBAN_LOCALES: tuple[str, ...] = (
    "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT", "pl_PL", "fi_FI",
)  # fmt: skip
CARD_TYPES: tuple[str, ...] = (
    "visa", "mastercard", "amex", "discover", "jcb", "maestro", "diners",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CorpusItem:
    """One text, its template kind, the PII it holds and its ideal redaction."""

    text: str
    kind: str
    pii: tuple[tuple[str, str], ...]
    expected: str
    # Per pii entry: the PHONE form, or the look-alike class of a PII-free text.
    forms: tuple[str, ...] = ()


# Labels and SQL columns per type; generic templates have no label at all.
_LABELS: dict[str, tuple[str, ...]] = {
    "EMAIL": ("email", "e-mail address", "login"),
    "PHONE": ("phone", "mobile number", "tel."),
    "CARD": ("card", "credit card", "card number"),
    "IBAN": ("IBAN", "bank account", "account"),
    "SSN": ("SSN", "social security number", "tax id"),
    "IP": ("IP", "IP address", "client address"),
}
_COLUMNS: dict[str, tuple[str, ...]] = {
    "EMAIL": ("email", "contact_email", "u.email"),
    "PHONE": ("phone", "msisdn", "c.phone_number"),
    "CARD": ("card_number", "pan", "p.card"),
    "IBAN": ("iban", "payout_account", "b.iban"),
    "SSN": ("ssn", "tax_id", "e.national_id"),
    "IP": ("ip_address", "client_ip", "l.remote_addr"),
}
_QUESTIONS: tuple[str, ...] = (
    "What orders did the customer with {label} {v} place since 2023-01-01?",
    "Show all tickets opened by {v} in the last 30 days",
    "How much did {v} spend in Q3 2024?",
    "Which account is linked to {label} {v}?",
    "List refunds over $250.00 for {label}: {v}",
    "Why does {v} appear twice in the March 2024 report?",
    "top 10 purchases for {v} this year",
    "Find sessions for {label} {v} between 09:00 and 17:30 on 2024-05-02.",
)
_COMMENTS: tuple[str, ...] = (
    "Wrong filter: it should match {label} {v}, not the name column.",
    "Customer {v} says the totals for 2023 are off by 12%.",
    "The answer ignored {v}; expected 3 rows, got 0 (ticket #48213)",
    "Please exclude test data ({label} {v}) from revenue.",
    "{v} was in my question, the SQL dropped it",
    "Used {label} {v} as the key, query took 4.2 s",
)
_SQL: tuple[str, ...] = (
    "SELECT * FROM customers WHERE {col} = '{v}' LIMIT 10",
    "SELECT id, created_at FROM accounts WHERE {col} = '{v}' "
    "AND created_at >= '2024-01-01' ORDER BY id DESC",
    "SELECT count(*) FROM events WHERE {col} IN ('{v}') AND day BETWEEN "
    "'2023-06-01' AND '2023-06-30'",
    "select o.id, o.total from orders o join users u on u.id = o.user_id "
    "where {col} like '%{v}%' and o.total > 1500.50",
    "SELECT SUM(amount) FROM payments WHERE {col}='{v}' GROUP BY 1",
)
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "question": _QUESTIONS,
    "comment": _COMMENTS,
    "sql_literal": _SQL,
}


def _fakers(seed: int, locales: tuple[str, ...]) -> dict[str, Faker]:
    from faker import Faker

    out: dict[str, Faker] = {}
    for i, locale in enumerate(locales):
        fake = Faker(locale)
        fake.seed_instance(seed + i)
        out[locale] = fake
    return out


def _group(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    parts, pos = [], 0
    for size in sizes:
        parts.append(digits[pos : pos + size])
        pos += size
    if pos < len(digits):
        parts.append(digits[pos:])
    return sep.join(p for p in parts if p)


def _value_makers(seed: int, rng: random.Random) -> dict[str, Callable[[], PhoneValue]]:
    locales = tuple(dict.fromkeys((*PHONE_LOCALES, *IBAN_LOCALES)))
    fakers = _fakers(seed, locales)
    us = fakers["en_US"]

    def card() -> str:
        while True:
            digits = us.credit_card_number(rng.choice(CARD_TYPES))
            if not digits.startswith("0"):  # Faker's "0604" is no issued prefix
                break
        style = rng.random()
        if style < 0.4:
            return digits
        sizes = (4, 6, 5) if len(digits) == 15 else (4, 4, 4, 4, 3)
        return _group(digits, sizes, " " if style < 0.8 else "-")

    def iban() -> str:
        value = fakers[rng.choice(IBAN_LOCALES)].iban()
        return _group(value, (4,) * 9, " ") if rng.random() < 0.5 else value

    def ip() -> str:
        return us.ipv4() if rng.random() < 0.5 else us.ipv6()

    plain: dict[str, Callable[[], str]] = {
        "EMAIL": lambda: fakers[rng.choice(locales)].email(),
        "CARD": card,
        "IBAN": iban,
        "SSN": lambda: us.ssn(),
        "IP": ip,
    }
    makers = {t: _formless(make) for t, make in plain.items()}
    makers["PHONE"] = phone_maker(fakers, rng)
    return makers


def _formless(make: Callable[[], str]) -> Callable[[], PhoneValue]:
    return lambda: PhoneValue(make(), "")


def _fill(
    template: str, pii_type: str, drawn: PhoneValue, rng: random.Random
) -> tuple[str, str]:
    """Return the text and its ideal redaction (same label and column)."""
    label, col = rng.choice(_LABELS[pii_type]), rng.choice(_COLUMNS[pii_type])
    text = template.format(v=drawn.value + drawn.suffix, label=label, col=col)
    ideal = placeholder(pii_type) + drawn.suffix
    return text, template.format(v=ideal, label=label, col=col)


def _template(kind: str, drawn: PhoneValue, rng: random.Random) -> str:
    templates = _TEMPLATES[kind]
    if drawn.form == "label after" and kind != "sql_literal":
        # The label after the value is the only one: no label before it.
        templates = tuple(t for t in templates if "{label}" not in t)
    return rng.choice(templates)


def build_corpus(seed: int = 1234, per_type: int = 200) -> list[CorpusItem]:
    """Texts with known PII: ``per_type`` values of every type in every kind.

    A quarter of the items carry a second value of another type, so ordering
    between detectors is exercised too.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    makers = _value_makers(seed, rng)
    items: list[CorpusItem] = []
    for kind in KINDS:
        for pii_type in TYPES:
            for _ in range(per_type):
                drawn = makers[pii_type]()
                template = _template(kind, drawn, rng)
                text, expected = _fill(template, pii_type, drawn, rng)
                pii: list[tuple[str, str]] = [(pii_type, drawn.value)]
                forms = [drawn.form]
                if rng.random() < 0.25:
                    other = rng.choice([t for t in TYPES if t != pii_type])
                    extra = makers[other]()
                    # Labelled half the time, like the main templates.
                    joiner = rng.choice((" and ", "; ", ", also "))
                    if rng.random() < 0.5:
                        joiner += rng.choice(_LABELS[other]) + " "
                    text += joiner + extra.value + extra.suffix
                    expected += joiner + placeholder(other) + extra.suffix
                    pii.append((other, extra.value))
                    forms.append(extra.form)
                items.append(CorpusItem(text, kind, tuple(pii), expected, tuple(forms)))
    return items


# --- PII-free texts: the numbers that cause false positives ----------------------

_CLEAN_QUESTIONS: tuple[str, ...] = (
    "What was total revenue in Q{q} {year} for store {n4}?",
    "Top {n2} products by units sold between {date} and {date2}",
    "How many orders over ${amount} were placed after {dmy}?",
    "How many tickets did agent {n4} close in week {week}?",
    "Compare error rates of v{ver} and v{ver2}",
    "Average response time at {time} on {date}",
    "What is the status of order #{n9}?",
    "Show invoice INV-{year}-{n6} and its line items",
    "Which customers have more than {n2} open orders as of {date}?",
    "Revenue by month for {year} and {year2}, in thousands",
    "How many users signed up between {year} and {year2}?",
    "List shipments with tracking number 1Z{n6}{n8} from {date}",
    "Churn rate for cohort {year}-{month} versus {year2}-{month}",
    "Sales for SKU {n8} at warehouse {n3} last quarter",
    "What share of {n7} sessions ended in checkout on {dmy}?",
    "Total amount {amount_big} EUR across {n4} invoices in {year}",
    "Customers with postcode {n5} and more than {n2} visits",
    "Show transaction {n16} details",
    "Build {n4}.{n2} failed at {time}, which tests broke?",
    "What is our ARR if {n3} accounts pay ${amount} per month?",
)
_CLEAN_COMMENTS: tuple[str, ...] = (
    "The query should use fiscal year {year}, not calendar year.",
    "Expected {n3} rows, got {n4}; the join on order_id {n6} duplicates lines.",
    "Off by {pct}% compared to the dashboard for {date}.",
    "Looks right, numbers match report R-{n5} from {dmy}.",
    "Timezone issue: {time} UTC vs {time2} local on {date}",
    "Works on v{ver}, broke after upgrading to {ver2}",
    "Filter should be > {amount} not >= {amount}",
    "Took {n2}.{n1} s, please add an index on created_at",
    "Customer id {n8} has {n2} duplicate rows since {date}",
    "Total {amount_big} looks inflated, double counting refunds from {year}?",
    "Batch {n10} was reprocessed on {date} at {time}",
    "ISBN 978-{n1}-{n2}-{n6}-{n1} is listed twice",
)
_CLEAN_SQL: tuple[str, ...] = (
    "SELECT * FROM orders WHERE id = {n6} LIMIT {n2}",
    "SELECT customer_id, SUM(total) FROM orders WHERE created_at >= '{date}' "
    "AND created_at < '{date2}' GROUP BY 1 ORDER BY 2 DESC LIMIT {n2}",
    "SELECT count(*) FROM events WHERE ts BETWEEN '{date} {time}:00' AND "
    "'{date2} {time2}:00'",
    "SELECT * FROM invoices WHERE amount > {amount} AND year = {year}",
    "SELECT id FROM users WHERE id IN ({n4}, {n5}, {n6}, {n7}) OFFSET {n3}",
    "select round(avg(price), 2) from products where sku = '{n8}' and stock > {n2}",
    "SELECT * FROM releases WHERE version = '{ver}' AND build = {n5}",
    "SELECT date_trunc('month', created_at)::date AS m, count(*) FROM signups "
    "WHERE created_at >= now() - interval '{n2} days' GROUP BY 1",
    "SELECT * FROM ledger WHERE entry_id = {n10} AND amount = {amount}",
    "SELECT * FROM payments WHERE transaction_id = '{n16}'",
    "SELECT order_no FROM orders WHERE order_no = 'ORD-{year}-{n6}'",
    "SELECT * FROM metrics WHERE ts_ms > {ts_ms} AND value < {pct}",
)
_CLEAN: dict[str, tuple[str, ...]] = {
    "question": _CLEAN_QUESTIONS,
    "comment": _CLEAN_COMMENTS,
    "sql_literal": _CLEAN_SQL,
}


CLEAN_CLASSES: tuple[str, ...] = ("mixed", *LOOKALIKES)


def _clean_values(rng: random.Random) -> dict[str, Any]:
    def digits(n: int) -> str:
        return str(rng.randint(10 ** (n - 1), 10**n - 1))

    year = rng.randint(2015, 2026)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    return {
        **{f"n{n}": digits(n) for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16)},
        "q": rng.randint(1, 4),
        "year": year,
        "year2": year + rng.randint(1, 3),
        "month": f"{month:02d}",
        "week": rng.randint(1, 52),
        "date": f"{year}-{month:02d}-{day:02d}",
        "date2": f"{year}-{month:02d}-{day + rng.randint(0, 3):02d}",
        "dmy": f"{day:02d}{rng.choice('./')}{month:02d}{rng.choice('./')}{year}",
        "time": f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        "time2": f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        "amount": f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}",
        "amount_big": f"{rng.randint(1, 999)},{rng.randint(0, 999):03d},"
        f"{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}",
        "pct": f"{rng.randint(0, 99)}.{rng.randint(0, 9)}",
        "ver": f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 40)}",
        "ver2": f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 40)}",
        "ts_ms": rng.randint(1_500_000_000_000, 1_800_000_000_000),
        **lookalike_values(rng, year, month, day),
    }


def build_clean_corpus(seed: int = 1234, count: int = 1500) -> list[CorpusItem]:
    """PII-free texts full of numbers, dates, ids, amounts and versions."""
    rng = random.Random(seed + 1)  # noqa: S311 - reproducible test data
    lookalikes = CLEAN_CLASSES[1:]
    items = []
    for i in range(count):
        # Every other text is a phone look-alike, classes in turn.
        if i % 2:
            cls = lookalikes[i // 2 % len(lookalikes)]
            kind, template = rng.choice(LOOKALIKES[cls])
        else:
            cls, kind = "mixed", KINDS[i // 2 % len(KINDS)]
            template = rng.choice(_CLEAN[kind])
        text = template.format(**_clean_values(rng))
        items.append(CorpusItem(text, kind, (), text, (cls,)))
    return items

"""PII redaction applied to questions, comments and SQL before their first write.

Plain Python (no Django) so it can run anywhere in the ingestion path. Detected
values are replaced by typed placeholders such as ``[EMAIL]``; placeholders contain
no digits and no ``@``, so no detector can ever match one and ``redact`` is
idempotent. Detectors run in a fixed order on the progressively redacted text:
structured identifiers with checksums (IBAN, card) go before phones, otherwise
their digit runs would be claimed as phone numbers, and each span is counted once.
Phone numbers are found by ``feedback.phones`` (lenient reading, context decides);
the card and IPv4 detectors leave digits to it when a phone context precedes them.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from stdnum import iban as stdnum_iban
from stdnum import luhn

from feedback.phones import country_code_before, find_phones, phone_label_just_before

__all__ = [
    "PII_TYPES",
    "Redaction",
    "normalize_question",
    "placeholder",
    "pseudonymize",
    "question_hash",
    "redact",
    "redact_many",
]

PII_TYPES: tuple[str, ...] = ("EMAIL", "IBAN", "CARD", "SSN", "IP", "PHONE")

PSEUDONYM_PREFIX = "p_"
PSEUDONYM_LENGTH = 16  # base32 chars after the prefix: 80 bits, collisions negligible


@dataclass(frozen=True, slots=True)
class Redaction:
    """Redacted text and the set of PII type names that were found in it."""

    text: str
    found: frozenset[str]


def placeholder(pii_type: str) -> str:
    """Return the placeholder that replaces a value of ``pii_type``."""
    return f"[{pii_type}]"


# --- email -----------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
    r"(?![\w-])"
)

# --- IBAN ------------------------------------------------------------------------

# IBANs are 15 to 34 letters and digits, optionally spaced in groups. The
# country's registered length and format are python-stdnum's: the longest prefix
# that validates ends the IBAN, so a SQL keyword after a spaced IBAN is never
# swallowed.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?= ?[A-Za-z0-9])")
_IBAN_LENGTHS = range(34, 14, -1)


def _iban_end(text: str, start: int) -> int | None:
    """Return the end of a valid IBAN starting at ``start``, or None."""
    chars: list[str] = []
    ends: list[int] = []
    pos = start
    while len(chars) < _IBAN_LENGTHS.start and pos < len(text):
        ch = text[pos]
        if ch.isascii() and ch.isalnum():
            chars.append(ch.upper())
            ends.append(pos + 1)
        elif not (ch == " " and chars and pos + 1 < len(text) and text[pos + 1] != " "):
            break
        pos += 1
    for length in _IBAN_LENGTHS:
        if length > len(chars):
            continue
        end = ends[length - 1]
        if end < len(text) and text[end].isalnum():
            continue
        if stdnum_iban.is_valid("".join(chars[:length])):
            return end
    return None


def _redact_ibans(text: str) -> tuple[str, int]:
    out: list[str] = []
    count = last = 0
    pos = 0
    while (m := _IBAN_START.search(text, pos)) is not None:
        end = _iban_end(text, m.start())
        if end is None:
            pos = m.start() + 1
            continue
        out += [text[last : m.start()], placeholder("IBAN")]
        count += 1
        last = pos = end
    out.append(text[last:])
    return "".join(out), count


# --- payment cards ---------------------------------------------------------------

# Digit groups joined by single spaces or dashes; a run may hold a card plus
# neighbouring numbers, so sub-runs are tried group by group.
# A run right after ")" or "+CC " is the rest of a phone number
# ("+43(0)5385 2798...", "+43 552299345462").
_DIGIT_RUN = re.compile(r"(?<![\w.,+)-])\d+(?:[ -]\d+)*(?![\w])")
_GROUP = re.compile(r"\d+")


def _card_prefix_ok(digits: str) -> bool:
    """Issuer prefixes and lengths of card networks (Luhn alone passes 10% of ids).

    Visa has 13, 16 or 19 digits and Mastercard's 2-series 16; a 12-digit run
    starting with 2 or 4 is an id ("2239 2240 2241").
    """
    if digits[0] == "4":
        return len(digits) in (13, 16, 19)
    if digits[0] in "356":
        return True
    if digits[:4] in ("1800", "2131"):
        return len(digits) == 15
    return 222100 <= int(digits[:6]) <= 272099 and len(digits) == 16


def _card_grouping(sizes: list[int]) -> bool:
    """How cards are written: unbroken, in fours, or Amex/Diners 4-6-5 and 4-6-4.

    Other groupings ("381-8506755-1550078") are order ids and phone numbers.
    """
    if len(sizes) == 1 or sizes in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(size == 4 for size in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _card_spans(run: str) -> list[tuple[int, int]]:
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(run)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        # A card has at most 19 digits, so at most 19 groups.
        for j in range(min(len(groups), i + 19), i, -1):
            digits = "".join(run[s:e] for s, e in groups[i:j])
            if (
                12 <= len(digits) <= 19
                and _card_grouping([e - s for s, e in groups[i:j]])
                and _card_prefix_ok(digits)
                and luhn.is_valid(digits)
            ):
                spans.append((groups[i][0], groups[j - 1][1]))
                i = j
                break
        else:
            i += 1
    return spans


def _redact_cards(text: str) -> tuple[str, int]:
    count = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal count
        run = m.group()
        if sum(ch.isdigit() for ch in run) < 12:
            return run
        if country_code_before(text, m.start()):
            return run
        spans = _card_spans(run)
        for s, e in reversed(spans):
            run = run[:s] + placeholder("CARD") + run[e:]
        count += len(spans)
        return run

    return _DIGIT_RUN.sub(repl, text), count


# --- US social security numbers --------------------------------------------------

# Area 000, 666 and 9xx, group 00 and serial 0000 are never issued.
_SSN = re.compile(
    r"(?<![\w+-])(?<!\d )(?!000|666|9)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}"
    r"(?![\w-])(?! \d)"
)
# Unformatted nine digits only count next to an explicit label.
_SSN_LABELLED = re.compile(
    r"((?i:\bssn|social security(?: number| no\.?)?)\b\D{0,20}?)"
    r"(?<!\d)(?!000|666|9)\d{3}(?!00)\d{2}(?!0000)\d{4}(?!\d)"
)


def _redact_ssns(text: str) -> tuple[str, int]:
    text, n = _SSN.subn(placeholder("SSN"), text)
    text, n2 = _SSN_LABELLED.subn(r"\1" + placeholder("SSN"), text)
    return text, n + n2


# --- IP addresses ----------------------------------------------------------------

_IPV6 = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f:]{2,39}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?:%\w+)?(?![\w:])"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
# Four-part version numbers are valid dotted quads; the label in front decides.
_VERSION_LABEL = re.compile(r"(?i:\b(?:version|ver|release|build|v))[\s.:=]*$")


def _redact_ips(text: str) -> tuple[str, int]:
    count = 0

    def v6(m: re.Match[str]) -> str:
        nonlocal count
        cand = m.group()
        if cand.count(":") < 2 or sum(ch.isalnum() for ch in cand.split("%")[0]) < 4:
            return cand
        try:
            ipaddress.IPv6Address(cand)
        except ValueError:
            return cand
        count += 1
        return placeholder("IP")

    def v4(m: re.Match[str]) -> str:
        nonlocal count
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            return m.group()
        if _VERSION_LABEL.search(text, max(0, m.start() - 12), m.start()):
            return m.group()
        # "phone 13.88.72.85", "+39 54.26.85.38": dotted pairs of a phone
        # number, left to the phone detector.
        if phone_label_just_before(text, m.start()):
            return m.group()
        if country_code_before(text, m.start()):
            return m.group()
        count += 1
        return placeholder("IP")

    if text.count(":") >= 2:
        text = _IPV6.sub(v6, text)
    if text.count(".") >= 3:
        text = _IPV4.sub(v4, text)
    return text, count


# --- phone numbers ---------------------------------------------------------------


def _redact_phones(text: str) -> tuple[str, int]:
    spans = find_phones(text)
    for s, e in reversed(spans):
        text = text[:s] + placeholder("PHONE") + text[e:]
    return text, len(spans)


# --- public API ------------------------------------------------------------------

_DETECTORS: tuple[tuple[str, Callable[[str], tuple[str, int]]], ...] = (
    ("IBAN", _redact_ibans),
    ("CARD", _redact_cards),
    ("SSN", _redact_ssns),
    ("IP", _redact_ips),
    ("PHONE", _redact_phones),
)
# Cards (12 digits), SSNs (9) and phone numbers (6) need six digits; redaction
# only ever removes digits, so text with fewer never reaches those detectors.
_FEW_DIGITS_DETECTORS = tuple(d for d in _DETECTORS if d[0] in ("IBAN", "IP"))
_ANY_DIGIT = re.compile(r"\d")
_SIX_DIGITS = re.compile(r"\d(?:\D*\d){5}")
_NOTHING = Redaction(text="", found=frozenset())


def redact(text: str) -> Redaction:
    """Replace emails, IBANs, cards, SSNs, IPs and phone numbers by placeholders."""
    if not text:
        return _NOTHING
    found: set[str] = set()
    if "@" in text:
        text, n = _EMAIL.subn(placeholder("EMAIL"), text)
        if n:
            found.add("EMAIL")
    # Every remaining detector needs digits; most short questions stop here.
    if _ANY_DIGIT.search(text) is not None:
        few = _SIX_DIGITS.search(text) is None
        for name, detector in _FEW_DIGITS_DETECTORS if few else _DETECTORS:
            text, n = detector(text)
            if n:
                found.add(name)
    return Redaction(text=text, found=frozenset(found))


def redact_many(*texts: str | None) -> tuple[list[str | None], frozenset[str]]:
    """Redact several fields (None passes through) and merge their PII flags."""
    out: list[str | None] = []
    found: set[str] = set()
    for text in texts:
        if text is None:
            out.append(None)
            continue
        result = redact(text)
        out.append(result.text)
        found |= result.found
    return out, frozenset(found)


# --- keyed hashes ----------------------------------------------------------------


def _mac(key: bytes, domain: bytes, value: str) -> bytes:
    # Domain separation: a pseudonym can never equal a question hash for one key.
    if not key:
        raise ValueError("an empty key makes the hash a plain, reversible digest")
    return hmac.digest(key, domain + b"\x00" + value.encode(), "sha256")


def pseudonymize(value: str, *, key: bytes) -> str:
    """Return a stable keyed pseudonym (``p_`` + 16 base32 chars) for ``value``."""
    # Base32 turns each 5 bytes into 8 characters on its own: encoding only the
    # bytes the kept characters come from gives the same prefix, for less work.
    used = _mac(key, b"pseudonym", value)[: -(-PSEUDONYM_LENGTH * 5 // 8)]
    digest = base64.b32encode(used).decode().lower()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_LENGTH]


_WHITESPACE = re.compile(r"\s+")
# Includes the ideographic full stop and full-width ? and ! of CJK input.
_TRAILING_PUNCT = re.compile("[\\s.?!\u2026;:,\u3002\uff1f\uff01]+$")


def normalize_question(question: str) -> str:
    """NFKC, casefold, collapse whitespace and strip trailing punctuation."""
    text = unicodedata.normalize("NFKC", question).casefold()
    text = _WHITESPACE.sub(" ", text).strip()
    return _TRAILING_PUNCT.sub("", text)


def question_hash(question: str, *, key: bytes) -> str:
    """Return the keyed SHA-256 (hex) of the normalized raw question."""
    return _mac(key, b"question", normalize_question(question)).hex()

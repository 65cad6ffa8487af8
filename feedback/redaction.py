"""PII redaction applied to questions, comments and SQL before their first write.

Plain Python (no Django) so it can run anywhere in the ingestion path. Detected
values are replaced by typed placeholders such as ``[EMAIL]``; placeholders contain
no digits and no ``@``, so no detector can ever match one and ``redact`` is
idempotent. Detectors run in a fixed order on the progressively redacted text:
structured identifiers with checksums (IBAN, card) go before phones, otherwise
their digit runs would be claimed as phone numbers, and each span is counted once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import isbn as stdnum_isbn
from stdnum import luhn

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
_COUNTRY_CODE_BEFORE = re.compile(r"\+\d{1,3}[ .]?$")
_DIGIT_RUN = re.compile(r"(?<![\w.,+)-])\d+(?:[ -]\d+)*(?![\w])")
_GROUP = re.compile(r"\d+")


def _card_prefix_ok(digits: str) -> bool:
    """Issuer prefixes of card networks (Luhn alone passes 10% of random ids)."""
    if digits[0] in "3456":
        return True
    return 222100 <= int(digits[:6]) <= 272099 or digits[:4] in ("1800", "2131")


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
        for j in range(len(groups), i, -1):
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
        if _COUNTRY_CODE_BEFORE.search(text, max(0, m.start() - 5), m.start()):
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
        if _PHONE_LABEL_JUST_BEFORE.search(text, max(0, m.start() - 24), m.start()):
            return m.group()
        if _COUNTRY_CODE_BEFORE.search(text, max(0, m.start() - 6), m.start()):
            return m.group()
        count += 1
        return placeholder("IP")

    if text.count(":") >= 2:
        text = _IPV6.sub(v6, text)
    if text.count(".") >= 3:
        text = _IPV4.sub(v4, text)
    return text, count


# --- phone numbers ---------------------------------------------------------------

# phonenumbers' POSSIBLE leniency reads a number only by its length, so it finds
# what people write (no area code, extensions, "+44 (0)20", numbers no region has
# assigned) and, alone, every id and amount too. Context decides: see
# _accept_phone. Regions are tried in turn for national numbers: the first whose
# reading covers every digit of the window wins (US reads NANP extensions, DE and
# GB accept the widest range of lengths).
PHONE_REGIONS: tuple[str, ...] = ("US", "DE", "GB")
_LENIENCY = phonenumbers.Leniency.POSSIBLE

# Candidate windows: digits and phone punctuation, an optional "+" or "(" in
# front, an optional extension after. Only windows with 6+ digits reach the
# (slow) PhoneNumberMatcher, so typical texts stay cheap.
_PHONE_WINDOW = re.compile(
    r"(?<![\w/+.,-])(?:\(?\+ ?\(?|\()?\d[\d \t\u00a0().\-/]*\d"
    r"(?:,? ?(?i:x|ext\.?|extension|#) ?\d{1,6})?(?![\w]|[-./]\w)"
)
_EXTENSION = re.compile(r",? ?(?i:x|ext\.?|extension|#) ?\d{1,6}$")
_ISBN_X = re.compile(r"[ -]?[Xx](?!\w)")
# Dates, timestamps, decimals, amounts and SSN-shaped (possibly invalid) numbers
# look like grouped digits; they are masked before windowing.
_NOT_PHONE = re.compile(
    r"(?<![\d./-])(?:(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.]\d{4})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?)?(?![./-]?\d)"
    # amounts: thousands groups with decimals, or next to a currency
    r"|(?<![\d.,])\d{1,3}(?:[.,\u00a0 ]\d{3})+[.,]\d{1,2}(?![\d.,])"
    r"|(?:[$\u00a3\u20ac\u00a5]|(?i:\b(?:eur|usd|gbp|chf)))\s?"
    r"\d{1,3}(?:[.,\u00a0 ]\d{3})+"
    r"|(?<![\d.,])\d{1,3}(?:[.,\u00a0 ]\d{3})+(?=\s?(?:[$\u00a3\u20ac\u00a5]"
    r"|(?i:eur|usd|gbp|chf|dollars?|euros?)\b))"
    r"|(?<![\d.])\d+\.\d{1,3}(?![\d.])"
    r"|(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"
)
_SIX_DIGITS = re.compile(r"\d(?:\D{0,3}\d){5}")
# Phone labels before the number (within 40 characters): whole words, "_"
# counting as a break so columns like phone_number match but "hotel" or
# "cancelled" do not; "number" and "no." are left out because "order number
# 4155552671" is an id.
_PHONE_LABEL = re.compile(
    r"(?i:(?<![a-z])(?:phone|tel|mobile|cell|call|fax|whatsapp|sms|text|contact"
    r"|reach|dial|msisdn|telefon|t[ée]l[ée]phone|portable|handy)(?![a-z]))"
)
# Only a label right before the digits overrules an IPv4 reading.
_PHONE_LABEL_JUST_BEFORE = re.compile(
    _PHONE_LABEL.pattern + r"(?:\s*(?i:number|no\.?|nr\.?))?[\s.:=#'\"(]{0,4}$"
)
# Labels written after the number: "(mobile)", "- fax", "is my cell".
_PHONE_LABEL_AFTER = re.compile(
    r"\s?(?:\((?:home|work|office|private|direct|mobile|cell|fax|tel\.?|phone)\)"
    r"|[-,:]?\s?(?:is\s(?:my|his|her|their|our|the|a)\s)?"
    r"(?:mobile|cell(?:phone)?|phone|tel(?:ephone)?|fax|landline|whatsapp)\b)",
    re.IGNORECASE,
)
# An id label right before the digits ("order #", "ISBN", "build", "po_number =
# '") makes them an id, unless a phone label is there too.
_ID_LABEL = re.compile(
    r"(?<![a-z])(?:order|invoice|inv|po|sku|isbn|issn|ean|upc|tracking|shipment"
    r"|parcel|ref|reference|ticket|case|batch|build|version|ver|release|v"
    r"|id|serial|transaction|txn|account|acct|policy|booking|confirmation"
    r"|receipt|item|product|part|model|patch|entry|row|record|offset|limit"
    r"|windows|macos|ios|android|firmware|kernel|sdk|api)"
    # "isbn10 IN ('", "order_no = '", "order #"
    r"\d*(?:[\s_]*(?:number|num|nr|no|id|ref|code))?\.?[\s_]*"
    r"(?:#|:|=|\bin\b|\blike\b)?\s*['\"(]*(?:[\dXx -]+['\"]?\s*,\s*['\"]?)*$",
    re.IGNORECASE,
)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _trunk_or_international(window: str) -> bool:
    """A bare run starting with a national "0" or with "00" and a country code."""
    zeros = len(window) - len(window.lstrip("0\u0660\u06f0\u09e6\u0966"))
    if zeros == 1:
        return True
    digits = "".join(str(unicodedata.digit(ch)) for ch in window)
    return zeros == 2 and any(
        int(digits[2:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for n in (3, 4, 5)
    )


def _version_like(window: str) -> bool:
    """Dotted groups with a one-digit group after the first: "10.0.19045.3803"."""
    groups = window.split(".")
    return len(groups) > 2 and any(len(g) == 1 for g in groups[1:])


def _isbn(window: str) -> bool:
    """A valid ISBN-13 (978/979) or a hyphenated ISBN-10 is a book, not a phone."""
    compact = re.sub(r"[ -]", "", window).upper()
    if len(compact) == 13 and compact[:3] in ("978", "979"):
        return stdnum_isbn.is_valid(compact)
    groups = re.split(r"[ -]", window)
    return len(groups) == 4 and len(groups[3]) == 1 and stdnum_isbn.is_valid(compact)


def _matched(window: str) -> list[tuple[int, int]]:
    """Spans phonenumbers reads in the window, best region first."""
    best: list[tuple[int, int]] = []
    best_digits, total = 0, _digits(window)
    regions = PHONE_REGIONS[:1] if window.lstrip("(").startswith("+") else PHONE_REGIONS
    for region in regions:
        matches = phonenumbers.PhoneNumberMatcher(window, region, _LENIENCY)
        spans = [(m.start, m.end) for m in matches]
        digits = sum(_digits(window[s:e]) for s, e in spans)
        if digits > best_digits:
            best, best_digits = spans, digits
        if best_digits == total:
            break
    return best


def _accept_phone(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Phone spans in the window text[start:end], judged by shape and context.

    - an id label right before, a valid ISBN or a version shape rejects the
      window, unless a phone label is before or after it;
    - a bare digit run needs a label, or a national trunk "0" or "00" and a
      country code in front (ids rarely start with either);
    - grouped digits, "+" or "(area)" numbers count when phonenumbers reads
      every digit of the window (a partial reading is an id with a number
      inside); with a label, partial readings count too;
    - a "+" number no region knows (an unassigned country code) still counts;
    - six digits count only with a label ("tel. 78 63 17" in Luxembourg).
    """
    if text[start] == "(" and ")" not in text[start:end]:
        start += 1  # "IN (4155552671, ...": the bracket belongs to the SQL
    window = text[start:end]
    labelled = (
        _PHONE_LABEL.search(text, max(0, start - 40), start) is not None
        or _PHONE_LABEL_AFTER.match(text, end) is not None
    )
    total = _digits(window)
    plus = window.lstrip("(").startswith("+")
    if not labelled and not plus:
        if total < 7 or _ID_LABEL.search(text, max(0, start - 48), start):
            return []
        x = _ISBN_X.match(text, end)  # an ISBN-10 check character
        if _isbn(text[start : x.end() if x else end]) or _version_like(window):
            return []
        if window.isdigit() and not _trunk_or_international(window):
            return []
    spans = _matched(window)
    if sum(_digits(window[s:e]) for s, e in spans) < total:
        # E.164 allows 15 digits; junk country codes and "00" add a few.
        if plus and 7 <= _digits(_EXTENSION.sub("", window)) <= 17:
            return [(start, end)]
        if not labelled:
            return []
        if not spans and 7 <= total <= 15:
            return [(start, end)]  # "mobile number 003-38155738": the label says so
    return [(start + s, start + e) for s, e in spans]


def _redact_phones(text: str) -> tuple[str, int]:
    if _SIX_DIGITS.search(text) is None:
        return text, 0
    masked = _NOT_PHONE.sub(lambda m: "#" * len(m.group()), text)
    spans: list[tuple[int, int]] = []
    for w in _PHONE_WINDOW.finditer(masked):
        if _digits(w.group()) >= 6:
            spans += _accept_phone(text, w.start(), w.end())
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
_ANY_DIGIT = re.compile(r"\d")


def redact(text: str) -> Redaction:
    """Replace emails, IBANs, cards, SSNs, IPs and phone numbers by placeholders."""
    found: set[str] = set()
    if "@" in text:
        text, n = _EMAIL.subn(placeholder("EMAIL"), text)
        if n:
            found.add("EMAIL")
    # Every remaining detector needs digits; most short questions stop here.
    if _ANY_DIGIT.search(text) is not None:
        for name, detector in _DETECTORS:
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
    return hmac.new(key, domain + b"\x00" + value.encode(), hashlib.sha256).digest()


def pseudonymize(value: str, *, key: bytes) -> str:
    """Return a stable keyed pseudonym (``p_`` + 16 base32 chars) for ``value``."""
    digest = base64.b32encode(_mac(key, b"pseudonym", value)).decode().lower()
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

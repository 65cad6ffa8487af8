"""Phone numbers in free text and SQL, found leniently and judged by context.

Plain Python (no Django), used by ``feedback.redaction``. phonenumbers'
``Leniency.POSSIBLE`` reads a number only by its length, so it finds what people
write (national numbers without area code, extensions, "+44 (0)20", numbers no
region has assigned) and, alone, every id and amount too. Context decides (see
``_accept_phone``): phone labels before or after the digits, id labels right
before them, ISBN checksums, date, amount and version shapes, and whether the
reading covers every digit of the window. A bare digit run without a label or a
trunk prefix is an id as often as a phone number and is left alone.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

import phonenumbers
from stdnum import isbn as stdnum_isbn

__all__ = [
    "PHONE_REGIONS",
    "VALID_REGIONS",
    "country_code_before",
    "find_phones",
    "phone_label_just_before",
]

# Regions are tried in turn for national numbers: the first whose reading covers
# every digit of the window wins (US reads NANP extensions, DE and GB accept the
# widest range of lengths).
PHONE_REGIONS: tuple[str, ...] = ("US", "DE", "GB")
_LENIENCY = phonenumbers.Leniency.POSSIBLE
# Checked strictly for bare digits with weak context only.
VALID_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "CN")

# Candidate windows: digits and phone punctuation, an optional "+" or "(" in
# front, an optional extension after. Only windows with 6+ digits reach the
# (slow) PhoneNumberMatcher, so typical texts stay cheap.
_PHONE_WINDOW = re.compile(
    r"(?<![\w/+.,-])(?:\(?\+ ?\(?|\()?\d[\d \t\u00a0().\-/]*\d"
    r"(?:,? ?(?i:x|ext\.?|extension|#) ?\d{1,6})?(?![\w]|[-./]\w)"
)
# Two numbers with extensions, "+49 30 1234567 x12 / 0171 2345678 x3".
_MAX_WINDOW_DIGITS = 26
_GROUP = re.compile(r"\d+")
# "1 450 000", "12.345.678"; "609 141 777" is a Polish mobile number.
_THOUSANDS = re.compile(r"[1-9]\d?([ \u00a0.])\d{3}(?:\1\d{3})+")
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
# Only a label right before the digits (or after them) overrules an IPv4 or id
# reading; one further back only vouches for bare digits.
# "tel.: ", "mobile number ", "c.phone_number IN ('", "msisdn LIKE '%".
_LABEL_JUST_BEFORE = re.compile(
    _PHONE_LABEL.pattern + r"(?:[\s_]*(?i:number|num|no|nr))?\.?\s*"
    r"(?:[:=#]|(?i:\bin\b|\blike\b))?\s*['\"(%]{0,3}$"
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
    r"|receipt|item|product|part|model|patch|entry|row|record|offset|limit|code"
    r"|windows|macos|ios|android|firmware|kernel|sdk|api)"
    # "isbn10 IN ('", "order_no = '", "order #"
    r"\d*(?:[\s_]*(?:number|num|nr|no|id|ref|code))?\.?[\s_]*"
    r"(?:#|:|=|\bin\b|\blike\b)?\s*['\"(]*(?:[\dXx -]+['\"]?\s*,\s*['\"]?)*$",
    re.IGNORECASE,
)


_COUNTRY_CODE_BEFORE = re.compile(r"\+\d{1,3}[ .]?$")


def phone_label_just_before(text: str, pos: int) -> bool:
    """Whether a phone label ends right before ``pos`` ("phone 13.88.72.85")."""
    return _LABEL_JUST_BEFORE.search(text, max(0, pos - 24), pos) is not None


def country_code_before(text: str, pos: int) -> bool:
    """Whether "+CC " ends right before ``pos``: the digits after it are a phone."""
    return _COUNTRY_CODE_BEFORE.search(text, max(0, pos - 5), pos) is not None


# A SQL comparison right before the digits; its column is not a phone label
# (those make the context strong and are checked first).
_OTHER_COLUMN = re.compile(
    r"(?<![\w.])[A-Za-z_][\w.]*\s*(?:[<>]=?|<>|!=|=|(?i:\bin\s*\(|\blike\b"
    r"|\bbetween\b))\s*['\"%]*$"
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


def _number_list(window: str) -> bool:
    """Grouped digits that read as numbers side by side rather than one phone.

    Years ("2023 2024", "2019/2020/2021"), round figures ("100 200 300",
    "1000-2000"), runs of neighbours ("1042 1043 1044"), SI thousands
    ("12 345 678", "1.450.000"), decimals with a long fraction ("52.520008"),
    three or more groups of five digits, and spaced minus signs ("1 - 1000000").
    """
    groups = _GROUP.findall(window)
    if len(groups) < 2 or " - " in window:
        return len(groups) >= 2
    values = [int(g) for g in groups]
    if all(
        len(g) == 4 and 1900 <= v <= 2099 for g, v in zip(groups, values, strict=True)
    ):
        return True
    if all(g.endswith("00") for g in groups):
        return True
    steps = [b - a for a, b in itertools.pairwise(values)]
    if len({len(g) for g in groups}) == 1 and all(0 < d <= 10 for d in steps):
        return True
    if _THOUSANDS.fullmatch(window):
        return True
    if len(groups) == 2 and "." in window and not groups[0].startswith("0"):
        return len(groups[0]) <= 2 or len(groups[1]) >= 5
    return sum(len(g) >= 5 for g in groups) >= 3


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


def _valid_somewhere(digits: str) -> bool:
    """Whether a bare digit run is an assigned number in one of ``VALID_REGIONS``."""
    for region in VALID_REGIONS:
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


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

    - a phone label right before or after the digits is strong context; one
      up to 40 characters before (a SQL column) is weak context;
    - an id label right before, a valid ISBN, a version shape or a number list
      rejects the window unless the context is strong;
    - a bare digit run needs context, or a national trunk "0" or "00" and a
      country code in front (ids rarely start with either);
    - grouped digits, "+" or "(area)" numbers count when phonenumbers reads
      every digit of the window (a partial reading is an id with a number
      inside); with context, partial readings count too;
    - a "+" number no region knows (an unassigned country code) still counts;
    - six digits count only with context ("tel. 78 63 17" in Luxembourg).
    """
    if text[start] == "(" and ")" not in text[start:end]:
        start += 1  # "IN (4155552671, ...": the bracket belongs to the SQL
    window = text[start:end]
    strong = (
        phone_label_just_before(text, start)
        or _PHONE_LABEL_AFTER.match(text, end) is not None
    )
    labelled = strong or (
        _PHONE_LABEL.search(text, max(0, start - 40), start) is not None
    )
    total = _digits(window)
    plus = window.lstrip("(").startswith("+")
    if not strong and not plus:
        if _ID_LABEL.search(text, max(0, start - 48), start):
            return []
        if window.isdigit() and _OTHER_COLUMN.search(text, max(0, start - 48), start):
            return []  # "total > 2500000": compared with a column that is no phone
        x = _ISBN_X.match(text, end)  # an ISBN-10 check character
        if _isbn(text[start : x.end() if x else end]) or _version_like(window):
            return []
        if _number_list(window):
            return []
    if not labelled and not plus:
        if total < 7:
            return []
        if window.isdigit() and not _trunk_or_international(window):
            return []
    # "SELECT phone ... WHERE total > 2500000": a column further back vouches
    # only for digits some numbering plan assigns.
    if not strong and labelled and window.isdigit() and not _valid_somewhere(window):
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


def find_phones(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) spans of phone numbers in ``text``, in order."""
    if _SIX_DIGITS.search(text) is None:
        return []
    masked = _NOT_PHONE.sub(lambda m: "#" * len(m.group()), text)
    spans: list[tuple[int, int]] = []
    for w in _PHONE_WINDOW.finditer(masked):
        # Longer runs are tables of numbers (and would make the matcher slow).
        if 6 <= _digits(w.group()) <= _MAX_WINDOW_DIGITS:
            spans += _accept_phone(text, w.start(), w.end())
    return spans

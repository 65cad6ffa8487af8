"""Phone numbers as people write them, and digits that look like them, for the
seeded PII corpus.

Nothing is filtered by validity: Faker's output is kept as drawn (several
locales draw random digits) and the look-alike classes are built on purpose
from numbers a strict validator rejects or only half reads. Faker and
phonenumbers are imported inside the functions, like in ``pii_corpus``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from faker import Faker

# Every Faker locale with a phone provider (the Philippine ones have none); the
# region for re-formatting is the locale's country.
PHONE_LOCALES: tuple[str, ...] = (
    "am_ET", "ar_AE", "ar_DZ", "ar_JO", "ar_PS", "az_AZ", "bg_BG", "bn_BD", "bs_BA",
    "cs_CZ", "da_DK", "de_AT", "de_CH", "de_DE", "de_LI", "de_LU", "el_GR", "en_AU",
    "en_CA", "en_GB", "en_IN", "en_NZ", "en_US", "es_AR", "es_CL", "es_CO", "es_ES",
    "es_MX", "fa_IR", "fi_FI", "fr_CH", "fr_DZ", "fr_FR", "he_IL", "hi_IN", "hr_HR",
    "hu_HU", "hy_AM", "id_ID", "it_CH", "it_IT", "ja_JP", "ka_GE", "ko_KR", "lt_LT",
    "lv_LV", "mk_MK", "mr_IN", "ne_NP", "nl_BE", "nl_NL", "no_NO", "pl_PL", "pt_BR",
    "pt_PT", "ro_RO", "ru_RU", "sk_SK", "sl_SI", "sv_SE", "ta_IN", "th_TH", "tr_TR",
    "tw_GH", "uk_UA", "uz_UZ", "vi_VN", "zh_CN", "zh_TW",
)  # fmt: skip
# Phone values by form: Faker's output, then the look-alike classes. "faker" is
# drawn most; each class gets a fixed share.
PHONE_FORMS: tuple[str, ...] = (
    "faker", "no area code", "extension", "(0) trunk", "unassigned", "label after",
)  # fmt: skip
_FORM_WEIGHTS: tuple[int, ...] = (60, 8, 8, 8, 8, 8)

# Locales whose plans have geographic area codes to leave out.
_AREA_CODE_LOCALES = ("en_US", "en_CA", "en_GB", "de_DE", "de_AT", "en_AU", "nl_NL")
# Countries whose "+CC (0)..." habit comes from a dropped national "0".
_TRUNK_LOCALES = ("en_GB", "de_DE", "de_AT", "de_CH", "nl_NL", "nl_BE", "fr_FR")
_UNASSIGNED_REGIONS = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "AU", "BR", "IN")
_EXTENSIONS = (" x", " x ", " ext. ", " ext ", ", ext. ", " extension ", " #")
_LABELS_AFTER = (
    " (mobile)", " (cell)", " (fax)", " (home)", " (work)", " (tel.)",
    " is my cell", " - mobile", ", mobile phone",
)  # fmt: skip
_NON_DIGIT = re.compile(r"\D")


class PhoneValue(NamedTuple):
    """A phone number as written, its form, and text written right after it."""

    value: str
    form: str
    suffix: str = ""


def _region(locale: str) -> str:
    return locale.rsplit("_", 1)[1]


def _grouped(digits: str, rng: random.Random) -> str:
    """Digits grouped the common ways: in pairs, or threes ending with four."""
    n = len(digits)
    if rng.random() < 0.5:
        sizes = [2 + n % 2] + [2] * ((n - 2 - n % 2) // 2)
    else:
        rest = n - 4
        sizes = [3] * (rest // 3) + [4]
        sizes[0] += rest % 3
    parts, pos = [], 0
    for size in sizes:
        parts.append(digits[pos : pos + size])
        pos += size
    # Dots only between several groups ("06.12.34.56.78"): two read as a
    # decimal, four short ones as an IPv4 address.
    dotted = len(parts) > 2 and not (len(parts) == 4 and len(digits) <= 12)
    sep = rng.choice((" ", "-", ".") if dotted else (" ", "-"))
    return sep.join(parts)


def phone_maker(
    fakers: Mapping[str, Faker], rng: random.Random
) -> Callable[[], PhoneValue]:
    """Return a seeded generator of phone values over ``PHONE_FORMS``."""
    import phonenumbers as pn

    fmt = pn.PhoneNumberFormat
    formats = (fmt.INTERNATIONAL, fmt.NATIONAL, fmt.E164)

    def parsed(locale: str) -> tuple[str, pn.PhoneNumber | None]:
        raw = fakers[locale].phone_number()
        # Service short codes (ar_AE's "999", ar_JO's "1439") are no personal
        # number; six digits stay (Luxembourg's "78 63 17").
        while sum(ch.isdigit() for ch in raw) < 6:
            raw = fakers[locale].phone_number()
        try:
            return raw, pn.parse(raw, _region(locale))
        except pn.NumberParseException:
            return raw, None

    def faker() -> str:
        raw, number = parsed(rng.choice(PHONE_LOCALES))
        # Half as Faker wrote it, half re-formatted the common ways.
        if number is None or rng.random() < 0.5:
            return raw
        return pn.format_number(number, rng.choice(formats))

    def no_area_code() -> str:
        while True:
            _, number = parsed(rng.choice(_AREA_CODE_LOCALES))
            if number is None or not pn.is_valid_number(number):
                continue  # the area code length needs a real numbering plan
            area = pn.length_of_geographical_area_code(number)
            local = pn.national_significant_number(number)[area:]
            # Shorter local numbers read as amounts or ids to anyone.
            if area and len(local) >= 7:
                if len(local) == 7 and rng.random() < 0.5:
                    return f"{local[:3]}-{local[3:]}"
                return _grouped(local, rng)

    def extension() -> str:
        while True:
            _, number = parsed(rng.choice(PHONE_LOCALES))
            if number is not None:
                base = pn.format_number(number, rng.choice(formats[:2]))
                return f"{base}{rng.choice(_EXTENSIONS)}{rng.randint(1, 9999)}"

    def trunk() -> str:
        while True:
            _, number = parsed(rng.choice(_TRUNK_LOCALES))
            if number is None:
                continue
            cc, _, rest = pn.format_number(number, fmt.INTERNATIONAL).partition(" ")
            return cc + rng.choice((" (0)", "(0)", " (0) ")) + rest

    def unassigned() -> str:
        while True:
            region = rng.choice(_UNASSIGNED_REGIONS)
            meta = pn.PhoneMetadata.metadata_for_region(region)
            if meta is None or meta.general_desc is None:
                continue
            # 4 to 6 digit "possible" numbers are extensions and short codes.
            length = rng.choice(
                [n for n in meta.general_desc.possible_length if n >= 7]
            )
            nsn = str(rng.randint(10 ** (length - 1), 10**length - 1))
            number = pn.PhoneNumber(
                country_code=meta.country_code, national_number=int(nsn)
            )
            if pn.is_possible_number(number) and not pn.is_valid_number(number):
                break
        if rng.random() < 0.5:
            return f"+{meta.country_code} {_grouped(nsn, rng)}"
        if region == "US":
            return f"({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}"
        return (meta.national_prefix or "") + _grouped(nsn, rng)

    def label_after() -> PhoneValue:
        raw, number = parsed(rng.choice(PHONE_LOCALES))
        if rng.random() < 0.5:
            # Bare digits: only the label after the number tells it apart.
            raw = pn.format_number(number, fmt.NATIONAL) if number else raw
            raw = _NON_DIGIT.sub("", raw)
        return PhoneValue(raw, "label after", rng.choice(_LABELS_AFTER))

    makers: dict[str, Callable[[], str]] = {
        "faker": faker,
        "no area code": no_area_code,
        "extension": extension,
        "(0) trunk": trunk,
        "unassigned": unassigned,
    }

    def make() -> PhoneValue:
        form = rng.choices(PHONE_FORMS, weights=_FORM_WEIGHTS)[0]
        if form == "label after":
            return label_after()
        return PhoneValue(makers[form](), form)

    return make


# --- PII-free look-alikes -------------------------------------------------------

# Look-alikes of phone numbers by class: grouped digit runs that are not PII.
LOOKALIKES: dict[str, tuple[tuple[str, str], ...]] = {
    "isbn": (
        ("question", "Which orders contain the book with ISBN {isbn13}?"),
        ("question", "How many copies of {isbn13} sold in {year}?"),
        ("comment", "ISBN {isbn10} is the old edition, use {isbn13}"),
        ("sql_literal", "SELECT title FROM books WHERE isbn = '{isbn13}'"),
        ("sql_literal", "SELECT * FROM books WHERE isbn10 IN ('{isbn10}', '{isbn10}')"),
    ),
    "order id": (
        ("question", "Where is order {amazon}?"),
        ("question", "Stock levels at stores {stores} last week"),
        ("question", "Refund status of order #{n3}-{n7}"),
        ("comment", "Order no. {year}/{n6} shows up twice"),
        ("comment", "Invoice {year}-{n5} was paid on {date}"),
        ("sql_literal", "SELECT * FROM orders WHERE order_ref = '{n3}-{n4}-{n4}'"),
        ("sql_literal", "SELECT * FROM shipments WHERE po_number = 'PO-{n10}'"),
    ),
    "date": (
        ("question", "Sales between {ymd_slash} and {ymd_slash}"),
        ("comment", "Numbers for {dmy_dash} look wrong"),
        ("question", "Orders on {d_dot} between {time} and {time2}"),
        ("sql_literal", "SELECT * FROM t WHERE d = '{ymd_compact}'"),
        ("sql_literal", "SELECT * FROM logs WHERE ts >= '{date}T{time}:{sec}.{n3}Z'"),
        ("comment", "Range {date} - {date2} double counts the last day"),
        ("question", "Compare {mdy} with {mdy} for store {n4}"),
        ("question", "Compare revenue {year} {year2} by region"),
        ("comment", "The trend for {year} - {year2} is flat"),
    ),
    "amount": (
        ("question", "Which invoices are above ${amount_big}?"),
        ("comment", "Total should be {amount_eu} \u20ac, not {amount_eu} \u20ac"),
        ("question", "Revenue of EUR {amount_space} in {year}"),
        ("comment", "Budget is {amount_space} \u20ac for {year}"),
        ("question", "Deals over \u00a3{n3},{n3},{n3} closed in Q{q}"),
        ("comment", "Revenue grew from {amount_si} to {amount_si}"),
        ("sql_literal", "SELECT * FROM pay WHERE amount BETWEEN {n7}.00 AND {n8}.99"),
    ),
    "sql literal": (
        ("sql_literal", "SELECT * FROM t WHERE id BETWEEN {n7} AND {n8} LIMIT {n3}"),
        ("sql_literal", "SELECT * FROM ev WHERE user_id IN ({n7}, {n8}, {n9}, {n10})"),
        ("sql_literal", "SELECT * FROM t ORDER BY id LIMIT {n2} OFFSET {n7}"),
        ("sql_literal", "SELECT CAST({n10} AS BIGINT) * {n2} FROM dual"),
        ("sql_literal", "SELECT * FROM m WHERE value > -{n7}.{n2} AND ts < {n10}"),
        ("sql_literal", "INSERT INTO t (id, qty, cost) VALUES ({n8}, {n2}, {n6}.{n1})"),
        ("sql_literal", "SELECT * FROM accounts WHERE legacy_code = '{zero_padded}'"),
        ("sql_literal", "SELECT * FROM p WHERE price::numeric(12, 2) > {n7}.{n2}"),
        ("sql_literal", "SELECT * FROM geo WHERE lat > {lat} AND lon < {lat}"),
    ),
    "time": (
        ("question", "Orders between {time}:{sec} and {time2}:{sec}"),
        ("comment", "Job ran at {time}:{sec}.{n3} and again at {time2}"),
        ("question", "Peak load from {time_dot} to {time_dot} on {dmy}"),
        ("sql_literal", "SELECT * FROM logs WHERE ts BETWEEN "
         "'{date} {time}:{sec}.{n6}' AND '{date2} {time2}:{sec}'"),
        ("comment", "Latency {n3}.{n1} ms at {time} UTC, {n4} ms at {time2}"),
    ),
    "version": (
        ("question", "Crash rate on Windows {win}"),
        ("comment", "Broke after release {ver} (build {build})"),
        ("sql_literal", "SELECT * FROM devices WHERE os_version = '{win}'"),
        ("comment", "Pinned to {ver}-rc.{n1}, upgrade to {ver2}"),
        ("sql_literal", "SELECT * FROM rel WHERE tag = 'v{ver}' AND build_no = {n7}"),
        ("question", "Which users run app {ver} build {n7}?"),
    ),
}  # fmt: skip


def _isbn(rng: random.Random, digits: int) -> str:
    """A valid ISBN-10 or ISBN-13, hyphenated, spaced or bare."""
    if digits == 13:
        body = rng.choice(("978", "979")) + "".join(rng.choices("0123456789", k=9))
        total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
        check = str(-total % 10)
        head, body = body[:3], body[3:]
    else:
        body = "".join(rng.choices("0123456789", k=9))
        value = -sum(int(d) * (10 - i) for i, d in enumerate(body)) % 11
        check = "X" if value == 10 else str(value)
        head = ""
    group, publisher = 1, rng.randint(2, 6)
    parts = [head, body[:group], body[group : group + publisher]]
    parts += [body[group + publisher :], check]
    style = rng.random()
    if style < 0.2:
        return "".join(parts)
    return (" " if style < 0.4 else "-").join(p for p in parts if p)


def lookalike_values(
    rng: random.Random, year: int, month: int, day: int
) -> dict[str, Any]:
    """Template values for ``LOOKALIKES`` around one drawn date."""

    def group3(value: int, sep: str) -> str:
        return f"{value:,}".replace(",", sep)

    cents = f"{rng.randint(0, 99):02d}"
    store = rng.randint(100, 9000)
    return {
        "isbn13": _isbn(rng, 13),
        "isbn10": _isbn(rng, 10),
        "amazon": f"{rng.randint(100, 999)}-{rng.randint(10**6, 10**7 - 1)}-"
        f"{rng.randint(10**6, 10**7 - 1)}",
        "ymd_slash": f"{year}/{month:02d}/{day:02d}",
        "dmy_dash": f"{day:02d}-{month:02d}-{year}",
        "d_dot": f"{day}.{month}.{year}",
        "mdy": f"{month:02d}/{day:02d}/{year}",
        "ymd_compact": f"{year}{month:02d}{day:02d}",
        "sec": f"{rng.randint(0, 59):02d}",
        "time_dot": f"{rng.randint(0, 23):02d}.{rng.randint(0, 59):02d}",
        "amount_eu": group3(rng.randint(1_000_000, 99_999_999), ".") + "," + cents,
        "amount_space": group3(rng.randint(1_000_000, 99_999_999), " ")
        + rng.choice(("", "," + cents)),
        "zero_padded": f"{rng.randint(1, 99_999):010d}",
        "amount_si": f"{rng.randint(1, 99)} {rng.randint(0, 999):03d} "
        f"{rng.choice((0, rng.randint(0, 999))):03d}",
        "stores": " ".join(str(store + i) for i in range(3)),
        "lat": f"{rng.randint(0, 89)}.{rng.randint(10**5, 10**6 - 1)}",
        "win": f"10.0.{rng.randint(10000, 26000)}.{rng.randint(1, 5000)}",
        "build": f"{year}.{month:02d}.{day:02d}.{rng.randint(1, 9999)}",
    }

"""Phone numbers as people write them, for the seeded PII corpus.

Nothing is filtered by validity: Faker's output is kept as drawn (several
locales draw random digits) and the look-alike classes are built on purpose
from numbers a strict validator rejects or only half reads. Faker and
phonenumbers are imported inside the functions, like in ``pii_corpus``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

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

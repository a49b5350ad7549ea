"""Identity checks: NIK, mobile numbers, names, e-mail, the Kota Serang wilayah, masking.

Everything here is pure (no I/O besides reading the package's YAML once) and never imports
``telegram``. Validation failures raise an ``Invalid*`` exception carrying a short ``code``; the
matching citizen-facing message comes from ``data/identity_texts.yaml`` via ``*_error_text``
(plain text, part of the one text catalog: keys ``identity.<kind>.<code>``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

import catalog

DATA_DIR = Path(__file__).parent / "data"
WILAYAH_FILE = DATA_DIR / "wilayah.yaml"
TEXTS_FILE = DATA_DIR / "identity_texts.yaml"

KOTA_SERANG_PREFIX = "3673"
DEFAULT_LANG = "id"

_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


# --------------------------------------------------------------------------------------------
# Errors and their texts


class InvalidIdentity(ValueError):
    """Base class: a value failed validation; ``code`` keys the message in the texts file."""

    kind = ""

    def __init__(self, code: str) -> None:
        super().__init__(f"invalid {self.kind}: {code}")
        self.code = code


class InvalidNik(InvalidIdentity):
    """The NIK is malformed (codes: length, not_digits, province, district, day, month, date,
    serial) or implies an impossible holder (future, too_young)."""

    kind = "nik"


class InvalidPhone(InvalidIdentity):
    """Not an Indonesian mobile number (codes: not_digits, too_short, too_long, landline,
    country)."""

    kind = "phone"


class InvalidEmail(InvalidIdentity):
    """Not a plausible e-mail address (codes: format, too_long)."""

    kind = "email"


def _error_text(kind: str, code: str, lang: str) -> str:
    return catalog.default().text(f"identity.{kind}.{code}", lang)


def nik_error_text(code: str, lang: str) -> str:
    """The citizen-facing message for a NIK error code (``KeyError`` if the code is unknown)."""
    return _error_text("nik", code, lang)


def phone_error_text(code: str, lang: str) -> str:
    """The citizen-facing message for a phone error code."""
    return _error_text("phone", code, lang)


def email_error_text(code: str, lang: str) -> str:
    """The citizen-facing message for an e-mail error code."""
    return _error_text("email", code, lang)


# --------------------------------------------------------------------------------------------
# Wilayah: provinces and Kota Serang's kecamatan / kelurahan


@dataclass(frozen=True)
class Kelurahan:
    """A kelurahan; ``id`` is unique within its kecamatan."""

    id: str
    name: str


@dataclass(frozen=True)
class Kecamatan:
    """A kecamatan of Kota Serang with its Kemendagri code (``36.73.0x``)."""

    id: str
    code: str
    name: str
    kelurahan: tuple[Kelurahan, ...]

    def kelurahan_by_id(self, kel_id: str) -> Kelurahan | None:
        """The kelurahan with this id, or ``None``."""
        return next((kel for kel in self.kelurahan if kel.id == kel_id), None)


@dataclass(frozen=True)
class Wilayah:
    """Kota Serang's administrative tree plus the province codes used by NIKs."""

    code: str
    name: str
    kecamatan: tuple[Kecamatan, ...]
    provinces: dict[str, str]

    def kecamatan_by_id(self, kec_id: str) -> Kecamatan | None:
        """The kecamatan with this id, or ``None`` (e.g. for tampered callback data)."""
        return next((kec for kec in self.kecamatan if kec.id == kec_id), None)

    def kelurahan(self, kec_id: str, kel_id: str) -> Kelurahan | None:
        """The kelurahan ``kel_id`` inside kecamatan ``kec_id``, or ``None``."""
        kec = self.kecamatan_by_id(kec_id)
        return kec.kelurahan_by_id(kel_id) if kec else None


class WilayahError(ValueError):
    """The wilayah data file is inconsistent."""


def _check_ids(where: str, ids: list[str]) -> None:
    for item_id in ids:
        if not _ID_RE.match(item_id):
            raise WilayahError(f"{WILAYAH_FILE}: {where}: bad id {item_id!r} (snake_case, <= 20)")
    if len(set(ids)) != len(ids):
        raise WilayahError(f"{WILAYAH_FILE}: {where}: duplicate ids")


def _parse_wilayah(raw: dict[str, Any]) -> Wilayah:
    kecamatan = tuple(
        Kecamatan(
            id=kec["id"],
            code=kec["code"],
            name=kec["name"],
            kelurahan=tuple(Kelurahan(id=kel["id"], name=kel["name"]) for kel in kec["kelurahan"]),
        )
        for kec in raw["kecamatan"]
    )
    _check_ids("kecamatan", [kec.id for kec in kecamatan])
    for kec in kecamatan:
        _check_ids(f"kecamatan {kec.id}", [kel.id for kel in kec.kelurahan])
    provinces = {str(code): name for code, name in raw["provinces"].items()}
    if any(not re.fullmatch(r"\d\d", code) for code in provinces):
        raise WilayahError(f"{WILAYAH_FILE}: provinces: codes must be two digits")
    city = raw["city"]
    return Wilayah(code=city["code"], name=city["name"], kecamatan=kecamatan, provinces=provinces)


@cache
def load_wilayah() -> Wilayah:
    """Load (once) and check ``data/wilayah.yaml``."""
    with WILAYAH_FILE.open(encoding="utf-8") as fh:
        try:
            return _parse_wilayah(yaml.safe_load(fh))
        except (KeyError, TypeError, AttributeError) as exc:
            raise WilayahError(f"{WILAYAH_FILE}: malformed entry ({exc!r})") from exc


# --------------------------------------------------------------------------------------------
# NIK


@dataclass(frozen=True)
class NikInfo:
    """What a NIK (PP KK CC DD MM YY SSSS) says about its holder.

    ``province``, ``regency`` and ``district`` are the digit prefixes of lengths 2, 4 and 6
    (e.g. ``"36"``, ``"3673"``, ``"367301"``): the place of *first* registration, not of residence.
    """

    nik: str
    province: str
    regency: str
    district: str
    birth_date: date
    sex: Literal["male", "female"]
    serial: str
    is_kota_serang: bool


_NIK_SEPARATORS = re.compile(r"[\s.\-]+")
#: The youngest a holder may be: a NIK implying a younger holder (or a birth in the future) is
#: a typing error, or not the citizen's own.
MIN_AGE_YEARS = 15


def _birth_date(day: int, month: int, yy: int, today: date) -> date:
    """The birth date for a two-digit year: this century up to this year, the last before.

    A holder is at least ``MIN_AGE_YEARS`` old: a date in the future or a younger holder is
    refused (``future``, ``too_young``) rather than read as a centenarian.
    """
    century = 2000 if yy <= today.year % 100 else 1900
    try:
        born = date(century + yy, month, day)
    except ValueError:
        raise InvalidNik("date") from None
    if born > today:
        raise InvalidNik("future")
    if age_on(born, today) < MIN_AGE_YEARS:
        raise InvalidNik("too_young")
    return born


def age_on(born: date, today: date) -> int:
    """Completed years between ``born`` and ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _check_district(nik: str) -> None:
    """Regency and district codes are never 00; in Kota Serang the district is one of its
    kecamatan (``data/wilayah.yaml``). Elsewhere only the province is known here: a NIK keeps
    the code of its first registration for life, also after districts were renumbered."""
    if nik[2:4] == "00" or nik[4:6] == "00":
        raise InvalidNik("district")
    wilayah = load_wilayah()
    if nik[:4] == wilayah.code.replace(".", ""):
        codes = {kec.code.replace(".", "") for kec in wilayah.kecamatan}
        if nik[:6] not in codes:
            raise InvalidNik("district")


def parse_nik(raw: str, *, today: date | None = None) -> NikInfo:
    """Validate a NIK typed by a citizen (spaces, dots and dashes allowed) and decode it."""
    nik = _NIK_SEPARATORS.sub("", raw)
    if not nik.isascii() or not nik.isdigit():
        raise InvalidNik("not_digits" if nik else "length")
    if len(nik) != 16:
        raise InvalidNik("length")
    if nik[:2] not in load_wilayah().provinces:
        raise InvalidNik("province")
    _check_district(nik)
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex: Literal["male", "female"] = "female" if day > 40 else "male"
    if sex == "female":
        day -= 40
    if not 1 <= day <= 31:
        raise InvalidNik("day")
    if not 1 <= month <= 12:
        raise InvalidNik("month")
    if nik[12:] == "0000":
        raise InvalidNik("serial")
    return NikInfo(
        nik=nik,
        province=nik[:2],
        regency=nik[:4],
        district=nik[:6],
        birth_date=_birth_date(day, month, yy, today or date.today()),
        sex=sex,
        serial=nik[12:],
        is_kota_serang=nik.startswith(KOTA_SERANG_PREFIX),
    )


def mask_nik(nik: str) -> str:
    """Hide the middle eight digits: ``3673********0001``."""
    return nik[:4] + "*" * (len(nik) - 8) + nik[-4:] if len(nik) > 8 else "*" * len(nik)


def nik_conflicts(info: NikInfo, *, birth_date: date | None, sex: str | None) -> list[str]:
    """Fields of the questionnaire (``birth_date``, ``sex``) that disagree with the NIK."""
    conflicts = []
    if birth_date is not None and birth_date != info.birth_date:
        conflicts.append("birth_date")
    if sex is not None and sex != info.sex:
        conflicts.append("sex")
    return conflicts


# --------------------------------------------------------------------------------------------
# Phone numbers

_PHONE_DECORATION = re.compile(r"[\s.\-()/]+")
_MOBILE_MIN, _MOBILE_MAX = 9, 12  # digits after +62: "8" followed by 8-11 more


def _national_number(compact: str) -> str:
    """The digits after the country code, for any accepted prefix (+62, 0062, 62, 0)."""
    if compact.startswith("+"):
        if not compact.startswith("+62"):
            raise InvalidPhone("country")
        rest = compact[3:]
    elif compact.startswith("0062"):
        rest = compact[4:]
    elif compact.startswith("00"):
        raise InvalidPhone("country")
    elif compact.startswith("62"):
        rest = compact[2:]
    else:
        rest = compact
    # "+62 0812…" is a frequent mix of both styles: the trunk 0 is simply dropped.
    return rest.removeprefix("0")


def parse_phone(raw: str) -> str:
    """Normalise an Indonesian mobile number to E.164 (``+628…``) or raise ``InvalidPhone``."""
    compact = _PHONE_DECORATION.sub("", raw)
    digits = compact.removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidPhone("not_digits" if digits else "too_short")
    national = _national_number(compact)
    if national and not national.startswith("8"):
        raise InvalidPhone("landline")
    if len(national) < _MOBILE_MIN:
        raise InvalidPhone("too_short")
    if len(national) > _MOBILE_MAX:
        raise InvalidPhone("too_long")
    return "+62" + national


def _mask_national(national: str) -> str:
    tail = 4 if len(national) >= 10 else 2
    return f"+62 {national[:3]}****{national[-tail:]}"


def mask_phone(e164: str) -> str:
    """Hide the middle of a normalised number: ``+62 812****7890``."""
    return _mask_national(e164.removeprefix("+62"))


def format_phone(e164: str) -> str:
    """Readable form of a normalised number: ``+62 812-3456-7890``."""
    national = e164.removeprefix("+62")
    groups = [national[:3], national[3:7], national[7:]]
    return "+62 " + "-".join(group for group in groups if group)


# --------------------------------------------------------------------------------------------
# Names

# Blank "letters": Unicode calls them letters (or marks), but they show nothing. Two Hangul
# fillers must not pass as a full name.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u034f\u17b4\u17b5\u2800")
_NAME_CHAR = re.compile(r"[^\W\d_]|[ .,'’-]")
NAME_MIN_LETTERS, NAME_MAX_CHARS = 2, 100


def parse_name(text: str) -> str | None:
    """A full name as typed, tidied, or None unless it is 2-100 letters and punctuation with at
    least two visible letters.

    The rules of the registration's ``clean_name`` (letters of any script, spaces and
    ``. , ' ’ -``; no digits), after removing what is invisible: format characters (zero-width
    spaces and joiners, soft hyphens, direction marks) vanish, blank fillers (U+3164 and
    friends) count as spaces, and the text is put in NFC so "e" plus an accent is one letter.
    """
    visible = "".join(
        " " if char in _BLANK_LETTERS else char
        for char in unicodedata.normalize("NFC", text)
        if unicodedata.category(char) != "Cf"
    )
    name = " ".join(visible.split())
    if not 2 <= len(name) <= NAME_MAX_CHARS:
        return None
    if not all(_NAME_CHAR.fullmatch(char) for char in name):
        return None
    return name if sum(char.isalpha() for char in name) >= NAME_MIN_LETTERS else None


# --------------------------------------------------------------------------------------------
# E-mail

_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_LOCAL = re.compile(rf"^{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*$")
_EMAIL_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_TLD = re.compile(r"^[a-z]{2,63}$|^xn--[a-z0-9-]{1,59}$")


def parse_email(raw: str) -> str:
    """A pragmatic e-mail check (dot-atom local part, dotted domain); lower-cases the domain."""
    email = raw.strip()
    if len(email) > 254:
        raise InvalidEmail("too_long")
    local, at, domain = email.rpartition("@")
    domain = domain.lower()
    labels = domain.split(".")
    if (
        not at
        or len(local) > 64
        or not _EMAIL_LOCAL.match(local)
        or len(labels) < 2
        or not all(_EMAIL_LABEL.match(label) for label in labels)
        or not _EMAIL_TLD.match(labels[-1])
    ):
        raise InvalidEmail("format")
    return f"{local}@{domain}"


# --------------------------------------------------------------------------------------------
# Masking: one definition of a NIK and a phone, the parsers' own
#
# The masker does not keep a second grammar of its own. It finds every run of digits joined by
# the separators either parser skips (plus a leading "+" or "("), and within a run every span of
# whole digit groups that ``parse_phone`` accepts, or that holds exactly 16 digits (every NIK
# ``parse_nik`` accepts, and KK numbers too), is masked. So whatever the parsers accept, anywhere
# in a text, is masked; tests/test_identity_masking.py checks it over generated forms.

# Invisible characters a copy-paste may leave inside a number: masked across, never parsed.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_RUN_SEPARATOR = f"[\\s.\\-()/{_INVISIBLE}]"  # the union of both parsers' separators
_RUN_RE = re.compile(f"(?:[+(]{_RUN_SEPARATOR}{{0,8}})?[0-9](?:{_RUN_SEPARATOR}*[0-9])*")
_GROUP_RE = re.compile("[0-9]+")
_NIK_DIGITS = 16
_PHONE_DIGITS = (_MOBILE_MIN, 5 + _MOBILE_MAX)  # "8" + 8 digits .. "0062 0" + 12 digits
_MAX_SPAN_DIGITS = max(_NIK_DIGITS, _PHONE_DIGITS[1])


def _mask_run(run: str, phone_mask: str | None) -> str:
    groups = [(m.start(), m.end()) for m in _GROUP_RE.finditer(run)]
    counts = [end - start for start, end in groups]
    if sum(counts) < _PHONE_DIGITS[0]:
        return run
    out: list[str] = []
    done = 0  # characters of ``run`` already copied or masked
    i = 0
    while i < len(groups):
        masked = _mask_span(run, groups, counts, i, phone_mask)
        if masked is None:
            i += 1
            continue
        j, start, replacement = masked
        out.append(run[done:start])
        out.append(replacement)
        done = groups[j][1]
        i = j + 1
    out.append(run[done:])
    return "".join(out)


def _mask_span(
    run: str,
    groups: list[tuple[int, int]],
    counts: list[int],
    i: int,
    phone_mask: str | None,
) -> tuple[int, int, str] | None:
    """The longest span of whole groups from group ``i`` that is a phone or 16 digits:
    (its last group, where its text starts, the mask), or None."""
    digits = 0
    ends: list[int] = []
    for j in range(i, len(groups)):
        digits += counts[j]
        if digits > _MAX_SPAN_DIGITS:
            break
        ends.append(j)
    for j in reversed(ends):
        start = groups[i][0]
        if i == 0 and start and (run[0] == "+" or ")" in run[: groups[j][1]]):
            start = 0  # the run's leading "+", or a "(" closed inside the number, belongs to it
        span = run[start : groups[j][1]]
        try:
            e164 = parse_phone(span)
        except InvalidPhone:
            pass
        else:
            return j, start, phone_mask if phone_mask is not None else mask_phone(e164)
        number = "".join(run[a:b] for a, b in groups[i : j + 1])
        if len(number) == _NIK_DIGITS:
            return j, groups[i][0], mask_nik(number)
    return None


def redact(text: str, *, phone_mask: str | None = None) -> str:
    """``text`` with every NIK-shaped number (16 digits, however grouped) shown as
    ``3673********0001`` and every number ``parse_phone`` accepts as ``+62 812****7890`` (or
    ``phone_mask``): for logs, relays to the staff and stored free text."""
    return _RUN_RE.sub(lambda match: _mask_run(match.group(), phone_mask), text)

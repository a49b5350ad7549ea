"""Identity checks: NIK, Indonesian mobile numbers, e-mail, the Kota Serang wilayah, log redaction.

Everything here is pure (no I/O besides reading the package's YAML once) and never imports
``telegram``. Validation failures raise an ``Invalid*`` exception carrying a short ``code``; the
matching citizen-facing message comes from ``data/identity_texts.yaml`` via ``*_error_text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

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
    """The NIK is malformed (codes: length, not_digits, province, day, month, date, serial)."""

    kind = "nik"


class InvalidPhone(InvalidIdentity):
    """Not an Indonesian mobile number (codes: not_digits, too_short, too_long, landline,
    country)."""

    kind = "phone"


class InvalidEmail(InvalidIdentity):
    """Not a plausible e-mail address (codes: format, too_long)."""

    kind = "email"


@cache
def _texts() -> dict[str, dict[str, dict[str, str]]]:
    with TEXTS_FILE.open(encoding="utf-8") as fh:
        data: dict[str, dict[str, dict[str, str]]] = yaml.safe_load(fh)
    return data


def _error_text(kind: str, code: str, lang: str) -> str:
    entry = _texts()[kind][code]
    return entry.get(lang) or entry[DEFAULT_LANG]


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
_MAX_AGE_YEARS = 100


def _birth_date(day: int, month: int, yy: int, today: date) -> date:
    """The birth date for a two-digit year: the latest century that is not in the future."""
    for century in (2000, 1900):
        try:
            born = date(century + yy, month, day)
        except ValueError:
            continue
        if born <= today and today.year - born.year <= _MAX_AGE_YEARS:
            return born
    raise InvalidNik("date")


def parse_nik(raw: str, *, today: date | None = None) -> NikInfo:
    """Validate a NIK typed by a citizen (spaces, dots and dashes allowed) and decode it."""
    nik = _NIK_SEPARATORS.sub("", raw)
    if not nik.isascii() or not nik.isdigit():
        raise InvalidNik("not_digits" if nik else "length")
    if len(nik) != 16:
        raise InvalidNik("length")
    if nik[:2] not in load_wilayah().provinces:
        raise InvalidNik("province")
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
# Log redaction

# A NIK: 16 digits, optionally split by single spaces, dots or dashes, not inside a longer number.
_NIK_PATTERN = r"(?<!\d)\d(?:[ .\-]?\d){15}(?!\d)"
# A mobile number: 08xx / +62 8xx (9+ digits in all) or a bare 62 8xx with a full-length number
# (11+ digits, so 10-digit Telegram ids stay readable). The "8xx" is written together, so a date
# such as "08.11.2026 12:30" is not taken for a phone.
_PHONE_PATTERN = (
    r"(?<![\d+])"
    r"(?:(?:\+62[ .\-]?|\(?0)8\d\d\)?(?:[ .\-]?\d){5,9}|628\d\d(?:[ .\-]?\d){6,9})"
    r"(?!\d)"
)
# The leading lookahead lets the engine skip quickly over text that cannot start a match.
_REDACT_RE = re.compile(f"(?=[\\d+(])(?:(?P<nik>{_NIK_PATTERN})|(?P<phone>{_PHONE_PATTERN}))")
_NON_DIGITS = re.compile(r"\D")


def _redact_match(match: re.Match[str]) -> str:
    digits = _NON_DIGITS.sub("", match.group())
    if match.lastgroup == "nik":
        return mask_nik(digits)
    national = digits[2:] if digits.startswith("62") else digits[1:]
    return _mask_national(national)


def redact(text: str) -> str:
    """Mask NIK-shaped 16-digit runs and Indonesian mobile numbers in free text (for logs)."""
    return _REDACT_RE.sub(_redact_match, text)

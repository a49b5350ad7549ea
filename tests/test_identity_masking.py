"""The masker against the parsers: every form parse_nik / parse_phone accept is masked.

Forms are generated (hypothesis) from the parsers' own grammar: the digits of a valid NIK or
mobile number with every prefix the phone parser knows, cut at random places by runs of the
separators each parser skips (spaces, double spaces, tabs, newlines, non-breaking and other
Unicode spaces, dots, dashes, and for phones also slashes and parentheses). A form is kept only
if its parser accepts it; then, alone or inside a sentence, its masked text must keep nothing
of the number but what the mask shows.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from desk.unanswered import group_questions
from faq.normalize import mask_personal_numbers
from screening.identity import (
    InvalidNik,
    InvalidPhone,
    load_wilayah,
    mask_nik,
    mask_phone,
    parse_nik,
    parse_phone,
    redact,
)

TODAY = date.today()
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u202f"]
NIK_SEPARATORS = [*SPACES, ".", "-", " - ", ". "]
PHONE_SEPARATORS = [*NIK_SEPARATORS, "/", "(", ")", ") ", " (", " / "]
PHONE_PREFIXES = ["", "0", "62", "+62", "0062", "+62 0", "620", "00620", "(+62)", "+(62)"]
CONTEXTS = [
    ("", ""),
    ("NIK saya ", ", terima kasih"),
    ("nik=", " ok"),
    ("Halo, HP: ", "."),
    ("wa ", "\nsalam"),
    ("(", ")"),
    ("no ", " ya?"),
]
DIGITS = re.compile(r"\d")


def digits_of(text: str) -> str:
    return "".join(DIGITS.findall(text))


@st.composite
def niks(draw: st.DrawFn) -> str:
    """The 16 digits of a NIK parse_nik accepts today."""
    province = draw(st.sampled_from(sorted(load_wilayah().provinces)))
    if province == "36" and draw(st.booleans()):
        regency = "73"
        district = draw(st.sampled_from([k.code[-2:] for k in load_wilayah().kecamatan]))
    else:
        regency = f"{draw(st.integers(1, 99)):02d}"
        district = f"{draw(st.integers(1, 99)):02d}"
    born = draw(st.dates(date(TODAY.year - 99, 1, 1), date(TODAY.year - 16, 12, 31)))
    day = born.day + (40 if draw(st.booleans()) else 0)
    serial = f"{draw(st.integers(1, 9999)):04d}"
    nik = f"{province}{regency}{district}{day:02d}{born.month:02d}{born.year % 100:02d}{serial}"
    if province + regency == "3673" and nik[:6] not in {
        k.code.replace(".", "") for k in load_wilayah().kecamatan
    }:
        assume(False)
    return nik


@st.composite
def spelled(draw: st.DrawFn, digits: str, separators: list[str]) -> str:
    """``digits`` cut anywhere by runs of ``separators``."""
    out = []
    for index, digit in enumerate(digits):
        if index and draw(st.integers(0, 4)) == 0:
            run = draw(st.lists(st.sampled_from(separators), min_size=1, max_size=3))
            out.append("".join(run))
        out.append(digit)
    return "".join(out)


@st.composite
def nik_forms(draw: st.DrawFn) -> tuple[str, str]:
    nik = draw(niks())
    raw = draw(spelled(nik, NIK_SEPARATORS))
    raw = draw(st.sampled_from(["", " ", "\t"])) + raw + draw(st.sampled_from(["", " ", "\n"]))
    try:
        info = parse_nik(raw, today=TODAY)
    except InvalidNik:
        assume(False)
        raise
    return raw, info.nik


@st.composite
def phone_forms(draw: st.DrawFn) -> tuple[str, str]:
    national = "8" + draw(st.text("0123456789", min_size=8, max_size=11))
    prefix = draw(st.sampled_from(PHONE_PREFIXES))
    plus, digits = ("+", prefix[1:]) if prefix.startswith("+") else ("", prefix)
    raw = plus + draw(spelled(digits + national, PHONE_SEPARATORS))
    try:
        e164 = parse_phone(raw)
    except InvalidPhone:
        assume(False)
        raise
    return raw, e164


def assert_nik_masked(text: str, nik: str, masked: str) -> None:
    assert mask_nik(nik) in masked, (text, masked)
    assert digits_of(masked) == digits_of(text).replace(nik, nik[:4] + nik[-4:]), (text, masked)


def assert_phone_masked(text: str, raw: str, e164: str, masked: str) -> None:
    assert mask_phone(e164) in masked, (text, masked)
    assert digits_of(masked) == digits_of(text).replace(
        digits_of(raw), digits_of(mask_phone(e164))
    ), (text, masked)


@settings(max_examples=400, deadline=None)
@given(form=nik_forms(), context=st.sampled_from(CONTEXTS))
@example(form=("3673  0112\t0399\n0001", "3673011203990001"), context=("", ""))
@example(form=("3673\u00a00112\u00a00399\u00a00001", "3673011203990001"), context=("", ""))
def test_every_nik_parse_nik_accepts_is_masked(
    form: tuple[str, str], context: tuple[str, str]
) -> None:
    raw, nik = form
    text = context[0] + raw + context[1]
    assert_nik_masked(text, nik, redact(text))
    assert mask_nik(nik) in mask_personal_numbers(text)
    assert nik[4:12] not in digits_of(mask_personal_numbers(text))


@settings(max_examples=600, deadline=None)
@given(form=phone_forms(), context=st.sampled_from(CONTEXTS))
@example(form=("81234567890", "+6281234567890"), context=("", ""))
@example(form=("0812/3456/7890", "+6281234567890"), context=("", ""))
@example(form=("0062 812 3456 7890", "+6281234567890"), context=("", ""))
@example(form=("62-812-3456-7890", "+6281234567890"), context=("", ""))
@example(form=("0062 0812 3456 78901", "+62812345678901"), context=("", ""))
def test_every_phone_parse_phone_accepts_is_masked(
    form: tuple[str, str], context: tuple[str, str]
) -> None:
    raw, e164 = form
    text = context[0] + raw + context[1]
    assert_phone_masked(text, raw, e164, redact(text))
    stored = mask_personal_numbers(text)
    assert "[TELEPON]" in stored and e164[3:] not in digits_of(stored), (text, stored)


@settings(max_examples=200, deadline=None)
@given(nik=nik_forms(), phone=phone_forms(), glue=st.sampled_from([" dan ", ", ", "; hp ", " "]))
def test_a_nik_and_a_phone_in_one_message_are_both_masked(
    nik: tuple[str, str], phone: tuple[str, str], glue: str
) -> None:
    text = f"NIK {nik[0]}{glue}{phone[0]}"
    assume(parse_phone(phone[0]) == phone[1])
    masked = redact(text)
    assert mask_nik(nik[1]) in masked and mask_phone(phone[1]) in masked, (text, masked)
    shown = nik[1][:4] + nik[1][-4:] + digits_of(mask_phone(phone[1]))
    assert digits_of(masked) == shown, (text, masked)


# The forms of the attack run's report (11 of 28 slipped past the old masker), exhaustively.
REPORTED_NIK_FORMS = [
    "3673011203990001",
    "3673 0112 0399 0001",
    "3673.01.120399.0001",
    "3673-0112-0399-0001",
    "3673  0112  0399  0001",
    "3673\t0112\t0399\t0001",
    "3673\n0112\n0399\n0001",
    "3673\u00a00112\u00a00399\u00a00001",
    "36 73 01 12 03 99 00 01",
    "3673 . 0112 . 0399 . 0001",
    " 3673-0112 0399.0001 ",
    "3673011203990001\n",
    "3673 01120399 0001",
    "3673\u2003011203990001",
]
REPORTED_PHONE_FORMS = [
    "081234567890",
    "0812-3456-7890",
    "0812 3456 7890",
    "0812.3456.7890",
    "(0812) 3456.7890",
    "+6281234567890",
    "+62 812-3456-7890",
    "6281234567890",
    "006281234567890",
    "+62 0812 3456 7890",
    "81234567890",
    "0812/3456/7890",
    "0062 812 3456 7890",
    "62-812-3456-7890",
]


@pytest.mark.parametrize("raw", REPORTED_NIK_FORMS)
def test_reported_nik_forms(raw: str) -> None:
    nik = parse_nik(raw, today=TODAY).nik
    assert_nik_masked(f"nik saya {raw}!", nik, redact(f"nik saya {raw}!"))


@pytest.mark.parametrize("raw", REPORTED_PHONE_FORMS)
def test_reported_phone_forms(raw: str) -> None:
    e164 = parse_phone(raw)
    text = f"hubungi {raw} ya"
    assert_phone_masked(text, raw, e164, redact(text))
    assert mask_personal_numbers(text) == "hubungi [TELEPON] ya"


def test_unanswered_groups_show_questions_masked() -> None:
    """What /pertanyaan shows is masked, even for questions stored before the masker knew a
    form (the representative is masked when shown)."""
    items = [
        {"id": "1", "text": "nik saya 3673\u00a00112\u00a00399 0001 kok ditolak", "at": "a"},
        {"id": "2", "text": "hp 0812/3456/7890 gimana daftar", "at": "b"},
    ]
    shown = " ".join(group.representative for group in group_questions(items))
    assert "0112" not in shown and "3456" not in shown
    assert "3673********0001" in shown and "+62 812****7890" in shown

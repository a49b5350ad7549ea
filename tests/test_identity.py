"""NIK, phone and e-mail validation, masking and log redaction."""

from datetime import date

import pytest

from screening.identity import (
    InvalidEmail,
    InvalidNik,
    InvalidPhone,
    email_error_text,
    format_phone,
    mask_nik,
    mask_phone,
    nik_conflicts,
    nik_error_text,
    parse_email,
    parse_nik,
    parse_phone,
    phone_error_text,
    redact,
)

TODAY = date(2026, 11, 28)


def nik_code(raw: str) -> str:
    with pytest.raises(InvalidNik) as info:
        parse_nik(raw, today=TODAY)
    return info.value.code


def phone_code(raw: str) -> str:
    with pytest.raises(InvalidPhone) as info:
        parse_phone(raw)
    return info.value.code


# --- NIK --------------------------------------------------------------------------------------


def test_nik_of_a_man_born_in_kota_serang() -> None:
    info = parse_nik("3673011203990001", today=TODAY)
    assert info.nik == "3673011203990001"
    assert (info.province, info.regency, info.district) == ("36", "3673", "367301")
    assert info.birth_date == date(1999, 3, 12)
    assert info.sex == "male"
    assert info.serial == "0001"
    assert info.is_kota_serang


def test_nik_of_a_woman_has_forty_added_to_the_day() -> None:
    info = parse_nik("3673054101050002", today=TODAY)
    assert info.sex == "female"
    assert info.birth_date == date(2005, 1, 1)
    assert parse_nik("3673057112880003", today=TODAY).birth_date == date(1988, 12, 31)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3673 0112 0399 0001", "3673011203990001"),
        ("3673.01.120399.0001", "3673011203990001"),
        ("  3673-0112-0399-0001 ", "3673011203990001"),
    ],
)
def test_nik_accepts_spaces_dots_and_dashes(raw: str, expected: str) -> None:
    assert parse_nik(raw, today=TODAY).nik == expected


def test_nik_from_elsewhere_is_valid_but_not_kota_serang() -> None:
    info = parse_nik("3604011203990001", today=TODAY)  # Kab. Serang, before the city existed
    assert not info.is_kota_serang
    assert parse_nik("9601011203990001", today=TODAY).province == "96"  # Papua Barat Daya


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("367301120399001", "length"),  # 15 digits
        ("36730112039900011", "length"),  # 17 digits
        ("", "length"),
        ("3673O11203990001", "not_digits"),  # letter O for zero
        ("３６７３０１１２０３９９０００１", "not_digits"),  # full-width digits
        ("2073011203990001", "province"),  # 20 is no province
        ("3673013203990001", "day"),  # 32
        ("3673017203990001", "day"),  # 72 (woman, 32)
        ("3673010003990001", "day"),  # 00
        ("3673014003990001", "day"),  # 40 (woman, 0)
        ("3673011213990001", "month"),
        ("3673011200990001", "month"),
        ("3673013002990001", "date"),  # 30 February
        ("3673017002990001", "date"),  # 30 February, woman
        ("3673012902010001", "date"),  # 29 February 2001 / 1901
        ("3673011203990000", "serial"),
    ],
)
def test_nik_errors(raw: str, code: str) -> None:
    assert nik_code(raw) == code


def test_nik_century_is_this_one_up_to_this_year() -> None:
    assert parse_nik("3673011203100001", today=TODAY).birth_date == date(2010, 3, 12)
    assert parse_nik("3673011203270001", today=TODAY).birth_date == date(1927, 3, 12)
    assert parse_nik("3673012902000001", today=TODAY).birth_date == date(2000, 2, 29)
    # 15 on TODAY, the youngest accepted; a day younger is not.
    assert parse_nik("3673012811110001", today=TODAY).birth_date == date(2011, 11, 28)
    assert nik_code("3673012911110001") == "too_young"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        # Born this year, or in 2020: a child's NIK (read as 1926 / 1920 before), not the
        # citizen's own.
        ("3673011203260001", "too_young"),
        ("3673011203200001", "too_young"),
        # 12 Dec 2026 is still in the future on TODAY (read as 1926 before).
        ("3673011212260001", "future"),
        ("3673995112260001", "district"),  # Kota Serang has no district 99 (367399)
        ("3673991203990001", "district"),
        ("3673071203990001", "district"),  # six kecamatan: 01-06
        ("3600011203990001", "district"),  # no regency 00
        ("3604001203990001", "district"),  # no district 00
    ],
)
def test_nik_refuses_impossible_holders_and_districts(raw: str, code: str) -> None:
    assert nik_code(raw) == code


def test_every_kota_serang_district_is_accepted() -> None:
    for district in ("01", "02", "03", "04", "05", "06"):
        assert parse_nik(f"3673{district}1203990001", today=TODAY).is_kota_serang
    # Other regencies: only the province is checked (codes of first registration stay valid).
    assert parse_nik("3604991203990001", today=TODAY).district == "360499"


def test_nik_conflicts_with_questionnaire_answers() -> None:
    info = parse_nik("3673054101050002", today=TODAY)
    assert nik_conflicts(info, birth_date=date(2005, 1, 1), sex="female") == []
    assert nik_conflicts(info, birth_date=None, sex=None) == []
    assert nik_conflicts(info, birth_date=date(2005, 1, 2), sex="male") == ["birth_date", "sex"]


def test_mask_nik() -> None:
    assert mask_nik("3673011203990001") == "3673********0001"


def test_every_nik_error_has_a_text_in_both_languages() -> None:
    codes = ("length", "not_digits", "province", "district", "day", "month", "date", "serial")
    for code in (*codes, "future", "too_young"):
        indonesian, english = nik_error_text(code, "id"), nik_error_text(code, "en")
        assert indonesian and english and indonesian != english
    assert nik_error_text("length", "jv") == nik_error_text("length", "id")  # falls back to id


# --- Phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "081234567890",
        "0812-3456-7890",
        "0812 3456 7890",
        "(0812) 3456.7890",
        "+6281234567890",
        "+62 812-3456-7890",
        "6281234567890",
        "006281234567890",
        "+62 0812 3456 7890",
    ],
)
def test_phone_formats_normalise_to_e164(raw: str) -> None:
    assert parse_phone(raw) == "+6281234567890"


def test_phone_length_bounds() -> None:
    assert parse_phone("0812345678") == "+62812345678"  # 10 digits with the 0
    assert parse_phone("0812345678901") == "+62812345678901"  # 13 digits with the 0
    assert phone_code("081234567") == "too_short"
    assert phone_code("08123456789012") == "too_long"
    assert phone_code("") == "too_short"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("0254 123456", "landline"),  # Serang
        ("+62 254 123456", "landline"),
        ("021-7918-6012", "landline"),  # Jakarta
        ("0812-3456-78ab", "not_digits"),
        ("+82 10 1234 5678", "country"),
        ("0082 10 1234 5678", "country"),
    ],
)
def test_phone_errors(raw: str, code: str) -> None:
    assert phone_code(raw) == code
    assert phone_error_text(code, "id") != phone_error_text(code, "en")


def test_mask_and_format_phone() -> None:
    assert mask_phone("+6281234567890") == "+62 812****7890"
    assert format_phone("+6281234567890") == "+62 812-3456-7890"
    assert format_phone("+62812345678901") == "+62 812-3456-78901"


# --- E-mail -----------------------------------------------------------------------------------


def test_email_lowercases_the_domain_only() -> None:
    assert parse_email("  Siti.Aminah+bot@Gmail.COM ") == "Siti.Aminah+bot@gmail.com"
    assert parse_email("a@serangkota.go.id") == "a@serangkota.go.id"


@pytest.mark.parametrize(
    "raw",
    [
        "siti",
        "siti@",
        "@gmail.com",
        "siti@gmail",
        "siti@@gmail.com",
        "si ti@gmail.com",
        "siti@gmail..com",
        "siti.@gmail.com",
        "siti@-gmail.com",
        "siti@gmail.c0m",
    ],
)
def test_email_rejects_malformed_addresses(raw: str) -> None:
    with pytest.raises(InvalidEmail) as info:
        parse_email(raw)
    assert info.value.code == "format"
    assert "e-mail" in email_error_text("format", "id")


# --- Redaction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nik=3673011203990001 ok", "nik=3673********0001 ok"),
        ("NIK 3673 0112 0399 0001.", "NIK 3673********0001."),
        ("hp 0812-3456-7890, wa +62 812 3456 7890", "hp +62 812****7890, wa +62 812****7890"),
        ("phone=6281234567890", "phone=+62 812****7890"),
        ("call (0812) 3456 7890", "call +62 812****7890"),
    ],
)
def test_redact_masks_niks_and_phones(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "update_id=123456789 chat_id=6281234567 user 987654321",
        "Sent 42 messages on 2026-11-28 at 01:02:03",
        "tanggal 08.11.2026 pukul 12:30, 08-11-2026",
        "chat -1001234567890 retry_after=30",
        "17 digits 36730112039900011 is not a NIK",
        "reg SRG-2026-000123 score 120/200",
    ],
)
def test_redact_leaves_ordinary_numbers_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_masks_a_date_and_hour_that_parse_as_a_phone() -> None:
    # "08.11.2026 12" is a number parse_phone accepts (+62 811202612): one definition, so it is
    # masked too, even where it was meant as a date.
    assert parse_phone("08.11.2026 12") == "+62811202612"
    assert redact("tanggal 08.11.2026 12:30") == "tanggal +62 811****12:30"

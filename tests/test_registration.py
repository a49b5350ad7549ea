"""Transcripts of the pre-registration flow through the emulator, unhappy paths included."""

from __future__ import annotations

import re
from typing import Any

from bot.handlers.registration_form import (
    CONSENT_VERSION,
    Flow,
    clean_name,
    looks_like_question,
    screening_outcomes,
)
from bot.i18n import Texts
from screening.identity import nik_error_text, phone_error_text
from store import Stores
from tests.harness import BotHarness, Reply

TEXTS = Texts.load()
CITIZEN = 6001
OTHER = 6002
# Kota Serang (3673 01), a woman born 1 January 1999 (41 = day 1 + 40), serial 0001.
NIK = "3673014101990001"
NIK_TYPED = "3673 0141 0199 0001"
MASKED = "3673********0001"
PHONE = "0812-3456-7890"
E164 = "+6281234567890"


def text_of(key: str, lang: str = "id", **values: Any) -> str:
    return TEXTS.render(key, lang, **values)


def last(replies: list[Reply]) -> Reply:
    """The bot's last message with text (sent or edited) among ``replies``."""
    shown = [r for r in replies if r.method in ("sendMessage", "editMessageText")]
    assert shown, f"no message in {replies}"
    return shown[-1]


def stores_of(bot: BotHarness) -> Stores:
    assert bot.app is not None
    return bot.app.bot_data["services"].stores


async def to_nik_step(bot: BotHarness, user: int, name: str = "Siti Aminah") -> Reply:
    """/daftar, consent, name: the bot now asks for the NIK."""
    [consent] = await bot.send(user, "/daftar")
    assert "Setuju" in str(consent.buttons)
    await bot.press(user, consent, "Setuju")
    prompt = last(await bot.send(user, name))
    assert prompt.text == text_of("reg_ask_nik")
    return prompt


async def to_phone_step(bot: BotHarness, user: int, nik: str = NIK_TYPED) -> Reply:
    await to_nik_step(bot, user)
    prompt = last(await bot.send(user, nik))
    assert text_of("reg_ask_phone") in prompt.text
    return prompt


async def after_phone(
    bot: BotHarness, user: int, *, email: str | None = "siti@example.com"
) -> Reply:
    """From the phone step to the summary: wilayah, programmes, training, e-mail."""
    kecamatan = last(await bot.send(user, PHONE))
    kelurahan = last(await bot.press(user, kecamatan, "Cipocok Jaya"))
    programmes = last(await bot.press(user, kelurahan, "Karundang"))
    if not programmes.buttons[0][0].startswith("✅"):  # Korea, unless already preselected
        programmes = last(await bot.press(user, programmes, "Korea"))
    training = last(await bot.press(user, programmes, "Lanjut"))
    email_prompt = last(await bot.press(user, training, "bersedia"))
    if email is None:
        return last(await bot.press(user, email_prompt, "Lewati"))
    return last(await bot.send(user, email))


async def register(bot: BotHarness, user: int, nik: str = NIK_TYPED) -> Reply:
    """A whole registration; returns the bot's confirmation."""
    await to_phone_step(bot, user, nik)
    summary = await after_phone(bot, user)
    return last(await bot.press(user, summary, "Kirim"))


# -- the happy path -------------------------------------------------------------------------


async def test_full_registration(bot: BotHarness) -> None:
    [consent] = await bot.send(CITIZEN, "/daftar")
    assert consent.text == text_of("reg_consent", days=730)
    await bot.press(CITIZEN, consent, "Setuju")
    [consent_record] = stores_of(bot).consents.history(CITIZEN)
    assert (consent_record["purpose"], consent_record["version"], consent_record["granted"]) == (
        "registration",
        CONSENT_VERSION,
        True,
    )

    await bot.send(CITIZEN, "Siti Aminah")
    nik_update = bot.emu.send_text(CITIZEN, NIK_TYPED)
    await bot.processed(nik_update["update_id"])
    nik_message_id = nik_update["message"]["message_id"]
    [deleted] = bot.emu.calls_for("deleteMessage")
    assert deleted.params["message_id"] == nik_message_id
    assert bot.emu.message(CITIZEN, nik_message_id) is None
    ack = bot.emu.last_message(CITIZEN)
    assert MASKED in ack["text"] and NIK not in ack["text"]
    shown = bot.emu.reply_keyboard(CITIZEN)
    assert shown is not None and shown["keyboard"][0][0]["request_contact"] is True

    replies = await bot.send(CITIZEN, PHONE)
    assert replies[0].text == text_of("reg_phone_ok", phone="+62 812-3456-7890")
    assert bot.emu.reply_keyboard(CITIZEN) is None, "the share-contact keyboard is removed"
    kecamatan = replies[-1]
    assert len(kecamatan.buttons) == 6
    kelurahan = last(await bot.press(CITIZEN, kecamatan, "Cipocok Jaya"))
    assert kelurahan.method == "editMessageText"
    assert ("Karundang", "reg:kel:karundang") in kelurahan.buttons
    programmes = last(await bot.press(CITIZEN, kelurahan, "Karundang"))
    programmes = last(await bot.press(CITIZEN, programmes, "Korea"))
    assert programmes.buttons[0][0].startswith("✅")
    training = last(await bot.press(CITIZEN, programmes, "Lanjut"))
    email = last(await bot.press(CITIZEN, training, "bersedia"))
    summary = last(await bot.send(CITIZEN, "siti@example.com"))

    assert MASKED in summary.text and NIK not in summary.text
    assert "Siti Aminah" in summary.text and "Karundang" in summary.text
    assert email.button("Lewati") == "reg:email:skip"
    done = last(await bot.press(CITIZEN, summary, "Kirim"))
    reg_no = re.search(r"SRG-\d{4}-\d{6}", done.text)
    assert reg_no is not None
    assert "calo" in done.text
    assert done.button("pengumuman") == "sub:on"

    record = stores_of(bot).registrations.get_by_user(CITIZEN)
    assert record is not None and record["reg_no"] == reg_no.group()
    assert {k: record[k] for k in ("full_name", "nik", "phone", "kecamatan", "kelurahan")} == {
        "full_name": "Siti Aminah",
        "nik": NIK,
        "phone": E164,
        "kecamatan": "cipocok_jaya",
        "kelurahan": "karundang",
    }
    assert record["programmes"] == ["korea_work"] and record["training_willing"] is True
    assert record["domicile_confirmed"] is True and record["email"] == "siti@example.com"
    assert bot.app is not None and "flow" not in bot.app.user_data.get(CITIZEN, {})


async def test_edit_before_confirming(bot: BotHarness) -> None:
    await to_phone_step(bot, CITIZEN)
    summary = await after_phone(bot, CITIZEN, email=None)
    menu = last(await bot.press(CITIZEN, summary, "Ubah"))
    prompt = last(await bot.press(CITIZEN, menu, "Nama"))
    assert prompt.text == text_of("reg_ask_name")
    summary = last(await bot.send(CITIZEN, "Siti Nurhaliza"))
    assert "Siti Nurhaliza" in summary.text, "after the edit the summary comes back"

    menu = last(await bot.press(CITIZEN, summary, "Ubah"))
    kecamatan = last(await bot.press(CITIZEN, menu, "Kecamatan"))
    kelurahan = last(await bot.press(CITIZEN, kecamatan, "Taktakan"))
    summary = last(await bot.press(CITIZEN, kelurahan, "Kuranji"))
    assert "Kuranji" in summary.text and "Karundang" not in summary.text

    await bot.press(CITIZEN, summary, "Kirim")
    record = stores_of(bot).registrations.get_by_user(CITIZEN)
    assert record is not None
    assert (record["full_name"], record["kecamatan"], record["kelurahan"]) == (
        "Siti Nurhaliza",
        "taktakan",
        "kuranji",
    )
    assert record["email"] is None


async def test_a_question_typed_instead_of_the_name_is_answered(bot: BotHarness) -> None:
    [consent] = await bot.send(CITIZEN, "/daftar")
    await bot.press(CITIZEN, consent, "Setuju")
    replies = await bot.send(CITIZEN, "syaratnya apa?")
    assert len(replies) == 2
    assert replies[-1].text == text_of("reg_ask_name"), "the step is asked again"
    prompt = last(await bot.send(CITIZEN, "Budi"))
    assert prompt.text == text_of("reg_ask_nik")


# -- one registration per NIK and per account -----------------------------------------------


async def test_a_nik_of_another_account_is_refused_with_a_way_to_staff(bot: BotHarness) -> None:
    await register(bot, CITIZEN)
    await to_nik_step(bot, OTHER)
    replies = await bot.send(OTHER, NIK)
    refusal = last(replies)
    assert "akun lain" in refusal.text and NIK not in refusal.text
    assert refusal.button("petugas") == "m:contact"
    assert stores_of(bot).registrations.get_by_user(OTHER) is None
    assert len(bot.emu.calls_for("deleteMessage")) == 2, "the NIK left the chat anyway"


async def test_registering_again_updates_the_same_registration(bot: BotHarness) -> None:
    first = await register(bot, CITIZEN)
    reg_no = re.search(r"SRG-\d{4}-\d{6}", first.text)
    assert reg_no is not None
    [again] = await bot.send(CITIZEN, "/daftar")
    assert reg_no.group() in again.text, "the citizen is told the number stays"
    assert again.text.endswith(text_of("reg_ask_name")), "consent is not asked twice"
    await bot.send(CITIZEN, "Siti Aminah")
    await bot.send(CITIZEN, NIK)
    kecamatan = last(await bot.send(CITIZEN, "081298765432"))
    kelurahan = last(await bot.press(CITIZEN, kecamatan, "Cipocok Jaya"))
    programmes = last(await bot.press(CITIZEN, kelurahan, "Karundang"))
    assert programmes.buttons[0][0].startswith("✅"), "earlier choices are preselected"
    training = last(await bot.press(CITIZEN, programmes, "Lanjut"))
    email = last(await bot.press(CITIZEN, training, "bersedia"))
    summary = last(await bot.press(CITIZEN, email, "Lewati"))
    updated = last(await bot.press(CITIZEN, summary, "Kirim"))
    assert updated.text == text_of("reg_updated", reg_no=reg_no.group())

    repo = stores_of(bot).registrations
    record = repo.get_by_user(CITIZEN)
    assert record is not None and record["reg_no"] == reg_no.group() and len(repo) == 1
    assert record["phone"] == "+6281298765432"
    assert [h["change"] for h in record["history"]] == ["created", "updated"]
    assert "phone" in record["history"][-1]["fields"]


# -- validation -----------------------------------------------------------------------------


async def test_invalid_niks_are_asked_again_with_the_reason(bot: BotHarness) -> None:
    await to_nik_step(bot, CITIZEN)
    cases = {
        "3673013002990001": "date",  # 30 February
        "3673014101990000": "serial",
        "3673O1410199OOO1": "not_digits",  # letters O for zeros
        "367301410199": "length",
        "9973014101990001": "province",
        "3673010113990001": "month",
    }
    for typed, code in cases.items():
        replies = await bot.send(CITIZEN, typed)
        assert replies[-1].text == text_of("reg_invalid", error=nik_error_text(code, "id"))
    assert len(bot.emu.calls_for("deleteMessage")) == len(cases)
    assert stores_of(bot).registrations.get_by_user(CITIZEN) is None
    prompt = last(await bot.send(CITIZEN, NIK))
    assert MASKED in prompt.text


async def test_invalid_phones_are_asked_again_with_the_reason(bot: BotHarness) -> None:
    await to_phone_step(bot, CITIZEN)
    for typed, code in {
        "(0254) 200123": "landline",
        "0812 345": "too_short",
        "nomor saya 08a": "not_digits",
    }.items():
        [error] = await bot.send(CITIZEN, typed)
        assert error.text == text_of("reg_invalid", error=phone_error_text(code, "id"))
        assert error.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True


async def test_shared_contact_is_accepted_only_when_it_is_ones_own(bot: BotHarness) -> None:
    await to_phone_step(bot, CITIZEN)
    update = bot.emu.send_contact(CITIZEN, "+6281111111111", contact_user_id=OTHER)
    await bot.processed(update["update_id"])
    assert bot.emu.last_message(CITIZEN)["text"].startswith("⚠️")
    assert "orang lain" in bot.emu.last_message(CITIZEN)["text"]

    update = bot.emu.send_contact(CITIZEN, "6281234567890")
    await bot.processed(update["update_id"])
    assert bot.emu.reply_keyboard(CITIZEN) is None
    sent = [m["text"] for m in bot.emu.sent_to(CITIZEN)[-2:]]
    assert sent[0] == text_of("reg_phone_ok", phone="+62 812-3456-7890")
    assert sent[1].startswith("Langkah 4."), "then the kecamatan question"


async def test_a_nik_outside_kota_serang_asks_about_domicile(bot: BotHarness) -> None:
    await to_nik_step(bot, CITIZEN)
    question = last(await bot.send(CITIZEN, "3604011708950002"))  # Kabupaten Serang, a man
    assert "3604********0002" in question.text
    assert text_of("reg_ask_domicile") in question.text
    phone = last(await bot.press(CITIZEN, question, "Tidak"))
    assert text_of("reg_domicile_no") in phone.text
    programmes = last(await bot.send(CITIZEN, PHONE))
    assert programmes.text == text_of("reg_ask_programmes"), "no kecamatan outside the city"
    programmes = last(await bot.press(CITIZEN, programmes, "Jepang"))
    training = last(await bot.press(CITIZEN, programmes, "Lanjut"))
    email = last(await bot.press(CITIZEN, training, "Belum"))
    summary = last(await bot.press(CITIZEN, email, "Lewati"))
    assert text_of("reg_wilayah_outside") in summary.text
    await bot.press(CITIZEN, summary, "Kirim")
    record = stores_of(bot).registrations.get_by_user(CITIZEN)
    assert record is not None
    assert (record["domicile_confirmed"], record["kecamatan"], record["training_willing"]) == (
        False,
        None,
        False,
    )


async def test_nik_disagreeing_with_the_questionnaire_asks_which_is_right(
    bot: BotHarness,
) -> None:
    answers = {"birth_date": "1998-05-05", "sex": "male", "programmes": ["scholarship"]}
    result = {"eps_korea": "eligible"}
    stores_of(bot).screenings.save(CITIZEN, answers, result, True)
    await to_nik_step(bot, CITIZEN)
    question = last(await bot.send(CITIZEN, NIK))
    assert "01-01-1999" in question.text and "05-05-1998" in question.text
    assert "perempuan" in question.text and "laki-laki" in question.text
    again = last(await bot.press(CITIZEN, question, "salah ketik"))
    assert again.text == text_of("reg_ask_nik")

    question = last(await bot.send(CITIZEN, NIK))
    phone = last(await bot.press(CITIZEN, question, "NIK saya benar"))
    assert text_of("reg_ask_phone") in phone.text
    summary = await after_phone(bot, CITIZEN)
    assert "Beasiswa" in summary.text, "programmes come preselected from the questionnaire"
    await bot.press(CITIZEN, summary, "Kirim")
    record = stores_of(bot).registrations.get_by_user(CITIZEN)
    assert record is not None and record["screening"] == {"eps_korea": "eligible"}


# -- consent, cancel, restart, stale buttons --------------------------------------------------


async def test_declining_consent_stores_nothing(bot: BotHarness) -> None:
    [consent] = await bot.send(CITIZEN, "/daftar")
    declined = last(await bot.press(CITIZEN, consent, "Tidak setuju"))
    assert declined.text == text_of("reg_declined")
    assert declined.button("Menu") == "m:home"
    stores = stores_of(bot)
    assert stores.consents.history(CITIZEN) == []
    assert stores.registrations.get_by_user(CITIZEN) is None
    assert stores.kv.items("ptb_user_data") == []
    [answer] = await bot.send(CITIZEN, "Siti Aminah")
    assert answer.text != text_of("reg_ask_nik"), "the flow is over: text is a question again"


async def test_cancel_during_the_flow_and_outside(bot: BotHarness) -> None:
    await to_phone_step(bot, CITIZEN)
    [cancelled] = await bot.send(CITIZEN, "/batal")
    assert cancelled.text == text_of("reg_cancelled")
    assert bot.emu.reply_keyboard(CITIZEN) is None
    [nothing] = await bot.send(CITIZEN, "/batal")
    assert nothing.text == text_of("reg_cancel_nothing")
    assert stores_of(bot).registrations.get_by_user(CITIZEN) is None


async def test_the_flow_survives_a_restart(bot: BotHarness) -> None:
    await to_nik_step(bot, CITIZEN)
    await bot.restart()
    prompt = last(await bot.send(CITIZEN, NIK))
    assert MASKED in prompt.text


async def test_buttons_of_a_cancelled_flow_are_stale(bot: BotHarness) -> None:
    [consent] = await bot.send(CITIZEN, "/daftar")
    await bot.press(CITIZEN, consent, "Setuju")
    pressed = bot.emu.message(CITIZEN, consent.message_id or 0)
    assert pressed is not None and bot.emu.buttons(pressed) == [], "the notice lost its buttons"
    await bot.send(CITIZEN, "Siti Aminah")
    await bot.send(CITIZEN, NIK)
    summary = await after_phone(bot, CITIZEN)
    await bot.send(CITIZEN, "/batal")
    update = bot.emu.press(CITIZEN, summary.message_id or 0, "reg:send")
    await bot.processed(update["update_id"])
    answered = bot.emu.callback_answer(update["callback_query"]["id"])
    assert answered is not None and answered["show_alert"] is True
    assert answered["text"] == TEXTS.get("stale_button", "id")
    assert stores_of(bot).registrations.get_by_user(CITIZEN) is None


# -- pure helpers ---------------------------------------------------------------------------


def test_question_detection_and_names() -> None:
    assert looks_like_question("syaratnya apa?")
    assert looks_like_question("berapa biayanya")
    assert not looks_like_question("Siti Aminah")
    assert clean_name("  siti   aminah ") == "siti aminah"
    assert clean_name("\u3164\u3164") is None, "two Hangul fillers are not a name"
    assert clean_name("Si\u200bti A") == "Siti A", "invisible characters do not count"
    assert clean_name("M. Rizki Nur'aini-Putra") == "M. Rizki Nur'aini-Putra"
    for bad in ("3673014101990001", "A", "<b>x</b>", "Siti 2"):
        assert clean_name(bad) is None


def test_screening_outcomes_and_flow_steps() -> None:
    assert screening_outcomes({"eps_korea": "eligible"}) == {"eps_korea": "eligible"}
    assert screening_outcomes({"outcomes": {"ssw_japan": "not_eligible"}, "consent": True}) == {
        "ssw_japan": "not_eligible"
    }
    assert screening_outcomes(None) is None and screening_outcomes({"x": 1}) is None
    flow = Flow(done=["consent", "name"])
    assert flow.pending() == "nik"
    flow.complete("nik", nik="3604011708950002")
    assert flow.pending() == "domicile"
    flow.complete("domicile", domicile_confirmed=False)
    flow.complete("phone", phone=E164)
    assert flow.pending() == "programmes", "no kecamatan for someone living elsewhere"


# -- minors (UU PDP Pasal 25) -------------------------------------------------------------------

MINOR_NIK = "3673010103100001"  # born 1 March 2010: 16 in December 2026


async def minor_at_programmes(bot: BotHarness) -> Reply:
    await to_nik_step(bot, CITIZEN, name="Budi Santoso")
    nik_ok = last(await bot.send(CITIZEN, MINOR_NIK))
    assert "persetujuan orang tua atau wali" in nik_ok.text, "said before anything else"
    kecamatan = last(await bot.send(CITIZEN, PHONE))
    kelurahan = last(await bot.press(CITIZEN, kecamatan, "Cipocok Jaya"))
    return last(await bot.press(CITIZEN, kelurahan, "Karundang"))


async def test_a_minor_cannot_register_for_work_and_nothing_is_stored(bot: BotHarness) -> None:
    programmes = await minor_at_programmes(bot)
    programmes = last(await bot.press(CITIZEN, programmes, "Korea"))
    ended = last(await bot.press(CITIZEN, programmes, "Lanjut"))
    assert "18 tahun" in ended.text and "1 Maret 2028" in ended.text, "when they can"
    assert "sub:on" in {data for _, data in ended.buttons}, "an offer to subscribe"
    assert stores_of(bot).registrations.get_by_user(CITIZEN) is None
    assert bot.app is not None and "flow" not in bot.app.user_data.get(CITIZEN, {})


async def test_a_minors_scholarship_needs_a_guardians_consent(bot: BotHarness) -> None:
    programmes = await minor_at_programmes(bot)
    programmes = last(await bot.press(CITIZEN, programmes, "Beasiswa"))
    guardian = last(await bot.press(CITIZEN, programmes, "Lanjut"))
    assert "orang tua atau wali" in guardian.text and "nama lengkap" in guardian.text
    consent = last(await bot.send(CITIZEN, "Ahmad Santoso"))
    assert "Ahmad Santoso" in consent.text
    email = last(await bot.press(CITIZEN, consent, "ayahnya"))
    assert email.text == text_of("reg_ask_email"), "no LPK training question for a scholarship"
    summary = last(await bot.press(CITIZEN, email, "Lewati"))
    last(await bot.press(CITIZEN, summary, "Kirim"))
    record = stores_of(bot).registrations.get_by_user(CITIZEN)
    assert record is not None and record["programmes"] == ["scholarship"]
    guardian_consent = record["guardian_consent"]
    assert guardian_consent["name"] == "Ahmad Santoso"
    assert guardian_consent["relationship"] == "father" and guardian_consent["consent_version"]
    assert stores_of(bot).consents.current(CITIZEN, "guardian")["granted"] is True


async def test_a_guardian_who_declines_leaves_nothing(bot: BotHarness) -> None:
    programmes = await minor_at_programmes(bot)
    programmes = last(await bot.press(CITIZEN, programmes, "Beasiswa"))
    await bot.press(CITIZEN, programmes, "Lanjut")
    consent = last(await bot.send(CITIZEN, "Ahmad Santoso"))
    declined = last(await bot.press(CITIZEN, consent, "Tidak setuju"))
    assert "tidak menyimpan data" in declined.text and "1 Maret 2028" in declined.text
    assert stores_of(bot).registrations.get_by_user(CITIZEN) is None


async def test_a_nik_typed_at_the_phone_step_is_removed_and_called_a_nik(bot: BotHarness) -> None:
    await to_phone_step(bot, CITIZEN)
    since = len(bot.emu.calls)
    told = last(await bot.send(CITIZEN, "3673014101990001"))
    assert "NIK" in told.text and "rumah/kantor" not in told.text
    assert any(c.method == "deleteMessage" and c.ok for c in bot.emu.calls[since:])
    [[share]] = told.params["reply_markup"]["keyboard"]
    assert share["request_contact"] is True, "the phone step is asked again, its button with it"
    kecamatan = last(await bot.send(CITIZEN, PHONE))
    assert "Cipocok Jaya" in str(kecamatan.buttons), "then the phone is taken as usual"

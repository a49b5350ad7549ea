"""Transcripts of the eligibility questionnaire through the emulator: the happy path, bad input,
Back, cancel, edits from the review, declined consent, restarts and stale buttons."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bot.i18n import Texts
from bot.persistence import StorePersistence
from bot.validation import callback_data_problems
from screening.engine import Engine
from store import AsyncStores
from tests.emulator import BotAPIEmulator
from tests.harness import BotHarness, Reply, make_config

CITIZEN = 6101
TEXTS = Texts.load()
ENGINE = Engine.default()
STEP = re.compile(r"^scr:(?:a|t|done|back):([a-z_0-9]+)")


@dataclass(frozen=True)
class Typed:
    """An answer the citizen types instead of tapping."""

    text: str


# The Korea (EPS) profile that meets every initial requirement, in asking order.
KOREA_ELIGIBLE: list[tuple[str, Any]] = [
    ("programmes", ["korea_work"]),
    ("domicile", True),
    ("kecamatan", "serang"),
    ("birth_date", Typed("10-05-1998")),
    ("education", "sma"),
    ("korean_level", "eps_topik"),
    ("eps_topik_score", Typed("150")),
    ("experience_fields", ["manufacturing"]),
    ("experience_years", Typed("2")),
    ("certificates", ["none"]),
    ("been_to_korea", False),
    ("lpk_willing", True),
]
KOREA_HEALTH: list[tuple[str, Any]] = [
    ("color_blind", False),
    ("tb_history", False),
    ("hepatitis", False),
    ("syphilis_hiv", False),
    ("chronic_illness", False),
    ("fingers_complete", True),
    ("imprisoned", False),
]
SENSITIVE = {q.id for q in ENGINE.questionnaire.questions if q.sensitive}


def step_of(reply: Reply) -> str:
    """The step a questionnaire screen shows, read from its buttons' callback data."""
    for _, data in reply.buttons:
        if data.startswith("scr:cons:"):
            return "consent"
        if data in ("scr:ok", "scr:back:review"):
            return "review"
        match = STEP.match(data)
        if match:
            return match.group(1)
    raise AssertionError(f"not a questionnaire screen: {reply.text[:80]!r} {reply.buttons}")


async def press(bot: BotHarness, reply: Reply, data: str, user: int = CITIZEN) -> Reply:
    """Press the button with callback ``data`` on ``reply``; the bot's last reply."""
    assert data in [d for _, d in reply.buttons], f"{data!r} not in {reply.buttons}"
    assert reply.message_id is not None
    replies = await bot.press(user, reply.message_id, data)
    assert replies, f"no reply to {data!r}"
    return replies[-1]


async def type_text(bot: BotHarness, text: str, user: int = CITIZEN) -> Reply:
    replies = await bot.send(user, text)
    assert replies, f"no reply to {text!r}"
    return replies[-1]


async def walk(
    bot: BotHarness, screen: Reply, steps: list[tuple[str, Any]], user: int = CITIZEN
) -> Reply:
    """Answer ``steps`` in order, checking each is the question the bot shows."""
    for question_id, value in steps:
        assert step_of(screen) == question_id, screen.text
        if isinstance(value, Typed):
            screen = await type_text(bot, value.text, user)
        elif isinstance(value, bool):
            screen = await press(bot, screen, f"scr:a:{question_id}:{'y' if value else 'n'}", user)
        elif isinstance(value, list):
            for choice in value:
                screen = await press(bot, screen, f"scr:t:{question_id}:{choice}", user)
                ticked = {data: label for label, data in screen.buttons}
                assert ticked[f"scr:t:{question_id}:{choice}"].startswith("✅")
            screen = await press(bot, screen, f"scr:done:{question_id}", user)
        else:
            screen = await press(bot, screen, f"scr:a:{question_id}:{value}", user)
    return screen


def stores(bot: BotHarness) -> Any:
    assert bot.app is not None
    return bot.app.bot_data["services"].stores


async def begin(bot: BotHarness, user: int = CITIZEN) -> Reply:
    [first] = await bot.send(user, "/cekkelayakan")
    assert step_of(first) == "programmes"
    return first


# -- the happy path --------------------------------------------------------------------------


async def test_korea_happy_path_is_eligible_and_saved(bot: BotHarness) -> None:
    [menu] = await bot.send(CITIZEN, "/start")
    first = await press(bot, menu, "scr:start")
    assert first.method == "editMessageText"  # the menu turns into the first question
    assert "Cek kelayakan awal" in first.text and "Pertanyaan 1 " in first.text
    assert not any(d.startswith("scr:back") for _, d in first.buttons)

    screen = await walk(bot, first, KOREA_ELIGIBLE[:3])
    assert "Pertanyaan 4 " in screen.text and "17-08-2001" in screen.text  # progress, hint
    screen = await walk(bot, screen, KOREA_ELIGIBLE[3:])

    assert step_of(screen) == "consent"
    assert "UU No. 27/2022" in screen.text and "730 hari" in screen.text
    screen = await press(bot, screen, "scr:cons:y")
    screen = await walk(bot, screen, KOREA_HEALTH)

    assert step_of(screen) == "review"
    assert "Periksa jawaban Anda" in screen.text
    assert "10 Mei 1998" in screen.text and "Manufaktur / pabrik" in screen.text
    assert "Persetujuan data kesehatan dan hukum: <b>Setuju</b>" in screen.text
    answers = [line for line in screen.text.splitlines() if " → <b>" in line]
    assert answers and all(len(line) <= 110 for line in answers), "one short line per answer"
    result = await press(bot, screen, "scr:ok")
    assert "Kerja di Korea (EPS): Memenuhi syarat awal" in result.text
    assert "indikasi awal" in result.text and "Langkah berikutnya" in result.text
    assert {d for _, d in result.buttons} >= {"reg:start", "m:ask", "m:home", "scr:start"}

    saved = stores(bot).screenings.get(CITIZEN)
    assert saved["result"] == {"eps_korea": "eligible"} and saved["consent"] is True
    assert saved["answers"]["birth_date"] == "1998-05-10"
    assert saved["answers"]["programmes"] == ["korea_work"]
    assert saved["answers"]["imprisoned"] is False
    consent = stores(bot).consents.current(CITIZEN, "screening")
    assert consent["granted"] is True and consent["version"] == ENGINE.consent.version
    # The finished session is forgotten; the next /cekkelayakan starts afresh.
    assert stores(bot).kv.get("ptb_user_data", str(CITIZEN)) is None
    home = await press(bot, result, "m:home")
    assert "scr:start" in {data for _, data in home.buttons}
    await begin(bot)


async def test_result_buttons_lead_on(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), [("programmes", ["scholarship"])])
    screen = await walk(
        bot,
        screen,
        [
            ("domicile", False),
            ("birth_date", Typed("14 September 2008")),
            ("education", "smp"),
            ("school_level", "sma_final"),
            ("grade_average", Typed("88")),
            ("english_level", "intermediate"),
        ],
    )
    assert step_of(screen) == "review" and "Persetujuan" not in screen.text  # nothing sensitive
    result = await press(bot, screen, "scr:ok")
    assert "GKS" in result.text
    assert stores(bot).screenings.get(CITIZEN)["answers"]["birth_date"] == "2008-09-14"

    ask = await press(bot, result, "m:ask")
    assert "ketik pertanyaan" in ask.text.lower()
    again = await press(bot, result, "scr:start")  # the result turns into a fresh questionnaire
    assert step_of(again) == "programmes"


# -- validation, Back, cancel, questions typed mid-way ------------------------------------


async def test_invalid_typed_answers_are_asked_again_with_the_format(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE[:3])
    assert step_of(screen) == "birth_date"

    for typed, expected in (
        ("kemarin sore", "Tulis tanggal-bulan-tahun"),
        ("31-02-2001", "tidak ada di kalender"),
        ("17-08-01", "4 angka"),
        ("17-08-2099", "belum terjadi"),
    ):
        screen = await type_text(bot, typed)
        assert expected in screen.text, screen.text
        assert step_of(screen) == "birth_date" and "⚠️" in screen.text

    screen = await walk(bot, screen, KOREA_ELIGIBLE[3:6])
    assert step_of(screen) == "eps_topik_score"
    screen = await type_text(bot, "250")
    assert "antara 0 dan 200" in screen.text and step_of(screen) == "eps_topik_score"
    screen = await type_text(bot, "seratus")
    assert "Tulis angka saja" in screen.text
    screen = await type_text(bot, "150,5")
    assert "angka bulat" in screen.text
    screen = await type_text(bot, "150")
    assert step_of(screen) == "experience_fields"

    # "Selesai" with nothing ticked: an alert says what is expected, the screen stays.
    before = len(bot.emu.calls)
    replies = await bot.press(CITIZEN, screen.message_id or 0, "scr:done:experience_fields")
    assert replies == []
    [alert] = [c for c in bot.emu.calls[before:] if c.method == "answerCallbackQuery"]
    assert alert.params["show_alert"] is True and "minimal 1" in alert.params["text"]


async def test_back_returns_to_the_previous_answer_and_prunes(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE[:3])
    screen = await press(bot, screen, "scr:back:birth_date")
    assert step_of(screen) == "kecamatan" and "Jawaban Anda sekarang: <b>Serang</b>" in screen.text
    screen = await press(bot, screen, "scr:back:kecamatan")
    assert step_of(screen) == "domicile" and "Jawaban Anda sekarang: <b>Ya</b>" in screen.text
    # Not living in Kota Serang after all: the kecamatan question and its answer are dropped.
    screen = await walk(bot, screen, [("domicile", False)])
    assert step_of(screen) == "birth_date" and "Pertanyaan 3 " in screen.text
    session = stores(bot).kv.get("ptb_user_data", str(CITIZEN))["flow"]["state"]
    assert "kecamatan" not in session["answers"] and session["answers"]["domicile"] is False

    screen = await press(bot, screen, "scr:back:birth_date")
    assert step_of(screen) == "domicile"
    screen = await press(bot, screen, "scr:back:domicile")
    assert step_of(screen) == "programmes"
    ticked = {data: label for label, data in screen.buttons}
    assert ticked["scr:t:programmes:korea_work"].startswith("✅")  # the earlier ticks are kept
    # Confirming again goes on with the first question not answered yet.
    screen = await press(bot, screen, "scr:done:programmes")
    assert step_of(screen) == "birth_date"


async def test_cancel_forgets_the_answers(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE[:3])
    assert step_of(screen) == "birth_date"
    [confirm] = await bot.send(CITIZEN, "/batal")
    assert "3 jawaban Anda akan dihapus" in confirm.text, "one tap never deletes the answers"
    kept = await press(bot, confirm, "scr:resume:birth_date")
    assert step_of(kept) == "birth_date", "Lanjutkan: back where the citizen was"
    [confirm] = await bot.send(CITIZEN, "/batal")
    cancelled = await press(bot, confirm, "scr:xy")
    assert "dibatalkan" in cancelled.text
    assert stores(bot).kv.get("ptb_user_data", str(CITIZEN)) is None
    first = await begin(bot)
    assert "Pertanyaan 1 " in first.text
    assert not any(label.startswith("✅") for label, _ in first.buttons)

    # The Cancel button does the same.
    screen = await walk(bot, first, KOREA_ELIGIBLE[:1])
    asked = await press(bot, screen, "scr:x")
    cancelled_by_button = await press(bot, asked, "scr:xy")
    assert "dibatalkan" in cancelled_by_button.text
    assert stores(bot).screenings.get(CITIZEN) is None  # nothing finished, nothing saved


async def test_question_typed_midway_is_answered_and_the_place_kept(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE[:4])
    assert step_of(screen) == "education"
    replies = await bot.send(CITIZEN, "brp umur maksimal buat daftar ke korea?")
    assert len(replies) == 2
    faq_answer, back = replies
    assert "Sumber" in faq_answer.text and "39" in faq_answer.text
    assert "Lanjutkan cek kelayakan" in back.text and step_of(back) == "education"

    # A typed choice is taken as the answer; a typed question at a date/number step too.
    screen = await type_text(bot, "SMA")
    assert step_of(screen) == "korean_level"
    screen = await walk(bot, screen, [("korean_level", "eps_topik")])
    replies = await bot.send(CITIZEN, "nilai lulus eps topik berapa?")
    assert "Sumber" in replies[0].text and step_of(replies[-1]) == "eps_topik_score"


# -- review and edits, consent ------------------------------------------------------------


async def test_edit_from_the_review_screen(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE)
    screen = await press(bot, screen, "scr:cons:y")
    screen = await walk(bot, screen, KOREA_HEALTH)
    assert step_of(screen) == "review" and "10 Mei 1998" in screen.text

    edit = await press(bot, screen, "scr:edit:birth_date")
    assert (
        step_of(edit) == "birth_date" and "Jawaban Anda sekarang: <b>10 Mei 1998</b>" in edit.text
    )
    review = await type_text(bot, "1 Januari 1999")
    assert step_of(review) == "review"
    assert "1 Januari 1999" in review.text and "10 Mei 1998" not in review.text

    # Editing a choice that opens a new question asks it before the review comes back.
    edit = await press(bot, review, "scr:edit:tb_history")
    screen = await walk(bot, edit, [("tb_history", True), ("tb_treated", True)])
    assert step_of(screen) == "review"
    back = await press(bot, screen, "scr:back:review")
    assert step_of(back) == "imprisoned"
    screen = await walk(bot, back, [("imprisoned", False)])

    # Withdrawing consent from the review drops every sensitive answer.
    consent = await press(bot, screen, "scr:edit:consent")
    assert step_of(consent) == "consent"
    review = await press(bot, consent, "scr:cons:n")
    assert step_of(review) == "review" and "dilewati" in review.text
    assert "Buta warna" not in review.text
    result = await press(bot, review, "scr:ok")
    assert "Tidak dinilai karena Anda memilih" in result.text
    saved = stores(bot).screenings.get(CITIZEN)
    assert saved["answers"] is None and saved["consent"] is False
    assert [c["granted"] for c in stores(bot).consents.history(CITIZEN)] == [True, False]


async def test_declined_consent_stores_no_sensitive_answer(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE)
    assert step_of(screen) == "consent"
    review = await press(bot, screen, "scr:cons:n")
    assert "pertanyaan kesehatan dan catatan hukum dilewati" in review.text
    assert step_of(review) == "review"
    assert "Persetujuan data kesehatan dan hukum: <b>Tidak setuju</b>" in review.text
    persisted = stores(bot).kv.get("ptb_user_data", str(CITIZEN))["flow"]["state"]
    assert persisted["consent"] is False and not SENSITIVE & set(persisted["answers"])

    result = await press(bot, review, "scr:ok")
    assert "Tidak dinilai karena Anda memilih" in result.text  # health not assessed
    saved = stores(bot).screenings.get(CITIZEN)
    assert saved["consent"] is False and saved["answers"] is None
    assert saved["result"] == {"eps_korea": "needs_medical_check"}  # health was not assessed
    consent = stores(bot).consents.current(CITIZEN, "screening")
    assert consent["granted"] is False and consent["version"] == ENGINE.consent.version
    assert stores(bot).kv.get("ptb_user_data", str(CITIZEN)) is None
    # The offer to pre-register is answered (by the registration flow).
    await bot.press(CITIZEN, result.message_id or 0, "reg:start")


async def test_consent_can_be_typed_and_back_from_the_consent_screen(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE)
    back = await press(bot, screen, "scr:back:consent")
    assert step_of(back) == "lpk_willing"
    screen = await walk(bot, back, [("lpk_willing", True)])
    screen = await type_text(bot, "setuju")
    assert step_of(screen) == "color_blind"
    assert stores(bot).consents.current(CITIZEN, "screening")["granted"] is True
    back = await press(bot, screen, "scr:back:color_blind")
    assert step_of(back) == "consent"


# -- restarts and stale buttons -------------------------------------------------------------


async def test_restart_in_the_middle_continues_at_the_same_question(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE[:5])
    assert step_of(screen) == "korean_level"
    await bot.restart()
    # The button of the screen shown before the restart still works.
    screen = await walk(bot, screen, KOREA_ELIGIBLE[5:7])
    assert step_of(screen) == "experience_fields"
    screen = await press(bot, screen, "scr:t:experience_fields:fishery")
    await bot.restart()
    # A typed answer after a restart is read as the answer to the current question.
    screen = await type_text(bot, "pabrik")
    assert step_of(screen) == "experience_years"
    screen = await walk(bot, screen, KOREA_ELIGIBLE[8:])
    screen = await press(bot, screen, "scr:cons:y")
    screen = await walk(bot, screen, KOREA_HEALTH)
    result = await press(bot, screen, "scr:ok")
    assert "Memenuhi syarat awal" in result.text
    assert stores(bot).screenings.get(CITIZEN)["answers"]["experience_fields"] == ["manufacturing"]


async def test_stale_buttons_after_a_restart_are_answered(bot: BotHarness) -> None:
    first = await begin(bot)
    # Typing the answer leaves the first screen's buttons in the chat.
    screen = await type_text(bot, "korea")
    assert step_of(screen) == "domicile"
    await bot.restart()

    before = len(bot.emu.calls)
    replies = await bot.press(CITIZEN, first.message_id or 0, "scr:t:programmes:japan_work")
    answers = [c for c in bot.emu.calls[before:] if c.method == "answerCallbackQuery"]
    assert answers[0].params["text"] == TEXTS.get("scr_passed", "id")
    [current] = replies
    assert step_of(current) == "domicile" and current.method == "sendMessage"

    # After a cancel, an old button says the session has ended and offers a fresh start.
    [confirm] = await bot.send(CITIZEN, "/batal")
    await press(bot, confirm, "scr:xy")
    await bot.restart()
    [expired] = await bot.press(CITIZEN, current.message_id or 0, "scr:a:domicile:y")
    assert "sudah berakhir" in expired.text
    restarted = await press(bot, expired, "scr:start")
    assert step_of(restarted) == "programmes"


async def test_cekkelayakan_in_the_middle_resumes(bot: BotHarness) -> None:
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE[:2])
    [resumed] = await bot.send(CITIZEN, "/cekkelayakan")
    assert "kita lanjutkan" in resumed.text.lower() and step_of(resumed) == "kecamatan"
    assert step_of(screen) == "kecamatan"


async def test_english_and_citizens_do_not_share_sessions(bot: BotHarness) -> None:
    other = CITIZEN + 1
    [english] = await bot.send(other, "/cekkelayakan", language_code="en")
    assert "Question 1 " in english.text and "Which programmes" in english.text
    mine = await walk(bot, await begin(bot), KOREA_ELIGIBLE[:2])
    assert step_of(mine) == "kecamatan"
    theirs = await walk(bot, english, [("programmes", ["japan_work"])], user=other)
    assert step_of(theirs) == "domicile"
    assert [label for label, _ in theirs.buttons[:2]] == ["Yes", "No"]


async def test_every_step_is_on_disk_before_the_reply(
    bot: BotHarness, emu: BotAPIEmulator, data_dir: Path
) -> None:
    """What a kill -9 leaves behind: a copy of the data files taken while the bot runs."""
    screen = await walk(bot, await begin(bot), KOREA_ELIGIBLE[:4])
    assert step_of(screen) == "education"
    crashed = data_dir.parent / "crashed"
    shutil.copytree(data_dir, crashed)
    assert {f.stat().st_mode & 0o777 for f in crashed.glob("kv.*")} == {0o600}
    await bot.stop()

    revived = BotHarness(emu, make_config(emu, crashed))
    await revived.start()
    try:
        [message] = [m for m in emu.sent_to(CITIZEN) if m["message_id"] == screen.message_id]
        assert "scr:a:education:sma" in {data for _, data in emu.buttons(message)}
        screen = await walk(revived, screen, KOREA_ELIGIBLE[4:6])
        assert step_of(screen) == "eps_topik_score"
        session = revived.app.bot_data["services"].stores.kv.get(  # type: ignore[union-attr]
            "ptb_user_data", str(CITIZEN)
        )["flow"]["state"]
        assert session["answers"]["birth_date"] == "1998-05-10"
    finally:
        await revived.stop()


# -- the persistence itself ------------------------------------------------------------------


async def test_store_persistence_round_trip(tmp_path: Path) -> None:
    db = await AsyncStores.open(tmp_path / "data")

    async def opened() -> AsyncStores:
        return db

    try:
        persistence = StorePersistence(opened)
        await persistence.update_user_data(1, {"screening": {"step": "sex"}})
        await persistence.update_user_data(2, {})  # nothing to keep: nothing written
        await persistence.update_chat_data(-5, {"k": [1, 2]})
        await persistence.update_conversation("screening", (1, 1), 1)
        await persistence.update_conversation("screening", (2, 2), 1)
        await persistence.update_conversation("screening", (2, 2), None)  # ended
        with pytest.raises(TypeError, match="JSON"):
            await persistence.update_user_data(3, {"when": object()})

        again = StorePersistence(opened)
        assert await again.get_user_data() == {1: {"screening": {"step": "sex"}}}
        assert await again.get_chat_data() == {-5: {"k": [1, 2]}}
        assert await again.get_conversations("screening") == {(1, 1): 1}
        assert await again.get_conversations("registration") == {}
        assert await again.get_bot_data() == {} and await again.get_callback_data() is None
        await again.drop_user_data(1)
        await again.drop_chat_data(-5)
        assert db.stores.kv.items("ptb_user_data") == []
        assert db.stores.kv.items("ptb_chat_data") == []
    finally:
        await db.aclose()


def test_questionnaire_buttons_fit_telegram() -> None:
    assert callback_data_problems() == []
    long_id = "q" * 60
    question = replace(ENGINE.questionnaire.questions[0], id=long_id)
    questionnaire = replace(ENGINE.questionnaire, questions=(question,))
    engine = Engine(questionnaire, ENGINE.rules)
    problems = callback_data_problems(engine)
    assert problems and all(long_id in problem for problem in problems)

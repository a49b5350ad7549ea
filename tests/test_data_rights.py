"""Citizens' data rights: /dataku, corrections, withdrawing consent, /hapusdata, retention."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import cli
from bot.handlers.data_rights import WITHDRAWN_REASON
from bot.i18n import Texts
from screening.identity import phone_error_text
from store import Stores
from tests.emulator import BotAPIEmulator
from tests.harness import REPO, BotHarness, make_config, texts_of
from tests.test_registration import CITIZEN, NIK, last, register, stores_of, text_of

TEXTS = Texts.load()
ANSWERS = {"birth_date": "1999-01-01", "sex": "female", "programmes": ["korea_work"]}
RESULT = {"eps_korea": "needs_medical_check"}


async def test_nothing_stored_says_so(bot: BotHarness) -> None:
    [mine] = await bot.send(CITIZEN, "/dataku")
    assert mine.text == text_of("data_nothing")


async def test_my_data_shows_everything_masked(bot: BotHarness) -> None:
    stores_of(bot).screenings.save(CITIZEN, ANSWERS, RESULT, True)
    stores_of(bot).consents.record(CITIZEN, "screening", "2026-01", True)
    done = await register(bot, CITIZEN)
    reg_no = re.search(r"SRG-\d{4}-\d{6}", done.text)
    assert reg_no is not None

    [mine] = await bot.send(CITIZEN, "/dataku")
    text = mine.text
    assert reg_no.group() in text and "Siti Aminah" in text
    assert "3673********0001" in text and NIK not in text
    assert "+62 812****7890" in text and "3456" not in text
    assert "Perlu pemeriksaan kesehatan" in text, "the screening outcome, by name"
    assert "pra-registrasi: setuju (versi 2026-01" in text
    assert "data kesehatan dan catatan hukum" in text
    assert text_of("data_subscription", state=TEXTS.get("data_not_subscribed", "id")) in text
    assert re.search(r"\d\d-\d\d-\d{4} \d\d:\d\d", text), "dates in the local time zone"
    assert mine.button("Nomor HP") == "data:fix:phone"
    assert mine.button("Tarik") == "data:withdraw"
    assert mine.button("Hapus") == "data:delete"


async def test_my_answers_are_shown_sensitive_ones_behind_a_tap(bot: BotHarness) -> None:
    answers = {**ANSWERS, "tb_history": False}
    stores_of(bot).screenings.save(CITIZEN, answers, RESULT, True)
    [mine] = await bot.send(CITIZEN, "/dataku")
    assert "Jawaban umum yang disimpan: 3 jawaban" in mine.text
    assert "Jawaban kesehatan dan catatan hukum yang disimpan: 1 jawaban" in mine.text
    [general] = await bot.press(CITIZEN, mine, "Lihat jawaban saya")
    assert "01-01-1999" in general.text or "1999" in general.text
    assert "TBC" not in general.text, "health answers only after a second tap"
    [health] = await bot.press(CITIZEN, general, "kesehatan")
    assert "TBC" in health.text and "Tidak" in health.text


async def test_a_citizen_never_asked_health_questions_is_told_none(bot: BotHarness) -> None:
    stores_of(bot).screenings.save(CITIZEN, ANSWERS, RESULT, True)
    [mine] = await bot.send(CITIZEN, "/dataku")
    assert "Jawaban kesehatan dan catatan hukum yang disimpan: tidak ada" in mine.text


async def test_correcting_a_field_validates_and_saves_it(bot: BotHarness) -> None:
    await register(bot, CITIZEN)
    [mine] = await bot.send(CITIZEN, "/dataku")
    prompt = last(await bot.press(CITIZEN, mine, "Nomor HP"))
    assert text_of("reg_ask_phone") in prompt.text
    [error] = await bot.send(CITIZEN, "021 555 1234")
    assert error.text == text_of("reg_invalid", error=phone_error_text("landline", "id"))
    replies = await bot.send(CITIZEN, "0857 1111 2222")
    saved = last(replies)
    assert saved.text.startswith("✅") and saved.button("Data saya") == "data:view"
    assert bot.emu.reply_keyboard(CITIZEN) is None

    record = stores_of(bot).registrations.get_by_user(CITIZEN)
    assert record is not None and record["phone"] == "+6285711112222"
    assert record["history"][-1]["fields"] == ["phone"]
    view = last(await bot.press(CITIZEN, saved, "Data saya"))
    assert "+62 857****2222" in view.text

    prompt = last(await bot.press(CITIZEN, view, "Program"))
    prompt = last(await bot.press(CITIZEN, prompt, "Jepang"))
    saved = last(await bot.press(CITIZEN, prompt, "Lanjut"))
    assert saved.text.startswith("✅")
    record = stores_of(bot).registrations.get_by_user(CITIZEN)
    assert record is not None and record["programmes"] == ["korea_work", "japan_work"]


async def test_withdrawing_consent_stops_processing(bot: BotHarness) -> None:
    stores = stores_of(bot)
    stores.screenings.save(CITIZEN, ANSWERS, RESULT, True)
    stores.consents.record(CITIZEN, "screening", "2026-01", True)
    done = await register(bot, CITIZEN)
    reg_no = re.search(r"SRG-\d{4}-\d{6}", done.text)
    assert reg_no is not None
    [mine] = await bot.send(CITIZEN, "/dataku")
    confirm = last(await bot.press(CITIZEN, mine, "Tarik"))
    assert confirm.text == text_of("data_withdraw_confirm")
    withdrawn = last(await bot.press(CITIZEN, confirm, "Ya, tarik"))
    assert withdrawn.text == text_of("data_withdrawn_done")

    assert stores.consents.current(CITIZEN, "registration")["granted"] is False  # type: ignore[index]
    assert stores.consents.current(CITIZEN, "screening")["granted"] is False  # type: ignore[index]
    assert stores.registrations.get_by_user(CITIZEN) is None, "no longer an active lead"
    closed = stores.registrations.get(reg_no.group())
    assert closed is not None
    assert (closed["status"], closed["status_reason"]) == ("tidak_lanjut", WITHDRAWN_REASON)
    screening = stores.screenings.get(CITIZEN)
    assert screening is not None and screening["answers"] is None
    assert screening["result"] == RESULT

    [consent] = await bot.send(CITIZEN, "/daftar")
    assert consent.text == text_of("reg_consent", days=730), "consent is asked again"


async def test_delete_everything_then_nothing_is_left(bot: BotHarness) -> None:
    stores = stores_of(bot)
    stores.screenings.save(CITIZEN, ANSWERS, RESULT, True)
    stores.subscribers.subscribe(CITIZEN, CITIZEN, source="test")
    await register(bot, CITIZEN)
    await bot.send(CITIZEN, "/start")
    await bot.send(CITIZEN, "/daftar")  # registering again, half-way: state to forget
    assert last(await bot.send(CITIZEN, "Siti Aminah")).text == text_of("reg_ask_nik")

    [confirm] = await bot.send(CITIZEN, "/hapusdata")
    assert confirm.text == text_of("data_delete_confirm")
    deleted = last(await bot.press(CITIZEN, confirm, "Ya, hapus"))
    assert deleted.text == text_of("data_deleted")

    assert stores.registrations.get_by_user(CITIZEN) is None
    assert list(stores.registrations.iter_all()) == []
    assert stores.screenings.get(CITIZEN) is None
    assert stores.consents.history(CITIZEN) == []
    assert stores.subscribers.is_subscribed(CITIZEN) is False
    assert stores.users.get(CITIZEN) is None
    assert not [key for key, _ in stores.kv.items("ptb_user_data") if key == str(CITIZEN)]

    [mine] = await bot.send(CITIZEN, "/dataku")
    assert mine.text == text_of("data_nothing")
    replies = await bot.send(CITIZEN, NIK)
    assert "berisi nomor NIK" in texts_of(replies), "a NIK typed outside the flow leaves the chat"
    ok = text_of("reg_nik_ok", nik="3673********0001")
    assert all(ok not in r.text for r in replies), "the flow is gone"


def files_holding(data_dir: Path, needles: list[str]) -> dict[str, list[str]]:
    """Every file under ``data_dir`` and which of ``needles`` its bytes contain."""
    return {
        str(path.relative_to(data_dir)): [n for n in needles if n.encode() in path.read_bytes()]
        for path in data_dir.rglob("*")
        if path.is_file()
    }


async def test_after_hapusdata_no_file_holds_the_citizen(bot: BotHarness, data_dir: Path) -> None:
    """Through the real bot: register, ask a question, talk to staff, delete, stop the bot, then
    search every file under the data directory for the NIK, the phone and the name."""
    await register(bot, CITIZEN)
    await bot.send(CITIZEN, "Siti Aminah mau tanya resep rendang khas Serang")  # unanswered
    await bot.send(CITIZEN, "/daftar")
    await bot.send(CITIZEN, "Siti Aminah")  # a registration half-way: state with the name
    [confirm] = await bot.send(CITIZEN, "/hapusdata")
    assert last(await bot.press(CITIZEN, confirm, "Ya, hapus")).text == text_of("data_deleted")
    await bot.stop()

    found = files_holding(data_dir, [NIK, "81234567890", "Siti Aminah", "Aminah"])
    assert "registrations.journal" in found and "kv.journal" in found, sorted(found)
    assert {path: hits for path, hits in found.items() if hits} == {}, "erased means gone"


async def test_keeping_the_data_changes_nothing(bot: BotHarness) -> None:
    await register(bot, CITIZEN)
    [confirm] = await bot.send(CITIZEN, "/hapusdata")
    kept = last(await bot.press(CITIZEN, confirm, "Batal"))
    assert kept.text == text_of("data_kept")
    assert stores_of(bot).registrations.get_by_user(CITIZEN) is not None


# -- retention --------------------------------------------------------------------------------


def seed_old_and_new(data_dir: Path) -> None:
    """One registration and screening three years old, one from today."""
    old = datetime.now(UTC) - timedelta(days=3 * 365)
    with Stores.open(data_dir, clock=lambda: old) as stores:
        stores.registrations.save(1, 1, {"full_name": "Lama", "nik": NIK}, actor=1)
        stores.screenings.save(1, ANSWERS, RESULT, True)
    with Stores.open(data_dir) as stores:
        stores.registrations.save(2, 2, {"full_name": "Baru", "nik": "3673011708950002"}, actor=2)


@pytest.fixture
def cli_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("BOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BOT_CONFIG", str(REPO / "config.yaml"))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    yield data_dir


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(list(args))
    return code, out.getvalue()


def test_purge_cli(cli_env: Path, restored_logging: None) -> None:
    seed_old_and_new(cli_env)
    code, out = run_cli("purge", "--older-than", "400")
    assert code == 0
    assert "registrations_anonymised: 1" in out and "screenings: 1" in out
    assert "handoff: 0" in out  # closed conversations with staff go too
    with Stores.open(cli_env) as stores:
        [old, new] = sorted(stores.registrations.iter_all(), key=lambda r: r["created_at"])
        assert "nik" not in old and "full_name" not in old and "anonymised_at" in old
        assert new["full_name"] == "Baru"
        assert stores.screenings.get(1) is None

    code, out = run_cli("purge")  # the default: privacy.retention_days (730)
    assert code == 0 and "older than 730 days" in out and "registrations_anonymised: 0" in out


async def test_daily_purge_job(emu: BotAPIEmulator, data_dir: Path) -> None:
    seed_old_and_new(data_dir)
    bot = BotHarness(emu, make_config(emu, data_dir))
    await bot.start()
    try:
        assert bot.app is not None and bot.app.job_queue is not None
        [job] = bot.app.job_queue.get_jobs_by_name("retention-purge")
        await job.run(bot.app)
        stores = stores_of(bot)
        assert stores.screenings.get(1) is None
        assert [r for r in stores.registrations.iter_all() if "anonymised_at" in r]
        assert stores.registrations.get_by_user(2) is not None
    finally:
        await bot.stop()
    assert emu.rejected == []


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """``cli.main`` sets up logging for the process; give the suite its logging back."""
    import logging

    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)


async def test_a_correction_started_mid_questionnaire_gets_the_typed_answer(
    bot: BotHarness,
) -> None:
    await register(bot, CITIZEN)
    await bot.send(CITIZEN, "/cekkelayakan")  # a questionnaire waiting for answers
    [mine] = await bot.send(CITIZEN, "/dataku")
    prompt = last(await bot.press(CITIZEN, mine, "Nama"))
    assert prompt.text.endswith(text_of("reg_ask_name"))
    saved = last(await bot.send(CITIZEN, "Siti Rahmawati"))
    assert saved.text.startswith("✅"), "the questionnaire took the corrected name"
    record = stores_of(bot).registrations.get_by_user(CITIZEN)
    assert record is not None and record["full_name"] == "Siti Rahmawati"

"""Staff teach the bot through the emulator: an unanswered group attached to an entry (by the
matcher's candidates or a typed entry id) or marked off-topic, live at once and after a restart,
`python -m bot faq learned`; and the admins' programme status update on the status answers."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bot import teaching
from bot.teaching import LEARNED_KEY, NAMESPACE, STATUS_KEY
from faq.learning import Learned
from faq.model import load_knowledge_base
from faq.render import format_date
from store import clock
from tests.harness import BotHarness, Reply
from tests.test_cli import run_bot
from tests.test_staff_bot import (
    ADMIN,
    CITIZEN,
    STAFF,
    STAFF_ONLY,
    TEXTS,
    last_answer,
    reply_to,
    stores_of,
)

KB = load_knowledge_base()
FALLBACK = TEXTS.get("fallback", "id")
#: Sundanese for "how can I join the group going to the land of ginseng": no entry says it.
SUNDANESE = (
    "kumaha mun abdi hoyong ngiring ka nagara ginseng",
    "punten abdi hoyong ngiring ka nagara ginseng",
)
#: A soap actor's pay: answered with the EPS minimum wage until marked off-topic.
OFF_TOPIC = "gaji oppa drakor berapa per episode"


def _seed(bot: BotHarness, *questions: str, lang: str = "id") -> None:
    """Questions as the bot logs them when it falls back (masked, with their author)."""
    for n, text in enumerate(questions):
        stores_of(bot).unanswered.log(text, lang, user_id=CITIZEN + n)


def _learned(bot: BotHarness) -> dict[str, object] | None:
    value: dict[str, object] | None = stores_of(bot).kv.get(NAMESPACE, LEARNED_KEY)
    return value


async def _group_screen(bot: BotHarness, number: int = 1) -> Reply:
    [listing] = await bot.send(STAFF, "/pertanyaan")
    [screen] = await bot.press(STAFF, listing, f"🎓 {number}")
    assert screen.method == "editMessageText" and "Ajarkan ke bot" in screen.text
    return screen


async def test_a_group_attached_to_a_typed_entry_is_answered_at_once_and_after_restart(
    desk: BotHarness, data_dir: Path, tmp_path: Path
) -> None:
    _seed(desk, *SUNDANESE)
    _seed(desk, "apakah boleh bertato")  # another group, left as it is
    screen = await _group_screen(desk)
    assert all(text in screen.text for text in SUNDANESE)
    assert "2×" in screen.text and "bahasa Indonesia" in screen.text
    assert sum(label.startswith("➕") for label, _ in screen.buttons) == 3  # the candidates
    assert all(len(data.encode()) <= 64 for _, data in screen.buttons)

    [prompt] = await desk.press(STAFF, screen, "Entri lain")
    assert prompt.params["reply_markup"]["force_reply"] is True
    [done] = await reply_to(desk, STAFF, prompt, "register-city")
    assert "🎓 2 pertanyaan diajarkan" in done.text
    assert "1 pertanyaan dalam 1 kelompok" in done.text and "tato" in done.text

    entry = KB.by_id["register-city"]
    for question in SUNDANESE:  # the live matcher, no restart
        [answer] = await desk.send(CITIZEN, question)
        assert entry.question["id"] in answer.text and "Sumber" in answer.text
    [record] = [a for a in stores_of(desk).audit.list() if a["action"] == "faq_taught"]
    assert record["actor"] == STAFF and record["target"] == "faq:register-city"
    assert record["details"] == {"taught": 2, "questions": 2, "lang": "id", "unmet": 0}
    assert len(stores_of(desk).unanswered.all_open()) == 1

    # `faq learned` reads the store while the bot runs (without its lock).
    printed = run_bot("faq", "learned", env={"BOT_DATA_DIR": str(data_dir)}, tmp=tmp_path)
    assert printed.returncode == 0, printed.stderr
    learned = yaml.safe_load(printed.stdout)["learned"]
    assert sorted(learned["phrasings"]["register-city"]["id"]) == sorted(SUNDANESE)
    assert "2 taught question(s)" in printed.stderr
    asked = run_bot(
        "ask", "--json", SUNDANESE[1], env={"BOT_DATA_DIR": str(data_dir)}, tmp=tmp_path
    )
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["entry"] == "register-city"  # `ask` answers as the bot

    await desk.restart()
    [answer] = await desk.send(CITIZEN, SUNDANESE[0])
    assert entry.question["id"] in answer.text


async def test_a_group_attached_to_a_candidate_gets_that_entrys_answer(desk: BotHarness) -> None:
    question = "kepriye carane melu rombongan menyang negeri ginseng"  # Javanese
    _seed(desk, question)
    screen = await _group_screen(desk)
    label, data = next(b for b in screen.buttons if b[0].startswith("➕ 1."))
    entry = KB.by_id[data.split(":")[3]]
    [listing] = await desk.press(STAFF, screen, label)
    assert "Tidak ada pertanyaan terbuka" in listing.text
    assert "diajarkan" in last_answer(desk)["text"]
    [answer] = await desk.send(CITIZEN, question)
    assert entry.question["id"] in answer.text


async def test_a_group_marked_off_topic_gets_the_fallback(desk: BotHarness) -> None:
    _seed(desk, OFF_TOPIC)
    screen = await _group_screen(desk)
    [listing] = await desk.press(STAFF, screen, "Di luar topik")
    assert "Tidak ada pertanyaan terbuka" in listing.text
    assert "1 pertanyaan ditandai di luar topik" in last_answer(desk)["text"]
    [fallback] = await desk.send(CITIZEN, OFF_TOPIC)
    assert fallback.text == FALLBACK
    services = desk.app.bot_data["services"]  # type: ignore[union-attr]
    assert OFF_TOPIC in services.matcher.taught.off_topic
    [record] = [a for a in stores_of(desk).audit.list() if a["action"] == "faq_taught_off_topic"]
    assert record["details"] == {"taught": 1, "questions": 1, "lang": "id", "unmet": 0}

    await desk.restart()
    [fallback] = await desk.send(CITIZEN + 1, OFF_TOPIC)
    assert fallback.text == FALLBACK


async def test_staff_are_told_when_the_matcher_still_answers_otherwise(desk: BotHarness) -> None:
    own = KB.by_id["age-limit"].question["id"]  # the entry's own question, taught elsewhere
    _seed(desk, own)
    screen = await _group_screen(desk)
    [prompt] = await desk.press(STAFF, screen, "Entri lain")
    [done] = await reply_to(desk, STAFF, prompt, "tattoo")
    assert "1 masih dijawab lain" in done.text
    [record] = [a for a in stores_of(desk).audit.list() if a["action"] == "faq_taught"]
    assert record["details"]["unmet"] == 1
    [answer] = await desk.send(CITIZEN, own)
    assert KB.by_id["tattoo"].question["id"] not in answer.text


async def test_typed_words_list_entries_and_teaching_is_for_staff_only(
    desk: BotHarness,
) -> None:
    _seed(desk, *SUNDANESE)
    screen = await _group_screen(desk)
    [prompt] = await desk.press(STAFF, screen, "Entri lain")
    [found] = await reply_to(desk, STAFF, prompt, "batas umur")
    assert "Entri untuk" in found.text and "age-limit" in found.text
    attach = found.button("➕")
    assert _learned(desk) is None  # words alone teach nothing

    # A citizen pressing the staff's buttons (forged) is refused; nothing is taught.
    [welcome] = await desk.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    for data in (attach, screen.button("Di luar topik"), screen.button("Entri lain")):
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
        desk.emu.set_message_markup(CITIZEN, welcome.message_id, markup)
        assert await desk.press(CITIZEN, welcome.message_id, data) == []
        assert last_answer(desk)["text"] == STAFF_ONLY
    assert _learned(desk) is None and len(stores_of(desk).unanswered.all_open()) == 2

    # A group handled meanwhile (by another staff member): the button says so.
    await desk.press(STAFF, screen, "Tandai selesai")
    await desk.press(STAFF, found, "➕")
    assert "sudah ditangani" in last_answer(desk)["text"]
    assert _learned(desk) is None


async def test_erasing_a_staff_member_keeps_what_they_taught_without_their_id(
    desk: BotHarness,
) -> None:
    _seed(desk, OFF_TOPIC)
    screen = await _group_screen(desk)
    await desk.press(STAFF, screen, "Di luar topik")
    await desk.send(ADMIN, "/statusprogram LOA sudah terbit")
    stores = stores_of(desk)
    learned, status = _learned(desk), stores.kv.get(NAMESPACE, STATUS_KEY)
    assert learned is not None and learned["items"][0]["by"] == STAFF  # type: ignore[index]
    assert status["by"] == ADMIN
    stores.delete_user(STAFF)
    stores.delete_user(ADMIN)
    learned, status = _learned(desk), stores.kv.get(NAMESPACE, STATUS_KEY)
    assert learned["items"][0]["by"] is None  # type: ignore[index]
    assert learned["items"][0]["text"] == OFF_TOPIC  # type: ignore[index]
    assert status["by"] is None and status["text"] == "LOA sudah terbit"


# -- the programme status update -----------------------------------------------------------------

STATUS_QUESTION = KB.by_id["programme-status"].question["id"]
TIMELINE_QUESTION = KB.by_id["programme-timeline"].question["id"]


async def test_status_update_shown_on_top_of_the_status_answers_until_cleared(
    desk: BotHarness, data_dir: Path, tmp_path: Path
) -> None:
    today = format_date(clock.today(), "id")
    posted = await desk.send(ADMIN, "/statusprogram LOA sudah <b>terbit</b> 12-01-2027")
    assert "Kabar status dipasang" in posted[0].text
    top = f"📢 <b>Kabar terbaru ({today}):</b> LOA sudah <b>terbit</b> 12-01-2027"
    assert f"</b>\n\n{top}\n\n" in posted[1].text  # the preview, as citizens see it
    for question in (STATUS_QUESTION, TIMELINE_QUESTION):
        [answer] = await desk.send(CITIZEN, question)
        assert answer.text.startswith(f"<b>{question}</b>\n\n{top}\n\n"), answer.text
    [other] = await desk.send(CITIZEN, "brp umur maksimal buat daftar ke korea min?")
    assert "Kabar terbaru" not in other.text
    [record] = [
        a for a in stores_of(desk).audit.list() if a["action"] == "programme_status_posted"
    ]
    assert record["actor"] == ADMIN

    await desk.restart()
    [answer] = await desk.send(CITIZEN, STATUS_QUESTION)
    assert top in answer.text
    asked = run_bot("ask", STATUS_QUESTION, env={"BOT_DATA_DIR": str(data_dir)}, tmp=tmp_path)
    assert f"Kabar terbaru ({today}): LOA sudah terbit 12-01-2027" in asked.stdout
    [shown] = await desk.send(STAFF, "/statusprogram")  # staff see it and how to post
    assert "LOA sudah <b>terbit</b>" in shown.text and "/statusprogram hapus" in shown.text

    # Plain text is escaped; Telegram's own formatting is kept (as in announcements).
    await desk.send(ADMIN, "/statusprogram Pelatihan bahasa & budaya Februari (kuota > 100)")
    [answer] = await desk.send(CITIZEN, STATUS_QUESTION)
    assert "Pelatihan bahasa &amp; budaya Februari (kuota &gt; 100)" in answer.text
    assert "12-01-2027" not in answer.text  # replaced
    text = "/statusprogram Tes EPS tanggal 5"
    bold = [
        {"type": "bot_command", "offset": 0, "length": 14},
        {"type": "bold", "offset": 19, "length": 3},
    ]
    await desk.send(ADMIN, text, entities=bold)
    [answer] = await desk.send(CITIZEN, STATUS_QUESTION)
    assert "Tes <b>EPS</b> tanggal 5" in answer.text

    [cleared] = await desk.send(ADMIN, "/statusprogram hapus")
    assert "dihapus" in cleared.text
    [answer] = await desk.send(CITIZEN, STATUS_QUESTION)
    assert "Kabar terbaru" not in answer.text
    actions = [a["action"] for a in stores_of(desk).audit.list()]
    assert "programme_status_cleared" in actions


async def test_status_update_refused_with_bad_html_and_to_non_admins(desk: BotHarness) -> None:
    for bad in ("/statusprogram LOA <b>terbit", "/statusprogram <u>LOA</u> terbit"):
        [refused] = await desk.send(ADMIN, bad)
        assert "tidak dipasang" in refused.text, bad
    [too_long] = await desk.send(ADMIN, "/statusprogram " + "LOA terbit. " * 50)
    assert "max 500" in too_long.text
    [not_admin] = await desk.send(STAFF, "/statusprogram LOA sudah terbit")
    assert "hanya admin" in not_admin.text
    [citizen] = await desk.send(CITIZEN, "/statusprogram LOA sudah terbit")
    assert citizen.text == STAFF_ONLY
    assert stores_of(desk).kv.get(NAMESPACE, STATUS_KEY) is None
    [answer] = await desk.send(CITIZEN, STATUS_QUESTION)
    assert "Kabar terbaru" not in answer.text


async def test_status_command_is_in_the_staff_menu(desk: BotHarness) -> None:
    menus = [c.params for c in desk.emu.calls_for("setMyCommands")]
    staff = next(m for m in menus if str(ADMIN) in str(m.get("scope")))
    assert "statusprogram" in {c["command"] for c in staff["commands"]}
    default = next(m for m in menus if "default" in str(m.get("scope")))
    assert "statusprogram" not in {c["command"] for c in default["commands"]}


def test_faq_learned_says_when_nothing_was_taught(tmp_path: Path) -> None:
    result = run_bot("faq", "learned", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "Nothing taught yet" in result.stderr


async def test_what_another_worker_stored_is_taken_up_by_the_refresh(desk: BotHarness) -> None:
    """Several workers on one database: one stores, the others' minutely refresh applies it."""
    services = desk.app.bot_data["services"]  # type: ignore[union-attr]
    stores = stores_of(desk)
    assert await teaching.refresh(services) is False  # nothing new: nothing retrained
    taught = Learned().attach(SUNDANESE[0], "register-city", "id", by=STAFF)
    stores.kv.put(NAMESPACE, LEARNED_KEY, taught.to_json())  # as another worker would
    stores.kv.put(NAMESPACE, STATUS_KEY, {"text": "LOA terbit", "posted": "2026-12-01"})
    assert await teaching.refresh(services) is True
    [answer] = await desk.send(CITIZEN, SUNDANESE[0])
    assert KB.by_id["register-city"].question["id"] in answer.text
    [status] = await desk.send(CITIZEN, STATUS_QUESTION)
    assert "Kabar terbaru (1 Desember 2026):</b> LOA terbit" in status.text

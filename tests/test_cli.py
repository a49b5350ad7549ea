"""The command line: console chat, ask, check, config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def run_bot(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, tmp: Path
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    environ.update({"BOT_DATA_DIR": str(tmp / "data"), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environ,
        timeout=60,
        check=False,
    )


def test_console_chat_without_token_greets_then_answers(tmp_path: Path) -> None:
    result = run_bot(stdin="syarat\n", tmp=tmp_path)  # `make run`: no /start typed
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Anda: /start\nBot: ")  # sent on the user's behalf
    assert "Sister City" in result.stdout
    assert "[1] " in result.stdout  # buttons as numbered choices
    assert "Sumber" in result.stdout or "Maksud Anda" in result.stdout


def test_console_chat_presses_buttons_by_number(tmp_path: Path) -> None:
    result = run_bot("chat", stdin="1\n1\n", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Bot: ") == 1  # the greeting; the presses edit it in place
    assert result.stdout.count("Bot (diedit / edited): ") == 2
    assert "Sumber" in result.stdout


def test_ask_json(tmp_path: Path) -> None:
    result = run_bot("ask", "--json", stdin="gaji di korea brp\nhalo\n", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert set(first) >= {"question", "answer", "entry", "score", "suggestions"}
    assert first["question"] == "gaji di korea brp" and first["entry"]
    assert second["entry"] is None and second["suggestions"] == []


def test_ask_english(tmp_path: Path) -> None:
    result = run_bot("ask", "--lang", "en", "is", "departure", "free?", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Source" in result.stdout


def test_check_passes_on_the_repository(tmp_path: Path) -> None:
    result = run_bot("check", tmp=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_run_without_token_explains(tmp_path: Path) -> None:
    result = run_bot("run", tmp=tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stdout


def test_config_error_names_file_key_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("faq:\n  threshold: 300\nbroadcast:\n  rate_per_second: 50\n  speed: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad, environ={})
    message = str(info.value)
    assert f"{bad}: faq.threshold: must be between 0 and 100" in message
    assert f"{bad}: broadcast.rate_per_second: must be between" in message
    assert f"{bad}: broadcast.speed: unknown key" in message
    result = run_bot("--config", str(bad), "check", tmp=tmp_path)
    assert result.returncode == 1 and "faq.threshold" in result.stderr


def test_environment_contract(tmp_path: Path) -> None:
    config = load_config(
        REPO / "config.yaml",
        environ={
            "TELEGRAM_BOT_TOKEN": "42:abc",
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
            "BOT_DATA_DIR": str(tmp_path),
            "BOT_STAFF_IDS": "7, 8",
        },
    )
    assert config.base_url == "http://127.0.0.1:8081/bot"
    assert config.base_file_url == "http://127.0.0.1:8081/file/bot"
    assert config.data_dir == tmp_path
    assert config.staff.is_staff(7) and config.staff.is_staff(8)
    assert config.token == "42:abc" and "42:abc" not in repr(config)
    with pytest.raises(ConfigError, match="BOT_STAFF_IDS"):
        load_config(REPO / "config.yaml", environ={"BOT_STAFF_IDS": "seven"})


def test_domain_packages_never_import_telegram() -> None:
    code = (
        "import sys, faq.matcher, faq.model, screening.engine, screening.identity, store, desk;"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'telegram'], 'telegram imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)

"""Webhook mode through the emulator: Telegram posts each update to the bot's own server, which
stores it durably before answering 200, refuses requests without the secret, drops
re-deliveries, and after a SIGKILL right after the 200 handles the stored update at the next
start. /healthz, /readyz and /metrics on the same server."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram.request import HTTPXRequest

from bot.app import build_application
from bot.processing import PerChatUpdateProcessor
from bot.webhook import SECRET_HEADER, BotServer, HttpSettings, stored_secret
from store import Stores
from tests.emulator import BotAPIEmulator
from tests.harness import REPO, BotHarness, make_config

CITIZEN = 7101
URL = "https://bot.serangkota.example/telegram/hook"
SECRET = "s3cret-Token_for-tests"


class WebhookHarness(BotHarness):
    """The real Application behind the real webhook server (``bot.webhook``), in-process."""

    def __init__(self, emu: BotAPIEmulator, config: Any, settings: HttpSettings) -> None:
        super().__init__(emu, config)
        self.settings = settings
        self.server: BotServer | None = None
        self.base = ""

    async def start(self) -> WebhookHarness:
        processor = PerChatUpdateProcessor(on_done=self._on_done)
        self.app = build_application(
            self.config,
            update_processor=processor,
            request=HTTPXRequest(connection_pool_size=256, httpx_kwargs={"verify": False}),
        )
        await self.app.initialize()
        if self.app.post_init:
            await self.app.post_init(self.app)
        await self.app.start()
        self.server = BotServer(self.app, self.settings)
        await self.server.start()
        assert self.server.address is not None
        host, port = self.server.address
        self.base = f"http://{host}:{port}"
        self.emu.webhook_target = self.base
        return self

    async def stop(self) -> None:
        if self.app is None:
            return
        if self.server is not None:
            await self.server.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        if self.app.post_shutdown:
            await self.app.post_shutdown(self.app)
        self.app = None


def settings(**overrides: Any) -> HttpSettings:
    values: dict[str, Any] = {"url": URL, "host": "127.0.0.1", "port": 0, "secret": SECRET}
    return HttpSettings(**{**values, **overrides})


@pytest.fixture
async def hook(emu: BotAPIEmulator, data_dir: Path) -> AsyncIterator[WebhookHarness]:
    harness = WebhookHarness(emu, make_config(emu, data_dir), settings())
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    assert emu.rejected == [], f"the bot sent requests Telegram would reject: {emu.rejected}"


async def post(
    hook: WebhookHarness, body: bytes | dict[str, Any], secret: str | None = SECRET
) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            hook.base + "/telegram/hook", data=io.BytesIO(data), headers=headers
        ) as response,
    ):
        await response.read()
        return response.status


async def get(base: str, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(base + path) as response:
        return response.status, await response.text()


def stored(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The inbox as a fresh process would read it (the running bot holds the lock)."""
    from store.backup import read_store  # a consistent read without the lock

    return read_store(data_dir, "inbox").get("updates", {})


# -- the webhook -------------------------------------------------------------------------------


async def test_the_webhook_is_registered_with_its_secret(hook: WebhookHarness) -> None:
    [call] = hook.emu.calls_for("setWebhook")
    assert call.params["url"] == URL and call.params["secret_token"] == SECRET
    assert hook.emu.calls_for("getUpdates") == [], "no long polling in webhook mode"
    async with aiohttp.ClientSession() as session:  # what Telegram itself would report
        api = f"{hook.emu.url}/bot{hook.emu.token}/getWebhookInfo"
        async with session.post(api) as response:
            info = (await response.json())["result"]
    assert info["url"] == URL and info["pending_update_count"] == 0


async def test_an_update_is_stored_then_answered_and_marked_done(
    hook: WebhookHarness, data_dir: Path
) -> None:
    replies = await hook.send(CITIZEN, "/start")
    assert replies and "Sister City" in replies[0].text
    [(update_id, status)] = hook.emu.webhook_deliveries
    assert status == 200
    assert hook.server is not None
    await hook.server.idle()
    doc = stored(data_dir)[str(update_id)]
    assert doc["s"] == "done" and "update" not in doc, "a handled update keeps no payload"


async def test_wrong_or_missing_secret_is_refused_and_nothing_processed(
    hook: WebhookHarness, data_dir: Path
) -> None:
    first = hook.emu.send_text(CITIZEN, "/start")
    await hook.processed(first["update_id"])
    calls = len(hook.emu.calls)
    forged = copy.deepcopy(first)
    forged["update_id"] = 900_001
    forged["message"]["text"] = "syarat"
    forged["message"].pop("entities", None)
    assert await post(hook, forged, secret=None) == 403
    assert await post(hook, forged, secret="wrong-secret") == 403
    assert await post(hook, forged, secret=SECRET + "x") == 403
    assert await post(hook, forged, secret="") == 403
    # then a real update: once it is handled, nothing else was
    after = await hook.send(CITIZEN, "/bantuan")
    assert after
    assert "900001" not in stored(data_dir)
    sent = [c for c in hook.emu.calls[calls:] if c.method == "sendMessage"]
    assert len(sent) == len([r for r in after if r.method == "sendMessage"])
    assert hook.server is not None
    text = (await hook.server.metrics.render()).decode()
    assert 'bot_webhook_rejected_total{reason="secret"} 4.0' in text


async def test_oversized_or_malformed_bodies_are_refused(
    hook: WebhookHarness, data_dir: Path
) -> None:
    big = b'{"update_id": 900002, "message": {"text": "' + b"a" * (1024 * 1024) + b'"}}'
    assert await post(hook, big) == 413
    assert await post(hook, b"not json") == 400
    assert await post(hook, {"update_id": "12"}) == 400
    assert await post(hook, [1, 2]) == 400  # type: ignore[arg-type]
    assert stored(data_dir) == {}


async def test_a_replayed_update_is_handled_once(hook: WebhookHarness) -> None:
    update = hook.emu.send_text(CITIZEN, "/start")
    await hook.processed(update["update_id"])
    first = [c for c in hook.emu.calls if c.method == "sendMessage" and c.chat_id == CITIZEN]
    hook.emu.redeliver(update)  # Telegram sends it again (our 200 was lost), or a replay
    await hook.emu.wait_until_delivered(update["update_id"], times=2)
    assert await post(hook, update) == 200  # and once more by hand
    later = await hook.send(CITIZEN, "/bantuan")  # handled after anything still queued
    assert later
    again = [c for c in hook.emu.calls if c.method == "sendMessage" and c.chat_id == CITIZEN]
    assert len(again) == len(first) + len([r for r in later if r.method == "sendMessage"])
    assert hook.server is not None
    text = (await hook.server.metrics.render()).decode()
    assert "bot_webhook_duplicates_total 2.0" in text


async def test_updates_stored_but_not_handled_are_handled_at_start(
    emu: BotAPIEmulator, data_dir: Path
) -> None:
    """As after a kill: the inbox holds an update that was answered 200 but never handled."""
    template = emu.send_text(CITIZEN, "/start")
    emu._updates.clear()  # never delivered by the emulator: only the inbox has it
    with Stores.open(data_dir) as stores:
        assert stores.inbox.put(template["update_id"], template, kind="message", user_id=CITIZEN)
    harness = WebhookHarness(emu, make_config(emu, data_dir), settings())
    await harness.start()
    try:
        await harness.processed(template["update_id"])
        assert harness.server is not None
        await harness.server.idle()
        [reply] = [c for c in emu.calls if c.method == "sendMessage" and c.chat_id == CITIZEN]
        assert "Sister City" in reply.params["text"]
    finally:
        await harness.stop()
    with Stores.open(data_dir) as stores:
        assert stores.inbox.pending() == [] and stores.inbox.is_done(template["update_id"])


# -- operations endpoints ----------------------------------------------------------------------


async def test_health_readiness_and_metrics(hook: WebhookHarness) -> None:
    await hook.send(CITIZEN, "/start")
    assert hook.server is not None
    await hook.server.idle()
    assert await get(hook.base, "/healthz") == (200, '{"status": "alive"}')
    status, body = await get(hook.base, "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready["store"] and ready["telegram"] and ready["backlog"] == 0
    getme = len(hook.emu.calls_for("getMe"))
    await get(hook.base, "/readyz")
    assert len(hook.emu.calls_for("getMe")) == getme, "getMe is cached"

    status, text = await get(hook.base, "/metrics")
    assert status == 200
    for line in (
        'bot_updates_received_total{kind="message",source="webhook"} 1.0',
        'bot_updates_handled_total{kind="message"} 1.0',
        'bot_telegram_api_calls_total{method="setWebhook",outcome="ok"} 1.0',
        'bot_ratelimit_queue_depth{lane="interactive"} 0.0',
        'bot_ratelimit_queue_depth{lane="bulk"} 0.0',
        "bot_webhook_backlog 0.0",
        "bot_broadcasts_running 0.0",
        'bot_faq_questions{outcome="unanswered"} 0.0',
    ):
        assert line in text, line
    for name in (
        'bot_update_handling_seconds_bucket{kind="message",le="0.5"}',
        'bot_store_write_seconds_bucket{le="0.01",store="inbox"}',
        'bot_telegram_api_calls_total{method="sendMessage",outcome="ok"}',
        "bot_webhook_response_seconds_count 1.0",
        "bot_faq_unanswered_ratio",
    ):
        assert name in text, name
    assert str(CITIZEN) not in text and "Sister" not in text, "nothing personal in metrics"


async def test_not_ready_when_telegram_does_not_answer(hook: WebhookHarness) -> None:
    assert hook.server is not None
    hook.server._getme = None  # the cache expired
    hook.emu.inject_fault("getMe", error_code=502, description="Bad Gateway", times=1)
    status, body = await get(hook.base, "/readyz")
    assert status == 503 and json.loads(body)["telegram"] is False


async def test_not_ready_when_the_backlog_is_too_long(emu: BotAPIEmulator, data_dir: Path) -> None:
    harness = WebhookHarness(emu, make_config(emu, data_dir), settings(max_backlog=1))
    await harness.start()
    try:
        emu.hold("sendMessage")  # the first update cannot finish: it stays in the backlog
        update = emu.send_text(CITIZEN, "/start")
        await emu.wait_until_delivered(update["update_id"])
        status, body = await get(harness.base, "/readyz")
        assert status == 503 and json.loads(body)["backlog"] == 1
        emu.release()
        await harness.processed(update["update_id"])
        assert harness.server is not None
        await harness.server.idle()
        status, _ = await get(harness.base, "/readyz")
        assert status == 200
    finally:
        emu.release()
        await harness.stop()


# -- settings ----------------------------------------------------------------------------------


def test_the_generated_secret_is_kept_owner_only(tmp_path: Path) -> None:
    environ = {"BOT_WEBHOOK_URL": URL}
    first = HttpSettings.from_env(environ, tmp_path / "data")
    assert first is not None and len(first.secret) >= 32
    path = tmp_path / "data" / "webhook-secret"
    assert path.stat().st_mode & 0o777 == 0o600
    again = HttpSettings.from_env(environ, tmp_path / "data")
    assert again is not None and again.secret == first.secret == stored_secret(tmp_path / "data")
    assert first.secret not in repr(first)
    assert (first.host, first.port, first.path) == ("127.0.0.1", 8080, "/telegram/hook")
    assert HttpSettings.from_env({}, tmp_path) is None, "long polling by default"


def test_webhook_settings_are_checked(tmp_path: Path) -> None:
    from bot.webhook import WebhookConfigError

    with pytest.raises(WebhookConfigError, match="https"):
        HttpSettings.from_env({"BOT_WEBHOOK_URL": "http://x.example/hook"}, tmp_path)
    with pytest.raises(WebhookConfigError, match="BOT_WEBHOOK_SECRET"):
        HttpSettings.from_env(
            {"BOT_WEBHOOK_URL": URL, "BOT_WEBHOOK_SECRET": "no spaces"}, tmp_path
        )
    with pytest.raises(WebhookConfigError, match="host:port"):
        HttpSettings.from_env({"BOT_WEBHOOK_URL": URL, "BOT_WEBHOOK_LISTEN": "x"}, tmp_path)


# -- the real process, killed right after the 200 ----------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start_bot(emu: BotAPIEmulator, data_dir: Path, port: int) -> asyncio.subprocess.Process:
    environ = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emu.token,
        "TELEGRAM_API_URL": emu.url,
        "BOT_DATA_DIR": str(data_dir),
        "BOT_CONFIG": str(REPO / "config.yaml"),
        "BOT_WEBHOOK_URL": URL,
        "BOT_WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        "BOT_WEBHOOK_SECRET": SECRET,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=REPO,
        env=environ,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sigkill_right_after_the_200_loses_nothing(
    emu: BotAPIEmulator, data_dir: Path
) -> None:
    port = free_port()
    emu.webhook_target = f"http://127.0.0.1:{port}"
    process = await start_bot(emu, data_dir, port)
    try:
        await emu.wait_for_call(lambda c: c.method == "setWebhook", timeout=60, since=0)
        emu.hold("sendMessage")  # the reply cannot go out: the update is stored, not handled
        update = emu.send_text(CITIZEN, "/start")
        await emu.wait_until_delivered(update["update_id"], timeout=30)
        process.send_signal(signal.SIGKILL)  # right after the 200
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    emu.release()
    assert not [c for c in emu.calls if c.method == "sendMessage"], "nothing was answered"
    assert stored(data_dir)[str(update["update_id"])]["s"] == "pending"

    since = len(emu.calls)
    process = await start_bot(emu, data_dir, port)
    try:
        reply = await emu.wait_for_call(
            lambda c: c.method == "sendMessage" and c.chat_id == CITIZEN, timeout=60, since=since
        )
        assert "Sister City" in reply.params["text"]
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    accepted = [s for uid, s in emu.webhook_deliveries if uid == update["update_id"]]
    assert accepted == [200], "handled from the inbox, not delivered again by Telegram"
    replies = [c for c in emu.calls if c.method == "sendMessage" and c.chat_id == CITIZEN]
    assert len(replies) == 1, "handled once"
    assert stored(data_dir)[str(update["update_id"])]["s"] == "done"
    assert SECRET not in stderr.decode() and emu.token not in stderr.decode()


async def test_polling_with_the_metrics_server(emu: BotAPIEmulator, data_dir: Path) -> None:
    """Without BOT_WEBHOOK_URL the bot long-polls; BOT_METRICS_LISTEN adds the operations
    endpoints, and SIGTERM stops it cleanly."""
    port = free_port()
    environ = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emu.token,
        "TELEGRAM_API_URL": emu.url,
        "BOT_DATA_DIR": str(data_dir),
        "BOT_CONFIG": str(REPO / "config.yaml"),
        "BOT_METRICS_LISTEN": f"127.0.0.1:{port}",
    }
    environ.pop("BOT_WEBHOOK_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=REPO, env=environ,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await emu.wait_until_polling(timeout=60)
        update = emu.send_text(CITIZEN, "/start")
        await emu.wait_for_call(
            lambda c: c.method == "sendMessage" and c.chat_id == CITIZEN, timeout=30
        )
        base = f"http://127.0.0.1:{port}"
        status, text = await get(base, "/metrics")
        assert status == 200
        assert 'bot_updates_received_total{kind="message",source="polling"} 1.0' in text
        assert 'bot_telegram_api_calls_total{method="getUpdates",outcome="ok"}' in text
        assert "bot_webhook_backlog" not in text, "no inbox in polling mode"
        status, body = await get(base, "/readyz")
        assert status == 200 and "backlog" not in json.loads(body)
        assert emu.calls_for("setWebhook") == [] and update["update_id"]
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_a_webhook_url_telegram_refuses_stops_with_one_line(
    emu: BotAPIEmulator, data_dir: Path
) -> None:
    environ = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emu.token,
        "TELEGRAM_API_URL": emu.url,
        "BOT_DATA_DIR": str(data_dir),
        "BOT_CONFIG": str(REPO / "config.yaml"),
        "BOT_WEBHOOK_URL": "https://bot.serangkota.example:8444/hook",  # not a webhook port
        "BOT_WEBHOOK_LISTEN": f"127.0.0.1:{free_port()}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=REPO, env=environ,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 1
    assert "Telegram refused a start-up request" in stderr.decode()
    assert "ports 80, 88, 443 or 8443" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    emu.rejected.clear()  # the refusal was the point


async def test_parallel_deliveries_share_their_fsyncs(hook: WebhookHarness) -> None:
    """Telegram posts over several connections at once: the updates that arrive while one is
    written are written together (one durable write), and every one is handled."""
    users = range(7300, 7320)
    updates = [hook.emu.send_text(user, "/start") for user in users]
    hook.emu._updates.clear()  # posted by hand below, all at once
    assert hook.server is not None
    before = (await hook.server.metrics.render()).decode()
    statuses = await asyncio.gather(*(post(hook, update) for update in updates))
    assert statuses == [200] * len(updates)
    for update in updates:
        await hook.processed(update["update_id"])
    await hook.server.idle()
    for user in users:
        assert [c for c in hook.emu.calls if c.method == "sendMessage" and c.chat_id == user]
    after = (await hook.server.metrics.render()).decode()
    writes = inbox_writes(after) - inbox_writes(before)
    assert writes < 2 * len(updates), f"{writes} inbox writes for {len(updates)} updates"


def inbox_writes(text: str) -> float:
    prefix = 'bot_store_write_seconds_count{store="inbox"} '
    line = next((line for line in text.splitlines() if line.startswith(prefix)), prefix + "0")
    return float(line.removeprefix(prefix))

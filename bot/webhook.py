"""Webhook mode, and the bot's own HTTP server: ``/healthz``, ``/readyz``, ``/metrics``.

With ``BOT_WEBHOOK_URL`` set, ``python -m bot run`` listens on ``BOT_WEBHOOK_LISTEN`` (default
127.0.0.1:8080, behind the operator's TLS proxy) and registers the URL with ``setWebhook``.
Each POST to the URL's path is:

1. refused with 403, unread, without the right ``X-Telegram-Bot-Api-Secret-Token``;
2. refused with 413 when its body is larger than ``MAX_BODY_BYTES``; 400 unless it is a JSON
   update with an integer ``update_id``;
3. **stored durably** in the inbox (``store.inbox``, an fsync'd journal line) and only then
   answered 200 (500 when it cannot be stored: Telegram delivers it again later); updates
   arriving while one is written are written together, one fsync for all of them;
4. dropped when its ``update_id`` is already stored (a re-delivery or a replay);
5. handed to the Application (its update processor, then ``process_update``: each chat's
   updates in order) and marked done when handled. In a fleet of workers (PostgreSQL and a
   webhook: ``bot/fleet.py``) it is not handed over here: it waits in the shared inbox until
   a worker (this one, woken at once, or another) claims it.

At start-up every update stored and not done (the process was killed after answering 200)
is handled first, oldest first. python-telegram-bot's own webhook server answers 200 before
the update is processed; this one loses nothing a kill can take away.

The secret comes from ``BOT_WEBHOOK_SECRET``; without it one is generated once and kept in
``<data dir>/webhook-secret`` (0600). It is registered with the log redaction and never logged.

Without ``BOT_WEBHOOK_URL`` the bot long-polls (the default); ``BOT_METRICS_LISTEN`` then serves
``/healthz``, ``/readyz`` and ``/metrics`` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import secrets
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.error import TelegramError

from bot.logging_setup import register_secret
from bot.metrics import CONTENT_TYPE, Metrics, raw_kind, update_kind
from store import StoreError, fs
from store.inbox import NewUpdate, UpdateInbox

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_FILE = "webhook-secret"
#: Telegram's updates are a few kilobytes; a message with a long text and entities stays far
#: below this.
MAX_BODY_BYTES = 1024 * 1024
#: /readyz fails when more updates than this are stored and not handled.
MAX_BACKLOG = 1000
#: How long a getMe answer counts for /readyz.
GETME_TTL_SECONDS = 30.0
#: At shutdown, updates still being handled get this long before they are left for next time.
DRAIN_SECONDS = 10.0
#: Done updates are forgotten (and the inbox rewritten) this often.
PRUNE_EVERY_SECONDS = 3600.0
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class WebhookConfigError(ValueError):
    """A webhook setting in the environment is wrong (the message names it)."""


@dataclass(frozen=True)
class HttpSettings:
    """The bot's HTTP server: the webhook (``url`` set) and the operations endpoints."""

    url: str | None
    host: str
    port: int
    secret: str = field(repr=False)
    max_body: int = MAX_BODY_BYTES
    max_backlog: int = MAX_BACKLOG
    max_connections: int = 40

    @property
    def path(self) -> str:
        """The path Telegram posts to (the URL's; the proxy passes it on unchanged)."""
        return (urlsplit(self.url).path or "/") if self.url else ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str], data_dir: Path) -> HttpSettings | None:
        """The settings from the environment; None when neither the webhook nor the metrics
        server is asked for (plain long polling)."""
        url = environ.get("BOT_WEBHOOK_URL", "").strip() or None
        listen = environ.get("BOT_WEBHOOK_LISTEN" if url else "BOT_METRICS_LISTEN", "").strip()
        if url is None and not listen:
            return None
        if url is not None and not url.startswith("https://"):
            raise WebhookConfigError("BOT_WEBHOOK_URL: Telegram only posts to an https:// URL")
        host, port = parse_listen(listen or "127.0.0.1:8080")
        secret = ""
        if url is not None:
            secret = environ.get("BOT_WEBHOOK_SECRET", "").strip() or stored_secret(data_dir)
            if not _SECRET.fullmatch(secret):
                raise WebhookConfigError(
                    "BOT_WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and - only"
                )
            register_secret(secret)
        backlog = environ.get("BOT_WEBHOOK_MAX_BACKLOG", "").strip()
        return cls(url, host, port, secret, max_backlog=int(backlog) if backlog else MAX_BACKLOG)


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) -> (host, port)."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise WebhookConfigError(f"listen address {value!r}: expected host:port")
    return host, int(port)


def stored_secret(data_dir: Path) -> str:
    """The generated webhook secret of this data directory (created 0600 on first use)."""
    path = Path(data_dir) / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_text(encoding="ascii").strip()
        if _SECRET.fullmatch(existing):
            return existing
    fs.ensure_private_dir(Path(data_dir))
    secret = secrets.token_urlsafe(48)  # 64 characters of A-Z a-z 0-9 _ -
    fs.atomic_write(path, [secret + "\n"])
    return secret


class _Coalescer(Generic[T, R]):
    """Calls made while one is being written are written together by the next: one durable
    write (one fsync) for every update that arrived meanwhile, so Telegram's parallel
    connections never queue one fsync each behind each other."""

    def __init__(self, write_many: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._write_many = write_many
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="inbox-writer")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._write_many([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


class BotServer:
    """The aiohttp server of one Application: the webhook (when configured) and operations."""

    def __init__(self, app: Any, settings: HttpSettings) -> None:
        self.app = app
        self.settings = settings
        self.metrics: Metrics = app.bot_data["metrics"]
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._store_failed: str | None = None
        self._getme: tuple[float, bool] | None = None
        self._getme_lock = asyncio.Lock()
        self._pruner: asyncio.Task[None] | None = None
        self.address: tuple[str, int] | None = None
        self._puts: _Coalescer[NewUpdate, bool] = _Coalescer(self._put_many)
        self._dones: _Coalescer[int, None] = _Coalescer(self._done_many)
        #: A fleet's worker (``bot/fleet.py``): stored updates are claimed from the shared
        #: inbox by the fleet, not dispatched here.
        self.fleet: Any = None

    @property
    def _services(self) -> Any:
        return self.app.bot_data["services"]

    @property
    def inbox(self) -> UpdateInbox:
        inbox: UpdateInbox = self._services.stores.inbox
        return inbox

    async def _put_many(self, items: list[NewUpdate]) -> list[bool]:
        results: list[bool] = await self._services.call(self.inbox.put_many, items)
        return results

    async def _done_many(self, update_ids: list[int]) -> list[None]:
        await self._services.call(self.inbox.mark_done_many, update_ids)
        return [None] * len(update_ids)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Handle the stored backlog, then listen (and register the webhook, if configured)."""
        if self.settings.url and self.fleet is not None:
            await self._services.call(lambda: self._services.stores.inbox)
            fleet = self.fleet
            self.metrics.live.backlog = lambda: fleet.held  # the fleet claims the backlog
        elif self.settings.url:
            inbox = await self._services.call(lambda: self._services.stores.inbox)
            # stored and not done = handed out and not finished (each has its task)
            self.metrics.live.backlog = lambda: len(self._tasks)
            backlog = await self._services.call(inbox.pending)
            if backlog:
                log.warning("handling %d update(s) stored before the last stop", len(backlog))
            for item in backlog:  # oldest first: each chat's updates keep their order
                self._dispatch(item.update_id, item.update)
        web_app = web.Application(client_max_size=self.settings.max_body)
        if self.settings.url:
            web_app.router.add_post(self.settings.path, self._webhook)
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        web_app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.address = self._runner.addresses[0][:2]
        log.info("listening on %s:%s", *self.address)
        if self.settings.url:
            await self.app.bot.set_webhook(
                url=self.settings.url,
                secret_token=self.settings.secret,
                allowed_updates=Update.ALL_TYPES,
                max_connections=self.settings.max_connections,
                drop_pending_updates=False,
            )
            log.info("webhook registered (%s)", urlsplit(self.settings.url).netloc)
            self._pruner = asyncio.create_task(self._prune_regularly(), name="inbox-prune")

    async def stop(self) -> None:
        """Stop listening, give the updates being handled a moment, leave the rest stored."""
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=DRAIN_SECONDS)
            for task in pending:  # still stored, not done: handled at the next start
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until every update handed out so far is handled (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # -- the webhook -------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            return await self._receive(request)
        finally:
            self.metrics.webhook_response_seconds.observe(time.perf_counter() - started)

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.settings.secret.encode()):
            self.metrics.webhook_rejected.labels("secret").inc()
            return web.Response(status=403, text="forbidden")
        length = request.content_length
        if length is not None and length > self.settings.max_body:
            self.metrics.webhook_rejected.labels("too_large").inc()
            return web.Response(status=413, text="too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.metrics.webhook_rejected.labels("too_large").inc()
            return web.Response(status=413, text="too large")
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(update_id, int) or update_id < 0:
            self.metrics.webhook_rejected.labels("not_an_update").inc()
            return web.Response(status=400, text="not an update")
        kind = raw_kind(data)
        try:
            update = Update.de_json(data, self.app.bot)
            user, chat = update.effective_user, update.effective_chat
            user_id = user.id if user else None
            chat_id = chat.id if chat else None
        except Exception:  # stored anyway: handling it will log what is wrong
            user_id = chat_id = None
        try:
            stored = await self._puts.submit(NewUpdate(update_id, data, kind, user_id, chat_id))
        except (StoreError, OSError) as exc:
            self._store_failed = type(exc).__name__
            log.error("an update could not be stored (%s); Telegram will send it again", exc)
            return web.Response(status=500, text="not stored")
        self._store_failed = None
        if not stored:
            self.metrics.webhook_duplicates.inc()
            return web.Response(text="ok")
        self.metrics.received(kind, "webhook")
        if self.fleet is not None:
            self.fleet.wake()
        else:
            self._dispatch(update_id, data)
        return web.Response(text="ok")

    def _dispatch(self, update_id: int, data: dict[str, Any]) -> None:
        task = asyncio.create_task(self._handle(update_id, data), name=f"update-{update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, update_id: int, data: dict[str, Any]) -> None:
        """Hand one stored update to the Application; mark it done once handled."""
        try:
            update = Update.de_json(data, self.app.bot)
        except Exception:
            log.exception("update %d cannot be read; dropped", update_id)
            update = None
        if update is not None:
            try:
                await self.app.update_processor.process_update(
                    update, self.app.process_update(update)
                )
            except asyncio.CancelledError:
                raise  # shutting down: it stays stored and is handled at the next start
            except Exception:  # handlers' errors go to the error handlers; this is a bug
                log.exception("update %d (%s) failed", update_id, update_kind(update))
        try:
            await self._dones.submit(update_id)
        except (StoreError, OSError) as exc:
            self._store_failed = type(exc).__name__
            log.error("update %d handled but not marked done (%s)", update_id, exc)

    async def _prune_regularly(self) -> None:
        """Forget done updates after the de-duplication window; rewrite the inbox so that the
        payloads of handled updates leave the disk."""
        stores = self._services.stores
        while True:
            await asyncio.sleep(PRUNE_EVERY_SECONDS)
            try:
                await self._services.call(stores.inbox.prune)
                await self._services.call(stores.inbox.compact)
            except (StoreError, OSError) as exc:
                log.error("the inbox could not be pruned: %s", exc)

    # -- operations --------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        checks: dict[str, Any] = {}
        checks["store"] = await self._store_ok()
        checks["telegram"] = await self._telegram_ok()
        if self.settings.url:
            backlog = self.metrics.live.backlog() if self.metrics.live.backlog else 0
            checks["backlog"] = backlog
            checks["backlog_ok"] = backlog < self.settings.max_backlog
        ready = checks["store"] and checks["telegram"] and checks.get("backlog_ok", True)
        checks["status"] = "ready" if ready else "not ready"
        return web.json_response(checks, status=200 if ready else 503)

    async def _store_ok(self) -> bool:
        """The stores answer within two seconds and the last inbox write did not fail."""
        services = self.app.bot_data.get("services")
        if services is None or self._store_failed is not None:
            return False
        try:
            async with asyncio.timeout(2.0):
                await services.call(services.stores.registrations.__len__)
        except (TimeoutError, StoreError, OSError):
            return False
        return True

    async def _telegram_ok(self) -> bool:
        """getMe answered within the last ``GETME_TTL_SECONDS`` (asked again when older)."""
        async with self._getme_lock:
            now = time.monotonic()
            if self._getme is None or now - self._getme[0] > GETME_TTL_SECONDS:
                try:
                    async with asyncio.timeout(5.0):
                        await self.app.bot.get_me()
                    ok = True
                except (TimeoutError, TelegramError) as exc:
                    log.warning("readiness: the Bot API did not answer getMe (%s)", exc)
                    ok = False
                self._getme = (now, ok)
            return self._getme[1]

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def serve(app: Any, settings: HttpSettings | None) -> None:
    """Run the Application until SIGTERM or SIGINT: by webhook when ``settings.url`` is set,
    else long polling (with the operations server when ``settings`` is given)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = BotServer(app, settings) if settings is not None else None
    fleet = None
    if (
        server is not None
        and settings is not None
        and settings.url
        and app.bot_data["config"].fleet
    ):
        from bot.fleet import Fleet, FleetSettings

        fleet = server.fleet = Fleet(app, FleetSettings.from_env(os.environ))
    try:
        await app.initialize()  # getMe: NetworkError / InvalidToken reach the caller
    except BaseException:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        raise
    try:
        if app.post_init:
            await app.post_init(app)
        polling = settings is None or not settings.url
        if polling:
            await app.updater.start_polling(
                allowed_updates=Update.ALL_TYPES, drop_pending_updates=False
            )
        await app.start()
        if server is not None:
            await server.start()
        if fleet is not None:
            await fleet.start()
        await stop.wait()
        log.info("stopping")
    finally:  # also when start-up failed half-way (setWebhook refused...)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if server is not None:
            await server.stop()
        if fleet is not None:
            await fleet.stop()
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)

"""Prometheus metrics of one bot process, served as text at ``/metrics`` (``bot.webhook``).

Nothing personal is ever a label: labels are update kinds (``message``, ``callback_query``...),
Bot API method names, store names, rate-limiter lanes, exception class names and fixed
reasons; never a user or chat id, never a text.

Each Application has its own registry (``Metrics().registry``), so several bots in one process
(the tests) never share figures. What is counted where:

* updates received (``source``: webhook or polling) and handled, by kind, and the handling
  time: ``MeteredApplication.process_update`` and ``CountingQueue`` (polling);
* webhook refusals, duplicates and the time to store an update and answer 200: ``bot.webhook``;
* handler errors by exception class: ``count_error``, an error handler;
* Bot API calls, failures and 429s by method, and their latency: ``MeteredRequest``, wrapped
  around the bot's HTTP requests;
* store write (append + fsync) latency by store: ``store.durable.observe_commits``;
* read when scraped: rate-limiter queue depth per lane, running announcements and their
  recipients by state, the webhook backlog, the FAQ's answered and unanswered questions.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from telegram import Update
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.ext import Application, ContextTypes
from telegram.request import BaseRequest, RequestData

from store.durable import observe_commits

if TYPE_CHECKING:
    from bot.ratelimit import PriorityRateLimiter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Handling an update: from a few ms (a FAQ answer) to seconds (an export).
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_METHOD = re.compile(r"[A-Za-z]{1,40}")
_KINDS = frozenset(Update.ALL_TYPES)


def update_kind(update: object) -> str:
    """The kind of an update (``message``, ``callback_query``...): a fixed set, never content."""
    if isinstance(update, Update):
        for kind in Update.ALL_TYPES:
            if getattr(update, kind, None) is not None:
                return kind
    return "other"


def raw_kind(data: dict[str, Any]) -> str:
    """The kind of an update as Telegram sent it (a JSON object)."""
    return next((key for key in data if key in _KINDS), "other")


def api_method(url: str) -> str:
    """The Bot API method of a request URL (which holds the token: never log the URL)."""
    if "/file/bot" in url:
        return "file_download"
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return name if _METHOD.fullmatch(name) else "other"


@dataclass
class LiveSources:
    """What is read when the metrics are scraped; set by the application as it starts."""

    rate_limiter: PriorityRateLimiter | None = None
    #: The running announcements' delivery figures (``desk.broadcast.Figures`` as dicts).
    broadcasts: Callable[[], list[dict[str, int]]] | None = None
    #: Updates stored by the webhook and not handled yet.
    backlog: Callable[[], int] | None = None
    #: (answered, unanswered) FAQ questions as kept by the stores (blocking: read in a thread).
    faq_counts: Callable[[], tuple[int, int]] | None = None


@dataclass
class _Snapshot:
    queues: dict[str, int] = field(default_factory=dict)
    granted: dict[str, int] = field(default_factory=dict)
    broadcasts: list[dict[str, int]] = field(default_factory=list)
    backlog: int | None = None
    faq: tuple[int, int] | None = None


class Metrics:
    """The metrics of one Application (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates_received = Counter(
            "bot_updates_received", "Updates received, by kind and source", ["kind", "source"],
            registry=r,
        )  # fmt: skip
        self.updates_handled = Counter(
            "bot_updates_handled", "Updates handled, by kind", ["kind"], registry=r
        )
        self.handling_seconds = Histogram(
            "bot_update_handling_seconds", "Time to handle one update, by kind", ["kind"],
            buckets=HANDLER_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "bot_handler_errors", "Errors raised while handling updates, by exception class",
            ["error"], registry=r,
        )  # fmt: skip
        self.webhook_rejected = Counter(
            "bot_webhook_rejected", "Webhook requests refused, by reason", ["reason"], registry=r
        )
        self.webhook_duplicates = Counter(
            "bot_webhook_duplicates", "Webhook updates already stored (re-delivered)", registry=r
        )
        self.webhook_response_seconds = Histogram(
            "bot_webhook_response_seconds", "Time from a webhook request to its answer",
            buckets=FAST_BUCKETS, registry=r,
        )  # fmt: skip
        self.api_calls = Counter(
            "bot_telegram_api_calls", "Bot API calls, by method and outcome",
            ["method", "outcome"], registry=r,
        )  # fmt: skip
        self.api_rate_limited = Counter(
            "bot_telegram_api_rate_limited", "Bot API calls answered 429, by method", ["method"],
            registry=r,
        )  # fmt: skip
        self.api_seconds = Histogram(
            "bot_telegram_api_seconds", "Bot API call latency, by method", ["method"],
            buckets=HANDLER_BUCKETS, registry=r,
        )  # fmt: skip
        self.store_write_seconds = Histogram(
            "bot_store_write_seconds", "Durable store writes (journal append and fsync), by store",
            ["store"], buckets=FAST_BUCKETS, registry=r,
        )  # fmt: skip
        self.live = LiveSources()
        self._snapshot = _Snapshot()
        self._faq_cache: tuple[float, tuple[int, int]] | None = None
        r.register(_LiveCollector(self))
        self._unobserve: Callable[[], None] | None = None

    # -- hooks --------------------------------------------------------------------------------

    def observe_stores(self) -> None:
        """Start timing every durable write of this process (until ``close``)."""
        if self._unobserve is None:
            self._unobserve = observe_commits(self._store_written)

    def _store_written(self, store: str, seconds: float) -> None:
        self.store_write_seconds.labels(store).observe(seconds)

    def close(self) -> None:
        if self._unobserve is not None:
            self._unobserve()
            self._unobserve = None

    def received(self, kind: str, source: str) -> None:
        self.updates_received.labels(kind, source).inc()

    def handled(self, kind: str, seconds: float) -> None:
        self.updates_handled.labels(kind).inc()
        self.handling_seconds.labels(kind).observe(seconds)

    # -- scraping -----------------------------------------------------------------------------

    async def render(self) -> bytes:
        """The Prometheus text: live values read on the event loop, stored ones in a thread."""
        snapshot = _Snapshot()
        limiter = self.live.rate_limiter
        if limiter is not None:
            snapshot.queues = {lane.value: n for lane, n in limiter.queued().items()}
            snapshot.granted = {lane.value: n for lane, n in limiter.granted.items()}
        if self.live.broadcasts is not None:
            snapshot.broadcasts = self.live.broadcasts()
        if self.live.backlog is not None:
            snapshot.backlog = self.live.backlog()
        snapshot.faq = await asyncio.to_thread(self._faq_counts)
        self._snapshot = snapshot
        return await asyncio.to_thread(generate_latest, self.registry)

    def _faq_counts(self) -> tuple[int, int] | None:
        """The FAQ counts, read from the stores at most once a minute."""
        if self.live.faq_counts is None:
            return None
        now = time.monotonic()
        if self._faq_cache is None or now - self._faq_cache[0] > 60:
            self._faq_cache = (now, self.live.faq_counts())
        return self._faq_cache[1]


class _LiveCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snap = self._metrics._snapshot
        queue = GaugeMetricFamily(
            "bot_ratelimit_queue_depth", "Requests waiting for the rate limiter, by lane",
            labels=["lane"],
        )  # fmt: skip
        for lane, depth in snap.queues.items():
            queue.add_metric([lane], depth)
        yield queue
        granted = GaugeMetricFamily(
            "bot_ratelimit_granted", "Requests the rate limiter let through, by lane",
            labels=["lane"],
        )  # fmt: skip
        for lane, count in snap.granted.items():
            granted.add_metric([lane], count)
        yield granted
        yield GaugeMetricFamily(
            "bot_broadcasts_running", "Announcements being delivered", value=len(snap.broadcasts)
        )
        recipients = GaugeMetricFamily(
            "bot_broadcast_recipients",
            "Recipients of the running announcements, by delivery state",
            labels=["state"],
        )
        for state in ("total", "sent", "failed", "blocked", "unknown", "skipped", "remaining"):
            recipients.add_metric([state], _sum(snap.broadcasts, state))
        yield recipients
        if snap.backlog is not None:
            yield GaugeMetricFamily(
                "bot_webhook_backlog", "Updates stored and not handled yet", value=snap.backlog
            )
        if snap.faq is not None:
            answered, unanswered = snap.faq
            questions = GaugeMetricFamily(
                "bot_faq_questions",
                "FAQ questions kept in the stores (answered: uses counted; unanswered: kept for "
                "staff until handled or purged)",
                labels=["outcome"],
            )
            questions.add_metric(["answered"], answered)
            questions.add_metric(["unanswered"], unanswered)
            yield questions
            asked = answered + unanswered
            yield GaugeMetricFamily(
                "bot_faq_unanswered_ratio",
                "Share of FAQ questions the bot could not answer",
                value=unanswered / asked if asked else 0.0,
            )


def _sum(figures: Iterable[dict[str, int]], state: str) -> int:
    if state == "remaining":
        settled = ("sent", "failed", "blocked", "unknown", "skipped")
        return sum(f.get("total", 0) - sum(f.get(s, 0) for s in settled) for f in figures)
    return sum(f.get(state, 0) for f in figures)


# -- the hooks into python-telegram-bot --------------------------------------------------------


class MeteredApplication(Application[Any, Any, Any, Any, Any, Any]):
    """An Application that times every update it handles (``bot_data["metrics"]``)."""

    async def process_update(self, update: object) -> None:
        metrics = self.bot_data.get("metrics") if isinstance(self.bot_data, dict) else None
        if not isinstance(metrics, Metrics):
            await super().process_update(update)
            return
        started = time.perf_counter()
        try:
            await super().process_update(update)
        finally:
            metrics.handled(update_kind(update), time.perf_counter() - started)


class CountingQueue(asyncio.Queue[object]):
    """The Application's update queue, counting what long polling puts in."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            self._metrics.received(update_kind(item), "polling")
        await super().put(item)


async def count_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An error handler that counts errors by exception class (the real one answers)."""
    metrics = context.bot_data.get("metrics")
    if isinstance(metrics, Metrics) and context.error is not None:
        metrics.errors.labels(type(context.error).__name__).inc()


class MeteredRequest(BaseRequest):
    """Wraps the bot's HTTP requests: calls, failures, 429s and latency by Bot API method."""

    def __init__(self, inner: BaseRequest, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    @property
    def read_timeout(self) -> float | None:
        return self._inner.read_timeout

    async def initialize(self) -> None:
        await self._inner.initialize()

    async def shutdown(self) -> None:
        await self._inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        name = api_method(url)
        started = time.perf_counter()
        try:
            code, payload = await self._inner.do_request(
                url,
                method,
                request_data=request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        except BaseException:
            self._metrics.api_calls.labels(name, "network_error").inc()
            raise
        self._metrics.api_seconds.labels(name).observe(time.perf_counter() - started)
        if 200 <= code < 300:
            outcome = "ok"
        elif code == 429:
            outcome = "rate_limited"
            self._metrics.api_rate_limited.labels(name).inc()
        else:
            outcome = "error"
        self._metrics.api_calls.labels(name, outcome).inc()
        return code, payload

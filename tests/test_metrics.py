"""The Prometheus metrics (bot/metrics.py): Bot API calls and 429s by method through the
emulator, the figures read at scrape time, and nothing personal in any label."""

from __future__ import annotations

import re

from bot.metrics import Metrics, api_method
from bot.ratelimit import PriorityRateLimiter
from tests.harness import BotHarness

CITIZEN = 7201


def metrics_of(bot: BotHarness) -> Metrics:
    assert bot.app is not None
    metrics: Metrics = bot.app.bot_data["metrics"]
    return metrics


async def test_api_calls_and_429s_are_counted_by_method(bot: BotHarness) -> None:
    bot.emu.inject_fault(
        "sendMessage",
        error_code=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        chat_id=CITIZEN,
    )
    replies = await bot.send(CITIZEN, "syarat umur berapa")
    assert replies, "answered after the retry"
    text = (await metrics_of(bot).render()).decode()
    assert 'bot_telegram_api_rate_limited_total{method="sendMessage"} 1.0' in text
    assert 'bot_telegram_api_calls_total{method="sendMessage",outcome="rate_limited"} 1.0' in text
    assert 'bot_telegram_api_calls_total{method="sendMessage",outcome="ok"}' in text
    assert 'bot_updates_received_total{kind="message",source="polling"} 1.0' in text
    assert 'bot_updates_handled_total{kind="message"} 1.0' in text
    assert bot.app is not None
    services = bot.app.bot_data["services"]
    await services.call(services.stores.kv.put, "test", "k", 1)  # one durable write
    text = (await metrics_of(bot).render()).decode()
    assert 'bot_store_write_seconds_count{store="kv"}' in text
    # nothing personal in any label (a sample's value may hold the digits by chance: 0.0072019)
    labels = re.findall(r'="([^"]*)"', text)
    assert not [v for v in labels if str(CITIZEN) in v or "umur" in v], labels
    assert "umur" not in text
    assert bot.emu.token not in text


async def test_unanswered_questions_and_their_ratio(bot: BotHarness) -> None:
    await bot.send(CITIZEN, "xqzv plorb wuggle")  # nothing the FAQ knows
    text = (await metrics_of(bot).render()).decode()
    assert 'bot_faq_questions{outcome="unanswered"} 1.0' in text
    assert "bot_faq_unanswered_ratio 1.0" in text
    assert "plorb" not in text


async def test_figures_read_when_scraped() -> None:
    metrics = Metrics()
    limiter = PriorityRateLimiter()
    metrics.live.rate_limiter = limiter
    figures = [
        {"total": 100, "sent": 40, "failed": 1, "blocked": 2, "unknown": 0, "skipped": 0},
        {"total": 10, "sent": 10, "failed": 0, "blocked": 0, "unknown": 0, "skipped": 0},
    ]
    metrics.live.broadcasts = lambda: figures
    metrics.live.backlog = lambda: 3
    metrics.live.faq_counts = lambda: (30, 10)
    text = (await metrics.render()).decode()
    for line in (
        "bot_broadcasts_running 2.0",
        'bot_broadcast_recipients{state="total"} 110.0',
        'bot_broadcast_recipients{state="sent"} 50.0',
        'bot_broadcast_recipients{state="remaining"} 57.0',
        'bot_ratelimit_queue_depth{lane="bulk"} 0.0',
        "bot_webhook_backlog 3.0",
        'bot_faq_questions{outcome="answered"} 30.0',
        "bot_faq_unanswered_ratio 0.25",
    ):
        assert line in text, line
    metrics.close()


def test_method_labels_never_carry_the_token_or_a_path() -> None:
    assert api_method("https://api.telegram.org/bot123:ABC/sendMessage") == "sendMessage"
    assert api_method("https://api.telegram.org/file/bot123:ABC/photos/f.jpg") == "file_download"
    assert api_method("https://api.telegram.org/bot123:ABC/") == "other"

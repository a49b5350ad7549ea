"""Registration statistics for the staff: counts by day, week, kecamatan, programme, outcome and
status, plus FAQ usage and the unanswered-question rate; and their plain-text report."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from desk import labels, local_datetime, text
from screening.identity import load_wilayah
from screening.model import OUTCOMES
from store.registrations import STATUSES

if TYPE_CHECKING:
    from store import Stores

DAYS = 30
WEEKS_SHOWN = 8
FAQ_TOP = 5
UNKNOWN = "unknown"

Counts = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Stats:
    """A snapshot of the registrations on ``today`` (dates are Asia/Jakarta dates)."""

    today: date
    total: int
    by_day: tuple[tuple[date, int], ...]  # the last 30 days, oldest first, zeros included
    by_week: Counts  # ISO weeks ("2026-W48"), oldest first, only weeks with registrations
    by_kecamatan: Counts  # every kecamatan in code order, then "unknown" if any
    by_programme: Counts  # interests (korea_work, ...), most frequent first
    by_outcome: Counts  # screening outcomes over all screened programmes, in severity order
    by_status: Counts  # follow-up statuses in workflow order
    faq_top: Counts  # most used FAQ entries, most used first
    answered: int
    unanswered: int

    @property
    def today_count(self) -> int:
        """Registrations made today."""
        return self.by_day[-1][1] if self.by_day else 0

    @property
    def last_7_days(self) -> int:
        """Registrations in the last 7 days, today included."""
        return sum(count for _, count in self.by_day[-7:])

    @property
    def last_30_days(self) -> int:
        """Registrations in the last 30 days, today included."""
        return sum(count for _, count in self.by_day)

    @property
    def unanswered_rate(self) -> float | None:
        """Share of questions the FAQ could not answer, or ``None`` before any question."""
        asked = self.answered + self.unanswered
        return self.unanswered / asked if asked else None


def _ordered(counter: Counter[str], order: Iterable[str]) -> Counts:
    """Counts in a fixed order (zeros included), then any unexpected keys by frequency."""
    known = list(order)
    extra = [(key, n) for key, n in counter.most_common() if key not in known]
    return tuple((key, counter[key]) for key in known) + tuple(extra)


def compute_stats(
    registrations: Iterable[Mapping[str, Any]],
    *,
    faq_usage: Mapping[str, int] | None = None,
    unanswered: int = 0,
    answered: int = 0,
    today: date,
) -> Stats:
    """Count the registrations in one pass; ``today`` is the Asia/Jakarta reference date."""
    first_day = today - timedelta(days=DAYS - 1)
    per_day: Counter[date] = Counter()
    per_week: Counter[str] = Counter()
    kecamatan: Counter[str] = Counter()
    programmes: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    total = 0
    for record in registrations:
        total += 1
        day = local_datetime(record["created_at"]).date()
        if first_day <= day <= today:
            per_day[day] += 1
        year, week, _ = day.isocalendar()
        per_week[f"{year}-W{week:02d}"] += 1
        kecamatan[record.get("kecamatan") or UNKNOWN] += 1
        programmes.update(record.get("programmes") or ())
        outcomes.update((record.get("screening") or {}).values())
        statuses[record.get("status") or UNKNOWN] += 1
    kecamatan_ids = [kec.id for kec in load_wilayah().kecamatan]
    return Stats(
        today=today,
        total=total,
        by_day=tuple(
            (first_day + timedelta(days=i), per_day[first_day + timedelta(days=i)])
            for i in range(DAYS)
        ),
        by_week=tuple(sorted(per_week.items())),
        by_kecamatan=_ordered(kecamatan, kecamatan_ids),
        by_programme=tuple(programmes.most_common()),
        by_outcome=_ordered(outcomes, OUTCOMES),
        by_status=_ordered(statuses, STATUSES),
        faq_top=tuple(Counter(faq_usage or {}).most_common(FAQ_TOP)),
        answered=answered,
        unanswered=unanswered,
    )


def _section(title: str, rows: Iterable[tuple[str, int]], lang: str) -> list[str]:
    lines = [f"<b>{html.escape(title)}</b>"]
    lines += [f"• {html.escape(label)}: {count}" for label, count in rows]
    if len(lines) == 1:
        lines.append(text("stats", "empty", lang))
    return ["", *lines]


def _labelled(counts: Counts, names: Mapping[str, str], lang: str) -> list[tuple[str, int]]:
    unknown = text("stats", "unknown", lang)
    return [(names.get(key, unknown if key == UNKNOWN else key), n) for key, n in counts]


def format_stats(stats: Stats, lang: str) -> str:
    """The report as Telegram HTML (only ``<b>``), well under 3500 characters."""
    kecamatan_names = {kec.id: kec.name for kec in load_wilayah().kecamatan}
    lines = [
        f"<b>{html.escape(text('stats', 'title', lang).format(date=stats.today.isoformat()))}</b>",
        text("stats", "total", lang).format(count=stats.total),
        text("stats", "recent", lang).format(
            today=stats.today_count, week=stats.last_7_days, month=stats.last_30_days
        ),
    ]
    lines += _section(
        text("stats", "by_kecamatan", lang),
        _labelled(stats.by_kecamatan, kecamatan_names, lang),
        lang,
    )
    sections = (
        ("by_interest", stats.by_programme, labels("interests", lang)),
        ("by_outcome", stats.by_outcome, labels("outcomes", lang)),
        ("by_status", stats.by_status, labels("statuses", lang)),
    )
    for key, counts, names in sections:
        lines += _section(text("stats", key, lang), _labelled(counts, names, lang), lang)
    lines += _section(text("stats", "by_week", lang), stats.by_week[-WEEKS_SHOWN:], lang)
    lines += _section(text("stats", "faq_top", lang), stats.faq_top, lang)
    rate = stats.unanswered_rate
    lines.append("")
    if rate is None:
        lines.append(text("stats", "no_questions", lang))
    else:
        lines.append(
            text("stats", "unanswered", lang).format(
                unanswered=stats.unanswered,
                asked=stats.answered + stats.unanswered,
                rate=f"{rate:.0%}",
            )
        )
    return "\n".join(lines)


def stats_from(
    records: Iterable[Mapping[str, Any]],
    usage: Iterable[tuple[str, Any]],
    unanswered: int,
    today: date,
) -> Stats:
    """Statistics of the registrations; FAQ answers given count as the answered questions."""
    faq_usage = {key: int(count or 0) for key, count in usage}
    return compute_stats(
        records,
        faq_usage=faq_usage,
        unanswered=unanswered,
        answered=sum(faq_usage.values()),
        today=today,
    )


def gather_stats(stores: Stores, today: date) -> Stats:
    """The statistics straight from the stores (the command line)."""
    return stats_from(
        stores.registrations.iter_all(),
        stores.kv.items("faq_usage"),
        stores.unanswered.count_total(),
        today,
    )

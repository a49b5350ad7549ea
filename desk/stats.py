"""Registration statistics staff read at a glance: the follow-up funnel, the backlog of new leads
waiting, kecamatan × status, programme × outcome, contact attempts, registrations per day and
per week, FAQ usage and the unanswered-question rate, over a period ("7 hari", "30 hari",
"semua" or typed dates); and their plain-text report.

Dates are Asia/Jakarta dates (``store.clock``); a week runs Monday to Sunday and reads
"minggu 30 Nov – 6 Des".
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from desk import labels, local_datetime, text
from screening.identity import load_wilayah
from screening.model import OUTCOMES
from store.clock import parse_date
from store.registrations import STATUSES

if TYPE_CHECKING:
    from store import Stores

#: The pipeline a lead moves along; ``tidak_lanjut`` leaves it from any step.
PIPELINE = STATUSES[:5]
DROPPED = "tidak_lanjut"
BACKLOG_DAYS = (3, 7)  # "baru" for more than 3 days, for more than 7 days
DAILY_UP_TO = 62  # a period up to this many days is drawn per day, a longer one per week
WEEKS_SHOWN = 8
FAQ_TOP = 5
UNKNOWN = "unknown"
PRESETS = ("7", "30", "all")
#: Contact outcomes of the call log (``contacts[].outcome``), in the order a call goes.
CONTACT_OUTCOMES = (
    "no_answer",
    "wrong_number",
    "call_back",
    "interested",
    "declined",
    "visited_office",
)

Counts = tuple[tuple[str, int], ...]


# -- the period ----------------------------------------------------------------------------------


class PeriodError(ValueError):
    """A typed period that cannot be used (not a preset, a bad date, the end before the start)."""


@dataclass(frozen=True)
class Period:
    """Registrations made from ``since`` (``None``: the first one) to ``until``, both inclusive
    Asia/Jakarta dates; ``preset`` is ``7``, ``30``, ``all`` or ``dates`` (typed)."""

    preset: str
    until: date
    since: date | None = None

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and (self.since or day) <= day <= self.until

    @property
    def code(self) -> str:
        """A short code for callback data: the preset, or ``d20261101-20261130``."""
        if self.preset != "dates" or self.since is None:
            return self.preset
        return f"d{self.since:%Y%m%d}-{self.until:%Y%m%d}"


def preset_period(preset: str, today: date) -> Period:
    """The period of a preset button: the last 7 or 30 days (today included), or all."""
    if preset == "all":
        return Period("all", today)
    if preset in PRESETS:
        return Period(preset, today, today - timedelta(days=int(preset) - 1))
    raise PeriodError(preset)


def decode_period(code: str, today: date) -> Period:
    """The period of a code made by :attr:`Period.code`; ``PeriodError`` for anything else."""
    if code.startswith("d") and len(code) == 18 and code[9] == "-":
        try:
            since = date(int(code[1:5]), int(code[5:7]), int(code[7:9]))
            until = date(int(code[10:14]), int(code[14:16]), int(code[16:18]))
        except ValueError as exc:
            raise PeriodError(code) from exc
        if since > until:
            raise PeriodError(code)
        return Period("dates", until, since)
    return preset_period(code, today)


_WORDS = {"hari", "days", "day", "terakhir", "last"}
_ALL = {"semua", "all", "seluruh", "total"}


def parse_period(args: Sequence[str], today: date) -> Period:
    """A period as staff type it after ``/statistik``: nothing (all), ``7 hari``, ``30``,
    ``semua``, or one or two dates (``01-11-2026 30-11-2026``; one date: up to today)."""
    words = [arg.strip().lower() for arg in args if arg.strip()]
    words = [word for word in words if word not in _WORDS and word not in {"-", "s.d.", "sd"}]
    if not words or (len(words) == 1 and words[0] in _ALL):
        return Period("all", today)
    if len(words) == 1 and words[0].isdigit() and len(words[0]) <= 3:
        days = int(words[0])
        if not 1 <= days <= 366:
            raise PeriodError(words[0])
        return Period(
            str(days) if str(days) in PRESETS else "dates", today, today - timedelta(days - 1)
        )
    if len(words) > 2:
        raise PeriodError(" ".join(words))
    try:
        dates = [parse_date(word) for word in words]
    except ValueError as exc:
        raise PeriodError(str(exc)) from exc
    since, until = dates[0], dates[-1] if len(dates) == 2 else today
    if since > until:
        raise PeriodError(" ".join(words))
    return Period("dates", until, since)


# -- dates in words ------------------------------------------------------------------------------


def short_date(day: date, lang: str, *, year: bool = False) -> str:
    """``30 Nov`` / ``6 Des 2026``: the month abbreviated in ``lang``."""
    month = text("months", str(day.month), lang)
    return f"{day.day} {month} {day.year}" if year else f"{day.day} {month}"


def week_label(monday: date, lang: str, today: date | None = None) -> str:
    """``minggu 30 Nov – 6 Des`` (the year added when the week is not in ``today``'s year)."""
    sunday = monday + timedelta(days=6)
    other_year = today is not None and (monday.year != today.year or sunday.year != today.year)
    start = short_date(monday, lang, year=monday.year != sunday.year)
    end = short_date(sunday, lang, year=other_year or monday.year != sunday.year)
    return text("stats", "week", lang).format(start=start, end=end)


def period_label(period: Period, lang: str) -> str:
    """``30 hari terakhir (3 Nov – 2 Des 2026)``, ``semua``, ``1 Nov – 30 Nov 2026``."""
    if period.since is None:
        return text("stats", "period_all", lang)
    start = short_date(period.since, lang, year=period.since.year != period.until.year)
    span = f"{start} – {short_date(period.until, lang, year=True)}"
    if period.preset in PRESETS:
        return text("stats", "period_days", lang).format(days=period.preset, span=span)
    return span


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


# -- the figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """A snapshot of the registrations made in ``period``, on ``today``."""

    today: date
    period: Period
    total: int  # registrations in the period
    total_all: int  # every registration
    today_count: int  # registrations made today, last 7 and last 30 days (any period)
    last_7_days: int
    last_30_days: int
    by_day: tuple[tuple[date, int], ...]  # each day of a short period, zeros included
    by_week: tuple[tuple[date, int], ...]  # Mondays, oldest first, zeros between included
    funnel: Counts  # pipeline statuses: leads that ever reached each (or went further)
    by_status: Counts  # statuses now, in pipeline order, then tidak_lanjut
    backlog: Counts  # ("3", n): "baru" for more than 3 days; ("7", n)
    oldest_waiting: int | None  # days the oldest "baru" lead has waited
    never_contacted: int  # "baru" leads without a contact attempt
    by_kecamatan: Counts  # every kecamatan in code order, then "unknown" if any
    kecamatan_status: tuple[tuple[str, Counts], ...]  # kecamatan -> statuses (as by_kecamatan)
    by_programme: Counts  # interests (korea_work, ...), most frequent first
    by_outcome: Counts  # screening outcomes over all screened programmes, in severity order
    programme_outcome: tuple[tuple[str, Counts], ...]  # screened programme -> outcomes
    attempts: int  # contact attempts logged
    contacted: int  # leads with at least one attempt
    contact_outcomes: Counts
    faq_top: Counts
    answered: int
    unanswered: int

    @property
    def unanswered_rate(self) -> float | None:
        """Share of questions the FAQ could not answer, or ``None`` before any question."""
        asked = self.answered + self.unanswered
        return self.unanswered / asked if asked else None

    @property
    def dropped(self) -> int:
        return dict(self.by_status).get(DROPPED, 0)


def _ordered(counter: Counter[str], order: Iterable[str]) -> Counts:
    """Counts in a fixed order (zeros included), then any unexpected keys by frequency."""
    known = list(order)
    extra = [(key, n) for key, n in counter.most_common() if key not in known]
    return tuple((key, counter[key]) for key in known) + tuple(extra)


def furthest_step(record: Mapping[str, Any]) -> int:
    """The index in :data:`PIPELINE` of the furthest status a lead ever had (its history
    included: a lead that trained and then dropped out reached "ikut pelatihan")."""
    seen = [record.get("status")]
    seen += [
        entry.get("to") for entry in record.get("history") or () if entry.get("change") == "status"
    ]
    steps = [PIPELINE.index(status) for status in seen if status in PIPELINE]
    return max(steps, default=0)


def compute_stats(
    registrations: Iterable[Mapping[str, Any]],
    *,
    faq_usage: Mapping[str, int] | None = None,
    unanswered: int = 0,
    answered: int = 0,
    today: date,
    period: Period | None = None,
) -> Stats:
    """Count the registrations in one pass; ``today`` is the Asia/Jakarta reference date and
    ``period`` (default: all) the registration dates counted."""
    period = period or Period("all", today)
    per_day: Counter[date] = Counter()
    per_week: Counter[date] = Counter()
    kecamatan: Counter[str] = Counter()
    kecamatan_status: dict[str, Counter[str]] = {}
    programmes: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    programme_outcome: dict[str, Counter[str]] = {}
    statuses: Counter[str] = Counter()
    reached: Counter[int] = Counter()
    backlog: Counter[str] = Counter()
    contact_outcomes: Counter[str] = Counter()
    oldest: int | None = None
    total = total_all = recent_today = recent_7 = recent_30 = 0
    never_contacted = attempts = contacted = 0
    for record in registrations:
        total_all += 1
        day = local_datetime(record["created_at"]).date()
        age = (today - day).days
        recent_today += age == 0
        recent_7 += 0 <= age < 7
        recent_30 += 0 <= age < 30
        if day not in period:
            continue
        total += 1
        per_day[day] += 1
        per_week[monday_of(day)] += 1
        kec = record.get("kecamatan") or UNKNOWN
        status = record.get("status") or UNKNOWN
        kecamatan[kec] += 1
        kecamatan_status.setdefault(kec, Counter())[status] += 1
        programmes.update(record.get("programmes") or ())
        for programme, outcome in (record.get("screening") or {}).items():
            outcomes[outcome] += 1
            programme_outcome.setdefault(programme, Counter())[outcome] += 1
        statuses[status] += 1
        reached[furthest_step(record)] += 1
        contacts = record.get("contacts") or ()
        attempts += len(contacts)
        contacted += bool(contacts)
        contact_outcomes.update(c.get("outcome") or UNKNOWN for c in contacts)
        if status == "baru":
            never_contacted += not contacts
            for limit in BACKLOG_DAYS:
                backlog[str(limit)] += age > limit
            oldest = age if oldest is None else max(oldest, age)
    kecamatan_ids = [kec.id for kec in load_wilayah().kecamatan]
    status_order = [*STATUSES]
    by_kecamatan = _ordered(kecamatan, kecamatan_ids)
    first = period.since or (min(per_day) if per_day else period.until)
    span = (period.until - first).days + 1
    by_day: tuple[tuple[date, int], ...] = ()
    if span <= DAILY_UP_TO:
        by_day = tuple(
            (first + timedelta(days=i), per_day[first + timedelta(days=i)]) for i in range(span)
        )
    weeks = []
    if per_week:
        monday, last = monday_of(first), monday_of(period.until)
        while monday <= last:
            weeks.append((monday, per_week[monday]))
            monday += timedelta(days=7)
    return Stats(
        today=today,
        period=period,
        total=total,
        total_all=total_all,
        today_count=recent_today,
        last_7_days=recent_7,
        last_30_days=recent_30,
        by_day=by_day,
        by_week=tuple(weeks),
        funnel=tuple(
            (status, sum(n for step, n in reached.items() if step >= index))
            for index, status in enumerate(PIPELINE)
        ),
        by_status=_ordered(statuses, status_order),
        backlog=tuple((str(limit), backlog[str(limit)]) for limit in BACKLOG_DAYS),
        oldest_waiting=oldest,
        never_contacted=never_contacted,
        by_kecamatan=by_kecamatan,
        kecamatan_status=tuple(
            (kec, _ordered(kecamatan_status.get(kec, Counter()), status_order))
            for kec, _ in by_kecamatan
        ),
        by_programme=tuple(programmes.most_common()),
        by_outcome=_ordered(outcomes, OUTCOMES),
        programme_outcome=tuple(
            (programme, _ordered(counter, OUTCOMES))
            for programme, counter in sorted(
                programme_outcome.items(), key=lambda item: -sum(item[1].values())
            )
        ),
        attempts=attempts,
        contacted=contacted,
        contact_outcomes=_ordered(contact_outcomes, CONTACT_OUTCOMES) if attempts else (),
        faq_top=tuple(Counter(faq_usage or {}).most_common(FAQ_TOP)),
        answered=answered,
        unanswered=unanswered,
    )


# -- the report ----------------------------------------------------------------------------------


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def _names(lang: str) -> dict[str, str]:
    """Every label a count can carry, in ``lang``."""
    names = {kec.id: kec.name for kec in load_wilayah().kecamatan}
    for section in ("interests", "programmes", "outcomes", "statuses", "contact_outcomes"):
        names.update(labels(section, lang))
    names[UNKNOWN] = text("stats", "unknown", lang)
    return names


def _inline(counts: Counts, names: Mapping[str, str]) -> str:
    """``baru 3 · sudah dihubungi 1``: the counts that are not zero."""
    return " · ".join(f"{names.get(key, key)} {n}" for key, n in counts if n)


def report_title(stats: Stats, lang: str) -> str:
    """``Statistik pendaftaran · semua`` and, on a second line, ``per 3 Des 2026 · total 123
    pendaftar`` (the report's and the chart's title)."""
    return text("stats", "title", lang).format(
        period=period_label(stats.period, lang),
        date=short_date(stats.today, lang, year=True),
        count=stats.total,
    )


def format_stats(stats: Stats, lang: str) -> str:
    """The report as Telegram HTML (only ``<b>``), well under 4096 characters."""
    names = _names(lang)
    say = lambda key, **values: text("stats", key, lang).format(**values)  # noqa: E731
    title, _, subtitle = report_title(stats, lang).partition("\n")
    lines = [f"<b>📊 {html.escape(title)}</b>", html.escape(subtitle)]
    lines.append(
        say(
            "recent",
            today=stats.today_count,
            week=stats.last_7_days,
            month=stats.last_30_days,
            all=stats.total_all,
        )
    )

    def section(key: str, rows: list[str]) -> None:
        lines.extend(["", f"<b>{html.escape(text('stats', key, lang))}</b>"])
        lines.extend(rows or [text("stats", "empty", lang)])

    def bullet(label: str, value: object) -> str:
        return f"• {html.escape(label)}: {value}"

    funnel = [
        bullet(names[status], f"{n} ({_percent(n, stats.total)})") for status, n in stats.funnel
    ]
    funnel.append(
        bullet(names[DROPPED], f"{stats.dropped} ({_percent(stats.dropped, stats.total)})")
    )
    section("funnel", funnel if stats.total else [])
    section("by_status", [html.escape(_inline(stats.by_status, names))] if stats.total else [])

    backlog = dict(stats.backlog)
    waiting = [
        say("backlog", over3=backlog["3"], over7=backlog["7"]),
        say("never_contacted", count=stats.never_contacted),
    ]
    if stats.oldest_waiting is not None:
        waiting.append(say("oldest_waiting", days=stats.oldest_waiting))
    section("waiting", waiting)

    contacts = []
    if stats.attempts:
        average = f"{stats.attempts / stats.contacted:.1f}"
        contacts.append(
            say(
                "attempts",
                attempts=stats.attempts,
                leads=stats.contacted,
                average=average if lang == "en" else average.replace(".", ","),
            )
        )
        contacts.append("• " + html.escape(_inline(stats.contact_outcomes, names)))
    section("contacts", contacts)

    section(
        "by_kecamatan",
        [
            bullet(names.get(kec, kec), f"{n} — {html.escape(_inline(per_status, names))}")
            if n
            else bullet(names.get(kec, kec), 0)
            for (kec, n), (_, per_status) in zip(
                stats.by_kecamatan, stats.kecamatan_status, strict=True
            )
        ],
    )
    section(
        "by_programme",
        [
            bullet(
                names.get(prog, prog),
                f"{sum(n for _, n in outs)} — {html.escape(_inline(outs, names))}",
            )
            for prog, outs in stats.programme_outcome
        ],
    )
    section("by_interest", [bullet(names.get(k, k), n) for k, n in stats.by_programme])
    section(
        "by_week",
        [
            bullet(week_label(monday, lang, stats.today), n)
            for monday, n in stats.by_week[-WEEKS_SHOWN:]
        ],
    )
    section("faq_top", [bullet(key, n) for key, n in stats.faq_top])
    rate = stats.unanswered_rate
    lines.append("")
    if rate is None:
        lines.append(say("no_questions"))
    else:
        asked = stats.answered + stats.unanswered
        lines.append(
            say("unanswered", unanswered=stats.unanswered, asked=asked, rate=f"{rate:.0%}")
        )
    return "\n".join(lines)


def stats_from(
    records: Iterable[Mapping[str, Any]],
    usage: Iterable[tuple[str, Any]],
    unanswered: int,
    today: date,
    period: Period | None = None,
) -> Stats:
    """Statistics of the registrations; FAQ answers given count as the answered questions."""
    faq_usage = {key: int(count or 0) for key, count in usage}
    return compute_stats(
        records,
        faq_usage=faq_usage,
        unanswered=unanswered,
        answered=sum(faq_usage.values()),
        today=today,
        period=period,
    )


def gather_stats(stores: Stores, today: date, period: Period | None = None) -> Stats:
    """The statistics straight from the stores (the command line)."""
    return stats_from(
        stores.registrations.iter_all(),
        stores.kv.items("faq_usage"),
        stores.unanswered.count_total(),
        today,
        period,
    )

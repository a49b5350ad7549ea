"""The statistics as one PNG for the staff, in the report's terms: a title with the period, the
date and the total; the follow-up funnel; how long new leads have waited; registrations per day
(a short period) or per week ("minggu 30 Nov – 6 Des"); and kecamatan × status. Every bar
carries its number.

Uses matplotlib's object-oriented API with the Agg canvas: no pyplot, no GUI, no global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from desk import labels, text
from desk.export import open_private
from desk.stats import DROPPED, UNKNOWN, Stats, report_title, short_date, week_label
from screening.identity import load_wilayah

_BAR_COLOUR = "#1f6fb2"
_DROPPED_COLOUR = "#b23a1f"
# One colour per status, light to dark along the pipeline, red for "tidak lanjut".
_STATUS_COLOURS = {
    "baru": "#9ecae1",
    "dihubungi": "#6baed6",
    "ikut_pelatihan": "#3182bd",
    "lulus_pelatihan": "#08519c",
    "berangkat": "#2ca25f",
    DROPPED: _DROPPED_COLOUR,
}
_WAITING_COLOURS = ("#9ecae1", "#fdae6b", "#e6550d")
_MAX_TICKS = 10


def _label_bars(axes: Any, bars: Any, *, skip_zero: bool = True) -> None:
    """Write each bar's number at its end (zeros left out on busy time axes)."""
    numbers = ["" if skip_zero and value == 0 else f"{int(value)}" for value in bars.datavalues]
    axes.bar_label(bars, labels=numbers, padding=2, fontsize=8)


def _empty(axes: Any, lang: str) -> None:
    axes.text(
        0.5,
        0.5,
        text("chart", "empty", lang),
        ha="center",
        va="center",
        transform=axes.transAxes,
        color="grey",
    )
    axes.set_xticks([])
    axes.set_yticks([])


def _funnel(axes: Any, stats: Stats, statuses: dict[str, str], lang: str) -> None:
    steps = [*stats.funnel, (DROPPED, stats.dropped)]
    rows = list(range(len(steps)))[::-1]  # the first step at the top
    colours = [_BAR_COLOUR] * len(stats.funnel) + [_DROPPED_COLOUR]
    bars = axes.barh(rows, [n for _, n in steps], color=colours)
    axes.set_yticks(rows, [statuses.get(status, status) for status, _ in steps])
    axes.bar_label(bars, padding=2, fontsize=8)
    axes.set_title(text("chart", "funnel", lang), fontsize=10)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max(1, *(n for _, n in steps)) * 1.18)
    axes.grid(axis="x", alpha=0.3)


def _waiting(axes: Any, stats: Stats, lang: str) -> None:
    backlog = dict(stats.backlog)
    waiting = dict(stats.by_status).get("baru", 0)
    values = [waiting - backlog["3"], backlog["3"] - backlog["7"], backlog["7"]]
    names = [text("chart", key, lang) for key in ("waiting_0_3", "waiting_4_7", "waiting_8")]
    bars = axes.bar(names, values, color=_WAITING_COLOURS)
    axes.bar_label(bars, padding=2, fontsize=8)
    axes.set_title(text("chart", "waiting", lang), fontsize=10)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max(1, *values) * 1.2)
    axes.grid(axis="y", alpha=0.3)


def _over_time(axes: Any, stats: Stats, lang: str) -> None:
    if stats.by_day:
        names = [short_date(day, lang) for day, _ in stats.by_day]
        values = [n for _, n in stats.by_day]
        axes.set_title(text("chart", "per_day", lang), fontsize=10)
    else:
        names = [week_label(monday, lang, stats.today) for monday, _ in stats.by_week]
        values = [n for _, n in stats.by_week]
        axes.set_title(text("chart", "per_week", lang), fontsize=10)
    if not values:
        _empty(axes, lang)
        return
    positions = list(range(len(values)))
    bars = axes.bar(positions, values, color=_BAR_COLOUR)
    _label_bars(axes, bars)
    step = max(1, -(-len(positions) // _MAX_TICKS))
    ticks = positions[::-1][::step][::-1]  # always label the latest
    axes.set_xticks(ticks, [names[i] for i in ticks], fontsize=8, rotation=30, ha="right")
    axes.set_ylabel(text("chart", "count", lang))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max(1, *values) * 1.18)
    axes.grid(axis="y", alpha=0.3)


def _kecamatan(axes: Any, stats: Stats, statuses: dict[str, str], lang: str) -> None:
    names = {kec.id: kec.name for kec in load_wilayah().kecamatan}
    names[UNKNOWN] = text("stats", "unknown", lang)
    rows_data = list(reversed(stats.kecamatan_status))  # the first kecamatan at the top
    rows = list(range(len(rows_data)))
    left = [0] * len(rows)
    order = [status for status, _ in stats.by_status]
    for status in order:
        values = [dict(per_status).get(status, 0) for _, per_status in rows_data]
        if not any(values):
            continue
        bars = axes.barh(
            rows,
            values,
            left=left,
            color=_STATUS_COLOURS.get(status, "#999999"),
            label=statuses.get(status, status),
        )
        axes.bar_label(
            bars,
            labels=[str(v) if v else "" for v in values],
            label_type="center",
            fontsize=7,
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    for row, total in zip(rows, left, strict=True):
        axes.text(total, row, f" {total}", va="center", fontsize=8, fontweight="bold")
    axes.set_yticks(rows, [names.get(kec, kec) for kec, _ in rows_data])
    axes.set_title(text("chart", "per_kecamatan", lang), fontsize=10)
    axes.set_xlabel(text("chart", "count", lang))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max(1, *left) * 1.12)
    axes.grid(axis="x", alpha=0.3)


def render_chart(stats: Stats, path: Path, lang: str) -> Path:
    """Draw ``stats`` into a PNG at ``path`` (created 0600) and return ``path``."""
    figure = Figure(figsize=(10, 11.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, 2, height_ratios=(1.1, 1.1, 1.3), width_ratios=(1.6, 1))
    funnel = figure.add_subplot(grid[0, 0])
    waiting = figure.add_subplot(grid[0, 1])
    over_time = figure.add_subplot(grid[1, :])
    kecamatan = figure.add_subplot(grid[2, :])
    figure.suptitle(report_title(stats, lang), fontsize=12, fontweight="bold")
    statuses = labels("statuses", lang)
    _funnel(funnel, stats, statuses, lang)
    _waiting(waiting, stats, lang)
    _over_time(over_time, stats, lang)
    _kecamatan(kecamatan, stats, statuses, lang)
    handles, names = kecamatan.get_legend_handles_labels()
    if handles:  # the status colours, under the chart (never over a bar)
        figure.legend(handles, names, loc="outside lower center", ncols=6, fontsize=8)
    with open_private(path, "wb") as fh:  # 0600, like every file the bot writes
        figure.savefig(fh, format="png")
    return path

"""A two-panel PNG for the staff: registrations per day and registrations by kecamatan.

Uses matplotlib's object-oriented API with the Agg canvas: no pyplot, no GUI, no global state.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from desk import text
from desk.export import open_private
from desk.stats import UNKNOWN, Stats
from screening.identity import load_wilayah

_BAR_COLOUR = "#1f6fb2"
_TICK_EVERY = 5  # label every fifth day on the time axis


def render_chart(stats: Stats, path: Path, lang: str) -> Path:
    """Draw ``stats`` into a PNG at ``path`` and return ``path``."""
    figure = Figure(figsize=(8, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    per_day, per_kecamatan = figure.subplots(2, 1, height_ratios=(3, 2))

    days = [day for day, _ in stats.by_day]
    positions = list(range(len(days)))
    per_day.bar(positions, [count for _, count in stats.by_day], color=_BAR_COLOUR)
    ticks = positions[::-1][::_TICK_EVERY][::-1]  # always label today
    per_day.set_xticks(ticks, [days[i].strftime("%d/%m") for i in ticks])
    per_day.set_title(text("chart", "per_day", lang))
    per_day.set_ylabel(text("chart", "count", lang))
    per_day.yaxis.set_major_locator(MaxNLocator(integer=True))
    per_day.set_ylim(bottom=0)
    per_day.grid(axis="y", alpha=0.3)

    names = {kec.id: kec.name for kec in load_wilayah().kecamatan}
    names[UNKNOWN] = text("stats", "unknown", lang)
    kecamatan = list(reversed(stats.by_kecamatan))  # first kecamatan at the top
    rows = list(range(len(kecamatan)))
    per_kecamatan.barh(rows, [count for _, count in kecamatan], color=_BAR_COLOUR)
    per_kecamatan.set_yticks(rows, [names.get(key, key) for key, _ in kecamatan])
    per_kecamatan.set_title(text("chart", "per_kecamatan", lang))
    per_kecamatan.set_xlabel(text("chart", "count", lang))
    per_kecamatan.xaxis.set_major_locator(MaxNLocator(integer=True))
    per_kecamatan.set_xlim(left=0)
    per_kecamatan.grid(axis="x", alpha=0.3)

    with open_private(path, "wb") as fh:  # 0600, like every file the bot writes
        figure.savefig(fh, format="png")
    return path

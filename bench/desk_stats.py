"""Benchmark the staff statistics: compute, report and chart at 10k and 100k synthetic leads.

Prints, per size and period, the time to count (one pass), to write the report and to draw the
chart (a PNG, as ``/statistik`` sends it), and the report's length in characters.

Run: ``.venv/bin/python bench/desk_stats.py``
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from desk_export import synthetic_registrations

from desk.charts import render_chart
from desk.stats import compute_stats, format_stats, preset_period

SIZES = (10_000, 100_000)
TODAY = date(2026, 11, 27)  # the synthetic leads run from 1 January to late November


def main() -> None:
    print(f"{'leads':>8} {'period':<6} {'count s':>8} {'report s':>9} {'chart s':>8} {'chars':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            records = synthetic_registrations(size)
            for preset in ("30", "all"):
                started = time.perf_counter()
                stats = compute_stats(records, today=TODAY, period=preset_period(preset, TODAY))
                counted = time.perf_counter()
                report = format_stats(stats, "id")
                written = time.perf_counter()
                render_chart(stats, Path(tmp) / "chart.png", "id")
                drawn = time.perf_counter()
                print(
                    f"{size:>8} {preset:<6} {counted - started:>8.2f} {written - counted:>9.3f} "
                    f"{drawn - written:>8.2f} {len(report):>6}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

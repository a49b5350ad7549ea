"""Benchmark the staff exports: 10k and 100k synthetic registrations to XLSX and CSV.

Each case runs in a fresh process so that the peak RSS (``ru_maxrss``) belongs to that case
alone. Per case it prints the wall time of the export, the peak of memory allocated by the
export itself (tracemalloc, in a second run of the small cases only, because tracing slows
Python down), the process's peak RSS (building the records included), how far the RSS rose
above its level before the export (Linux VmHWM, reset just before), and the file size.

The records carry the desk's follow-up fields (a call log of 0–4 attempts, an assignee, a next
follow-up date) and notes with line breaks and tabs, so that row heights and wrapping are paid
for as in real use.

Run: ``.venv/bin/python bench/desk_export.py``
"""

from __future__ import annotations

import math
import multiprocessing
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desk.export import export_csv, export_xlsx
from screening.identity import load_wilayah

SIZES = (10_000, 100_000)
FORMATS = {"xlsx": export_xlsx, "csv": export_csv}
NAMES = {900: "Bu Rina", 901: "Pak Dedi", 902: "Mbak Sari"}
NOTES = (
    "ditelepon, minta jadwal pelatihan",
    "tidak diangkat;\tcoba lagi besok\nnomor kedua: lihat catatan",
    "sudah datang ke kantor, membawa KTP dan ijazah; " * 3,
)
FIRST_NAMES = ("Siti", "Dede", "Ñoman", "Ahmad", "Nur'aini", "Rohéndi", "Agus", "Dewi", "Rizki")
LAST_NAMES = ("Aminah", "Saputra", "Śaputra", "Hidayat", "Lestari", "Maulana", "Kurniawan")
INTERESTS = ("korea_work", "japan_work", "scholarship")
PROGRAMMES = ("eps_korea", "ssw_japan", "gks_undergrad", "gks_graduate")
OUTCOMES = ("eligible", "needs_preparation", "needs_medical_check", "not_eligible")
STATUSES = ("baru", "dihubungi", "ikut_pelatihan", "lulus_pelatihan", "berangkat", "tidak_lanjut")


def synthetic_registrations(count: int, seed: int = 2026) -> list[dict[str, Any]]:
    """``count`` plausible registration records (fake NIKs and phones, Kota Serang addresses)."""
    rng = random.Random(seed)
    places = [(kec.id, kel.id) for kec in load_wilayah().kecamatan for kel in kec.kelurahan]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = []
    for n in range(1, count + 1):
        kecamatan, kelurahan = rng.choice(places)
        born = start - timedelta(days=rng.randint(18 * 365, 39 * 365))
        day = born.day + (40 if rng.random() < 0.5 else 0)
        created = (start + timedelta(seconds=rng.randint(0, 330 * 86400))).isoformat()
        status = rng.choice(STATUSES)
        records.append(
            {
                "reg_no": f"SRG-2026-{n:06d}",
                "user_id": 10_000_000 + n,
                "chat_id": 10_000_000 + n,
                "full_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "nik": f"36730{rng.randint(1, 6)}{day:02d}{born:%m%y}{rng.randint(1, 9999):04d}",
                "phone": f"+628{rng.randint(11, 99)}{rng.randint(1_000_000, 99_999_999)}",
                "kecamatan": kecamatan,
                "kelurahan": kelurahan,
                "domicile_confirmed": True,
                "programmes": rng.sample(INTERESTS, rng.randint(1, 2)),
                "training_willing": rng.random() < 0.8,
                "email": f"warga{n}@example.id" if rng.random() < 0.4 else None,
                "screening": {rng.choice(PROGRAMMES): rng.choice(OUTCOMES)},
                "status": status,
                "status_reason": "pindah domisili" if status == "tidak_lanjut" else None,
                "notes": [{"at": created, "by": 900, "text": rng.choice(NOTES)}],
                "contacts": [
                    {"at": created, "by": 900, "outcome": "no_answer", "note": None}
                    for _ in range(rng.randint(0, 4))
                ],
                "assigned_to": rng.choice((900, 901, 902, None)),
                "next_follow_up": "2026-12-10" if rng.random() < 0.3 else None,
                "history": [{"at": created, "by": 10_000_000 + n, "change": "created"}],
                "created_at": created,
                "updated_at": created,
            }
        )
    return records


def _rss_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process from Linux ``/proc``, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise LookupError(field)


def _reset_peak_rss() -> None:
    """Restart the ``VmHWM`` high-water mark at the current RSS (Linux 4.0+)."""
    Path("/proc/self/clear_refs").write_text("5")


def run_case(size: int, fmt: str, traced: bool) -> dict[str, float]:
    """Export ``size`` records to ``fmt``; when ``traced``, export again under tracemalloc."""
    records = synthetic_registrations(size)
    export = FORMATS[fmt]
    traced_mb = float("nan")
    _reset_peak_rss()
    baseline_mb = _rss_mb("VmRSS")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"export.{fmt}"
        started = time.perf_counter()
        rows = export(records, path, names=NAMES)
        seconds = time.perf_counter() - started
        export_peak_mb = _rss_mb("VmHWM")
        file_mb = path.stat().st_size / 1e6
        if traced:
            tracemalloc.start()
            export(records, path, names=NAMES)
            traced_mb = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
    assert rows == size
    return {
        "seconds": seconds,
        "traced_mb": traced_mb,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,  # KiB
        "growth_mb": export_peak_mb - baseline_mb,
        "file_mb": file_mb,
    }


def _traced(megabytes: float) -> str:
    return "-" if math.isnan(megabytes) else f"{megabytes:.1f}"


def main() -> None:
    """Run every case in its own process and print a table."""
    print(
        f"{'rows':>8} {'format':<6} {'seconds':>8} {'rows/s':>8} {'traced peak MB':>15} "
        f"{'max RSS MB':>11} {'RSS growth MB':>14} {'file MB':>8}"
    )
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        for size in SIZES:
            for fmt in FORMATS:
                # tracemalloc slows Python several-fold; the writers stream, so their traced
                # peak does not depend on the row count and the small size is enough.
                figures = pool.apply(run_case, (size, fmt, size == min(SIZES)))
                print(
                    f"{size:>8} {fmt:<6} {figures['seconds']:>8.2f} "
                    f"{size / figures['seconds']:>8,.0f} {_traced(figures['traced_mb']):>15} "
                    f"{figures['rss_mb']:>11.0f} {figures['growth_mb']:>14.0f} "
                    f"{figures['file_mb']:>8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

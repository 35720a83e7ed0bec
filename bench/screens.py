"""/latest, /screen and /clusters over 1,000,000 stored transactions: the core's answer (SQL, ΔOwn for the
page, the Reply) before any rendering to Discord or the terminal.

Run: .venv/bin/python bench/screens.py [--rounds 30] [--with-indexes]    Target: p95 at most 100 ms each.

The synthetic store (bench/synth.py, ten years to 2025-12-30, 5,000 issuers) is copied first, since opening a
store migrates it. Windows are set against the synthetic data's last day (2025-12-31), not today. Issuer
histories (for ΔOwn) are dropped from the store's cache before every run, so each run reads them cold.
``--with-indexes`` runs on a second copy with the indexes suggested for the screens (see INDEXES).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from synth import build_big_store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.screens import (
    cluster_filter,
    clusters_report,
    latest_filter,
    latest_report,
    screen_filter,
    screen_report,
)
from bot.store.db import Store

COPY = Path("/tmp/insiderflow_bench_screens.db")
COPY_INDEXED = Path("/tmp/insiderflow_bench_screens_indexed.db")
DAY = date(2025, 12, 31)
INDEXES = (
    # /latest: walk filings newest first instead of skip-scanning filings_issuer per issuer.
    "CREATE INDEX IF NOT EXISTS filings_filed ON filings(filed_date, accepted_at)",
)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cases():  # type: ignore[no-untyped-def]
    y = {"traded_since": "2025-01-01", "traded_until": "2025-12-31", "today": DAY}
    return [
        ("/latest (defaults)", "latest", latest_filter(today=DAY)),
        ("/latest sales >= $1M, CFO", "latest", latest_filter(side="sales", min_value=1e6, role="CFO", today=DAY)),
        ("/latest code A (grants)", "latest", latest_filter(code="A", today=DAY)),
        ("/latest no plan, page 5", "latest5", latest_filter(plan="unknown", today=DAY)),
        ("/screen 2025 P >= $1M", "screen", screen_filter(codes="P", min_value=1e6, **y)),
        ("/screen 2025 S, ΔOwn >= 5%", "screen", screen_filter(codes="S", min_delta_own=5, **y)),
        ("/screen filed Q4, CFO, delay<=2, $10-200", "screen", screen_filter(
            filed_since="2025-10-01", role="CFO", max_delay=2, min_price=10, max_price=200, today=DAY)),
        ("/screen all history, S >= $5M", "screen", screen_filter(codes="S", min_value=5e6, today=DAY)),
        ("/screen 2025 codes A,M,F", "screen", screen_filter(codes="A,M,F", **y)),
        ("/screen 2025 by company, 3+ sellers", "screen", screen_filter(
            codes="S", group_by_company=True, min_insiders=3, **y)),
        ("/screen nothing matches (+hints)", "screen", screen_filter(codes="P", role="CEO", min_value=1e6, **y)),
        ("/clusters (defaults: buys, 14d, 2+)", "clusters", cluster_filter(today=DAY)),
        ("/clusters sales 2025, 30d, 3+", "clusters", cluster_filter(
            side="sales", days=30, min_insiders=3, since="2025-01-01", today=DAY)),
        ("/clusters buys, page 10", "clusters10", cluster_filter(today=DAY)),
    ]


async def run(path: Path, rounds: int) -> None:
    store = await Store.open(path)
    counts = await store.trades.counts()
    print(f"store: {counts['transactions']:,} transactions, {counts['filings']:,} filings, "
          f"{counts['issuers']:,} issuers ({path.name})")
    for label, kind, f in cases():
        times = []
        reply = None
        for _ in range(rounds):
            store.trades._latest.clear()  # cold issuer histories: ΔOwn is read fresh every run
            start = time.perf_counter()
            if kind.startswith("latest"):
                reply = await latest_report(store, f, page=4 if kind == "latest5" else 0)
            elif kind == "screen":
                reply = await screen_report(store, f)
            else:
                reply = await clusters_report(store, f, page=9 if kind == "clusters10" else 0)
            times.append((time.perf_counter() - start) * 1000)
        rows = len((reply.data or {}).get("rows", [])) if reply else 0
        flag = "" if pct(times, 95) <= 100 else "  over target"
        print(f"{label:<42} p50 {statistics.median(times):6.1f} ms  p95 {pct(times, 95):6.1f} ms  "
              f"({rows} rows){flag}")
    await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--with-indexes", action="store_true")
    args = parser.parse_args()
    source = await build_big_store()
    if not COPY.exists():  # a copy: opening migrates, and the shared synthetic store stays as built
        shutil.copy(source, COPY)
    path = COPY
    if args.with_indexes:
        if not COPY_INDEXED.exists():
            shutil.copy(source, COPY_INDEXED)
        store = await Store.open(COPY_INDEXED)
        for sql in INDEXES:
            await store.conn.execute(sql)
        await store.conn.execute("ANALYZE")
        await store.conn.commit()
        await store.close()
        path = COPY_INDEXED
    await run(path, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())

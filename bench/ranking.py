"""A one-year ranking (top net sellers) over 1,000,000 stored transactions.

Run: .venv/bin/python bench/ranking.py    Target: at most 50 ms.
The synthetic store is built once (about a minute) at /tmp/insiderflow_bench_1m.db and reused.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import date

from synth import build_big_store

from bot.periods import Period
from bot.reports import top_report
from bot.store.db import Store


async def main() -> None:
    path = await build_big_store()
    store = await Store.open(path)
    counts = await store.trades.counts()
    period = Period(date(2024, 1, 1), date(2024, 12, 31), "in 2024")
    raw, full = [], []
    for _ in range(20):
        t = time.perf_counter()
        ranked = await store.trades.rank_issuers(period.since, period.until)  # type: ignore[arg-type]
        raw.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        await top_report(store, period, limit=10)
        full.append((time.perf_counter() - t) * 1000)
    await store.close()
    print(f"store: {counts['transactions']:,} transactions, {counts['issuers']:,} issuers; "
          f"{len(ranked):,} issuers ranked for 2024")
    print(f"ranking query: median {statistics.median(raw):.1f} ms, max {max(raw):.1f} ms (target <= 50 ms)")
    print(f"/top reply:    median {statistics.median(full):.1f} ms, max {max(full):.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())

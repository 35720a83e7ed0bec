"""The issuer report for a ticker with 10 years of history: without the chart, and the chart warm.

Run: .venv/bin/python bench/report.py    Targets: report <= 50 ms, chart <= 200 ms warm.
Two stores: the bundled demo (TSLA, real filings 2009-2023) and a synthetic issuer with 2,000 filings
(20,000 rows, 10 years), the size of a large company's insider history.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from synth import synthetic_filings

from bot.charting import ChartMaker
from bot.demo import demo_filings
from bot.ingest import ingest_paths
from bot.periods import Period
from bot.reports import issuer_report
from bot.store.db import Store

ALL = Period(None, None, "over all stored history")


async def timed(label: str, store: Store, ticker: str, chart: ChartMaker | None, runs: int = 15) -> None:
    cold = []
    for _ in range(5):
        store.trades._latest.clear()  # as after a new filing: the history is read from SQLite again
        t = time.perf_counter()
        await issuer_report(store, ticker, ALL, chart=chart)
        cold.append((time.perf_counter() - t) * 1000)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        await issuer_report(store, ticker, ALL, chart=chart)
        times.append((time.perf_counter() - t) * 1000)
    rows = sum(len(h.rows) for _, h in store.trades._latest.values())
    print(f"{label:<42} {rows:>6} rows  warm median {statistics.median(times):6.1f} ms (max {max(times):6.1f})"
          f"  cold median {statistics.median(cold):6.1f} ms")


async def main() -> None:
    charts = ChartMaker()
    with tempfile.TemporaryDirectory() as tmp:
        demo = await Store.open(Path(tmp) / "demo.db")
        await ingest_paths(demo, [demo_filings()])
        await timed("TSLA (demo, real), report without chart", demo, "TSLA", None)
        await timed("TSLA (demo, real), report with chart", demo, "TSLA", charts)
        await demo.close()

        big = await Store.open(Path(tmp) / "big.db")
        filings = synthetic_filings(2_000, issuers=1, rows_per_filing=10, start=date(2015, 1, 1))
        await big.filings.ingest_many(filings)
        ticker = filings[0].ticker or ""
        await timed("synthetic 10 years, report without chart", big, ticker, None)
        await timed("synthetic 10 years, report with chart", big, ticker, charts)
        await big.close()
    print("targets: report <= 50 ms without the chart; chart <= 200 ms warm (difference of the two lines)")


if __name__ == "__main__":
    asyncio.run(main())

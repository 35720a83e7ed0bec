"""Ingest 10,000 filings (real parsed documents under new accession numbers) into a fresh SQLite store.

Run: .venv/bin/python bench/ingest.py    Target: at most 10 s.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from synth import corpus_filings

from bot.store.db import Store


async def main(count: int = 10_000) -> None:
    base = [f for f in corpus_filings() if f.document_type in ("4", "4/A")]
    filings = [
        replace(base[i % len(base)], accession=f"7{i:09d}-24-{i:06d}") for i in range(count)
    ]
    rows = sum(len(f.transactions) for f in filings)
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        start = time.perf_counter()
        for i in range(0, count, 500):
            await store.filings.ingest_many(filings[i : i + 500])
        elapsed = time.perf_counter() - start
        counts = await store.trades.counts()
        await store.close()
    print(f"ingested {counts['filings']:,} filings ({rows:,} rows) in {elapsed:.2f} s "
          f"= {count / elapsed:,.0f} filings/s (target: 10,000 in <= 10 s)")


if __name__ == "__main__":
    asyncio.run(main())

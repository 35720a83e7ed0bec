"""A one-year ranking (top net sellers) over 1,000,000 stored transactions, with each stock's return over the
year from cached daily closes.

Run: .venv/bin/python bench/ranking_returns.py    Target: at most 100 ms for the /top reply with returns.

Works on a copy of the shared synthetic store (bench/synth.py, /tmp/insiderflow_bench_1m.db), so the shared
file keeps its schema: the copy gains the price cache tables and one year of synthetic daily closes (a seeded
random walk) for every issuer's ticker, as if each had been fetched once. The vendors point at a closed port:
any cache miss would show up as a logged network failure and a slower run.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from synth import build_big_store

from bot.periods import Period
from bot.pricefeed import PriceSource
from bot.rankings import top_with_returns
from bot.reports import top_report
from bot.settings import Settings
from bot.store.db import Store
from bot.store.prices import PriceCache

COPY = Path("/tmp/insiderflow_bench_1m_prices.db")
YEAR = Period(date(2024, 1, 1), date(2024, 12, 31), "in 2024")
FETCHED = datetime(2025, 1, 2, 23, 0, tzinfo=UTC)
RUNS = 20


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def business_days(start: date, end: date) -> list[date]:
    days, d = [], start
    while d <= end:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


async def seed_prices(store: Store) -> int:
    """One year of synthetic closes per ticker, once (a random walk per ticker, seeded by its name)."""
    row = await store.fetchone("SELECT COUNT(*) FROM price_fetches")
    tickers = [r[0] for r in await store.fetchall("SELECT DISTINCT ticker FROM issuers WHERE ticker IS NOT NULL")]
    if row is not None and row[0] >= len(tickers):
        return 0
    assert YEAR.since is not None and YEAR.until is not None
    days = business_days(YEAR.since, YEAR.until)
    cache = PriceCache(store)
    stored = 0
    for i in range(0, len(tickers), 250):
        batch = []
        for ticker in tickers[i : i + 250]:
            rng = random.Random(ticker)
            price, closes = rng.uniform(5, 400), []
            for d in days:
                price *= 1 + rng.gauss(0.0003, 0.02)
                closes.append((d, round(price, 4)))
            batch.append((ticker, YEAR.since, YEAR.until, closes))
        stored += await cache.save_many(batch, source="yahoo", fetched_at=FETCHED)
        print(f"  seeded {min(i + 250, len(tickers)):,} tickers", end="\r", flush=True)
    print()
    return stored


def timed(samples: list[float], started: float) -> None:
    samples.append((time.perf_counter() - started) * 1000)


async def main() -> None:
    shared = await build_big_store()
    if not COPY.exists():
        shutil.copyfile(shared, COPY)
    store = await Store.open(COPY)
    seeded = await seed_prices(store)
    counts = await store.trades.counts()
    cached = await store.fetchone("SELECT COUNT(*), COUNT(DISTINCT ticker) FROM price_days")
    assert cached is not None
    base = closed_port()
    with tempfile.TemporaryDirectory() as empty:
        settings = Settings(yahoo_base=base, stooq_base=base, prices_dir=empty)
        plain: list[float] = []
        ten: list[float] = []
        page25: list[float] = []
        for run in range(RUNS + 1):
            if run == 1:  # run 0 warmed SQLite's page cache and the imports: report it apart
                cold = (plain.pop(), ten.pop(), page25.pop())
            # A fresh PriceSource each run (no in-process memo): every close comes from the store's cache.
            async with PriceSource(settings, store=store, clock=lambda: FETCHED + timedelta(days=30)) as prices:
                t = time.perf_counter()
                await top_report(store, YEAR, limit=10)
                timed(plain, t)
                t = time.perf_counter()
                reply = await top_with_returns(store, prices, YEAR, limit=10)
                timed(ten, t)
                t = time.perf_counter()
                await top_with_returns(store, prices, YEAR, limit=25, offset=10)
                timed(page25, t)
                assert not prices.reasons, prices.reasons  # no cache miss went to the (closed) network
    await store.close()
    assert reply.data is not None
    with_return = sum(1 for r in reply.data["rows"] if r["return"] is not None)
    print(f"store: {counts['transactions']:,} transactions, {counts['issuers']:,} issuers; cache: "
          f"{cached[0]:,} closes for {cached[1]:,} tickers" + (f" ({seeded:,} seeded now)" if seeded else ""))
    print(f"page 1: {with_return} of {len(reply.data['rows'])} rows with a return; "
          f"first row {reply.table.rows[0] if reply.table else None}")
    for label, samples, first in (("/top (no returns), 10 rows", plain, cold[0]),
                                  ("/top with returns, 10 rows", ten, cold[1]),
                                  ("/top with returns, 25 rows", page25, cold[2])):
        print(f"{label:28} median {statistics.median(samples):6.1f} ms, max {max(samples):6.1f} ms over {RUNS} "
              f"runs; first run {first:6.1f} ms" + ("   (target <= 100 ms)" if "returns, 10" in label else ""))


if __name__ == "__main__":
    asyncio.run(main())

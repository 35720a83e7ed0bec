"""Alert latency and throughput, through the real discord.py to the local fake Discord.

Run: .venv/bin/python bench/alerts.py [--rounds 2] [--charts]   (about 90 s)
Targets: an alert is posted at most one poll interval + 2 s after its filing appears in EDGAR's feed; 1,000
new filings scored and delivered to 100 servers.

1. Latency: the bot's watcher (1 s interval) over the fake EDGAR serving Tesla's November 2021 feed
   (tests/fixtures/watcher/), one filing appearing at a time at a random moment of the poll cycle; measured from
   the moment it appears to Discord's request carrying it (a new alert or a thread post: POST; another filing of
   an alerted trade day: PATCH of that alert). One server, sensitivity "everything", so every filing is news;
   with the alert chart, as the bot posts it.
2. Throughput: 100 servers (watchlists of 25 of 200 synthetic issuers, five servers on "all stored issuers",
   sensitivities and daily caps mixed) and 1,000 new synthetic filings over a 60,000-row history: the engine's
   scoring and recording, then the delivery of every message to the fake Discord (without charts unless
   ``--charts``: they cost ~40 ms of CPU each, in the bot's chart process pool).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import discord
from synth import synthetic_filings

from bot.alerts.delivery import Delivery, DeliveryConfig, DiscordTransport
from bot.alerts.engine import AlertConfig, AlertEngine, AlertService
from bot.alerts.watcher import Watcher
from bot.sec.client import EdgarClient, RateLimiter
from bot.store.db import Store
from tests.discord_fake import FakeDiscord, RecordedRequest
from tests.edgar_fake import EdgarFake
from tests.test_alerts import history_store, serve_threads, turn_on
from tests.test_watcher import FEED_PATH, TSLA_FEED, LiveFeed, serve_xml

GUILD, CHANNEL = 1_230_000_000_000_000_100, 1_230_000_000_000_000_200
INTERVAL = 1.0


async def discord_client(fake: FakeDiscord) -> discord.Client:
    discord.http.Route.BASE = fake.api_base
    client = discord.Client(intents=discord.Intents.none())
    await client.login(fake.token)
    for guild_id in fake.guilds:
        client._connection._add_guild_from_data(fake.guild_create_payload(guild_id))  # type: ignore[arg-type]
    return client


# ------------------------------------------------------------------------------------------- latency


async def latency_round(tmp: Path, rng: random.Random) -> list[tuple[str, float]]:
    path = tmp / f"latency-{rng.random():.6f}.db"
    await (await history_store(path)).close()
    samples: list[tuple[str, float]] = []
    async with EdgarFake() as edgar, FakeDiscord() as fake:
        feed = LiveFeed(TSLA_FEED, at=datetime(2021, 11, 10, 18, 0, tzinfo=UTC))  # before the first line
        edgar.route(FEED_PATH, feed)
        times = sorted({when for when, _ in feed.lines})
        for accession in sorted({b.split(b"accession-number=")[1].split(b"<")[0].decode() for _, b in feed.lines}):
            serve_xml(edgar, accession)
        serve_threads(fake)
        client = await discord_client(fake)
        store_w, store_a = await Store.open(path), await Store.open(path)
        await turn_on(store_a, GUILD, CHANNEL, alert_sensitivity="everything", alert_daily_cap=100)
        config = AlertConfig(max_age=None)
        async with EdgarClient(edgar.settings(), limiter=RateLimiter(10.0), max_attempts=1) as sec:
            service = AlertService(engine=AlertEngine(store_a, config=config),
                                   delivery=Delivery(store_a, DiscordTransport(client), config=config.delivery),
                                   watcher=None, owner_id="bench:1:bot", config=config,
                                   own_stores=[store_w, store_a])
            service.watcher = Watcher(store_w, sec, interval=INTERVAL, owner_id="bench:1:bot",
                                      on_filings=service.on_filings)
            service.start()
            try:
                await service.next_poll()
                for moment in times:
                    await asyncio.sleep(rng.uniform(0, INTERVAL))  # a random phase of the poll cycle
                    seen = len(fake.requests)
                    feed.at = moment
                    appeared = time.monotonic()
                    request = await fake.wait_for(predicate=_after(seen), timeout=INTERVAL + 10)
                    samples.append((request.method, request.timestamp - appeared))
                    # Let the rest of this filing's requests (an edit after a thread post) settle.
                    await asyncio.sleep(0.3)
            finally:
                await service.stop()
                await client.close()
    return samples


def _after(seen: int) -> Callable[[RecordedRequest], bool]:
    """The first request after the ``seen`` ones that carries an alert."""
    return lambda r: r.index >= seen and _carries(r)


def _carries(r: RecordedRequest) -> bool:
    method, path = r.method, r.path
    return path.startswith("/channels/") and path.count("/") in (3, 4) and not path.endswith("/threads") and (
        (method == "POST" and path.endswith("/messages")) or method == "PATCH")


# ---------------------------------------------------------------------------------------- throughput


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def throughput(tmp: Path, charts: bool) -> None:
    rng = random.Random(5)
    now = datetime(2024, 6, 14, 21, 0, tzinfo=UTC)
    store = await Store.open(tmp / "throughput.db")
    history = synthetic_filings(10_000, issuers=200, rows_per_filing=6, seed=1, start=date(2019, 1, 1), days=5 * 365)
    history = [replace(f, accession=f"6{i:09d}-19-{i % 1_000_000:06d}",
                       accepted_at=datetime.combine(f.filed_date, datetime.min.time(), UTC) + timedelta(hours=21))
               for i, f in enumerate(history) if f.filed_date and f.filed_date < now.date() - timedelta(days=3)]
    for i in range(0, len(history), 2_000):
        await store.filings.ingest_many(history[i:i + 2_000], source="backfill")
    issuers = sorted({f.issuer_cik for f in history})
    for n in range(100):
        guild, channel = 5_000_000 + n, 6_000_000 + n
        scope = "all" if n < 5 else "watchlist"
        await store.guilds.update_settings(
            guild, alert_channel_id=channel, alerts_enabled=True, alert_scope=scope,
            alert_sensitivity=("everything", "normal", "quiet")[n % 3], alert_daily_cap=100 if n % 2 else 10)
        for cik in rng.sample(issuers, 25):
            await store.guilds.add(guild, f"T{cik % 100_000:05d}", cik, 1)
    new = synthetic_filings(1_000, issuers=200, rows_per_filing=6, seed=2, start=now.date() - timedelta(days=3),
                            days=3)
    new = [replace(f, accession=f"5{i:09d}-24-{i % 1_000_000:06d}",
                   accepted_at=now - timedelta(minutes=rng.randrange(1, 600)), filed_date=now.date())
           for i, f in enumerate(new)]
    rows = await store.fetchone("SELECT COUNT(*) FROM transactions")
    await store.filings.ingest_many(new, source="watcher")

    clock = Clock(now)
    engine = AlertEngine(store, config=AlertConfig(), clock=clock)
    t0 = time.perf_counter()
    steps = []
    while True:
        result = await engine.step()
        if not result.filings:
            break
        steps.append(result)
    scored = time.perf_counter() - t0
    counts = await store.fetchone(
        "SELECT (SELECT COUNT(*) FROM alert_messages), (SELECT COUNT(*) FROM alert_items WHERE state='alert'), "
        "(SELECT COUNT(*) FROM alert_items WHERE state='digest'), "
        "(SELECT COUNT(DISTINCT guild_id) FROM alert_items)")
    assert counts is not None

    async with FakeDiscord() as fake:
        serve_threads(fake)
        for n in range(100):
            fake.add_guild(5_000_000 + n)
            fake.add_channel(6_000_000 + n, guild_id=5_000_000 + n, name="alerts")
        client = await discord_client(fake)
        delivery = Delivery(store, DiscordTransport(client), config=DeliveryConfig(charts=charts), clock=clock)
        t1 = time.perf_counter()
        while (await delivery.run_once()) is not None:
            pass
        delivered = time.perf_counter() - t1
        sent = await store.fetchone("SELECT COUNT(*) FROM alert_messages WHERE state='sent'")
        posted = len([r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages") and r.ok])
        await client.close()
    await store.close()
    assert sent is not None
    live = sum(s.live for s in steps)
    print(f"throughput: {live:,} new filings ({len(steps)} engine steps) against {rows[0] if rows else 0:,} stored "
          f"rows; 100 servers")
    print(f"  scored and recorded in {scored:.2f} s: {counts[1]:,} alerts in {counts[0]:,} messages for "
          f"{counts[3]} servers, {counts[2]:,} held by daily caps for the digest")
    print(f"  delivered {sent[0]:,} messages ({posted:,} POSTs) in {delivered:.2f} s "
          f"= {sent[0] / delivered:,.0f} messages/s (charts {'on' if charts else 'off'}); "
          f"total {scored + delivered:.2f} s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 17-filing feed (latency)")
    parser.add_argument("--charts", action="store_true", help="throughput with the alert charts too")
    args = parser.parse_args()
    # The feed starts empty (a warning each round) and discord.py notes the missing voice libraries: noise here.
    logging.getLogger("bot.alerts.watcher").setLevel(logging.ERROR)
    logging.getLogger("discord").setLevel(logging.ERROR)
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        samples: list[tuple[str, float]] = []
        for _ in range(args.rounds):
            samples.extend(await latency_round(tmp, rng))
        values = sorted(s for _, s in samples)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        kinds = {m: sum(1 for k, _ in samples if k == m) for m in ("POST", "PATCH")}
        print(f"latency, filing in the feed -> Discord request ({INTERVAL:g} s interval, {len(values)} filings: "
              f"{kinds['POST']} POST, {kinds['PATCH']} PATCH, with charts):")
        print(f"  p50 {statistics.median(values):.2f} s, p95 {p95:.2f} s, max {values[-1]:.2f} s "
              f"(target <= {INTERVAL + 2:g} s)")
        await throughput(tmp, args.charts)


if __name__ == "__main__":
    asyncio.run(main())

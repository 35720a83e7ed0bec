"""/insiders (with chart) and /top through the real discord.py and the fake Discord, over 1,000,000 rows.

Run: .venv/bin/python bench/commands.py
Prints p50/p95 from the interaction's arrival to the first response (the defer) and to the final
follow-up, and the ticker autocomplete's answer time. Targets: first response <= 100 ms; /insiders
follow-up with chart p95 <= 300 ms warm; autocomplete <= 50 ms.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

from synth import build_big_store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import create_bot  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.db import Store  # noqa: E402
from tests.discord_harness import open_discord_env  # noqa: E402

COPY = Path("/tmp/insiderflow_bench_commands.db")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run(env, name: str, options: dict, rounds: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    first, final = [], []
    for i in range(rounds):
        start = time.monotonic()
        # a different user each time: the per-user cooldown would otherwise answer instead
        iid = env.dispatch(env.slash(name, options, user_id=1_240_000_000_000_000_000 + i))
        response = await env.wait_response(iid, timeout=30)
        reply = await env.wait_reply(iid, timeout=30)
        assert reply.embeds and not reply.ephemeral, reply.json
        first.append((response.timestamp - start) * 1000)
        final.append((reply.timestamp - start) * 1000)
    return first, final


async def main(rounds: int = 30) -> None:
    source = await build_big_store()
    if not COPY.exists():  # a copy: opening migrates, and the shared synthetic store stays as built
        shutil.copy(source, COPY)
    store = await Store.open(COPY)
    counts = await store.trades.counts()
    busiest = await store.fetchone(
        "SELECT i.ticker FROM issuers i JOIN transactions t ON t.issuer_cik=i.cik GROUP BY i.cik "
        "ORDER BY COUNT(*) DESC LIMIT 1"
    )
    ticker = busiest[0]  # type: ignore[index]
    # Commands only: the watcher and alert delivery have their own bench (bench/alerts.py).
    settings = Settings(db_path=str(COPY), sec_user_agent="bench bench@example.com", chart_workers=1,
                        run_alerts=False)
    async with open_discord_env() as env:
        bot = create_bot(settings, store=store)
        await env.login(bot)
        await bot.tree.sync()
        await run(env, "insiders", {"ticker": ticker, "period": "all"}, 2)  # warm the pool and the cache
        print(f"store: {counts['transactions']:,} transactions; /insiders {ticker} (the busiest issuer)")
        for label, name, options in (
            ("/insiders with chart", "insiders", {"ticker": ticker, "period": "all"}),
            ("/top 1y", "top", {"period": "1y"}),
        ):
            first, final = await run(env, name, options, rounds)
            print(f"{label:<22} first response p50 {statistics.median(first):6.1f} ms  p95 {pct(first, 95):6.1f} ms"
                  f"   final p50 {statistics.median(final):6.1f} ms  p95 {pct(final, 95):6.1f} ms  ({rounds} runs)")
        latencies = []
        for i in range(rounds):
            start = time.monotonic()
            iid = env.dispatch(env.autocomplete("insiders", "ticker", "T0" + str(i % 10)))
            answer = await env.wait_response(iid, timeout=10)
            latencies.append((answer.timestamp - start) * 1000)
        print(f"{'ticker autocomplete':<22} answer p50 {statistics.median(latencies):6.1f} ms  "
              f"p95 {pct(latencies, 95):6.1f} ms (target <= 50 ms; 5,000 stored issuers)")
        await bot.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())

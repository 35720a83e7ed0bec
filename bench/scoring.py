"""Scoring 10,000 new sale days against a 1,000,000-row history: one batch statement, then the pure scorer.

Run: .venv/bin/python bench/scoring.py    Target: at most 1 s for baseline fetch + scoring.
Uses a private copy of the synthetic store (bench/synth.py, /tmp/insiderflow_bench_1m.db) so that opening it
(which migrates) never touches the shared file. The 10,000 newest sale days of the store play the new ones:
their own rows are in the store, and the batch reads only what came before each of them.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

from synth import BIG_STORE, build_big_store

from bot import rules
from bot.alerts.scoring import Policy, score_many
from bot.analysis.flow import TradeDay
from bot.analysis.rows import FilerGroup
from bot.store.baselines import BaselineRequest, Baselines
from bot.store.db import Store

COPY = Path("/tmp/insiderflow_bench_scoring.db")
EVENTS = 10_000
RUNS = 7

# The newest sale days (code S) with their row aggregates, as the watcher would have them from flow.trade_days.
_EVENTS_SQL = """
SELECT t.issuer_cik, t.group_key, t.transaction_date, SUM(t.value_cents), SUM(COALESCE(t.shares, 0)), COUNT(*),
       SUM(t.value_cents IS NULL), MIN(t.plan_flag), MAX(t.plan_flag), COUNT(t.plan_flag),
       SUM(t.shares) / (SUM(t.shares) + MIN(t.shares_owned_after))
FROM transactions t
WHERE t.code = 'S' AND t.is_derivative = 0
GROUP BY t.issuer_cik, t.group_key, t.transaction_date
ORDER BY t.transaction_date DESC, t.issuer_cik, t.group_key
LIMIT ?
"""


async def main() -> None:
    source = await build_big_store()
    if not COPY.exists():
        shutil.copyfile(source if source.exists() else BIG_STORE, COPY)
    store = await Store.open(COPY)
    try:
        counts = await store.trades.counts()
        rows = await store.fetchall(_EVENTS_SQL, (EVENTS,))
        items: list[tuple[int, TradeDay]] = []
        for r in rows:
            plan = bool(r[7]) if r[9] == r[5] and r[7] == r[8] else None
            items.append((r[0], TradeDay(
                group_key=r[1], day=date.fromisoformat(r[2]), side=rules.SELL, shares=float(r[4]),
                value_cents=int(r[3] or 0), unpriced_rows=int(r[6]), rows=int(r[5]), accessions=(), plan=plan,
                plan_adoption_date=None, sell_to_cover=False, private_from_issuer=False, late=False,
                delta_own=float(r[10]) if r[10] is not None else None,
            )))
        keys = {d.group_key for _, d in items}
        groups = await store.trades.groups_for_issuer(None, keys, "9999-12-31T23:59:59Z")
        requests = [BaselineRequest(cik, d.group_key, d.day, d.side, None) for cik, d in items]
        baselines = Baselines(store)
        policy = Policy(sensitivity="normal")

        fetch_ms, score_ms, total_ms = [], [], []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            found = await baselines.for_events(requests)
            t1 = time.perf_counter()
            decisions = score_many(
                ((d, groups.get(d.group_key) or FilerGroup(d.group_key, (d.group_key,), ()), b)
                 for (_, d), b in zip(items, found)),
                policy,
            )
            t2 = time.perf_counter()
            fetch_ms.append((t1 - t0) * 1000)
            score_ms.append((t2 - t1) * 1000)
            total_ms.append((t2 - t0) * 1000)

        fired: Counter[str] = Counter()
        for sensitivity in ("everything", "normal", "quiet"):
            p = replace(policy, sensitivity=sensitivity)
            fired[sensitivity] = sum(
                1 for dec in score_many(
                    ((d, groups.get(d.group_key) or FilerGroup(d.group_key, (d.group_key,), ()), b)
                     for (_, d), b in zip(items, found)),
                    p,
                ) if dec.fire
            )
        prior_days = sum(len(b.prior) for b in found)
        peer_days = sum(len(b.issuer_recent) for b in found)
    finally:
        await store.close()

    print(f"store: {counts['transactions']:,} transactions, {counts['issuers']:,} issuers "
          f"({COPY}, a copy of {BIG_STORE.name})")
    print(f"events: {len(items):,} sale days {items[-1][1].day}..{items[0][1].day}; batch returned "
          f"{prior_days:,} prior days and {peer_days:,} cluster-window days; {len(decisions):,} decisions")
    print(f"fired: everything {fired['everything']:,}, normal {fired['normal']:,}, quiet {fired['quiet']:,}")
    print(f"baseline fetch (1 statement): median {statistics.median(fetch_ms):.0f} ms, max {max(fetch_ms):.0f} ms")
    print(f"scoring (pure):               median {statistics.median(score_ms):.0f} ms, max {max(score_ms):.0f} ms")
    print(f"fetch + scoring:              median {statistics.median(total_ms):.0f} ms, max {max(total_ms):.0f} ms "
          f"(target <= 1000 ms)")


if __name__ == "__main__":
    asyncio.run(main())

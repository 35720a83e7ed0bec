"""Time the issuer chart: prints ms per render, cold (first call) and warm (median/min/max).

    .venv/bin/python bench/chart.py [--runs 20] [--out /tmp/bench_chart.png]

Prices are the real TSLA file from tests/fixtures/prices (2013-01-02..2023-12-29, 2,768 sessions). Trades
are generated from it (no network, no database): a sale every 5th session and a purchase every 35th,
priced as a Form 4 would report them (the adjusted close times the later split factor), so the split
conversion runs too. Aim: <= 200 ms warm for the 10-year case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.prices import PriceSeries, SplitTable, load_price_file
from bot.render.chart import ChartTrade, render_issuer_chart

PRICES = ROOT / "tests" / "fixtures" / "prices"


def generated_trades(prices: PriceSeries, splits: SplitTable) -> list[ChartTrade]:
    trades: list[ChartTrade] = []
    for i, (ts, close) in enumerate(prices.closes.items()):
        day = ts.date()
        factor = splits.factor_after(prices.ticker, day)
        reported = float(close) * factor
        if i % 5 == 0:
            shares = 20_000 + (i * 7919) % 200_000  # deterministic spread of sizes
            trades.append(ChartTrade(day, "sell", shares, reported, round(shares * reported * 100)))
        if i % 35 == 0:
            shares = 5_000 + (i * 104_729) % 50_000
            trades.append(ChartTrade(day, "buy", shares, reported, round(shares * reported * 100)))
    return trades


def timed(label: str, render: Callable[[], bytes], runs: int) -> bytes:
    t0 = time.perf_counter()
    png = render()
    cold = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        render()
        samples.append((time.perf_counter() - t0) * 1000)
    print(f"{label:<46} cold {cold:6.0f} ms   warm median {statistics.median(samples):5.0f} ms"
          f"  min {min(samples):4.0f}  max {max(samples):4.0f}  ({runs} runs, {len(png) // 1024} KiB)")
    return png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, help="write the 10-year PNG here")
    args = parser.parse_args()

    splits = SplitTable.from_csv(PRICES / "splits.csv")
    prices = load_price_file(PRICES / "TSLA_daily_2013-2023.csv")
    trades = generated_trades(prices, splits)
    last_two_months = [t for t in trades if date(2021, 11, 1) <= t.day <= date(2021, 12, 31)]
    print(f"TSLA {prices.first_day}..{prices.last_day}: {len(prices)} closes, {len(trades)} trades")

    png = timed("10 years, prices + trades", lambda: render_issuer_chart(
        trades, prices, title="Tesla (TSLA): insider trades", splits=splits, ticker="TSLA"), args.runs)
    timed("2 months, prices + trades", lambda: render_issuer_chart(
        last_two_months, prices, title="Tesla (TSLA): Nov-Dec 2021", splits=splits, ticker="TSLA"), args.runs)
    timed("10 years, trades only (no price data)", lambda: render_issuer_chart(
        trades, None, title="Tesla (TSLA): no prices", splits=splits, ticker="TSLA"), args.runs)
    timed("10 years, prices only (no trades)", lambda: render_issuer_chart(
        [], prices, title="Tesla (TSLA): no trades"), args.runs)
    if args.out:
        args.out.write_bytes(png)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Turning an issuer's flow into a chart: trade days + prices -> PNG, in-process or in a worker pool."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from importlib import resources
from pathlib import Path

from bot import rules
from bot.analysis.flow import IssuerFlow
from bot.periods import Period
from bot.prices import LocalPrices, SplitTable
from bot.render.chart import ChartTrade, render_issuer_chart

log = logging.getLogger(__name__)


def demo_prices_dir() -> Path:
    return Path(str(resources.files("bot") / "demo_data" / "prices"))


class ChartMaker:
    """Builds the chart of an issuer report. Rendering runs in ``executor`` when given (the bot's process
    pool) so a half-second render never stalls the event loop."""

    def __init__(self, prices_dir: str | Path | None = None, executor: Executor | None = None) -> None:
        folder = Path(prices_dir) if prices_dir else demo_prices_dir()
        self.prices = LocalPrices(folder) if folder.is_dir() else None
        split_file = folder / "splits.csv"
        if not split_file.is_file():
            split_file = demo_prices_dir() / "splits.csv"
        self.splits = SplitTable.from_csv(split_file) if split_file.is_file() else SplitTable()
        self.executor = executor

    def chart_trades(self, flow: IssuerFlow) -> list[ChartTrade]:
        days = flow.days
        return [
            ChartTrade(
                day=d.day,
                side="buy" if d.side == rules.BUY else "sell",
                shares=d.shares,
                price=d.average_price,
                value_cents=d.value_cents,
            )
            for d in days
        ]

    async def __call__(self, flow: IssuerFlow, period: Period) -> bytes | None:
        trades = self.chart_trades(flow)
        if not trades:
            return None
        ticker = flow.history.ticker
        start = period.since or min(t.day for t in trades)
        series = self.prices.get(ticker, since=start) if (self.prices and ticker) else None
        # Up to the period's end, but not into months with neither trades nor prices.
        last_known = max([t.day for t in trades] + ([series.last_day] if series and series.last_day else []))
        end = min(period.until, last_known) if period.until else last_known
        title = f"{ticker or flow.history.issuer_name}: insider trades and monthly net flow"
        args = (trades, series)
        kwargs = {"title": title, "splits": self.splits, "ticker": ticker, "start": start, "end": end}
        if self.executor is None:
            return render_issuer_chart(*args, **kwargs)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, _render, args, kwargs)


def _render(args: tuple, kwargs: dict) -> bytes:
    return render_issuer_chart(*args, **kwargs)

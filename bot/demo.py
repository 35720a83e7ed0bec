"""`insiderflow demo`: the bundled real filings into a fresh store, reports in the terminal, charts on disk."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from bot.charting import ChartMaker
from bot.ingest import ingest_paths
from bot.periods import Period
from bot.pricefeed import PriceSource
from bot.rankings import top_with_returns
from bot.render.reply import Chart
from bot.render.table_image import reply_table_png
from bot.render.terminal import print_reply
from bot.reports import insider_report, issuer_report
from bot.settings import Settings
from bot.store.db import Store

# Issuers with deep histories in the bundled filings, and the window worth looking at for each.
SHOWCASE = (
    ("TSLA", Period(date(2021, 11, 1), date(2021, 12, 31), "in Nov-Dec 2021 (Musk's sale wave)")),
    ("MSFT", Period(None, None, "over all stored history")),
    ("NTRA", Period(None, None, "over all stored history")),
)


def demo_filings() -> Path:
    return Path(str(resources.files("bot") / "demo_data" / "filings.zip"))


async def run_demo(db_path: Path, out: Path, console: Console) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    store = await Store.open(db_path)
    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
            task = bar.add_task("loading bundled SEC filings", total=None)
            report = await ingest_paths(
                store, [demo_filings()], progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
        counts = await store.trades.counts()
        console.print(
            f"[bold]{report.summary()}[/bold]: {counts['transactions']} transaction rows, "
            f"{counts['issuers']} issuers, {counts['insiders']} insiders in {db_path}\n"
        )
        charts = ChartMaker()
        for ticker, period in SHOWCASE:
            reply = await issuer_report(store, ticker, period, chart=charts)
            print_reply(reply, console, chart_dir=out)
            console.print()
        # The seed's table: net insider sales since a date next to the stock's return since then. The
        # bundled prices end 2023-12-29 for most tickers, so the window ends there.
        async with PriceSource(Settings(), store=store) as prices:
            window = Period(date(2021, 1, 1), date(2023, 12, 29), "from 2021-01-01 to 2023-12-29")
            top = await top_with_returns(store, prices, window, limit=10)
            png = reply_table_png(top)
            if png:
                top.chart = Chart(png, "top_sellers.png")
            print_reply(top, console, chart_dir=out)
            console.print()
            print_reply(await insider_report(store, "Botha Roelof", prices=prices), console)
    finally:
        await store.close()
    console.print(
        f"\nNext: [bold]insiderflow --db {db_path} insiders FB --period all[/bold] "
        "(FB and META are one issuer), or see README.md to run the Discord bot."
    )
    return 0

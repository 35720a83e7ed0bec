"""The terminal face of insiderflow: the same core, replies drawn with rich."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.periods import Period, PeriodError, parse_day, parse_period
from bot.render.reply import Reply
from bot.render.terminal import print_reply
from bot.settings import Settings

log = logging.getLogger("insiderflow")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    )


def _as_of(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"--as-of '{text}' is not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
        if len(text) == 10:  # a bare date means the end of that day
            value = value.replace(hour=23, minute=59, second=59)
    return value


def _period(args: argparse.Namespace, default: str = "all") -> Period:
    today = datetime.now(UTC).date()
    if getattr(args, "since", None):
        return parse_period(args.since, today, until=args.until)
    return parse_period(getattr(args, "period", None) or default, today, until=getattr(args, "until", None))


def _emit(reply: Reply, args: argparse.Namespace, console: Console) -> int:
    if getattr(args, "json", False):
        payload = dict(reply.data or {})
        payload.setdefault("title", reply.title)
        payload["as_of"] = reply.as_of
        if reply.tone == "error":
            payload["error"] = reply.description
        print(json.dumps(payload, indent=2, default=str))
    else:
        print_reply(reply, console, chart_dir=Path(getattr(args, "out", "out")))
    return 1 if reply.tone == "error" else 0


async def _open_store(args: argparse.Namespace):
    from bot.store.db import Store

    return await Store.open(args.db)


async def cmd_ingest(args: argparse.Namespace, console: Console) -> int:
    from bot.ingest import ingest_paths

    store = await _open_store(args)
    try:
        with _progress(console) as progress:
            task = progress.add_task("ingesting", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = await ingest_paths(store, args.paths, progress=tick)
    finally:
        await store.close()
    console.print(f"[bold]{report.summary()}[/bold] into {args.db}")
    for source, reason in report.quarantined[:20]:
        console.print(f"[yellow]quarantined[/yellow] {source}: {reason}")
    return 0


async def cmd_insiders(args: argparse.Namespace, console: Console) -> int:
    from bot.charting import ChartMaker
    from bot.pricefeed import PriceSource
    from bot.reports import issuer_report

    store = await _open_store(args)
    settings = _settings(args)
    try:
        chart = None if (args.json or args.no_chart) else ChartMaker(settings.prices_dir or None)
        async with PriceSource(settings, store=store) as prices:
            reply = await issuer_report(
                store, args.ticker, _period(args), as_of=_as_of(args.as_of), chart=chart, with_rows=args.json,
                prices=prices,
            )
    finally:
        await store.close()
    return _emit(reply, args, console)


async def cmd_top(args: argparse.Namespace, console: Console) -> int:
    from bot.pricefeed import PriceSource
    from bot.rankings import top_with_returns
    from bot.render.reply import Chart
    from bot.render.table_image import reply_table_png

    store = await _open_store(args)
    try:
        async with PriceSource(_settings(args), store=store) as prices:
            side = {"sales": "sells", "purchases": "buys"}.get(args.side, args.side)
            reply = await top_with_returns(
                store, prices, _period(args, default="1y"), side=side, limit=args.limit,
                as_of=_as_of(args.as_of),
            )
        if not args.json and (png := reply_table_png(reply)):
            reply.chart = Chart(png, "top.png")
    finally:
        await store.close()
    return _emit(reply, args, console)


async def cmd_insider(args: argparse.Namespace, console: Console) -> int:
    from bot.pricefeed import PriceSource
    from bot.reports import insider_report

    store = await _open_store(args)
    try:
        async with PriceSource(_settings(args), store=store) as prices:
            reply = await insider_report(store, args.name, as_of=_as_of(args.as_of), prices=prices)
    finally:
        await store.close()
    return _emit(reply, args, console)


async def cmd_pulse(args: argparse.Namespace, console: Console) -> int:
    from bot.pulse import market_pulse

    store = await _open_store(args)
    try:
        reply = await market_pulse(store, weeks=args.weeks, as_of=_as_of(args.as_of), chart=not args.json)
    finally:
        await store.close()
    return _emit(reply, args, console)


async def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from bot.demo import run_demo

    return await run_demo(Path(args.db_demo), Path(args.out), console)


async def cmd_sync(args: argparse.Namespace, console: Console) -> int:
    from bot.sync import sync_tickers

    settings = _settings(args)
    store = await _open_store(args)
    try:
        since = parse_day(args.since) if args.since else date(datetime.now(UTC).year - args.years, 1, 1)
        with _progress(console) as progress:
            tasks: dict[str, int] = {}

            def tick(ticker: str, done: int, total: int) -> None:
                if ticker not in tasks:
                    tasks[ticker] = progress.add_task(f"sync {ticker}", total=total)
                progress.update(tasks[ticker], completed=done, total=total)

            results = await sync_tickers(store, settings, args.tickers, since=since, progress=tick)
    finally:
        await store.close()
    status = 0
    for ticker, result in results.items():
        if isinstance(result, str):
            console.print(f"[yellow]{ticker}[/yellow]: {result}")
            status = 1
        else:
            console.print(f"[bold]{ticker}[/bold]: {result.summary()}")
    return status


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(env_file=getattr(args, "env_file", ".env"))


def build_parser() -> argparse.ArgumentParser:
    default_db = os.environ.get("INSIDERFLOW_DB") or Settings.load().db_path
    parser = argparse.ArgumentParser(
        prog="insiderflow", description="SEC insider filings (Form 4) as answers: CLI of the insiderflow bot."
    )
    parser.add_argument("--db", default=default_db, help="SQLite store (default: INSIDERFLOW_DB or %(default)s)")
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="load the bundled real filings into a fresh store, print reports, write charts")
    p.add_argument("--out", default="out", help="folder for charts and the demo store (default: ./out)")
    p.add_argument("--demo-db", dest="db_demo", default="out/demo.db", help="demo store file (recreated)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ingest", help="load Form 4 XML / .txt files, folders or submissions JSON into the store")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("sync", help="fetch tickers' Forms 4 live from EDGAR (needs SEC_USER_AGENT)")
    p.add_argument("tickers", nargs="+")
    p.add_argument("--years", type=int, default=2, help="history to load (default: 2 years)")
    p.add_argument("--since", help="load filings from this date (YYYY-MM-DD) instead of --years")
    p.set_defaults(func=cmd_sync)

    def add_period(p: argparse.ArgumentParser, default: str) -> None:
        p.add_argument("--period", help=f"1w, 1m, 3m, 6m, 1y, 2y, 5y, ytd or all (default: {default})")
        p.add_argument("--since", help="start date YYYY-MM-DD (transaction date)")
        p.add_argument("--until", help="end date YYYY-MM-DD (transaction date)")
        p.add_argument("--as-of", help="only filings accepted by then (default: now)")
        p.add_argument("--json", action="store_true", help="print JSON instead of tables")
        p.add_argument("--out", default="out", help="folder for charts (default: ./out)")

    p = sub.add_parser("insiders", help="an issuer's insider flow, with a chart")
    p.add_argument("ticker")
    add_period(p, "all")
    p.add_argument("--no-chart", action="store_true")
    p.set_defaults(func=cmd_insiders)

    p = sub.add_parser("top", help="ranked net sellers or buyers over a period")
    p.add_argument("--side", choices=("sells", "buys", "sales", "purchases"), default="sells",
                   help="net sellers (sells, sales) or net buyers (buys, purchases)")
    p.add_argument("--limit", type=int, default=10)
    add_period(p, "1y")
    p.set_defaults(func=cmd_top)

    p = sub.add_parser("pulse", help="market-wide ratio of insider sales to purchases, week by week")
    p.add_argument("--weeks", type=int, default=12, help="weeks back from --as-of (default 12)")
    p.add_argument("--as-of", help="end of the window and point in time (default: now)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default="out", help="folder for the chart (default: ./out)")
    p.set_defaults(func=cmd_pulse)

    p = sub.add_parser("insider", help="one insider across issuers, with their usual pattern")
    p.add_argument("name", help="name (or part of it) or CIK")
    p.add_argument("--as-of")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default="out")
    p.set_defaults(func=cmd_insider)

    from bot.alerts.watcher import add_watch_command
    from bot.app import add_bot_commands
    from bot.backfill import add_backfill_command
    from bot.screens import add_screen_commands

    add_backfill_command(sub)
    add_screen_commands(sub)
    add_watch_command(sub)
    add_bot_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    console = Console()
    try:
        return asyncio.run(args.func(args, console))
    except (PeriodError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("interrupted; what was stored is kept")
        return 130
    except Exception as exc:  # noqa: BLE001  # the last line of defence: one line, not a traceback
        from bot.store.db import StoreError

        if isinstance(exc, StoreError):
            console.print(f"[red]error:[/red] {exc}")
            return 2
        if args.verbose:
            console.print_exception()
        console.print(f"[red]error:[/red] {exc.__class__.__name__}: {exc} (run with -v for details)")
        return 1


if __name__ == "__main__":
    sys.exit(main())

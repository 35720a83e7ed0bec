"""Stock returns next to insider flow: /top with a return column, an insider's track record, and how a
stock did after its past sale waves.

Every return is close to close on one split-adjusted series (``bot.analysis.returns``); Form 4 prices are
shown as reported and never divided into a close. A missing price is "n/a", never 0. Periods select on
transaction dates; ``as_of`` selects filings by acceptance time, as everywhere else.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot import rules
from bot.analysis.returns import (
    AfterTrade,
    adjust_for_splits,
    after_trade,
    return_over,
    sale_waves,
    summarize,
)
from bot.periods import Period
from bot.pricefeed import PriceSource
from bot.prices import PriceSeries
from bot.render.reply import Reply, ReplyField, Table, money
from bot.reports import top_report
from bot.store.db import Store
from bot.store.prices import MarketFlow

log = logging.getLogger(__name__)

FIELD_LIMIT = 1024  # Discord embed field value
WINDOW_PAD = timedelta(days=7)  # fetch a week either side so a weekend trade finds its close


def signed_percent(ratio: float | None) -> str:
    """+12.3% / -4.0% / +250%; "n/a" for a missing return (never 0)."""
    if ratio is None:
        return "n/a"
    p = ratio * 100
    return f"{p:+.0f}%" if abs(p) >= 100 else f"{p:+.1f}%"


async def _series_for(prices: PriceSource, tickers: Iterable[str | None], start: date,
                      end: date) -> tuple[str | None, PriceSeries | None]:
    """The first of the tickers (current, then as filed) that has closes in the window, split-guarded."""
    tried: list[str] = []
    for ticker in tickers:
        if not ticker or ticker in tried:
            continue
        tried.append(ticker)
        series = await prices.daily(ticker, start, end)
        if series is not None and len(series):
            return ticker, adjust_for_splits(series, await prices.splits(ticker))
    return (tried[0] if tried else None), None


# ----------------------------------------------------------------------------------------------------------
# /top with returns


async def top_with_returns(
    store: Store,
    prices: PriceSource,
    period: Period,
    *,
    side: str = "sells",
    limit: int = 10,
    offset: int = 0,
    as_of: datetime | None = None,
    issuer_ciks: list[int] | None = None,
    scope_label: str = "all stored issuers",
) -> Reply:
    """``top_report`` with a "Return" column: the stock's return over the same period, close to close.

    ``reply.data["rows"]`` gain ``return`` (a fraction, or None when there is no price for the window).
    """
    reply = await top_report(store, period, side=side, limit=limit, offset=offset, as_of=as_of,
                             issuer_ciks=issuer_ciks, scope_label=scope_label)
    if reply.table is None or not isinstance(reply.data, dict) or not reply.data.get("rows"):
        return reply
    rows: list[dict[str, Any]] = reply.data["rows"]
    until = period.until or datetime.now(UTC).date()
    if as_of is not None:
        until = min(until, (as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)).astimezone(UTC).date())
    since = period.since

    async def one(row: dict[str, Any]) -> float | None:
        if since is None or not row.get("ticker"):
            return None
        series = await prices.daily(row["ticker"], since, until)
        if series is not None:
            series = adjust_for_splits(series, await prices.splits(row["ticker"]))
        return return_over(series, since, until)

    returns = await asyncio.gather(*(one(r) for r in rows))
    for row, ret in zip(rows, returns, strict=True):
        row["return"] = ret
    table = reply.table
    reply.table = Table(
        columns=(*table.columns, "Return"),
        rows=tuple((*cells, signed_percent(ret)) for cells, ret in zip(table.rows, returns, strict=True)),
        align=(*table.align, ">"),
        title=table.title,
    )
    if since is None:
        reply.notes.append("Return needs a start date: pick a period such as 1y, or a date.")
    else:
        reply.description += (
            f"\nReturn: the stock from the first close on or after {since} to the last close on or before "
            f"{until} (split-adjusted closes)."
        )
        missing = [str(r.get("ticker") or r["issuer_cik"]) for r, ret in zip(rows, returns, strict=True)
                   if ret is None]
        if missing:
            reply.notes.append(f"No price data for the whole period: {', '.join(missing[:8])}"
                               + (" …" if len(missing) > 8 else ""))
    reply.data["return_basis"] = {
        "from": since.isoformat() if since else None,
        "to": until.isoformat(),
        "method": "close to close, split-adjusted daily closes",
    }
    return reply


# ----------------------------------------------------------------------------------------------------------
# An insider's track record


@dataclass(frozen=True, slots=True)
class _TradeDayKey:
    issuer_cik: int
    day: date
    side: str


async def track_record(store: Store, prices: PriceSource, owner_cik: int, *,
                       as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Every open-market trade day of the insider (code P/S, per issuer, day and side), oldest first, with
    the stock's return from that day's close over the following month and six months.

    Keys: issuer_cik, ticker, day, side ("buy"/"sell"), value (dollars, None without a price), shares,
    reported_price (share-weighted Form 4 price as reported, for reference only), anchor_day and anchor_close
    (the close the returns start from), return_1m, return_6m (fractions or None), price_source.
    """
    rows = await store.trades.insider_rows(owner_cik, as_of=as_of)
    groups: dict[_TradeDayKey, dict[str, Any]] = {}
    filed_tickers: dict[int, str] = {}
    for r in rows:
        side = rules.flow_side(r.code, r.is_derivative)
        if side is None or r.transaction_date is None:
            continue
        if r.ticker:
            filed_tickers[r.issuer_cik] = r.ticker  # rows come oldest first: the newest filing's ticker wins
        g = groups.setdefault(_TradeDayKey(r.issuer_cik, r.transaction_date, side),
                              {"cents": 0, "priced": False, "shares": 0.0, "priced_shares": 0.0})
        g["shares"] += r.shares or 0.0
        if r.value_cents is not None:
            g["cents"] += r.value_cents
            g["priced"] = True
            g["priced_shares"] += r.shares or 0.0
    if not groups:
        return []

    current = await MarketFlow(store).tickers(k.issuer_cik for k in groups)
    by_issuer: dict[int, list[_TradeDayKey]] = defaultdict(list)
    for key in groups:
        by_issuer[key.issuer_cik].append(key)

    async def issuer_series(cik: int) -> tuple[str | None, PriceSeries | None]:
        days = [k.day for k in by_issuer[cik]]
        start = min(days) - WINDOW_PAD
        end = max(days) + timedelta(days=186) + WINDOW_PAD
        return await _series_for(prices, (current.get(cik, (None, ""))[0], filed_tickers.get(cik)), start, end)

    ciks = sorted(by_issuer)
    found = dict(zip(ciks, await asyncio.gather(*(issuer_series(c) for c in ciks)), strict=True))

    records: list[dict[str, Any]] = []
    for key in sorted(groups, key=lambda k: (k.day, k.issuer_cik, k.side)):
        g = groups[key]
        ticker, series = found[key.issuer_cik]
        after: AfterTrade = after_trade(series, key.day)
        records.append({
            "issuer_cik": key.issuer_cik,
            "ticker": ticker,
            "day": key.day.isoformat(),
            "side": key.side,
            "value": g["cents"] / 100 if g["priced"] else None,
            "shares": g["shares"],
            "reported_price": (g["cents"] / 100 / g["priced_shares"]) if g["priced_shares"] else None,
            "anchor_day": after.anchor.day.isoformat() if after.anchor else None,
            "anchor_close": after.anchor.close if after.anchor else None,
            "return_1m": after.get(1),
            "return_6m": after.get(6),
            "price_source": series.source if series is not None else None,
        })
    return records


def _summary_line(label: str, values: list[float | None]) -> str:
    s = summarize(values)
    if not s.count:
        return f"{label}: n/a"
    return f"{label}: median {signed_percent(s.median)} ({s.up} of {s.count} up)"


def _clip_lines(lines: list[str], more_label: str) -> str:
    """Join lines within a Discord field, saying how many did not fit."""
    out: list[str] = []
    for i, line in enumerate(lines):
        reserve = len(f"\n… and {len(lines)} more {more_label}") if i < len(lines) - 1 else 0
        if len("\n".join([*out, line])) + reserve > FIELD_LIMIT:
            out.append(f"… and {len(lines) - i} more {more_label}")
            break
        out.append(line)
    return "\n".join(out)


def track_record_fields(records: list[dict[str, Any]], *, recent: int = 8) -> list[ReplyField]:
    """Reply fields for /insider: per side, the median return after a month and six months; then the most
    recent trade days. Empty when the insider has no open-market trades."""
    if not records:
        return []
    fields: list[ReplyField] = []
    for side, label in ((rules.BUY, "purchases"), (rules.SELL, "sales")):
        mine = [r for r in records if r["side"] == side]
        if not mine:
            continue
        unpriced = sum(1 for r in mine if r["anchor_day"] is None)
        value = "\n".join([
            _summary_line("1 month", [r["return_1m"] for r in mine]),
            _summary_line("6 months", [r["return_6m"] for r in mine]),
        ]) + (f"\n{unpriced} of {len(mine)} trade day(s) without prices" if unpriced else "")
        fields.append(ReplyField(f"Stock after their {label} ({len(mine)} day(s))", value))
    lines = []
    for r in sorted(records, key=lambda r: r["day"], reverse=True)[:recent]:
        verb = "bought" if r["side"] == rules.BUY else "sold"
        value = money(round(r["value"] * 100)) if r["value"] is not None else "no price"
        lines.append(f"{r['day']} {r['ticker'] or r['issuer_cik']} {verb} {value} · "
                     f"1m {signed_percent(r['return_1m'])} · 6m {signed_percent(r['return_6m'])}")
    if len(records) > recent:
        lines.append(f"… {len(records) - recent} earlier trade day(s)")
    fields.append(ReplyField(
        "Recent trade days (close to close from the trade day, split-adjusted)",
        _clip_lines(lines, "trade days"),
        inline=False,
    ))
    return fields


async def insider_track_record_fields(store: Store, prices: PriceSource, owner_cik: int, *,
                                      as_of: datetime | None = None) -> list[ReplyField]:
    """``track_record`` then ``track_record_fields``: what /insider appends."""
    return track_record_fields(await track_record(store, prices, owner_cik, as_of=as_of))


# ----------------------------------------------------------------------------------------------------------
# After sale waves


async def sale_wave_records(store: Store, prices: PriceSource, issuer_cik: int, *,
                            as_of: datetime | None = None, limit: int = 5,
                            gap_days: int = 14) -> list[dict[str, Any]]:
    """The issuer's ``limit`` largest sale waves (sales on days at most ``gap_days`` apart, all insiders),
    oldest first, with the stock's return from the wave's last day over one and six months."""
    sales = await MarketFlow(store).sale_days(issuer_cik, as_of=as_of)
    waves = [w for w in sale_waves(((s.day, s.group_key, s.value_cents) for s in sales), gap_days)
             if w.value_cents > 0]
    if not waves:
        return []
    biggest = sorted(sorted(waves, key=lambda w: -w.value_cents)[:limit], key=lambda w: w.start)
    ticker_name = (await MarketFlow(store).tickers([issuer_cik])).get(issuer_cik, (None, ""))
    start = biggest[0].start - WINDOW_PAD
    end = biggest[-1].end + timedelta(days=186) + WINDOW_PAD
    ticker, series = await _series_for(prices, (ticker_name[0],), start, end)
    out = []
    for w in biggest:
        after = after_trade(series, w.end)
        out.append({
            "start": w.start.isoformat(),
            "end": w.end.isoformat(),
            "value": w.value_cents / 100,
            "sellers": w.sellers,
            "days": w.days,
            "ticker": ticker,
            "during": return_over(series, w.start, w.end),
            "return_1m": after.get(1),
            "return_6m": after.get(6),
        })
    return out


async def after_sale_waves(store: Store, prices: PriceSource, issuer_cik: int, *,
                           as_of: datetime | None = None, limit: int = 5) -> list[ReplyField]:
    """Reply fields for /insiders: how the stock did after its largest past sale waves. Empty when the
    issuer has no priced open-market sales."""
    waves = await sale_wave_records(store, prices, issuer_cik, as_of=as_of, limit=limit)
    if not waves:
        return []
    lines = []
    for w in waves:
        span = w["start"] if w["start"] == w["end"] else f"{w['start']} → {w['end']}"
        sellers = f"{w['sellers']} seller{'' if w['sellers'] == 1 else 's'}"
        lines.append(f"{span} · {money(round(w['value'] * 100))} by {sellers} · "
                     f"1m {signed_percent(w['return_1m'])} · 6m {signed_percent(w['return_6m'])}")
    fields = [ReplyField(
        f"After the {len(waves)} largest sale waves (from the last sale day's close)",
        _clip_lines(lines, "waves"),
        inline=False,
    )]
    one, six = [w["return_1m"] for w in waves], [w["return_6m"] for w in waves]
    if summarize(one).count or summarize(six).count:
        fields.append(ReplyField("Typical move after a wave",
                                 _summary_line("1 month", one) + "\n" + _summary_line("6 months", six)))
    elif waves[0]["ticker"]:
        why = prices.reasons.get(str(waves[0]["ticker"]).upper(), "no closes for these dates")
        fields.append(ReplyField("Prices", f"n/a for {waves[0]['ticker']}: {why}"[:FIELD_LIMIT]))
    return fields

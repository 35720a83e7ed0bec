"""Price SQL: the daily closes cache, and the flow queries that returns and the market pulse read.

Cache: ``price_days`` holds split-adjusted closes per ticker, ``price_fetches`` the span they answer for (or
why a ticker has none), ``price_splits`` the split events the vendor sent with them. A fetch replaces every
cached row of its ticker, so the closes of one ticker always share one split basis.

Flow: ``MarketFlow`` reads ``flow_days`` (open-market P/S per filing and day). Periods select on
``transaction_date``; "as of" selects on ``accepted_at`` with the 4/A rule, exactly as ``bot.store.trades``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pandas as pd

from bot.prices import PriceSeries, Split, normalize_ticker
from bot.store.trades import ACTIVE, as_of_text

if TYPE_CHECKING:
    from bot.store.db import Store

log = logging.getLogger(__name__)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CachedSpan:
    """What the cache knows about a ticker: the span answered for, or that no vendor has it."""

    ticker: str
    first_day: date | None
    last_day: date | None
    source: str
    fetched_at: datetime
    missing_reason: str | None

    @property
    def missing(self) -> bool:
        return self.missing_reason is not None

    def covers(self, start: date, end: date) -> bool:
        return (
            self.first_day is not None
            and self.last_day is not None
            and self.first_day <= start
            and end <= self.last_day
        )


class PriceCache:
    """Daily closes in the store. Construct with the open ``Store``; it shares the store's connection."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def span(self, ticker: str) -> CachedSpan | None:
        row = await self.store.fetchone(
            "SELECT ticker, first_day, last_day, source, fetched_at, missing_reason FROM price_fetches "
            "WHERE ticker=?",
            (normalize_ticker(ticker),),
        )
        if row is None:
            return None
        return CachedSpan(
            ticker=row[0],
            first_day=date.fromisoformat(row[1]) if row[1] else None,
            last_day=date.fromisoformat(row[2]) if row[2] else None,
            source=row[3],
            fetched_at=_utc(row[4]),
            missing_reason=row[5],
        )

    async def series(self, ticker: str, start: date, end: date, *, source: str) -> PriceSeries | None:
        """Cached closes with ``start <= day <= end``; None when there are none in that window."""
        t = normalize_ticker(ticker)
        rows = await self.store.fetchall(
            "SELECT day, close FROM price_days WHERE ticker=? AND day BETWEEN ? AND ? ORDER BY day",
            (t, start.isoformat(), end.isoformat()),
        )
        if not rows:
            return None
        index = pd.DatetimeIndex(pd.to_datetime([r[0] for r in rows], format="%Y-%m-%d"), name="date")
        closes = pd.Series([float(r[1]) for r in rows], index=index, name="close", dtype="float64")
        return PriceSeries(t, closes, source)

    async def splits(self, ticker: str) -> tuple[Split, ...]:
        t = normalize_ticker(ticker)
        rows = await self.store.fetchall("SELECT day, ratio FROM price_splits WHERE ticker=? ORDER BY day", (t,))
        return tuple(Split(t, date.fromisoformat(r[0]), float(r[1]), "from the price vendor") for r in rows)

    async def save(
        self,
        ticker: str,
        first_day: date,
        last_day: date,
        series: PriceSeries | None,
        splits: Sequence[Split],
        *,
        source: str,
        fetched_at: datetime,
    ) -> int:
        """Replace the ticker's cached closes with one fetch answering for ``first_day..last_day``.

        ``series`` may be None: the vendor knows the ticker but had no session in the span (that is an
        answer too, and worth not asking again). Returns the number of closes stored.
        """
        t = normalize_ticker(ticker)
        rows: list[tuple[str, str, float]] = []
        if series is not None:
            window = series.between(first_day, last_day).closes
            rows = [(t, ts.date().isoformat(), float(v)) for ts, v in window.items()]
        async with self.store.transaction() as conn:
            # Delete-then-insert: a refetch may carry a new split basis, and old rows must not survive it.
            await conn.execute("DELETE FROM price_days WHERE ticker=?", (t,))
            await conn.executemany("INSERT INTO price_days(ticker, day, close) VALUES (?, ?, ?)", rows)
            await conn.executemany(
                "INSERT OR REPLACE INTO price_splits(ticker, day, ratio) VALUES (?, ?, ?)",
                [(t, s.day.isoformat(), s.ratio) for s in splits],
            )
            await conn.execute(
                "INSERT OR REPLACE INTO price_fetches(ticker, first_day, last_day, source, fetched_at, "
                "missing_reason) VALUES (?, ?, ?, ?, ?, NULL)",
                (t, first_day.isoformat(), last_day.isoformat(), source, _utc_text(fetched_at)),
            )
        return len(rows)

    async def save_many(
        self, items: Iterable[tuple[str, date, date, Sequence[tuple[date, float]]]], *, source: str,
        fetched_at: datetime,
    ) -> int:
        """Bulk load of (ticker, first_day, last_day, closes): for seeding a cache (benchmarks, imports)."""
        count = 0
        async with self.store.transaction() as conn:
            for ticker, first_day, last_day, closes in items:
                t = normalize_ticker(ticker)
                await conn.execute("DELETE FROM price_days WHERE ticker=?", (t,))
                await conn.executemany(
                    "INSERT INTO price_days(ticker, day, close) VALUES (?, ?, ?)",
                    [(t, d.isoformat(), float(c)) for d, c in closes],
                )
                await conn.execute(
                    "INSERT OR REPLACE INTO price_fetches(ticker, first_day, last_day, source, fetched_at, "
                    "missing_reason) VALUES (?, ?, ?, ?, ?, NULL)",
                    (t, first_day.isoformat(), last_day.isoformat(), source, _utc_text(fetched_at)),
                )
                count += len(closes)
        return count

    async def mark_missing(self, ticker: str, reason: str, *, fetched_at: datetime) -> None:
        """No vendor has the ticker (delisted, renamed, unknown): remember why, keep no closes."""
        t = normalize_ticker(ticker)
        async with self.store.transaction() as conn:
            await conn.execute("DELETE FROM price_days WHERE ticker=?", (t,))
            await conn.execute(
                "INSERT OR REPLACE INTO price_fetches(ticker, first_day, last_day, source, fetched_at, "
                "missing_reason) VALUES (?, NULL, NULL, 'none', ?, ?)",
                (t, _utc_text(fetched_at), reason[:300]),
            )


# ----------------------------------------------------------------------------------------------------------
# Flow read for returns and the pulse


@dataclass(frozen=True, slots=True)
class WeekFlowRow:
    """Open-market flow of one calendar week (Monday start) and one side, market-wide."""

    week_start: date
    code: str  # 'P' or 'S'
    value_cents: int  # priced rows only: an unpriced sale is not $0, it is left out
    filers: int  # distinct filer groups
    issuers: int


@dataclass(frozen=True, slots=True)
class SaleDayRow:
    day: date
    group_key: str
    value_cents: int
    shares: float


class MarketFlow:
    """Flow queries over ``flow_days`` for the pulse, track records and sale waves."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def weekly(self, since: date, until: date, *, as_of: datetime | None = None) -> list[WeekFlowRow]:
        """Per week (by transaction date, Monday to Sunday) and code, filings accepted by ``as_of``."""
        rows = await self.store.fetchall(
            # date(d, '-6 days', 'weekday 1') is the Monday on or before d.
            "SELECT date(t.transaction_date, '-6 days', 'weekday 1') AS week, t.code, "
            "SUM(COALESCE(t.value_cents, 0)), COUNT(DISTINCT t.group_key), COUNT(DISTINCT t.issuer_cik) "
            "FROM flow_days t WHERE t.transaction_date BETWEEN :since AND :until "
            f"AND {ACTIVE} GROUP BY week, t.code ORDER BY week, t.code",
            {"since": since.isoformat(), "until": until.isoformat(), "as_of": as_of_text(as_of)},
        )
        return [
            WeekFlowRow(date.fromisoformat(r[0]), r[1], int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
            for r in rows
        ]

    async def sale_days(self, issuer_cik: int, *, as_of: datetime | None = None) -> list[SaleDayRow]:
        """Open-market sales (code S) of one issuer per transaction day and filer group.

        Read from ``transactions`` (the rows ``flow_days`` is built from) for its per-issuer index."""
        rows = await self.store.fetchall(
            "SELECT t.transaction_date, t.group_key, SUM(COALESCE(t.value_cents, 0)), SUM(COALESCE(t.shares, 0)) "
            "FROM transactions t WHERE t.issuer_cik=:cik AND t.code='S' AND t.is_derivative=0 "
            f"AND t.transaction_date IS NOT NULL AND {ACTIVE} "
            "GROUP BY t.transaction_date, t.group_key ORDER BY t.transaction_date",
            {"cik": issuer_cik, "as_of": as_of_text(as_of)},
        )
        return [SaleDayRow(date.fromisoformat(r[0]), r[1], int(r[2] or 0), float(r[3] or 0)) for r in rows]

    async def tickers(self, issuer_ciks: Iterable[int]) -> dict[int, tuple[str | None, str]]:
        """cik -> (current ticker, name) from the issuers table."""
        ciks = sorted({int(c) for c in issuer_ciks})
        out: dict[int, tuple[str | None, str]] = {}
        for i in range(0, len(ciks), 400):
            chunk = ciks[i : i + 400]
            rows = await self.store.fetchall(
                f"SELECT cik, ticker, name FROM issuers WHERE cik IN ({','.join('?' * len(chunk))})", chunk
            )
            out.update({int(r[0]): (r[1], r[2]) for r in rows})
        return out

"""Daily closes for any ticker: the store's cache, local files, then Yahoo's chart API, then Stooq.

``PriceSource.daily(ticker, start, end)`` tries, in order:

1. the store's cache (``bot.store.prices.PriceCache``), when it answers for the whole window;
2. local price files (``settings.prices_dir``, else the bundled demo prices), when they cover the window;
3. Yahoo's v8 chart API ``{yahoo_base}/v8/finance/chart/{TICKER}?period1=..&period2=..&interval=1d&events=split``;
4. Stooq's CSV download ``{stooq_base}/q/d/l/?s={ticker}.us&i=d``.

A network answer is cached for the union of the asked window and what the cache already held, fetched in one
request so that every cached close of a ticker shares one split basis. When both vendors say the ticker does
not exist (delisted, renamed), that is cached for a day. Network errors are logged and fall through to the
next source; nothing here raises to the caller for missing data: the answer is then None (or the best partial
series found, which the return functions refuse to stretch over a window it does not cover).

Basis: all sources give split-adjusted closes (see ``bot.prices``); a series is never stitched from two
sources.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal, Self

import aiohttp

from bot.prices import (
    DEMO_PRICES_DIR,
    LocalPrices,
    PriceDataError,
    PriceSeries,
    Split,
    SplitTable,
    load_price_file,
    load_yahoo_chart,
    normalize_ticker,
)
from bot.settings import Settings
from bot.store.db import Store
from bot.store.prices import CachedSpan, PriceCache

log = logging.getLogger(__name__)

# Yahoo answers 403/429 to clients without a browser-like User-Agent.
HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) insiderflow/0.1 (+https://github.com/insiderflow)",
    "Accept": "application/json, text/csv;q=0.9, */*;q=0.5",
}
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
NETWORK_CONCURRENCY = 4  # simultaneous vendor requests: a /top page of 25 tickers must not look like a burst
# A window edge this many days from a file's first/last close is still covered (weekends, holidays).
COVER_SLACK_DAYS = 4
MISSING_TTL = timedelta(hours=24)  # "no such ticker" is believed this long
FRESH_FOR = timedelta(hours=6)  # a cached window reaching the fetch day is re-asked after this (new closes)
_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,11}$")

Outcome = Literal["ok", "empty", "missing", "error"]


@dataclass(frozen=True)
class Fetched:
    """One vendor's answer. ``empty``: the ticker exists but had no session in the window; ``missing``: the
    vendor does not know the ticker; ``error``: no answer (network, throttling, a server error)."""

    outcome: Outcome
    source: str
    series: PriceSeries | None = None
    splits: tuple[Split, ...] = ()
    reason: str = ""


def covers(series: PriceSeries | None, start: date, end: date, slack_days: int = COVER_SLACK_DAYS) -> bool:
    """True when the series has closes within ``slack_days`` of both ends of the window."""
    if series is None or series.first_day is None or series.last_day is None:
        return False
    return series.first_day <= start + timedelta(days=slack_days) and series.last_day >= end - timedelta(
        days=slack_days
    )


def _epoch(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


def _parse_file_bytes(body: bytes, filename: str, ticker: str, chart: bool) -> tuple[PriceSeries, tuple[Split, ...]]:
    """Run the tested file loaders of ``bot.prices`` on a response body (they read files by path)."""
    with tempfile.TemporaryDirectory(prefix="insiderflow-prices-") as folder:
        path = Path(folder) / filename
        path.write_bytes(body)
        if chart:
            return load_yahoo_chart(path, ticker)
        return load_price_file(path, ticker), ()


class PriceSource:
    """Daily closes from the cache, local files and the network. One per bot (it holds a lock per ticker).

    ``session``: the bot's shared aiohttp session; without one, a session is opened on first use and closed
    by :meth:`close`. ``store``: the cache; without one, nothing is cached. ``clock`` returns "now" (UTC).
    """

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession | None = None,
        store: Store | None = None,
        *,
        local: LocalPrices | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self._session = session
        self._own_session = False
        self.cache = PriceCache(store) if store is not None else None
        folder = Path(settings.prices_dir) if settings.prices_dir else DEMO_PRICES_DIR
        self.local = local if local is not None else LocalPrices(folder)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._locks: dict[str, asyncio.Lock] = {}
        self._network = asyncio.Semaphore(NETWORK_CONCURRENCY)
        self._splits: SplitTable | None = None
        self._files: dict[Path, PriceSeries | None] = {}
        self.reasons: dict[str, str] = {}  # ticker -> why the last lookup found nothing, for replies and logs

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
            self._own_session = True
        return self._session

    # ---- the lookup

    async def daily(self, ticker: str, start: date, end: date) -> PriceSeries | None:
        """Closes of ``ticker`` with ``start <= day <= end`` (end clipped to today), or None."""
        t = normalize_ticker(ticker)
        now = self._clock()
        end = min(end, now.date())
        if not _TICKER.match(t):
            self._no_data(t, f"'{ticker[:16]}' is not a ticker")
            return None
        if start > end:
            return None
        lock = self._locks.setdefault(t, asyncio.Lock())
        async with lock:  # a second caller for the same ticker waits and then reads the cache
            return await self._daily(t, start, end, now)

    async def _daily(self, t: str, start: date, end: date, now: datetime) -> PriceSeries | None:
        span = await self.cache.span(t) if self.cache is not None else None
        if span is not None and self._cache_answers(span, start, end, now):
            if span.missing:
                self._no_data(t, f"cached: {span.missing_reason}", level=logging.DEBUG)
                return await self._local(t, start, end)
            assert self.cache is not None
            return await self.cache.series(t, start, end, source=f"{span.source} (cached {span.fetched_at:%Y-%m-%d})")

        local = await self._local(t, start, end)
        if local is not None and covers(local, start, end):
            return local

        # Ask for the cached span too, so the new fetch replaces it on one basis.
        lo, hi = start, end
        if span is not None and not span.missing and span.first_day and span.last_day:
            lo, hi = min(lo, span.first_day), max(hi, span.last_day)
        fetched = await self._fetch(t, lo, hi)
        if fetched.outcome in ("ok", "empty"):
            if self.cache is not None:
                await self.cache.save(t, lo, hi, fetched.series, fetched.splits, source=fetched.source,
                                      fetched_at=now)
            self.reasons.pop(t, None)
            if fetched.series is None:
                self._no_data(t, f"{fetched.source}: no trading sessions {start}..{end}")
                return None
            window = fetched.series.between(start, end)
            return window if len(window) else None
        has_cached = span is not None and not span.missing
        if fetched.outcome == "missing" and self.cache is not None and not has_cached:
            # Closes cached before a delisting stay: they are still the right history.
            await self.cache.mark_missing(t, fetched.reason, fetched_at=now)
        # Nothing better from the network: the local or cached closes we have, if any (the caller's return
        # functions refuse to stretch them over a window they do not cover).
        fallback = local
        if fallback is None and span is not None and not span.missing and self.cache is not None:
            fallback = await self.cache.series(t, start, end, source=f"{span.source} (cached, older window)")
        if fallback is None:
            self._no_data(t, fetched.reason)
            return None
        self.reasons[t] = fetched.reason
        log.info("prices for %s from %s only (%s..%s): %s", t, fallback.source, fallback.first_day,
                 fallback.last_day, fetched.reason)
        return fallback

    def _cache_answers(self, span: CachedSpan, start: date, end: date, now: datetime) -> bool:
        if span.missing:
            return now - span.fetched_at < MISSING_TTL
        if not span.covers(start, end):
            return False
        # A window that reaches the day of the fetch may have gained closes since.
        return end < span.fetched_at.date() or now - span.fetched_at < FRESH_FOR

    async def _local(self, t: str, start: date, end: date) -> PriceSeries | None:
        """The local file with the most closes in the window (then the most recent), cut to the window."""
        paths = self.local.files_for(t)
        if not paths:
            return None
        # Reading a CSV with pandas takes milliseconds: keep it off the event loop.
        loaded = await asyncio.to_thread(lambda: [self._load_file(p) for p in paths])
        windows = [s.between(start, end) for s in loaded if s is not None]
        best = max(windows, key=lambda w: (len(w), w.last_day or date.min), default=None)
        return best if best is not None and len(best) else None

    def _load_file(self, path: Path) -> PriceSeries | None:
        if path not in self._files:
            try:
                self._files[path] = load_price_file(path)
            except PriceDataError as exc:
                log.warning("skipping price file: %s", exc)
                self._files[path] = None
        return self._files[path]

    def _no_data(self, t: str, reason: str, level: int = logging.INFO) -> None:
        self.reasons[t] = reason
        log.log(level, "no prices for %s: %s", t, reason)

    async def splits(self, ticker: str) -> tuple[Split, ...]:
        """Known splits of ``ticker``: the vendor's (cached) and the local ``splits.csv``."""
        t = normalize_ticker(ticker)
        cached = await self.cache.splits(t) if self.cache is not None else ()
        local = self._split_table().splits_for(t)
        seen = {s.day for s in cached}
        return tuple(sorted((*cached, *(s for s in local if s.day not in seen)), key=lambda s: s.day))

    def _split_table(self) -> SplitTable:
        if self._splits is None:
            path = self.local.folder / "splits.csv"
            if not path.is_file():
                path = DEMO_PRICES_DIR / "splits.csv"
            try:
                self._splits = SplitTable.from_csv(path) if path.is_file() else SplitTable()
            except PriceDataError as exc:
                log.warning("ignoring the split file: %s", exc)
                self._splits = SplitTable()
        return self._splits

    # ---- vendors

    async def _fetch(self, t: str, start: date, end: date) -> Fetched:
        yahoo = await self.yahoo(t, start, end)
        if yahoo.outcome in ("ok", "empty"):
            return yahoo
        log.info("Yahoo had no prices for %s (%s); trying Stooq", t, yahoo.reason)
        stooq = await self.stooq(t, start, end)
        if stooq.outcome in ("ok", "empty"):
            return stooq
        both = f"Yahoo: {yahoo.reason}; Stooq: {stooq.reason}"
        # Only two definite "unknown ticker" answers make it missing; any error leaves the question open.
        outcome: Outcome = "missing" if yahoo.outcome == stooq.outcome == "missing" else "error"
        return Fetched(outcome, "none", reason=both)

    async def _get(self, url: str, params: dict[str, str]) -> tuple[int, bytes] | str:
        """(status, body), or a short reason when there was no HTTP answer."""
        try:
            async with self._network, self._http().get(url, params=params, timeout=TIMEOUT,
                                                       headers=HEADERS) as resp:
                return resp.status, await resp.read()
        except TimeoutError:
            return "timed out"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"[:200]

    async def yahoo(self, t: str, start: date, end: date) -> Fetched:
        """Yahoo's v8 chart API: split-adjusted daily closes and the split events of the window."""
        # Share classes: Form 4 writes BRK.B, both vendors want BRK-B.
        url = f"{self.settings.yahoo_base.rstrip('/')}/v8/finance/chart/{t.replace('.', '-')}"
        params = {
            "period1": str(_epoch(start)),
            "period2": str(_epoch(end + timedelta(days=1))),  # period2 is exclusive
            "interval": "1d",
            "events": "split",
        }
        answer = await self._get(url, params)
        if isinstance(answer, str):
            return Fetched("error", "yahoo", reason=answer)
        status, body = answer
        if status != 200:
            error = _yahoo_error(body)
            # An unknown or delisted symbol: 404 with chart.error "Not Found" (a bare 404 means the same).
            if status == 404:
                return Fetched("missing", "yahoo", reason=error or "HTTP 404")
            return Fetched("error", "yahoo", reason=f"HTTP {status}" + (f" ({error})" if error else ""))
        try:
            series, splits = await asyncio.to_thread(_parse_file_bytes, body, f"{t}_yahoo_chart.json", t, True)
        except PriceDataError as exc:
            text = str(exc)
            if "no price bars" in text:
                return Fetched("empty", "yahoo", reason="no sessions in the window")
            if "not found" in text.lower():
                return Fetched("missing", "yahoo", reason=text.split(": ", 1)[-1][:200])
            return Fetched("error", "yahoo", reason=text[:200])
        return Fetched("ok", "yahoo", PriceSeries(t, series.closes, "Yahoo chart v8"), splits)

    async def stooq(self, t: str, start: date, end: date) -> Fetched:
        """Stooq's CSV download (whole history; split- and dividend-adjusted). Only US listings (``.us``)."""
        url = f"{self.settings.stooq_base.rstrip('/')}/q/d/l/"
        answer = await self._get(url, {"s": f"{t.replace('.', '-').lower()}.us", "i": "d"})
        if isinstance(answer, str):
            return Fetched("error", "stooq", reason=answer)
        status, body = answer
        if status != 200:
            return Fetched("error", "stooq", reason=f"HTTP {status}")
        head = body[:200].decode("utf-8", errors="replace").strip()
        if not head or head.lower().startswith("no data"):
            return Fetched("missing", "stooq", reason="no data")
        try:
            series, _ = await asyncio.to_thread(_parse_file_bytes, body, f"{t.lower()}.us.csv", t, False)
        except PriceDataError as exc:
            return Fetched("error", "stooq", reason=str(exc)[:200])
        window = series.between(start, end)
        if not len(window):
            return Fetched("empty", "stooq", reason="no sessions in the window")
        return Fetched("ok", "stooq", PriceSeries(t, window.closes, "Stooq daily"))


def _yahoo_error(body: bytes) -> str | None:
    """``chart.error.description`` of a Yahoo answer ("No data found, symbol may be delisted"), if any."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    chart = payload.get("chart") if isinstance(payload, dict) else None
    error = chart.get("error") if isinstance(chart, dict) else None
    if not error:
        return None
    if isinstance(error, dict):
        return str(error.get("description") or error.get("code") or error)[:200]
    return str(error)[:200]

"""Local daily prices and stock splits: loading real vendor files, choosing one per ticker, returns.

Basis: every ``PriceSeries`` holds closes on today's split-adjusted basis, as the vendors ship them (Yahoo's
``Close`` column and v8 chart ``close``, yfinance CSVs, Stooq). Form 4 prices and share counts are as
reported on the trade date; ``SplitTable.factor_after`` converts them:
``adjusted_price = reported_price / factor`` and ``adjusted_shares = reported_shares * factor``.

Yahoo's ``Adj Close`` (also dividend-adjusted) is deliberately not used: a Form 4 price divided by the split
factor is comparable with the split-adjusted close, not with a dividend-adjusted one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

log = logging.getLogger(__name__)

DEMO_PRICES_DIR = Path(__file__).resolve().parent / "demo_data" / "prices"

# Tickers that changed or have a sibling share class: looked up in this order when the ticker itself has no
# data. FB became META (no split in between); GOOG and GOOGL split together and trade within a few percent.
TICKER_ALIASES: Mapping[str, tuple[str, ...]] = {
    "FB": ("META",),
    "META": ("FB",),
    "GOOG": ("GOOGL",),
    "GOOGL": ("GOOG",),
    "SQ": ("XYZ",),
    "XYZ": ("SQ",),
}


class PriceDataError(ValueError):
    """A price or split file could not be read; the message names the file and what was wrong."""


def normalize_ticker(ticker: str) -> str:
    return ticker.strip().upper()


def ticker_candidates(ticker: str) -> tuple[str, ...]:
    t = normalize_ticker(ticker)
    return (t, *TICKER_ALIASES.get(t, ()))


def _ts(day: date) -> pd.Timestamp:
    return pd.Timestamp(day.year, day.month, day.day)


# --------------------------------------------------------------------------------------------------------
# PriceSeries


@dataclass(frozen=True, eq=False)  # eq=False: comparing pandas Series field-wise is ambiguous
class PriceSeries:
    """Daily closes of one ticker, split-adjusted as the vendor files are.

    ``closes`` is a float Series named ``close`` on a sorted, unique, tz-naive ``DatetimeIndex`` (midnight
    of each trading day) named ``date``. ``source`` says where the numbers came from, for footnotes.
    """

    ticker: str
    closes: pd.Series
    source: str

    def __post_init__(self) -> None:
        idx = self.closes.index
        if not isinstance(idx, pd.DatetimeIndex) or idx.tz is not None:
            raise TypeError("PriceSeries.closes needs a tz-naive DatetimeIndex")
        if not (idx.is_monotonic_increasing and idx.is_unique):
            raise ValueError("PriceSeries.closes must be sorted by date without duplicates")

    def __len__(self) -> int:
        return len(self.closes)

    def __repr__(self) -> str:
        span = f"{self.first_day}..{self.last_day}" if len(self) else "empty"
        return f"PriceSeries({self.ticker!r}, {len(self)} closes {span}, source={self.source!r})"

    @property
    def first_day(self) -> date | None:
        return self.closes.index[0].date() if len(self) else None

    @property
    def last_day(self) -> date | None:
        return self.closes.index[-1].date() if len(self) else None

    def close_on_or_before(self, day: date, max_gap_days: int | None = None) -> tuple[date, float] | None:
        """The last close on or before ``day`` (a weekend or holiday takes the previous session)."""
        pos = int(self.closes.index.searchsorted(_ts(day), side="right")) - 1
        if pos < 0:
            return None
        found = self.closes.index[pos].date()
        if max_gap_days is not None and (day - found).days > max_gap_days:
            return None
        return found, float(self.closes.iloc[pos])

    def close_on_or_after(self, day: date, max_gap_days: int | None = None) -> tuple[date, float] | None:
        """The first close on or after ``day``."""
        pos = int(self.closes.index.searchsorted(_ts(day), side="left"))
        if pos >= len(self.closes):
            return None
        found = self.closes.index[pos].date()
        if max_gap_days is not None and (found - day).days > max_gap_days:
            return None
        return found, float(self.closes.iloc[pos])

    def between(self, start: date | None, end: date | None) -> PriceSeries:
        """The closes with ``start <= day <= end`` (either bound open when None)."""
        idx = self.closes.index
        lo = 0 if start is None else int(idx.searchsorted(_ts(start), side="left"))
        hi = len(idx) if end is None else int(idx.searchsorted(_ts(end), side="right"))
        return PriceSeries(self.ticker, self.closes.iloc[lo:hi], self.source)


def period_return(series: PriceSeries, start: date, end: date) -> float | None:
    """Simple return from the first close on/after ``start`` to the last close on/before ``end``.

    None when either close is missing or they do not bracket a period (e.g. both dates in one weekend).
    """
    first = series.close_on_or_after(start)
    last = series.close_on_or_before(end)
    if first is None or last is None or last[0] < first[0] or first[1] <= 0:
        return None
    return last[1] / first[1] - 1.0


def _make_series(ticker: str, days: pd.DatetimeIndex, closes: Sequence[float] | pd.Series, source: str,
                 path: Path) -> PriceSeries:
    s = pd.Series(pd.to_numeric(pd.Series(closes).to_numpy(), errors="coerce"), index=days, dtype="float64")
    # Vendors write "null" or 0 for missing sessions; neither is a price.
    s = s[s.notna() & (s > 0) & s.index.notna()]
    if s.empty:
        raise PriceDataError(f"{path.name}: no usable closes (all rows empty, zero or unparseable)")
    s = s[~s.index.duplicated(keep="last")].sort_index()
    s.index = pd.DatetimeIndex(s.index.normalize(), name="date")
    s.name = "close"
    return PriceSeries(normalize_ticker(ticker), s, source)


# --------------------------------------------------------------------------------------------------------
# Loaders


_STOOQ_NAME = re.compile(r"(?:^|_)([A-Za-z0-9-]+)\.[a-z]{2}\.txt$")  # aapl.us.txt, stooq_aapl.us.txt


def _ticker_from_filename(path: Path) -> str:
    """``TSLA_daily_2013-2023.csv`` -> TSLA, ``MSFT.csv`` -> MSFT, ``stooq_aapl.us.txt`` -> AAPL."""
    stooq = _STOOQ_NAME.search(path.name)
    if stooq:
        return normalize_ticker(stooq.group(1))
    return normalize_ticker(path.name.split("_", 1)[0].split(".", 1)[0])


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_US = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
_COMPACT = re.compile(r"^\d{8}$")


def _parse_days(raw: pd.Series, path: Path) -> pd.DatetimeIndex:
    """Dates as the vendors write them: ISO (maybe with a time and offset), US M/D/YYYY, or YYYYMMDD."""
    text = raw.astype("string").str.strip()
    sample = next((v for v in text if isinstance(v, str) and v), None)
    if sample is None:
        raise PriceDataError(f"{path.name}: the date column is empty")
    if _ISO.match(sample):
        # yfinance >= 0.2 writes "2024-01-02 00:00:00-05:00": the first 10 characters are the session.
        parsed = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    elif _US.match(sample):
        parsed = pd.to_datetime(text, format="%m/%d/%Y", errors="coerce")
    elif _COMPACT.match(sample):
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    else:
        raise PriceDataError(f"{path.name}: unrecognised date format {sample!r}")
    return pd.DatetimeIndex(parsed)


def _to_float(raw: pd.Series) -> pd.Series:
    # Some Yahoo exports write "1,234.56" (quoted); "null" and "" become NaN.
    return pd.to_numeric(raw.astype("string").str.replace(",", "", regex=False), errors="coerce")


def load_date_close_csv(path: Path, ticker: str | None = None) -> PriceSeries:
    """Yahoo/yfinance-style CSV with ``Date`` and ``Close`` columns, in any order, read by header name."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    by_name = {h.strip().lower(): h for h in header}
    date_col = by_name.get("date") or by_name.get("datetime")
    close_col = by_name.get("close")
    how = "Close"
    if close_col is None and "adj close" in by_name:
        close_col, how = by_name["adj close"], "Adj Close (dividend-adjusted too)"
    if date_col is None or close_col is None:
        raise PriceDataError(f"{path.name}: CSV header {header!r} has no Date and Close columns")
    frame = pd.read_csv(path, usecols=[date_col, close_col], dtype=str, encoding="utf-8-sig",
                        keep_default_na=False)
    days = _parse_days(frame[date_col], path)
    closes = _to_float(frame[close_col])
    return _make_series(ticker or _ticker_from_filename(path), days, closes, f"{path.name} ({how})", path)


def load_stooq_file(path: Path, ticker: str | None = None) -> PriceSeries:
    """Stooq bulk file: ``<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>``."""
    frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    frame.columns = [c.strip().upper() for c in frame.columns]
    if "<DATE>" not in frame.columns or "<CLOSE>" not in frame.columns:
        raise PriceDataError(f"{path.name}: Stooq header lacks <DATE> or <CLOSE>")
    if "<PER>" in frame.columns:
        frame = frame[frame["<PER>"].str.strip().str.upper() == "D"]  # daily rows only
    if frame.empty:
        raise PriceDataError(f"{path.name}: no daily rows")
    if ticker is None and "<TICKER>" in frame.columns:
        ticker = str(frame["<TICKER>"].iloc[0]).strip().split(".", 1)[0]  # AAPL.US -> AAPL
    days = _parse_days(frame["<DATE>"], path)
    return _make_series(ticker or _ticker_from_filename(path), days, _to_float(frame["<CLOSE>"]),
                        f"{path.name} (Stooq daily, split- and dividend-adjusted)", path)


def _chart_result(payload: Any, path: Path) -> dict[str, Any]:
    # A recorded HTTP fixture wraps the body as {"response": {"bodyJson": ...}}.
    if isinstance(payload, dict) and isinstance(payload.get("response"), dict):
        payload = payload["response"].get("bodyJson", payload)
    chart = payload.get("chart") if isinstance(payload, dict) else None
    if not isinstance(chart, dict):
        raise PriceDataError(f"{path.name}: JSON is not a Yahoo v8 chart response (no 'chart' key)")
    if chart.get("error"):
        raise PriceDataError(f"{path.name}: Yahoo chart error: {chart['error']}")
    results = chart.get("result") or []
    if not results or not isinstance(results[0], dict):
        raise PriceDataError(f"{path.name}: Yahoo chart response has no result")
    result: dict[str, Any] = results[0]
    return result


def _exchange_zone(meta: Mapping[str, Any]) -> ZoneInfo | None:
    try:
        return ZoneInfo(str(meta.get("exchangeTimezoneName") or ""))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _session_day(ts: int, zone: ZoneInfo | None, gmtoffset: int) -> date:
    # Bars are stamped at the session open in UTC; the trading day is the exchange's local date.
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.astimezone(zone).date() if zone else (moment + timedelta(seconds=gmtoffset)).date()


@dataclass(frozen=True, slots=True)
class Split:
    """``ratio`` new shares per old share, effective at the open of ``day`` (a 1-for-10 reverse is 0.1)."""

    ticker: str
    day: date
    ratio: float
    note: str = ""


def load_yahoo_chart(path: Path, ticker: str | None = None) -> tuple[PriceSeries, tuple[Split, ...]]:
    """Yahoo v8 chart JSON: ``timestamp`` + ``indicators.quote[0].close`` and ``events.splits``.

    The closes are split-adjusted as of the recording (AMZN 2020-01-02 reads 94.90, not 1,898).
    """
    try:
        payload = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise PriceDataError(f"{path.name}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    result = _chart_result(payload, path)
    meta = result.get("meta") or {}
    symbol = ticker or str(meta.get("symbol") or _ticker_from_filename(path))
    zone = _exchange_zone(meta)
    gmtoffset = int(meta.get("gmtoffset") or 0)

    splits: list[Split] = []
    for ev in ((result.get("events") or {}).get("splits") or {}).values():
        num, den = float(ev.get("numerator") or 0), float(ev.get("denominator") or 0)
        if num > 0 and den > 0:
            day = _session_day(int(ev["date"]), zone, gmtoffset)
            splits.append(Split(normalize_ticker(symbol), day, num / den, str(ev.get("splitRatio") or "")))
    splits.sort(key=lambda s: s.day)

    stamps = result.get("timestamp") or []
    quotes = ((result.get("indicators") or {}).get("quote") or [{}])[0] or {}
    closes = quotes.get("close") or []
    if not stamps or not closes:
        raise PriceDataError(f"{path.name}: Yahoo chart response has no price bars (market closed?)")
    if len(stamps) != len(closes):
        raise PriceDataError(f"{path.name}: {len(stamps)} timestamps but {len(closes)} closes")
    if meta.get("dataGranularity") not in (None, "1d"):
        raise PriceDataError(f"{path.name}: {meta.get('dataGranularity')} bars, expected daily (1d)")
    days = pd.DatetimeIndex([_ts(_session_day(int(t), zone, gmtoffset)) for t in stamps])
    values = [math.nan if c is None else float(c) for c in closes]
    series = _make_series(symbol, days, values, f"{path.name} (Yahoo chart v8)", path)
    return series, tuple(splits)


def load_price_file(path: str | Path, ticker: str | None = None) -> PriceSeries:
    """Load any supported price file, recognising the format from its content (not its extension)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise PriceDataError(f"{p.name}: cannot read ({exc.strerror})") from None
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if not text:
        raise PriceDataError(f"{p.name}: file is empty")
    if text[0] in "{[":
        return load_yahoo_chart(p, ticker)[0]
    first_line = text.splitlines()[0]
    if "<CLOSE>" in first_line.upper():
        return load_stooq_file(p, ticker)
    header = [h.strip().lower() for h in next(csv.reader(io.StringIO(first_line)), [])]
    if ("date" in header or "datetime" in header) and ("close" in header or "adj close" in header):
        return load_date_close_csv(p, ticker)
    raise PriceDataError(
        f"{p.name}: unrecognised price file (starts {first_line[:60]!r}); expected a CSV with Date and "
        "Close columns, a Stooq <TICKER>,<PER>,<DATE>,... file or a Yahoo v8 chart JSON"
    )


# --------------------------------------------------------------------------------------------------------
# Splits


def _parse_ratio(raw: str) -> float:
    """``3``, ``1.5``, ``3:1``, ``3/1``, ``1:10`` (reverse)."""
    for sep in (":", "/"):
        if sep in raw:
            num, den = raw.split(sep, 1)
            return float(num) / float(den)
    return float(raw)


class SplitTable:
    """Known splits per ticker; converts as-reported Form 4 prices and shares to today's basis."""

    def __init__(self, splits: Iterable[Split] = ()) -> None:
        by_ticker: dict[str, list[Split]] = {}
        for s in splits:
            by_ticker.setdefault(normalize_ticker(s.ticker), []).append(s)
        self._by_ticker: dict[str, tuple[Split, ...]] = {
            t: tuple(sorted(v, key=lambda s: s.day)) for t, v in by_ticker.items()
        }

    @classmethod
    def from_csv(cls, path: str | Path) -> SplitTable:
        """``ticker,date,ratio,note`` (``note`` optional)."""
        p = Path(path)
        splits: list[Split] = []
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            present = {(f or "").strip().lower() for f in reader.fieldnames or []}
            missing = {"ticker", "date", "ratio"} - present
            if missing:
                raise PriceDataError(f"{p.name}: split file lacks column(s) {sorted(missing)}")
            for n, row in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                if not row.get("ticker"):
                    continue
                try:
                    ratio = _parse_ratio(row["ratio"])
                    day = date.fromisoformat(row["date"])
                except ValueError:
                    raise PriceDataError(f"{p.name}, line {n}: bad date or ratio {row!r}") from None
                if ratio <= 0:
                    raise PriceDataError(f"{p.name}, line {n}: ratio must be positive")
                splits.append(Split(row["ticker"], day, ratio, row.get("note", "")))
        return cls(splits)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_ticker.values())

    def merged(self, extra: Iterable[Split]) -> SplitTable:
        """A new table with ``extra`` added (e.g. splits from a Yahoo chart response); same-day duplicates
        of a ticker are kept once."""
        seen = {(s.ticker, s.day) for v in self._by_ticker.values() for s in v}
        more = [s for s in extra if (normalize_ticker(s.ticker), s.day) not in seen]
        return SplitTable([*(s for v in self._by_ticker.values() for s in v), *more])

    def splits_for(self, ticker: str) -> tuple[Split, ...]:
        """The splits of ``ticker``, or of its first alias that has any (GOOG -> GOOGL, FB -> META)."""
        for t in ticker_candidates(ticker):
            if t in self._by_ticker:
                return self._by_ticker[t]
        return ()

    def splits_after(self, ticker: str, day: date) -> tuple[Split, ...]:
        return tuple(s for s in self.splits_for(ticker) if s.day > day)

    def factor_after(self, ticker: str, day: date) -> float:
        """Product of the ratios of splits strictly after ``day`` (1.0 when none or unknown ticker).

        A split is effective at the open of its date, so a trade on the split date is already on the new
        basis.
        """
        factor = 1.0
        for s in self.splits_after(ticker, day):
            factor *= s.ratio
        return factor

    def adjust_price(self, ticker: str, day: date, reported_price: float) -> float:
        return reported_price / self.factor_after(ticker, day)

    def adjust_shares(self, ticker: str, day: date, reported_shares: float) -> float:
        return reported_shares * self.factor_after(ticker, day)


# --------------------------------------------------------------------------------------------------------
# A folder of price files


class LocalPrices:
    """Price files in one folder, named ``TICKER_anything.csv`` or ``TICKER.csv`` (Stooq ``aapl.us.txt``
    too). Files are read lazily and cached; a file that fails to load is logged and skipped."""

    _SUFFIXES = (".csv", ".txt")
    _SKIP = frozenset({"splits.csv"})

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._files: dict[str, list[Path]] = {}
        if self.folder.is_dir():
            for p in sorted(self.folder.iterdir()):
                if p.is_file() and p.suffix.lower() in self._SUFFIXES and p.name.lower() not in self._SKIP:
                    self._files.setdefault(_ticker_from_filename(p), []).append(p)
        else:
            log.warning("price folder %s does not exist", self.folder)
        self._cache: dict[Path, PriceSeries | None] = {}

    def tickers(self) -> list[str]:
        return sorted(self._files)

    def files_for(self, ticker: str) -> list[Path]:
        for t in ticker_candidates(ticker):
            if t in self._files:
                return list(self._files[t])
        return []

    def _load(self, path: Path) -> PriceSeries | None:
        if path not in self._cache:
            try:
                self._cache[path] = load_price_file(path)
            except PriceDataError as exc:
                log.warning("skipping price file: %s", exc)
                self._cache[path] = None
        return self._cache[path]

    def get(self, ticker: str, *, since: date | None = None) -> PriceSeries | None:
        """The best series for ``ticker`` (or its alias), None when there is none.

        Best = reaches the most recent date, then the longest history. With ``since``, files that already
        cover that date are preferred (a chart of 2017 trades wants the file that has 2017).
        """
        loaded = [s for s in (self._load(p) for p in self.files_for(ticker)) if s is not None and len(s)]
        if not loaded:
            return None

        def rank(s: PriceSeries) -> tuple[bool, date, int]:
            assert s.first_day is not None and s.last_day is not None
            covers = since is None or s.first_day <= since
            return covers, s.last_day, len(s)

        return max(loaded, key=rank)

    def __contains__(self, ticker: object) -> bool:
        return isinstance(ticker, str) and bool(self.files_for(ticker))


PriceStore = LocalPrices  # the name other modules may expect


def demo_prices() -> LocalPrices:
    """The prices bundled with the package for the offline demo."""
    return LocalPrices(DEMO_PRICES_DIR)


def demo_splits() -> SplitTable:
    return SplitTable.from_csv(DEMO_PRICES_DIR / "splits.csv")

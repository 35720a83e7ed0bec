"""Async EDGAR client: every request to www.sec.gov and data.sec.gov goes through here.

SEC fair access (https://www.sec.gov/os/accessing-edgar-data) asks for a declared User-Agent and at most
10 requests per second from a whole machine; going over blocks the IP for about ten minutes. So:

- a client refuses to send anything without a User-Agent that looks like ``"Name email@example.com"``;
- all clients of a process share one :class:`RateLimiter` (see :func:`shared_limiter`), capped at 10/s,
  with priority lanes so that the watcher's next request is not stuck behind a backfill;
- 429, 5xx and connection errors are retried with exponential backoff, honouring ``Retry-After``;
- errors are :class:`EdgarError` subclasses whose message can be shown to a user as is.

Parsing lives elsewhere (``bot.sec.feeds`` for feeds and indexes, ``bot.sec.form4`` for documents): this
module returns bytes or decoded JSON, plus the small records read from the submissions JSON.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Self

import aiohttp

from bot.settings import Settings

log = logging.getLogger(__name__)

Priority = Literal["watcher", "user", "background"]
Expect = Literal["json", "xml", "text", "any"]

# Lower rank is served first.
PRIORITY_RANK: dict[str, int] = {"watcher": 0, "user": 1, "background": 2}

MAX_REQUESTS_PER_SECOND = 10.0  # SEC's published ceiling for a whole machine
FORM4_TYPES = ("4", "4/A")

# "Name email@example.com": some words, then an address (optionally in <> or ()) at the end.
_USER_AGENT_RE = re.compile(r"^\S.*\s[<(]?[^@\s<>()]+@[^@\s<>()]+\.[A-Za-z]{2,}[>)]?$")
_XSL_PREFIX_RE = re.compile(r"^xslF345X\d+/")
_ACCESSION_RE = re.compile(r"^\d{10}-\d{2}-\d{6}$")
_OVERFLOW_PAGE_RE = re.compile(r"^CIK\d{10}-submissions-\d{3}\.json$")


# --------------------------------------------------------------------------------------------- errors


class EdgarError(Exception):
    """Anything that went wrong talking to EDGAR. ``str(error)`` is short and safe to show a user."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class EdgarConfigError(EdgarError):
    """The client is not configured to talk to EDGAR (no or malformed User-Agent)."""


class EdgarBlockedError(EdgarError):
    """EDGAR answered 403: undeclared tool or rate limit exceeded. Retrying makes it worse."""


class EdgarNotFound(EdgarError):
    """EDGAR answered 404."""


class EdgarRateLimited(EdgarError):
    """EDGAR kept answering 429, or asked us to wait longer than we are willing to."""


class EdgarUnavailable(EdgarError):
    """EDGAR kept failing (5xx, connection errors, timeouts) after all retries."""


class EdgarUnexpectedContent(EdgarError):
    """EDGAR answered 200 with something else than the expected XML/JSON/text (usually an HTML page)."""


# --------------------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class TickerInfo:
    """One row of ``company_tickers.json``. A CIK can have several tickers (GOOG, GOOGL)."""

    ticker: str
    cik: int
    name: str


@dataclass(frozen=True, slots=True)
class FilingRef:
    """A Form 4 or 4/A listed in a submissions JSON: where it is and when EDGAR accepted it.

    ``cik`` is the CIK whose submissions listed the filing (issuer or owner); the filing folder
    ``/Archives/edgar/data/{cik}/{accession}/`` exists under every filer's CIK, so it is enough to fetch.
    ``primary_document`` is the raw document name, the ``xslF345X0N/`` rendering prefix removed; filings
    before mid-2003 have an HTML or text primary document and no XML (see :attr:`is_xml`).
    """

    accession: str
    form: str
    filing_date: date
    accepted_at: datetime | None  # UTC
    primary_document: str
    cik: int
    report_date: date | None = None

    @property
    def is_xml(self) -> bool:
        return self.primary_document.lower().endswith(".xml")


# --------------------------------------------------------------------------------------- rate limiting


class RateLimiter:
    """Spaced slots with priority lanes: at most ``rate`` request starts per second.

    Each grant reserves the next slot ``1/rate`` (plus a little headroom) after the previous one, measured
    from when the previous grant actually happened, so a burst never exceeds the rate and nothing is
    "saved up". When several callers wait, the one with the best priority ("watcher" < "user" <
    "background") gets the next slot; equal priorities are first come, first served.

    The limiter belongs to one event loop at a time; if it is used from a new loop (each test has its
    own), waiters left over from the old loop are dropped.
    """

    def __init__(
        self,
        rate: float,
        *,
        headroom: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        # SEC counts arrivals on its side; network jitter can bunch requests together, so keep a margin.
        self._headroom = headroom
        self._rate = _clamp_rate(rate)
        self._next_free = -math.inf
        self._queue: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        self._rate = _clamp_rate(value)

    @property
    def interval(self) -> float:
        """Seconds between two grants."""
        return (1.0 + self._headroom) / self._rate

    @property
    def queued(self) -> int:
        """How many callers are waiting for a slot right now."""
        return sum(1 for _, _, fut in self._queue if not fut.done())

    async def acquire(self, priority: Priority = "user") -> None:
        """Wait for a slot. Cancelling the caller gives its place up."""
        rank = _rank(priority)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._queue.clear()
            self._dispatcher = None
            self._loop = loop
        now = self._clock()
        if not self._queue and now >= self._next_free:
            self._next_free = now + self.interval
            return
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._queue, (rank, next(self._seq), fut))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = loop.create_task(self._dispatch())
        await fut

    async def _dispatch(self) -> None:
        # One task hands out slots so that the choice of who goes next is made at the slot's time,
        # not at arrival: that is what lets a late "watcher" overtake queued "background" callers.
        while self._queue:
            delay = self._next_free - self._clock()
            if delay > 0:
                await self._sleep(delay)
                continue
            _, _, fut = heapq.heappop(self._queue)
            if fut.done():  # the caller was cancelled
                continue
            self._next_free = self._clock() + self.interval
            fut.set_result(None)


_shared: RateLimiter | None = None


def shared_limiter(rate: float) -> RateLimiter:
    """The process-wide limiter every :class:`EdgarClient` uses by default.

    SEC's limit is per machine, so there is exactly one; the most recently requested rate applies (one
    process normally has one Settings, so they agree).
    """
    global _shared
    if _shared is None:
        _shared = RateLimiter(rate)
    elif _clamp_rate(rate) != _shared.rate:
        log.info("EDGAR rate limit changed from %.2f/s to %.2f/s", _shared.rate, _clamp_rate(rate))
        _shared.rate = rate
    return _shared


def _clamp_rate(rate: float) -> float:
    if not rate or rate <= 0 or math.isnan(rate):
        raise EdgarConfigError("SEC_REQUESTS_PER_SECOND must be a positive number (at most 10)")
    if rate > MAX_REQUESTS_PER_SECOND:
        log.warning("SEC_REQUESTS_PER_SECOND=%s is over SEC's limit; using %s", rate, MAX_REQUESTS_PER_SECOND)
        return MAX_REQUESTS_PER_SECOND
    return float(rate)


def _rank(priority: str) -> int:
    try:
        return PRIORITY_RANK[priority]
    except KeyError:
        raise ValueError(f"priority must be one of {sorted(PRIORITY_RANK)}, not {priority!r}") from None


# ------------------------------------------------------------------------------------------- helpers


def validate_user_agent(value: str) -> str:
    """Return the User-Agent stripped, or raise :class:`EdgarConfigError` if SEC would refuse it."""
    value = (value or "").strip()
    if not _USER_AGENT_RE.match(value):
        raise EdgarConfigError(
            'SEC requires a User-Agent of the form "Name email@example.com": '
            "set SEC_USER_AGENT in .env (e.g. SEC_USER_AGENT=\"Jane Doe jane@example.com\")"
        )
    return value


def normalize_accession(accession: str) -> str:
    """``000089924321044060`` or ``0000899243-21-044060`` → ``0000899243-21-044060``."""
    text = accession.strip()
    digits = text.replace("-", "")
    if len(digits) != 18 or not digits.isdigit():
        raise ValueError(f"not an EDGAR accession number: {accession!r}")
    return f"{digits[:10]}-{digits[10:12]}-{digits[12:]}"


def raw_document_name(primary_document: str) -> str:
    """``xslF345X05/form4.xml`` (the rendered HTML) → ``form4.xml`` (the raw XML)."""
    return _XSL_PREFIX_RE.sub("", primary_document)


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: the delta-seconds form, or an HTTP date (converted)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _parse_accepted(value: str | None) -> datetime | None:
    # Submissions JSON writes UTC with a Z: "2026-02-27T19:00:21.000Z".
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)  # 3.11 reads the trailing Z
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _quarter(day: date) -> int:
    return (day.month - 1) // 3 + 1


# -------------------------------------------------------------------------------------------- client


class EdgarClient:
    """EDGAR over HTTP with fair access built in. Use as ``async with EdgarClient(settings) as client:``.

    ``clock`` and ``sleep`` drive backoff waits and the ticker cache's TTL (tests inject fakes). The rate
    limiter keeps real time because it is shared by the whole process; pass ``limiter=`` to use another.
    """

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        limiter: RateLimiter | None = None,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        timeout: float = 30.0,
        tickers_ttl: float = 24 * 3600.0,
    ) -> None:
        self._settings = settings
        self._www = settings.sec_www_base.rstrip("/")
        self._data = settings.sec_data_base.rstrip("/")
        # Checked here but raised at the first request, so that an offline tool can still build a client.
        try:
            self._user_agent: str | None = validate_user_agent(settings.sec_user_agent)
            self._config_error: EdgarConfigError | None = None
        except EdgarConfigError as exc:
            self._user_agent = None
            self._config_error = exc
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._sleep = sleep
        self._limiter = limiter or shared_limiter(settings.sec_requests_per_second)
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._tickers_ttl = tickers_ttl
        self._tickers: dict[str, TickerInfo] | None = None
        self._tickers_at = -math.inf
        self._tickers_lock = asyncio.Lock()

    # ---- lifecycle

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client opened it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise EdgarError("the HTTP session given to EdgarClient is closed")
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    # ---- transport

    async def request(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        priority: Priority = "user",
        expect: Expect = "any",
    ) -> bytes:
        """GET ``url`` under the rate limit, with retries; return the (decompressed) body.

        ``expect`` says what a 200 must contain: an HTML page instead raises :class:`EdgarUnexpectedContent`
        (EDGAR answers some missing or throttled resources with a 200 HTML page).
        """
        if self._config_error is not None:
            raise self._config_error
        _rank(priority)  # fail fast on a typo, before waiting for a slot
        assert self._user_agent is not None
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate"}
        last: EdgarError | None = None
        for attempt in range(1, self._max_attempts + 1):
            await self._limiter.acquire(priority)
            session = self._get_session()
            try:
                async with session.get(url, params=params, headers=headers, timeout=self._timeout) as resp:
                    body = await resp.read()
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
                log.info("EDGAR %s failed (%s), attempt %d/%d", url, type(exc).__name__, attempt,
                         self._max_attempts)
                last = EdgarUnavailable("EDGAR could not be reached; try again in a few minutes", url=url)
                if attempt < self._max_attempts:
                    await self._sleep(self._backoff(attempt))
                continue

            log.debug("EDGAR %s -> %d (%d bytes)", url, status, len(body))
            if status == 200:
                self._check_content(url, body, expect)
                return body
            if status == 403:
                raise EdgarBlockedError(self._blocked_message(body), url=url, status=status)
            if status == 404:
                raise EdgarNotFound(f"EDGAR has no such document ({_short(url)})", url=url, status=status)
            if status == 429 or 500 <= status < 600:
                wait = _retry_after_seconds(retry_after)
                if status == 429:
                    last = EdgarRateLimited("EDGAR is throttling us (429); try again in a minute",
                                            url=url, status=status)
                else:
                    last = EdgarUnavailable(f"EDGAR is having trouble (HTTP {status}); try again later",
                                            url=url, status=status)
                if wait is not None and wait > self._max_retry_after:
                    raise EdgarRateLimited(
                        f"EDGAR asked us to wait {wait:.0f} s (HTTP {status}); try again later",
                        url=url, status=status,
                    )
                log.info("EDGAR %s -> %d, attempt %d/%d", url, status, attempt, self._max_attempts)
                if attempt < self._max_attempts:
                    await self._sleep(wait if wait is not None else self._backoff(attempt))
                continue
            raise EdgarError(f"EDGAR answered HTTP {status} ({_short(url)})", url=url, status=status)
        assert last is not None
        raise last

    def _backoff(self, attempt: int) -> float:
        return float(min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1)))

    @staticmethod
    def _blocked_message(body: bytes) -> str:
        if b"Request Rate Threshold Exceeded" in body:
            return ("SEC refused the request (403): rate limit exceeded; EDGAR blocks an IP for about "
                    "10 minutes. Lower SEC_REQUESTS_PER_SECOND and wait.")
        return ('SEC refused the request (403): check SEC_USER_AGENT ("Name email@example.com") '
                "and that no other tool on this machine is hammering EDGAR")

    @staticmethod
    def _check_content(url: str, body: bytes, expect: Expect) -> None:
        if expect == "any":
            return
        if _looks_like_html(body):
            raise EdgarUnexpectedContent(
                f"EDGAR sent an HTML page instead of {expect.upper()} ({_short(url)}); try again later",
                url=url, status=200,
            )

    async def get_json(self, url: str, *, priority: Priority = "user") -> Any:
        body = await self.request(url, priority=priority, expect="json")
        try:
            return json.loads(body)
        except ValueError:
            raise EdgarUnexpectedContent(f"EDGAR sent invalid JSON ({_short(url)})", url=url,
                                         status=200) from None

    # ---- endpoints

    async def company_tickers(self, *, priority: Priority = "user") -> dict[str, TickerInfo]:
        """Ticker → :class:`TickerInfo` from ``/files/company_tickers.json``, cached for ``tickers_ttl``."""
        async with self._tickers_lock:  # concurrent callers share one download
            if self._tickers is not None and self._clock() - self._tickers_at < self._tickers_ttl:
                return self._tickers
            raw = await self.get_json(f"{self._www}/files/company_tickers.json", priority=priority)
            rows = raw.values() if isinstance(raw, dict) else raw
            tickers: dict[str, TickerInfo] = {}
            for row in rows:
                try:
                    info = TickerInfo(str(row["ticker"]).upper(), int(row["cik_str"]), str(row["title"]))
                except (KeyError, TypeError, ValueError):
                    continue
                tickers.setdefault(info.ticker, info)  # first listing wins if a ticker ever repeats
            if not tickers:
                raise EdgarUnexpectedContent("EDGAR's ticker list was empty; try again later")
            self._tickers = tickers
            self._tickers_at = self._clock()
            return tickers

    async def ticker_info(self, ticker: str, *, priority: Priority = "user") -> TickerInfo | None:
        """Look a ticker up, accepting ``brk.b`` for EDGAR's ``BRK-B``. None if EDGAR does not list it."""
        tickers = await self.company_tickers(priority=priority)
        key = ticker.strip().upper().lstrip("$")
        return tickers.get(key) or tickers.get(key.replace(".", "-").replace("/", "-"))

    async def submissions(self, cik: int, *, priority: Priority = "user") -> dict[str, Any]:
        """``data.sec.gov/submissions/CIK##########.json`` as a dict."""
        data = await self.get_json(f"{self._data}/submissions/CIK{int(cik):010d}.json", priority=priority)
        if not isinstance(data, dict):
            raise EdgarUnexpectedContent(f"EDGAR sent unexpected submissions data for CIK {cik}")
        return data

    async def form4_refs(
        self,
        cik: int,
        *,
        since: date | None = None,
        include_older_pages: bool = True,
        priority: Priority = "user",
    ) -> list[FilingRef]:
        """Forms 4 and 4/A listed for ``cik``, newest first, from ``filings.recent`` and the overflow pages.

        ``since`` keeps filings with ``filing_date >= since`` and skips overflow pages that end before it.
        """
        data = await self.submissions(cik, priority=priority)
        filings = data.get("filings") or {}
        refs = form4_refs_from_columns(filings.get("recent") or {}, cik)
        if include_older_pages:
            for page in filings.get("files") or []:
                name = str(page.get("name", ""))
                if not _OVERFLOW_PAGE_RE.match(name):
                    log.warning("skipping odd submissions page name %r for CIK %s", name, cik)
                    continue
                page_to = _parse_date(page.get("filingTo"))
                # filingTo can be a day short of the page's real last date (TSLA's says 2018-02-11 and
                # holds a 2018-02-12 filing), so give it a few days' slack before skipping a page.
                if since and page_to and page_to < since - timedelta(days=7):
                    continue
                columns = await self.get_json(f"{self._data}/submissions/{name}", priority=priority)
                refs.extend(form4_refs_from_columns(columns if isinstance(columns, dict) else {}, cik))
        if since:
            refs = [r for r in refs if r.filing_date >= since]
        unique = {r.accession: r for r in reversed(refs)}  # first listing wins
        min_dt = datetime.min.replace(tzinfo=UTC)
        return sorted(unique.values(), key=lambda r: (r.filing_date, r.accepted_at or min_dt, r.accession),
                      reverse=True)

    def archive_url(self, cik: int, accession: str, document: str = "") -> str:
        """``{www}/Archives/edgar/data/{cik}/{accession without dashes}/{document}``."""
        folder = normalize_accession(accession).replace("-", "")
        return f"{self._www}/Archives/edgar/data/{int(cik)}/{folder}/{document.lstrip('/')}"

    async def fetch_filing_document(
        self, issuer_cik: int, accession: str, document: str, *, priority: Priority = "user"
    ) -> bytes:
        """One document of a filing folder, e.g. the Form 4 XML. An ``xslF345X0N/`` prefix is dropped."""
        name = raw_document_name(document)
        lower = name.lower()
        expect: Expect = "text"
        if lower.endswith(".xml"):
            expect = "xml"
        elif lower.endswith((".htm", ".html")):  # pre-2003 filings and rendered forms are HTML by nature
            expect = "any"
        return await self.request(self.archive_url(issuer_cik, accession, name), priority=priority,
                                  expect=expect)

    async def fetch_complete_submission(
        self, cik: int, accession: str, *, priority: Priority = "user"
    ) -> bytes:
        """The complete submission ``{accession}.txt`` (SGML header with acceptance time + all documents)."""
        acc = normalize_accession(accession)
        return await self.request(self.archive_url(cik, acc, f"{acc}.txt"), priority=priority,
                                  expect="text")

    async def filing_index(self, cik: int, accession: str, *, priority: Priority = "user") -> dict[str, Any]:
        """The folder listing ``index.json`` (to find a filing's XML when only the accession is known)."""
        data = await self.get_json(self.archive_url(cik, accession, "index.json"), priority=priority)
        if not isinstance(data, dict):
            raise EdgarUnexpectedContent(f"EDGAR sent an unexpected folder index for {accession}")
        return data

    async def current_feed(
        self,
        start: int = 0,
        count: int = 100,
        form_type: str = "4",
        *,
        priority: Priority = "watcher",
    ) -> bytes:
        """One page of the current-filings Atom feed (newest first, at most 100 entries a page).

        Returns the body unchecked: past the end EDGAR answers 200 with an HTML "File Unavailable" page,
        which ``bot.sec.feeds.parse_current_feed`` turns into ``FeedEnded``.
        """
        if not 1 <= count <= 100:
            raise ValueError("count must be between 1 and 100")
        params = {
            "action": "getcurrent",
            "type": form_type,
            "company": "",
            "dateb": "",
            "owner": "include",
            "start": str(max(0, start)),
            "count": str(count),
            "output": "atom",
        }
        return await self.request(f"{self._www}/cgi-bin/browse-edgar", params=params, priority=priority,
                                  expect="any")

    async def daily_form_index(self, day: date, *, priority: Priority = "background") -> bytes:
        """``/Archives/edgar/daily-index/{YYYY}/QTR{q}/form.{YYYYMMDD}.idx`` (404 on days without one)."""
        return await self._daily_index("form", day, priority)

    async def daily_master_index(self, day: date, *, priority: Priority = "background") -> bytes:
        """The pipe-separated ``master.{YYYYMMDD}.idx`` of the same day."""
        return await self._daily_index("master", day, priority)

    async def _daily_index(self, kind: str, day: date, priority: Priority) -> bytes:
        url = (f"{self._www}/Archives/edgar/daily-index/{day.year}/QTR{_quarter(day)}/"
               f"{kind}.{day:%Y%m%d}.idx")
        return await self.request(url, priority=priority, expect="text")


def form4_refs_from_columns(columns: Mapping[str, Any], cik: int) -> list[FilingRef]:
    """FilingRefs for the Forms 4 and 4/A in one column block (``filings.recent`` or an overflow page)."""
    accessions = columns.get("accessionNumber") or []
    forms = columns.get("form") or []
    filing_dates = columns.get("filingDate") or []
    n = min(len(accessions), len(forms), len(filing_dates))

    def column(name: str) -> list[Any]:
        values = columns.get(name) or []
        return list(values) + [None] * (n - len(values))

    accepted, primary, report = column("acceptanceDateTime"), column("primaryDocument"), column("reportDate")
    refs: list[FilingRef] = []
    for i in range(n):
        if forms[i] not in FORM4_TYPES:
            continue
        filed = _parse_date(filing_dates[i])
        if filed is None or not _ACCESSION_RE.match(str(accessions[i])):
            log.warning("skipping malformed submissions row %r for CIK %s", accessions[i], cik)
            continue
        refs.append(FilingRef(
            accession=accessions[i],
            form=forms[i],
            filing_date=filed,
            accepted_at=_parse_accepted(accepted[i]),
            primary_document=raw_document_name(primary[i] or ""),
            cik=int(cik),
            report_date=_parse_date(report[i]),
        ))
    return refs


def _short(url: str) -> str:
    # Only the path: users do not need the host, and query strings can be long.
    path = url.split("://", 1)[-1]
    path = path[path.find("/"):] if "/" in path else path
    return path.split("?", 1)[0]

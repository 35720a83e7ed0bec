"""The live EDGAR watcher: new Forms 4 from the current-filings feed into the store, then to a consumer.

One poll (:meth:`Watcher.poll_once`):

1. take or renew the lease (``bot.store.watch``): only one process polls, however many run;
2. read the ``type=4`` feed newest first, paging back (``start=``) until a page reaches the saved position
   (minus a few minutes, since EDGAR can list a filing a little after newer ones); keep exactly 4 and 4/A
   (``type=4`` also returns 424B2, 425, 497...) and one entry per accession (each filer has a line);
3. fetch what the store lacks: ``index.json`` names the ownership XML (the feed's ``<updated>`` becomes
   its acceptance time), else the complete ``.txt`` whose header carries the acceptance time;
4. ingest (idempotent by accession), hand the new filings to ``on_filings`` at once, then save the
   position. A filing that fails is retried on later polls, then quarantined; the poll goes on;
5. retry earlier failures, then read missed days from the daily index, a bounded number of filings a poll
   at background priority, so catching up never delays the next live poll.

After downtime the same day is caught up from the feed; when the feed no longer reaches back to the saved
position (it holds a few days at most), the missed business days are read from EDGAR's daily index.

Faults never stop the loop: EDGAR errors back off, an unreadable page or document is logged (and
quarantined), a busy store skips a poll. Nothing is lost (the position only moves after a complete read,
failures are retried) and nothing is repeated (the store is keyed on accession, and only filings that
were not stored before are handed on).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from bot.models import Filing, ParseError
from bot.render.reply import duration_text
from bot.sec.client import (
    EdgarBlockedError,
    EdgarClient,
    EdgarError,
    EdgarNotFound,
    EdgarUnexpectedContent,
    Priority,
)
from bot.sec.feeds import (
    FORM4_TYPES,
    FeedEnded,
    FeedEntry,
    FeedError,
    FeedFiler,
    IndexEntry,
    parse_current_feed_page,
    parse_form_index,
)
from bot.sec.form4 import parse_document
from bot.store.db import Store
from bot.store.watch import PendingFiling, Watch

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)

EASTERN = ZoneInfo("America/New_York")  # EDGAR's days (feed, daily index, filing dates) are Eastern

ErrorKind = Literal["edgar", "blocked", "feed", "store", "internal"]
OnFilings = Callable[[list[Filing]], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_owner_id(role: str = "watcher") -> str:
    """``host:pid:role``: unique per process, and says in the status which process holds the lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did. ``new`` holds only filings that were not in the store before this poll."""

    leader: bool
    new: tuple[Filing, ...] = ()
    pages: int = 0
    listed: int = 0  # distinct Forms 4 / 4/A in the feed window read
    other_forms: int = 0  # filings of other forms (424B2, 497...) listed by type=4 and dropped
    already_stored: int = 0
    waiting: int = 0  # listed, failed before, not due for another attempt yet
    retry_later: int = 0  # failed this poll, will be retried
    quarantined: int = 0  # given up this poll (unreadable, or still missing after every attempt)
    untracked: int = 0  # skipped: issuer on no watchlist (tracked-only mode)
    reached_position: bool = False
    feed_ended: bool = False
    catchup_added: int = 0
    catchup_days: tuple[date, ...] = ()  # days still to read from the daily index
    catchup_error: str | None = None
    newest_seen: datetime | None = None
    lag: timedelta | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    lease_owner: str | None = None  # who holds the lease when this watcher is not the leader

    @property
    def ok(self) -> bool:
        return self.leader and self.error is None


@dataclass
class _Tally:
    """Counters filled while polling (mutable); frozen into a PollResult at the end."""

    new: list[Filing] = field(default_factory=list)
    pages: int = 0
    listed: int = 0
    other_forms: int = 0
    already_stored: int = 0
    waiting: int = 0
    retry_later: int = 0
    quarantined: int = 0
    untracked: int = 0
    reached_position: bool = False
    feed_ended: bool = False
    catchup_added: int = 0
    catchup_error: str | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None

    def fail(self, kind: ErrorKind, message: str) -> None:
        if self.error is None:
            self.error, self.error_kind = message, kind


@dataclass(frozen=True, slots=True)
class _Todo:
    """A filing to fetch: from a feed entry, a daily index line, or an earlier failure."""

    accession: str
    cik: int
    form: str
    listed_at: datetime | None
    filed_date: date | None
    origin: str  # "feed" or "index"

    def as_pending(self) -> PendingFiling:
        return PendingFiling(self.accession, self.cik, self.form, self.listed_at, self.filed_date, self.origin)


@dataclass(frozen=True, slots=True)
class _Outcome:
    todo: _Todo
    filing: Filing | None = None
    error: str | None = None
    permanent: bool = False  # the document itself is bad: retrying cannot help
    content: bytes | None = None
    source: str = ""
    untracked: bool = False


@dataclass(frozen=True, slots=True)
class _FeedScan:
    entries: tuple[FeedEntry, ...]  # Forms 4 / 4/A in the window, one per accession, newest first
    pages: int
    other_forms: int
    newest: datetime | None  # newest <updated> of page 1, every form
    newest_accessions: tuple[str, ...]
    reached: bool  # read back to the saved position (or first run)
    crossed_day: bool  # stopped at a page reaching into an earlier day: those days come from the index
    ended: bool  # EDGAR's feed ended (or max_pages) before the saved position
    broken: str | None  # a later page was unreadable: what was read is used, the position stays


# --------------------------------------------------------------------------------------------- watcher


class Watcher:
    """Polls EDGAR's current feed; see the module docstring. Drive it with :meth:`run` or :meth:`poll_once`.

    ``owner_id`` names this process in the lease (:func:`default_owner_id`). ``on_filings`` receives each batch
    of newly stored filings as soon as it is stored; the poll awaits it, so it should enqueue (an outbox),
    not post. Its exceptions are logged, never raised: the filings are stored either way.
    ``tracked_only`` fetches only issuers on some server's watchlist (``guild_watchlist``).
    """

    def __init__(
        self,
        store: Store,
        client: EdgarClient,
        *,
        interval: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        owner_id: str,
        tracked_only: bool = False,
        on_filings: OnFilings | None = None,
        page_size: int = 100,
        max_pages: int = 40,
        overlap: timedelta = timedelta(minutes=10),
        lease_ttl: float | None = None,
        batch_size: int = 10,
        fetch_concurrency: int = 4,
        max_attempts: int = 4,
        retry_delay: timedelta = timedelta(minutes=2),
        retries_per_poll: int = 10,
        catchup_per_poll: int = 20,
        max_catchup_days: int = 10,
        index_retry: timedelta = timedelta(minutes=30),
        backoff_max: float = 300.0,
    ) -> None:
        if interval <= 0:
            raise ValueError("the watch interval must be positive")
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be between 1 and 100")
        self.store = store
        self.client = client
        self.watch = Watch(store)
        self.interval = float(interval)
        self.owner_id = owner_id
        self.tracked_only = tracked_only
        self.on_filings = on_filings
        self._clock = clock
        self._sleep = sleep
        self.page_size = page_size
        self.max_pages = max(1, max_pages)
        self.overlap = overlap
        # Long enough to survive a slow poll (EDGAR retries), short enough that a crashed leader is
        # replaced within a couple of minutes.
        self.lease_ttl = float(lease_ttl) if lease_ttl is not None else max(90.0, 3 * self.interval)
        self.batch_size = max(1, batch_size)
        self._fetch_slots = asyncio.Semaphore(max(1, fetch_concurrency))
        self.max_attempts = max(1, max_attempts)
        self.retry_delay = retry_delay
        self.retries_per_poll = max(0, retries_per_poll)
        self.catchup_per_poll = max(0, catchup_per_poll)
        self.max_catchup_days = max(1, max_catchup_days)
        self.index_retry = index_retry
        self.backoff_max = backoff_max
        self._leader: bool | None = None  # None until the first poll: say once which role we took
        self._index_cache: dict[date, list[IndexEntry]] = {}

    # ------------------------------------------------------------------------------------ one poll

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise TypeError("the watcher's clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    async def poll_once(self) -> PollResult:
        """One step: lease, feed, fetch, ingest, hand over, position, retries, catch-up. Never raises for
        EDGAR, feed or store faults: the result says what happened (and the log too)."""
        now = self._now()
        try:
            leader = await self.watch.try_acquire(self.owner_id, now, self.lease_ttl)
        except sqlite3.Error as exc:
            log.warning("watcher %s: the store is busy, poll skipped (%s)", self.owner_id, exc)
            return PollResult(leader=False, error=f"the store is busy: {exc}", error_kind="store")
        if not leader:
            holder = None
            with suppress(sqlite3.Error):
                lease = await self.watch.lease()
                holder = lease.owner if lease else None
            if self._leader:
                log.warning("watcher %s lost the lease to %s: not polling", self.owner_id, holder)
            elif self._leader is None:
                log.info("watcher %s stands by: %s holds the lease", self.owner_id, holder)
            self._leader = False
            return PollResult(leader=False, lease_owner=holder)
        if not self._leader:
            log.info("watcher %s holds the lease: polling EDGAR every %.0f s", self.owner_id, self.interval)
        self._leader = True

        tally = _Tally()
        try:
            await self._poll(now, tally)
        except EdgarBlockedError as exc:
            tally.fail("blocked", str(exc))
        except EdgarError as exc:
            tally.fail("edgar", str(exc))
        except FeedError as exc:
            tally.fail("feed", f"EDGAR's feed was unreadable: {exc}")
        except sqlite3.Error as exc:
            tally.fail("store", f"the store is busy: {exc}")
        if tally.error is not None:
            log.warning("watcher poll failed (%s): %s", tally.error_kind, tally.error)
            try:
                await self.watch.record_poll(self.owner_id, at=now, error=tally.error)
            except sqlite3.Error as exc:
                log.warning("could not record the failed poll: %s", exc)

        newest = lag = None
        days: tuple[date, ...] = ()
        with suppress(sqlite3.Error):
            position = await self.watch.position()
            newest = position.newest_updated
            days = tuple(d.day for d in await self.watch.days())
        if newest is not None:
            lag = max(timedelta(0), self._now() - newest)
        return PollResult(
            leader=True,
            new=tuple(tally.new),
            pages=tally.pages,
            listed=tally.listed,
            other_forms=tally.other_forms,
            already_stored=tally.already_stored,
            waiting=tally.waiting,
            retry_later=tally.retry_later,
            quarantined=tally.quarantined,
            untracked=tally.untracked,
            reached_position=tally.reached_position,
            feed_ended=tally.feed_ended,
            catchup_added=tally.catchup_added,
            catchup_days=days,
            catchup_error=tally.catchup_error,
            newest_seen=newest,
            lag=lag,
            error=tally.error,
            error_kind=tally.error_kind,
            lease_owner=self.owner_id,
        )

    async def _poll(self, now: datetime, tally: _Tally) -> None:
        position = await self.watch.position()
        saved = position.newest_updated
        tracked = await self.watch.tracked_issuer_ciks() if self.tracked_only else None

        scan = await self._scan_feed(saved)
        tally.pages, tally.other_forms = scan.pages, scan.other_forms
        tally.reached_position, tally.feed_ended = scan.reached, scan.ended
        tally.listed = len(scan.entries)
        todo = await self._select_feed(scan.entries, tracked, now, tally)
        await self._process(todo, tracked, now, tally)

        if scan.broken is not None:
            # What was read is stored; the position stays, so the next poll reads this stretch again.
            tally.fail("feed", scan.broken)
            return
        if scan.newest is not None:
            if saved is not None and not scan.reached:
                days = _gap_days(saved, scan)
                if len(days) > self.max_catchup_days:
                    # Weeks away: the daily index is the wrong tool (a day is ~1,000 filings); older
                    # history belongs to a backfill from the quarterly data sets.
                    log.warning("the watcher was away %d business days; reading only the last %d from the "
                                "daily index (load older history with a backfill)", len(days),
                                self.max_catchup_days)
                    days = days[-self.max_catchup_days:]
                if days:
                    log.warning(
                        "the feed does not reach back to the last filing seen (%s): reading %s from the "
                        "daily index", saved.astimezone(EASTERN).strftime("%Y-%m-%d %H:%M:%S %Z"),
                        ", ".join(d.isoformat() for d in days),
                    )
                    await self.watch.schedule_days(days)
            if not await self.watch.save_position(self.owner_id, newest_updated=scan.newest,
                                                  accessions=scan.newest_accessions, polled_at=now):
                log.warning("watcher %s lost the lease during the poll; position not saved", self.owner_id)
                return
        else:
            await self.watch.record_poll(self.owner_id, at=now, error=None)
        # Retries and catching up can take a while: renew first, and stop if another watcher took over.
        if not await self.watch.renew(self.owner_id, self._now(), self.lease_ttl):
            log.warning("watcher %s lost the lease during the poll; stopping here", self.owner_id)
            return

        await self._retry(now, tracked, tally)
        await self._catch_up(now, tracked, tally, _eastern_day(scan.newest or saved))

    # ----------------------------------------------------------------------------------- the feed

    async def _scan_feed(self, saved: datetime | None) -> _FeedScan:
        floor = saved - self.overlap if saved is not None else None
        entries: dict[str, FeedEntry] = {}
        other: set[str] = set()
        pages = 0
        newest: datetime | None = None
        newest_accessions: tuple[str, ...] = ()
        feed_day: date | None = None
        reached = crossed = ended = False
        broken: str | None = None
        oldest_read: datetime | None = None
        start = 0
        while True:
            body = await self.client.current_feed(start=start, count=self.page_size, priority="watcher")
            try:
                page = parse_current_feed_page(body, forms=None)  # all forms: the log counts what is dropped
            except FeedEnded:
                if start == 0:
                    log.warning("EDGAR's current feed is empty (it answered its past-the-end page)")
                else:
                    log.info("EDGAR's feed ends at start=%d", start)
                ended = True
                break
            except FeedError as exc:
                if start == 0:
                    raise
                broken = f"feed page start={start} was unreadable ({exc}); it is read again next poll"
                break
            pages += 1
            if start == 0 and page.newest_updated is not None:
                newest = page.newest_updated
                feed_day = _eastern_day(newest)
                newest_accessions = tuple(e.accession for e in page.entries
                                          if e.updated == newest and e.form_type in FORM4_TYPES)
            for entry in page.entries:
                if entry.form_type not in FORM4_TYPES:
                    other.add(entry.accession)
                elif floor is None or entry.updated >= floor:
                    entries[entry.accession] = _merge(entries.get(entry.accession), entry)
            oldest = page.oldest_updated
            if oldest is not None:
                oldest_read = oldest if oldest_read is None else min(oldest_read, oldest)
            if floor is None:
                reached = True  # first run: start from the first page, not from the whole feed
                break
            if oldest is not None and oldest < floor:
                reached = True
                break
            if page.raw_entry_count < self.page_size:
                ended = True  # a short page is the last one
                break
            if oldest is not None and feed_day is not None and oldest.astimezone(EASTERN).date() < feed_day:
                crossed = True
                break
            if pages >= self.max_pages:
                log.warning("read %d feed pages without reaching the saved position", pages)
                ended = True
                break
            start += self.page_size
        if not reached and saved is not None and oldest_read is not None and oldest_read <= saved:
            # The feed ran out (or paging stopped) inside the overlap window: the saved position itself
            # was read, so nothing is missing.
            reached, crossed = True, False
        if pages > 1:
            log.info("read %d feed pages back to %s", pages,
                     "the saved position" if reached else "an earlier day" if crossed else "the feed's end")
        return _FeedScan(tuple(entries.values()), pages, len(other), newest, newest_accessions, reached, crossed,
                         ended, broken)

    async def _select_feed(self, entries: Sequence[FeedEntry], tracked: set[int] | None, now: datetime,
                           tally: _Tally) -> list[_Todo]:
        accessions = [e.accession for e in entries]
        stored = await self.store.filings.known_accessions(accessions)
        pending = await self.watch.pending(accessions)
        todo: list[_Todo] = []
        for entry in entries:
            if entry.accession in stored:
                tally.already_stored += 1
                continue
            earlier = pending.get(entry.accession)
            if earlier is not None and (earlier.gave_up or (earlier.next_try_at and earlier.next_try_at > now)):
                tally.waiting += 1
                continue
            # The issuer's line can sit on a page not read; then the document decides (after fetching).
            if tracked is not None and entry.issuer is not None and entry.issuer.cik not in tracked:
                tally.untracked += 1
                continue
            todo.append(_Todo(entry.accession, entry.cik, entry.form_type, entry.updated.astimezone(UTC),
                              entry.filed_date, "feed"))
        return todo

    # ------------------------------------------------------------------------- fetching and storing

    async def _process(self, todo: Sequence[_Todo], tracked: set[int] | None, now: datetime, tally: _Tally,
                       *, catchup: bool = False) -> None:
        """Fetch, ingest and hand over in small batches, oldest first (alerts go out in filing order)."""
        ordered = sorted(todo, key=lambda t: (t.listed_at or datetime.min.replace(tzinfo=UTC), t.accession))
        for i in range(0, len(ordered), self.batch_size):
            batch = ordered[i:i + self.batch_size]
            results = await asyncio.gather(*(self._fetch(t, tracked) for t in batch), return_exceptions=True)
            outcomes: list[_Outcome] = []
            edgar_trouble: EdgarError | None = None
            for item, result in zip(batch, results, strict=True):
                if isinstance(result, _Outcome):
                    outcomes.append(result)
                elif isinstance(result, EdgarError):
                    edgar_trouble = edgar_trouble or result  # EDGAR itself is failing: retried next poll
                elif isinstance(result, Exception):
                    log.error("fetching %s failed unexpectedly", item.accession, exc_info=result)
                    outcomes.append(_Outcome(item, error=f"internal error: {type(result).__name__}: {result}"))
                else:
                    raise result  # CancelledError and friends
            await self._store_outcomes(outcomes, now, tally, catchup=catchup)
            if edgar_trouble is not None:
                raise edgar_trouble

    async def _fetch(self, todo: _Todo, tracked: set[int] | None) -> _Outcome:
        async with self._fetch_slots:
            priority: Priority = "watcher" if todo.origin == "feed" else "background"
            try:
                if todo.origin == "feed":
                    data, source, is_txt = await self._download_listed(todo, priority)
                else:
                    data, source, is_txt = await self._download_txt(todo, priority)
            except (EdgarNotFound, EdgarUnexpectedContent) as exc:
                return _Outcome(todo, error=str(exc), source=exc.url or "")
        try:
            filing = parse_document(
                data, source=source, accession=todo.accession,
                # The .txt header's acceptance time is exact; the feed's <updated> is the fallback.
                accepted_at=None if is_txt else todo.listed_at,
                filed_date=None if is_txt else todo.filed_date,
            )
        except ParseError as exc:
            return _Outcome(todo, error=str(exc), permanent=True, content=data, source=source)
        if filing.accepted_at is None and todo.listed_at is not None:
            filing = replace(filing, accepted_at=todo.listed_at)
        if filing.filed_date is None and todo.filed_date is not None:
            filing = replace(filing, filed_date=todo.filed_date)
        if filing.document_type not in FORM4_TYPES:
            return _Outcome(todo, error=f"not a Form 4 (document type {filing.document_type})", permanent=True,
                            content=data, source=source)
        if tracked is not None and filing.issuer_cik not in tracked:
            return _Outcome(todo, untracked=True, source=source)
        return _Outcome(todo, filing=filing, source=source)

    async def _download_listed(self, todo: _Todo, priority: Priority) -> tuple[bytes, str, bool]:
        """The ownership XML named by ``index.json``; the complete ``.txt`` when that does not work out."""
        name: str | None = None
        try:
            name = ownership_xml_name(await self.client.filing_index(todo.cik, todo.accession, priority=priority))
        except (EdgarNotFound, EdgarUnexpectedContent) as exc:
            log.debug("no usable index.json for %s (%s): using the .txt", todo.accession, exc)
        if name is not None:
            try:
                data = await self.client.fetch_filing_document(todo.cik, todo.accession, name, priority=priority)
                return data, self.client.archive_url(todo.cik, todo.accession, name), False
            except (EdgarNotFound, EdgarUnexpectedContent) as exc:
                log.debug("%s of %s not served (%s): using the .txt", name, todo.accession, exc)
        return await self._download_txt(todo, priority)

    async def _download_txt(self, todo: _Todo, priority: Priority) -> tuple[bytes, str, bool]:
        data = await self.client.fetch_complete_submission(todo.cik, todo.accession, priority=priority)
        return data, self.client.archive_url(todo.cik, todo.accession, f"{todo.accession}.txt"), True

    async def _store_outcomes(self, outcomes: Sequence[_Outcome], now: datetime, tally: _Tally, *,
                              catchup: bool) -> None:
        filings = [o.filing for o in outcomes if o.filing is not None]
        new = await self._ingest(filings)
        if filings:
            await self.watch.clear_pending(f.accession for f in filings)
        if new:
            tally.new.extend(new)
            if catchup:
                tally.catchup_added += len(new)
            log.info("%d new Form 4 filing(s): %s", len(new),
                     ", ".join(f"{f.ticker or f.issuer_cik} {f.accession}" for f in new[:10]))
            await self._hand_over(new)  # before the bookkeeping below: alerts should not wait for it
        for outcome in outcomes:
            if outcome.filing is not None:
                continue
            if outcome.untracked:
                tally.untracked += 1
                await self.watch.clear_pending([outcome.todo.accession])
                continue
            reason = outcome.error or "unknown error"
            row = await self.watch.record_failure(
                outcome.todo.as_pending(), error=reason, now=now, retry_after=self.retry_delay,
                max_attempts=self.max_attempts, permanent=outcome.permanent,
            )
            if row.gave_up:
                tally.quarantined += 1
                source = outcome.source or self.client.archive_url(outcome.todo.cik, outcome.todo.accession)
                await self.store.filings.quarantine(source, f"{outcome.todo.accession}: {reason}", outcome.content)
                log.warning("gave up on %s after %d attempt(s): %s", outcome.todo.accession, row.attempts, reason)
            else:
                tally.retry_later += 1
                log.info("%s not stored yet (attempt %d of %d): %s", outcome.todo.accession, row.attempts,
                         self.max_attempts, reason)

    async def _ingest(self, filings: Sequence[Filing]) -> list[Filing]:
        """Store the filings; return those that were not stored before (the ones to hand over)."""
        unique = list({f.accession: f for f in filings}.values())
        for attempt in (1, 2):
            stored = await self.store.filings.known_accessions(f.accession for f in unique)
            fresh = [f for f in unique if f.accession not in stored]
            if not fresh:
                return []
            try:
                await self.store.filings.ingest_many(fresh, source="watcher")
            except sqlite3.IntegrityError:
                # Another writer stored some of them between the check and the insert (a watcher that
                # just lost the lease, a sync): look again and store the rest.
                if attempt == 2:
                    raise
                log.info("some filings were stored by another writer meanwhile; storing the rest")
                continue
            return fresh
        return []

    async def _hand_over(self, filings: list[Filing]) -> None:
        if self.on_filings is None:
            return
        try:
            await self.on_filings(list(filings))
        except Exception:
            log.exception("the consumer of %d new filing(s) failed; they are stored", len(filings))

    # --------------------------------------------------------------------- retries and catching up

    async def _retry(self, now: datetime, tracked: set[int] | None, tally: _Tally) -> None:
        due = await self.watch.due_retries(now, self.retries_per_poll)
        if not due:
            return
        stored = await self.store.filings.known_accessions(p.accession for p in due)
        if stored:  # stored meanwhile by someone else (a sync, the other watcher)
            await self.watch.clear_pending(stored)
        todo = [_Todo(p.accession, p.cik, p.form, p.listed_at, p.filed_date, p.origin)
                for p in due if p.accession not in stored]
        if todo:
            log.info("retrying %d filing(s) that failed before", len(todo))
            await self._process(todo, tracked, now, tally)

    async def _catch_up(self, now: datetime, tracked: set[int] | None, tally: _Tally,
                        feed_day: date | None) -> None:
        budget = self.catchup_per_poll
        if budget <= 0:
            return
        try:
            for day in await self.watch.days():
                if budget <= 0:
                    break
                if day.next_try_at is not None and day.next_try_at > now:
                    continue
                entries = await self._day_index(day.day, now, feed_day)
                if entries is None:
                    continue
                todo = await self._select_index(entries, tracked, now)
                take = todo[:budget]
                budget -= len(take)
                before = tally.catchup_added
                await self._process(take, tracked, now, tally, catchup=True)
                added = tally.catchup_added - before
                if len(take) == len(todo):
                    await self.watch.finish_day(day.day, added=added,
                                                note=f"{len(entries)} Forms 4 listed in the daily index")
                    self._index_cache.pop(day.day, None)
                    log.info("caught up %s from the daily index: %d added", day.day, added)
                else:
                    await self.watch.progress_day(day.day, added=added, note=f"{len(todo) - len(take)} to fetch")
        except EdgarError as exc:
            # The live part of the poll went fine; catching up waits for the next poll.
            tally.catchup_error = str(exc)
            log.warning("catching up from the daily index paused: %s", exc)

    async def _day_index(self, day: date, now: datetime, feed_day: date | None) -> list[IndexEntry] | None:
        cached = self._index_cache.get(day)
        if cached is not None:
            return cached
        try:
            body = await self.client.daily_form_index(day, priority="background")
        except EdgarNotFound:
            if feed_day is not None and day < feed_day:
                # EDGAR publishes a day's index that evening: missing after that means no filing day.
                log.info("no daily index for %s (a holiday?); nothing to catch up that day", day)
                await self.watch.finish_day(day, added=0, note="no daily index (holiday)")
            else:
                log.info("the daily index of %s is not published yet; trying again later", day)
                await self.watch.progress_day(day, added=0, note="daily index not published yet",
                                              next_try_at=now + self.index_retry)
            return None
        try:
            entries = parse_form_index(body)
        except FeedError as exc:
            log.warning("the daily index of %s is unreadable (%s); trying again later", day, exc)
            await self.watch.progress_day(day, added=0, note=f"unreadable index: {exc}",
                                          next_try_at=now + self.index_retry)
            return None
        self._index_cache[day] = entries
        return entries

    async def _select_index(self, entries: Sequence[IndexEntry], tracked: set[int] | None,
                            now: datetime) -> list[_Todo]:
        if tracked is not None:
            entries = [e for e in entries if set(e.filer_ciks or (e.cik,)) & tracked]
        accessions = [e.accession for e in entries]
        stored = await self.store.filings.known_accessions(accessions)
        pending = await self.watch.pending(accessions)
        todo = []
        for entry in entries:
            if entry.accession in stored:
                continue
            earlier = pending.get(entry.accession)
            if earlier is not None and (earlier.gave_up or (earlier.next_try_at and earlier.next_try_at > now)):
                continue
            todo.append(_Todo(entry.accession, entry.cik, entry.form_type, None, entry.filed_date, "index"))
        return todo

    # ------------------------------------------------------------------------------------- the loop

    async def run(self, stop_event: asyncio.Event, *,
                  on_poll: Callable[[PollResult], None] | None = None) -> None:
        """Poll every ``interval`` seconds (measured from each poll's start) until ``stop_event`` is set.

        EDGAR errors back off (doubling, up to ``backoff_max``; 10 minutes when SEC blocks us). A follower
        checks the lease every interval. The lease is released on the way out.
        """
        failures = 0
        try:
            while not stop_event.is_set():
                started = self._now()
                try:
                    result = await self.poll_once()
                except Exception:  # a bug must not end the watcher: log it, back off, go on
                    log.exception("watcher poll failed unexpectedly")
                    result = PollResult(leader=bool(self._leader), error="internal error (see the log)",
                                        error_kind="internal")
                if on_poll is not None:
                    try:
                        on_poll(result)
                    except Exception:
                        log.exception("on_poll failed")
                if result.error_kind in ("edgar", "blocked", "internal"):
                    failures += 1
                    delay = min(self.backoff_max, self.interval * 2 ** (failures - 1))
                    if result.error_kind == "blocked":
                        delay = max(delay, 600.0)  # SEC blocks an IP for about ten minutes
                    log.warning("%d failed poll(s) in a row (%s); next try in %.0f s", failures, result.error_kind,
                                delay)
                else:
                    if failures:
                        log.info("polling works again after %d failed poll(s)", failures)
                    failures = 0
                    elapsed = (self._now() - started).total_seconds()
                    # Clamped: a clock that jumps must not make the watcher spin or sleep for hours.
                    delay = min(self.interval, max(0.0, self.interval - elapsed))
                await self._pause(stop_event, delay)
        finally:
            try:
                if await self.watch.release(self.owner_id):
                    log.info("watcher %s released the lease", self.owner_id)
            except sqlite3.Error as exc:
                log.warning("could not release the lease (it lapses by itself): %s", exc)
            self._leader = False

    async def _pause(self, stop_event: asyncio.Event, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopper = asyncio.ensure_future(stop_event.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()


# --------------------------------------------------------------------------------------------- helpers


def ownership_xml_name(index: dict[str, Any]) -> str | None:
    """The ownership XML among a filing folder's ``index.json`` items, or None if it lists none.

    A Form 4 folder holds one raw XML (``doc4.xml``, ``form4.xml``, ``wk-form4_....xml``, ``edgar.xml``...)
    next to the ``.txt``, the index pages and the ``xslF345X0N`` folder with the rendered copy.
    """
    directory = index.get("directory") if isinstance(index, dict) else None
    items = directory.get("item") if isinstance(directory, dict) else None
    names: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name") or "")
        kind = str(item.get("type") or "").lower()
        if "/" in name or "folder" in kind or not name.lower().endswith(".xml"):
            continue
        if name.lower() in ("filingsummary.xml", "metalinks.xml"):
            continue
        names.append(name)
    if not names:
        return None

    def rank(name: str) -> tuple[int, str]:
        low = name.lower()
        return (0 if any(k in low for k in ("form4", "doc4", "ownership", "edgar", "4.xml")) else 1, low)

    return min(names, key=rank)


def _merge(known: FeedEntry | None, entry: FeedEntry) -> FeedEntry:
    """One entry per accession across pages: a filing's lines can straddle a page break."""
    if known is None:
        return entry
    filers: tuple[FeedFiler, ...] = tuple(dict.fromkeys(known.filers + entry.filers))
    issuer = next((f for f in filers if f.role == "Issuer"), None)
    main = entry if known.issuer is None and entry.issuer is not None else known
    return replace(main, filers=filers, cik=issuer.cik if issuer else main.cik,
                   company=issuer.name if issuer else main.company)


def _eastern_day(value: datetime | None) -> date | None:
    return value.astimezone(EASTERN).date() if value is not None else None


def _gap_days(saved: datetime, scan: _FeedScan) -> list[date]:
    """Business days the feed no longer covers: from the saved position's day to the day before the
    oldest page read (when paging reached an earlier day), or to today (when the feed ran out)."""
    first = _eastern_day(saved)
    last = _eastern_day(scan.newest)
    if first is None or last is None:
        return []
    if scan.crossed_day:
        last -= timedelta(days=1)
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:  # EDGAR does not disseminate on weekends: no index to ask for
            days.append(day)
        day += timedelta(days=1)
    return days


def describe(result: PollResult) -> str:
    """One line for a log or a terminal."""
    if not result.leader:
        if result.error:
            return f"not polling: {result.error}"
        return f"standing by: {result.lease_owner or 'another watcher'} holds the lease"
    parts = [f"{len(result.new)} new"]
    if result.new:
        shown = ", ".join(f"{f.ticker or f.issuer_cik} {f.document_type}" for f in result.new[:5])
        parts[0] += f" ({shown}{', ...' if len(result.new) > 5 else ''})"
    parts.append(f"{result.listed} listed on {result.pages} page(s)")
    if result.other_forms:
        parts.append(f"{result.other_forms} other form(s) dropped")
    if result.retry_later or result.quarantined:
        parts.append(f"{result.retry_later} to retry, {result.quarantined} quarantined")
    if result.untracked:
        parts.append(f"{result.untracked} untracked")
    if result.catchup_days:
        parts.append("catching up " + ", ".join(d.isoformat() for d in result.catchup_days[:3]))
    if result.lag is not None:
        parts.append(f"lag {duration_text(result.lag)}")
    if result.error:
        parts.append(f"error: {result.error}")
    return "; ".join(parts)




def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# ------------------------------------------------------------------------------------------------- CLI


def add_watch_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``insiderflow watch`` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "watch", help="follow EDGAR's current filings and store new Forms 4 as they appear (needs SEC_USER_AGENT)"
    )
    p.add_argument("--once", action="store_true", help="poll once and exit")
    p.add_argument("--interval", type=float, default=None,
                   help="seconds between polls (default: WATCH_INTERVAL_SECONDS, 30)")
    p.add_argument("--tracked-only", action="store_true",
                   help="only issuers on some server's watchlist (default: the whole market)")
    p.set_defaults(func=cmd_watch)
    return p


async def cmd_watch(args: argparse.Namespace, console: Console) -> int:
    """``insiderflow watch``: a line per poll until Ctrl-C (or one poll with ``--once``)."""
    import signal

    from rich.markup import escape

    from bot.settings import Settings

    settings = Settings.load(env_file=getattr(args, "env_file", ".env"))
    interval = args.interval if args.interval else settings.watch_interval_seconds
    tracked_only = bool(args.tracked_only) or _truthy(getattr(settings, "watch_tracked_only", False))

    def show(result: PollResult) -> None:
        stamp = datetime.now().astimezone().strftime("%H:%M:%S")
        if not result.leader:
            style = "yellow" if result.error else "dim"
        else:
            style = "red" if result.error else ("bold green" if result.new else "")
        line = escape(describe(result))  # error texts may hold [brackets]
        console.print(f"{stamp} [{style}]{line}[/{style}]" if style else f"{stamp} {line}", highlight=False)

    store = await Store.open(args.db)
    try:
        async with EdgarClient(settings) as client:
            watcher = Watcher(store, client, interval=interval, owner_id=default_owner_id("cli"),
                              tracked_only=tracked_only)
            scope = "tracked issuers" if tracked_only else "the whole market"
            if args.once:
                result = await watcher.poll_once()
                show(result)
                with suppress(sqlite3.Error):
                    await watcher.watch.release(watcher.owner_id)
                return 1 if result.error else 0
            console.print(f"watching EDGAR for Forms 4 ({scope}) every {interval:g} s; Ctrl-C stops")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with suppress(NotImplementedError, RuntimeError):  # not on Windows' default loop
                    loop.add_signal_handler(sig, stop.set)
            await watcher.run(stop, on_poll=show)
            console.print("stopped; the position is saved")
            return 0
    finally:
        await store.close()


__all__ = [
    "PollResult",
    "Watcher",
    "add_watch_command",
    "cmd_watch",
    "default_owner_id",
    "describe",
    "ownership_xml_name",
]


"""The live watcher against a fake EDGAR whose current feed changes over time.

Feeds: ``tests/fixtures/watcher/`` (assembled from real filings, see its README) and the recorded ``type=4``
pages in ``tests/fixtures/edgar/feeds/``. Documents: the real Form 4 XML and complete submissions in
``tests/fixtures/sec/``. Expected acceptance times come from the submissions JSON and the SGML headers; expected
request sets from reading the feed and index files with regular expressions, not from the code under test.
No test sleeps on a timer except the latency test: clocks and sleeps are injected, and the fake's request
log is read.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from rich.console import Console

from bot.alerts.watcher import PollResult, Watcher, add_watch_command, describe, ownership_xml_name
from bot.models import Filing
from bot.sec.client import EdgarClient, Priority, RateLimiter
from bot.sec.feeds import parse_current_feed_page
from bot.settings import Settings
from bot.store.db import Store
from bot.store.watch import Watch
from tests.edgar_fake import FIXTURES_DIR, TEST_USER_AGENT, EdgarFake, FakeResponse, fixture_bytes

ET = ZoneInfo("America/New_York")
WATCHER_FIXTURES = FIXTURES_DIR / "watcher"
FORM4_DIR = FIXTURES_DIR / "sec" / "form4"
SGML_DIR = FIXTURES_DIR / "sec" / "sgml"
PAST_END = "feeds/getcurrent_type4_2025-12-12_past_end_start5100_FileUnavailable.html"
FEED_PATH = "/cgi-bin/browse-edgar"
TSLA_FEED = "feed_tsla_2021-11.atom"
MARCH_FEED = "feed_2025-03.atom"
TESLA, MUSK = 1318605, 1494730

# Tesla's 2021-11-10 filings in acceptance order (submissions JSON): two at 18:2x ET, eight at 21:34-21:49 ET.
NOV10_EARLY = ["0000899243-21-044060", "0000899243-21-044077"]
NOV10_LATE = ["0000899243-21-044225", "0000899243-21-044229", "0000899243-21-044232", "0000899243-21-044235",
              "0000899243-21-044240", "0000899243-21-044241", "0000899243-21-044242", "0000899243-21-044244"]
WDAY, BETR, JBLU = "0001327811-25-000050", "0001493152-25-009612", "0001158463-25-000044"
DKNG, AOSL, ZIP = "0001104659-25-025206", "0001387467-25-000038", "0001617553-25-000024"


def et(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A time in EDGAR's zone (Eastern)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ET)


def tsla_accepted(accession: str) -> datetime:
    """The acceptance time EDGAR's submissions JSON gives (UTC)."""
    recent = json.loads((FIXTURES_DIR / "sec/submissions/TSLA_CIK0001318605.json").read_text())["filings"]["recent"]
    i = recent["accessionNumber"].index(accession)
    return datetime.fromisoformat(recent["acceptanceDateTime"][i]).astimezone(UTC)


class Clock:
    """An injectable clock: aware UTC datetimes, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Lanes(RateLimiter):
    """No waiting (the limiter has its own tests): records the priority lane of every request."""

    def __init__(self) -> None:
        super().__init__(10.0)
        self.lanes: list[str] = []

    async def acquire(self, priority: Priority = "user") -> None:
        self.lanes.append(priority)


async def no_sleep(_seconds: float) -> None:
    return None


_ENTRY_RE = re.compile(rb"<entry>.*?</entry>\s*", re.DOTALL)
_UPDATED_RE = re.compile(rb"<updated>([^<]+)</updated>")


class LiveFeed:
    """EDGAR's type=4 current feed at a moment ``at``: the fixture lines with ``<updated>`` <= ``at`` and, when
    ``floor`` is set, >= ``floor`` (how far back the real feed reaches), newest first, ``count`` lines a page.
    Past the end, the recorded "File Unavailable" HTML page. ``status`` != 200 answers that status;
    ``corrupt_from`` truncates the pages from that ``start`` on (not well-formed XML)."""

    def __init__(self, name: str, *, at: datetime, floor: datetime | None = None) -> None:
        data = (WATCHER_FIXTURES / name).read_bytes()
        self.head = data[:data.index(b"<entry>")]
        lines = []
        for match in _ENTRY_RE.finditer(data):
            updated = _UPDATED_RE.search(match.group())
            assert updated is not None
            lines.append((datetime.fromisoformat(updated[1].decode()), match.group()))
        self.lines = sorted(lines, key=lambda line: line[0], reverse=True)  # stable: owner line, then issuer
        self.at, self.floor = at, floor
        self.status = 200
        self.corrupt_from: int | None = None

    def visible(self) -> list[bytes]:
        return [body for updated, body in self.lines
                if updated <= self.at and (self.floor is None or updated >= self.floor)]

    def __call__(self, request: web.Request) -> FakeResponse:
        if self.status != 200:
            return FakeResponse(self.status, b"<html><body>Service Unavailable</body></html>", content_type="text/html")
        start, count = int(request.query.get("start", "0")), int(request.query.get("count", "100"))
        lines = self.visible()
        if start >= len(lines):
            return FakeResponse.file(PAST_END)
        body = self.head + b"".join(lines[start:start + count]) + b"</feed>\n"
        if self.corrupt_from is not None and start >= self.corrupt_from:
            body = body[:len(body) // 2]
        return FakeResponse(body=body, content_type="application/atom+xml")


def move(feed: LiveFeed, clock: Clock, moment: datetime, *, later: float = 5) -> None:
    """The feed as it is at ``moment``; the watcher's clock a few seconds after."""
    feed.at = moment
    clock.set(moment + timedelta(seconds=later))


def folder(cik: int, accession: str) -> str:
    return f"/Archives/edgar/data/{cik}/{accession.replace('-', '')}"


def serve_xml(fake: EdgarFake, accession: str, *, ciks: tuple[int, ...] = (TESLA, MUSK),
              document: Path | None = None, name: str | None = None) -> None:
    """A filing folder the EDGAR way, under each filer's CIK: ``index.json`` (index pages, the .txt, the raw
    XML, the xsl rendering folder) and the raw XML from the corpus."""
    path = document or next(FORM4_DIR.glob(f"*_{accession}_*.xml"))
    name = name or path.name.split(f"{accession}_", 1)[1]
    body = path.read_bytes()
    for cik in ciks:
        base = folder(cik, accession)
        items = [{"last-modified": "2021-11-10 18:23:34", "name": n, "type": t, "size": s} for n, t, s in (
            (f"{accession}-index-headers.html", "text.gif", ""), (f"{accession}-index.html", "text.gif", ""),
            (f"{accession}.txt", "text.gif", ""), (name, "text.gif", str(len(body))),
            ("xslF345X03", "folder.gif", ""))]
        fake.route(f"{base}/index.json", FakeResponse.json(
            {"directory": {"item": items, "name": base, "parent-dir": f"/Archives/edgar/data/{cik}"}}))
        fake.route(f"{base}/{name}", FakeResponse(body=body, content_type="text/xml"))


def march_filers() -> dict[str, tuple[int, ...]]:
    """Accession -> every filer CIK of the March 2025 feed (EDGAR serves a folder under each of them)."""
    page = parse_current_feed_page((WATCHER_FIXTURES / MARCH_FEED).read_bytes())
    return {e.accession: tuple(f.cik for f in e.filers) for e in page.entries}


def serve_txt(fake: EdgarFake, accession: str, ciks: tuple[int, ...]) -> None:
    """Only the complete submission (no index.json: the watcher falls back to the .txt)."""
    body = next(SGML_DIR.glob(f"*_{accession}.txt")).read_bytes()
    for cik in ciks:
        fake.route(f"{folder(cik, accession)}/{accession}.txt", FakeResponse(body=body, content_type="text/plain"))


def document_requests(fake: EdgarFake) -> list[str]:
    """Accessions of every filing-folder request, in order (index.json, XML or .txt)."""
    found = []
    for request in fake.requests:
        match = re.match(r"^/Archives/edgar/data/\d+/(\d{10})(\d{2})(\d{6})/", request.path)
        if match:
            found.append("-".join(match.groups()))
    return found


def feed_requests(fake: EdgarFake, start: int | None = None) -> int:
    return sum(1 for r in fake.requests_for(FEED_PATH) if start is None or r.query.get("start") == str(start))


class Consumer:
    """Stands in for the alert pipeline: records each hand-over."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.filings: dict[str, Filing] = {}
        self.changed = asyncio.Event()

    async def __call__(self, filings: list[Filing]) -> None:
        self.batches.append([f.accession for f in filings])
        self.filings.update({f.accession: f for f in filings})
        self.changed.set()

    @property
    def accessions(self) -> list[str]:
        return [a for batch in self.batches for a in batch]


def make_watcher(store: Store, client: EdgarClient, clock: Clock, *, owner: str = "host-a:101:bot",
                 consumer: Consumer | None = None, **options: Any) -> Watcher:
    return Watcher(store, client, interval=30, clock=clock, sleep=no_sleep, owner_id=owner, on_filings=consumer,
                   **options)


def new(result: PollResult) -> list[str]:
    return [f.accession for f in result.new]


@pytest.fixture
def lanes() -> Lanes:
    return Lanes()


@pytest.fixture
async def client(edgar_settings: Settings, lanes: Lanes) -> AsyncIterator[EdgarClient]:
    async with EdgarClient(edgar_settings, limiter=lanes, sleep=no_sleep, max_attempts=2) as edgar:
        yield edgar


@pytest.fixture
def tsla_feed(edgar_fake: EdgarFake) -> LiveFeed:
    feed = LiveFeed(TSLA_FEED, at=et(2021, 11, 10, 18, 30))
    edgar_fake.route(FEED_PATH, feed)
    for accession in NOV10_EARLY + NOV10_LATE:
        serve_xml(edgar_fake, accession)
    return feed


# ------------------------------------------------------------------------------------- the live feed


async def test_feed_changing_over_time_hands_over_only_new_filings(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, tsla_feed: LiveFeed, lanes: Lanes
) -> None:
    clock, consumer = Clock(et(2021, 11, 10, 18, 30, 5)), Consumer()
    watcher = make_watcher(store, client, clock, consumer=consumer)

    first = await watcher.poll_once()
    assert first.ok and first.reached_position
    assert new(first) == NOV10_EARLY and consumer.batches == [NOV10_EARLY]
    # The XML carries no time: the feed's <updated> is the acceptance time (the JSON agrees to the second).
    assert [f.accepted_at for f in first.new] == [tsla_accepted(a) for a in NOV10_EARLY]
    assert {f.filed_date for f in first.new} == {date(2021, 11, 10)}
    assert {f.issuer_cik for f in first.new} == {TESLA}
    assert first.newest_seen == datetime(2021, 11, 10, 23, 28, 55, tzinfo=UTC)
    assert first.lag == timedelta(seconds=70)  # 18:30:05 - 18:28:55 ET

    # Three hours later five more filings sit on top of the feed.
    move(tsla_feed, clock, et(2021, 11, 10, 21, 45, 40))
    second = await watcher.poll_once()
    assert new(second) == NOV10_LATE[:5]
    assert second.already_stored == 2 and second.listed == 7
    assert consumer.accessions == NOV10_EARLY + NOV10_LATE[:5]
    assert all([await store.filings.has(a) for a in NOV10_EARLY + NOV10_LATE[:5]])
    # Each filing: one index.json and one XML, under the issuer's CIK (the issuer's line is preferred).
    for accession in NOV10_EARLY + NOV10_LATE[:5]:
        assert edgar_fake.count(f"{folder(TESLA, accession)}/index.json") == 1
        assert edgar_fake.count(f"{folder(TESLA, accession)}/doc4.xml") == 1

    before = len(edgar_fake.requests)
    idle = await watcher.poll_once()
    assert idle.ok and idle.new == () and len(edgar_fake.requests) == before + 1  # the feed page only
    assert set(lanes.lanes) == {"watcher"}  # the live watcher uses the first lane throughout
    assert edgar_fake.unmatched == []


async def test_sec_down_for_a_while_then_pages_back_and_misses_nothing(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, tsla_feed: LiveFeed
) -> None:
    clock, consumer = Clock(et(2021, 11, 10, 18, 30, 5)), Consumer()
    watcher = make_watcher(store, client, clock, consumer=consumer, page_size=4)
    assert new(await watcher.poll_once()) == NOV10_EARLY

    tsla_feed.status = 503
    move(tsla_feed, clock, et(2021, 11, 10, 21, 40))
    down = await watcher.poll_once()
    assert down.leader and down.error_kind == "edgar" and down.new == ()
    status = await Watch(store).status(clock())
    assert status.position.last_error is not None and "503" in status.position.last_error
    assert status.position.newest_updated == datetime(2021, 11, 10, 23, 28, 55, tzinfo=UTC)  # not moved
    assert status.lag == timedelta(hours=3, minutes=11, seconds=10)

    # Back at 21:50: eight more filings, 20 lines, five pages of four lines, then EDGAR's past-end page.
    tsla_feed.status = 200
    move(tsla_feed, clock, et(2021, 11, 10, 21, 50))
    up = await watcher.poll_once()
    assert up.ok and up.reached_position and up.pages == 5
    assert feed_requests(edgar_fake, start=20) == 1  # the HTML "File Unavailable" page, read as the end
    assert new(up) == NOV10_LATE  # all eight, oldest first
    assert up.catchup_days == ()  # the feed still reached the saved position: no daily index needed
    assert consumer.accessions == NOV10_EARLY + NOV10_LATE  # nothing missed, nothing repeated
    status = await Watch(store).status(clock())
    assert status.position.last_error is None
    assert status.position.newest_updated == datetime(2021, 11, 11, 2, 49, 31, tzinfo=UTC)
    assert status.position.last_accessions == ("0000899243-21-044244",)


async def test_restart_resumes_from_the_saved_position(
    tmp_path: Path, edgar_fake: EdgarFake, client: EdgarClient, tsla_feed: LiveFeed
) -> None:
    path = tmp_path / "restart.db"
    clock = Clock(et(2021, 11, 10, 18, 30, 5))
    first_run = await Store.open(path)
    watcher = make_watcher(first_run, client, clock, owner="host-a:1:bot", page_size=3)
    assert new(await watcher.poll_once()) == NOV10_EARLY
    await watcher.watch.release(watcher.owner_id)  # a clean shutdown (run() does this on exit)
    await first_run.close()

    # A new process: new connection, new watcher, new owner id; the feed moved on by six filings.
    second_run = await Store.open(path)
    try:
        move(tsla_feed, clock, et(2021, 11, 10, 21, 46, 50), later=10)
        consumer = Consumer()
        restarted = make_watcher(second_run, client, clock, owner="host-a:2:bot", consumer=consumer, page_size=3)
        result = await restarted.poll_once()
        assert result.ok and result.reached_position
        assert new(result) == NOV10_LATE[:6] and consumer.batches == [NOV10_LATE[:6]]
        # Pages of three lines split owner and issuer lines of one filing: each filing fetched once.
        fetched = document_requests(edgar_fake)
        assert sorted(set(fetched)) == sorted(NOV10_EARLY + NOV10_LATE[:6])
        assert all(fetched.count(a) == 2 for a in set(fetched))  # index.json + the XML
    finally:
        await second_run.close()


async def test_only_forms_4_and_4a_are_fetched_once_each_from_the_recorded_pages(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient
) -> None:
    pages = [f"feeds/getcurrent_type4_2025-12-12_p0{i}_start{(i - 1) * 100}.atom" for i in (1, 2, 3)]
    for i, name in enumerate(pages):
        edgar_fake.current_feed(name, start=i * 100)
    clock = Clock(et(2025, 12, 12, 18, 4))
    watcher = make_watcher(store, client, clock)
    saved = et(2025, 12, 12, 17, 20)  # the last poll saw the feed up to 17:20 ET; the overlap reads to 17:10
    assert await watcher.watch.try_acquire(watcher.owner_id, clock(), 90)
    assert await watcher.watch.save_position(watcher.owner_id, newest_updated=saved, accessions=(),
                                             polled_at=clock())

    # The oracle: every line of the three pages, read with regular expressions.
    wanted: set[str] = set()
    other_accessions: set[str] = set()
    for name in pages:
        for block in re.findall(rb"<entry>.*?</entry>", fixture_bytes(name), re.DOTALL):
            term = re.search(rb'term="([^"]+)"', block)[1].decode()  # type: ignore[index]
            accession = re.search(rb"accession-number=([\d-]+)", block)[1].decode()  # type: ignore[index]
            updated = datetime.fromisoformat(re.search(rb"<updated>([^<]+)", block)[1].decode())  # type: ignore[index]
            if term in ("4", "4/A"):
                if updated >= saved - timedelta(minutes=10):
                    wanted.add(accession)
            else:
                other_accessions.add(accession)
    assert "0000950142-25-003181" in wanted  # listed on page 1 (owner) and page 2 (issuer)

    result = await watcher.poll_once()
    assert result.ok and result.pages == 3 and result.reached_position
    assert result.listed == len(wanted) and result.other_forms == len(other_accessions)
    index_requests = [r.path for r in edgar_fake.requests if r.path.endswith("/index.json")]
    assert len(index_requests) == len(wanted)  # one per filing, however many lines and pages list it
    assert set(document_requests(edgar_fake)) == wanted
    assert not set(document_requests(edgar_fake)) & other_accessions  # no 424B2, 497, 425... fetched
    # None of these filings' documents is in the fixtures: EDGAR's 404s are retried later, nothing crashes.
    assert result.new == () and result.retry_later == len(wanted) and result.quarantined == 0
    assert (await Watch(store).status(clock())).retrying == len(wanted)


# ---------------------------------------------------------------------------------------- bad input


async def test_unreadable_feed_pages_and_the_empty_feed(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, tsla_feed: LiveFeed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.alerts.watcher")
    clock, consumer = Clock(et(2021, 11, 10, 18, 0)), Consumer()
    watcher = make_watcher(store, client, clock, consumer=consumer, page_size=4)

    tsla_feed.at = et(2021, 11, 10, 18, 0)  # nothing yet: EDGAR answers its past-end HTML page at start=0
    empty = await watcher.poll_once()
    assert empty.ok and empty.feed_ended and empty.new == () and empty.newest_seen is None
    assert "feed is empty" in caplog.text

    move(tsla_feed, clock, et(2021, 11, 10, 18, 30))
    tsla_feed.corrupt_from = 0
    bad = await watcher.poll_once()
    assert bad.leader and bad.error_kind == "feed" and bad.new == ()
    assert "unreadable" in caplog.text
    tsla_feed.corrupt_from = None
    assert new(await watcher.poll_once()) == NOV10_EARLY

    # Page 1 reads, page 2 does not: page 1's filings are stored, the position stays for the next poll.
    move(tsla_feed, clock, et(2021, 11, 10, 21, 50))
    tsla_feed.corrupt_from = 4
    partial = await watcher.poll_once()
    assert partial.error_kind == "feed" and new(partial) == NOV10_LATE[-2:]
    position = await watcher.watch.position()
    assert position.newest_updated == datetime(2021, 11, 10, 23, 28, 55, tzinfo=UTC)
    tsla_feed.corrupt_from = None
    rest = await watcher.poll_once()
    assert rest.ok and new(rest) == NOV10_LATE[:-2]
    assert sorted(consumer.accessions) == sorted(NOV10_EARLY + NOV10_LATE)
    assert len(consumer.accessions) == len(set(consumer.accessions))


async def test_a_bad_form4_is_quarantined_and_the_poll_goes_on(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, tsla_feed: LiveFeed
) -> None:
    truncated = FIXTURES_DIR / "bad" / "truncated_half_TSLA_0000899243-21-044060_doc4.xml"
    serve_xml(edgar_fake, NOV10_EARLY[0], document=truncated, name="doc4.xml")
    clock, consumer = Clock(et(2021, 11, 10, 18, 30, 5)), Consumer()
    watcher = make_watcher(store, client, clock, consumer=consumer)

    result = await watcher.poll_once()
    assert result.ok and new(result) == [NOV10_EARLY[1]] and result.quarantined == 1
    assert consumer.batches == [[NOV10_EARLY[1]]]
    [(source, reason)] = await store.filings.quarantined()
    assert source.endswith(f"{folder(TESLA, NOV10_EARLY[0])}/doc4.xml")
    assert reason.startswith(f"{NOV10_EARLY[0]}: ")
    assert not await store.filings.has(NOV10_EARLY[0])

    clock.advance(minutes=5)
    again = await watcher.poll_once()
    assert again.ok and again.new == () and again.waiting == 1  # given up: not fetched again
    assert edgar_fake.count(f"{folder(TESLA, NOV10_EARLY[0])}/doc4.xml") == 1
    assert (await Watch(store).status(clock())).given_up == 1


async def test_a_failing_consumer_loses_nothing(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, tsla_feed: LiveFeed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[list[str]] = []

    async def broken_consumer(filings: list[Filing]) -> None:
        calls.append([f.accession for f in filings])
        raise RuntimeError("the alert outbox is down")

    clock = Clock(et(2021, 11, 10, 18, 30, 5))
    watcher = Watcher(store, client, interval=30, clock=clock, sleep=no_sleep, owner_id="host-a:1:bot",
                      on_filings=broken_consumer)
    result = await watcher.poll_once()
    assert result.ok and new(result) == NOV10_EARLY  # stored, and reported, whatever the consumer did
    assert all([await store.filings.has(a) for a in NOV10_EARLY])
    assert "the consumer of 2 new filing(s) failed" in caplog.text
    clock.advance(seconds=30)
    assert (await watcher.poll_once()).new == () and calls == [NOV10_EARLY]


async def test_unknown_issuers_are_stored_and_tracked_only_skips_them(
    tmp_path: Path, edgar_fake: EdgarFake, store: Store, client: EdgarClient
) -> None:
    feed = LiveFeed(MARCH_FEED, at=et(2025, 3, 18, 20, 15), floor=et(2025, 3, 18, 6, 0))
    edgar_fake.route(FEED_PATH, feed)
    filers = march_filers()
    for accession in (DKNG, AOSL, ZIP):
        serve_txt(edgar_fake, accession, filers[accession])
    clock = Clock(et(2025, 3, 18, 20, 15, 3))

    # Market-wide: three issuers the store has never seen are stored with their names.
    everything = await make_watcher(store, client, clock).poll_once()
    assert everything.ok and new(everything) == [DKNG, AOSL, ZIP]
    # No index.json here: the complete .txt was used, and its header's acceptance time (EDT) kept.
    assert [f.accepted_at for f in everything.new] == [
        datetime(2025, 3, 19, 0, 1, 8, tzinfo=UTC),  # <ACCEPTANCE-DATETIME>20250318200108
        datetime(2025, 3, 19, 0, 14, 8, tzinfo=UTC),  # 20250318201408
        datetime(2025, 3, 19, 0, 14, 44, tzinfo=UTC),  # 20250318201444
    ]
    issuer = await store.issuers.get(1883685)
    assert issuer is not None and issuer.name == "DraftKings Inc."

    # Tracked only: a server watches ZipRecruiter; the other two are skipped without a request.
    tracked_store = await Store.open(tmp_path / "tracked.db")
    try:
        await tracked_store.guilds.add(42, "ZIP", 1617553, 7)
        edgar_fake.clear_log()
        tracked = await make_watcher(tracked_store, client, clock, tracked_only=True).poll_once()
        assert tracked.ok and new(tracked) == [ZIP] and tracked.untracked == 2
        assert set(document_requests(edgar_fake)) == {ZIP}
    finally:
        await tracked_store.close()


# -------------------------------------------------------------------------------- one watcher polls


async def test_two_watchers_one_polls_and_a_lapsed_lease_hands_over(
    tmp_path: Path, edgar_fake: EdgarFake, client: EdgarClient, tsla_feed: LiveFeed
) -> None:
    path = tmp_path / "shared.db"
    store_a, store_b = await Store.open(path), await Store.open(path)  # two processes, one store
    try:
        clock, consumer = Clock(et(2021, 11, 10, 18, 30, 5)), Consumer()
        a = make_watcher(store_a, client, clock, owner="host-a:11:bot", consumer=consumer)
        b = make_watcher(store_b, client, clock, owner="host-b:22:cli", consumer=consumer)

        assert (await a.poll_once()).leader
        before = len(edgar_fake.requests)
        follower = await b.poll_once()
        assert not follower.leader and follower.lease_owner == "host-a:11:bot"
        assert len(edgar_fake.requests) == before  # not even the feed
        assert describe(follower) == "standing by: host-a:11:bot holds the lease"

        clock.advance(seconds=60)
        assert (await a.poll_once()).leader and not (await b.poll_once()).leader
        # a dies without releasing: b waits out the lease (90 s from a's last renewal), then takes over.
        clock.advance(seconds=89)
        assert not (await b.poll_once()).leader
        clock.advance(seconds=2)
        tsla_feed.at = et(2021, 11, 10, 21, 45, 40)
        taken = await b.poll_once()
        assert taken.leader and new(taken) == NOV10_LATE[:5]
        assert not (await a.poll_once()).leader  # a is back: b holds the lease now
        assert consumer.accessions == NOV10_EARLY + NOV10_LATE[:5]
        # A watcher that lost the lease mid-poll cannot move the position (back) either.
        stale = datetime(2021, 11, 10, 23, 28, 55, tzinfo=UTC)
        assert not await a.watch.save_position(a.owner_id, newest_updated=stale, accessions=(), polled_at=clock())
        status = await Watch(store_a).status(clock())
        assert status.lease is not None and status.lease.owner == "host-b:22:cli" and status.leader_active
        assert status.position.newest_updated == datetime(2021, 11, 11, 2, 45, 38, tzinfo=UTC)  # 044240
    finally:
        await store_a.close()
        await store_b.close()


async def test_simultaneous_lease_attempts_have_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    stores = [await Store.open(path) for _ in range(3)]
    try:
        now = datetime(2025, 3, 18, 12, tzinfo=UTC)
        for round_ in range(5):
            owners = [f"host-{i}:{round_}" for i in range(3)]
            won = await asyncio.gather(*(Watch(s).try_acquire(o, now, 90) for s, o in zip(stores, owners, strict=True)))
            assert sum(won) == 1
            winner = owners[won.index(True)]
            lease = await Watch(stores[0]).lease()
            assert lease is not None and lease.owner == winner
            assert await Watch(stores[0]).release(winner)
    finally:
        for s in stores:
            await s.close()


async def test_the_clock_moving_never_makes_two_leaders(
    tmp_path: Path, edgar_fake: EdgarFake, client: EdgarClient, tsla_feed: LiveFeed
) -> None:
    path = tmp_path / "clock.db"
    store_a, store_b = await Store.open(path), await Store.open(path)
    try:
        clock = Clock(et(2021, 11, 10, 18, 30, 5))
        a = make_watcher(store_a, client, clock, owner="host-a:1:bot")
        b = make_watcher(store_b, client, clock, owner="host-b:2:bot")
        assert (await a.poll_once()).leader

        # The clock jumps back an hour while a is alive: a renews its own lease, b still stands by.
        clock.advance(hours=-1)
        behind = await a.poll_once()
        assert behind.ok and behind.lag == timedelta(0)  # never negative
        assert not (await b.poll_once()).leader

        # a dies, then the clock jumps back again: a lease renewed "in the future" is not honoured for an
        # hour; b takes over at once, and a, back, stands by.
        clock.advance(hours=-1)
        assert (await b.poll_once()).leader
        assert not (await a.poll_once()).leader

        # Forward three hours: b keeps its lease; the position follows the feed, not the clock.
        clock.advance(hours=3)
        tsla_feed.at = et(2021, 11, 10, 21, 50)
        ahead = await b.poll_once()
        assert ahead.ok and new(ahead) == NOV10_LATE
        assert not (await a.poll_once()).leader
    finally:
        await store_a.close()
        await store_b.close()


async def test_a_locked_store_loses_nothing_and_repeats_nothing(
    tmp_path: Path, edgar_fake: EdgarFake, client: EdgarClient, tsla_feed: LiveFeed
) -> None:
    path = tmp_path / "locked.db"
    store = await Store.open(path)
    await store.conn.execute("PRAGMA busy_timeout=100")  # fail in 0.1 s rather than the default 30 s
    other = sqlite3.connect(path, isolation_level=None, timeout=0.1)  # another process writing a lot
    lock_on_feed = True

    def feed_then_lock(request: web.Request) -> FakeResponse:
        if lock_on_feed:
            other.execute("BEGIN IMMEDIATE")  # takes the write lock while the watcher reads the feed
        return tsla_feed(request)

    edgar_fake.route(FEED_PATH, feed_then_lock)
    try:
        clock, consumer = Clock(et(2021, 11, 10, 18, 30, 5)), Consumer()
        watcher = make_watcher(store, client, clock, consumer=consumer)
        locked = await watcher.poll_once()
        assert locked.leader and locked.error_kind == "store" and locked.new == ()
        assert consumer.batches == []
        other.execute("ROLLBACK")
        lock_on_feed = False

        clock.advance(seconds=30)
        free = await watcher.poll_once()
        assert free.ok and new(free) == NOV10_EARLY and consumer.batches == [NOV10_EARLY]

        # Locked before the poll: the lease cannot be renewed, so nothing is read from EDGAR.
        other.execute("BEGIN IMMEDIATE")
        before = len(edgar_fake.requests)
        clock.advance(seconds=30)
        blocked = await watcher.poll_once()
        assert not blocked.leader and blocked.error_kind == "store" and len(edgar_fake.requests) == before
        other.execute("ROLLBACK")
        clock.advance(seconds=30)
        assert (await watcher.poll_once()).ok
        assert consumer.accessions == NOV10_EARLY
    finally:
        other.close()
        await store.close()


# ------------------------------------------------------------------------------ catching up by index


async def test_missed_days_are_read_from_the_daily_index(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, lanes: Lanes
) -> None:
    feed = LiveFeed(MARCH_FEED, at=et(2025, 3, 7, 18, 30))
    edgar_fake.route(FEED_PATH, feed)
    filers = march_filers()
    for accession in (WDAY, BETR, JBLU):
        serve_txt(edgar_fake, accession, filers[accession])
    clock, consumer = Clock(et(2025, 3, 7, 18, 30, 10)), Consumer()
    watcher = make_watcher(store, client, clock, consumer=consumer)
    first = await watcher.poll_once()
    assert new(first) == [WDAY]
    assert first.new[0].accepted_at == datetime(2025, 3, 7, 23, 28, 58, tzinfo=UTC)  # 20250307182858 EST

    # Down from Friday evening to Wednesday night. By then the feed only reaches back to Wednesday morning,
    # so BETR (Friday 21:00) is only in Friday's daily index. Weekend days are not even asked for; Monday's
    # and Tuesday's indexes are missing here (read as no filing day); Wednesday's is not published yet.
    edgar_fake.daily_index(date(2025, 3, 7), str(WATCHER_FIXTURES / "form.20250307.idx"))
    feed.at, feed.floor = et(2025, 3, 12, 22, 0), et(2025, 3, 12, 6, 0)
    clock.set(et(2025, 3, 12, 22, 0, 5))
    lanes.lanes.clear()
    back = await watcher.poll_once()
    assert back.ok and back.feed_ended and not back.reached_position
    assert new(back) == [JBLU, BETR]  # the live filing first, then the catch-up
    assert back.catchup_added == 1 and back.catchup_days == (date(2025, 3, 12),)
    assert back.new[1].accepted_at == datetime(2025, 3, 8, 2, 0, 8, tzinfo=UTC)  # 20250307210008 EST
    asked = [r.path.rsplit("/", 1)[1] for r in edgar_fake.requests if "/daily-index/" in r.path]
    assert asked == ["form.20250307.idx", "form.20250310.idx", "form.20250311.idx", "form.20250312.idx"]
    assert document_requests(edgar_fake).count(WDAY) == 2  # Friday's live fetch only (index.json + .txt)
    assert lanes.lanes.count("background") == 4 + 1  # four indexes, BETR's .txt
    days = {d.day: d for d in await watcher.watch.days(pending_only=False)}
    assert days[date(2025, 3, 7)].state == "done" and days[date(2025, 3, 7)].added == 1
    assert days[date(2025, 3, 10)].state == "done" and "no daily index" in (days[date(2025, 3, 10)].note or "")
    assert days[date(2025, 3, 12)].state == "pending"

    # Wednesday's index appears; the watcher asks again after 30 minutes, and JBLU is already stored.
    edgar_fake.daily_index(date(2025, 3, 12), str(WATCHER_FIXTURES / "form.20250312.idx"))
    clock.advance(minutes=10)
    assert (await watcher.poll_once()).catchup_days == (date(2025, 3, 12),)
    assert edgar_fake.count("/Archives/edgar/daily-index/2025/QTR1/form.20250312.idx") == 1
    clock.advance(minutes=25)
    done = await watcher.poll_once()
    assert done.ok and done.new == () and done.catchup_days == ()
    assert document_requests(edgar_fake).count(JBLU) == 2  # never fetched again
    assert consumer.batches == [[WDAY], [JBLU], [BETR]]


async def test_weeks_away_reads_only_the_last_days_from_the_index(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, caplog: pytest.LogCaptureFixture
) -> None:
    edgar_fake.route(FEED_PATH, LiveFeed(MARCH_FEED, at=et(2025, 3, 12, 22, 0), floor=et(2025, 3, 12, 6, 0)))
    serve_txt(edgar_fake, JBLU, march_filers()[JBLU])
    clock = Clock(et(2025, 3, 12, 22, 0, 5))
    watcher = make_watcher(store, client, clock, max_catchup_days=3)
    assert await watcher.watch.try_acquire(watcher.owner_id, clock(), 90)
    await watcher.watch.save_position(watcher.owner_id, newest_updated=et(2025, 1, 2, 17, 0), accessions=(),
                                      polled_at=clock())
    result = await watcher.poll_once()
    assert result.ok and new(result) == [JBLU]
    asked = [r.path.rsplit("/", 1)[1] for r in edgar_fake.requests if "/daily-index/" in r.path]
    assert asked == ["form.20250310.idx", "form.20250311.idx", "form.20250312.idx"]
    assert "away 50 business days" in caplog.text


async def test_real_daily_index_tracked_issuers_missing_documents_are_given_up(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient
) -> None:
    """The recorded 2020-03-18 index (974 Forms 4): a tracked-only watcher reads it for two issuers. Their
    documents are not in the fixtures: each is tried, retried, then quarantined; nothing else is asked for."""
    edgar_fake.route(FEED_PATH, FakeResponse.file(PAST_END))  # the feed itself has nothing
    edgar_fake.daily_index(date(2020, 3, 18), "feeds/form.20200318.idx")
    tracked = {1770787: "TXG", 1080709: "ARNA"}
    for cik, ticker in tracked.items():
        await store.guilds.add(1, ticker, cik, 7)
    expected = set()
    for line in fixture_bytes("feeds/form.20200318.idx").decode("latin-1").splitlines():
        parts = line.split()
        if line[:12].strip() in ("4", "4/A") and len(parts) >= 4 and int(parts[-3]) in tracked:
            expected.add(parts[-1].rsplit("/", 1)[1].removesuffix(".txt"))
    assert len(expected) == 2  # 10x Genomics' Form 4 and Arena's 4/A, each also listed under its owner

    clock = Clock(et(2020, 3, 19, 10, 0))
    watcher = make_watcher(store, client, clock, tracked_only=True, max_attempts=2)
    assert await watcher.watch.try_acquire(watcher.owner_id, clock(), 90)
    await watcher.watch.save_position(watcher.owner_id, newest_updated=et(2020, 3, 19, 9, 45), accessions=(),
                                      polled_at=clock())
    await watcher.watch.schedule_days([date(2020, 3, 18)])

    first = await watcher.poll_once()
    assert first.ok and first.retry_later == 2 and first.catchup_days == ()
    assert sorted(document_requests(edgar_fake)) == sorted(expected)  # one .txt each, nothing else

    clock.advance(minutes=3)
    second = await watcher.poll_once()
    assert second.ok and second.quarantined == 2
    quarantined = await store.filings.quarantined()
    assert {reason.split(":", 1)[0] for _, reason in quarantined} == expected
    clock.advance(minutes=3)
    before = len(document_requests(edgar_fake))
    assert (await watcher.poll_once()).ok and len(document_requests(edgar_fake)) == before
    assert (await Watch(store).status(clock())).given_up == 2


async def test_catching_up_a_whole_day_is_bounded_per_poll(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, lanes: Lanes
) -> None:
    edgar_fake.route(FEED_PATH, FakeResponse.file(PAST_END))
    edgar_fake.daily_index(date(2020, 3, 18), "feeds/form.20200318.idx")
    clock = Clock(et(2020, 3, 19, 10, 0))
    watcher = make_watcher(store, client, clock, catchup_per_poll=25)
    assert await watcher.watch.try_acquire(watcher.owner_id, clock(), 90)
    await watcher.watch.save_position(watcher.owner_id, newest_updated=et(2020, 3, 19, 9, 45), accessions=(),
                                      polled_at=clock())
    await watcher.watch.schedule_days([date(2020, 3, 18)])

    first = await watcher.poll_once()
    assert first.ok and len(document_requests(edgar_fake)) == 25 and first.catchup_days == (date(2020, 3, 18),)
    second = await watcher.poll_once()
    fetched = document_requests(edgar_fake)
    assert len(fetched) == 50 and len(set(fetched)) == 50  # the next 25, none twice
    assert second.catchup_days == (date(2020, 3, 18),)
    assert edgar_fake.count("/Archives/edgar/daily-index/2020/QTR1/form.20200318.idx") == 1  # kept in memory
    assert lanes.lanes.count("background") == 1 + 50 and lanes.lanes.count("watcher") == 2


# ------------------------------------------------------------------------------------------ the loop


async def test_run_backs_off_while_sec_is_down_then_catches_up(
    edgar_fake: EdgarFake, store: Store, client: EdgarClient, tsla_feed: LiveFeed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.alerts.watcher")
    clock, consumer, stop = Clock(et(2021, 11, 10, 18, 30, 5)), Consumer(), asyncio.Event()
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        clock.advance(seconds=seconds)
        if len(delays) == 1:
            tsla_feed.status = 503
        elif len(delays) == 3:
            tsla_feed.status = 200
            move(tsla_feed, clock, et(2021, 11, 10, 21, 50))
        elif len(delays) == 4:
            stop.set()

    watcher = Watcher(store, client, interval=30, clock=clock, sleep=sleep, owner_id="host-a:1:bot",
                      on_filings=consumer, page_size=4)
    results: list[PollResult] = []
    await asyncio.wait_for(watcher.run(stop, on_poll=results.append), 10)
    assert delays == [30, 30, 60, 30]  # the interval, then doubling while EDGAR fails, then the interval
    assert [r.error_kind for r in results] == [None, "edgar", "edgar", None]
    assert consumer.accessions == NOV10_EARLY + NOV10_LATE
    assert await watcher.watch.lease() is None  # released on the way out
    assert "polling works again after 2 failed poll(s)" in caplog.text


async def test_a_new_filing_reaches_the_consumer_within_one_interval_plus_2s(
    edgar_fake: EdgarFake, store: Store, edgar_settings: Settings, tsla_feed: LiveFeed
) -> None:
    interval = 0.5
    consumer, stop = Consumer(), asyncio.Event()
    # Real time and a real 10/s limiter here: this measures the loop, not a simulation of it.
    async with EdgarClient(edgar_settings, limiter=RateLimiter(10.0)) as edgar:
        watcher = Watcher(store, edgar, interval=interval, owner_id="host-a:1:bot", on_filings=consumer)
        task = asyncio.create_task(watcher.run(stop))
        try:
            async with asyncio.timeout(5):
                while consumer.accessions != NOV10_EARLY:
                    consumer.changed.clear()
                    await consumer.changed.wait()
            tsla_feed.at = et(2021, 11, 10, 21, 34, 20)  # 044225 appears in the feed now
            appeared = time.monotonic()
            async with asyncio.timeout(interval + 2):
                while NOV10_LATE[0] not in consumer.accessions:
                    consumer.changed.clear()
                    await consumer.changed.wait()
            assert time.monotonic() - appeared <= interval + 2
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
    assert consumer.accessions == NOV10_EARLY + NOV10_LATE[:1]


async def test_watch_command_once(
    tmp_path: Path, edgar_fake: EdgarFake, tsla_feed: LiveFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"SEC_WWW_BASE={edgar_fake.url}\nSEC_DATA_BASE={edgar_fake.url}\n"
                   f"SEC_USER_AGENT={TEST_USER_AGENT}\nSEC_REQUESTS_PER_SECOND=10\n")
    for name in ("SEC_WWW_BASE", "SEC_DATA_BASE", "SEC_USER_AGENT", "SEC_REQUESTS_PER_SECOND"):
        monkeypatch.delenv(name, raising=False)
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--env-file")
    add_watch_command(parser.add_subparsers(dest="command"))
    db = tmp_path / "cli.db"
    args = parser.parse_args(["--db", str(db), "--env-file", str(env), "watch", "--once"])
    out = io.StringIO()
    assert await args.func(args, Console(file=out, width=200, color_system=None)) == 0
    line = out.getvalue()
    assert "2 new (TSLA 4, TSLA 4)" in line and "2 listed on 1 page(s)" in line and "lag" in line
    async with await Store.open(db) as store:
        assert all([await store.filings.has(a) for a in NOV10_EARLY])
        assert await Watch(store).lease() is None  # --once gives the lease back


def test_ownership_xml_name_picks_the_raw_document() -> None:
    def listing(*names: tuple[str, str]) -> dict[str, object]:
        return {"directory": {"item": [{"name": n, "type": t} for n, t in names]}}

    assert ownership_xml_name(listing(("0001-index.html", "text.gif"), ("xslF345X05", "folder.gif"),
                                      ("wk-form4_1741390132.xml", "text.gif"))) == "wk-form4_1741390132.xml"
    assert ownership_xml_name(listing(("FilingSummary.xml", "text.gif"), ("edgar.xml", "text.gif"))) == "edgar.xml"
    assert ownership_xml_name(listing(("0001.txt", "text.gif"))) is None
    assert ownership_xml_name({"unexpected": []}) is None

"""EdgarClient against the local fake EDGAR, serving recorded responses. No network."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime

import aiohttp
import pytest

from bot.sec.client import (
    EdgarBlockedError,
    EdgarClient,
    EdgarConfigError,
    EdgarError,
    EdgarNotFound,
    EdgarRateLimited,
    EdgarUnavailable,
    EdgarUnexpectedContent,
    FilingRef,
    RateLimiter,
    TickerInfo,
    normalize_accession,
    raw_document_name,
    shared_limiter,
    validate_user_agent,
)
from bot.sec.feeds import FeedEnded, parse_current_feed
from bot.settings import Settings
from tests.edgar_fake import (
    TEST_USER_AGENT,
    EdgarFake,
    FakeResponse,
    closed_port_url,
    fake_settings,
    fixture_bytes,
)


TSLA = 1318605
DKNG = 1883685
DKNG_ACCESSION = "0001104659-25-025206"
DKNG_DOC = "tm259698-1_4seq1.xml"
TICKERS = "/files/company_tickers.json"


class FakeTime:
    """Injected clock + sleep: sleeping is recorded, lets other tasks run, then advances the clock."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def client_for(fake: EdgarFake, fake_time: FakeTime, **kwargs: object) -> EdgarClient:
    return EdgarClient(fake.settings(), clock=fake_time.clock, sleep=fake_time.sleep, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ 200 JSON


async def test_company_tickers_parsed_and_cached(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.company_tickers()
    async with client_for(edgar_fake, fake_time) as client:
        tickers = await client.company_tickers()
        assert len(tickers) == 9610  # rows in the recorded file; no ticker repeats in it
        assert tickers["TSLA"] == TickerInfo("TSLA", 1318605, "Tesla, Inc.")
        assert tickers["GOOG"].cik == tickers["GOOGL"].cik == 1652044  # one CIK, two tickers
        assert "FB" not in tickers  # renamed to META: gone from the list
        assert (await client.ticker_info("brk.b")) == TickerInfo("BRK-B", 1067983, "BERKSHIRE HATHAWAY INC")
        assert (await client.ticker_info("$aapl")).cik == 320193  # type: ignore[union-attr]
        assert edgar_fake.count(TICKERS) == 1  # cached

        fake_time.now += 24 * 3600 + 1  # past the TTL
        await client.company_tickers()
        assert edgar_fake.count(TICKERS) == 2


async def test_concurrent_ticker_lookups_share_one_download(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.company_tickers()
    async with client_for(edgar_fake, fake_time) as client:
        results = await asyncio.gather(*(client.company_tickers() for _ in range(5)))
    assert all(r is results[0] for r in results)
    assert edgar_fake.count(TICKERS) == 1


async def test_submissions_json(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    path = edgar_fake.submissions(TSLA, "submissions/TSLA_CIK0001318605.json")
    assert path == "/submissions/CIK0001318605.json"  # 10 digits, zero-padded
    async with client_for(edgar_fake, fake_time) as client:
        data = await client.submissions(TSLA)
    assert data["name"] == "Tesla, Inc."
    assert data["filings"]["files"][0]["name"] == "CIK0001318605-submissions-001.json"


async def test_form4_refs_reads_recent_and_overflow_page(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.submissions(TSLA, "submissions/TSLA_CIK0001318605.json")
    page = edgar_fake.submissions_page("CIK0001318605-submissions-001.json",
                                       "submissions/TSLA_CIK0001318605-submissions-001.json")
    async with client_for(edgar_fake, fake_time) as client:
        refs = await client.form4_refs(TSLA)

    assert edgar_fake.count(page) == 1
    # 458 Forms 4 + 3 Forms 4/A in filings.recent, 326 + 7 on the overflow page (counted in the JSON).
    assert len(refs) == 794
    assert sum(r.form == "4/A" for r in refs) == 10
    assert len({r.accession for r in refs}) == 794
    assert refs[0] == FilingRef(
        accession="0001104659-26-021746",
        form="4",
        filing_date=date(2026, 2, 27),
        accepted_at=datetime(2026, 2, 27, 19, 0, 21, tzinfo=UTC),
        primary_document="tm267481-1_4seq1.xml",  # "xslF345X05/" dropped: the raw XML
        cik=TSLA,
        report_date=refs[0].report_date,
    )
    oldest = refs[-1]
    assert (oldest.accession, oldest.filing_date, oldest.primary_document) == (
        "0001181431-10-035859", date(2010, 7, 2), "rrd280658.xml")
    assert not any(r.primary_document.startswith("xsl") for r in refs)
    assert all(r.is_xml for r in refs)
    # newest first
    assert all(a.filing_date >= b.filing_date for a, b in itertools.pairwise(refs))


async def test_form4_refs_since_skips_old_pages(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.submissions(TSLA, "submissions/TSLA_CIK0001318605.json")
    page = edgar_fake.submissions_page("CIK0001318605-submissions-001.json",
                                       "submissions/TSLA_CIK0001318605-submissions-001.json")
    async with client_for(edgar_fake, fake_time) as client:
        refs = await client.form4_refs(TSLA, since=date(2021, 11, 1))
        assert edgar_fake.count(page) == 0  # the page ends in 2018
        assert len(refs) == 216
        assert min(r.filing_date for r in refs) >= date(2021, 11, 1)
        # The Nov-Dec 2021 sale wave: 41 filings between 2021-11-08 and 2021-12-31.
        assert sum(date(2021, 11, 8) <= r.filing_date <= date(2021, 12, 31) for r in refs) == 41

        recent_only = await client.form4_refs(TSLA, include_older_pages=False)
        assert len(recent_only) == 461
        assert edgar_fake.count(page) == 0


async def test_form4_refs_pre_xml_filing_keeps_its_html_document(
    edgar_fake: EdgarFake, fake_time: FakeTime
) -> None:
    edgar_fake.submissions(320193, "submissions/AAPL_CIK0000320193_2023-08.json")
    edgar_fake.submissions_page("CIK0000320193-submissions-001.json",
                                "submissions/AAPL_CIK0000320193-submissions-001_2023-08.json")
    async with client_for(edgar_fake, fake_time) as client:
        refs = await client.form4_refs(320193, since=date(2003, 1, 1))
    old = next(r for r in refs if r.accession == "0001104659-03-004723")
    assert old.primary_document == "j8739_4.htm"
    assert not old.is_xml
    assert old.filing_date == date(2003, 3, 21)


# --------------------------------------------------------------------------------- archive documents


async def test_fetch_filing_document_drops_xsl_prefix(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    path = edgar_fake.filing_document(DKNG, DKNG_ACCESSION, DKNG_DOC,
                                      "archives/DKNG_0001104659-25-025206_tm259698-1_4seq1.xml")
    async with client_for(edgar_fake, fake_time) as client:
        body = await client.fetch_filing_document(DKNG, DKNG_ACCESSION, f"xslF345X05/{DKNG_DOC}")
    assert path == "/Archives/edgar/data/1883685/000110465925025206/tm259698-1_4seq1.xml"
    assert edgar_fake.requests[0].path == path
    assert body == fixture_bytes("archives/DKNG_0001104659-25-025206_tm259698-1_4seq1.xml")
    assert body.startswith(b"<?xml")


async def test_fetch_complete_submission(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    path = edgar_fake.complete_submission(DKNG, DKNG_ACCESSION, "archives/DKNG_0001104659-25-025206.txt")
    async with client_for(edgar_fake, fake_time) as client:
        # an accession without dashes is accepted too
        body = await client.fetch_complete_submission(DKNG, "000110465925025206")
    assert edgar_fake.requests[0].path == path == (
        "/Archives/edgar/data/1883685/000110465925025206/0001104659-25-025206.txt")
    assert b"<ACCEPTANCE-DATETIME>20250318200108" in body


async def test_current_feed_query_and_past_end(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.current_feed("feeds/getcurrent_type4_2025-12-12_p02_start100.atom", start=100)
    edgar_fake.current_feed("feeds/getcurrent_type4_2025-12-12_past_end_start5100_FileUnavailable.html",
                            start=5100)
    async with client_for(edgar_fake, fake_time) as client:
        page = await client.current_feed(start=100)
        past_end = await client.current_feed(start=5100)  # returned as is: the parser says it ended

    request = edgar_fake.requests[0]
    assert request.path == "/cgi-bin/browse-edgar"
    assert {k: request.query[k] for k in ("action", "type", "owner", "start", "count", "output")} == {
        "action": "getcurrent", "type": "4", "owner": "include", "start": "100", "count": "100",
        "output": "atom",
    }
    assert len(parse_current_feed(page)) == 36
    with pytest.raises(FeedEnded):
        parse_current_feed(past_end)


async def test_daily_form_index_path(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    path = edgar_fake.daily_index(date(2020, 3, 18), "feeds/form.20200318.idx")
    assert path == "/Archives/edgar/daily-index/2020/QTR1/form.20200318.idx"
    async with client_for(edgar_fake, fake_time) as client:
        body = await client.daily_form_index(date(2020, 3, 18))
        assert body == fixture_bytes("feeds/form.20200318.idx")
        with pytest.raises(EdgarNotFound):  # no index on a Sunday
            await client.daily_form_index(date(2020, 3, 22))
    assert edgar_fake.requests[1].path == "/Archives/edgar/daily-index/2020/QTR1/form.20200322.idx"


# ------------------------------------------------------------------------------------ error handling


async def test_404_is_not_found_and_not_retried(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    async with client_for(edgar_fake, fake_time) as client:
        with pytest.raises(EdgarNotFound) as info:
            await client.submissions(999_999_999)
    assert info.value.status == 404
    assert "/submissions/CIK0999999999.json" in str(info.value)
    assert edgar_fake.count() == 1
    assert fake_time.sleeps == []


async def test_429_honours_retry_after(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.route(TICKERS, [
        FakeResponse(429, b"slow down", headers={"Retry-After": "1"}),
        FakeResponse.file("submissions/company_tickers.json"),
    ])
    async with client_for(edgar_fake, fake_time) as client:
        tickers = await client.company_tickers()
    assert tickers["AAPL"].cik == 320193
    assert edgar_fake.count(TICKERS) == 2
    assert fake_time.sleeps == [1.0]


async def test_429_with_a_long_retry_after_gives_up_at_once(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.route(TICKERS, FakeResponse(429, headers={"Retry-After": "600"}))
    async with client_for(edgar_fake, fake_time) as client:
        with pytest.raises(EdgarRateLimited, match="600 s"):
            await client.company_tickers()
    assert edgar_fake.count(TICKERS) == 1
    assert fake_time.sleeps == []


async def test_503_retried_with_backoff_then_success(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    path = edgar_fake.submissions(TSLA, "submissions/TSLA_CIK0001318605.json")
    edgar_fake.route(path, [FakeResponse(503), FakeResponse(503),
                            FakeResponse.file("submissions/TSLA_CIK0001318605.json")])
    async with client_for(edgar_fake, fake_time) as client:
        data = await client.submissions(TSLA)
    assert data["name"] == "Tesla, Inc."
    assert edgar_fake.count(path) == 3
    assert fake_time.sleeps == [1.0, 2.0]  # exponential backoff


async def test_503_forever_raises_after_max_attempts(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.route(TICKERS, FakeResponse(503, b"<html>Service Unavailable</html>"))
    async with client_for(edgar_fake, fake_time) as client:
        with pytest.raises(EdgarError) as info:
            await client.company_tickers()
    assert isinstance(info.value, EdgarUnavailable)
    assert "503" in str(info.value)
    assert edgar_fake.count(TICKERS) == 4
    assert fake_time.sleeps == [1.0, 2.0, 4.0]

    edgar_fake.clear_log()
    async with client_for(edgar_fake, fake_time, max_attempts=2) as client:
        with pytest.raises(EdgarUnavailable):
            await client.company_tickers()
    assert edgar_fake.count(TICKERS) == 2


async def test_connection_errors_are_retried_then_reported(fake_time: FakeTime) -> None:
    settings = fake_settings(closed_port_url())
    async with EdgarClient(settings, clock=fake_time.clock, sleep=fake_time.sleep, max_attempts=3) as client:
        with pytest.raises(EdgarUnavailable, match="could not be reached"):
            await client.company_tickers()
    assert fake_time.sleeps == [1.0, 2.0]


async def test_403_is_blocked_and_not_retried(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.route(TICKERS, FakeResponse.html("<html><body>Your Request Originates from an Undeclared "
                                                "Automated Tool</body></html>", status=403))
    async with client_for(edgar_fake, fake_time) as client:
        with pytest.raises(EdgarBlockedError) as info:
            await client.company_tickers()
    assert str(info.value).startswith("SEC refused the request (403): check SEC_USER_AGENT")
    assert edgar_fake.count(TICKERS) == 1
    assert fake_time.sleeps == []


async def test_html_instead_of_json_or_xml(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    html = "feeds/getcurrent_type4_2025-12-12_past_end_start5100_FileUnavailable.html"
    edgar_fake.route("/submissions/CIK0001318605.json", FakeResponse.file(html))
    edgar_fake.route(f"/Archives/edgar/data/{DKNG}/000110465925025206/{DKNG_DOC}", FakeResponse.file(html))
    async with client_for(edgar_fake, fake_time) as client:
        with pytest.raises(EdgarUnexpectedContent, match="HTML page instead of JSON"):
            await client.submissions(TSLA)
        with pytest.raises(EdgarUnexpectedContent, match="HTML page instead of XML"):
            await client.fetch_filing_document(DKNG, DKNG_ACCESSION, DKNG_DOC)


async def test_invalid_json_is_unexpected_content(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.route(TICKERS, FakeResponse.text('{"0": {"cik_str": 3'))  # cut short
    async with client_for(edgar_fake, fake_time) as client:
        with pytest.raises(EdgarUnexpectedContent, match="invalid JSON"):
            await client.company_tickers()


# --------------------------------------------------------------------------------- User-Agent, gzip


@pytest.mark.parametrize("user_agent", ["", "   ", "insiderflow", "admin@example.com", "Jane Doe jane@"])
async def test_missing_or_bad_user_agent_refuses_to_send(edgar_fake: EdgarFake, user_agent: str) -> None:
    settings = edgar_fake.settings(sec_user_agent=user_agent)
    async with EdgarClient(settings) as client:  # building the client is fine: offline tools do it
        with pytest.raises(EdgarConfigError) as info:
            await client.company_tickers()
    message = str(info.value)
    assert '"Name email@example.com"' in message
    assert "SEC_USER_AGENT" in message and ".env" in message
    assert edgar_fake.count() == 0


@pytest.mark.parametrize("user_agent", [
    "Sample Company Name admin@example.com",
    "insiderflow-bot ops@insiderflow.dev",
    "Jane Doe <jane.doe@mail.example.org>",
])
def test_valid_user_agents(user_agent: str) -> None:
    assert validate_user_agent(f"  {user_agent} ") == user_agent


async def test_user_agent_and_accept_encoding_are_sent(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.company_tickers(gzip=True)  # EDGAR compresses for clients that accept it
    async with client_for(edgar_fake, fake_time) as client:
        tickers = await client.company_tickers()
    assert tickers["NVDA"].cik == 1045810  # decompressed transparently
    headers = edgar_fake.requests[0].headers
    assert headers["User-Agent"] == TEST_USER_AGENT
    assert "gzip" in headers["Accept-Encoding"] and "deflate" in headers["Accept-Encoding"]


async def test_given_session_is_used_and_not_closed(edgar_fake: EdgarFake, fake_time: FakeTime) -> None:
    edgar_fake.company_tickers()
    async with aiohttp.ClientSession() as session:
        async with EdgarClient(edgar_fake.settings(), session, sleep=fake_time.sleep) as client:
            await client.company_tickers()
        assert not session.closed
    assert edgar_fake.requests[0].headers["User-Agent"] == TEST_USER_AGENT


def test_helpers() -> None:
    assert normalize_accession("000110465925025206") == "0001104659-25-025206"
    assert normalize_accession(" 0001104659-25-025206 ") == "0001104659-25-025206"
    with pytest.raises(ValueError):
        normalize_accession("0001104659-25")
    assert raw_document_name("xslF345X05/form4.xml") == "form4.xml"
    assert raw_document_name("xslF345X02/doc4.xml") == "doc4.xml"
    assert raw_document_name("j8739_4.htm") == "j8739_4.htm"


# ------------------------------------------------------------------------------------- rate limiting


def _max_in_any_window(times: list[float], window: float = 1.0) -> int:
    """Most arrivals inside any closed window [t, t + window] that starts at an arrival."""
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t <= start + window))
    return best


async def test_process_wide_limiter_keeps_under_10_per_second(edgar_fake: EdgarFake) -> None:
    """30 concurrent requests from two clients: the fake must never see more than 10 in a second."""
    for i in range(30):
        edgar_fake.route(f"/ping/{i}", FakeResponse.text("ok"))
    settings = edgar_fake.settings(sec_requests_per_second=10)
    async with EdgarClient(settings) as first, EdgarClient(settings) as second:
        assert first.limiter is second.limiter  # one limiter per process
        await asyncio.gather(*(
            (first if i % 2 else second).request(f"{edgar_fake.url}/ping/{i}", priority="background")
            for i in range(30)
        ))
    times = edgar_fake.arrival_times()
    assert len(times) == 30
    assert _max_in_any_window(times) <= 10
    assert max(times) - min(times) >= 2.9  # 30 requests at 10/s cannot take less than ~3 s


def test_rate_is_capped_at_sec_limit() -> None:
    settings = Settings(sec_user_agent=TEST_USER_AGENT, sec_requests_per_second=50)
    client = EdgarClient(settings)
    assert client.limiter is shared_limiter(10)
    assert client.limiter.rate == 10
    with pytest.raises(EdgarConfigError):
        RateLimiter(0)


async def test_watcher_overtakes_queued_background_requests(edgar_fake: EdgarFake) -> None:
    for name in [*(f"bg{i}" for i in range(8)), "watcher"]:
        edgar_fake.route(f"/{name}", FakeResponse.text(name))
    limiter = RateLimiter(10)  # private, so that other tests' traffic cannot interfere
    async with EdgarClient(edgar_fake.settings(), limiter=limiter) as client:
        background = [asyncio.create_task(client.request(f"{edgar_fake.url}/bg{i}", priority="background"))
                      for i in range(8)]
        while limiter.queued < 7:  # bg0 got the free slot, the rest wait
            await asyncio.sleep(0.005)
        watcher = asyncio.create_task(client.request(f"{edgar_fake.url}/watcher", priority="watcher"))
        await asyncio.gather(watcher, *background)
    order = [r.path for r in edgar_fake.requests]
    assert order[:3] == ["/bg0", "/watcher", "/bg1"]


async def test_limiter_priority_lanes_and_spacing_with_fake_time(fake_time: FakeTime) -> None:
    limiter = RateLimiter(5, clock=fake_time.clock, sleep=fake_time.sleep)
    granted: list[tuple[str, float]] = []

    async def take(name: str, priority: str) -> None:
        await limiter.acquire(priority)  # type: ignore[arg-type]
        granted.append((name, fake_time.now))

    tasks = [asyncio.create_task(take("b1", "background"))]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(take(n, "background")) for n in ("b2", "b3")]
    tasks.append(asyncio.create_task(take("u1", "user")))
    tasks.append(asyncio.create_task(take("w1", "watcher")))
    cancelled = asyncio.create_task(take("w-cancelled", "watcher"))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(*tasks)

    assert [name for name, _ in granted] == ["b1", "w1", "u1", "b2", "b3"]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(granted)]
    assert all(gap >= limiter.interval - 1e-9 for gap in gaps)
    assert limiter.interval == pytest.approx(1.05 / 5)  # 5 % headroom under the configured rate


async def test_unknown_priority_is_rejected(edgar_fake: EdgarFake) -> None:
    async with EdgarClient(edgar_fake.settings()) as client:
        with pytest.raises(ValueError, match="priority"):
            await client.request(f"{edgar_fake.url}/x", priority="urgent")  # type: ignore[arg-type]
    assert edgar_fake.count() == 0

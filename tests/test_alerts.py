"""Alert delivery that never loses or repeats an alert: real filings -> engine -> outbox -> the real discord.py
-> the fake Discord (which honours ``nonce``/``enforce_nonce``), and the bot's watcher over a fake EDGAR feed
that changes over time (``tests/fixtures/watcher/``).

The filings are Musk's November 2021 Tesla sales (tests/fixtures/alert_cases.csv): 11-08 tax sales under a new
10b5-1 plan (fire only on "everything"), 11-09 the trust's discretionary sales (fire even on "quiet"), then the
rest of the wave. The store holds Tesla's filings accepted before each test's news, as EDGAR's submissions JSON
dates them. Expected amounts come from reading the XML (``tests.conftest.read_rows``), not from the code.

"Kill the process" is a hook that raises a BaseException at the exact point (nothing after it runs), then the
store is closed and a fresh delivery starts on the same file. Clocks are injected; the two end-to-end tests run
in real time and await the fakes' logs and the watcher's polls, never a timer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.alerts.delivery import Delivery, DeliveryConfig, DiscordTransport, nonce_for
from bot.alerts.engine import AlertConfig, AlertEngine, AlertService, alert_status, start_alerts
from bot.alerts.render import ALERT_BUDGET, AlertView, alert_reply
from bot.alerts.watcher import Watcher
from bot.app import create_bot
from bot.ingest import ingest_paths
from bot.render.reply import money, shares_text
from bot.sec.client import EdgarClient, RateLimiter
from bot.sec.form4 import parse_document
from bot.store.db import Store
from tests.conftest import FIXTURES, FORM4, form4, read_rows
from tests.discord_fake import DEFAULT_CHANNEL_ID, DEFAULT_GUILD_ID, FakeDiscord, RecordedRequest
from tests.discord_harness import DiscordEnv, open_discord_env
from tests.edgar_fake import EdgarFake, closed_port_url, fake_settings
from tests.test_watcher import FEED_PATH, TSLA_FEED, LiveFeed, et, serve_xml

SUBMISSIONS = FIXTURES / "sec" / "submissions" / "TSLA_CIK0001318605.json"
AMENDMENT = FIXTURES / "amendments" / "TSLA_0000899243-21-999001_4A_test.xml"  # amends 044077 (README)
AMENDMENT_ACCESSION = "0000899243-21-999001"
TESLA = 1318605
NOV8 = ["0000899243-21-044060", "0000899243-21-044077"]
NOV9 = ["0000899243-21-044225", "0000899243-21-044229", "0000899243-21-044232", "0000899243-21-044235",
        "0000899243-21-044240"]
NOV10 = ["0000899243-21-044241", "0000899243-21-044242", "0000899243-21-044244"]
NOV11 = ["0000899243-21-044261", "0000899243-21-044262"]
MUSK_BUY_2018 = "0001494730-18-000002"  # 8 P rows on 2018-05-07 by his trust
GUILD, CHANNEL = DEFAULT_GUILD_ID, DEFAULT_CHANNEL_ID
OTHER_GUILD, OTHER_CHANNEL = 1_230_000_000_000_000_110, 1_230_000_000_000_000_210
ROLE = 1_230_000_000_000_000_400
NO_AGE_LIMIT = AlertConfig(max_age=None)  # 2021 filings; some tests run on the real clock
PLAIN = DeliveryConfig(charts=False)


def _edgar_times() -> dict[str, tuple[datetime, date]]:
    recent = json.loads(SUBMISSIONS.read_text())["filings"]["recent"]
    return {a: (datetime.fromisoformat(t).astimezone(UTC), date.fromisoformat(d))
            for a, t, d in zip(recent["accessionNumber"], recent["acceptanceDateTime"], recent["filingDate"])}


EDGAR_TIMES = _edgar_times()


def accepted(accession: str) -> datetime:
    return EDGAR_TIMES[accession][0]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Crash(BaseException):
    """The process dies here: nothing after this point runs (no except clause in the bot catches it)."""


def crash_at(stage: str) -> Callable[[str, int], Awaitable[None]]:
    async def hook(at: str, message_id: int) -> None:
        if at == stage:
            raise Crash(f"killed at {stage} of message #{message_id}")

    return hook


# ----------------------------------------------------------------------------------------------- helpers


async def history_store(path: Path, before: datetime | None = None) -> Store:
    """A store with Tesla's filings EDGAR accepted before ``before`` (default: the feed's first 11-08 filing)."""
    cutoff = before or accepted(NOV8[0])
    ancient = (datetime(2000, 1, 1, tzinfo=UTC), date(2000, 1, 1))  # older than the JSON's window
    files = [p for p in sorted(FORM4.glob("TSLA_*.xml")) if EDGAR_TIMES.get(p.name.split("_")[1], ancient)[0] < cutoff]
    store = await Store.open(path)
    report = await ingest_paths(store, [*files, SUBMISSIONS])
    assert report.added >= 5 and not report.quarantined
    return store


async def arrive(store: Store, accessions: list[str], *, document: Path | None = None,
                 at: datetime | None = None) -> None:
    """What the watcher does with filings it finds in the feed: parse and store them as 'watcher' filings."""
    filings = []
    for accession in accessions:
        path = document or form4(f"TSLA_{accession}")
        when, filed = EDGAR_TIMES.get(accession, (at, at.date() if at else None))
        filings.append(parse_document(path.read_bytes(), source=str(path), accession=accession,
                                      accepted_at=at or when, filed_date=filed))
    await store.filings.ingest_many(filings, source="watcher")


async def turn_on(store: Store, guild: int, channel: int, *, watch: bool = True, **settings: Any) -> None:
    """What /alerts channel and /watchlist add do."""
    await store.guilds.update_settings(guild, alert_channel_id=channel, alerts_enabled=True, **settings)
    if watch:
        await store.guilds.add(guild, "TSLA", TESLA, 7)


async def login(env: DiscordEnv) -> discord.Client:
    return await env.login(discord.Client(intents=discord.Intents.none()))


def posts(fake: FakeDiscord, channel: int) -> list[RecordedRequest]:
    return fake.find("POST", rf"/channels/{channel}/messages")


async def drain(delivery: Delivery, clock: Clock) -> None:
    """Deliver until nothing waits, moving the clock over the retry delays instead of waiting them out."""
    for _ in range(60):
        delay = await delivery.run_once()
        if delay is None:
            return
        clock.advance(seconds=delay)
    raise AssertionError("the delivery never settled")


async def messages(store: Store) -> list[tuple[Any, ...]]:
    rows = await store.fetchall(
        "SELECT id, guild_id, kind, state, discord_message_id, attempts, parent_id FROM alert_messages ORDER BY id")
    return [tuple(r) for r in rows]


async def items(store: Store, guild: int) -> list[tuple[str, str, int | None]]:
    rows = await store.fetchall(
        "SELECT day, state, message_id FROM alert_items WHERE guild_id=? ORDER BY day", (guild,))
    return [tuple(r) for r in rows]  # type: ignore[misc]


def sold(accessions: list[str]) -> tuple[float, int]:
    """Shares and cents of the S rows, read naively from the XML (the oracle)."""
    shares = cents = 0.0
    for accession in accessions:
        for row in read_rows(form4(f"TSLA_{accession}")):
            if row["code"] == "S":
                shares += float(row["shares"])
                cents += round(float(row["shares"]) * float(row["price"]) * 100)
    return shares, int(cents)


def serve_threads(fake: FakeDiscord) -> None:
    """POST /channels/{id}/messages/{id}/threads, which tests/discord_fake.py does not serve yet (it belongs
    there): a public thread whose id is the message's, and 160004 when the message has one already."""

    def start_thread(call: Any) -> tuple[int, dict[str, Any]]:
        parent, message_id = int(call.params["channel_id"]), int(call.params["message_id"])
        if message_id in fake.channels:
            return 400, {"message": "A thread has already been created for this message", "code": 160004}
        if message_id not in fake.channel_messages.get(parent, []):
            return 404, {"message": "Unknown Message", "code": 10008}
        body = call.record.json or {}
        guild = fake.channels[parent].get("guild_id")
        thread = fake.add_channel(message_id, guild_id=int(guild) if guild else None, name=body.get("name", ""),
                                  type=11)
        thread.update(parent_id=str(parent), owner_id=fake.bot_user["id"], message_count=0, member_count=1,
                      thread_metadata={"archived": False, "auto_archive_duration": body.get("auto_archive_duration",
                                                                                            1440),
                                       "archive_timestamp": "2021-11-11T00:00:00+00:00", "locked": False})
        return 201, thread

    fake._route("POST", "/channels/{channel_id}/messages/{message_id}/threads", start_thread)


# ------------------------------------------------------------------------------------------ the bot, live


async def test_the_bot_alerts_musks_trust_sale_from_the_live_feed_and_follows_the_wave(
    tmp_path: Path, edgar_fake: EdgarFake
) -> None:
    path = tmp_path / "bot.db"
    store = await history_store(path)
    await turn_on(store, GUILD, CHANNEL)  # normal sensitivity, $1M minimum, watchlist TSLA
    feed = LiveFeed(TSLA_FEED, at=et(2021, 11, 10, 18, 30))  # the two 11-08 filings are listed
    edgar_fake.route(FEED_PATH, feed)
    for accession in NOV8 + NOV9 + NOV10:
        serve_xml(edgar_fake, accession)
    interval = 0.3
    settings = fake_settings(edgar_fake.url, db_path=str(path), chart_workers=0)
    # One attempt per request (the bot's client retries a 503 for seconds before a poll gives up).
    async with open_discord_env() as env, EdgarClient(settings, max_attempts=1) as edgar:
        serve_threads(env.fake)
        bot = create_bot(settings, store=store)
        await env.login(bot)
        service = await start_alerts(bot, config=NO_AGE_LIMIT, interval=interval, edgar=edgar)
        try:
            async with asyncio.timeout(10):
                while not await store.filings.has(NOV8[1]):
                    await service.next_poll()
            # 044225 (11-09, the trust, no plan, no tax) appears in the feed: one poll interval + 2 s at most.
            feed.at = et(2021, 11, 10, 21, 34, 20)
            appeared = time.monotonic()
            first = await env.fake.wait_for("POST", rf"/channels/{CHANNEL}/messages", timeout=interval + 2)
            assert first.timestamp - appeared <= interval + 2
            [embed] = first.embeds
            shares, cents = sold(NOV9[:1])
            assert embed["title"] == f"TSLA · Musk Elon sold {money(cents)}"
            assert "CEO" in embed["description"] and "opportunistic" in embed["description"]
            assert "History used" in embed["description"]
            fields = {f["name"]: f["value"] for f in embed["fields"]}
            assert fields["Shares"] == shares_text(shares) and fields["10b5-1 plan"] == "not stated"
            assert fields["ΔOwn"].endswith("%") and fields["Price"].endswith("avg")
            assert "000089924321044225" in fields["SEC filings"]
            assert first.json["nonce"].startswith("if") and first.json["enforce_nonce"] is True
            assert first.json["allowed_mentions"]["parse"] == []  # no ping role set: nobody is mentioned
            assert first.file("alert_tsla.png").data.startswith(b"\x89PNG")
            # Nothing for 11-08 (tax sales under a new plan): they fire on "everything" only.
            assert len(posts(env.fake, CHANNEL)) == 1
            message_id = int(first.response["id"])

            # 044229, the second filing of 11-09: the same trade day, so the alert is edited, not repeated.
            feed.at = et(2021, 11, 10, 21, 38)
            edit = await env.fake.wait_for("PATCH", rf"/channels/{CHANNEL}/messages/{message_id}", timeout=5)
            assert edit.embeds[0]["title"] == f"TSLA · Musk Elon sold {money(sold(NOV9[:2])[1])}"

            # SEC goes down while the rest of the wave is filed; the watcher backs off, resumes, catches up.
            feed.status = 503
            feed.at = et(2021, 11, 10, 21, 50)
            async with asyncio.timeout(10):
                while (await service.next_poll()).error_kind != "edgar":
                    pass
            feed.status = 200
            in_thread = await env.fake.wait_for("POST", rf"/channels/{message_id}/messages", timeout=10)
            assert env.fake.find("POST", rf"/channels/{CHANNEL}/messages/{message_id}/threads")
            assert in_thread.embeds[0]["title"] == f"TSLA · Musk Elon sold {money(sold(NOV10)[1])}"
            final = f"TSLA · Musk Elon sold {money(sold(NOV9)[1])}"
            await env.fake.wait_for("PATCH", rf"/channels/{CHANNEL}/messages/{message_id}",
                                    predicate=lambda r: r.embeds[0]["title"] == final, timeout=10)
            assert [m["id"] for m in env.fake.messages_in(CHANNEL)] == [str(message_id)]
            lines = await alert_status(store, GUILD)
            assert lines[0] == f"Alerts go to <#{CHANNEL}>."
            assert any(line.startswith("Watcher lag:") and "2021-11-11 02:49:31 UTC" in line for line in lines)
            assert any(line.startswith("Last poll:") for line in lines)
            assert any(line.startswith("Outbox: 0 pending, 2 sent") for line in lines)
        finally:
            await service.stop()
            await bot.close()
    await store.close()


async def test_two_bots_on_one_store_one_polls_and_one_message_is_posted(
    tmp_path: Path, edgar_fake: EdgarFake
) -> None:
    path = tmp_path / "shared.db"
    await (await history_store(path)).close()
    feed = LiveFeed(TSLA_FEED, at=et(2021, 11, 10, 21, 34, 20))
    edgar_fake.route(FEED_PATH, feed)
    for accession in NOV8 + NOV9[:1]:
        serve_xml(edgar_fake, accession)
    settings = edgar_fake.settings()
    services: list[AlertService] = []
    async with open_discord_env() as env, EdgarClient(settings, limiter=RateLimiter(10.0)) as edgar:
        client = await login(env)
        first_store = await Store.open(path)
        await turn_on(first_store, GUILD, CHANNEL)
        try:
            for owner in ("host-a:1:bot", "host-b:2:bot"):
                watcher_store, alerts_store = (first_store if owner.startswith("host-a") else await Store.open(path),
                                               await Store.open(path))
                service = AlertService(engine=AlertEngine(alerts_store, config=NO_AGE_LIMIT),
                                       delivery=Delivery(alerts_store, DiscordTransport(client), config=PLAIN),
                                       watcher=None, owner_id=owner, config=NO_AGE_LIMIT,
                                       own_stores=[watcher_store, alerts_store])
                service.watcher = Watcher(watcher_store, edgar, interval=0.2, owner_id=owner,
                                          on_filings=service.on_filings)
                services.append(service)
                service.start()
            await env.fake.wait_for("POST", rf"/channels/{CHANNEL}/messages", timeout=10)
            for _ in range(3):  # a few more rounds of both: still one message
                results = await asyncio.gather(*(s.next_poll() for s in services))
                assert sorted(r.leader for r in results) == [False, True]
            assert sum(s.leader for s in services) == 1
            assert len(posts(env.fake, CHANNEL)) == 1 and len(env.fake.messages_in(CHANNEL)) == 1
        finally:
            for service in services:
                await service.stop()


# ------------------------------------------------------------------------------------------ never twice


async def test_killed_after_discord_answered_200_then_restarted_posts_exactly_one_message(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    store = await history_store(path)
    await turn_on(store, GUILD, CHANNEL)
    await arrive(store, NOV9[:1])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    assert (await AlertEngine(store, clock=clock).step()).messages == (1,)
    async with open_discord_env() as env:
        client = await login(env)
        dying = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock, hook=crash_at("posted"))
        with pytest.raises(Crash):
            await dying.run_once()
        await store.close()  # the process is gone: Discord has the message, the outbox says pending
        assert len(env.fake.messages_in(CHANNEL)) == 1

        store = await Store.open(path)
        assert [(m[3], m[5]) for m in await messages(store)] == [("pending", 1)]
        await drain(Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock), clock)
        first, retry = posts(env.fake, CHANNEL)
        assert first.json["nonce"] == retry.json["nonce"] == nonce_for((await store.fetchone(
            "SELECT nonce_salt FROM alert_state"))[0], 1)  # type: ignore[index]
        assert retry.json["enforce_nonce"] is True
        [posted] = env.fake.messages_in(CHANNEL)
        assert retry.response["id"] == posted["id"]  # Discord answered with the message it already had
        assert [(m[3], m[4]) for m in await messages(store)] == [("sent", int(posted["id"]))]
        # Sent is final: another start sends nothing.
        await store.close()
        store = await Store.open(path)
        assert await Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock).run_once() is None
        assert len(posts(env.fake, CHANNEL)) == 2
    await store.close()


@pytest.mark.parametrize("killed", ["recorded", "attempt"])
async def test_killed_between_recorded_and_posted_then_restarted_posts_exactly_one_message(
    tmp_path: Path, killed: str
) -> None:
    path = tmp_path / "alerts.db"
    store = await history_store(path)
    await turn_on(store, GUILD, CHANNEL)
    await arrive(store, NOV9[:1])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    await AlertEngine(store, clock=clock).step()
    async with open_discord_env() as env:
        client = await login(env)
        if killed == "attempt":  # the attempt is noted, the POST never leaves
            with pytest.raises(Crash):
                await Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock,
                               hook=crash_at("attempt")).run_once()
        await store.close()
        assert env.fake.messages_in(CHANNEL) == []
        store = await Store.open(path)
        await drain(Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock), clock)
        assert len(posts(env.fake, CHANNEL)) == 1 and len(env.fake.messages_in(CHANNEL)) == 1
        assert [m[3] for m in await messages(store)] == ["sent"]
    await store.close()


async def test_after_discords_nonce_window_the_channel_history_is_searched_before_posting_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.db"
    store = await history_store(path)
    await turn_on(store, GUILD, CHANNEL)
    await arrive(store, NOV9[:1])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    await AlertEngine(store, clock=clock).step()
    async with open_discord_env(nonce_window=0.0) as env:  # this Discord forgets nonces at once
        client = await login(env)
        with pytest.raises(Crash):
            await Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock,
                           hook=crash_at("posted")).run_once()
        await store.close()
        clock.advance(minutes=30)  # down for half an hour
        store = await Store.open(path)
        await drain(Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock), clock)
        assert len(posts(env.fake, CHANNEL)) == 1  # found by its ref in the footer: not posted again
        assert env.fake.find("GET", rf"/channels/{CHANNEL}/messages")
        [posted] = env.fake.messages_in(CHANNEL)
        assert [(m[3], m[4]) for m in await messages(store)] == [("sent", int(posted["id"]))]
    await store.close()


# ------------------------------------------------------------------------------------------ never lost


async def test_discord_500_429_and_503_are_retried_and_post_once(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL)
    await arrive(store, NOV9[:1])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    await AlertEngine(store, clock=clock).step()
    async with open_discord_env() as env:
        serve_threads(env.fake)
        client = await login(env)
        route = rf"/channels/{CHANNEL}/messages"
        # discord.py retries a 500 (after 1 s) and a 429 (after retry_after) itself, with the same payload.
        env.fake.fail("POST", route, status=500, times=1)
        env.fake.rate_limit("POST", route, retry_after=0.05, times=1)
        delivery = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock)
        assert await delivery.run_once() is None
        assert [r.status for r in posts(env.fake, CHANNEL)] == [500, 429, 200]
        assert len({r.json["nonce"] for r in posts(env.fake, CHANNEL)}) == 1

        # A 503 it does not retry: ours does, after the backoff.
        await arrive(store, NOV10)
        await AlertEngine(store, clock=clock).step()
        env.fake.fail("POST", r"/channels/\d+/messages", status=503, times=1)
        with caplog.at_level(logging.WARNING, logger="bot.alerts.delivery"):
            assert await delivery.run_once() == 2.0
        assert "next try in 2 s, nothing is lost" in caplog.text
        assert await delivery.run_once() == 2.0  # not due yet: nothing sent meanwhile
        clock.advance(seconds=2)
        await drain(delivery, clock)
        [alert] = env.fake.messages_in(CHANNEL)
        assert len(env.fake.messages_in(int(alert["id"]))) == 1  # the wave's next day, in the alert's thread
        assert all(m[3] == "sent" for m in await messages(store))
    await store.close()


async def test_discord_down_for_ten_minutes_loses_nothing_and_repeats_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.alerts")
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL, alert_sensitivity="everything")
    await turn_on(store, OTHER_GUILD, OTHER_CHANNEL)
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    async with open_discord_env() as env:
        env.add_guild(OTHER_GUILD, channels=[(OTHER_CHANNEL, "alerts")])
        serve_threads(env.fake)
        client = await login(env)
        delivery = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock)
        engine = AlertEngine(store, clock=clock)
        start = clock()
        env.fake.fail(None, r"/channels/\d+/messages.*", status=503, times=None)
        fed = [NOV8, NOV9[:2], NOV9[2:], NOV10]
        tries = 0
        try:
            while clock() < start + timedelta(minutes=10):
                if fed and clock() >= start + timedelta(minutes=2 * (4 - len(fed))):
                    await arrive(store, fed.pop(0))  # filings keep coming during the outage
                    await engine.step()
                if clock() >= start + timedelta(minutes=5) and discord.http.Route.BASE == env.fake.api_base:
                    discord.http.Route.BASE = closed_port_url() + "/api/v10"  # then nothing answers at all
                delay = await delivery.run_once()
                tries += 1
                clock.advance(seconds=delay if delay else 1)
        finally:
            discord.http.Route.BASE = env.fake.api_base
        env.fake.clear_failures()
        assert env.fake.messages_in(CHANNEL) == [] and not fed
        assert tries < 40  # backoff: not a request storm
        await drain(delivery, clock)
        rows = await messages(store)
        assert rows and all(m[3] == "sent" for m in rows)
        for guild, channel in ((GUILD, CHANNEL), (OTHER_GUILD, OTHER_CHANNEL)):
            [top] = [m for m in rows if m[1] == guild and m[2] == "alert"]
            [in_channel] = env.fake.messages_in(channel)
            waves = [m for m in rows if m[1] == guild and m[2] == "wave"]
            in_thread = env.fake.messages_in(top[4])
            assert int(in_channel["id"]) == top[4]
            assert sorted(int(m["id"]) for m in in_thread) == sorted(m[4] for m in waves)  # one each, no repeat
        assert "Discord did not take" in caplog.text and "network" in caplog.text
        assert "Discord takes alerts again" in caplog.text and "nothing was lost" in caplog.text
    await store.close()


# ------------------------------------------------------------------------------------ pausing a server


async def test_a_forbidden_or_deleted_channel_pauses_that_server_and_the_status_says_why(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL)
    await turn_on(store, OTHER_GUILD, OTHER_CHANNEL)
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    engine = AlertEngine(store, clock=clock)
    await arrive(store, NOV9[:1])
    await engine.step()
    async with open_discord_env() as env:
        env.add_guild(OTHER_GUILD, channels=[(OTHER_CHANNEL, "alerts")])
        serve_threads(env.fake)
        client = await login(env)
        delivery = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock)
        env.fake.forbid_channel(CHANNEL)
        await drain(delivery, clock)
        paused = (await store.guilds.settings(GUILD)).alerts_paused_reason
        assert paused is not None and "can't post" in paused and "50013" in paused
        assert len(env.fake.messages_in(OTHER_CHANNEL)) == 1  # the other server goes on
        lines = await alert_status(store, GUILD, now=clock())
        assert lines[0] == f"⚠️ Alerts are paused: {paused}"
        assert any(line.startswith("Outbox: 1 pending, 0 sent") for line in lines)
        assert any("Forbidden" in line or "Missing Permissions" in line for line in lines)
        before = len(env.fake.requests)
        await drain(delivery, clock)
        assert len(env.fake.requests) == before  # paused: not even tried

        # The other channel is deleted; the alert's update (a second filing of the day) finds out.
        env.fake.delete_channel(OTHER_CHANNEL)
        await arrive(store, NOV9[1:2])
        assert (await engine.step()).revisions == 2
        await drain(delivery, clock)
        gone = (await store.guilds.settings(OTHER_GUILD)).alerts_paused_reason
        assert gone is not None and "was deleted" in gone and "10003" in gone

        # Fixed and re-enabled (/alerts channel clears the reason): the waiting alert goes out, once.
        env.fake.restore_channel(CHANNEL)
        await store.guilds.update_settings(GUILD, alerts_paused_reason=None)
        await drain(delivery, clock)
        [posted] = env.fake.messages_in(CHANNEL)
        assert posted["embeds"][0]["title"] == f"TSLA · Musk Elon sold {money(sold(NOV9[:2])[1])}"

        # Paused for days: the waiting wave alert is no longer news and expires.
        await arrive(store, NOV10)
        await engine.step()
        await drain(delivery, clock)  # GUILD's goes out; OTHER_GUILD's waits
        clock.advance(days=3)
        await delivery.run_once()
        states = {(m[1], m[2]): m[3] for m in await messages(store)}
        assert states[(GUILD, "wave")] == "sent" and states[(OTHER_GUILD, "wave")] == "expired"
    await store.close()


# ------------------------------------------------------------------------------------------ the policy


async def test_server_policies_choose_what_is_recorded(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    policies: dict[int, dict[str, Any]] = {
        1: {"watch": False},  # watchlist only (the default), TSLA not on it
        2: {"watch": False, "alert_scope": "all"},  # every stored issuer
        3: {"muted_tickers": "AAPL,TSLA"},
        4: {"alert_sensitivity": "everything"},
        5: {"alert_sensitivity": "everything", "alert_min_value_cents": 500_000_000_000},  # $5B
        6: {"alert_sensitivity": "quiet"},
        7: {},
    }
    for guild, options in policies.items():
        await turn_on(store, guild, 100 + guild, **options)
    await store.guilds.update_settings(7, alerts_enabled=False)
    await arrive(store, NOV8 + NOV9[:1])
    result = await AlertEngine(store, clock=Clock(accepted(NOV9[0]))).step()
    assert result.live == 3 and result.trade_days == 2
    got = {g: [(day, state) for day, state, _ in await items(store, g)] for g in policies}
    assert got == {
        1: [],
        2: [("2021-11-09", "alert")],
        3: [],
        4: [("2021-11-08", "alert"), ("2021-11-09", "alert")],  # tax sales too, on "everything"
        5: [],
        6: [("2021-11-09", "alert")],  # senior and opportunistic: even on "quiet"
        7: [],
    }
    # Same issuer, same batch: one message.
    assert len({message for _, _, message in await items(store, 4)}) == 1
    await store.close()


@pytest.mark.parametrize("purchases", [True, False])
async def test_purchases_on_or_off(tmp_path: Path, purchases: bool) -> None:
    store = await history_store(tmp_path / "alerts.db", before=accepted(MUSK_BUY_2018))
    await turn_on(store, GUILD, CHANNEL, alert_purchases=purchases)
    await arrive(store, [MUSK_BUY_2018])
    await AlertEngine(store, clock=Clock(accepted(MUSK_BUY_2018))).step()
    found = await items(store, GUILD)
    assert found == ([("2018-05-07", "alert", 1)] if purchases else [])
    if purchases:
        view = AlertView.from_json((await store.fetchone("SELECT snapshot FROM alert_items"))[0])  # type: ignore[index]
        cents = sum(round(float(r["shares"]) * float(r["price"]) * 100)
                    for r in read_rows(form4(f"TSLA_{MUSK_BUY_2018}")) if r["code"] == "P")
        assert view.headline == f"TSLA · Musk Elon bought {money(cents)}"
        assert view.reasons[0].key == "purchase" or any(r.key == "purchase" for r in view.reasons)
    await store.close()


async def test_the_max_age_keeps_old_filings_out_of_alerts(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL)
    await arrive(store, NOV9[:1])
    result = await AlertEngine(store, clock=Clock(accepted(NOV9[0]) + timedelta(days=3))).step()
    assert result.live == 1 and result.messages == () and await items(store, GUILD) == []
    await store.close()


# ------------------------------------------------------------------------------ one message, waves, 4/A


async def test_one_issuer_in_one_poll_is_one_message_within_discords_limits(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL, alert_sensitivity="everything")
    await arrive(store, NOV8 + NOV9 + NOV10 + NOV11)  # a catch-up: four trade days at once
    clock = Clock(accepted(NOV11[-1]) + timedelta(seconds=30))
    result = await AlertEngine(store, clock=clock).step()
    assert len(result.messages) == 1 and result.alerts == 4
    async with open_discord_env() as env:
        client = await login(env)
        await drain(Delivery(store, DiscordTransport(client), clock=clock), clock)  # with the chart
        [post] = posts(env.fake, CHANNEL)
        titles = [e["title"] for e in post.embeds]
        assert titles == [f"TSLA · Musk Elon sold {money(sold(day)[1])}" for day in (NOV8, NOV9, NOV10, NOV11)]
        assert sum(len(e["title"]) + len(e["description"]) + len(e["footer"]["text"])
                   + sum(len(f["name"]) + len(f["value"]) for f in e["fields"]) for e in post.embeds) <= 6000
        assert post.embeds[0]["image"]["url"] == "attachment://alert_tsla.png"
        assert len(post.files) == 1 and not env.fake.violations
    await store.close()


async def test_later_days_of_a_wave_go_into_a_thread_and_only_the_first_alert_pings(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL, alert_ping_role_id=ROLE)
    clock = Clock(accepted(NOV9[-1]) + timedelta(seconds=30))
    engine = AlertEngine(store, clock=clock)
    async with open_discord_env() as env:
        serve_threads(env.fake)
        client = await login(env)
        delivery = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock)
        await arrive(store, NOV9)
        await engine.step()
        await drain(delivery, clock)
        [first] = posts(env.fake, CHANNEL)
        assert first.content == f"<@&{ROLE}>"
        mentions = first.json["allowed_mentions"]
        assert mentions["parse"] == [] and [int(r) for r in mentions["roles"]] == [ROLE]
        thread = int(first.response["id"])

        for day in (NOV10, NOV11):
            clock.now = accepted(day[-1]) + timedelta(seconds=30)
            await arrive(store, day)
            assert len((await engine.step()).messages) == 1
            await drain(delivery, clock)
        assert len(env.fake.find("POST", rf"/channels/{CHANNEL}/messages/{thread}/threads")) == 1
        in_thread = env.fake.messages_in(thread)
        assert [m["embeds"][0]["title"] for m in in_thread] == [
            f"TSLA · Musk Elon sold {money(sold(day)[1])}" for day in (NOV10, NOV11)]
        assert all(not r.content for r in posts(env.fake, thread))  # follow-ups do not ping
        assert len(env.fake.messages_in(CHANNEL)) == 1
        assert [(m[2], m[6]) for m in await messages(store)] == [("alert", None), ("wave", 1), ("wave", 1)]
    await store.close()


async def test_a_form_4a_correcting_an_alerted_filing_edits_that_alert(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL, alert_sensitivity="everything")
    clock = Clock(accepted(NOV8[-1]) + timedelta(seconds=30))
    engine = AlertEngine(store, clock=clock)
    await arrive(store, NOV8)
    await engine.step()
    async with open_discord_env() as env:
        client = await login(env)
        delivery = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock)
        await drain(delivery, clock)
        [post] = posts(env.fake, CHANNEL)
        shares, _ = sold(NOV8)
        assert {f["name"]: f["value"] for f in post.embeds[0]["fields"]}["Shares"] == shares_text(shares)

        # The 4/A restates 044077 with 100 shares fewer in its first sale (tests/fixtures/amendments/README.md),
        # twelve days later. A server that started alerts meanwhile gets no alert: an old trade is not news.
        await turn_on(store, OTHER_GUILD, OTHER_CHANNEL, alert_sensitivity="everything")
        clock.now = datetime(2021, 11, 22, 15, 0, tzinfo=UTC)
        await arrive(store, [AMENDMENT_ACCESSION], document=AMENDMENT, at=clock.now)
        result = await engine.step()
        assert result.revisions == 1 and result.messages == ()
        assert await items(store, OTHER_GUILD) == []
        await drain(delivery, clock)
        edit = await env.fake.wait_for("PATCH", rf"/channels/{CHANNEL}/messages/{post.response['id']}")
        [embed] = edit.embeds
        assert f"Corrected by Form 4/A {AMENDMENT_ACCESSION}" in embed["description"]
        assert {f["name"]: f["value"] for f in embed["fields"]}["Shares"] == shares_text(shares - 100)
        assert len(env.fake.messages_in(CHANNEL)) == 1 and len(posts(env.fake, CHANNEL)) == 1
    await store.close()


# ------------------------------------------------------------------------------------ cap and digest


async def test_the_daily_cap_holds_the_rest_for_the_digest_at_the_chosen_hour(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL, alert_sensitivity="everything", alert_daily_cap=1, alert_digest_hour=14)
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=30))  # 2021-11-11 02:34 UTC
    engine = AlertEngine(store, clock=clock)
    await arrive(store, NOV8 + NOV9[:1])
    result = await engine.step()
    assert result.alerts == 1 and result.held == 1
    assert [(day, state) for day, state, _ in await items(store, GUILD)] == [("2021-11-08", "digest"),
                                                                            ("2021-11-09", "alert")]
    async with open_discord_env() as env:
        client = await login(env)
        delivery = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock)
        await drain(delivery, clock)
        clock.now = datetime(2021, 11, 11, 13, 59, tzinfo=UTC)
        assert await engine.make_digests() == []
        clock.now = datetime(2021, 11, 11, 14, 0, 5, tzinfo=UTC)
        assert len(await engine.make_digests()) == 1
        await drain(delivery, clock)
        clock.now = datetime(2021, 11, 11, 15, 0, tzinfo=UTC)
        assert await engine.make_digests() == []  # one a day
        _alert, digest = posts(env.fake, CHANNEL)
        [embed] = digest.embeds
        assert embed["title"] == "Insider digest · 2021-11-11"
        assert "2021-11-10 14:00 to 2021-11-11 14:00 UTC" in embed["description"]
        # The window's flow on the watchlist: 11-08's two filings and 11-09's first, all accepted in it.
        assert "TSLA" in embed["description"] and money(sold(NOV8)[1] + sold(NOV9[:1])[1]) in embed["description"]
        assert f"TSLA Musk Elon sold {money(sold(NOV8)[1])} on 2021-11-08" in embed["description"]
        assert "1 alert(s) over the daily cap (1 posted)" in embed["description"]
        assert not digest.content  # digests never ping
    await store.close()


# ------------------------------------------------------------------------------------------ small parts


def test_nonces_are_stable_short_and_distinct() -> None:
    assert nonce_for("a1b2c3", 1) == "ifa1b2c31"
    assert nonce_for("a1b2c3", 36) == "ifa1b2c310"
    assert len(nonce_for("ffffff", 2**63 - 1)) <= 25
    assert len({nonce_for("a1b2c3", n) for n in range(5000)}) == 5000


async def test_an_alert_stays_within_its_share_of_a_message(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await turn_on(store, GUILD, CHANNEL, alert_sensitivity="everything")
    await arrive(store, NOV8)
    await AlertEngine(store, clock=Clock(accepted(NOV8[-1]))).step()
    view = AlertView.from_json((await store.fetchone("SELECT snapshot FROM alert_items"))[0])  # type: ignore[index]
    assert AlertView.from_json(view.to_json()) == view
    reply = alert_reply(view, ref="ifabcdef1")
    size = (len(reply.title) + len(reply.description) + len(reply.footer)
            + sum(len(f.name) + len(f.value) for f in reply.fields)
            + sum(len(f"[{link.label}]({link.url})") + 1 for link in reply.links) + len("SEC filings"))
    assert size <= ALERT_BUDGET
    # 11-08: sell-to-cover and a new plan, with the numbers and the history the reasons rest on.
    assert "Sell-to-cover" in reply.description and "2021-09-14" in reply.description
    assert "History used" in reply.description and reply.footer.startswith("Accepted 2021-11-10 23:28 UTC")
    await store.close()

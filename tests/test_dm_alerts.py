"""DM alerts (/mywatch): the same scoring and outbox as the server alerts, with the user's own sensitivity and
daily cap, and the same once-only delivery through the real discord.py against the fake Discord.

Users exist in the fake only once an interaction names them; these tests put them in ``fake.users`` directly
(POST /users/@me/channels answers 404 Unknown User otherwise). The fake's DM channel of a user is ``user + 7``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.delivery import DMS_CLOSED, Delivery, DiscordTransport, nonce_for
from bot.alerts.engine import AlertEngine
from bot.render.reply import money
from bot.store.db import Store
from bot.store.outbox import dm_target
from tests.discord_fake import FakeDiscord, user_payload
from tests.discord_harness import DiscordEnv, open_discord_env
from tests.test_alerts import (
    CHANNEL,
    GUILD,
    NO_AGE_LIMIT,
    NOV8,
    NOV9,
    PLAIN,
    TESLA,
    Clock,
    Crash,
    accepted,
    arrive,
    crash_at,
    drain,
    history_store,
    login,
    messages,
    posts,
    sold,
    turn_on,
)

ALICE = 1_230_000_000_000_000_501
BOB = 1_230_000_000_000_000_502
CAROL = 1_230_000_000_000_000_503


def dm_channel(user_id: int) -> int:
    return user_id + 7  # what tests/discord_fake.py answers to POST /users/@me/channels


async def watch(store: Store, user_id: int, *, dm_alerts: bool = True, **settings: object) -> None:
    """What /mywatch add TSLA and the DM-alert switch do."""
    await store.users.add(user_id, "TSLA", TESLA)
    await store.users.update_settings(user_id, dm_alerts=dm_alerts, **settings)


def meet(env: DiscordEnv, *user_ids: int) -> None:
    for user_id in user_ids:
        env.fake.users[user_id] = user_payload(user_id, f"user{user_id % 1000}")


def dms(fake: FakeDiscord, user_id: int) -> list[dict[str, Any]]:
    return fake.messages_in(dm_channel(user_id))


async def test_a_watcher_with_dm_alerts_on_gets_exactly_one_dm_for_the_trust_sale(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await watch(store, ALICE)
    await watch(store, BOB, dm_alerts=False)  # alerts off: nothing
    await store.users.update_settings(CAROL, dm_alerts=True)  # alerts on, TSLA not on their list: nothing
    await arrive(store, NOV9[:1])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    step = await AlertEngine(store, clock=clock).step()
    assert step.messages == (1,) and step.alerts == 1
    assert [(m[1], m[2], m[3]) for m in await messages(store)] == [(dm_target(ALICE), "alert", "pending")]
    async with open_discord_env() as env:
        meet(env, ALICE, BOB, CAROL)
        client = await login(env)
        await drain(Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock), clock)
        [dm] = dms(env.fake, ALICE)
        assert dm["embeds"][0]["title"] == f"TSLA · Musk Elon sold {money(sold(NOV9[:1])[1])}"
        assert dms(env.fake, BOB) == [] and dms(env.fake, CAROL) == []
        assert env.fake.find("POST", r"/users/@me/channels")
        [(_, _, _, state, discord_id, attempts, _)] = await messages(store)
        assert (state, discord_id, attempts) == ("sent", int(dm["id"]), 1)
        # Sent is final, and the same trade day again (a later filing of it) edits the DM, never a second one.
        await arrive(store, NOV9[1:2])
        assert (await AlertEngine(store, clock=clock).step()).revisions == 1
        await drain(Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock), clock)
        assert len(dms(env.fake, ALICE)) == 1 and len(posts(env.fake, dm_channel(ALICE))) == 1
        assert env.fake.find("PATCH", rf"/channels/{dm_channel(ALICE)}/messages/\d+")
    await store.close()


async def test_the_users_own_sensitivity_decides(tmp_path: Path) -> None:
    """11-08's tax sales under a new plan fire only on "everything": a quiet user and a normal one get 11-09
    only, an "everything" user both days; the server's own settings play no part."""
    store = await history_store(tmp_path / "alerts.db")
    await watch(store, ALICE, sensitivity="quiet")
    await watch(store, BOB, sensitivity="everything")
    await turn_on(store, GUILD, CHANNEL, alert_sensitivity="quiet")
    await arrive(store, [*NOV8, NOV9[0]])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    await AlertEngine(store, config=NO_AGE_LIMIT, clock=clock).step()
    rows = await store.fetchall("SELECT guild_id, day, state FROM alert_items ORDER BY guild_id, day")
    by_target: dict[int, list[tuple[str, str]]] = {}
    for guild_id, day, state in rows:
        by_target.setdefault(guild_id, []).append((day, state))
    assert by_target[dm_target(ALICE)] == [("2021-11-09", "alert")]
    assert [d for d, _ in by_target[dm_target(BOB)]] == ["2021-11-08", "2021-11-09"]
    assert by_target[GUILD] == [("2021-11-09", "alert")]
    await store.close()


async def test_the_daily_cap_keeps_the_strongest_and_records_the_rest(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await watch(store, ALICE, sensitivity="everything", daily_cap=1)
    await arrive(store, [*NOV8, NOV9[0]])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    step = await AlertEngine(store, config=NO_AGE_LIMIT, clock=clock).step()
    assert step.alerts == 1 and step.held >= 1
    rows = await store.fetchall("SELECT day, state FROM alert_items WHERE guild_id=? AND state='alert'",
                                (dm_target(ALICE),))
    assert [tuple(r) for r in rows] == [("2021-11-09", "alert")]  # the trust sale outscores the tax sales
    await store.close()


async def test_killed_after_discord_answered_200_then_restarted_sends_exactly_one_dm(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    store = await history_store(path)
    await watch(store, ALICE)
    await arrive(store, NOV9[:1])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    assert (await AlertEngine(store, clock=clock).step()).messages == (1,)
    async with open_discord_env() as env:
        meet(env, ALICE)
        client = await login(env)
        dying = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock, hook=crash_at("posted"))
        with pytest.raises(Crash):
            await dying.run_once()
        await store.close()  # the process is gone: Discord has the DM, the outbox says pending
        assert len(dms(env.fake, ALICE)) == 1

        store = await Store.open(path)
        assert [(m[3], m[5]) for m in await messages(store)] == [("pending", 1)]
        await drain(Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock), clock)
        first, retry = posts(env.fake, dm_channel(ALICE))
        salt = (await store.fetchone("SELECT nonce_salt FROM alert_state"))[0]  # type: ignore[index]
        assert first.json["nonce"] == retry.json["nonce"] == nonce_for(salt, 1)
        assert retry.json["enforce_nonce"] is True
        [dm] = dms(env.fake, ALICE)
        assert retry.response["id"] == dm["id"]  # Discord answered with the DM it already had
        assert [(m[3], m[4]) for m in await messages(store)] == [("sent", int(dm["id"]))]
        await store.close()
        store = await Store.open(path)
        assert await Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock).run_once() is None
        assert len(posts(env.fake, dm_channel(ALICE))) == 2
    await store.close()


async def test_closed_dms_pause_that_user_only_and_are_not_retried(tmp_path: Path) -> None:
    store = await history_store(tmp_path / "alerts.db")
    await watch(store, ALICE)
    await watch(store, BOB)
    await turn_on(store, GUILD, CHANNEL)
    await arrive(store, NOV9[:1])
    clock = Clock(accepted(NOV9[0]) + timedelta(seconds=20))
    engine = AlertEngine(store, clock=clock)
    assert len((await engine.step()).messages) == 3
    async with open_discord_env() as env:
        meet(env, ALICE, BOB)
        client = await login(env)
        env.fake.fail(None, rf"/channels/{dm_channel(ALICE)}/messages", status=403, code=50007,
                      message="Cannot send messages to this user", times=None)
        delivery = Delivery(store, DiscordTransport(client), config=PLAIN, clock=clock)
        await drain(delivery, clock)
        assert (await store.users.settings(ALICE)).paused_reason == DMS_CLOSED
        assert len(posts(env.fake, dm_channel(ALICE))) == 1  # tried once
        assert len(dms(env.fake, BOB)) == 1 and len(env.fake.messages_in(CHANNEL)) == 1  # the others go on
        assert (await store.users.settings(BOB)).paused_reason is None
        states = {m[1]: m[3] for m in await messages(store)}
        assert states == {dm_target(ALICE): "pending", dm_target(BOB): "sent", GUILD: "sent"}

        # No retry storm: a paused user is not even tried, and new filings are not recorded for them.
        before = len(env.fake.requests)
        for _ in range(3):
            clock.advance(minutes=5)
            await drain(delivery, clock)
        assert len(env.fake.requests) == before
        await arrive(store, NOV9[1:2])
        await engine.step()
        await drain(delivery, clock)
        assert len(posts(env.fake, dm_channel(ALICE))) == 1

        # Opened again and switched back on (/mywatch clears the reason): the waiting DM goes out, once.
        env.fake.clear_failures()
        await store.users.update_settings(ALICE, paused_reason=None)
        await drain(delivery, clock)
        assert len(dms(env.fake, ALICE)) == 1
    await store.close()

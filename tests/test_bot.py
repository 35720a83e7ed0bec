"""Every slash command end to end: the real discord.py, the fake Discord, real filings in the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.app import InsiderBot, create_bot
from bot.ingest import ingest_paths
from bot.store.db import Store
from tests.conftest import FIXTURES, FORM4
from tests.discord_fake import DEFAULT_CHANNEL_ID, DEFAULT_GUILD_ID, EPHEMERAL
from tests.discord_harness import OTHER_USER_ID, ChannelOpt, DiscordEnv, RoleOpt, open_discord_env
from tests.edgar_fake import EdgarFake, fake_settings

MANAGER = discord.Permissions(manage_guild=True, view_channel=True, send_messages=True)
TICKERS = FIXTURES / "edgar" / "submissions" / "company_tickers.json"


async def _loaded_store(path: Path) -> Store:
    store = await Store.open(path)
    files = [p for p in sorted(FORM4.glob("*.xml")) if p.name.split("_")[0] in {"TSLA", "FB", "META", "ADGI", "MSFT", "NTRA", "SQ"}]
    report = await ingest_paths(store, [*files, FIXTURES / "sec" / "submissions" / "TSLA_CIK0001318605.json", TICKERS])
    assert report.added > 100 and not report.quarantined
    return store


@pytest.fixture
async def edgar() -> AsyncIterator[EdgarFake]:
    async with EdgarFake() as fake:
        yield fake


@pytest.fixture
async def env() -> AsyncIterator[DiscordEnv]:
    async with open_discord_env() as discord_env:
        yield discord_env


@pytest.fixture
async def bot(env: DiscordEnv, edgar: EdgarFake, tmp_path: Path) -> InsiderBot:
    store = await _loaded_store(tmp_path / "bot.db")
    settings = fake_settings(edgar.url, db_path=str(tmp_path / "bot.db"), chart_workers=0)
    bot = create_bot(settings, store=store)
    await env.login(bot)
    await bot.tree.sync()
    yield bot
    await bot.close()  # stops the history loader before its store goes
    await store.close()


def _field(embed: dict, name: str) -> str:
    return next(f["value"] for f in embed.get("fields", []) if f["name"] == name)


async def test_insiders_defers_then_answers_with_embed_and_chart(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("insiders", {"ticker": "TSLA", "since": "2021-11-01"}))
    defer = await env.wait_response(iid)
    assert defer.callback_type == 5  # deferred at once: the store and the chart take time
    reply = await env.wait_followup(iid, timeout=20)
    [embed] = reply.embeds
    assert embed["title"].startswith("TSLA · Tesla, Inc.")
    assert embed["color"] == 0xE5484D  # net selling: red
    # Musk's Nov-Dec 2021 wave: sales only, one insider (filer group)
    assert "1 insider(s)" in _field(embed, "Sales") and _field(embed, "Purchases").startswith("$0")
    assert "Musk Elon" in embed["description"]
    assert "Not investment advice" in embed["footer"]["text"] and "as of" in embed["footer"]["text"]
    assert "sec.gov/Archives/edgar/data/1318605" in _field(embed, "SEC filings")
    assert embed["image"]["url"] == "attachment://tsla_insiders.png"
    assert reply.file("tsla_insiders.png").data.startswith(b"\x89PNG\r\n\x1a\n")
    assert not reply.ephemeral


async def test_insiders_finds_a_former_ticker(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("insiders", {"ticker": "FB", "period": "all"}))
    [embed] = (await env.wait_followup(iid, timeout=20)).embeds
    assert embed["title"].startswith("META · Meta Platforms") and "formerly FB" in embed["title"]


async def test_unknown_ticker_is_an_ephemeral_error_with_close_matches(
    env: DiscordEnv, bot: InsiderBot, edgar: EdgarFake
) -> None:
    edgar.company_tickers()
    iid = env.dispatch(env.slash("insiders", {"ticker": "TSLQ"}))
    reply = await env.wait_reply(iid, timeout=10)
    assert reply.ephemeral
    assert "TSLQ" in reply.embeds[0]["description"] and "TSLA" in reply.embeds[0]["description"]


@pytest.mark.parametrize("garbage", ["@everyone", "**bold**", "x" * 12, "2021-13-45"])
async def test_garbage_in_text_options_never_crashes(env: DiscordEnv, bot: InsiderBot, edgar: EdgarFake,
                                                    garbage: str) -> None:
    edgar.company_tickers()
    iid = env.dispatch(env.slash("insiders", {"ticker": "TSLA", "since": garbage[:10]}))
    reply = await env.wait_reply(iid, timeout=10)
    assert reply.ephemeral and "date" in reply.embeds[0]["description"]
    iid = env.dispatch(env.slash("insiders", {"ticker": garbage}))
    reply = await env.wait_reply(iid, timeout=10)
    assert reply.ephemeral and "No issuer found" in reply.embeds[0]["description"]
    assert reply.json.get("allowed_mentions", {"parse": []}).get("parse", []) == []


async def test_ticker_not_in_store_is_loaded_live_from_edgar(env: DiscordEnv, bot: InsiderBot, edgar: EdgarFake) -> None:
    # DraftKings: in SEC's ticker map, not in the store; EDGAR serves its submissions and a real Form 4.
    dkng = 1883685
    edgar.company_tickers()
    submissions = {
        "cik": str(dkng), "name": "DraftKings Inc.",
        "filings": {"recent": {
            "accessionNumber": ["0001104659-25-025206"], "form": ["4"], "filingDate": ["2025-03-18"],
            "acceptanceDateTime": ["2025-03-18T20:11:12.000Z"], "reportDate": ["2025-03-14"],
            "primaryDocument": ["xslF345X05/tm259698-1_4seq1.xml"],
        }, "files": []},
    }
    from tests.edgar_fake import FakeResponse

    edgar.route(f"/submissions/CIK{dkng:010d}.json", FakeResponse.json(submissions))
    edgar.filing_document(dkng, "0001104659-25-025206", "tm259698-1_4seq1.xml",
                          "archives/DKNG_0001104659-25-025206_tm259698-1_4seq1.xml")
    iid = env.dispatch(env.slash("insiders", {"ticker": "DKNG", "period": "all"}))
    progress = await env.wait_edit(iid, timeout=10)
    assert "Loading DKNG" in progress.content
    reply = await env.wait_followup(iid, timeout=20)
    assert reply.embeds[0]["title"].startswith("DKNG")
    assert bot.history is not None


async def test_top_pages_with_buttons_only_for_the_asker(env: DiscordEnv, bot: InsiderBot) -> None:
    # Every corpus issuer has some sales; ten per page: NTRA, SQ, TSLA, META ... fit on one page,
    # so this test asks for all history and looks at the ranking itself.
    iid = env.dispatch(env.slash("top", {"period": "all"}))
    reply = await env.wait_reply(iid, timeout=10)
    [embed] = reply.embeds
    assert embed["title"].startswith("Largest net insider sales")
    first_row = embed["description"].split("```")[1].strip().split("\n")[1]
    assert "TSLA" in first_row  # Musk's $39B of 2021-2022 sales lead any ranking of this corpus


async def test_top_watchlist_scope_needs_a_watchlist(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("top", {"scope": "watchlist"}))
    reply = await env.wait_reply(iid)
    assert reply.ephemeral and "watchlist is empty" in reply.embeds[0]["description"]


async def test_insider_shows_the_usual_pattern(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("insider", {"name_or_cik": "Musk"}))
    [embed] = (await env.wait_followup(iid, timeout=10)).embeds
    assert embed["title"] == "Musk Elon (CIK 1494730)"
    assert "Usual months" in [f["name"] for f in embed["fields"]]
    assert "TSLA" in embed["description"]


async def test_watchlist_rules_and_flow(env: DiscordEnv, bot: InsiderBot) -> None:
    # A member without Manage Server may list but not add.
    iid = env.dispatch(env.slash("watchlist", {"ticker": "TSLA"}, subcommand="add"))
    refused = await env.wait_reply(iid)
    assert refused.ephemeral and "Manage Server" in refused.embeds[0]["description"]

    iid = env.dispatch(env.slash("watchlist", {"ticker": "tsla"}, subcommand="add", permissions=MANAGER))
    added = await env.wait_reply(iid, timeout=10)
    assert added.ephemeral and "Added **TSLA**" in added.content
    iid = env.dispatch(env.slash("watchlist", {"ticker": "TSLA"}, subcommand="add", permissions=MANAGER))
    assert "already on the watchlist" in (await env.wait_reply(iid)).embeds[0]["description"]

    iid = env.dispatch(env.slash("watchlist", subcommand="list"))
    listed = await env.wait_reply(iid)
    assert "TSLA" in listed.embeds[0]["description"] and listed.embeds[0]["title"] == "Watchlist (1/250)"

    # The editor role lets a member add.
    role = RoleOpt(DEFAULT_GUILD_ID + 7, name="watchers")
    everyone = env.fake.guilds[DEFAULT_GUILD_ID]["roles"][0]
    env.fake.guilds[DEFAULT_GUILD_ID]["roles"].append({**everyone, "id": str(role.id), "name": role.name,
                                                       "position": 1, "permissions": "0"})
    env._recache_guild(DEFAULT_GUILD_ID)  # the role exists in the server, as the guilds intent would cache it
    iid = env.dispatch(env.slash("watchlist", {"role": role}, subcommand="editors", permissions=MANAGER))
    assert (await env.wait_reply(iid)).ephemeral
    payload = env.slash("watchlist", {"ticker": "META"}, subcommand="add")
    payload["member"]["roles"] = [str(role.id)]
    iid = env.dispatch(payload)
    assert "Added **META**" in (await env.wait_reply(iid, timeout=10)).content

    iid = env.dispatch(env.slash("watchlist", subcommand="clear"))  # editors may not clear
    assert "Manage Server" in (await env.wait_reply(iid)).embeds[0]["description"]
    iid = env.dispatch(env.slash("watchlist", subcommand="clear", permissions=MANAGER))
    assert "2 tickers" in (await env.wait_reply(iid)).content
    assert await bot.store.guilds.watchlist(DEFAULT_GUILD_ID) == []


async def test_watchlist_in_a_dm_is_refused(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("watchlist", subcommand="list", guild_id=None))
    reply = await env.wait_reply(iid)
    assert reply.ephemeral and "server" in reply.embeds[0]["description"]


async def test_alerts_need_manage_guild_and_a_postable_channel(env: DiscordEnv, bot: InsiderBot) -> None:
    alerts = ChannelOpt(DEFAULT_CHANNEL_ID + 5, name="alerts")
    iid = env.dispatch(env.slash("alerts", {"channel": alerts}, subcommand="channel"))
    assert "Manage Server" in (await env.wait_reply(iid)).embeds[0]["description"]

    env.fake.forbid_channel(alerts.id)
    iid = env.dispatch(env.slash("alerts", {"channel": alerts}, subcommand="channel", permissions=MANAGER))
    refused = await env.wait_reply(iid, timeout=10)
    assert refused.ephemeral and "can't post" in refused.embeds[0]["description"]
    assert (await bot.store.guilds.settings(DEFAULT_GUILD_ID)).alert_channel_id is None

    env.fake.restore_channel(alerts.id)
    iid = env.dispatch(env.slash("alerts", {"channel": alerts}, subcommand="channel", permissions=MANAGER))
    ok = await env.wait_reply(iid, timeout=10)
    assert "Alerts are on" in ok.content
    assert any("insiderflow will post" in (m.get("content") or "") for m in env.fake.messages_in(alerts.id))
    settings = await bot.store.guilds.settings(DEFAULT_GUILD_ID)
    assert settings.alert_channel_id == alerts.id and settings.alerts_enabled

    iid = env.dispatch(env.slash("alerts", {"min_value": 250000, "sensitivity": "quiet"}, subcommand="settings",
                                 permissions=MANAGER))
    shown = await env.wait_reply(iid)
    assert _field(shown.embeds[0], "Minimum value") == "$250K" and _field(shown.embeds[0], "Sensitivity") == "quiet"

    env.fake.delete_channel(alerts.id)
    iid = env.dispatch(env.slash("alerts", subcommand="test", permissions=MANAGER))
    gone = await env.wait_reply(iid, timeout=10)
    assert gone.ephemeral and "paused" in gone.embeds[0]["description"]
    assert (await bot.store.guilds.settings(DEFAULT_GUILD_ID)).alerts_paused_reason

    iid = env.dispatch(env.slash("alerts", subcommand="status", permissions=MANAGER))
    status = await env.wait_reply(iid)
    assert "paused" in status.embeds[0]["description"]
    iid = env.dispatch(env.slash("alerts", subcommand="off", permissions=MANAGER))
    assert "Alerts are off" in (await env.wait_reply(iid)).content


async def test_help_is_ephemeral_and_defines_the_numbers(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("help"))
    reply = await env.wait_response(iid)
    assert reply.callback_type == 4 and reply.flags & EPHEMERAL
    names = [f["name"] for f in reply.embeds[0]["fields"]]
    assert "How the numbers are defined" in names and "/insiders ticker [period]" in names


async def test_autocomplete_answers_at_most_25_from_the_store(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.autocomplete("insiders", "ticker", "T"))
    reply = await env.wait_response(iid)
    choices = reply.json["data"]["choices"]
    assert 0 < len(choices) <= 25
    assert choices[0]["value"] == "TSLA"  # stored issuers first


async def test_removed_from_a_server_deletes_its_data(env: DiscordEnv, bot: InsiderBot) -> None:
    await bot.store.guilds.add(DEFAULT_GUILD_ID, "TSLA", 1318605, 1)
    await bot.store.guilds.update_settings(DEFAULT_GUILD_ID, alert_channel_id=DEFAULT_CHANNEL_ID)
    guild = bot.get_guild(DEFAULT_GUILD_ID)
    assert guild is not None
    await bot.on_guild_remove(guild)
    assert await bot.store.guilds.watchlist(DEFAULT_GUILD_ID) == []
    assert (await bot.store.guilds.settings(DEFAULT_GUILD_ID)).alert_channel_id is None


async def test_mywatch_works_in_dms_and_forgets_on_request(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("mywatch", {"ticker": "tsla"}, subcommand="add", guild_id=None))
    assert "Added **TSLA**" in (await env.wait_reply(iid)).content
    iid = env.dispatch(env.slash("mywatch", {"ticker": "TSLA"}, subcommand="add", guild_id=None))
    assert "already on your watchlist" in (await env.wait_reply(iid)).embeds[0]["description"]
    iid = env.dispatch(env.slash("mywatch", {"enabled": True, "sensitivity": "quiet"}, subcommand="alerts"))
    assert "DM alerts are on" in (await env.wait_reply(iid)).content
    iid = env.dispatch(env.slash("mywatch", subcommand="list", guild_id=None))
    listed = (await env.wait_reply(iid)).embeds[0]
    assert "TSLA" in listed["description"] and _field(listed, "DM alerts") == "on"
    assert _field(listed, "Sensitivity") == "quiet"

    # A user whose DMs closed is told at their next command.
    from tests.discord_harness import DEFAULT_USER_ID

    await bot.store.users.update_settings(DEFAULT_USER_ID, paused_reason="your DMs are closed")
    iid = env.dispatch(env.slash("help"))
    notes = (await env.wait_reply(iid)).embeds[0]["description"]
    assert "DM alerts are paused: your DMs are closed" in notes

    iid = env.dispatch(env.slash("mywatch", subcommand="forget", guild_id=None))
    assert "1 tickers" in (await env.wait_reply(iid)).content
    assert await bot.store.users.watchlist(DEFAULT_USER_ID) == []
    assert (await bot.store.users.settings(DEFAULT_USER_ID)).dm_alerts is False

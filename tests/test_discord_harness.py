"""The end-to-end harness itself: a throwaway bot, the real discord.py, the fake Discord.

The bot below exists only to exercise the harness; the insiderflow cogs get their own tests on top of it.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.discord_fake import DEFAULT_CHANNEL_ID, DEFAULT_GUILD_ID, EPHEMERAL, check_choices, check_embeds
from tests.discord_harness import (
    OTHER_USER_ID,
    ChannelOpt,
    DiscordEnv,
    check_discord_version,
    open_discord_env,
    slash,
)

FIXTURES = Path(__file__).parent / "fixtures" / "discord"
TICKERS = ["AAPL", "AMZN", "AMD", "ABNB", "MSFT", "NVDA", "TSLA"]


def tiny_png() -> bytes:
    """A valid 1x1 PNG, built by hand so the test needs no image library."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class OwnerOnlyView(discord.ui.View):
    def __init__(self, owner_id: int) -> None:
        super().__init__(timeout=60)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("This menu isn't yours.", ephemeral=True)
            return False
        return True

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.success, custom_id="harness:confirm")
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[OwnerOnlyView]
    ) -> None:
        await interaction.response.edit_message(content="Confirmed.", view=None)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="What could be better?", custom_id="text"
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Thanks: {self.text.value}", ephemeral=True)


class HarnessTree(app_commands.CommandTree):
    """Maps the errors a user can fix to short ephemeral answers, like the real app's tree will."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            await interaction.response.send_message("You need Manage Server for that.", ephemeral=True)
        elif isinstance(error, app_commands.NoPrivateMessage):
            await interaction.response.send_message("Use this command in a server.", ephemeral=True)
        else:
            await super().on_error(interaction, error)


class HarnessCog(commands.Cog):
    def __init__(self, bot: HarnessBot) -> None:
        self.bot = bot

    @app_commands.command(description="Answer at once")
    async def ping(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    @app_commands.command(description="Where was I invoked")
    async def where(self, interaction: discord.Interaction) -> None:
        guild = interaction.guild.name if interaction.guild else None
        channel, user = type(interaction.channel).__name__, type(interaction.user).__name__
        await interaction.response.send_message(f"{channel} guild={guild} user={user}")

    @app_commands.command(description="Defer, then send a chart")
    async def chart(self, interaction: discord.Interaction, ticker: str) -> None:
        await interaction.response.defer(thinking=True)
        embed = discord.Embed(title=f"{ticker} insider flow", description="Net selling, 90 days")
        embed.add_field(name="Net", value="-$1.2M").set_image(url="attachment://chart.png")
        await interaction.followup.send(embed=embed, file=discord.File(io.BytesIO(tiny_png()), "chart.png"))

    @app_commands.command(description="Private report: defer, then edit the original")
    async def report(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.edit_original_response(content="Your report", embed=discord.Embed(title="Report"))

    @app_commands.command(description="Needs Manage Server")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def admin(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Settings saved.", ephemeral=True)

    @app_commands.command(description="Autocompleted ticker")
    async def lookup(self, interaction: discord.Interaction, ticker: str) -> None:
        await interaction.response.send_message(ticker)

    @lookup.autocomplete("ticker")
    async def lookup_ticker(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if current == "*":  # a bug on purpose: more choices than Discord accepts
            return [app_commands.Choice(name=f"T{i}", value=f"T{i}") for i in range(30)]
        return [app_commands.Choice(name=t, value=t) for t in TICKERS if t.startswith(current.upper())][:25]

    @app_commands.command(description="An embed over the description limit")
    async def essay(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(embed=discord.Embed(description="x" * 5000))

    @app_commands.command(description="A button only the caller may press")
    async def menu(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Confirm the alert?", view=OwnerOnlyView(interaction.user.id))

    @app_commands.command(description="Too slow for Discord")
    async def slow(self, interaction: discord.Interaction) -> None:
        await asyncio.sleep(self.bot.slow_seconds)
        await interaction.response.send_message("finally")

    @app_commands.command(description="Defer, then follow up late")
    async def late_followup(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await asyncio.sleep(self.bot.slow_seconds)
        await interaction.followup.send("too late")

    @app_commands.command(description="Opens a modal")
    async def feedback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal())

    watch = app_commands.Group(name="watch", description="Watchlist", guild_only=True)

    @watch.command(name="add", description="Watch a ticker")
    async def watch_add(
        self,
        interaction: discord.Interaction,
        ticker: str,
        channel: discord.TextChannel,
        min_value: int,
        ratio: float = 1.0,
        dm: bool = False,
    ) -> None:
        guild = interaction.guild
        assert guild is not None
        await interaction.response.send_message(
            f"{ticker} -> #{channel.name} ({channel.id}) min={min_value!r} ratio={ratio!r} dm={dm!r}"
            f" guild={guild.name}",
            ephemeral=True,
        )


class HarnessBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            tree_cls=HarnessTree,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.setup_ran = False
        self.slow_seconds = 0.0

    async def setup_hook(self) -> None:
        self.setup_ran = True
        await self.add_cog(HarnessCog(self))


@pytest.fixture
async def env() -> AsyncIterator[DiscordEnv]:
    async with open_discord_env() as discord_env:
        yield discord_env


@pytest.fixture
async def bot(env: DiscordEnv) -> HarnessBot:
    return await env.login(HarnessBot())


# -- login and plumbing ---------------------------------------------------------------------------------


async def test_login_runs_setup_hook_and_knows_its_application(env: DiscordEnv, bot: HarnessBot) -> None:
    assert bot.setup_ran
    assert bot.user is not None and bot.user.id == env.fake.application_id
    assert bot.application_id == env.fake.application_id
    assert [r.path for r in env.fake.requests] == ["/users/@me", "/oauth2/applications/@me"]
    assert all(r.authorized for r in env.fake.requests)
    guild = bot.get_guild(DEFAULT_GUILD_ID)
    assert guild is not None and guild.get_channel(DEFAULT_CHANNEL_ID) is not None


async def test_rejected_token_raises_login_failure(env: DiscordEnv) -> None:
    bot = HarnessBot()
    with pytest.raises(discord.LoginFailure):
        await env.login(bot, token="not-the-token")
    assert not bot.setup_ran
    assert [(r.path, r.status) for r in env.fake.requests] == [("/users/@me", 401)]


async def test_route_base_is_patched_inside_and_restored_after() -> None:
    original = discord.http.Route.BASE
    async with open_discord_env() as env:
        assert discord.http.Route.BASE == env.fake.api_base
        assert discord.http.Route("GET", "/users/@me").url.startswith("http://127.0.0.1:")
    assert discord.http.Route.BASE == original
    with pytest.raises(RuntimeError, match="boom"):
        async with open_discord_env():
            raise RuntimeError("boom")
    assert discord.http.Route.BASE == original


def test_version_check_names_the_hooks() -> None:
    check_discord_version()  # the installed 2.7.x passes
    newer = discord.version_info._replace(minor=8)
    with pytest.raises(RuntimeError, match="Route.BASE"):
        check_discord_version(newer)


def test_builder_payload_has_the_shape_of_discords_example() -> None:
    example = json.loads((FIXTURES / "slash_command_interaction_example.json").read_text())
    built = slash("cardsearch", {"cardname": "The Gitrog Monster"})
    assert set(example) <= set(built)
    assert set(example["member"]) <= set(built["member"])
    assert set(example["member"]["user"]) <= set(built["member"]["user"])
    assert built["data"]["options"] == example["data"]["options"]
    # Newer fields discord.py 2.7 reads, which the older docs example lacks:
    assert {"application_id", "version", "attachment_size_limit", "context", "channel"} <= set(built)


async def test_dispatch_refuses_a_payload_discord_py_cannot_parse(env: DiscordEnv, bot: HarnessBot) -> None:
    example = json.loads((FIXTURES / "slash_command_interaction_example.json").read_text())
    with pytest.raises(ValueError, match="attachment_size_limit"):
        env.dispatch(example)


async def test_tree_sync_is_recorded_and_ids_flow_into_payloads(env: DiscordEnv, bot: HarnessBot) -> None:
    synced = await bot.tree.sync()
    put = await env.fake.wait_for("PUT", rf"/applications/{bot.application_id}/commands")
    names = {c["name"] for c in put.json}
    assert {"ping", "chart", "watch", "lookup"} <= names
    assert {c.name for c in synced} == names
    ping_id = next(c.id for c in synced if c.name == "ping")
    assert env.slash("ping")["data"]["id"] == str(ping_id)


# -- responses -------------------------------------------------------------------------------------------


async def test_immediate_response_is_recorded(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.slash("ping"))
    response = await env.wait_response(iid)
    assert response.ok and response.callback_type == 4
    assert response.content == "pong" and not response.ephemeral
    message = env.fake.original_message(iid)
    assert message is not None and message["type"] == 20 and message["interaction_metadata"]["id"] == str(iid)


async def test_deferred_then_followup_with_embed_and_png(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.slash("chart", {"ticker": "NVDA"}))
    defer = await env.wait_response(iid)
    assert defer.callback_type == 5 and defer.ok
    followup = await env.wait_followup(iid)
    assert followup.ok and followup.query.get("wait") == "1"
    [embed] = followup.embeds
    assert embed["title"] == "NVDA insider flow"
    assert embed["fields"] == [{"name": "Net", "value": "-$1.2M", "inline": True}]
    assert embed["image"]["url"] == "attachment://chart.png"
    png = followup.file("chart.png")
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n") and png.data == tiny_png()
    assert followup.json["attachments"] == [{"id": 0, "filename": "chart.png"}]
    # The first follow-up after a defer replaces the "thinking" message, as on Discord.
    original = env.fake.original_message(iid)
    assert original is not None and original["attachments"][0]["filename"] == "chart.png"
    assert (await env.wait_reply(iid)) is followup


async def test_deferred_ephemeral_then_edit_original(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.slash("report"))
    defer = await env.wait_response(iid)
    assert defer.callback_type == 5 and defer.ephemeral
    edit = await env.wait_edit(iid)
    assert edit.ok and edit.content == "Your report" and edit.embeds[0]["title"] == "Report"
    original = env.fake.original_message(iid)
    assert original is not None and original["flags"] == EPHEMERAL  # still ephemeral, no longer "thinking"
    assert (await env.wait_reply(iid)) is edit


async def test_missing_permission_gets_an_ephemeral_error(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.slash("admin"))
    refused = await env.wait_response(iid)
    assert refused.callback_type == 4 and refused.ephemeral and refused.flags & EPHEMERAL
    assert refused.content == "You need Manage Server for that."

    allowed = discord.Permissions(manage_guild=True, view_channel=True, send_messages=True)
    iid = env.dispatch(env.slash("admin", permissions=allowed))
    assert (await env.wait_response(iid)).content == "Settings saved."


async def test_guild_and_dm_payloads_become_real_objects(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.slash("where"))
    assert (await env.wait_response(iid)).content == "TextChannel guild=Insider Test Server user=Member"
    payload = env.slash("where", guild_id=None)
    assert "user" in payload and "member" not in payload and payload["context"] == 1
    iid = env.dispatch(payload)
    assert (await env.wait_response(iid)).content == "DMChannel guild=None user=User"


async def test_option_types_and_resolved_channel(env: DiscordEnv, bot: HarnessBot) -> None:
    alerts = ChannelOpt(DEFAULT_CHANNEL_ID + 1, name="alerts")
    options = {"ticker": "AAPL", "channel": alerts, "min_value": 250000, "ratio": 2, "dm": True}
    payload = env.slash("watch", options, subcommand="add")
    [sub] = payload["data"]["options"]
    assert sub["type"] == 1 and sub["name"] == "add"
    assert [(o["name"], o["type"]) for o in sub["options"]] == [
        ("ticker", 3),
        ("channel", 7),
        ("min_value", 4),
        ("ratio", 10),
        ("dm", 5),
    ]
    assert payload["data"]["resolved"]["channels"][str(alerts.id)]["name"] == "alerts"
    iid = env.dispatch(payload)
    reply = await env.wait_response(iid)
    assert reply.content == (
        f"AAPL -> #alerts ({alerts.id}) min=250000 ratio=2.0 dm=True guild=Insider Test Server"
    )
    with pytest.raises(ValueError, match="no option"):
        env.slash("watch", {"tickr": "AAPL"}, subcommand="add")


async def test_autocomplete_answer(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.autocomplete("lookup", "ticker", "am"))
    response = await env.wait_response(iid)
    assert response.callback_type == 8 and response.ok
    assert response.json["data"]["choices"] == [
        {"name": "AMZN", "value": "AMZN"},
        {"name": "AMD", "value": "AMD"},
    ]


async def test_too_many_autocomplete_choices_are_a_violation(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.autocomplete("lookup", "ticker", "*"))
    response = await env.wait_response(iid)
    assert response.status == 400
    [violation] = env.fake.take_violations()
    assert violation.kind == "limit" and violation.detail.startswith("data.choices")
    env.take_errors()  # discord.py logs the failed autocomplete


async def test_embed_over_the_description_limit_is_caught(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.slash("essay"))
    response = await env.wait_response(iid)
    assert response.status == 400 and response.response["code"] == 50035
    assert "description" in json.dumps(response.response["errors"])
    violations = env.fake.take_violations()
    assert [v.kind for v in violations] == ["limit"]
    assert violations[0].detail.startswith("data.embeds.0.description: Must be 4096 or fewer")
    errors = env.take_errors()  # the bot saw an HTTPException; the default tree handler logged it
    assert any("essay" in r.getMessage() for r in errors)


async def test_button_flow_refuses_others_and_updates_for_the_owner(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.slash("menu"))
    sent = await env.wait_response(iid)
    message_id = int(sent.response["interaction"]["response_message_id"])
    [row] = sent.components
    assert row["components"][0]["custom_id"] == "harness:confirm"

    stranger = env.dispatch(env.component("harness:confirm", message_id, user_id=OTHER_USER_ID))
    refusal = await env.wait_response(stranger)
    assert refusal.callback_type == 4 and refusal.ephemeral and refusal.content == "This menu isn't yours."
    assert env.fake.messages[message_id]["content"] == "Confirm the alert?"

    owner = env.dispatch(env.component("harness:confirm", message_id))
    update = await env.wait_response(owner)
    assert update.callback_type == 7 and update.content == "Confirmed." and update.components == []
    assert env.fake.messages[message_id]["content"] == "Confirmed."
    assert env.fake.messages[message_id]["components"] == []


async def test_modal_open_and_submit(env: DiscordEnv, bot: HarnessBot) -> None:
    iid = env.dispatch(env.slash("feedback"))
    opened = await env.wait_response(iid)
    assert opened.callback_type == 9 and opened.json["data"]["title"] == "Feedback"
    submitted = env.dispatch(env.modal_submit(opened.json["data"]["custom_id"], {"text": "more charts"}))
    thanks = await env.wait_response(submitted)
    assert thanks.ephemeral and thanks.content == "Thanks: more charts"


# -- Discord's timing rules ---------------------------------------------------------------------------


async def test_a_late_first_response_is_flagged(env: DiscordEnv, bot: HarnessBot) -> None:
    env.fake.response_deadline = 0.3  # Discord's 3 s, shrunk so the test stays fast
    bot.slow_seconds = 0.35
    iid = env.dispatch(env.slash("slow"))
    response = await env.wait_response(iid)
    assert response.status == 404 and response.response == {"message": "Unknown interaction", "code": 10062}
    [violation] = env.fake.take_violations()
    assert violation.kind == "late" and violation.interaction_id == iid
    env.take_errors()


async def test_followup_after_the_token_window_is_flagged(env: DiscordEnv, bot: HarnessBot) -> None:
    env.fake.followup_window = 0.2  # Discord's 15 minutes
    bot.slow_seconds = 0.25
    iid = env.dispatch(env.slash("late_followup"))
    assert (await env.wait_response(iid)).callback_type == 5
    followup = await env.wait_followup(iid)
    assert followup.status == 401 and followup.response["code"] == 50027
    assert [v.kind for v in env.fake.take_violations()] == ["followup_expired"]
    env.take_errors()


async def test_second_initial_response_is_already_acknowledged(env: DiscordEnv, bot: HarnessBot) -> None:
    payload = env.slash("ping")
    iid = env.dispatch(payload)
    assert (await env.wait_response(iid)).ok
    env.dispatch(payload)  # the same interaction delivered twice: the bot answers twice
    second = await env.wait_response(iid, nth=2)
    assert second.status == 400 and second.response["code"] == 40060
    assert [v.kind for v in env.fake.take_violations()] == ["acknowledged"]
    env.take_errors()


# -- channel messages and injected failures --------------------------------------------------------------


async def test_channel_message_nonce_is_deduplicated(env: DiscordEnv, bot: HarnessBot) -> None:
    channel = bot.get_partial_messageable(DEFAULT_CHANNEL_ID)
    first = await channel.send("AAPL: CEO sold $2.1M", nonce=424242)
    retry = await channel.send("AAPL: CEO sold $2.1M", nonce=424242)
    other = await channel.send("MSFT: CFO bought $1.0M", nonce=777)
    assert retry.id == first.id != other.id
    posts = env.fake.find("POST", rf"/channels/{DEFAULT_CHANNEL_ID}/messages")
    assert [p.json["nonce"] for p in posts] == ["424242", "424242", "777"]
    assert all(p.json["enforce_nonce"] for p in posts)
    assert [m["content"] for m in env.fake.messages_in(DEFAULT_CHANNEL_ID)] == [
        "AAPL: CEO sold $2.1M",
        "MSFT: CFO bought $1.0M",
    ]


async def test_forbidden_and_deleted_channels(env: DiscordEnv, bot: HarnessBot) -> None:
    forbidden, deleted = DEFAULT_CHANNEL_ID + 10, DEFAULT_CHANNEL_ID + 11
    env.fake.forbid_channel(forbidden)
    env.fake.delete_channel(deleted)
    with pytest.raises(discord.Forbidden) as denied:
        await bot.get_partial_messageable(forbidden).send("alert")
    assert denied.value.code == 50013
    with pytest.raises(discord.NotFound) as gone:
        await bot.get_partial_messageable(deleted).send("alert")
    assert gone.value.code == 10003
    env.fake.restore_channel(forbidden)
    assert (await bot.get_partial_messageable(forbidden).send("alert")).content == "alert"


async def test_rate_limit_and_server_error_are_retried(env: DiscordEnv, bot: HarnessBot) -> None:
    path = rf"/channels/{DEFAULT_CHANNEL_ID}/messages"
    env.fake.rate_limit("POST", path, retry_after=0.05)
    sent = await bot.get_partial_messageable(DEFAULT_CHANNEL_ID).send("after a 429")
    assert [r.status for r in env.fake.find("POST", path)] == [429, 200]
    assert env.fake.find("POST", path)[0].response["retry_after"] == 0.05
    assert sent.content == "after a 429"

    env.fake.fail("POST", path, status=500)  # discord.py waits 1 s before retrying a 500
    await bot.get_partial_messageable(DEFAULT_CHANNEL_ID).send("after a 500")
    assert [r.status for r in env.fake.find("POST", path)] == [429, 200, 500, 200]


async def test_strict_exit_fails_on_untaken_violations_and_unknown_routes() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        async with open_discord_env() as env:
            bot = await env.login(HarnessBot())
            await env.wait_response(env.dispatch(env.slash("essay")))
            with pytest.raises(discord.NotFound):
                await bot.http.request(discord.http.Route("GET", "/voice/regions"))
            with pytest.raises(discord.HTTPException):  # a 400, not a 500 that discord.py would retry
                await bot.http.request(discord.http.Route("GET", "/channels/{channel_id}", channel_id="abc"))
    report = str(failed.value)
    assert "[limit]" in report and "data.embeds.0.description" in report
    assert "the fake itself failed on:\nGET /channels/abc" in report
    assert "GET /voice/regions" in report and "Ignoring exception in command 'essay'" in report


# -- the limit checks on their own ------------------------------------------------------------------------


def test_embed_limits() -> None:
    ok = {"title": "t" * 256, "description": "d" * 4096, "fields": [{"name": "n", "value": "v" * 1024}] * 1}
    assert check_embeds([ok]) == []
    over = {
        "title": "t" * 257,
        "fields": [{"name": "n" * 257, "value": "v" * 1025}] * 26,
        "footer": {"text": "f" * 2049},
    }
    paths = {p for p, _, _ in check_embeds([over])}
    assert {"embeds.0.title", "embeds.0.fields", "embeds.0.fields.0.name", "embeds.0.fields.0.value"} <= paths
    assert "embeds.0.footer.text" in paths and "embeds" in paths  # 6000 total exceeded too
    assert [p for p, _, _ in check_embeds([{"title": "x"}] * 11)] == ["embeds"]


def test_choice_limits() -> None:
    assert check_choices([{"name": "a" * 100, "value": "b" * 100}]) == []
    paths = [p for p, _, _ in check_choices([{"name": "a" * 101, "value": "v"}] * 26)]
    assert paths[0] == "data.choices" and "data.choices.0.name" in paths

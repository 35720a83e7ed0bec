"""/mywatch add|remove|list|alerts|forget: a user's own watchlist and opt-in DM alerts (works in DMs too)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.render.reply import Reply, ReplyField, Table, as_of_line, money
from bot.store.guilds import SENSITIVITIES
from bot.store.issuers import UnknownTicker
from bot.store.users import PERSONAL_CAP, PersonalListFull
from cogs.common import bot_of, send_error, send_reply, ticker_autocomplete


class MyWatch(commands.GroupCog, name="mywatch", description="Your own watchlist and DM alerts"):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="add", description="Add a ticker to your own watchlist")
    @app_commands.autocomplete(ticker=ticker_autocomplete)
    async def add(self, interaction: discord.Interaction, ticker: app_commands.Range[str, 1, 12]) -> None:
        store = bot_of(interaction).store
        try:
            issuer = await store.issuers.resolve(ticker)
        except UnknownTicker as exc:
            await send_error(interaction, str(exc))
            return
        label = issuer.ticker or str(issuer.cik)
        try:
            added = await store.users.add(interaction.user.id, label, issuer.cik)
        except PersonalListFull as exc:
            await send_error(interaction, str(exc))
            return
        if not added:
            await send_error(interaction, f"{label} is already on your watchlist.")
            return
        bot_of(interaction).history.request(issuer.cik)
        await interaction.response.send_message(f"Added **{label}** to your watchlist.", ephemeral=True)

    @app_commands.command(name="remove", description="Remove a ticker from your own watchlist")
    async def remove(self, interaction: discord.Interaction, ticker: app_commands.Range[str, 1, 12]) -> None:
        wanted = ticker.strip().upper().lstrip("$")
        if not await bot_of(interaction).store.users.remove(interaction.user.id, wanted):
            await send_error(interaction, f"{discord.utils.escape_markdown(wanted)} is not on your watchlist.")
            return
        await interaction.response.send_message(f"Removed **{wanted}** from your watchlist.", ephemeral=True)

    @app_commands.command(name="list", description="Show your own watchlist and DM-alert settings")
    async def list(self, interaction: discord.Interaction) -> None:
        store = bot_of(interaction).store
        entries = await store.users.watchlist(interaction.user.id)
        settings = await store.users.settings(interaction.user.id)
        reply = Reply(title=f"Your watchlist ({len(entries)}/{PERSONAL_CAP})", ephemeral=True,
                      as_of=as_of_line(await store.trades.newest_acceptance()))
        if entries:
            reply.table = Table(columns=("Ticker",), rows=tuple((t,) for t, _ in entries))
        else:
            reply.description = "Empty. Add a ticker with /mywatch add."
        reply.fields = [
            ReplyField("DM alerts", "on" if settings.dm_alerts else "off"),
            ReplyField("Sensitivity", settings.sensitivity),
            ReplyField("Minimum value", money(settings.min_value_cents)),
            ReplyField("Daily cap", str(settings.daily_cap)),
        ]
        await send_reply(interaction, reply)

    @app_commands.command(name="alerts", description="Turn your DM alerts on or off, and tune them")
    @app_commands.describe(enabled="DM alerts on or off", sensitivity="quiet, normal or everything",
                           min_value="Smallest trade to alert on, in US dollars",
                           daily_cap="At most this many DMs a day")
    @app_commands.choices(sensitivity=[app_commands.Choice(name=s, value=s) for s in SENSITIVITIES])
    async def alerts(
        self,
        interaction: discord.Interaction,
        enabled: bool,
        sensitivity: app_commands.Choice[str] | None = None,
        min_value: app_commands.Range[int, 0, 10_000_000_000] | None = None,
        daily_cap: app_commands.Range[int, 1, 50] | None = None,
    ) -> None:
        changes: dict[str, object] = {"dm_alerts": enabled, "paused_reason": None}
        if sensitivity is not None:
            changes["sensitivity"] = sensitivity.value
        if min_value is not None:
            changes["min_value_cents"] = min_value * 100
        if daily_cap is not None:
            changes["daily_cap"] = daily_cap
        await bot_of(interaction).store.users.update_settings(interaction.user.id, **changes)
        text = ("DM alerts are on: I'll message you about unusual trades on your watchlist. Keep your DMs open "
                "for this server." if enabled else "DM alerts are off.")
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="forget", description="Delete your watchlist and settings")
    async def forget(self, interaction: discord.Interaction) -> None:
        removed = await bot_of(interaction).store.users.forget(interaction.user.id)
        await interaction.response.send_message(
            f"Done: your watchlist ({removed} tickers) and settings are deleted.", ephemeral=True
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(MyWatch(bot))

"""/watchlist add|remove|list|clear|editors: the server's shared watchlist.

Discord can only gate a whole top-level command, so the rules are checked here at run time: list for
everyone; add/remove for Manage Server or the editor role; clear and editors for Manage Server only.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.render.reply import Reply, Table, as_of_line
from bot.store.guilds import WATCHLIST_CAP, WatchlistFull
from bot.store.issuers import UnknownTicker
from cogs.common import GuildGroupCog, bot_of, has_manage_guild, send_error, send_reply, ticker_autocomplete


async def _may_edit(interaction: discord.Interaction) -> bool:
    if has_manage_guild(interaction):
        return True
    settings = await bot_of(interaction).store.guilds.settings(interaction.guild_id)  # type: ignore[arg-type]
    member = interaction.user
    roles = getattr(member, "roles", [])
    return settings.editor_role_id is not None and any(r.id == settings.editor_role_id for r in roles)


@app_commands.guild_only()
class Watchlist(GuildGroupCog, name="watchlist", description="This server's shared watchlist"):
    @app_commands.command(name="add", description="Add a ticker to the server's watchlist")
    @app_commands.describe(ticker="Stock ticker, e.g. NVDA")
    @app_commands.autocomplete(ticker=ticker_autocomplete)
    async def add(self, interaction: discord.Interaction, ticker: app_commands.Range[str, 1, 12]) -> None:
        if not await _may_edit(interaction):
            await send_error(interaction, "Only members with Manage Server or the watchlist editor role can change "
                             "the watchlist.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = bot_of(interaction)
        try:
            issuer = await bot.store.issuers.resolve(ticker)
        except UnknownTicker:
            from bot.sec.client import EdgarError
            from bot.sync import resolve_cik

            try:
                cik = await resolve_cik(bot.store, bot.edgar, ticker)
            except EdgarError:
                cik = None
            if cik is None:
                await send_error(interaction, str(UnknownTicker(ticker[:12], await bot.store.issuers.suggest(ticker))))
                return
            issuer = await bot.store.issuers.resolve(str(cik))
        label = issuer.ticker or str(issuer.cik)
        try:
            added = await bot.store.guilds.add(interaction.guild_id, label, issuer.cik, interaction.user.id)  # type: ignore[arg-type]
        except WatchlistFull as exc:
            await send_error(interaction, str(exc))
            return
        if not added:
            await send_error(interaction, f"{label} is already on the watchlist.")
            return
        bot.history.request(issuer.cik)  # its insiders need a history for baselines
        await interaction.followup.send(f"Added **{label}** ({discord.utils.escape_markdown(issuer.name)}) to the "
                                        "watchlist. Its filing history is loading in the background.", ephemeral=True)

    @app_commands.command(name="remove", description="Remove a ticker from the server's watchlist")
    @app_commands.describe(ticker="A ticker on the watchlist")
    async def remove(self, interaction: discord.Interaction, ticker: app_commands.Range[str, 1, 12]) -> None:
        if not await _may_edit(interaction):
            await send_error(interaction, "Only members with Manage Server or the watchlist editor role can change "
                             "the watchlist.")
            return
        store = bot_of(interaction).store
        wanted = ticker.strip().upper().lstrip("$")
        entries = await store.guilds.watchlist(interaction.guild_id)  # type: ignore[arg-type]
        match = next((e for e in entries if e.ticker == wanted), None)
        if match is None:
            await send_error(interaction, f"{discord.utils.escape_markdown(wanted[:12])} is not on the watchlist.")
            return
        await store.guilds.remove(interaction.guild_id, match.issuer_cik)  # type: ignore[arg-type]
        await interaction.response.send_message(f"Removed **{match.ticker}** from the watchlist.", ephemeral=True)

    @remove.autocomplete("ticker")
    async def _watched(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        entries = await bot_of(interaction).store.guilds.watchlist(interaction.guild_id)  # type: ignore[arg-type]
        prefix = current.strip().upper()
        return [app_commands.Choice(name=e.ticker, value=e.ticker) for e in entries if e.ticker.startswith(prefix)][:25]

    @app_commands.command(name="list", description="Show the server's watchlist")
    async def list(self, interaction: discord.Interaction) -> None:
        store = bot_of(interaction).store
        entries = await store.guilds.watchlist(interaction.guild_id)  # type: ignore[arg-type]
        reply = Reply(title=f"Watchlist ({len(entries)}/{WATCHLIST_CAP})",
                      as_of=as_of_line(await store.trades.newest_acceptance()))
        if not entries:
            reply.description = "The watchlist is empty. Add a ticker with /watchlist add."
        else:
            reply.table = Table(columns=("Ticker", "Added"), align=("<", "<"),
                                rows=tuple((e.ticker, e.added_at[:10]) for e in entries))
        await send_reply(interaction, reply)

    @app_commands.command(name="clear", description="Remove every ticker (Manage Server)")
    async def clear(self, interaction: discord.Interaction) -> None:
        if not has_manage_guild(interaction):
            await send_error(interaction, "Clearing the watchlist needs the Manage Server permission.")
            return
        removed = await bot_of(interaction).store.guilds.clear(interaction.guild_id)  # type: ignore[arg-type]
        await interaction.response.send_message(f"Cleared the watchlist ({removed} tickers).", ephemeral=True)

    @app_commands.command(name="editors", description="Set the role that may add and remove tickers (Manage Server)")
    @app_commands.describe(role="Members with this role may edit the watchlist; leave empty to allow only managers")
    async def editors(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        if not has_manage_guild(interaction):
            await send_error(interaction, "Choosing the editor role needs the Manage Server permission.")
            return
        await bot_of(interaction).store.guilds.update_settings(
            interaction.guild_id, editor_role_id=role.id if role else None  # type: ignore[arg-type]
        )
        text = f"Members with {role.mention} can now edit the watchlist." if role else \
            "Only members with Manage Server can edit the watchlist now."
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Watchlist(bot))

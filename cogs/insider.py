"""/insider NAME_OR_CIK: one insider across issuers, with their usual pattern."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.reports import insider_report
from cogs.common import bot_of, send_reply


class Insider(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="insider", description="One insider across companies: trades, usual months and size")
    @app_commands.describe(name_or_cik="The insider's name (or part of it, e.g. 'Musk') or SEC CIK")
    @app_commands.checks.cooldown(4, 30.0, key=lambda i: i.user.id)
    async def insider(self, interaction: discord.Interaction, name_or_cik: app_commands.Range[str, 1, 60]) -> None:
        await interaction.response.defer(thinking=True)
        bot = bot_of(interaction)
        reply = await insider_report(bot.store, name_or_cik, prices=bot.prices)
        await send_reply(interaction, reply)

    @insider.autocomplete("name_or_cik")
    async def _names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if len(current.strip()) < 2:
            return []
        found = await bot_of(interaction).store.trades.find_insiders(current[:40], limit=25)
        return [app_commands.Choice(name=f"{name} ({cik})"[:100], value=str(cik)) for cik, name in found]


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Insider(bot))

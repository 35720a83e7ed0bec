"""/pulse [weeks]: the market-wide ratio of insider sales to purchases, week by week, with a chart."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.pulse import market_pulse
from cogs.common import bot_of, send_reply


class Pulse(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="pulse", description="Market-wide insider selling vs buying, week by week")
    @app_commands.describe(weeks="How many weeks back (default 12, at most 104)")
    @app_commands.checks.cooldown(4, 30.0, key=lambda i: i.user.id)
    async def pulse(self, interaction: discord.Interaction, weeks: app_commands.Range[int, 1, 104] = 12) -> None:
        await interaction.response.defer(thinking=True)
        bot = bot_of(interaction)
        reply = await market_pulse(bot.store, weeks=weeks, executor=bot._executor)
        await send_reply(interaction, reply)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Pulse(bot))

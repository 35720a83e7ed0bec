"""The one adapter from the core's Reply to Discord (embeds, files), and helpers every cog shares."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render.reply import Reply, Table

if TYPE_CHECKING:
    from bot.app import InsiderBot

log = logging.getLogger(__name__)

COLOURS = {"sell": 0xE5484D, "buy": 0x30A46C, "neutral": 0x5865F2, "error": 0xF5A524}

# Discord's embed limits (discord.py does not check them).
TITLE, DESCRIPTION, FIELDS, FIELD_NAME, FIELD_VALUE, FOOTER, TOTAL = 256, 4096, 25, 256, 1024, 2048, 6000
TABLE_WIDTH = 58  # characters a phone shows in a code block without wrapping (roughly)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table_text(table: Table, width: int = TABLE_WIDTH) -> str:
    """A monospace table that fits a phone: columns sized to content, the first column shrunk to fit."""
    cols = len(table.columns)
    rows = [tuple(table.columns)] + [tuple(r) for r in table.rows]
    widths = [max(len(r[i]) for r in rows) for i in range(cols)]
    overflow = sum(widths) + (cols - 1) - width
    if overflow > 0:
        widths[0] = max(6, widths[0] - overflow)
    lines = []
    for r in rows:
        cells = []
        for i, cell in enumerate(r):
            cell = clip(cell, widths[i])
            right = i < len(table.align) and table.align[i] == ">"
            cells.append(cell.rjust(widths[i]) if right else cell.ljust(widths[i]))
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def _fit_code_block(text: str, limit: int) -> str:
    """A code block within ``limit`` characters, dropping whole lines with a count of what was left out."""
    lines = text.split("\n")
    block = "```\n" + text + "\n```"
    dropped = 0
    while len(block) > limit and len(lines) > 2:
        lines.pop()
        dropped += 1
        block = "```\n" + "\n".join(lines) + f"\n… and {dropped} more\n```"
    return block


def reply_to_discord(reply: Reply) -> tuple[list[discord.Embed], list[discord.File]]:
    """The reply as embeds and files within every Discord limit: truncated with '… and N more', never failing."""
    embed = discord.Embed(
        title=clip(reply.title, TITLE),
        url=reply.url,
        colour=COLOURS.get(reply.tone, COLOURS["neutral"]),
    )
    description = reply.description
    if reply.table is not None and reply.table.rows:
        room = DESCRIPTION - len(description) - 40
        heading = f"\n{reply.table.title}\n" if reply.table.title else "\n"
        description += heading + _fit_code_block(table_text(reply.table), max(200, room - len(heading)))
    if reply.notes:
        description += "\n" + "\n".join(f"-# {n}" for n in reply.notes)
    embed.description = clip(description, DESCRIPTION)
    budget = TOTAL - len(embed.title or "") - len(embed.description or "") - len(reply.footer) - 20
    fields = list(reply.fields)
    if reply.links:
        lines = [f"[{link.label}]({link.url})" for link in reply.links]
        text, shown = "", 0
        for line in lines:
            if len(text) + len(line) + 1 > FIELD_VALUE - 20:
                break
            text += line + "\n"
            shown += 1
        if shown < len(lines):
            text += f"… and {len(lines) - shown} more"
        from bot.render.reply import ReplyField

        fields.append(ReplyField("SEC filings", text.strip(), inline=False))
    for i, field in enumerate(fields[:FIELDS]):
        name, value = clip(field.name, FIELD_NAME), clip(field.value or "-", FIELD_VALUE)
        if len(name) + len(value) > budget:
            rest = len(fields) - i
            if budget > 40:
                embed.add_field(name="…", value=f"and {rest} more", inline=False)
            break
        budget -= len(name) + len(value)
        embed.add_field(name=name, value=value, inline=field.inline)
    embed.set_footer(text=clip(reply.footer, FOOTER))
    files: list[discord.File] = []
    if reply.chart is not None:
        files.append(discord.File(io.BytesIO(reply.chart.png), filename=reply.chart.filename))
        embed.set_image(url=f"attachment://{reply.chart.filename}")
    return [embed], files


async def send_reply(interaction: discord.Interaction, reply: Reply, *, view: discord.ui.View | None = None) -> None:
    """Answer with the reply whatever the interaction's state: first response, or follow-up after a defer."""
    paused = await _dm_alerts_paused(interaction)
    if paused:
        reply.notes.append(f"⚠️ Your DM alerts are paused: {paused}. Open your DMs, then /mywatch alerts on.")
    embeds, files = reply_to_discord(reply)
    kwargs: dict = {"embeds": embeds, "files": files, "ephemeral": reply.ephemeral}
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs, wait=False)
    else:
        await interaction.response.send_message(**kwargs)


async def _dm_alerts_paused(interaction: discord.Interaction) -> str | None:
    """Why the user's DM alerts are paused, if they are: told the next time they use a command."""
    store = getattr(interaction.client, "store", None)
    users = getattr(store, "users", None)
    if users is None:
        return None
    return (await users.settings(interaction.user.id)).paused_reason


async def send_error(interaction: discord.Interaction, message: str) -> None:
    """A short ephemeral answer; never raises (the interaction may have expired)."""
    embed = discord.Embed(description=clip(message, DESCRIPTION), colour=COLOURS["error"])
    try:
        if interaction.response.is_done():
            await interaction.followup.send(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not deliver an error message to interaction %s", interaction.id)


def bot_of(interaction: discord.Interaction) -> InsiderBot:
    return interaction.client  # type: ignore[return-value]


async def ticker_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Up to 25 tickers from the store and SEC's map, fast (one indexed query)."""
    try:
        pairs = await bot_of(interaction).store.issuers.autocomplete(current[:10], limit=25)
    except Exception:  # autocomplete must answer within 3 s whatever happens
        log.exception("autocomplete failed")
        return []
    return [app_commands.Choice(name=clip(f"{t} · {n}", 100), value=t) for t, n in pairs[:25]]


def has_manage_guild(interaction: discord.Interaction) -> bool:
    perms = getattr(interaction, "permissions", None)
    return bool(perms and (perms.manage_guild or perms.administrator))


def require_manage_guild():
    """default_permissions only sets a default admins can change: check for real at run time too."""

    async def predicate(interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not has_manage_guild(interaction):
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    return app_commands.check(predicate)


class GuildGroupCog(commands.GroupCog):
    """A command group that only works in servers. guild_only() is enforced by Discord's client, not by
    discord.py, so DMs are refused here too (the tree's on_error answers them)."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        return True

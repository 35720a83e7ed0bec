"""/alerts channel|settings|status|test|off: where and how a server's unusual-trade alerts go.

Manage Server is required: ``default_permissions`` hides the command from others by default, and a real
check refuses it at run time, since admins can change the default.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.render.reply import Reply, ReplyField, as_of_line, money
from bot.store.guilds import SENSITIVITIES, GuildSettings
from cogs.common import GuildGroupCog, bot_of, require_manage_guild, send_error, send_reply

log = logging.getLogger(__name__)

NEEDED = ("view_channel", "send_messages", "embed_links", "attach_files")


def _settings_fields(s: GuildSettings) -> list[ReplyField]:
    return [
        ReplyField("Channel", f"<#{s.alert_channel_id}>" if s.alert_channel_id else "not set"),
        ReplyField("State", "on" if s.alerts_enabled else "off"
                   + (f" (paused: {s.alerts_paused_reason})" if s.alerts_paused_reason else "")),
        ReplyField("Minimum value", money(s.alert_min_value_cents)),
        ReplyField("Sensitivity", s.alert_sensitivity),
        ReplyField("Purchases", "alert" if s.alert_purchases else "ignore"),
        ReplyField("Scope", "watchlist only" if s.alert_scope == "watchlist" else "all stored issuers"),
        ReplyField("Ping role", f"<@&{s.alert_ping_role_id}>" if s.alert_ping_role_id else "none"),
        ReplyField("Daily cap", str(s.alert_daily_cap)),
        ReplyField("Digest", f"{s.alert_digest_hour:02d}:00 UTC" if s.alert_digest_hour is not None else "off"),
        ReplyField("Muted", ", ".join(sorted(s.muted)) or "none"),
    ]


async def _post_check(channel: discord.abc.GuildChannel, text: str) -> str | None:
    """Post to the channel; the reason it can't, in a user's words, or None when it worked."""
    me = channel.guild.me
    if me is not None:
        missing = [p for p in NEEDED if not getattr(channel.permissions_for(me), p)]
        if missing:
            return f"I can't post in {channel.mention}: missing {', '.join(m.replace('_', ' ') for m in missing)}."
    if not isinstance(channel, discord.abc.Messageable):
        return f"{channel.mention} is not a channel I can post messages in."
    try:
        await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
    except discord.Forbidden:
        return f"I can't post in {channel.mention}: Discord refused (missing permissions)."
    except discord.NotFound:
        return "That channel no longer exists."
    except discord.HTTPException as exc:
        return f"Discord didn't accept a message in {channel.mention} ({exc.status}); try again later."
    return None


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Alerts(GuildGroupCog, name="alerts", description="Unusual insider trade alerts for this server"):
    @app_commands.command(name="channel", description="Post alerts in this channel (and turn them on)")
    @app_commands.describe(channel="A text channel the bot can post in")
    @require_manage_guild()
    async def channel(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        problem = await _post_check(channel, "📣 insiderflow will post unusual insider trades here.")
        if problem:
            await send_error(interaction, problem)
            return
        await bot_of(interaction).store.guilds.update_settings(
            interaction.guild_id, alert_channel_id=channel.id, alerts_enabled=True, alerts_paused_reason=None  # type: ignore[arg-type]
        )
        await interaction.followup.send(f"Alerts are on and go to {channel.mention}.", ephemeral=True)

    @app_commands.command(name="settings", description="How alerts are chosen; leave options empty to just show them")
    @app_commands.describe(
        min_value="Smallest trade to alert on, in US dollars (default 1,000,000)",
        sensitivity="quiet: only strong signals; normal; everything: every sale above the minimum",
        purchases="Alert on unusual purchases too",
        scope="Only the watchlist, or every issuer in the store",
        ping_role="A role to mention in alerts (members opt in by taking the role)",
        daily_cap="At most this many alerts a day; the rest go to the digest",
        digest_hour="Hour (UTC, 0-23) for the daily digest; -1 turns it off",
        mute="A ticker to mute (or unmute, if already muted)",
    )
    @app_commands.choices(
        sensitivity=[app_commands.Choice(name=s, value=s) for s in SENSITIVITIES],
        scope=[app_commands.Choice(name="watchlist only", value="watchlist"),
               app_commands.Choice(name="all stored issuers", value="all")],
    )
    @require_manage_guild()
    async def settings(
        self,
        interaction: discord.Interaction,
        min_value: app_commands.Range[int, 0, 10_000_000_000] | None = None,
        sensitivity: app_commands.Choice[str] | None = None,
        purchases: bool | None = None,
        scope: app_commands.Choice[str] | None = None,
        ping_role: discord.Role | None = None,
        daily_cap: app_commands.Range[int, 1, 100] | None = None,
        digest_hour: app_commands.Range[int, -1, 23] | None = None,
        mute: app_commands.Range[str, 1, 12] | None = None,
    ) -> None:
        store = bot_of(interaction).store
        current = await store.guilds.settings(interaction.guild_id)  # type: ignore[arg-type]
        changes: dict[str, object] = {}
        if min_value is not None:
            changes["alert_min_value_cents"] = min_value * 100
        if sensitivity is not None:
            changes["alert_sensitivity"] = sensitivity.value
        if purchases is not None:
            changes["alert_purchases"] = purchases
        if scope is not None:
            changes["alert_scope"] = scope.value
        if ping_role is not None:
            if ping_role.is_default():
                await send_error(interaction, "Pick a role members opt into, not @everyone.")
                return
            changes["alert_ping_role_id"] = ping_role.id
        if daily_cap is not None:
            changes["alert_daily_cap"] = daily_cap
        if digest_hour is not None:
            changes["alert_digest_hour"] = None if digest_hour < 0 else digest_hour
        if mute is not None:
            ticker = mute.strip().upper().lstrip("$")
            if not ticker.replace(".", "").replace("-", "").isalnum():
                await send_error(interaction, "That doesn't look like a ticker.")
                return
            muted = current.muted ^ {ticker}
            changes["muted_tickers"] = ",".join(sorted(muted))
        updated = await store.guilds.update_settings(interaction.guild_id, **changes) if changes else current  # type: ignore[arg-type]
        reply = Reply(title="Alert settings" + (" updated" if changes else ""), fields=_settings_fields(updated),
                      as_of=as_of_line(await store.trades.newest_acceptance()), ephemeral=True)
        await send_reply(interaction, reply)

    @app_commands.command(name="status", description="Are alerts flowing? Channel, watcher lag, last poll")
    @require_manage_guild()
    async def status(self, interaction: discord.Interaction) -> None:
        from bot.alerts.engine import alert_status

        store = bot_of(interaction).store
        settings = await store.guilds.settings(interaction.guild_id)  # type: ignore[arg-type]
        newest = await store.trades.newest_acceptance()
        fields = _settings_fields(settings)[:3]
        lines = await alert_status(store, interaction.guild_id)  # type: ignore[arg-type]
        fields.append(ReplyField("Watcher and outbox", "\n".join(lines), inline=False))
        reply = Reply(title="Alert status", fields=fields, as_of=as_of_line(newest), ephemeral=True)
        if settings.alerts_paused_reason:
            reply.description = f"⚠️ Alerts are paused: {settings.alerts_paused_reason}. Fix it, then run /alerts channel."
        await send_reply(interaction, reply)

    @app_commands.command(name="test", description="Post a sample alert in the alert channel")
    @require_manage_guild()
    async def test(self, interaction: discord.Interaction) -> None:
        store = bot_of(interaction).store
        settings = await store.guilds.settings(interaction.guild_id)  # type: ignore[arg-type]
        channel = interaction.guild.get_channel(settings.alert_channel_id) if (  # type: ignore[union-attr]
            settings.alert_channel_id and interaction.guild) else None
        if channel is None:
            await send_error(interaction, "No alert channel yet (or it was deleted): set one with /alerts channel.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        problem = await _post_check(channel, "🧪 Test alert from insiderflow: alerts will look like this channel's "
                                    "next unusual insider sale, with the reasons written out.")
        if problem:
            await store.guilds.update_settings(interaction.guild_id, alerts_paused_reason=problem)  # type: ignore[arg-type]
            await send_error(interaction, problem + " Alerts are paused until the channel works.")
            return
        await interaction.followup.send(f"Posted a test alert in {channel.mention}.", ephemeral=True)

    @app_commands.command(name="off", description="Stop posting alerts in this server")
    @require_manage_guild()
    async def off(self, interaction: discord.Interaction) -> None:
        await bot_of(interaction).store.guilds.update_settings(interaction.guild_id, alerts_enabled=False)  # type: ignore[arg-type]
        await interaction.response.send_message("Alerts are off. /alerts channel turns them back on.", ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Alerts(bot))

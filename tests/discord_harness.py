"""Drive the real discord.py against tests/discord_fake.py: log in, feed INTERACTION_CREATE, await replies.

This is the only module allowed to touch discord.py internals. They are few and checked against the
installed version at import, so a discord.py upgrade fails here, loudly, instead of deep inside a test:

* ``discord.http.Route.BASE``: every REST URL, including the webhook adapter behind interaction
  responses and ``interaction.followup`` (it builds ``discord.http.Route`` too), is ``Route.BASE + path``.
* ``client._connection.parsers["INTERACTION_CREATE"]``: the function the gateway calls for that event;
  it builds the ``Interaction`` and hands it to the command tree or the view store.
* ``ConnectionState._add_guild_from_data``: caches a guild the way GUILD_CREATE would, without the
  member chunking a real GUILD_CREATE may start over the (absent) websocket.

Usage (see tests/test_discord_harness.py)::

    async with open_discord_env() as env:
        bot = await env.login(MyBot())
        iid = env.dispatch(env.slash("price", {"ticker": "AAPL"}))
        reply = await env.wait_response(iid)
        assert reply.callback_type == 4 and reply.content == "..."

or request the ``discord_env`` fixture after adding ``pytest_plugins = ("tests.discord_harness",)`` to the
top-level conftest.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
import pytest
from discord import app_commands

from tests.discord_fake import (
    APPLICATION_COMMAND,
    APPLICATION_ID,
    AUTOCOMPLETE,
    DEFAULT_CHANNEL_ID,
    DEFAULT_GUILD_ID,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    FakeDiscord,
    RecordedRequest,
    iter_violation_lines,
    make_snowflake,
    user_payload,
)

SUPPORTED_DISCORD = (2, 7)


def check_discord_version(version: Any = discord.version_info) -> None:
    """Refuse to run against a discord.py whose internals these hooks were not checked against."""
    if (version.major, version.minor) != SUPPORTED_DISCORD:
        raise RuntimeError(
            f"tests/discord_harness.py uses discord.py internals verified on 2.7.x (Route.BASE, "
            f"ConnectionState.parsers['INTERACTION_CREATE'], ConnectionState._add_guild_from_data); "
            f"found {version.major}.{version.minor}.{version.micro}. Re-check those hooks, then update "
            f"SUPPORTED_DISCORD."
        )


check_discord_version()

DEFAULT_USER_ID = 1_230_000_000_000_000_300
OTHER_USER_ID = 1_230_000_000_000_000_301
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024

# What an ordinary member has in an ordinary channel, and what a bot invited with the usual scopes has.
MEMBER_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
    use_application_commands=True,
    send_messages_in_threads=True,
    create_public_threads=True,
)
APP_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
    send_messages_in_threads=True,
)

PermissionsLike = discord.Permissions | int | str | None
ClientT = TypeVar("ClientT", bound=discord.Client)


# -- option values that need `resolved` data ----------------------------------------------------------


@dataclass(frozen=True)
class UserOpt:
    id: int
    username: str = "someone"
    permissions: PermissionsLike = None  # a member's permissions in the channel (guild only)


@dataclass(frozen=True)
class ChannelOpt:
    id: int
    name: str = "some-channel"
    type: int = 0  # 0 text, 2 voice, 4 category, 5 news, 11 public thread, 15 forum
    parent_id: int | None = None
    permissions: PermissionsLike = None  # the invoking member's permissions there


@dataclass(frozen=True)
class RoleOpt:
    id: int
    name: str = "some-role"
    permissions: PermissionsLike = 0


@dataclass(frozen=True)
class AttachmentOpt:
    filename: str
    size: int = 1024
    content_type: str = "text/csv"
    id: int = field(default_factory=make_snowflake)


_OPTION_TYPE_BY_MARKER = {UserOpt: 6, ChannelOpt: 7, RoleOpt: 8, AttachmentOpt: 11}


def _perm_str(value: PermissionsLike, default: discord.Permissions) -> str:
    if value is None:
        return str(default.value)
    if isinstance(value, discord.Permissions):
        return str(value.value)
    return str(int(value))


def _infer_type(value: Any) -> int:
    for marker, option_type in _OPTION_TYPE_BY_MARKER.items():
        if isinstance(value, marker):
            return option_type
    if isinstance(value, bool):  # before int: bool is an int subclass
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _build_options(
    options: Mapping[str, Any] | None,
    option_types: Mapping[str, int],
    *,
    guild_id: int | None,
    focused: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Discord's ``data.options`` list plus the ``resolved`` map for users, channels, roles, files."""
    built: list[dict[str, Any]] = []
    resolved: dict[str, dict[str, Any]] = {}
    for name, value in (options or {}).items():
        if isinstance(value, Mapping) and "type" in value:  # a raw option dict: the test knows best
            built.append({"name": name, **value})
            continue
        option_type = option_types.get(name) or _infer_type(value)
        option: dict[str, Any] = {"name": name, "type": option_type}
        if name == focused:
            # Autocomplete sends what the user has typed so far, always as text.
            option.update(value=str(value), focused=True)
        elif option_type in (6, 7, 8, 9, 11):
            option["value"] = _resolve(option_type, value, resolved, guild_id=guild_id)
        elif option_type == 4:
            option["value"] = int(value)
        elif option_type == 10:
            option["value"] = value if isinstance(value, int | float) else float(value)
        elif option_type == 5:
            option["value"] = bool(value)
        else:
            option["value"] = str(value)
        built.append(option)
    return built, resolved


def _resolve(
    option_type: int, value: Any, resolved: dict[str, dict[str, Any]], *, guild_id: int | None
) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = {6: UserOpt, 7: ChannelOpt, 8: RoleOpt, 9: UserOpt}.get(option_type, UserOpt)(value)
    if isinstance(value, UserOpt):
        resolved.setdefault("users", {})[str(value.id)] = user_payload(value.id, value.username)
        if guild_id is not None:
            member = _member(None, value.permissions)
            resolved.setdefault("members", {})[str(value.id)] = member
        return str(value.id)
    if isinstance(value, ChannelOpt):
        channel: dict[str, Any] = {
            "id": str(value.id),
            "name": value.name,
            "type": value.type,
            "permissions": _perm_str(value.permissions, MEMBER_PERMISSIONS),
            "flags": 0,
        }
        if value.type in (10, 11, 12):  # threads carry their parent and metadata
            channel.update(
                parent_id=str(value.parent_id or DEFAULT_CHANNEL_ID),
                owner_id=str(DEFAULT_USER_ID),
                member_count=1,
                message_count=0,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": "2025-01-02T03:04:05.000000+00:00",
                    "locked": False,
                },
            )
        elif value.parent_id is not None:
            channel["parent_id"] = str(value.parent_id)
        resolved.setdefault("channels", {})[str(value.id)] = channel
        return str(value.id)
    if isinstance(value, RoleOpt):
        resolved.setdefault("roles", {})[str(value.id)] = {
            "id": str(value.id),
            "name": value.name,
            "permissions": _perm_str(value.permissions, discord.Permissions.none()),
            "position": 1,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": True,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        return str(value.id)
    if isinstance(value, AttachmentOpt):
        url = f"https://cdn.discordapp.com/ephemeral-attachments/{DEFAULT_CHANNEL_ID}/{value.id}/{value.filename}"
        resolved.setdefault("attachments", {})[str(value.id)] = {
            "id": str(value.id),
            "filename": value.filename,
            "size": value.size,
            "url": url,
            "proxy_url": url,
            "content_type": value.content_type,
            "ephemeral": True,
        }
        return str(value.id)
    raise TypeError(f"option type {option_type} needs UserOpt/ChannelOpt/RoleOpt/AttachmentOpt or an id")


def _member(user: dict[str, Any] | None, permissions: PermissionsLike) -> dict[str, Any]:
    member: dict[str, Any] = {
        "roles": [],
        "premium_since": None,
        "permissions": _perm_str(permissions, MEMBER_PERMISSIONS),
        "pending": False,
        "nick": None,
        "mute": False,
        "joined_at": "2024-01-02T03:04:05.000000+00:00",
        "is_pending": False,
        "deaf": False,
        "flags": 0,
        "avatar": None,
        "banner": None,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
    }
    if user is not None:
        member["user"] = user
    return member


def _nest_subcommand(subcommand: str | None, options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``"sub"`` or ``"group sub"`` wraps the options in sub-command (1) / group (2) options."""
    if not subcommand:
        return options
    parts = subcommand.split()
    nested: list[dict[str, Any]] = [{"type": 1, "name": parts[-1], "options": options}]
    for group in reversed(parts[:-1]):
        nested = [{"type": 2, "name": group, "options": nested}]
    return nested


def interaction_payload(
    interaction_type: int,
    data: dict[str, Any] | None,
    *,
    guild_id: int | None = DEFAULT_GUILD_ID,
    channel_id: int = DEFAULT_CHANNEL_ID,
    channel_name: str = "general",
    user_id: int = DEFAULT_USER_ID,
    username: str = "tester",
    permissions: PermissionsLike = None,
    app_permissions: PermissionsLike = None,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    application_id: int = APPLICATION_ID,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The INTERACTION_CREATE envelope as Discord sends it today (guild: ``member``; DM: ``user``)."""
    user = user_payload(user_id, username)
    payload: dict[str, Any] = {
        "id": str(make_snowflake()),
        "application_id": str(application_id),
        "type": interaction_type,
        "token": f"fake-interaction-token-{make_snowflake()}",
        "version": 1,
        "locale": locale,
        "app_permissions": _perm_str(app_permissions, APP_PERMISSIONS),
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": MAX_ATTACHMENT_BYTES,
        "channel_id": str(channel_id),
    }
    if data is not None:
        payload["data"] = data
    if guild_id is not None:
        member = _member(user, permissions)
        payload.update(
            guild_id=str(guild_id),
            guild_locale=guild_locale,
            guild={"id": str(guild_id), "locale": guild_locale, "features": []},
            member=member,
            context=0,  # GUILD
            authorizing_integration_owners={"0": str(guild_id)},
            channel={
                "id": str(channel_id),
                "type": 0,
                "guild_id": str(guild_id),
                "name": channel_name,
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "topic": None,
                "rate_limit_per_user": 0,
                "parent_id": None,
                "last_message_id": None,
                "flags": 0,
                "permissions": member["permissions"],
            },
        )
    else:
        payload.update(
            user=user,
            context=1,  # BOT_DM
            authorizing_integration_owners={"0": "0"},
            channel={
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user],
            },
        )
    if message is not None:
        payload["message"] = message
    return payload


def slash(
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    subcommand: str | None = None,
    option_types: Mapping[str, int] | None = None,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    focused: str | None = None,
    interaction_type: int = APPLICATION_COMMAND,
    **envelope: Any,
) -> dict[str, Any]:
    """A CHAT_INPUT application command interaction.

    ``options`` maps option names to values; types are inferred (bool 5, int 4, float 10, str 3,
    ``UserOpt`` 6, ``ChannelOpt`` 7, ``RoleOpt`` 8, ``AttachmentOpt`` 11) unless ``option_types`` says
    otherwise (``DiscordEnv.slash`` fills it from the bot's command tree). ``guild_id=None`` sends a DM
    interaction. Remaining keywords go to :func:`interaction_payload`.
    """
    guild_id = envelope.get("guild_id", DEFAULT_GUILD_ID)
    built, resolved = _build_options(options, option_types or {}, guild_id=guild_id, focused=focused)
    data: dict[str, Any] = {
        "id": str(command_id or make_snowflake()),
        "name": name,
        "type": 1,
        "options": _nest_subcommand(subcommand, built),
    }
    if resolved:
        data["resolved"] = resolved
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return interaction_payload(interaction_type, data, **envelope)


def autocomplete(
    name: str,
    focused: str,
    value: str = "",
    options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE (type 4) interaction with ``focused`` being typed as ``value``."""
    merged = {**(options or {}), focused: value}
    return slash(name, merged, focused=focused, interaction_type=AUTOCOMPLETE, **kwargs)


def component(
    custom_id: str,
    message: dict[str, Any],
    *,
    component_type: int = 2,
    values: Sequence[str] | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    """A MESSAGE_COMPONENT (type 3) interaction: a click on ``custom_id`` in ``message`` (a message object,
    e.g. from ``FakeDiscord.messages``). ``component_type`` 2 is a button, 3 a string select."""
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = list(values)
    envelope.setdefault("channel_id", int(message["channel_id"]))
    return interaction_payload(MESSAGE_COMPONENT, data, message=copy.deepcopy(message), **envelope)


def modal_submit(
    custom_id: str,
    fields: Mapping[str, str],
    *,
    message: dict[str, Any] | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    """A MODAL_SUBMIT (type 5) interaction with text inputs ``{custom_id: value}``, each in a Label."""
    components = [
        {"type": 18, "id": i + 1, "component": {"type": 4, "id": i + 100, "custom_id": cid, "value": value}}
        for i, (cid, value) in enumerate(fields.items())
    ]
    data = {"custom_id": custom_id, "components": components}
    return interaction_payload(MODAL_SUBMIT, data, message=message, **envelope)


REQUIRED_KEYS = ("id", "application_id", "type", "token", "version", "attachment_size_limit")


# -- the environment ----------------------------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Keeps ERROR records (tracebacks from command and view callbacks) for diagnostics and teardown."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class DiscordEnv:
    """A fake Discord, the clients logged in to it, and helpers to talk to them."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.clients: list[discord.Client] = []
        self._errors = _ErrorLog()

    # -- clients -----------------------------------------------------------------------------------------

    async def login(
        self, client: ClientT, *, token: str | None = None, populate_guilds: bool = True
    ) -> ClientT:
        """Log ``client`` in over HTTP (which runs its ``setup_hook``), without any gateway.

        ``populate_guilds`` caches the fake's guilds as GUILD_CREATE would after connecting, so
        ``interaction.guild`` and ``interaction.channel`` are full objects, not placeholders.
        """
        self.clients.append(client)  # closed at teardown even if login fails
        await client.login(self.fake.token if token is None else token)
        if populate_guilds:
            state = client._connection
            for guild_id in self.fake.guilds:
                state._add_guild_from_data(self.fake.guild_create_payload(guild_id))  # type: ignore[arg-type]
        return client

    @property
    def bot(self) -> discord.Client:
        if not self.clients:
            raise RuntimeError("no client yet: await env.login(bot) first")
        return self.clients[-1]

    def add_guild(
        self, guild_id: int, *, name: str = "Test Guild", channels: Sequence[tuple[int, str]] = ()
    ) -> None:
        """A guild (and text channels) in the fake and in every logged-in client's cache."""
        self.fake.add_guild(guild_id, name=name)
        for channel_id, channel_name in channels:
            self.fake.add_channel(channel_id, guild_id=guild_id, name=channel_name)
        self._recache_guild(guild_id)

    def add_channel(
        self, channel_id: int, *, name: str, guild_id: int = DEFAULT_GUILD_ID, type: int = 0
    ) -> None:
        """A guild channel in the fake and in the clients' caches (GUILD_CREATE/CHANNEL_CREATE would do that)."""
        self.fake.add_channel(channel_id, guild_id=guild_id, name=name, type=type)
        self._recache_guild(guild_id)

    def _recache_guild(self, guild_id: int) -> None:
        for client in self.clients:
            client._connection._add_guild_from_data(self.fake.guild_create_payload(guild_id))  # type: ignore[arg-type]

    def dispatch(self, payload: Mapping[str, Any], *, client: discord.Client | None = None) -> int:
        """Deliver an INTERACTION_CREATE as the gateway would; returns the interaction id.

        The handling runs in tasks discord.py creates; await ``wait_response`` & co for its effects.
        """
        missing = [key for key in REQUIRED_KEYS if key not in payload]
        if missing:
            raise ValueError(
                f"interaction payload lacks {missing}, which discord.py 2.7 reads unconditionally"
            )
        target = client or self.bot
        record = self.fake.register_interaction(payload)
        # A copy: discord.py mutates parts of the payload (resolved members) while parsing.
        target._connection.parsers["INTERACTION_CREATE"](copy.deepcopy(dict(payload)))
        return record.id

    # -- builders bound to the logged-in bot ------------------------------------------------------------

    def _command_context(
        self, name: str, subcommand: str | None, guild_id: int | None
    ) -> tuple[dict[str, int], int | None, int | None]:
        """Option types from the bot's tree, plus the synced command id and the guild it is registered in."""
        tree: app_commands.CommandTree[Any] | None = getattr(self.bot, "tree", None)
        if tree is None:
            return {}, None, None
        command: Any = None
        command_guild_id: int | None = None
        if guild_id is not None:
            command = tree.get_command(name, guild=discord.Object(guild_id))
            command_guild_id = guild_id if command is not None else None
        if command is None:
            command = tree.get_command(name)
        if command is None:
            return {}, None, None
        for part in (subcommand or "").split():
            if not isinstance(command, app_commands.Group):
                raise TypeError(f"/{name} has no sub-command {subcommand!r}")
            command = command.get_command(part)
            if command is None:
                raise ValueError(f"/{name} has no sub-command {subcommand!r}")
        if isinstance(command, app_commands.Group):
            raise TypeError(f"/{name} is a group: pass subcommand=")
        types = {p.name: p.type.value for p in command.parameters}
        synced_id = self.fake.command_id(name, guild_id=command_guild_id)
        return types, synced_id, command_guild_id

    def _check_option_names(
        self, name: str, types: Mapping[str, int], options: Mapping[str, Any] | None
    ) -> None:
        unknown = sorted(set(options or {}) - set(types))
        if types and unknown:
            raise ValueError(f"/{name} has no option(s) {unknown}; it takes {sorted(types)}")

    def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        subcommand: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """:func:`slash` with option types, command id and guild taken from the logged-in bot's tree."""
        guild_id = kwargs.get("guild_id", DEFAULT_GUILD_ID)
        types, command_id, command_guild_id = self._command_context(name, subcommand, guild_id)
        self._check_option_names(name, types, options)
        # A channel a member can pick exists in the guild, so the bot has it cached; discord.py's
        # TextChannel/VoiceChannel transformers resolve from that cache, not from `resolved`.
        picked = [
            v for v in (options or {}).values() if isinstance(v, ChannelOpt) and v.type not in (10, 11, 12)
        ]
        for channel in picked:
            if guild_id is not None and channel.id not in self.fake.channels:
                self.add_channel(channel.id, name=channel.name, guild_id=guild_id, type=channel.type)
        kwargs.setdefault("application_id", self.fake.application_id)
        return slash(
            name,
            options,
            subcommand=subcommand,
            option_types={**types, **kwargs.pop("option_types", {})},
            command_id=kwargs.pop("command_id", command_id),
            command_guild_id=kwargs.pop("command_guild_id", command_guild_id),
            **kwargs,
        )

    def autocomplete(
        self,
        name: str,
        focused: str,
        value: str = "",
        options: Mapping[str, Any] | None = None,
        *,
        subcommand: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        merged = {**(options or {}), focused: value}
        return self.slash(
            name, merged, subcommand=subcommand, focused=focused, interaction_type=AUTOCOMPLETE, **kwargs
        )

    def component(self, custom_id: str, message_id: int, **kwargs: Any) -> dict[str, Any]:
        """A click on ``custom_id`` in a message the bot sent through the fake."""
        message = self.fake.messages.get(message_id)
        if message is None:
            raise KeyError(f"the fake has no message {message_id}")
        kwargs.setdefault("application_id", self.fake.application_id)
        return component(custom_id, message, **kwargs)

    def modal_submit(self, custom_id: str, fields: Mapping[str, str], **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("application_id", self.fake.application_id)
        return modal_submit(custom_id, fields, **kwargs)

    # -- awaiting what the bot did --------------------------------------------------------------------

    def _token(self, interaction_id: int) -> str:
        return self.fake.interactions[interaction_id].token

    async def _wait(self, *args: Any, **kwargs: Any) -> RecordedRequest:
        try:
            return await self.fake.wait_for(*args, **kwargs)
        except AssertionError as exc:
            errors = "\n".join(self._errors.format(r) for r in self._errors.records)
            if errors:
                raise AssertionError(f"{exc}\nerrors logged meanwhile:\n{errors}") from None
            raise

    async def wait_response(
        self, interaction_id: int, *, nth: int = 1, timeout: float = 5.0
    ) -> RecordedRequest:
        """The interaction callback (initial response) the bot sent, whatever its status."""
        path = rf"/interactions/{interaction_id}/[^/]+/callback"
        return await self._wait("POST", path, interaction_id=interaction_id, nth=nth, timeout=timeout)

    async def wait_followup(
        self, interaction_id: int, *, nth: int = 1, timeout: float = 5.0
    ) -> RecordedRequest:
        """The ``nth`` follow-up message (POST to the interaction webhook)."""
        path = rf"/webhooks/\d+/{self._token_re(interaction_id)}"
        return await self._wait("POST", path, interaction_id=interaction_id, nth=nth, timeout=timeout)

    async def wait_edit(self, interaction_id: int, *, nth: int = 1, timeout: float = 5.0) -> RecordedRequest:
        """The ``nth`` edit of the original response (``edit_original_response``, after a defer)."""
        path = rf"/webhooks/\d+/{self._token_re(interaction_id)}/messages/@original"
        return await self._wait("PATCH", path, interaction_id=interaction_id, nth=nth, timeout=timeout)

    async def wait_reply(self, interaction_id: int, *, timeout: float = 5.0) -> RecordedRequest:
        """The first request that carries a visible message for the interaction, however it was sent:
        a type 4/7 callback, an edit of the original after a defer, or a follow-up."""

        def carries_message(r: RecordedRequest) -> bool:
            if r.callback_type is not None:
                return r.callback_type in (4, 7)
            return (r.method == "PATCH" and r.path.endswith("/@original")) or (
                r.method == "POST" and r.path.startswith("/webhooks/")
            )

        return await self._wait(interaction_id=interaction_id, predicate=carries_message, timeout=timeout)

    def _token_re(self, interaction_id: int) -> str:
        return re.escape(self._token(interaction_id))

    @property
    def errors(self) -> list[logging.LogRecord]:
        return list(self._errors.records)

    def take_errors(self) -> list[logging.LogRecord]:
        """Return (and forget) logged errors, so an expected one does not fail the test at teardown."""
        taken, self._errors.records = self._errors.records, []
        return taken

    def problems(self) -> str:
        """What strict teardown would complain about, as text ('' when clean)."""
        parts = []
        if self.fake.violations:
            parts.append("Discord rules broken:\n" + iter_violation_lines(self.fake.violations))
        if self.fake.unhandled:
            routes = "\n".join(f"  {r.method} {r.path}" for r in self.fake.unhandled)
            parts.append("routes the fake does not implement (add them to tests/discord_fake.py):\n" + routes)
        if self.fake.crashes:
            parts.append("the fake itself failed on:\n" + "\n".join(self.fake.crashes))
        if self._errors.records:
            parts.append("errors logged:\n" + "\n".join(self._errors.format(r) for r in self._errors.records))
        return "\n".join(parts)


@asynccontextmanager
async def open_discord_env(*, strict: bool = True, **fake_options: Any) -> AsyncIterator[DiscordEnv]:
    """Start a fake Discord, point discord.py at it, and undo everything afterwards.

    With ``strict`` a clean exit fails the test if any Discord rule was broken, an unknown route was hit or
    an error was logged, unless the test took them (``fake.take_violations()``, ``env.take_errors()``).
    ``fake_options`` go to :class:`FakeDiscord` (``response_deadline=0.3`` and so on).
    """
    fake = FakeDiscord(**fake_options)
    await fake.start()
    env = DiscordEnv(fake)
    previous_base = discord.http.Route.BASE
    discord.http.Route.BASE = fake.api_base
    root = logging.getLogger()
    root.addHandler(env._errors)
    clean_exit = False
    try:
        yield env
        clean_exit = True
    finally:
        try:
            for client in reversed(env.clients):
                await client.close()
        finally:
            root.removeHandler(env._errors)
            discord.http.Route.BASE = previous_base
            await fake.close()
    if strict and clean_exit and (report := env.problems()):
        pytest.fail(report, pytrace=False)


@pytest.fixture
async def discord_env() -> AsyncIterator[DiscordEnv]:
    """Strict :func:`open_discord_env` with Discord's real deadlines."""
    async with open_discord_env() as env:
        yield env

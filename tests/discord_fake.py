"""A local fake of Discord's HTTP API for end-to-end tests (STYLE.md, Tests, layer 3).

The real discord.py talks to this server over 127.0.0.1 exactly as it would talk to discord.com: login,
application info, interaction callbacks, webhook follow-ups, channel messages, command sync. Every request
is recorded so a test can *await* the one it expects (never sleep), and the fake answers the way Discord
does when a bot breaks one of Discord's rules (message limits, the 3 s first-response deadline, double
acknowledgement, follow-ups outside the 15 minute window): a 4xx body shaped like Discord's, plus an entry
in ``violations`` so the test fails even when the bot swallows the HTTP error.

Nothing here imports discord.py: the fake is the other side of the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Self

from aiohttp import BodyPartReader, web

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000

# Ids shared with tests/discord_harness.py; for a bot, application id == bot user id.
APPLICATION_ID = 1_230_000_000_000_000_001
OWNER_ID = 1_230_000_000_000_000_002
DEFAULT_GUILD_ID = 1_230_000_000_000_000_100
DEFAULT_CHANNEL_ID = 1_230_000_000_000_000_200

# Discord's @everyone defaults for a new server: view, send, embed, attach, history, react, external
# emojis, application commands, threads, voice connect/speak, nickname, invites.
EVERYONE_PERMISSIONS = 311455763521

EPHEMERAL = 1 << 6
LOADING = 1 << 7  # the "Bot is thinking..." message after a deferred response
IS_COMPONENTS_V2 = 1 << 15

# Interaction types (what Discord sends) and callback types (what the bot answers).
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE = 4, 5, 6
UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 7, 8, 9
_ALLOWED_CALLBACKS: dict[int, set[int]] = {
    PING: {1},
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE},
}

_snowflake_counter = itertools.count()


def make_snowflake() -> int:
    """A snowflake for *now*: discord.py derives created_at (and interaction expiry) from the id."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (1 << 17) | (next(_snowflake_counter) & 0xFFF)


def _iso_now() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(user_id: int, username: str, *, bot: bool = False) -> dict[str, Any]:
    """A user object as Discord serialises it in 2025 (discriminator "0" after the username migration)."""
    data: dict[str, Any] = {
        "id": str(user_id),
        "username": username,
        "global_name": None if bot else username.title(),
        "discriminator": "0",
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "primary_guild": None,
    }
    if bot:
        data["bot"] = True
    return data


@dataclass(frozen=True)
class RecordedFile:
    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class Violation:
    """A rule of Discord's the bot broke; kinds: limit, late, acknowledged, invalid_callback,
    followup_before_response, followup_expired, unknown_interaction, command."""

    kind: str
    detail: str
    method: str
    path: str
    interaction_id: int | None


@dataclass
class RecordedRequest:
    index: int
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any  # the JSON body, or the parsed payload_json of a multipart body
    files: list[RecordedFile]
    timestamp: float  # time.monotonic() at arrival
    interaction_id: int | None
    authorized: bool
    status: int = 0
    response: Any = None
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def callback_type(self) -> int | None:
        """The interaction callback type (4 message, 5 defer, 6 deferred update, 7 update, 8, 9)."""
        if self.path.endswith("/callback") and isinstance(self.json, dict):
            return self.json.get("type")
        return None

    @property
    def message(self) -> dict[str, Any]:
        """The message-shaped part of the body: ``data`` of a callback, the body itself otherwise."""
        if not isinstance(self.json, dict):
            return {}
        if self.callback_type is not None:
            return self.json.get("data") or {}
        return self.json

    @property
    def content(self) -> str | None:
        return self.message.get("content")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.message.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.message.get("components") or []

    @property
    def flags(self) -> int:
        return int(self.message.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    def file(self, filename: str) -> RecordedFile:
        for recorded in self.files:
            if recorded.filename == filename:
                return recorded
        raise KeyError(
            f"no file {filename!r} in {self.method} {self.path}; got {[f.filename for f in self.files]}"
        )

    def describe(self) -> str:
        extra = f" iid={self.interaction_id}" if self.interaction_id else ""
        cb = f" type={self.callback_type}" if self.callback_type is not None else ""
        return f"#{self.index} {self.method} {self.path} -> {self.status}{cb}{extra}"


@dataclass
class InteractionRecord:
    """What the fake remembers about one dispatched interaction, to judge the bot's answers."""

    id: int
    token: str
    type: int
    application_id: int
    channel_id: int | None
    guild_id: int | None
    user: dict[str, Any]
    name: str | None
    source_message_id: int | None  # the message a component/modal interaction came from
    dispatched_at: float
    response_type: int | None = None
    responded_at: float | None = None
    original_message_id: int | None = None
    loading_pending: bool = False  # deferred 5: the first follow-up replaces the loading message

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None


@dataclass
class _FailureRule:
    method: str | None
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    remaining: int | None  # None = until cleared
    retry_after: float | None = None
    is_global: bool = False


class _Rejected(Exception):
    """Raised inside a handler to answer with a Discord-shaped error."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, code: int, message: str) -> _Rejected:
    return _Rejected(status, {"message": message, "code": code})


def _form_error(problems: list[tuple[str, str, str]]) -> _Rejected:
    """Discord's 50035 body: errors nested along the field path, leaves holding ``_errors``."""
    errors: dict[str, Any] = {}
    for path, code, message in problems:
        node = errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return _Rejected(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})


# ---------------------------------------------------------------------------------------------------------
# Limits (https://discord.com/developers/docs/resources/message, .../interactions/receiving-and-responding)

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_AUTHOR_NAME = 256
MAX_EMBED_TOTAL = 6000
MAX_CUSTOM_ID = 100
MAX_CHOICES = 25
MAX_CHOICE_LEN = 100
MAX_ATTACHMENTS = 10
MAX_ACTION_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_BUTTON_LABEL = 80
MAX_SELECT_OPTIONS = 25
MAX_MODAL_TITLE = 45
MAX_NONCE = 25
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")

Problem = tuple[str, str, str]  # (field path, Discord error code, message)


def _too_long(path: str, value: Any, limit: int) -> Problem | None:
    if isinstance(value, str) and len(value) > limit:
        return (path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length. (got {len(value)})")
    return None


def embed_length(embed: Mapping[str, Any]) -> int:
    """Characters Discord counts toward the 6000 per-message total."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for fld in embed.get("fields") or []:
        total += len(fld.get("name") or "") + len(fld.get("value") or "")
    return total


def check_embeds(embeds: list[Mapping[str, Any]], prefix: str = "embeds") -> list[Problem]:
    problems: list[Problem | None] = []
    if len(embeds) > MAX_EMBEDS:
        problems.append((prefix, "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."))
    for i, embed in enumerate(embeds):
        at = f"{prefix}.{i}"
        problems.append(_too_long(f"{at}.title", embed.get("title"), MAX_EMBED_TITLE))
        problems.append(_too_long(f"{at}.description", embed.get("description"), MAX_EMBED_DESCRIPTION))
        problems.append(_too_long(f"{at}.footer.text", (embed.get("footer") or {}).get("text"), MAX_FOOTER))
        problems.append(
            _too_long(f"{at}.author.name", (embed.get("author") or {}).get("name"), MAX_AUTHOR_NAME)
        )
        fields = embed.get("fields") or []
        if len(fields) > MAX_EMBED_FIELDS:
            problems.append(
                (f"{at}.fields", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBED_FIELDS} or fewer in length.")
            )
        for j, fld in enumerate(fields):
            for key, limit in (("name", MAX_FIELD_NAME), ("value", MAX_FIELD_VALUE)):
                value = fld.get(key)
                if not value:
                    problems.append(
                        (f"{at}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
                    )
                problems.append(_too_long(f"{at}.fields.{j}.{key}", value, limit))
    total = sum(embed_length(e) for e in embeds)
    if total > MAX_EMBED_TOTAL:
        problems.append(
            (prefix, "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of 6000 (got {total})")
        )
    return [p for p in problems if p is not None]


def check_components(
    components: list[Mapping[str, Any]], *, v2: bool, prefix: str = "components"
) -> list[Problem]:
    problems: list[Problem | None] = []
    seen: set[str] = set()

    def visit(component: Mapping[str, Any], at: str) -> None:
        custom_id = component.get("custom_id")
        if custom_id is not None:
            problems.append(_too_long(f"{at}.custom_id", custom_id, MAX_CUSTOM_ID))
            if custom_id in seen:
                problems.append(
                    (
                        f"{at}.custom_id",
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                )
            seen.add(custom_id)
        ctype = component.get("type")
        if ctype == 2:  # button: everything but link (5) and premium (6) buttons needs a custom_id
            problems.append(_too_long(f"{at}.label", component.get("label"), MAX_BUTTON_LABEL))
            if component.get("style") not in (5, 6) and not custom_id:
                problems.append((f"{at}.custom_id", "BASE_TYPE_REQUIRED", "This field is required"))
        if ctype == 3 and len(component.get("options") or []) > MAX_SELECT_OPTIONS:
            problems.append(
                (f"{at}.options", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_SELECT_OPTIONS} or fewer in length.")
            )
        children = component.get("components") or []
        if ctype == 1 and len(children) > MAX_ROW_ITEMS:
            problems.append(
                (f"{at}.components", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ROW_ITEMS} or fewer in length.")
            )
        for k, child in enumerate(children):
            visit(child, f"{at}.components.{k}")
        for key in ("accessory", "component"):  # v2 section accessory, label child
            if isinstance(component.get(key), Mapping):
                visit(component[key], f"{at}.{key}")

    if not v2 and len(components) > MAX_ACTION_ROWS:
        problems.append((prefix, "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ACTION_ROWS} or fewer in length."))
    for i, component in enumerate(components):
        visit(component, f"{prefix}.{i}")
    return [p for p in problems if p is not None]


def check_message(
    payload: Mapping[str, Any], files: list[RecordedFile], *, prefix: str = ""
) -> list[Problem]:
    """Every message limit discord.py leaves to the server; ``prefix`` is ``data.`` for callbacks."""
    problems: list[Problem | None] = []
    problems.append(_too_long(f"{prefix}content", payload.get("content"), MAX_CONTENT))
    flags = int(payload.get("flags") or 0)
    v2 = bool(flags & IS_COMPONENTS_V2)
    embeds = payload.get("embeds") or []
    problems.extend(check_embeds(embeds, f"{prefix}embeds"))
    problems.extend(check_components(payload.get("components") or [], v2=v2, prefix=f"{prefix}components"))
    if v2 and (payload.get("content") or embeds):
        problems.append(
            (
                f"{prefix}content",
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            )
        )
    if len(files) > MAX_ATTACHMENTS or len(payload.get("attachments") or []) > MAX_ATTACHMENTS:
        problems.append(
            (f"{prefix}attachments", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ATTACHMENTS} or fewer in length.")
        )
    return [p for p in problems if p is not None]


def is_empty_message(payload: Mapping[str, Any], files: list[RecordedFile]) -> bool:
    return not (
        payload.get("content")
        or payload.get("embeds")
        or files
        or payload.get("attachments")
        or payload.get("components")
        or payload.get("poll")
        or payload.get("sticker_ids")
    )


def check_choices(choices: list[Mapping[str, Any]]) -> list[Problem]:
    problems: list[Problem | None] = []
    if len(choices) > MAX_CHOICES:
        problems.append(
            (
                "data.choices",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_CHOICES} or fewer in length. (got {len(choices)})",
            )
        )
    for i, choice in enumerate(choices):
        name = choice.get("name") or ""
        if not name:
            problems.append((f"data.choices.{i}.name", "BASE_TYPE_REQUIRED", "This field is required"))
        problems.append(_too_long(f"data.choices.{i}.name", name, MAX_CHOICE_LEN))
        problems.append(_too_long(f"data.choices.{i}.value", choice.get("value"), MAX_CHOICE_LEN))
    return [p for p in problems if p is not None]


def check_modal(data: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem | None] = [
        _too_long("data.title", data.get("title"), MAX_MODAL_TITLE),
        _too_long("data.custom_id", data.get("custom_id"), MAX_CUSTOM_ID),
    ]
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        problems.append(("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."))
    problems.extend(check_components(components, v2=True, prefix="data.components"))
    return [p for p in problems if p is not None]


def check_command(command: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """Registration rules that make a whole tree sync fail with 50035 in production."""
    problems: list[Problem | None] = []
    name = command.get("name") or ""
    ctype = command.get("type", 1)
    if ctype == 1 and (not _COMMAND_NAME.match(name) or name != name.lower()):
        problems.append(
            (f"{prefix}name", "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")
        )
    description = command.get("description") or ""
    if ctype == 1 and not 1 <= len(description) <= 100:
        problems.append(
            (f"{prefix}description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        )
    options = command.get("options") or []
    if len(options) > 25:
        problems.append((f"{prefix}options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    seen_optional = False
    for i, option in enumerate(options):
        at = f"{prefix}options.{i}."
        if option.get("type") in (1, 2):  # sub-command / group: recurse
            problems.extend(check_command({**option, "type": 1}, at))
            continue
        problems.extend(
            check_command(
                {"name": option.get("name"), "description": option.get("description"), "type": 1}, at
            )
        )
        if option.get("required"):
            if seen_optional:
                problems.append(
                    (
                        f"{at}required",
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > MAX_CHOICES:
            problems.append((f"{at}choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
        for k, choice in enumerate(choices):
            problems.append(_too_long(f"{at}choices.{k}.name", choice.get("name"), MAX_CHOICE_LEN))
            problems.append(_too_long(f"{at}choices.{k}.value", choice.get("value"), MAX_CHOICE_LEN))
    return [p for p in problems if p is not None]


# ---------------------------------------------------------------------------------------------------------

Handler = Callable[["_Call"], Any]


@dataclass
class _Call:
    """One request on its way through the fake, with its recording."""

    request: web.Request
    params: dict[str, str]
    record: RecordedRequest


class FakeDiscord:
    """An aiohttp server answering the Discord REST routes a slash-command bot uses.

    ``response_deadline`` is Discord's 3 s first-response window and ``followup_window`` its 15 minute
    token lifetime; tests shorten them to exercise the failure paths quickly.
    """

    def __init__(
        self,
        *,
        token: str = "fake-token",
        application_id: int = APPLICATION_ID,
        bot_name: str = "insiderflow",
        response_deadline: float = 3.0,
        followup_window: float = 15 * 60.0,
        nonce_window: float = 300.0,
        attachment_size_limit: int = 10 * 1024 * 1024,
    ) -> None:
        self.token = token
        self.application_id = application_id
        self.bot_user = user_payload(application_id, bot_name, bot=True)
        self.owner = user_payload(OWNER_ID, "owner")
        self.response_deadline = response_deadline
        self.followup_window = followup_window
        self.nonce_window = nonce_window
        self.attachment_size_limit = attachment_size_limit

        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.unhandled: list[RecordedRequest] = []  # routes the fake does not know: grow the fake
        self.crashes: list[str] = []  # handler exceptions, with tracebacks
        self.interactions: dict[int, InteractionRecord] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {self.application_id: self.bot_user, OWNER_ID: self.owner}
        self.commands: dict[
            int | None, dict[int, dict[str, Any]]
        ] = {}  # guild id (None = global) -> id -> cmd
        self._nonces: dict[tuple[int, str], tuple[float, int]] = {}
        self._failures: list[_FailureRule] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._install_routes()
        self.add_guild(DEFAULT_GUILD_ID, name="Insider Test Server")
        self.add_channel(DEFAULT_CHANNEL_ID, guild_id=DEFAULT_GUILD_ID, name="general")

    # -- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Bind the socket ourselves: port 0 picks a free port, and the socket tells us which.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeDiscord.start() has not been awaited")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return self.base_url + API_PREFIX

    # -- world state ------------------------------------------------------------------------------------

    def add_guild(
        self,
        guild_id: int,
        *,
        name: str = "Test Guild",
        owner_id: int = OWNER_ID,
        everyone_permissions: int = EVERYONE_PERMISSIONS,
    ) -> dict[str, Any]:
        """A guild the bot is in; its @everyone role carries ``everyone_permissions``."""
        everyone = {
            "id": str(guild_id),
            "name": "@everyone",
            "permissions": str(everyone_permissions),
            "position": 0,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        guild = {
            "id": str(guild_id),
            "name": name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "application_id": None,
        }
        self.guilds[guild_id] = guild
        return guild

    def add_channel(
        self,
        channel_id: int,
        *,
        guild_id: int | None = DEFAULT_GUILD_ID,
        name: str = "general",
        type: int = 0,
        position: int | None = None,
    ) -> dict[str, Any]:
        channel: dict[str, Any] = {
            "id": str(channel_id),
            "type": type,
            "name": name,
            "flags": 0,
            "last_message_id": None,
        }
        if guild_id is not None:
            siblings = [c for c in self.channels.values() if c.get("guild_id") == str(guild_id)]
            channel.update(
                {
                    "guild_id": str(guild_id),
                    "position": len(siblings) if position is None else position,
                    "permission_overwrites": [],
                    "nsfw": False,
                    "topic": None,
                    "rate_limit_per_user": 0,
                    "parent_id": None,
                }
            )
        self.channels[channel_id] = channel
        self.channel_messages.setdefault(channel_id, [])
        return channel

    def guild_create_payload(self, guild_id: int) -> dict[str, Any]:
        """The guild as GUILD_CREATE would deliver it, with its channels and the bot as a member."""
        guild = dict(self.guilds[guild_id])
        guild.update(
            {
                "channels": [c for c in self.channels.values() if c.get("guild_id") == str(guild_id)],
                "threads": [],
                "members": [self._member(self.bot_user, [])],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "member_count": 2,
                "large": False,
                "unavailable": False,
                "joined_at": _iso_now(),
            }
        )
        return guild

    def _member(self, user: dict[str, Any], roles: list[str]) -> dict[str, Any]:
        return {
            "user": user,
            "roles": roles,
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": "2024-01-02T03:04:05.000000+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def register_interaction(
        self, payload: Mapping[str, Any], *, dispatched_at: float | None = None
    ) -> InteractionRecord:
        """Remember an interaction Discord is about to deliver, so the bot's answers can be judged."""
        iid = int(payload["id"])
        existing = self.interactions.get(iid)
        if existing is not None:  # a redelivery keeps the first delivery's clock and ack state
            return existing
        user = (payload.get("member") or {}).get("user") or payload.get("user") or {}
        if user.get("id"):
            self.users.setdefault(int(user["id"]), dict(user))
        channel_id = payload.get("channel_id") or (payload.get("channel") or {}).get("id")
        guild_id = payload.get("guild_id")
        if channel_id is not None and int(channel_id) not in self.channels:
            raw = payload.get("channel") or {}
            self.add_channel(
                int(channel_id),
                guild_id=int(guild_id) if guild_id else None,
                name=raw.get("name", "channel"),
                type=raw.get("type", 0 if guild_id else 1),
            )
        data = payload.get("data") or {}
        source = payload.get("message") or {}
        record = InteractionRecord(
            id=iid,
            token=payload["token"],
            type=int(payload["type"]),
            application_id=int(payload.get("application_id") or self.application_id),
            channel_id=int(channel_id) if channel_id is not None else None,
            guild_id=int(guild_id) if guild_id else None,
            user=dict(user),
            name=data.get("name"),
            source_message_id=int(source["id"]) if source.get("id") else None,
            dispatched_at=time.monotonic() if dispatched_at is None else dispatched_at,
        )
        self.interactions[iid] = record
        return record

    def original_message(self, interaction_id: int) -> dict[str, Any] | None:
        record = self.interactions.get(interaction_id)
        if record is None or record.original_message_id is None:
            return None
        return self.messages.get(record.original_message_id)

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages currently in a channel, oldest first."""
        return [
            self.messages[mid] for mid in self.channel_messages.get(channel_id, []) if mid in self.messages
        ]

    # -- failures tests can inject ----------------------------------------------------------------------

    def fail(
        self,
        method: str | None,
        path: str,
        *,
        status: int = 500,
        code: int = 0,
        message: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer matching requests (``path`` is a regex over the path without /api/v10) with an error."""
        body = {"message": message or f"{status}: {HTTPStatus(status).phrase}", "code": code}
        self._failures.append(_FailureRule(method, re.compile(path), status, body, times))

    def rate_limit(
        self,
        method: str | None,
        path: str,
        *,
        retry_after: float = 0.05,
        times: int | None = 1,
        is_global: bool = False,
    ) -> None:
        """429 with the body and headers discord.py reads (retry_after, Via, X-RateLimit-*)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        if is_global:
            body["code"] = 0
        self._failures.append(
            _FailureRule(method, re.compile(path), 429, body, times, retry_after, is_global)
        )

    def forbid_channel(self, channel_id: int) -> None:
        """The bot lost a permission there: 403 Missing Permissions until restored."""
        self.fail(
            None,
            rf"/channels/{channel_id}(/.*)?",
            status=403,
            code=50013,
            message="Missing Permissions",
            times=None,
        )

    def delete_channel(self, channel_id: int) -> None:
        """The channel is gone: 404 Unknown Channel until restored."""
        self.fail(
            None,
            rf"/channels/{channel_id}(/.*)?",
            status=404,
            code=10003,
            message="Unknown Channel",
            times=None,
        )

    def restore_channel(self, channel_id: int) -> None:
        needle = f"/channels/{channel_id}("
        self._failures = [r for r in self._failures if not r.pattern.pattern.startswith(needle)]

    def clear_failures(self) -> None:
        self._failures.clear()

    # -- the log ----------------------------------------------------------------------------------------

    def find(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        interaction_id: int | None = None,
        predicate: Callable[[RecordedRequest], bool] | None = None,
    ) -> list[RecordedRequest]:
        """Recorded requests matching ``method``, a regex over ``path`` (full match) and the rest."""
        pattern = re.compile(path) if path is not None else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.fullmatch(r.path))
            and (interaction_id is None or r.interaction_id == interaction_id)
            and (predicate is None or predicate(r))
        ]

    async def wait_for(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        interaction_id: int | None = None,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        nth: int = 1,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """Await the ``nth`` (1-based) matching request; returns at once if it is already in the log."""

        def found() -> list[RecordedRequest]:
            return self.find(method, path, interaction_id=interaction_id, predicate=predicate)

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: len(found()) >= nth), timeout)
            except TimeoutError:
                seen = "\n  ".join(r.describe() for r in self.requests) or "(none)"
                raise AssertionError(
                    f"no {method or '*'} {path or '*'} (#{nth}, interaction {interaction_id}) within {timeout}s;"
                    f" the fake saw:\n  {seen}"
                ) from None
        return found()[nth - 1]

    def take_violations(self, kind: str | None = None) -> list[Violation]:
        """Return (and forget) the violations, so an expected one does not fail the test at teardown."""
        taken = [v for v in self.violations if kind is None or v.kind == kind]
        self.violations = [v for v in self.violations if v not in taken]
        return taken

    # -- request plumbing -------------------------------------------------------------------------------

    def _route(self, method: str, path: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
        self._routes.append((method, re.compile(regex), handler))

    def _install_routes(self) -> None:
        r = self._route
        r("GET", "/users/@me", self._get_me)
        r("GET", "/users/{user_id}", self._get_user)
        r("POST", "/users/@me/channels", self._create_dm)
        r("GET", "/oauth2/applications/@me", self._get_application)
        r("GET", "/applications/@me", self._get_application)
        r("GET", "/gateway", self._get_gateway)
        r("GET", "/gateway/bot", self._get_gateway)
        r("POST", "/interactions/{interaction_id}/{token}/callback", self._interaction_callback)
        r("POST", "/webhooks/{app_id}/{token}", self._followup_create)
        r("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_message_get)
        r("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_message_edit)
        r("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_message_delete)
        r("GET", "/channels/{channel_id}", self._get_channel)
        r("POST", "/channels/{channel_id}/typing", self._typing)
        r("GET", "/channels/{channel_id}/messages", self._channel_history)
        r("POST", "/channels/{channel_id}/messages", self._channel_message_create)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self._channel_message_get)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self._channel_message_edit)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self._channel_message_delete)
        r("GET", "/guilds/{guild_id}", self._get_guild)
        r("GET", "/guilds/{guild_id}/channels", self._get_guild_channels)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member)
        for prefix in (
            "/applications/{app_id}/commands",
            "/applications/{app_id}/guilds/{guild_id}/commands",
        ):
            r("GET", prefix, self._commands_list)
            r("PUT", prefix, self._commands_bulk)
            r("POST", prefix, self._command_upsert)
            r("GET", prefix + "/{command_id}", self._command_get)
            r("PATCH", prefix + "/{command_id}", self._command_edit)
            r("DELETE", prefix + "/{command_id}", self._command_delete)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[RecordedFile]]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[RecordedFile] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue  # nested multipart: Discord does not accept it either
                data = await part.read(decode=False)
                if part.name == "payload_json":
                    payload = json.loads(data)
                else:
                    content_type = part.headers.get("Content-Type")
                    files.append(
                        RecordedFile(part.name or "", part.filename or "", content_type, bytes(data))
                    )
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode("utf-8", "replace"), []

    def _interaction_for_path(self, params: Mapping[str, str]) -> int | None:
        if "interaction_id" in params:
            return int(params["interaction_id"]) if params["interaction_id"].isdigit() else None
        token = params.get("token")
        if token is not None:
            for record in self.interactions.values():
                if record.token == token:
                    return record.id
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        path = request.path.removeprefix(API_PREFIX)
        payload, files = await self._read_body(request)
        handler: Handler | None = None
        params: dict[str, str] = {}
        for method, pattern, candidate in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                handler, params = candidate, match.groupdict()
                break
        record = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=path,
            query=dict(request.query),
            json=payload,
            files=files,
            timestamp=arrived,
            interaction_id=self._interaction_for_path(params),
            authorized=request.headers.get("Authorization") == f"Bot {self.token}",
        )
        headers: dict[str, str] = {}
        try:
            if handler is None:
                self.unhandled.append(record)
                raise _error(404, 0, "404: Not Found")
            # Webhook and interaction-callback routes are authorised by their token in the URL.
            if not path.startswith(("/webhooks/", "/interactions/")) and not record.authorized:
                raise _error(401, 0, "401: Unauthorized")
            self._apply_failures(record)
            status, body = await self._invoke(handler, request, params, record)
        except _Rejected as rejected:
            status, body, headers = rejected.status, rejected.body, rejected.headers
        except Exception as exc:  # noqa: BLE001 - a fake bug (or a non-snowflake id) must not become a 500
            # 400, not 500: discord.py retries 5xx with 1-9 s sleeps, which would stall the test for 25 s.
            self.crashes.append(f"{record.method} {record.path}: {traceback.format_exc()}")
            status, body = 400, {"message": f"fake Discord could not handle this: {exc!r}", "code": 50035}
        record.status, record.response = status, body
        await self._record(record)
        if body is None:
            return web.Response(status=status, headers=headers)
        # Exactly "application/json": discord.py compares the header verbatim, and aiohttp's
        # json_response() would append "; charset=utf-8" and make discord.py see a plain string.
        headers = {**headers, "Content-Type": "application/json"}
        return web.Response(body=json.dumps(body).encode(), status=status, headers=headers)

    async def _invoke(
        self, handler: Handler, request: web.Request, params: dict[str, str], record: RecordedRequest
    ) -> tuple[int, Any]:
        result = handler(_Call(request, params, record))
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, tuple):
            return result
        return (204, None) if result is None else (200, result)

    def _apply_failures(self, record: RecordedRequest) -> None:
        for rule in self._failures:
            if rule.method not in (None, record.method) or not rule.pattern.fullmatch(record.path):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._failures.remove(rule)
            if rule.status == 429:
                retry = rule.retry_after or 0.0
                reset = time.time() + retry
                record_headers = {
                    "Retry-After": str(max(1, math.ceil(retry))),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{reset:.3f}",
                    "X-RateLimit-Reset-After": f"{retry:.3f}",
                    "X-RateLimit-Bucket": "fake-bucket",
                    "X-RateLimit-Scope": "global" if rule.is_global else "user",
                    "Via": "1.1 google",  # discord.py treats a 429 without Via as a Cloudflare ban
                }
                if rule.is_global:
                    record_headers["X-RateLimit-Global"] = "true"
                raise _Rejected(429, dict(rule.body), record_headers)
            raise _Rejected(rule.status, dict(rule.body))

    async def _record(self, record: RecordedRequest) -> None:
        async with self._changed:
            self.requests.append(record)
            self._changed.notify_all()

    def _violate(self, call: _Call, kind: str, detail: str) -> None:
        violation = Violation(kind, detail, call.record.method, call.record.path, call.record.interaction_id)
        call.record.violations.append(violation)
        self.violations.append(violation)

    def _reject_message(
        self,
        call: _Call,
        payload: Mapping[str, Any],
        files: list[RecordedFile],
        *,
        prefix: str = "",
        creating: bool,
    ) -> None:
        problems = check_message(payload, files, prefix=prefix)
        if problems:
            for path, _code, message in problems:
                self._violate(call, "limit", f"{path}: {message}")
            raise _form_error(problems)
        if sum(len(f.data) for f in files) > self.attachment_size_limit:
            self._violate(call, "limit", f"attachments exceed {self.attachment_size_limit} bytes")
            raise _error(413, 40005, "Request entity too large")
        if creating and is_empty_message(payload, files):
            self._violate(call, "limit", "empty message (no content, embeds, files or components)")
            raise _error(400, 50006, "Cannot send an empty message")

    # -- messages ---------------------------------------------------------------------------------------

    def _attachments(
        self,
        channel_id: int,
        payload: Mapping[str, Any],
        files: list[RecordedFile],
        existing: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Attachments after a create/edit: ``attachments`` lists what to keep; ``files[n]`` are new."""
        uploaded: dict[int, RecordedFile] = {}
        for f in files:
            match = re.fullmatch(r"files\[(\d+)\]", f.field)
            uploaded[int(match.group(1)) if match else len(uploaded)] = f

        def attachment(f: RecordedFile, description: str | None = None) -> dict[str, Any]:
            aid = make_snowflake()
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{aid}/{f.filename}"
            return {
                "id": str(aid),
                "filename": f.filename,
                "size": len(f.data),
                "url": url,
                "proxy_url": url,
                "content_type": "image/png" if f.data.startswith(b"\x89PNG") else f.content_type,
                "description": description,
            }

        if "attachments" not in payload:
            return existing + [attachment(f) for f in uploaded.values()]
        result: list[dict[str, Any]] = []
        by_id = {a["id"]: a for a in existing}
        for item in payload.get("attachments") or []:
            key = str(item.get("id"))
            if key.isdigit() and int(key) in uploaded and key not in by_id:
                result.append(attachment(uploaded[int(key)], item.get("description")))
            elif key in by_id:
                result.append(by_id[key])
        return result

    def _new_message(
        self,
        channel_id: int,
        payload: Mapping[str, Any],
        files: list[RecordedFile],
        *,
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
        followup: bool = False,
    ) -> dict[str, Any]:
        mid = make_snowflake()
        message_type = 0
        if interaction is not None and interaction.type == APPLICATION_COMMAND and not followup:
            message_type = 20  # CHAT_INPUT_COMMAND: the reply to a slash command
        if payload.get("message_reference"):
            message_type = 19
        message: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": self.bot_user,
            "content": payload.get("content") or "",
            "timestamp": _iso_now(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachments(channel_id, payload, files, []),
            "embeds": [{"type": "rich", **e} for e in payload.get("embeds") or []],
            "components": payload.get("components") or [],
            "pinned": False,
            "type": message_type,
            "flags": int(payload.get("flags") or 0) if flags is None else flags,
        }
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        if payload.get("message_reference"):
            message["message_reference"] = payload["message_reference"]
        if interaction is not None:
            message["webhook_id"] = str(interaction.application_id)
            message["application_id"] = str(interaction.application_id)
            metadata: dict[str, Any] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": interaction.user,
                "authorizing_integration_owners": {},
            }
            if interaction.type == MESSAGE_COMPONENT and interaction.source_message_id:
                metadata["interacted_message_id"] = str(interaction.source_message_id)
            if followup and interaction.original_message_id:
                metadata["original_response_message_id"] = str(interaction.original_message_id)
            message["interaction_metadata"] = metadata
            if interaction.type == APPLICATION_COMMAND and interaction.name:
                message["interaction"] = {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "name": interaction.name,
                    "user": interaction.user,
                }
        self.messages[mid] = message
        self.channel_messages.setdefault(channel_id, []).append(mid)
        if channel_id in self.channels:
            self.channels[channel_id]["last_message_id"] = str(mid)
        return message

    def _edit_message(
        self, message: dict[str, Any], payload: Mapping[str, Any], files: list[RecordedFile]
    ) -> dict[str, Any]:
        for key in ("content", "components"):
            if key in payload:
                message[key] = payload[key] if payload[key] is not None else ("" if key == "content" else [])
        if "embeds" in payload:
            message["embeds"] = [{"type": "rich", **e} for e in payload.get("embeds") or []]
        if "flags" in payload and payload["flags"] is not None:
            # Only SUPPRESS_EMBEDS / components-v2 may change; ephemeral and loading are fixed at creation.
            message["flags"] = (message["flags"] & (EPHEMERAL | LOADING)) | (
                int(payload["flags"]) & ~(EPHEMERAL | LOADING)
            )
        message["flags"] &= ~LOADING
        message["attachments"] = self._attachments(
            int(message["channel_id"]), payload, files, message["attachments"]
        )
        message["edited_timestamp"] = _iso_now()
        return message

    def _message_or_404(self, message_id: int, channel_id: int | None = None) -> dict[str, Any]:
        message = self.messages.get(message_id)
        if message is None or (channel_id is not None and int(message["channel_id"]) != channel_id):
            raise _error(404, 10008, "Unknown Message")
        return message

    def _delete_message(self, message_id: int) -> None:
        message = self.messages.pop(message_id, None)
        if message is not None:
            self.channel_messages.get(int(message["channel_id"]), []).remove(message_id)

    # -- handlers: identity -----------------------------------------------------------------------------

    def _get_me(self, call: _Call) -> dict[str, Any]:
        return {**self.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}

    def _get_user(self, call: _Call) -> dict[str, Any]:
        user = self.users.get(int(call.params["user_id"]))
        if user is None:
            raise _error(404, 10013, "Unknown User")
        return user

    def _create_dm(self, call: _Call) -> dict[str, Any]:
        recipient = int((call.record.json or {}).get("recipient_id", 0))
        user = self.users.get(recipient)
        if user is None:
            raise _error(404, 10013, "Unknown User")
        channel_id = recipient + 7  # stable per user, distinct from the user id
        channel = self.channels.get(channel_id) or self.add_channel(
            channel_id, guild_id=None, name="", type=1
        )
        return {**channel, "recipients": [user]}

    def _get_application(self, call: _Call) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "insiderflow test application",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner,
            "team": None,
            "flags": 0,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
            "bot": self.bot_user,
            "integration_types_config": {"0": {}},
        }

    def _get_gateway(self, call: _Call) -> dict[str, Any]:
        # A harness never connects; an unreachable URL makes an accidental connect() fail fast.
        return {
            "url": "ws://127.0.0.1:9",
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
        }

    # -- handlers: interactions -------------------------------------------------------------------------

    def _interaction_or_reject(self, call: _Call, *, by_token: bool) -> InteractionRecord:
        iid = call.record.interaction_id
        record = self.interactions.get(iid) if iid is not None else None
        token = call.params.get("token")
        if record is None or record.token != token:
            self._violate(call, "unknown_interaction", "no such interaction id/token was dispatched")
            if by_token:
                raise _error(404, 10015, "Unknown Webhook")
            raise _error(404, 10062, "Unknown interaction")
        if by_token and str(record.application_id) != call.params.get("app_id"):
            self._violate(
                call, "unknown_interaction", "webhook application id does not match the interaction"
            )
            raise _error(404, 10015, "Unknown Webhook")
        return record

    def _interaction_callback(self, call: _Call) -> tuple[int, Any]:
        record = self._interaction_or_reject(call, by_token=False)
        body = call.record.json if isinstance(call.record.json, dict) else {}
        ctype = int(body.get("type", 0))
        data = body.get("data") or {}
        files = call.record.files
        elapsed = call.record.timestamp - record.dispatched_at
        if record.acknowledged:
            self._violate(
                call,
                "acknowledged",
                f"second initial response (type {ctype}) after type {record.response_type}",
            )
            raise _error(400, 40060, "Interaction has already been acknowledged.")
        if elapsed > self.response_deadline:
            self._violate(
                call, "late", f"first response after {elapsed:.3f}s (deadline {self.response_deadline}s)"
            )
            raise _error(404, 10062, "Unknown interaction")
        if ctype not in _ALLOWED_CALLBACKS.get(record.type, set()):
            self._violate(
                call, "invalid_callback", f"callback type {ctype} for interaction type {record.type}"
            )
            raise _form_error(
                [("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Interaction response type is invalid")]
            )

        message: dict[str, Any] | None = None
        channel_id = record.channel_id or 0
        if ctype == CHANNEL_MESSAGE:
            self._reject_message(call, data, files, prefix="data.", creating=True)
            message = self._new_message(channel_id, data, files, interaction=record)
        elif ctype == DEFERRED_CHANNEL_MESSAGE:
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | LOADING
            message = self._new_message(channel_id, {}, [], interaction=record, flags=flags)
            record.loading_pending = True
        elif ctype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            source = self.messages.get(record.source_message_id or 0)
            if ctype == UPDATE_MESSAGE:
                self._reject_message(call, data, files, prefix="data.", creating=False)
                if source is not None:
                    message = self._edit_message(source, data, files)
            record.original_message_id = record.source_message_id
        elif ctype == AUTOCOMPLETE_RESULT:
            problems = check_choices(data.get("choices") or [])
            if problems:
                for path, _code, text in problems:
                    self._violate(call, "limit", f"{path}: {text}")
                raise _form_error(problems)
        elif ctype == MODAL:
            problems = check_modal(data)
            if problems:
                for path, _code, text in problems:
                    self._violate(call, "limit", f"{path}: {text}")
                raise _form_error(problems)

        record.response_type = ctype
        record.responded_at = call.record.timestamp
        if message is not None and ctype in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            record.original_message_id = int(message["id"])
        if call.record.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        summary: dict[str, Any] = {"id": str(record.id), "type": record.type}
        result: dict[str, Any] = {"interaction": summary}
        if message is not None:
            summary.update(
                {
                    "response_message_id": message["id"],
                    "response_message_loading": ctype == DEFERRED_CHANNEL_MESSAGE,
                    "response_message_ephemeral": bool(message["flags"] & EPHEMERAL),
                }
            )
            result["resource"] = {"type": ctype, "message": message}
        elif ctype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            result["resource"] = {"type": ctype}
        return 200, result

    def _check_followup_window(self, call: _Call, record: InteractionRecord) -> None:
        if not record.acknowledged:
            self._violate(call, "followup_before_response", "webhook call before any initial response")
            raise _error(404, 10015, "Unknown Webhook")
        age = call.record.timestamp - record.dispatched_at
        if age > self.followup_window:
            self._violate(call, "followup_expired", f"webhook call {age:.0f}s after the interaction")
            raise _error(401, 50027, "Invalid Webhook Token")

    def _followup_create(self, call: _Call) -> tuple[int, Any]:
        record = self._interaction_or_reject(call, by_token=True)
        self._check_followup_window(call, record)
        payload = call.record.json if isinstance(call.record.json, dict) else {}
        self._reject_message(call, payload, call.record.files, creating=True)
        if record.loading_pending and record.original_message_id in self.messages:
            # Discord: the first follow-up after a deferred response replaces the "thinking" message and
            # keeps the defer's ephemeral choice.
            record.loading_pending = False
            message = self._edit_message(
                self.messages[record.original_message_id], payload, call.record.files
            )
        else:
            flags = int(payload.get("flags") or 0)
            message = self._new_message(
                record.channel_id or 0,
                payload,
                call.record.files,
                interaction=record,
                flags=flags,
                followup=True,
            )
        if call.record.query.get("wait") in ("1", "true", "True"):
            return 200, message
        return 204, None

    def _webhook_target(self, call: _Call, record: InteractionRecord) -> dict[str, Any]:
        raw = call.params["message_id"]
        if raw == "@original":
            if record.original_message_id is None or record.original_message_id not in self.messages:
                raise _error(404, 10008, "Unknown Message")
            return self.messages[record.original_message_id]
        message = self._message_or_404(int(raw))
        metadata = message.get("interaction_metadata") or {}
        if metadata.get("id") != str(record.id) and int(raw) != record.original_message_id:
            raise _error(404, 10008, "Unknown Message")  # a token only reaches its own interaction's messages
        return message

    def _webhook_message_get(self, call: _Call) -> dict[str, Any]:
        record = self._interaction_or_reject(call, by_token=True)
        self._check_followup_window(call, record)
        return self._webhook_target(call, record)

    def _webhook_message_edit(self, call: _Call) -> dict[str, Any]:
        record = self._interaction_or_reject(call, by_token=True)
        self._check_followup_window(call, record)
        message = self._webhook_target(call, record)
        payload = call.record.json if isinstance(call.record.json, dict) else {}
        self._reject_message(call, payload, call.record.files, creating=False)
        if call.params["message_id"] == "@original":
            record.loading_pending = False
        return self._edit_message(message, payload, call.record.files)

    def _webhook_message_delete(self, call: _Call) -> None:
        record = self._interaction_or_reject(call, by_token=True)
        self._check_followup_window(call, record)
        message = self._webhook_target(call, record)
        self._delete_message(int(message["id"]))

    # -- handlers: channels and guilds ------------------------------------------------------------------

    def _channel(self, call: _Call) -> dict[str, Any]:
        channel_id = int(call.params["channel_id"])
        # Unknown ids become text channels of the default guild, so code under test can post to any id;
        # delete_channel() is how a test makes a channel disappear.
        return self.channels.get(channel_id) or self.add_channel(channel_id, name=f"channel-{channel_id}")

    def _get_channel(self, call: _Call) -> dict[str, Any]:
        return self._channel(call)

    def _typing(self, call: _Call) -> None:
        self._channel(call)

    def _channel_history(self, call: _Call) -> list[dict[str, Any]]:
        channel = self._channel(call)
        limit = int(call.record.query.get("limit", 50))
        return list(reversed(self.messages_in(int(channel["id"]))))[:limit]

    def _channel_message_create(self, call: _Call) -> dict[str, Any]:
        channel = self._channel(call)
        channel_id = int(channel["id"])
        payload = call.record.json if isinstance(call.record.json, dict) else {}
        nonce = payload.get("nonce")
        if nonce is not None and len(str(nonce)) > MAX_NONCE:
            self._violate(call, "limit", f"nonce: longer than {MAX_NONCE}")
            raise _form_error([("nonce", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_NONCE} or fewer in length.")])
        self._reject_message(call, payload, call.record.files, creating=True)
        if nonce is not None and payload.get("enforce_nonce"):
            key = (channel_id, str(nonce))
            seen = self._nonces.get(key)
            if (
                seen is not None
                and call.record.timestamp - seen[0] <= self.nonce_window
                and seen[1] in self.messages
            ):
                return self.messages[seen[1]]  # Discord returns the first message instead of a duplicate
        message = self._new_message(channel_id, payload, call.record.files)
        if nonce is not None:
            self._nonces[(channel_id, str(nonce))] = (call.record.timestamp, int(message["id"]))
        return message

    def _channel_message_get(self, call: _Call) -> dict[str, Any]:
        channel = self._channel(call)
        return self._message_or_404(int(call.params["message_id"]), int(channel["id"]))

    def _channel_message_edit(self, call: _Call) -> dict[str, Any]:
        channel = self._channel(call)
        message = self._message_or_404(int(call.params["message_id"]), int(channel["id"]))
        if message["author"]["id"] != self.bot_user["id"]:
            raise _error(403, 50005, "Cannot edit a message authored by another user")
        payload = call.record.json if isinstance(call.record.json, dict) else {}
        self._reject_message(call, payload, call.record.files, creating=False)
        return self._edit_message(message, payload, call.record.files)

    def _channel_message_delete(self, call: _Call) -> None:
        channel = self._channel(call)
        message = self._message_or_404(int(call.params["message_id"]), int(channel["id"]))
        self._delete_message(int(message["id"]))

    def _guild_or_404(self, call: _Call) -> dict[str, Any]:
        guild = self.guilds.get(int(call.params["guild_id"]))
        if guild is None:
            raise _error(404, 10004, "Unknown Guild")
        return guild

    def _get_guild(self, call: _Call) -> dict[str, Any]:
        return self._guild_or_404(call)

    def _get_guild_channels(self, call: _Call) -> list[dict[str, Any]]:
        guild = self._guild_or_404(call)
        return [c for c in self.channels.values() if c.get("guild_id") == guild["id"]]

    def _get_member(self, call: _Call) -> dict[str, Any]:
        self._guild_or_404(call)
        user = self.users.get(int(call.params["user_id"]))
        if user is None:
            raise _error(404, 10007, "Unknown Member")
        return self._member(user, [])

    # -- handlers: application commands -----------------------------------------------------------------

    def _command_scope(self, call: _Call) -> dict[int, dict[str, Any]]:
        if int(call.params["app_id"]) != self.application_id:
            raise _error(403, 50001, "Missing Access")
        guild_id = int(call.params["guild_id"]) if "guild_id" in call.params else None
        if guild_id is not None:
            self._guild_or_404(call)
        return self.commands.setdefault(guild_id, {})

    def _store_command(
        self,
        scope: dict[int, dict[str, Any]],
        call: _Call,
        command: Mapping[str, Any],
        command_id: int | None = None,
    ) -> dict[str, Any]:
        existing = next(
            (
                c
                for c in scope.values()
                if c["name"] == command.get("name") and c["type"] == command.get("type", 1)
            ),
            None,
        )
        cid = command_id or (int(existing["id"]) if existing else make_snowflake())
        stored = {
            "id": str(cid),
            "application_id": str(self.application_id),
            "version": str(make_snowflake()),
            "type": 1,
            "default_member_permissions": None,
            "nsfw": False,
            "options": [],
            "description": "",
            **command,
        }
        if "guild_id" in call.params:
            stored["guild_id"] = call.params["guild_id"]
        scope[cid] = stored
        return stored

    def _check_commands(self, call: _Call, commands: list[Mapping[str, Any]]) -> None:
        problems: list[Problem] = []
        if len([c for c in commands if c.get("type", 1) == 1]) > 100:
            problems.append(("", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer chat input commands."))
        for i, command in enumerate(commands):
            problems.extend(check_command(command, f"{i}."))
        if problems:
            for path, _code, text in problems:
                self._violate(call, "command", f"{path}: {text}")
            raise _form_error(problems)

    def _commands_list(self, call: _Call) -> list[dict[str, Any]]:
        return list(self._command_scope(call).values())

    def _commands_bulk(self, call: _Call) -> list[dict[str, Any]]:
        scope = self._command_scope(call)
        commands = call.record.json if isinstance(call.record.json, list) else []
        self._check_commands(call, commands)
        previous = {(c["name"], c["type"]): int(c["id"]) for c in scope.values()}
        scope.clear()  # bulk overwrite: whatever is not in the body is deleted
        return [
            self._store_command(scope, call, c, previous.get((c.get("name"), c.get("type", 1))))
            for c in commands
        ]

    def _command_upsert(self, call: _Call) -> tuple[int, dict[str, Any]]:
        scope = self._command_scope(call)
        command = call.record.json if isinstance(call.record.json, dict) else {}
        self._check_commands(call, [command])
        return 201, self._store_command(scope, call, command)

    def _command_get(self, call: _Call) -> dict[str, Any]:
        command = self._command_scope(call).get(int(call.params["command_id"]))
        if command is None:
            raise _error(404, 10063, "Unknown application command")
        return command

    def _command_edit(self, call: _Call) -> dict[str, Any]:
        command = self._command_get(call)
        command.update(call.record.json if isinstance(call.record.json, dict) else {})
        self._check_commands(call, [command])
        return command

    def _command_delete(self, call: _Call) -> None:
        self._command_get(call)
        del self._command_scope(call)[int(call.params["command_id"])]

    def command_id(self, name: str, *, guild_id: int | None = None, type: int = 1) -> int | None:
        """The id Discord gave a synced command, for realistic ``data.id`` in interaction payloads."""
        for scope_key in (guild_id, None) if guild_id is not None else (None,):
            for command in self.commands.get(scope_key, {}).values():
                if command["name"] == name and command["type"] == type:
                    return int(command["id"])
        return None


def iter_violation_lines(violations: Iterable[Violation]) -> str:
    return "\n".join(f"  [{v.kind}] {v.method} {v.path}: {v.detail}" for v in violations)

"""One Settings object, read from the environment and an optional ``.env`` file."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


@dataclass(frozen=True)
class Settings:
    discord_token: str = ""
    sec_user_agent: str = ""
    db_path: str = "insiderflow.db"
    dev_guild_id: int | None = None
    log_level: str = "INFO"
    sec_www_base: str = "https://www.sec.gov"
    sec_data_base: str = "https://data.sec.gov"
    sec_requests_per_second: float = 5.0
    yahoo_base: str = "https://query1.finance.yahoo.com"
    stooq_base: str = "https://stooq.com"
    discord_api_base: str = ""  # empty: discord.py's default; tests point it at a local fake
    prices_dir: str = ""  # optional folder of local daily price CSVs
    watch_interval_seconds: float = 30.0
    chart_workers: int = 1  # processes rendering charts off the event loop; 0 renders in-process
    history_years: int = 5  # filing history loaded in the background for a newly asked or watched ticker
    watch_tracked_only: bool = False  # the watcher fetches only issuers on some server's watchlist
    run_alerts: bool = True  # the bot runs the EDGAR watcher and alert delivery (off: a separate `watch`)

    @classmethod
    def load(cls, env_file: str | os.PathLike[str] | None = ".env", **overrides: object) -> Settings:
        """Environment wins over ``.env``; keyword overrides win over both."""
        raw = _read_dotenv(Path(env_file)) if env_file else {}
        raw.update(os.environ)
        names = {
            "discord_token": "DISCORD_TOKEN",
            "sec_user_agent": "SEC_USER_AGENT",
            "db_path": "INSIDERFLOW_DB",
            "dev_guild_id": "DISCORD_DEV_GUILD_ID",
            "log_level": "LOG_LEVEL",
            "sec_www_base": "SEC_WWW_BASE",
            "sec_data_base": "SEC_DATA_BASE",
            "sec_requests_per_second": "SEC_REQUESTS_PER_SECOND",
            "yahoo_base": "YAHOO_BASE",
            "stooq_base": "STOOQ_BASE",
            "discord_api_base": "DISCORD_API_BASE",
            "prices_dir": "INSIDERFLOW_PRICES_DIR",
            "watch_interval_seconds": "WATCH_INTERVAL_SECONDS",
            "chart_workers": "CHART_WORKERS",
            "history_years": "HISTORY_YEARS",
            "watch_tracked_only": "WATCH_TRACKED_ONLY",
            "run_alerts": "RUN_ALERTS",
        }
        values: dict[str, object] = {}
        types = {f.name: f.type for f in fields(cls)}
        for attr, env in names.items():
            if env in raw and raw[env] != "":
                values[attr] = _convert(raw[env], str(types[attr]), env)
        settings = cls(**values)  # type: ignore[arg-type]
        return replace(settings, **overrides) if overrides else settings


def _convert(text: str, type_name: str, env: str) -> object:
    try:
        if "bool" in type_name:
            if text.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if text.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if "float" in type_name:
            return float(text)
        if "int" in type_name:
            return int(text)
    except ValueError:
        kind = "true/false" if "bool" in type_name else "a number"
        raise SystemExit(f"{env}={text!r} is not {kind}; fix it in the environment or .env") from None
    return text

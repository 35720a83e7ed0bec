"""A fake EDGAR for tests: a local aiohttp server on 127.0.0.1 that serves recorded responses.

Point the client at it with :meth:`EdgarFake.settings` (both ``sec_www_base`` and ``sec_data_base`` go to
the fake, whose paths do not collide) and register what it should answer::

    async def test_something(edgar_fake: EdgarFake) -> None:
        edgar_fake.submissions(1318605, "submissions/TSLA_CIK0001318605.json")
        edgar_fake.route("/files/company_tickers.json", [
            FakeResponse(429, headers={"Retry-After": "1"}),   # first call
            FakeResponse.file("submissions/company_tickers.json"),  # every later call
        ])
        async with EdgarClient(edgar_fake.settings()) as client:
            ...
        assert edgar_fake.count("/files/company_tickers.json") == 2
        assert edgar_fake.requests[0].headers["User-Agent"] == TEST_USER_AGENT

Routing: a route is a method + path, optionally + query parameters that must all be present in the
request (the route with the most matching parameters wins; a route without query matches any query).
A route answers a :class:`FakeResponse`, a list of them (served in order, the last one repeating), or a
callable ``(aiohttp.web.Request) -> FakeResponse`` (sync or async). Anything unrouted gets EDGAR's kind of
404 (an HTML page) and is also listed in :attr:`EdgarFake.unmatched`.

Every request is logged as a :class:`RecordedRequest` (method, path, query, headers, arrival time on
``time.monotonic``); await :meth:`EdgarFake.wait_for_requests` instead of sleeping.

Files are named relative to ``tests/fixtures/edgar/`` (see its README for what is there and where it came
from). For a connection error, use :func:`closed_port_url` as a base URL.

To use the fixtures from another test module: ``pytest_plugins = ("tests.edgar_fake",)`` at the top of
the module (or in the root ``conftest.py``), then ask for ``edgar_fake`` / ``edgar_settings``.
PYTEST_DONT_REWRITE: this module has no plain asserts, and the marker lets a test module import it before
naming it in ``pytest_plugins`` without pytest warning that it cannot rewrite it.
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
import inspect
import json as json_module
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Self

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from bot.settings import Settings

FIXTURES_DIR = Path(__file__).parent / "fixtures"
EDGAR_FIXTURES = FIXTURES_DIR / "edgar"
TEST_USER_AGENT = "insiderflow-tests tests@example.com"

NOT_FOUND_HTML = (
    b"<!DOCTYPE html><html><head><title>SEC.gov | Page Not Found</title></head>"
    b"<body><h1>Page Not Found</h1></body></html>"
)


def fixture_bytes(name: str | Path) -> bytes:
    """Bytes of a file under ``tests/fixtures/edgar/`` (or an absolute path)."""
    path = Path(name)
    return (path if path.is_absolute() else EDGAR_FIXTURES / path).read_bytes()


def _guess_content_type(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".json"):
        return "application/json"
    if lower.endswith((".atom",)):
        return "application/atom+xml"
    if lower.endswith(".xml"):
        return "text/xml"
    if lower.endswith((".htm", ".html")):
        return "text/html"
    return "text/plain"


@dataclass(frozen=True)
class FakeResponse:
    """What the fake answers. ``delay`` waits before answering (for timeouts); ``gzip`` compresses the
    body and sets ``Content-Encoding: gzip`` as EDGAR does for clients that accept it."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    gzip: bool = False

    @classmethod
    def file(cls, name: str | Path, *, status: int = 200, content_type: str | None = None,
             **kwargs: Any) -> FakeResponse:
        """A recorded file from ``tests/fixtures/edgar/`` (read now, so a typo fails at setup)."""
        return cls(status=status, body=fixture_bytes(name),
                   content_type=content_type or _guess_content_type(str(name)), **kwargs)

    @classmethod
    def json(cls, obj: Any, *, status: int = 200, **kwargs: Any) -> FakeResponse:
        return cls(status=status, body=json_module.dumps(obj).encode(), content_type="application/json",
                   **kwargs)

    @classmethod
    def text(cls, text: str, *, status: int = 200, content_type: str = "text/plain",
             **kwargs: Any) -> FakeResponse:
        return cls(status=status, body=text.encode(), content_type=content_type, **kwargs)

    @classmethod
    def html(cls, text: str | bytes = NOT_FOUND_HTML, *, status: int = 200, **kwargs: Any) -> FakeResponse:
        body = text.encode() if isinstance(text, str) else text
        return cls(status=status, body=body, content_type="text/html", **kwargs)


Responder = (
    FakeResponse | Sequence[FakeResponse] | Callable[[web.Request], FakeResponse | Awaitable[FakeResponse]]
)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: CIMultiDictProxy[str]
    at: float  # time.monotonic() when the request reached the fake
    route: str | None  # the matched route's description, None if unrouted

    @property
    def path_qs(self) -> str:
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{k}={v}" for k, v in self.query.items())


@dataclass
class _Route:
    method: str
    path: str
    query: dict[str, str]
    responder: Responder
    served: int = 0

    def describe(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.method} {self.path}" + (f"?{q}" if q else "")

    async def respond(self, request: web.Request) -> FakeResponse:
        index, self.served = self.served, self.served + 1
        if isinstance(self.responder, FakeResponse):
            return self.responder
        if callable(self.responder):
            result = self.responder(request)
            return await result if inspect.isawaitable(result) else result
        sequence = list(self.responder)
        return sequence[min(index, len(sequence) - 1)]


class EdgarFake:
    """The fake server. Start with ``await fake.start()`` or ``async with EdgarFake() as fake``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._routes: list[_Route] = []
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self.port: int | None = None
        self.requests: list[RecordedRequest] = []
        self.unmatched: list[RecordedRequest] = []

    # ---- lifecycle

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if self.port is None:
            raise RuntimeError("EdgarFake is not started")
        return f"http://{self._host}:{self.port}"

    def settings(self, **overrides: Any) -> Settings:
        """Settings that send every EDGAR request here, with a valid test User-Agent and 10 requests/s."""
        return fake_settings(self.url, **overrides)

    # ---- routing

    def route(self, path: str, responder: Responder, *, query: Mapping[str, str] | None = None,
              method: str = "GET") -> None:
        """Answer ``method path`` (+ required ``query`` parameters) with ``responder``. A later route for
        the same method, path and query replaces the earlier one."""
        if not path.startswith("/"):
            raise ValueError("path must start with /")
        q = {k: str(v) for k, v in (query or {}).items()}
        self._routes = [r for r in self._routes
                        if not (r.method == method.upper() and r.path == path and r.query == q)]
        self._routes.append(_Route(method.upper(), path, q, responder))

    def route_file(self, path: str, name: str | Path, *, query: Mapping[str, str] | None = None,
                   **kwargs: Any) -> None:
        """Serve a recorded file under ``tests/fixtures/edgar/`` at ``path``."""
        self.route(path, FakeResponse.file(name, **kwargs), query=query)

    # EDGAR-shaped shortcuts: the same paths the real EdgarClient asks for.

    def company_tickers(self, name: str = "submissions/company_tickers.json", **kwargs: Any) -> str:
        path = "/files/company_tickers.json"
        self.route_file(path, name, **kwargs)
        return path

    def submissions(self, cik: int, name: str, **kwargs: Any) -> str:
        path = f"/submissions/CIK{cik:010d}.json"
        self.route_file(path, name, **kwargs)
        return path

    def submissions_page(self, page_name: str, name: str, **kwargs: Any) -> str:
        """An overflow page, ``page_name`` as listed in ``filings.files`` (``CIK...-submissions-001.json``)."""
        path = f"/submissions/{page_name}"
        self.route_file(path, name, **kwargs)
        return path

    def filing_document(self, cik: int, accession: str, document: str, name: str, **kwargs: Any) -> str:
        path = f"/Archives/edgar/data/{cik}/{accession.replace('-', '')}/{document}"
        self.route_file(path, name, **kwargs)
        return path

    def complete_submission(self, cik: int, accession: str, name: str, **kwargs: Any) -> str:
        return self.filing_document(cik, accession, f"{accession}.txt", name, **kwargs)

    def current_feed(self, name: str, *, start: int = 0, form_type: str = "4", **kwargs: Any) -> str:
        """A page of ``/cgi-bin/browse-edgar?action=getcurrent`` for ``type=form_type&start=start``."""
        path = "/cgi-bin/browse-edgar"
        self.route_file(path, name, query={"action": "getcurrent", "type": form_type, "start": str(start)},
                        **kwargs)
        return path

    def daily_index(self, day: date, name: str, *, kind: str = "form", **kwargs: Any) -> str:
        quarter = (day.month - 1) // 3 + 1
        path = f"/Archives/edgar/daily-index/{day.year}/QTR{quarter}/{kind}.{day:%Y%m%d}.idx"
        self.route_file(path, name, **kwargs)
        return path

    # ---- the request log

    def requests_for(self, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if path is None or r.path == path]

    def count(self, path: str | None = None) -> int:
        return len(self.requests_for(path))

    def arrival_times(self, path: str | None = None) -> list[float]:
        return [r.at for r in self.requests_for(path)]

    def clear_log(self) -> None:
        self.requests.clear()
        self.unmatched.clear()

    async def wait_for_requests(self, n: int, *, path: str | None = None,
                                timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests (to ``path``, if given) have arrived; return them."""
        deadline = time.monotonic() + timeout
        while self.count(path) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {n} requests to {path or 'the fake'}, got {self.count(path)}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue
        return self.requests_for(path)

    # ---- the server side

    def _match(self, request: web.Request) -> _Route | None:
        best: _Route | None = None
        for route in self._routes:
            if route.method not in (request.method, "*") or route.path != request.path:
                continue
            if any(request.query.get(k) != v for k, v in route.query.items()):
                continue
            if best is None or len(route.query) > len(best.query):
                best = route
        return best

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        route = self._match(request)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            at=arrived,
            route=route.describe() if route else None,
        )
        self.requests.append(record)
        if route is None:
            self.unmatched.append(record)
        self._changed.set()

        answer = await route.respond(request) if route else FakeResponse.html(status=404)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        headers = CIMultiDict(answer.headers)
        body = answer.body
        if answer.gzip:
            body = gzip_module.compress(body)
            headers["Content-Encoding"] = "gzip"
        if answer.content_type and "Content-Type" not in headers:
            headers["Content-Type"] = answer.content_type
        return web.Response(status=answer.status, body=body, headers=headers)


def fake_settings(base_url: str, **overrides: Any) -> Settings:
    """Settings whose EDGAR bases are ``base_url``, with the test User-Agent and the maximum rate."""
    values: dict[str, Any] = {
        "sec_www_base": base_url,
        "sec_data_base": base_url,
        "sec_user_agent": TEST_USER_AGENT,
        "sec_requests_per_second": 10.0,
        "run_alerts": False,  # a bot built from these settings starts no watcher unless a test asks
    }
    values.update(overrides)
    return Settings(**values)


def closed_port_url() -> str:
    """A base URL where nothing listens: requests to it fail with a connection error."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def edgar_fake() -> AsyncIterator[EdgarFake]:
    """A started :class:`EdgarFake` with no routes; closed after the test."""
    async with EdgarFake() as fake:
        yield fake


@pytest.fixture
def edgar_settings(edgar_fake: EdgarFake) -> Settings:
    """Settings pointing at ``edgar_fake``."""
    return edgar_fake.settings()


__all__ = [
    "EDGAR_FIXTURES",
    "FIXTURES_DIR",
    "TEST_USER_AGENT",
    "EdgarFake",
    "FakeResponse",
    "RecordedRequest",
    "Responder",
    "closed_port_url",
    "edgar_fake",
    "edgar_settings",
    "fake_settings",
    "fixture_bytes",
]

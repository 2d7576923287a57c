"""The daemon's web server: the installer's page and the visibility API (docs/web.md).

An aiohttp application run with AppRunner + TCPSite in the daemon's own event loop. It
reads meters through a :class:`MeterView` (the visibility statistics) and live telegrams
through the :class:`~concentratord.tap.Tap`; it holds no state of its own beyond the
tokens and its open event streams. Every ``/api`` path needs a bearer token
(:mod:`concentratord.web.auth`); the page at ``/`` is a public shell that shows nothing
until the user gives one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, Protocol

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from concentratord.access import Authority, Caller, NotPermittedError, Permission
from concentratord.config.field_view import WebConfig
from concentratord.groups import GroupError, MeterGroups
from concentratord.tap import Tap, TapBusyError
from concentratord.visibility import AmbiguousMeterError
from concentratord.web import events
from concentratord.web.auth import Authenticator, Principal, bearer

log = logging.getLogger("concentratord.web")

MAX_REQUEST_BYTES = 4096  # aiohttp's client_max_size: no endpoint takes a body anyway
MAX_LINE_BYTES = 4096  # request line and each header line
MAX_STREAMS = 8  # event streams at once; the tap's other places stay for concentratorctl tap
BANDS_CACHE_S = 1.0  # streams of one tenant share one count of the bands per second
SHUTDOWN_S = 5.0  # how long stop() waits for requests in flight
# EventSource cannot send an Authorization header, so these alone also take ?token=.
STREAM_PATHS = frozenset({"/api/v1/events", "/api/v1/tap"})
_SERIAL = re.compile(r"(?:[A-Z]{3}:)?[0-9A-F]{8}")
_CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_PRINCIPAL = web.RequestKey("principal", Principal)  # who the request's token stands for


class MeterView(Protocol):
    """What the web server reads of the visibility statistics (rows as in docs/web.md).

    ``tenant`` None means every meter heard; a tenant name means that tenant's meters only.
    """

    def rows(self, tenant: str | None, meters: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every meter heard that ``tenant`` may see."""
        ...

    def row(self, serial: str, tenant: str | None) -> dict[str, Any] | None:
        """One meter (``ID`` or ``MAN:ID``, upper-case), or None when not heard or not
        ``tenant``'s; :class:`AmbiguousMeterError` when a bare ``ID`` matches several."""
        ...

    def others(self, tenant: str | None) -> int:
        """How many meters heard are not ``tenant``'s (0 for None)."""
        ...

    def signal(self, tenant: str | None) -> list[float | None]:
        """The last RSSI (dBm, None if unknown) of every meter heard that ``tenant`` may see:
        what the placement view counts, without building the rows."""
        ...


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str, **headers: str) -> web.Response:
    response = _json({"error": message}, status)
    response.headers.update(headers)
    return response


def caller_of(request: web.Request) -> Caller:
    """The request's token as the authority sees it: name, role, tenant, client address."""
    principal = request[_PRINCIPAL]
    return Caller(principal.name, principal.role, request.remote or "?", principal.tenant)


class _AccessLog(AbstractAccessLogger):
    # Never the query string: a stream's ?token= must not land in the journal.
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        principal = request.get(_PRINCIPAL)
        who = principal.name if principal is not None else "-"
        level = logging.INFO if response.status in (401, 403) else logging.DEBUG
        self.logger.log(
            level,
            "%s %s %s %d %s %.3fs",
            request.remote,
            request.method,
            request.path,
            response.status,
            who,
            time,
        )


def _assets() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the package: name -> (bytes, content type)."""
    found: dict[str, tuple[bytes, str]] = {}
    for item in files("concentratord.web").joinpath("static").iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in _CONTENT_TYPES:
            found[item.name] = (item.read_bytes(), _CONTENT_TYPES[suffix])
    return found


def iso_utc(timestamp: float) -> str:
    """A Unix time as ISO 8601 UTC, whole seconds (``2026-03-01T10:00:00Z``)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WebServer:
    """The web API and page, served from the running event loop."""

    def __init__(
        self,
        config: WebConfig,
        view: MeterView,
        tap: Tap,
        started: float,
        authority: Authority,
        *,
        groups: MeterGroups | None = None,
        host: str | None = None,
        port: int | None = None,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        """``started`` is the daemon's start (Unix time); ``host``/``port`` override
        ``config.listen`` (tests bind ``127.0.0.1`` port 0)."""
        self.config = config
        self.view = view
        self.tap = tap
        self.authority = authority
        self.groups = groups
        self.started = iso_utc(started)
        self.host = config.host if host is None else host
        self._port = config.port if port is None else port
        self.max_streams = max_streams
        self._auth: Authenticator | None = None
        self._assets = _assets()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._streams: set[asyncio.Task[Any]] = set()
        self._bands_cache: dict[str | None, tuple[float, dict[str, Any]]] = {}

    @property
    def port(self) -> int:
        """The TCP port listened on (the real one once started, also for port 0)."""
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        """The aiohttp application (routes and middlewares)."""
        app = web.Application(
            middlewares=[self._guard, self._authenticate], client_max_size=MAX_REQUEST_BYTES
        )
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._asset)
        data, readings = Permission.DATA, Permission.READINGS
        app.router.add_get("/api/v1/meters", self._needs(data, self._meters))
        app.router.add_get("/api/v1/meters/{serial}", self._needs(data, self._meter))
        app.router.add_get("/api/v1/events", self._needs(data, self._events), allow_head=False)
        app.router.add_get("/api/v1/tap", self._needs(readings, self._tap), allow_head=False)
        app.on_response_prepare.append(self._headers)
        return app

    async def start(self) -> None:
        """Read the tokens (:class:`~concentratord.web.auth.TokenFileError`) and listen."""
        self._auth = Authenticator(self.config.token)
        self._stopping.clear()
        runner = web.AppRunner(
            self.app(),
            access_log_class=_AccessLog,
            access_log=log,
            shutdown_timeout=SHUTDOWN_S,
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_LINE_BYTES,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("web: listening on %s", self.url)

    async def stop(self) -> None:
        """End the event streams, then stop listening and close every connection."""
        self._stopping.set()
        if self._streams:
            await asyncio.wait(set(self._streams), timeout=SHUTDOWN_S)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _needs(self, permission: Permission, handler: Handler) -> Handler:
        """``handler`` for callers with ``permission``; 403 naming it (audited) otherwise."""

        async def checked(request: web.Request) -> web.StreamResponse:
            try:
                await self.authority.check(
                    caller_of(request), permission, f"GET {request.path}", dict(request.query)
                )
            except NotPermittedError as err:
                return _error(403, str(err))
            return await handler(request)

        return checked

    # ------------------------------------------------------------------ middlewares

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _error(405, f"{request.method} is not served: the API is read-only (GET)")
        if request.body_exists:
            return _error(413, "request bodies are refused")
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if not request.path.startswith("/api/"):
                raise
            return _error(exc.status, exc.reason)  # the API answers JSON, even its 404s

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        token = bearer(request.headers.get("Authorization"))
        if token is None and request.path in STREAM_PATHS:
            token = request.query.get("token")
        if token is None:
            return _error(
                401,
                "a token is needed: Authorization: Bearer TOKEN",
                **{"WWW-Authenticate": 'Bearer realm="concentratord"'},
            )
        assert self._auth is not None  # set by start(), before anything listens
        principal = self._auth.identify(token)
        if principal is None:
            return _error(
                401,
                "the token is not valid",
                **{"WWW-Authenticate": 'Bearer realm="concentratord", error="invalid_token"'},
            )
        request[_PRINCIPAL] = principal
        return await handler(request)

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        else:
            response.headers.setdefault("Content-Security-Policy", _PAGE_POLICY)
            response.headers.setdefault("Cache-Control", "no-cache")

    # ------------------------------------------------------------------ page

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        return self._file(request.match_info["name"])

    def _file(self, name: str) -> web.Response:
        # Only the files read at start are served: no path ever reaches the filesystem.
        if name not in self._assets:
            raise web.HTTPNotFound()
        body, content_type = self._assets[name]
        return web.Response(body=body, content_type=content_type, charset="utf-8")

    # ------------------------------------------------------------------ API

    async def _meters(self, request: web.Request) -> web.StreamResponse:
        tenant = request[_PRINCIPAL].tenant
        group = request.query.get("group")
        members = None
        if group is not None:
            try:
                if self.groups is None:
                    raise GroupError(f"no group {group[:64]!r}")
                members = self.groups.members(group, tenant)
            except GroupError as err:
                return _error(404, str(err))
        return _json(
            {"meters": self.view.rows(tenant, members), "others": self.view.others(tenant)}
        )

    async def _meter(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["serial"]
        serial = raw.strip().upper()
        if not _SERIAL.fullmatch(serial):
            return _error(
                400, f"{raw[:40]!r} is not a meter id: give 8 hex digits or MAN:ID (KAM:12345678)"
            )
        try:
            row = self.view.row(serial, request[_PRINCIPAL].tenant)
        except AmbiguousMeterError as exc:
            names = " and ".join(exc.manufacturers)
            return _json(
                {
                    "error": f"meter {serial} was heard from {names}: ask for MAN:{serial}",
                    "manufacturers": exc.manufacturers,
                },
                409,
            )
        if row is None:
            # The same answer for another tenant's meter as for an unheard one: no leak.
            return _error(404, f"meter {serial} has not been heard since {self.started}")
        return _json(row)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, meter=None, full=False)

    async def _tap(self, request: web.Request) -> web.StreamResponse:
        meter = request.query.get("meter")
        if meter is not None and not _SERIAL.fullmatch(meter.strip().upper()):
            return _error(400, f"{meter[:40]!r} is not a meter id: give 8 hex digits or MAN:ID")
        return await self._stream(request, meter=meter, full=True)

    async def _stream(
        self, request: web.Request, *, meter: str | None, full: bool
    ) -> web.StreamResponse:
        busy = {"Retry-After": "10"}
        if len(self._streams) >= self.max_streams or self._stopping.is_set():
            return _error(503, f"{self.max_streams} live views are open already", **busy)
        principal = request[_PRINCIPAL]
        try:
            subscription = self.tap.subscribe(tenant=principal.tenant, meter=meter)
        except TapBusyError as exc:
            return _error(503, f"the live tap is busy ({exc})", **busy)
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
            )
            await response.prepare(request)
            await events.stream(
                response,
                subscription,
                lambda: self._bands(principal.tenant),
                self._stopping,
                full=full,
            )
            return response
        finally:
            subscription.close()
            self._streams.discard(task)

    def _bands(self, tenant: str | None) -> dict[str, Any]:
        now = asyncio.get_running_loop().time()
        cached = self._bands_cache.get(tenant)
        if cached is not None and now - cached[0] < BANDS_CACHE_S:
            return cached[1]
        levels = self.view.signal(tenant)
        value = {
            "bands": events.band_counts(levels),
            "meters": len(levels),
            "others": self.view.others(tenant),
        }
        self._bands_cache[tenant] = (now, value)
        return value

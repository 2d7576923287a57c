"""Helpers of the web tests: a fake MeterView, the server on its own thread, SSE, a browser.

``ServerThread`` runs a real :class:`~concentratord.web.WebServer` (and its real Tap) in an
event loop on a background thread, so that blocking clients (urllib, Selenium) can talk to
it over 127.0.0.1 while the test publishes tap events into it. ``chromium(tmp_dir)`` is the
headless Chromium of Debian's packages at a phone viewport, reusable against any URL (the
in-process server here, or a running daemon).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from concentratord.config.field_view import WebConfig
from concentratord.tap import Tap
from concentratord.visibility import AmbiguousMeterError
from concentratord.web import WebServer
from tests.concentratord.access_helpers import recording_authority
from tests.missing import missing

T = TypeVar("T")

STARTED = 1_772_359_200.0  # 2026-03-01T10:00:00Z, the daemon's start in these tests
STARTED_ISO = "2026-03-01T10:00:00Z"
INSTALLER = "installer-token-0123456789abcdef"  # role user, every tenant
WATER = "water-token-0123456789abcdef0000"  # role user, tenant water
TECH = "tech-token-0123456789abcdef000000"  # role superuser
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PHONE = (390, 844)


def web_config(*extra: dict[str, Any]) -> WebConfig:
    """A ``[web]`` table with the three test tokens (and ``extra`` ones)."""
    tokens = [
        {"name": "installer", "role": "user", "token": INSTALLER},
        {"name": "water", "role": "user", "token": WATER, "tenant": "water"},
        {"name": "tech", "role": "superuser", "token": TECH},
        *extra,
    ]
    return WebConfig.model_validate({"listen": "127.0.0.1:8080", "token": tokens})


def today_at(clock: str) -> str:
    """Today (UTC) at ``HH:MM:SS``, as ISO 8601 UTC."""
    return datetime.now(UTC).strftime(f"%Y-%m-%dT{clock}Z")


def meter(
    serial: str,
    *,
    manufacturer: str = "KAM",
    tenant: str | None = "water",
    rssi: float | None = -71.0,
    telegrams: int = 12,
    rate: float | None = 0.97,
    decode: str = "ok",
    last_heard: str | None = None,
) -> dict[str, Any]:
    """One row as the visibility statistics give it (quality from ``rate`` at 0.8)."""
    quality = "unknown" if rate is None else ("good" if rate >= 0.8 else "poor")
    return {
        "id": serial,
        "manufacturer": manufacturer,
        "media": "water",
        "tenant": tenant,
        "telegrams": telegrams,
        "first_heard": "2026-03-01T10:00:05Z",
        "last_heard": last_heard or today_at("14:03:10"),
        "rssi_dbm": None
        if rssi is None
        else {"last": rssi, "min": rssi - 4, "mean": rssi - 1, "max": rssi + 3},
        "link_mode": "C1",
        "decode": decode,
        "interval_s": 16.0,
        "reception_rate": rate,
        "quality": quality,
    }


class FakeView:
    """A MeterView over a list of rows; a tenant sees the rows with its name."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.meters = rows

    def rows(self, tenant: str | None, meters: Iterable[str] | None = None) -> list[dict[str, Any]]:
        wanted = None if meters is None else set(meters)
        return [
            r
            for r in self.meters
            if (tenant is None or r["tenant"] == tenant) and (wanted is None or r["id"] in wanted)
        ]

    def row(self, serial: str, tenant: str | None) -> dict[str, Any] | None:
        manufacturer, _, ident = serial.rpartition(":")
        found = [
            r
            for r in self.rows(tenant)
            if r["id"] == ident and manufacturer in ("", r["manufacturer"])
        ]
        if len(found) > 1:
            raise AmbiguousMeterError(ident, sorted(r["manufacturer"] for r in found))
        return found[0] if found else None

    def others(self, tenant: str | None) -> int:
        return 0 if tenant is None else len(self.meters) - len(self.rows(tenant))

    def signal(self, tenant: str | None) -> list[float | None]:
        return [r["rssi_dbm"]["last"] for r in self.rows(tenant)]


def telegram_event(serial: str, rssi: float, *, tenant: str | None = "water") -> dict[str, Any]:
    """A tap event as the frame loop publishes it."""
    return {
        "time": today_at("14:05:00"),
        "id": serial,
        "manufacturer": "KAM",
        "tenant": tenant,
        "rssi_dbm": rssi,
        "link_mode": "C1",
        "decode": "ok",
        "fields": {"total_m3": 12.5},
        "error": None,
    }


class ServerThread:
    """A WebServer listening on 127.0.0.1:0 in an event loop on its own thread."""

    def __init__(
        self, config: WebConfig, view: FakeView, tap: Tap | None = None, **kwargs: Any
    ) -> None:
        self.view = view
        self.tap = tap or Tap()
        self.loop = asyncio.new_event_loop()
        #: What the server's authority wrote to the audit trail (refusals).
        self.audit: list[dict[str, Any]] = []
        authority = recording_authority(self.audit)
        self.server = WebServer(
            config, view, self.tap, STARTED, authority, host="127.0.0.1", port=0, **kwargs
        )
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        try:
            self.run(self.server.start())
        except BaseException:
            self._halt()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.server.stop())
        self._halt()

    def _halt(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @property
    def url(self) -> str:
        return self.server.url

    def run(self, coroutine: Any, timeout: float = 10) -> Any:
        """Run a coroutine in the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` in the server's loop (the only thread that may touch the view/tap)."""

        async def go() -> T:
            return fn()

        result: T = self.run(go())
        return result

    def publish(self, event: dict[str, Any]) -> None:
        """Publish a tap event as the frame loop would."""
        self.loop.call_soon_threadsafe(self.tap.publish, event)

    def pending_tasks(self) -> int:
        """Tasks alive in the server's loop besides the one asking."""

        async def count() -> int:
            return len(asyncio.all_tasks()) - 1

        result: int = self.run(count())
        return result


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` (state of the server's thread) until true or ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def get(url: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    """GET ``url``: (status, headers, JSON body or text)."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, headers, raw = exc.code, dict(exc.headers), exc.read()
    if headers.get("Content-Type", "").startswith("application/json"):
        return status, headers, json.loads(raw)
    return status, headers, raw.decode()


class SseClient:
    """A blocking reader of one event stream."""

    def __init__(self, server: ServerThread, path: str, timeout: float = 10) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.server.port, timeout=timeout)
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()

    def next(self) -> tuple[str, dict[str, Any]]:
        """The next event as (name, data); comments and retry lines skipped."""
        name, data = "message", ""
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if not line:
                if data:
                    return name, json.loads(data)
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data += value

    def until(self, name: str) -> dict[str, Any]:
        """Skip events until one named ``name``; its data."""
        while True:
            event, data = self.next()
            if event == name:
                return data

    def close(self) -> None:
        self.response.close()
        self.conn.close()


# ------------------------------------------------------------------ the browser


def require_browser() -> None:
    """Skip without Debian's chromium and chromium-driver; fail instead when CI is set."""
    absent = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if not absent:
        return
    missing(f"{' and '.join(absent)} not found: apt-get install chromium chromium-driver")


@contextmanager
def chromium(profile_dir: Path) -> Iterator[Any]:
    """Headless Chromium at a phone viewport, driven by Selenium; quit on exit."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
        f"--window-size={PHONE[0]},{PHONE[1]}",
    ):
        options.add_argument(flag)
    # The viewport itself is the phone's (a window's size would include its frame).
    metrics = {"width": PHONE[0], "height": PHONE[1], "pixelRatio": 1.0}
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    # The driver path given means Selenium Manager is never asked (nothing is downloaded);
    # SE_OFFLINE makes sure of it. TZ=UTC makes the page's clock times predictable.
    env = {**os.environ, "SE_OFFLINE": "true", "TZ": "UTC"}
    service = Service(executable_path=CHROMEDRIVER, env=env)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, directory: Path, name: str) -> Path:
    """Save a screenshot of the page as ``directory/name.png`` and print its path."""
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path

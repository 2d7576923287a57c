"""The web API over real HTTP on 127.0.0.1: a fake MeterView, a real Tap (docs/web.md)."""

from __future__ import annotations

import asyncio
import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from concentratord.config.field_view import WebConfig
from concentratord.tap import Tap
from concentratord.web import TokenFileError, WebServer
from tests.concentratord.access_helpers import recording_authority
from tests.concentratord.web_helpers import (
    INSTALLER,
    STARTED,
    STARTED_ISO,
    TECH,
    WATER,
    FakeView,
    ServerThread,
    SseClient,
    get,
    meter,
    telegram_event,
    wait_until,
    web_config,
)


def field() -> FakeView:
    return FakeView(
        [
            meter("12345678", rssi=-65.0),
            meter("22222222", tenant="gas", rssi=-90.0),
            meter("33333333", tenant=None, rssi=-99.0, rate=0.5, decode="no_key"),
            meter("44444444", manufacturer="KAM", tenant=None),
            meter("44444444", manufacturer="LAS", tenant=None),
        ]
    )


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(web_config(), field()) as running:
        yield running


def test_list_gives_every_meter_heard(server: ServerThread) -> None:
    status, _, body = get(f"{server.url}/api/v1/meters", INSTALLER)
    assert status == 200
    assert [(m["manufacturer"], m["id"]) for m in body["meters"]] == [
        ("KAM", "12345678"),
        ("KAM", "22222222"),
        ("KAM", "33333333"),
        ("KAM", "44444444"),
        ("LAS", "44444444"),
    ]
    assert body["meters"][0] == meter("12345678", rssi=-65.0) | {
        "last_heard": body["meters"][0]["last_heard"]
    }
    assert body["others"] == 0


def test_one_meter_by_id_and_by_manufacturer_and_id(server: ServerThread) -> None:
    status, _, body = get(f"{server.url}/api/v1/meters/12345678", INSTALLER)
    assert status == 200 and body["id"] == "12345678" and body["rssi_dbm"]["last"] == -65.0
    status, _, body = get(f"{server.url}/api/v1/meters/las:44444444", INSTALLER)
    assert status == 200 and body["manufacturer"] == "LAS"


def test_unheard_meter_is_404_naming_the_id_and_the_start(server: ServerThread) -> None:
    status, _, body = get(f"{server.url}/api/v1/meters/87654321", INSTALLER)
    assert status == 404
    assert body == {"error": f"meter 87654321 has not been heard since {STARTED_ISO}"}


def test_id_heard_from_two_manufacturers_is_409_naming_them(server: ServerThread) -> None:
    status, _, body = get(f"{server.url}/api/v1/meters/44444444", INSTALLER)
    assert status == 409
    assert body["manufacturers"] == ["KAM", "LAS"]
    assert "KAM and LAS" in body["error"] and "MAN:44444444" in body["error"]


@pytest.mark.parametrize("bad", ["1234567", "123456789", "1234567G", "KA:12345678", "%20"])
def test_bad_id_is_400(server: ServerThread, bad: str) -> None:
    status, _, body = get(f"{server.url}/api/v1/meters/{bad}", INSTALLER)
    assert status == 400
    assert "is not a meter id" in body["error"]


def test_no_token_is_401_with_www_authenticate(server: ServerThread) -> None:
    status, headers, body = get(f"{server.url}/api/v1/meters")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in body["error"]


def test_wrong_token_is_401(server: ServerThread) -> None:
    status, headers, body = get(f"{server.url}/api/v1/meters", INSTALLER[:-1] + "X")
    assert status == 401
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert body == {"error": "the token is not valid"}


def test_query_token_is_refused_outside_the_event_streams(server: ServerThread) -> None:
    status, _, _ = get(f"{server.url}/api/v1/meters?token={INSTALLER}")
    assert status == 401


def test_unknown_api_path_needs_a_token_then_is_a_json_404(server: ServerThread) -> None:
    assert get(f"{server.url}/api/v1/nothing")[0] == 401
    status, _, body = get(f"{server.url}/api/v1/nothing", INSTALLER)
    assert status == 404 and "error" in body


def test_tenant_token_sees_only_its_tenant(server: ServerThread) -> None:
    status, _, body = get(f"{server.url}/api/v1/meters", WATER)
    assert status == 200
    assert [m["id"] for m in body["meters"]] == ["12345678"]


def test_other_tenants_meter_is_the_same_404_as_an_unheard_one(server: ServerThread) -> None:
    theirs = get(f"{server.url}/api/v1/meters/22222222", WATER)
    unheard = get(f"{server.url}/api/v1/meters/87654321", WATER)
    assert theirs[0] == unheard[0] == 404
    assert theirs[2]["error"] == unheard[2]["error"].replace("87654321", "22222222")


def test_others_counts_the_meters_of_other_tenants(server: ServerThread) -> None:
    assert get(f"{server.url}/api/v1/meters", WATER)[2]["others"] == 4


def test_role_user_is_403_on_the_full_tap(server: ServerThread) -> None:
    status, _, body = get(f"{server.url}/api/v1/tap", INSTALLER)
    assert status == 403
    assert body == {"error": 'GET /api/v1/tap needs "reading management"; you are installer (user)'}


def test_a_403_is_audited_with_the_token_name_and_client_address(server: ServerThread) -> None:
    get(f"{server.url}/api/v1/tap", INSTALLER)
    (entry,) = server.audit
    assert entry["event"] == "refusal" and entry["user"] == "installer"
    assert entry["computer"].endswith("/127.0.0.1")


def test_writes_are_refused(server: ServerThread) -> None:
    request = urllib.request.Request(
        f"{server.url}/api/v1/meters", data=b"{}", method="POST", headers={"Authorization": ""}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 405


def raw_get(server: ServerThread, path: str, body: bytes | None, **headers: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.server.port, timeout=10)
    try:
        conn.request("GET", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_request_body_is_413(server: ServerThread) -> None:
    auth = f"Bearer {INSTALLER}"
    assert raw_get(server, "/api/v1/meters", b"x" * 10, Authorization=auth) == 413


def test_header_line_beyond_4096_bytes_is_400(server: ServerThread) -> None:
    auth = f"Bearer {INSTALLER}"
    assert raw_get(server, "/api/v1/meters", None, Authorization=auth, X_Big="a" * 5000) == 400


def test_events_deliver_bands_and_a_published_telegram(server: ServerThread) -> None:
    sse = SseClient(server, f"/api/v1/events?token={INSTALLER}")
    try:
        assert sse.response.status == 200
        assert sse.response.getheader("Content-Type") == "text/event-stream"
        bands = sse.until("bands")  # sent at once: the subscription exists from here on
        assert bands == {
            "bands": {"excellent": 1, "good": 2, "fair": 1, "weak": 1, "unknown": 0},
            "meters": 5,
            "others": 0,
        }
        server.publish(telegram_event("12345678", -72.5))
        event = sse.until("telegram")
        assert event["id"] == "12345678" and event["rssi_dbm"] == -72.5
        assert "fields" not in event  # role user: where and how well, not the values
        assert sse.until("bands")["meters"] == 5  # and again every 2 s
    finally:
        sse.close()


def test_events_of_a_tenant_token_are_its_tenants_only(server: ServerThread) -> None:
    sse = SseClient(server, f"/api/v1/events?token={WATER}")
    try:
        assert sse.until("bands")["meters"] == 1
        server.publish(telegram_event("22222222", -80.0, tenant="gas"))
        server.publish(telegram_event("12345678", -70.0))
        assert sse.until("telegram")["id"] == "12345678"
    finally:
        sse.close()


def test_superuser_tap_has_the_decoded_fields(server: ServerThread) -> None:
    sse = SseClient(server, f"/api/v1/tap?token={TECH}&meter=12345678")
    try:
        sse.until("bands")
        server.publish(telegram_event("22222222", -80.0))
        server.publish(telegram_event("12345678", -70.0))
        event = sse.until("telegram")
        assert event["id"] == "12345678" and event["fields"] == {"total_m3": 12.5}
    finally:
        sse.close()


def test_disconnected_stream_leaves_no_watcher_nor_task(server: ServerThread) -> None:
    sse = SseClient(server, f"/api/v1/events?token={INSTALLER}")
    sse.until("bands")
    assert server.call(lambda: server.tap.watching)
    sse.close()
    # The next write (bands, within 2 s) finds the client gone and ends the stream.
    server.publish(telegram_event("12345678", -70.0))
    assert wait_until(lambda: not server.call(lambda: server.tap.watching))
    assert server.pending_tasks() == 0


def test_stop_ends_open_streams(tmp_path: Path) -> None:
    with ServerThread(web_config(), field()) as running:
        sse = SseClient(running, f"/api/v1/events?token={INSTALLER}")
        sse.until("bands")
        running.run(running.server.stop())
        assert not running.call(lambda: running.tap.watching)
        assert running.pending_tasks() == 0
        with pytest.raises(EOFError):
            sse.until("telegram")
        sse.close()


def test_stream_beyond_the_taps_watchers_is_503() -> None:
    tap = Tap(max_watchers=1)
    with ServerThread(web_config(), field(), tap) as running:
        held = running.call(tap.subscribe)
        status, headers, body = get(f"{running.url}/api/v1/events?token={INSTALLER}")
        assert status == 503 and headers["Retry-After"] == "10"
        assert "busy" in body["error"]
        running.call(held.close)


def test_token_file_is_read_at_start(tmp_path: Path) -> None:
    path = tmp_path / "installer.token"
    path.write_text("file-token-0123456789abcdef\n")
    config = web_config({"name": "from-file", "token_file": str(path)})
    with ServerThread(config, field()) as running:
        assert get(f"{running.url}/api/v1/meters", "file-token-0123456789abcdef")[0] == 200


@pytest.mark.parametrize(("content", "says"), [(None, "cannot read it"), ("\n", "is empty")])
def test_unusable_token_file_is_an_error_naming_it(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "web.token"
    if content is not None:
        path.write_text(content)
    config = web_config({"name": "from-file", "token_file": str(path)})
    server = WebServer(
        config, field(), Tap(), STARTED, recording_authority([]), host="127.0.0.1", port=0
    )
    with pytest.raises(TokenFileError, match=f"'from-file': token_file {path}: {says}"):
        asyncio.run(server.start())


def test_page_is_served_at_root_with_its_assets(server: ServerThread) -> None:
    status, headers, body = get(f"{server.url}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert 'id="search-input"' in body and "Content-Security-Policy" in headers
    for asset, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        status, headers, _ = get(f"{server.url}/static/{asset}")
        assert status == 200 and headers["Content-Type"].startswith(kind)
    assert get(f"{server.url}/static/../server.py")[0] == 404


def test_port_zero_binds_a_real_port() -> None:
    async def main() -> int:
        config: WebConfig = web_config()
        server = WebServer(
            config, field(), Tap(), STARTED, recording_authority([]), host="127.0.0.1", port=0
        )
        await server.start()
        try:
            return server.port
        finally:
            await server.stop()

    assert asyncio.run(main()) > 0

"""The installer's page in real headless Chromium at a phone viewport (390x844).

The page is served by the in-process web server (a fake MeterView, a real Tap) on
127.0.0.1; the browser is Debian's chromium with chromium-driver, driven by Selenium with
the driver's path given (nothing is downloaded). Each state is saved as a screenshot in the
test's tmp_path, its path printed. Without the browser the tests skip, or fail under CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.concentratord.web_helpers import (
    INSTALLER,
    PHONE,
    STARTED_ISO,
    FakeView,
    ServerThread,
    chromium,
    meter,
    require_browser,
    screenshot,
    telegram_event,
    web_config,
)

WAIT_S = 10.0  # explicit waits: how long a state may take to show before the test fails
TOKEN_KEY = "concentratord.token"


def page_field() -> FakeView:
    return FakeView(
        [
            meter("12345678", rssi=-71.0, rate=0.97),
            meter("20000001", rssi=-60.0, rate=0.85),
            meter("20000002", tenant=None, rssi=-92.0, rate=0.5, decode="no_key"),
            meter("20000003", tenant="gas", rssi=-99.0, rate=None),
            meter("20000004", rssi=-80.0, rate=0.7),
        ]
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    require_browser()  # no server started for tests that will not run
    with ServerThread(web_config(), page_field()) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def wait(driver: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S)


def text_of(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def wait_text(driver: Any, element_id: str, pattern: str) -> str:
    """Wait until the element's text matches ``pattern``; the text."""
    wait(driver).until(lambda d: re.search(pattern, text_of(d, element_id)))
    return text_of(driver, element_id)


def order(driver: Any, list_id: str) -> list[str]:
    items = driver.find_elements("css selector", f"#{list_id} > li")
    return [str(item.get_attribute("data-id")) for item in items]


@pytest.fixture
def page(browser: Any, server: ServerThread) -> Any:
    """The page with the installer's token already kept, on its first view."""
    browser.get(f"{server.url}/")
    browser.execute_script(f"localStorage.setItem('{TOKEN_KEY}', arguments[0])", INSTALLER)
    browser.get(f"{server.url}/")
    wait(browser).until(lambda d: d.find_element("id", "search-input").is_displayed())
    return browser


def type_into(driver: Any, element_id: str, text: str) -> None:
    field = driver.find_element("id", element_id)
    field.clear()
    field.send_keys(text)


def test_token_is_asked_once_and_kept(browser: Any, server: ServerThread, tmp_path: Path) -> None:
    browser.get(f"{server.url}/")
    browser.execute_script("localStorage.clear()")
    browser.get(f"{server.url}/")
    assert browser.execute_script("return [window.innerWidth, window.innerHeight]") == list(PHONE)
    wait(browser).until(lambda d: d.find_element("id", "token-input").is_displayed())
    assert not browser.find_element("id", "app").is_displayed()  # no data without a token
    screenshot(browser, tmp_path, "1-token-entry")

    type_into(browser, "token-input", "not-the-token-0123456789")
    browser.find_element("id", "token-save").click()
    wait_text(browser, "token-error", "refused")
    screenshot(browser, tmp_path, "2-token-refused")

    type_into(browser, "token-input", INSTALLER)
    browser.find_element("id", "token-save").click()
    wait(browser).until(lambda d: d.find_element("id", "search-input").is_displayed())
    assert browser.execute_script(f"return localStorage.getItem('{TOKEN_KEY}')") == INSTALLER
    screenshot(browser, tmp_path, "3-token-accepted")

    browser.refresh()  # kept: not asked again
    wait(browser).until(lambda d: d.find_element("id", "search-input").is_displayed())
    assert not browser.find_element("id", "token-view").is_displayed()


def test_search_answers_for_a_heard_meter(page: Any, tmp_path: Path) -> None:
    type_into(page, "search-input", "12345678")
    text = wait_text(page, "search-result", "heard 12 times")
    assert re.fullmatch(
        r"heard 12 times, last at (\d{4}-\d\d-\d\d )?14:03:10, RSSI -71 dBm, "
        r"reception 97 % \(good\)",
        text,
    ), text
    assert "KAM 12345678" in text_of(page, "search-detail")
    screenshot(page, tmp_path, "search-heard")


def test_search_answers_for_an_unheard_meter(page: Any, tmp_path: Path) -> None:
    type_into(page, "search-input", "87654321")
    text = wait_text(page, "search-result", "not been heard")
    assert text == f"meter 87654321 has not been heard since {STARTED_ISO}"
    screenshot(page, tmp_path, "search-unheard")


def test_list_sorts_by_signal_and_by_reception_and_filters(page: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    page.find_element("id", "nav-meters").click()
    wait(page).until(lambda d: len(order(d, "meter-list")) == 5)
    sort = Select(page.find_element("id", "sort"))

    sort.select_by_value("signal")
    assert order(page, "meter-list") == [
        "KAM:20000003",
        "KAM:20000002",
        "KAM:20000004",
        "KAM:12345678",
        "KAM:20000001",
    ]
    screenshot(page, tmp_path, "sorted-by-signal")

    sort.select_by_value("reception")
    assert order(page, "meter-list") == [
        "KAM:20000002",
        "KAM:20000004",
        "KAM:20000001",
        "KAM:12345678",
        "KAM:20000003",  # no rate yet: last
    ]
    screenshot(page, tmp_path, "sorted-by-reception")

    page.find_element("id", "filter-poor").click()
    assert order(page, "meter-list") == ["KAM:20000002", "KAM:20000004"]
    page.find_element("id", "filter-undecodable").click()
    assert order(page, "meter-list") == ["KAM:20000002"]
    screenshot(page, tmp_path, "filtered-poor-undecodable")


def test_placement_view_updates_live(page: Any, server: ServerThread, tmp_path: Path) -> None:
    page.find_element("id", "nav-placement").click()
    wait_text(page, "live-status", "^live$")
    wait_text(page, "band-weak", "^1$")
    counts = {band: text_of(page, f"band-{band}") for band in ("excellent", "good", "fair")}
    assert counts == {"excellent": "1", "good": "2", "fair": "1"}
    screenshot(page, tmp_path, "placement-opened")

    # The stream is open (onopen fired after the server subscribed): publish into the tap.
    server.publish(telegram_event("12345678", -64.0))
    server.publish(telegram_event("20000004", -97.0))
    wait(page).until(lambda d: order(d, "telegrams")[:2] == ["KAM:20000004", "KAM:12345678"])
    assert "-97 dBm" in text_of(page, "telegrams")
    screenshot(page, tmp_path, "placement-telegrams")

    # The antenna moved: a meter newly heard in the excellent band shows in the counts.
    added = meter("20000005", rssi=-55.0)
    server.call(lambda: server.view.meters.append(added))
    try:
        wait_text(page, "band-excellent", "^2$")
        screenshot(page, tmp_path, "placement-bands-updated")
    finally:
        server.call(lambda: server.view.meters.remove(added))

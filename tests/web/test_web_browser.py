"""The web page in a real browser: Debian's chromium, headless, driven by selenium through
Debian's chromium-driver (never a downloaded one), against the real server and store.

It shows nothing without the page's link, and says so; a wrong token is refused; it opens
the link (the token kept in the page's own storage, gone from the address bar, no cookie
set), keeps its token when a made-up link is opened, sees a remembered memory and a
snapshot, searches, remembers, forgets one for good, corrects an answer, watches live stage
timings arrive as the bus publishes them, and re-reads the lists once, not once per change,
after a burst of changes made elsewhere."""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Callable, Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from secondself.answer.recall import PersonaMemory
from secondself.core.errors import UserError
from secondself.core.events import (
    AnswerDone,
    MemoriesRetrieved,
    Speaking,
    SpeakingDone,
    SpeechEnded,
    Transcript,
)
from secondself.memory.model import Kind, MediaInput, SearchFilter
from tests.memory.test_support import files_containing
from tests.web.test_web import Page, embedder, page

__all__ = ["embedder", "page"]  # fixtures: the real MiniLM and the server, as in test_web

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
MARKER = "zqxjbrowsermarker"
WAIT_S = 30.0

if CHROMIUM is None or DRIVER is None:
    pytest.skip(
        "chromium and chromium-driver are not installed (scripts/setup.sh --test installs them)",
        allow_module_level=True,
    )


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    assert CHROMIUM is not None and DRIVER is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    # The driver's path is given: selenium never looks for (or downloads) one of its own.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, what: Callable[[WebDriver], object], why: str) -> None:
    redrawn = (StaleElementReferenceException,)  # an element replaced while it was read
    WebDriverWait(driver, WAIT_S, ignored_exceptions=redrawn).until(what, message=why)


def memory_texts(driver: WebDriver) -> list[str]:
    # One script call reads the list at one moment (it is re-drawn as the page refreshes).
    found = driver.execute_script(
        "return [...document.querySelectorAll('#memory-list .memory .text')]"
        ".map((e) => e.textContent)"
    )
    return [str(t) for t in found]


def item_of(driver: WebDriver, memory_id: int) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'#memory-list li[data-id="{memory_id}"]')


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A real (decodable) red PNG, made here: no imaging library needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_the_page_end_to_end_in_chromium(page: Page, browser: WebDriver) -> None:
    dog = page.remember("My dog is called Biscuit")
    page.remember("The spare key is under the blue flower pot")
    doomed = page.remember(f"The alarm code is {MARKER} 2580")
    PersonaMemory(page.store(), "personal").remember_turn(
        "What is my dog called?", "Your dog is called Biscuit.", [dog]
    )

    garden = (
        page.store()
        .remember("A photo of the garden", kind=Kind.IMAGE, media=MediaInput(tiny_png(), "png"))
        .id
    )

    def status(d: WebDriver) -> str:
        return str(d.find_element(By.ID, "status").text)

    browser.get(f"{page.origin}/")  # no link: how to get it, and nothing else
    wait(browser, lambda d: "secondself web" in status(d), "asks for the link")
    assert "Biscuit" not in browser.find_element(By.TAG_NAME, "body").text
    browser.get(f"{page.origin}/#token={'A' * len(page.token)}")  # a stale link
    wait(browser, lambda d: "no longer the device's" in status(d), "a wrong token refused")
    assert browser.execute_script("return localStorage.length") == 0  # not kept
    assert "Biscuit" not in browser.find_element(By.TAG_NAME, "body").text

    browser.get(f"{page.origin}/#token={page.token}")  # what `secondself web` prints
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"), "load")
    assert page.token not in browser.current_url and browser.current_url.startswith(page.origin)
    assert browser.get_cookies() == []  # nothing another port on 127.0.0.1 would be sent
    assert "My dog is called Biscuit" in memory_texts(browser)
    # The snapshot, fetched with the token (an <img> cannot send one) and drawn.
    shown = f'#memory-list li[data-id="{garden}"] img.snapshot'
    wait(browser, lambda d: d.execute_script(
        f"const i = document.querySelector('{shown}'); return i && i.complete && i.naturalWidth"
    ) == 3, "the snapshot drawn")  # fmt: skip
    browser.execute_script("localStorage.clear()")
    browser.get(f"{page.origin}/?token={page.token}")  # a link an older version printed
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"), "load")
    assert page.token not in browser.current_url
    browser.get(f"{page.origin}/")  # later, the bare address: the page kept its token
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"), "load")
    turn = browser.find_element(By.CSS_SELECTOR, "#turn-list .turn")
    assert "Your dog is called Biscuit." in turn.text and "personal score" in turn.text
    assert f"#{dog}" in turn.find_element(By.CSS_SELECTOR, ".sources").text

    # Any site can link here with a made-up token: the page keeps the one it holds.
    browser.get(f"{page.origin}/#token={'B' * len(page.token)}")
    wait(browser, lambda d: "not this device's" in status(d), "a made-up token refused")
    assert browser.execute_script("return localStorage.getItem('secondself-token')") == page.token
    browser.get(f"{page.origin}/#token=not%20a%20token")  # not even a token's shape: ignored
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"), "load")

    # Search: the store's hybrid search, by meaning.
    browser.find_element(By.ID, "search").send_keys("Where did I hide the house key?")
    browser.find_element(By.ID, "search-button").click()
    wait(browser, lambda d: memory_texts(d)[:1] == ["The spare key is under the blue flower pot"],
         "the key memory first in the search results")  # fmt: skip
    browser.find_element(By.ID, "clear").click()
    wait(browser, lambda d: len(memory_texts(d)) == 5, "every memory listed again")

    # Remember from the page.
    browser.find_element(By.ID, "remember-text").send_keys("The bins go out on Tuesday")
    browser.find_element(By.ID, "remember").click()
    wait(browser, lambda d: memory_texts(d)[:1] == ["The bins go out on Tuesday"], "remembered")
    saved = page.store().recent(SearchFilter("personal"), limit=1)
    assert [m.text for m in saved] == ["The bins go out on Tuesday"]

    # Forget: two clicks (the first asks), then it is gone from the page and every file.
    def forget_button(d: WebDriver) -> WebElement:
        return item_of(d, doomed).find_element(By.CSS_SELECTOR, "button.forget")

    forget_button(browser).click()
    wait(browser, lambda d: forget_button(d).text == "Forget for good?", "asks first")
    assert page.store().get(doomed).text.startswith("The alarm code")  # not yet
    forget_button(browser).click()
    wait(browser, lambda d: not any(MARKER in t for t in memory_texts(d)), "forgotten")
    with pytest.raises(UserError):
        page.store().get(doomed)
    assert files_containing(page.home / "users" / "default", [MARKER.encode()]) == []

    # Correct the last answer.
    browser.find_element(By.ID, "correct-text").send_keys("Rex")
    browser.find_element(By.ID, "correct").click()
    wait(browser, lambda d: "Corrected" in d.find_element(By.ID, "status").text, "corrected")
    (fixed,) = page.store().recent(SearchFilter("personal", kinds=(Kind.CORRECTION,)))
    assert fixed.corrects == dog and "Rex" in fixed.text
    wait(browser, lambda d: fixed.text in memory_texts(d), "the correction listed")

    # Live: events published on the bus show up as stage timings, with no words said.
    wait(browser, lambda d: d.find_element(By.ID, "live-state").text == "live", "live")
    said = "what is my dog called"
    for event in (
        SpeechEnded(duration_s=1.2, reason="silence", t=100.0),
        Transcript(text=said, duration_s=1.2, seconds=0.25, t=100.3),
        MemoriesRetrieved(ids=(dog,), seconds=0.012, t=100.4),
        AnswerDone(
            text="Rex.", backend="memory", first_token_s=0.0, seconds=0.0, tokens=0, t=100.4
        ),
        Speaking(sentence="Rex.", synth_s=0.15, t=100.6),
        SpeakingDone(t=101.0),
    ):
        page.bus.publish(event)
    row = "#stage-table tbody tr"
    wait(browser, lambda d: "memory" in d.find_element(By.CSS_SELECTOR, row).text, "a stage row")
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, f"{row}:first-child td")]
    assert cells[1:] == ["", "1200", "250", "12", "0", "0", "150", "600", "memory"]
    log = browser.find_element(By.ID, "event-log").text
    assert "Transcript" in log and "SpeakingDone" in log
    assert said not in browser.find_element(By.TAG_NAME, "body").text

    # Changes made elsewhere (by voice, the CLI) in a burst: one re-read, once quiet for 2 s.
    def idle(d: WebDriver) -> bool:
        return bool(d.execute_script(
            "return refresh.since === null && !refresh.running && refresh.timer === null"
        ))  # fmt: skip

    def fetches(d: WebDriver) -> list[float]:
        found = d.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter((e) => e.name.includes('/api/conversations')).map((e) => e.startTime)"
        )
        return [float(t) for t in found]

    wait(browser, idle, "no re-read pending")
    before = len(fetches(browser))
    burst = [f"Burst note number {n}" for n in range(5)]
    for text in burst:
        page.store().remember(text)  # each publishes MemorySaved
    burst_end = float(browser.execute_script("return performance.now()"))
    wait(browser, lambda d: memory_texts(d)[:1] == [burst[-1]], "the burst listed")
    wait(browser, idle, "the re-read done")
    after = fetches(browser)[before:]
    assert len(after) == 1, after
    assert after[0] - burst_end > 1500  # the bus was quiet for a while first
